"""Go libraries as gobox's first-class projects: a library-only module and a module of commands and libraries,
each through build, cross (three targets), test, ci and verify once, from real git repositories; the module zip
ci writes is checked against what Go itself says of it, from a proxy directory and from the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.ci_examples import statement_checked
from support.runner import REPO, Gobox, Result, gobox_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

LOCK = (REPO / "recipes" / "hello" / "gobox.lock").read_text()  # go 1.22.10, the stocked store's
GIT_DATE = "2024-05-01T12:00:00Z"
TARGETS = ("linux/arm64", "darwin/amd64", "windows/amd64")

# A test that finds its testdata beside its own source through runtime.Caller, as many do: `go test` gives it
# the file's path on disk, and -trimpath a module path that is on no disk.
CALLER_TEST = """package lib

import (
\t"os"
\t"path/filepath"
\t"runtime"
\t"testing"
)

func TestCallerFindsItsSource(t *testing.T) {
\t_, file, _, ok := runtime.Caller(0)
\tif !ok || !filepath.IsAbs(file) {
\t\tt.Fatalf("runtime.Caller gave %q, not a path on disk", file)
\t}
\tdata, err := os.ReadFile(filepath.Join(filepath.Dir(file), "testdata", "greeting.txt"))
\tif err != nil || string(data) != "hello\\n" {
\t\tt.Fatalf("testdata beside %s: %q, %v", file, data, err)
\t}
}
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE,
           "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@dataclass
class Runs:
    """One project and what each gobox command gave, run once for the module."""

    repo: Path
    project: Path
    build: Result
    cross: Result
    test: Result
    ci: Result
    verify: Result
    dist_after_build: list[str]

    @property
    def ci_json(self) -> dict:
        return json.loads(self.ci.out)


def run_all(g: Gobox, repo: Path, project: Path) -> Runs:
    """build, cross, test, ci and verify, each once; dist/ is emptied between them, as a release would be."""
    build = g("-C", str(project), "build", timeout=600)
    built = sorted(p.relative_to(project / "dist").as_posix() for p in (project / "dist").rglob("*") if p.is_file())
    cross = g("-C", str(project), "cross", *TARGETS, timeout=900)
    test = g("-C", str(project), "test", "--", "-count=1", timeout=600)
    shutil.rmtree(project / "dist", ignore_errors=True)
    ci = g("-C", str(project), "ci", "--json", timeout=900)
    verify = g("-C", str(project), "verify", timeout=1200)
    return Runs(repo, project, build, cross, test, ci, verify, built)


@pytest.fixture(scope="module")
def builder(stocked_home: Path, mirror) -> Gobox:  # noqa: ANN001 - conftest's Mirror
    return Gobox(gobox_env(stocked_home, mirror), stocked_home)


# --- a library only, in a subdirectory of its repository, with what Go leaves out of a zip -----------------

LIB_MODULE = "example.com/repo.git/lib"  # ".git" lets Go itself fetch it from the repository, below


