"""README's test command runs every test: .ci/setup installs what the tests drive, .ci/run uses it and ends
with that command, and a test skipped anyway is named at the end with the apt-get line that brings its tool."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.requires import REPO, SETUP, debian_tools, skipped_groups, tools_missing

TEST_COMMAND = ".venv/bin/python -m pytest -q"


def readme_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README.md has no sh block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_sets_up_then_runs_the_tests_as_ci_does() -> None:
    first, second = readme_commands()
    assert second == f".ci/setup && {TEST_COMMAND}"
    run = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ".ci/setup" in run and run[-1] == TEST_COMMAND
    assert subprocess.run(["bash", "-n", str(SETUP)]).returncode == 0
    assert SETUP.stat().st_mode & 0o111


def test_setup_installs_the_tools_of_every_group_that_skips_without_them() -> None:
    tools = dict(debian_tools())
    # The registry, image, vendor (hg), cgo (qemu) and keyring groups, and the sandbox's seccomp filter.
    for command, package in {"docker-registry": "docker-registry", "skopeo": "skopeo", "umoci": "umoci",
                             "htpasswd": "apache2-utils", "hg": "mercurial", "qemu-aarch64": "qemu-user",
                             "keyctl": "keyutils", "libseccomp": "libseccomp2"}.items():
        assert tools.get(command) == package, command


@pytest.mark.parametrize(("reasons", "missing", "lines"), [
    (["needs mercurial (apt-get install mercurial)"] * 3, [("hg", "mercurial"), ("git", "git")],
     ["3 skipped for lack of hg: sudo apt-get install -y mercurial (or run .ci/setup)"]),
    (["the registry fixture needs docker-registry, skopeo: apt-get install -y docker-registry skopeo openssl",
      "needs qemu-user (apt-get install qemu-user) to run an arm64 binary here", "mounting a tmpfs needs root"],
     [("docker-registry", "docker-registry"), ("skopeo", "skopeo"), ("qemu-aarch64", "qemu-user")],
     ["1 skipped for lack of docker-registry, skopeo: sudo apt-get install -y docker-registry skopeo (or run "
      ".ci/setup)", "1 skipped for lack of qemu-aarch64: sudo apt-get install -y qemu-user (or run .ci/setup)",
      "1 skipped: mounting a tmpfs needs root"]),
    # A tool that is present is not blamed, even when a reason names it; "git" is not "gitlab".
    (["needs Linux and umoci, git: apt-get install -y umoci git", "no gitlab here"], [("umoci", "umoci")],
     ["1 skipped for lack of umoci: sudo apt-get install -y umoci (or run .ci/setup)", "1 skipped: no gitlab here"]),
])
def test_skipped_tests_are_grouped_by_the_tool_they_lack(reasons: list[str], missing: list[tuple[str, str]],
                                                         lines: list[str]) -> None:
    assert skipped_groups(reasons, missing) == lines


def test_a_run_without_hg_ends_naming_it_and_its_package(tmp_path: Path) -> None:
    # pytest itself, on the hg recipe's tests, with a PATH that has no hg: they skip, and the run says why.
    empty = tmp_path / "bin"
    empty.mkdir()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                        "tests/integration/test_recipe_gopath_2014.py"], cwd=REPO, capture_output=True, text=True,
                       env={"PATH": str(empty), "HOME": str(tmp_path)}, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    summary = p.stdout[p.stdout.index("skipped, and what they lack"):]
    assert re.search(r"^\d+ skipped for lack of hg: sudo apt-get install -y mercurial \(or run \.ci/setup\)$",
                     summary, re.M), p.stdout


def test_requires_tool_names_each_missing_command_with_its_package(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The reason `@requires_tool(...)` skips with: the commands lacking, and the apt-get line from .ci/setup.
    monkeypatch.setenv("PATH", str(tmp_path))
    assert tools_missing(("hg", "htpasswd", "unknown-tool")) == \
        "needs hg, htpasswd, unknown-tool: apt-get install -y mercurial apache2-utils unknown-tool"
    (tmp_path / "hg").write_text("#!/bin/sh\n")
    (tmp_path / "hg").chmod(0o755)
    assert tools_missing(("hg",)) is None
    assert skipped_groups([tools_missing(("htpasswd",)) or ""], [("htpasswd", "apache2-utils")]) == [
        "1 skipped for lack of htpasswd: sudo apt-get install -y apache2-utils (or run .ci/setup)"]
