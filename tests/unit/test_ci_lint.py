"""The CI examples of docs/ci/ as GitHub and GitLab read them (check-jsonschema's bundled SchemaStore schemas,
offline) and as a security review reads a workflow (zizmor, offline): what a CI engineer checks before merging."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.runner import REPO

DOCS = REPO / "docs" / "ci"
GITHUB = [DOCS / "github-actions.yml"]
GITLAB = [DOCS / "gitlab-ci.yml", DOCS / "gobox-ci.yml"]
_FULL_SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")


def tool(name: str) -> str:
    """The tool from this venv (pyproject's test extra), else from PATH; a skip that says so when absent."""
    found = Path(sys.executable).parent / name
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        reason = f"{name} is not installed: pip install -e '.[test]'"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return path


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def check_jsonschema(schema: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    # --builtin-schema: the SchemaStore copy bundled with check-jsonschema, so no network.
    return run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)])


def test_github_workflow_matches_githubs_schema() -> None:
    p = check_jsonschema("vendor.github-workflows", GITHUB)
    assert p.returncode == 0, p.stdout + p.stderr


def test_gitlab_pipelines_match_gitlabs_schema() -> None:
    p = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_schemas_refuse_a_broken_example(tmp_path: Path) -> None:
    # The check can fail: a typo'd key (`step:` for `steps:`) and a trigger strategy GitLab does not know.
    github = tmp_path / "github.yml"
    github.write_text(GITHUB[0].read_text().replace("    steps:\n", "    step:\n", 1))
    assert check_jsonschema("vendor.github-workflows", [github]).returncode != 0
    gitlab = tmp_path / "gitlab.yml"
    gitlab.write_text(GITLAB[0].read_text().replace("strategy: depend", "strategy: later", 1))
    assert check_jsonschema("vendor.gitlab-ci", [gitlab]).returncode != 0


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    # --offline: no GitHub API (no checks of what a SHA or tag points to); the audits of the file itself.
    return run([tool("zizmor"), "--offline", "--no-progress", "--format", "plain", str(path)])


def test_zizmor_finds_nothing_in_the_github_workflow() -> None:
    p = zizmor(GITHUB[0])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "No findings" in p.stdout + p.stderr


@pytest.mark.parametrize(("what", "old", "new"), [
    ("a tag, not a commit", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
     "actions/checkout@v4"),
    ("a token left in .git/config", "          persist-credentials: false\n", ""),
    ("the matrix spliced into the script", 'run: gobox ci --target "$TARGET" --out dist',
     'run: gobox ci --target "${{ matrix.target }}" --out dist'),
])
def test_zizmor_sees_what_the_example_avoids(tmp_path: Path, what: str, old: str, new: str) -> None:
    text = GITHUB[0].read_text()
    assert old in text, what
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace(old, new))
    assert zizmor(bad).returncode != 0, what


def test_every_action_is_pinned_by_commit_with_its_tag_and_checkout_keeps_no_token() -> None:
    text = GITHUB[0].read_text()
    steps = [s for job in yaml.safe_load(text)["jobs"].values() for s in job["steps"]]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses and all(_FULL_SHA.match(u) for u in uses), uses
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*$", line), line
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_the_store_is_cached_where_gobox_keeps_it_keyed_by_the_lock() -> None:
    doc = yaml.safe_load(GITHUB[0].read_text())
    home = doc["env"]["GOBOX_HOME"]
    for name in ("build", "cross"):
        (cache,) = [s for s in doc["jobs"][name]["steps"] if s.get("uses", "").startswith("actions/cache@")]
        assert cache["with"]["path"] == home
        assert "hashFiles('gobox.lock')" in cache["with"]["key"]
    gitlab = yaml.safe_load(GITLAB[1].read_text())[".gobox-ci"]
    assert gitlab["cache"]["key"] == {"files": ["gobox.lock"]}
    (path,) = gitlab["cache"]["paths"]
    assert gitlab["variables"]["GOBOX_HOME"] == "$CI_PROJECT_DIR/" + path.rstrip("/")