@pytest.fixture(scope="module")
def library(builder: Gobox, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """A library module in lib/ of repository "repo": tagged lib/v0.3.0, then one commit more (so a
    pseudo-version), with the repository's LICENSE, another module inside, a symlink, a file
    .gitattributes marks export-ignore and the .hg_archival.txt that hg leaves."""
    repo = tmp_path_factory.mktemp("library") / "repo"
    write(repo, {
        "LICENSE": "Copyright (c) the library's authors\n",
        ".gitignore": "dist/\n",
        "lib/go.mod": f"module {LIB_MODULE}\n\ngo 1.21\n",
        "lib/gobox.toml": '[go]\nversion = "1.22"\n',
        "lib/gobox.lock": LOCK,
        "lib/lib.go": f'// Package lib greets.\npackage lib\n\nimport "{LIB_MODULE}/internal/words"\n\n'
                      'func Greeting(name string) string { return words.Hello + ", " + name }\n',
        "lib/lib_test.go": 'package lib\n\nimport "testing"\n\nfunc TestGreeting(t *testing.T) {\n'
                           '\tif g := Greeting("go"); g != "hello, go" {\n\t\tt.Fatal(g)\n\t}\n}\n',
        "lib/caller_test.go": CALLER_TEST,
        "lib/testdata/greeting.txt": "hello\n",
        "lib/internal/words/words.go": 'package words\n\nconst Hello = "hello"\n',
        "lib/tools/go.mod": "module example.com/tools\n\ngo 1.21\n",
        "lib/tools/tools.go": "package tools\n",
        "lib/.gitattributes": "notes.txt export-ignore\n",
        "lib/notes.txt": "kept: Go's own clones turn export-ignore off\n",
        "lib/.hg_archival.txt": "repo: 0\n",
    })
    (repo / "lib" / "README").symlink_to("notes.txt")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lib")
    git(repo, "tag", "lib/v0.3.0")
    (repo / "lib" / "lib.go").write_text((repo / "lib" / "lib.go").read_text() + "\n// Greeting says hello.\n")
    git(repo, "commit", "-qam", "more")
    return run_all(builder, repo, repo / "lib")


def test_a_library_builds_and_compiles_for_three_targets(library: Runs) -> None:
    assert library.build.code == 0, library.build.err
    assert "2 packages compiled; no commands" in library.build.err
    assert library.dist_after_build == []
    assert library.cross.code == 0, library.cross.err
    rows = [line.split() for line in library.cross.out.splitlines()[1:]]
    assert sorted((r[0], r[1], r[-1]) for r in rows) == sorted((t, "ok", "compiled") for t in TARGETS)


def test_gobox_test_runs_tests_as_go_test_does(library: Runs) -> None:
    # No -trimpath: the test that finds its testdata through runtime.Caller passes.
    assert library.test.code == 0, library.test.out + library.test.err
    assert f"ok  \t{LIB_MODULE}\t" in library.test.out


def test_ci_releases_the_module_zip_and_verify_matches_it(library: Runs) -> None:
    assert library.ci.code == 0, library.ci.err
    report = library.ci_json
    mod = report["module"]
    assert [s["name"] for s in report["steps"]] == ["packages", "build", "test"]
    commit = git(library.repo, "rev-parse", "HEAD").strip()
    assert mod["version"] == f"v0.3.1-0.20240501120000-{commit[:12]}"
    dist = library.project / "dist"
    name = f"{LIB_MODULE}@{mod['version']}"
    assert mod["zip"] == f"{name}.zip"
    assert (dist / f"{name}.ziphash").read_text() == mod["h1"] + "\n"
    assert mod["go_sum"] == [f"{LIB_MODULE} {mod['version']} {mod['h1']}",
                             f"{LIB_MODULE} {mod['version']}/go.mod {mod['go_mod_h1']}"]
    with zipfile.ZipFile(dist / mod["zip"]) as z:
        names = z.namelist()
        assert z.read(f"{name}/LICENSE") == (library.repo / "LICENSE").read_bytes()
    inside = sorted(n.removeprefix(name + "/") for n in names)
    assert inside == [".gitattributes", "LICENSE", "caller_test.go", "go.mod", "gobox.lock", "gobox.toml",
                      "internal/words/words.go", "lib.go", "lib_test.go", "notes.txt", "testdata/greeting.txt"]
    subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, check=True, capture_output=True)
    # The zip is a subject of the provenance, by sha256 and by the dirhash go.sum holds (in hex, as in-toto has it).
    import base64

    subjects = {s["name"]: s["digest"] for s in statement_checked(dist / "provenance.json")["subject"]}
    assert subjects[mod["zip"]]["dirHash"] == base64.b64decode(mod["h1"][3:]).hex()
    assert library.verify.code == 0, library.verify.err
    assert "match: 4 files, byte for byte" in library.verify.err


