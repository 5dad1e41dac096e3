"""gobox installs as gobox-build: no doc, example, recipe or CI file may install PyPI's `gobox`, another project."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from support.runner import REPO

DISTRIBUTION = "gobox-build"
# The forms that fetch a package by its name from an index: pip, pipx and uv, installing or running.
_INSTALL = re.compile(r"\b(?:pip3?\s+(?:install|download)|pipx\s+(?:install|run)|uv\s+(?:pip\s+install|tool\s+"
                      r"(?:install|run)|add)|uvx)\b([^\n;&|#`)]*)")
_ASSIGN = re.compile(r"^\s*(?:export\s+|-\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*(.+?)\s*$", re.M)
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
# What is not the project's text: environments, caches, build outputs, and the tests' own data.
_SKIP_DIRS = {".git", ".venv", "venv", ".cache", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
              "node_modules", "dist", "build"}


def installed(text: str) -> list[str]:
    """The names of the packages that `text`'s pip, pipx and uv commands ask an index for; `$VAR` arguments
    are read from the assignments in the same text (shell `VAR=...`, YAML `VAR: ...`)."""
    variables = {m.group(1): m.group(2).strip("'\"") for m in _ASSIGN.finditer(text)}
    names = []
    for m in _INSTALL.finditer(text):
        args = m.group(1)
        try:
            words = shlex.split(args)
        except ValueError:  # an unbalanced quote in prose
            words = args.split()
        for word in words:
            if word.startswith("("):
                break  # prose: "pip install certifi (requests, which gobox needs, brings it)"
            word = _VAR.sub(lambda v: variables.get(v.group(1), v.group(0)), word).strip("'\"")
            if word.startswith("-"):
                continue
            try:
                names.append(canonicalize_name(Requirement(word).name))
            except InvalidRequirement:
                continue  # a path (.[test]), an option's value, prose
    return names


def project_texts() -> list[Path]:
    """Every text file of the project but the tests' Python (whose data spells the forbidden forms)."""
    found = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in files:
            path = Path(top, name)
            if path.suffix == ".py" and (REPO / "tests") in path.parents:
                continue
            data = path.read_bytes() if path.stat().st_size < 1 << 20 else b"\0"
            if b"\0" not in data:
                found.append(path)
    return found


@pytest.mark.parametrize(("text", "names"), [
    ("pipx install gobox", ["gobox"]),
    ("python3 -m pip install --quiet --root-user-action=ignore gobox==0.1.0", ["gobox"]),
    ("pip install 'gobox[zig]'", ["gobox"]),
    ("uv tool install gobox && gobox doctor", ["gobox"]),
    ("uvx gobox ci", ["gobox", "ci"]),
    ("pip install ziglang gobox[zig]", ["ziglang", "gobox"]),
    ("pip install certifi (requests, which gobox needs, brings it)", ["certifi"]),
    ('GOBOX_PACKAGE: "gobox @ git+https://example.com/x"\n  - pip install "$GOBOX_PACKAGE"', ["gobox"]),
    ('GOBOX_PACKAGE: "gobox-build @ git+https://github.com/OWNER/gobox@v0.1.0"\nrun: pipx install "${GOBOX_PACKAGE}"',
     ["gobox-build"]),
    (".venv/bin/pip install -q -e '.[test]' && .venv/bin/pip install -q .", []),
    ("# the gobox ci command, installed with pip", []),
])
def test_the_scan_sees_each_install_form(text: str, names: list[str]) -> None:
    assert installed(text) == names


def test_nothing_installs_pypis_gobox() -> None:
    texts = project_texts()
    assert REPO / "docs" / "ci" / "github-actions.yml" in texts and REPO / "README.md" in texts
    wrong = [f"{p.relative_to(REPO)}" for p in texts if "gobox" in installed(p.read_text(errors="replace"))]
    assert wrong == [], f"these install PyPI's gobox, another project, not {DISTRIBUTION}"


@pytest.mark.parametrize("example", ["github-actions.yml", "gobox-ci.yml"])
def test_the_ci_examples_install_gobox_itself(example: str) -> None:
    assert DISTRIBUTION in installed((REPO / "docs" / "ci" / example).read_text())


def test_the_distribution_is_gobox_build_and_the_command_gobox() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"gobox": "gobox.cli:main"}
