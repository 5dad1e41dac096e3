"""The CI examples of docs/ci/ work: their commands, run as the CI systems would, on a checkout of recipes/hello.

Each job starts from its own clone of one commit, as a runner's checkout does;
the commands run with `bash -e -c` and gobox from this venv on PATH. The step
that installs gobox (GitHub) and `before_script` (GitLab) are what a runner
needs, not what these tests check, and are left out (tests/support/ci_examples.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.ci_examples import (
    github_commands,
    github_outputs,
    gitlab_commands,
    gitlab_jobs,
    gitlab_matrix,
    gitlab_triggers,
    parse_github_output,
    statement_checked,
)
from support.runner import REPO, Gobox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

DOCS = REPO / "docs" / "ci"
WORKFLOW = DOCS / "github-actions.yml"
PARENT = DOCS / "gitlab-ci.yml"
LOCAL = {".gitlab/gobox-ci.yml": DOCS / "gobox-ci.yml"}

STATEMENT = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
COMMIT_DATE = "2024-05-01T12:00:00Z"


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """recipes/hello as a git repository of one commit: what CI checks out."""
    repo = shutil.copytree(REPO / "recipes" / "hello", tmp_path / "origin")
    env = {**os.environ, "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE,
           "GIT_AUTHOR_NAME": "gobox tests", "GIT_AUTHOR_EMAIL": "tests@gobox.invalid",
           "GIT_COMMITTER_NAME": "gobox tests", "GIT_COMMITTER_EMAIL": "tests@gobox.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "hello"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return repo


@pytest.fixture
def runner_env(stocked: Gobox) -> dict[str, str]:
    """gobox's test environment (private store, loopback mirror) with this venv's gobox first on PATH."""
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "gobox").exists(), f"no gobox in {venv_bin}: pip install -e '.[test]'"
    return {**stocked.env, "PATH": f"{venv_bin}:{stocked.env.get('PATH', os.defpath)}"}


def checkout(origin: Path, where: Path) -> Path:
    """A full clone, as actions/checkout with fetch-depth: 0 and GitLab with GIT_DEPTH 0 make."""
    subprocess.run(["git", "clone", "-q", str(origin), str(where)], check=True)
    return where


def sh(command: str, cwd: Path, env: dict[str, str], what: str) -> None:
    p = subprocess.run(["bash", "-e", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{what}: `{command}` exited {p.returncode}\n{p.stdout}\n{p.stderr}"


def github_job(job: str, work: Path, env: dict[str, str], matrix: dict[str, str] | None = None) -> dict[str, str]:
    """Runs the job's steps in `work`, each with its own $GITHUB_OUTPUT; returns the job's outputs."""
    produced: dict[str, dict[str, str]] = {}
    for i, step in enumerate(github_commands(WORKFLOW, job, matrix)):
        output = work.parent / f"{work.name}.github_output.{i}"
        output.write_text("")
        sh(step.run, work, {**env, **step.env, "GITHUB_OUTPUT": str(output)}, f"github {job}: {step.name}")
        if step.id:
            produced[step.id] = parse_github_output(output.read_text())
    return {name: produced[step][key] for name, (step, key) in github_outputs(WORKFLOW, job).items()}


def gitlab_job(commands: list[str], work: Path, env: dict[str, str], what: str) -> None:
    for command in commands:
        sh(command, work, env, what)


def assert_dist(dist: Path) -> dict:
    """dist/ as gobox ci leaves it: SHA256SUMS that check, and an in-toto statement of SLSA provenance."""
    p = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip(), "SHA256SUMS lists nothing"
    provenance = json.loads((dist / "provenance.json").read_text())
    assert provenance["_type"] == STATEMENT
    assert provenance["predicateType"] == SLSA_PROVENANCE
    return provenance


def assert_hello_provenance(dist: Path, commit: str, tmp_path: Path) -> None:
    """provenance.json read by the in-toto attestation library, as existing verifiers read it, and what it says."""
    assert_dist(dist)
    doc = statement_checked(dist / "provenance.json")
    text = (dist / "provenance.json").read_text()
    subjects = {s["name"]: s["digest"]["sha256"] for s in doc["subject"]}
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        if name != "provenance.json":
            assert subjects[name] == digest
    assert "localhost/hello:latest" in subjects  # the image, by its digest
    build = doc["predicate"]["buildDefinition"]
    assert build["externalParameters"]["source"] == {
        "uri": f"git+https://example.com/hello@{commit}", "digest": {"gitCommit": commit}, "path": "."}
    lock = (REPO / "recipes" / "hello" / "gobox.lock").read_text()
    wheel = [d for d in build["resolvedDependencies"] if d.get("annotations", {}).get("go") == "1.22.10"]
    assert wheel and wheel[0]["digest"]["sha256"] in lock
    steps = {s["name"]: s for s in build["internalParameters"]["steps"]}
    assert steps["build"]["argv"][:3] == ["go", "build", "-trimpath"]
    env = steps["build"]["env"]
    assert env["GOPROXY"] == "off" and env["TZ"] == "UTC" and env["SOURCE_DATE_EPOCH"] == str(1714564800)
    assert "s3cr3t" not in text and str(tmp_path) not in text


def github_targets(origin: Path, tmp_path: Path, env: dict[str, str]) -> list[dict[str, str]]:
    outputs = github_job("plan", checkout(origin, tmp_path / "github-plan"), env)
    matrix = json.loads(outputs["matrix"])
    assert matrix["include"], "gobox ci matrix listed no targets"
    return matrix["include"]


def test_github_actions_example(origin: Path, runner_env: dict[str, str], tmp_path: Path) -> None:
    build = checkout(origin, tmp_path / "github-build")
    # As GitLab's runner clones: a job token in the origin URL, which nothing gobox writes may show.
    subprocess.run(["git", "-C", str(build), "remote", "set-url", "origin",
                    "https://ci-user:s3cr3t@example.com/hello.git"], check=True)
    github_job("build", build, runner_env)
    summary = json.loads((build / "ci.json").read_text())  # go test's own output went to stderr
    commit = subprocess.run(["git", "-C", str(build), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert summary["ok"] and summary["commit"] == commit and summary["dirty"] is False
    assert [s["name"] for s in summary["steps"]] == ["packages", "build", "test", "image"]
    dist = build / "dist"
    assert subprocess.run([dist / "hello"], capture_output=True, text=True).stdout == "Hello, Go examples!\n"
    assert_hello_provenance(dist, commit, tmp_path)

    for entry in github_targets(origin, tmp_path, runner_env):
        work = checkout(origin, tmp_path / f"github-cross-{entry['slug']}")
        github_job("cross", work, runner_env, entry)
        assert_dist(work / "dist")


def test_gitlab_ci_example(origin: Path, runner_env: dict[str, str], tmp_path: Path) -> None:
    parent = gitlab_commands(PARENT, LOCAL)
    # The build job runs exactly the gobox commands of GitHub's build job, which the test above runs.
    github_build = [s.run for s in github_commands(WORKFLOW, "build") if s.run.startswith(("gobox ci", "gobox verify"))]
    assert parent["build"] == github_build

    plan = checkout(origin, tmp_path / "gitlab-plan")
    gitlab_job(parent["plan"], plan, runner_env, "gitlab plan")
    (artifact, job), = gitlab_triggers(PARENT, LOCAL)["cross"]
    assert job == "plan"
    pipeline = plan / artifact

    commands = gitlab_commands(pipeline, LOCAL)
    jobs = gitlab_jobs(pipeline, LOCAL)
    assert list(commands) == list(jobs) == ["cross"]
    variables = gitlab_matrix(jobs["cross"])
    assert [v["GOBOX_TARGET"] for v in variables] == [e["target"] for e in github_targets(origin, tmp_path, runner_env)]

    for i, v in enumerate(variables):
        work = checkout(origin, tmp_path / f"gitlab-cross-{i}")
        gitlab_job(commands["cross"], work, {**runner_env, **v}, f"gitlab cross {v}")
        assert_dist(work / "dist")