def test_go_mod_download_from_a_proxy_of_the_zip_reports_its_hash(builder: Gobox, library: Runs,
                                                                  tmp_path: Path) -> None:
    mod = library.ci_json["module"]
    version, dist = mod["version"], library.project / "dist"
    at = tmp_path / "proxy" / LIB_MODULE / "@v"
    at.mkdir(parents=True)
    shutil.copy(dist / mod["zip"], at / f"{version}.zip")
    shutil.copy(library.project / "go.mod", at / f"{version}.mod")
    (at / "list").write_text(version + "\n")
    (at / f"{version}.info").write_text(json.dumps({"Version": version, "Time": GIT_DATE}))
    consumer = tmp_path / "consumer"
    write(consumer, {"go.mod": "module example.com/consumer\n\ngo 1.21\n", "gobox.toml": '[go]\nversion = "1.22"\n',
                     "gobox.lock": LOCK})
    r = builder("-C", str(consumer), "run", "--mount", f"{tmp_path / 'proxy'}:/proxy:ro",
                "--env", "GOPROXY=file:///proxy", "--env", "GOSUMDB=off", "--env", "GOFLAGS=-mod=mod",
                "--env", "GOMODCACHE=/tmp/modcache", "--", "go", "mod", "download", "-json", f"{LIB_MODULE}@{version}")
    assert r.code == 0, r.out + r.err
    got = json.loads(r.out)
    assert (got["Version"], got["Sum"], got["GoModSum"]) == (version, mod["h1"], mod["go_mod_h1"])


def test_go_makes_the_same_version_and_zip_from_the_repository(builder: Gobox, library: Runs,
                                                               tmp_path: Path) -> None:
    """Go fetches the module from the git repository itself (git's insteadOf points example.com at it), making
    its own zip as a proxy would: the same version for the commit, the same h1:."""
    r = builder("toolchain", "which", "1.22.10")
    assert r.code == 0, r.err
    config = tmp_path / "gitconfig"
    config.write_text(f'[url "{library.repo.parent}/"]\n\tinsteadOf = https://example.com/\n'
                      '[protocol "file"]\n\tallow = always\n')
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": str(config),
           "GOPROXY": "direct", "GOSUMDB": "off", "GOPRIVATE": "example.com", "GOFLAGS": "-mod=mod",
           "GOTOOLCHAIN": "local", "GOMODCACHE": str(tmp_path / "mod"), "GOCACHE": str(tmp_path / "cache")}
    commit = git(library.repo, "rev-parse", "HEAD").strip()
    done = subprocess.run([str(Path(r.out.strip()) / "bin" / "go"), "mod", "download", "-json",
                           f"{LIB_MODULE}@{commit}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    got = json.loads(done.stdout)
    mod = library.ci_json["module"]
    assert (got["Version"], got["Sum"], got["GoModSum"]) == (mod["version"], mod["h1"], mod["go_mod_h1"])


# --- commands and libraries -------------------------------------------------------------------------------

TOOL_MODULE = "example.com/tool"


@pytest.fixture(scope="module")
def tool(builder: Gobox, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """A module with a command, the library it imports, and a library no command imports; tagged v1.0.0."""
    repo = tmp_path_factory.mktemp("tool") / "tool"
    write(repo, {
        ".gitignore": "dist/\n",
        "go.mod": f"module {TOOL_MODULE}\n\ngo 1.21\n",
        "gobox.toml": '[go]\nversion = "1.22"\n',
        "gobox.lock": LOCK,
        "cmd/tool/main.go": f'package main\n\nimport (\n\t"fmt"\n\n\t"{TOOL_MODULE}/greet"\n)\n\n'
                            'func main() { fmt.Println(greet.Hello("tool")) }\n',
        "greet/greet.go": 'package greet\n\nfunc Hello(name string) string { return "hello, " + name }\n',
        "greet/greet_test.go": 'package greet\n\nimport "testing"\n\nfunc TestHello(t *testing.T) {\n'
                               '\tif Hello("x") != "hello, x" {\n\t\tt.Fatal()\n\t}\n}\n',
        "internal/unused/unused.go": "package unused\n\nfunc Unused() {}\n",
    })
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tool")
    git(repo, "tag", "v1.0.0")
    return run_all(builder, repo, repo)


def test_commands_land_in_dist_and_the_rest_is_compiled(tool: Runs, builder: Gobox) -> None:
    assert tool.build.code == 0, tool.build.err
    assert "3 packages compiled; 1 command in dist/" in tool.build.err
    assert tool.dist_after_build == ["tool"]
    assert tool.cross.code == 0, tool.cross.err
    for t in TARGETS:
        assert f"dist/tool_{t.replace('/', '_')}" in tool.cross.out
    assert tool.test.code == 0 and f"ok  \t{TOOL_MODULE}/greet\t" in tool.test.out
    # The library no command imports is compiled too: broken, the build says so.
    unused = tool.project / "internal" / "unused" / "unused.go"
    good = unused.read_text()
    unused.write_text("package unused\n\nfunc Unused() { undefinedThing() }\n")
    try:
        broken = builder("-C", str(tool.project), "build", timeout=600)
    finally:
        unused.write_text(good)
    assert broken.code == 1 and "undefined: undefinedThing" in broken.err


def test_cross_installs_each_command_once_and_compiles_the_rest(tool: Runs, builder: Gobox) -> None:
    """A cross target with commands and other packages is one `go install` whose bin directory is the target's
    output: the host's target and another platform's each hold exactly the command, and a broken library no
    command imports still fails both."""
    project = tool.project
    targets = ("linux/amd64", "linux/arm64")
    r = builder("-C", str(project), "cross", *targets, timeout=900)
    assert r.code == 0, r.err
    for t in targets:
        out = project / "dist" / f"tool_{t.replace('/', '_')}"
        assert sorted(p.name for p in out.iterdir()) == ["tool"], t
    native = subprocess.run([project / "dist" / "tool_linux_amd64" / "tool"], capture_output=True, text=True)
    assert native.stdout == "hello, tool\n"
    unused = project / "internal" / "unused" / "unused.go"
    good = unused.read_text()
    unused.write_text("package unused\n\nfunc Unused() { undefinedThing() }\n")
    try:
        broken = builder("-C", str(project), "cross", *targets, timeout=900)
    finally:
        unused.write_text(good)
    assert broken.code == 1
    for t in targets:
        row = next(line for line in broken.out.splitlines() if line.startswith(t))
        assert "undefined: undefinedThing" in row, broken.out


def test_ci_of_commands_and_libraries_ships_both(tool: Runs) -> None:
    assert tool.ci.code == 0, tool.ci.err
    report = tool.ci_json
    assert report["module"]["version"] == "v1.0.0"
    paths = sorted(o["path"] for o in report["outputs"])
    assert paths == ["SHA256SUMS", f"{TOOL_MODULE}@v1.0.0.zip", f"{TOOL_MODULE}@v1.0.0.ziphash", "provenance.json",
                     "tool"]
    ran = subprocess.run([tool.project / "dist" / "tool"], capture_output=True, text=True)
    assert ran.stdout == "hello, tool\n"
    assert tool.verify.code == 0, tool.verify.err


def test_cross_quotes_the_first_error_go_printed(builder: Gobox, tmp_path: Path) -> None:
    project = tmp_path / "broken"
    write(project, {"go.mod": "module example.com/broken\n\ngo 1.21\n", "gobox.toml": '[go]\nversion = "1.22"\n',
                    "gobox.lock": LOCK,
                    "main.go": "package main\n\nfunc main() {\n\tfirstMissing()\n\tsecondMissing()\n}\n"})
    r = builder("-C", str(project), "cross", "linux/arm64", timeout=600)
    assert r.code == 1
    row = next(line for line in r.out.splitlines() if line.startswith("linux/arm64"))
    assert "go build exited with 1: ./main.go:4:2: undefined: firstMissing" in row, r.out
