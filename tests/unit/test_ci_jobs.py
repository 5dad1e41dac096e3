"""gobox ci matrix as values (GitHub JSON, GitLab child pipeline), and the commands read from docs/ci/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gobox.ci.jobs import (
    FORMATS,
    GITHUB_MAX_JOBS,
    GITLAB_MAX_JOBS,
    github_matrix,
    gitlab_pipeline,
    render,
    yaml_quote,
)
from gobox.errors import EXIT_USAGE, ConfigError, UsageError

sys.path.insert(0, str(Path(__file__).parent.parent))
from support.ci_examples import (
    github_commands,
    github_outputs,
    gitlab_commands,
    gitlab_jobs,
    gitlab_matrix,
    gitlab_triggers,
    matrix_keys,
    parse_github_output,
)

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "ci"
WORKFLOW = DOCS / "github-actions.yml"
PARENT = DOCS / "gitlab-ci.yml"
LOCAL = {".gitlab/gobox-ci.yml": DOCS / "gobox-ci.yml"}

TARGETS = ["linux/amd64", "darwin/arm64", "linux/arm/v7"]

# Strings a hand-written YAML writer gets wrong when it does not quote: indicators, comments,
# YAML 1.1 booleans and numbers, line breaks of either YAML version, characters parsers refuse.
ODD = [
    "linux/amd64: #x", "- x", "*alias", "&anchor", "!tag", "%x", "@x", "`x", "{a}", "[a]", "|", ">",
    "yes", "no", "on", "null", "~", "1e3", "0x10", "010", "", " lead", "trail ", "it's", 'a"b', "back\\slash",
    "tab\tx", "new\nline", "cr\rx", "nel\x85x", "ls\u2028x", "del\x7fx", "c1\x9bx", "bom\ufeffx", "é", "😀",
]  # fmt: skip


def child(targets: list[str], tmp_path: Path) -> Path:
    path = tmp_path / "cross.yml"
    path.write_text(gitlab_pipeline(targets) + "\n")
    return path


# --- github ------------------------------------------------------------------------------


def test_github_matrix_is_one_line_of_json_with_a_slug_per_target() -> None:
    text = github_matrix(TARGETS)
    assert "\n" not in text and " " not in text
    assert json.loads(text) == {"include": [
        {"target": "linux/amd64", "slug": "linux_amd64"},
        {"target": "darwin/arm64", "slug": "darwin_arm64"},
        {"target": "linux/arm/v7", "slug": "linux_arm_v7"},
    ]}


def test_github_matrix_keeps_the_order_and_drops_repeats() -> None:
    got = json.loads(github_matrix(["linux/arm64", "darwin/amd64", "linux/arm64"]))
    assert [e["target"] for e in got["include"]] == ["linux/arm64", "darwin/amd64"]


@pytest.mark.parametrize("target", ODD)
def test_github_matrix_round_trips_odd_targets(target: str) -> None:
    text = github_matrix([target])
    assert "\n" not in text and text.isascii()
    (entry,) = json.loads(text)["include"]
    assert entry["target"] == target
    assert not set(entry["slug"]) & set('/\\":<>|*?\r\n ')


def test_github_matrix_refuses_targets_whose_slugs_collide() -> None:
    with pytest.raises(ConfigError, match=r"linux/arm/v7 and linux/arm_v7 would both be named linux_arm_v7"):
        github_matrix(["linux/arm/v7", "linux/arm_v7"])


# --- gitlab ------------------------------------------------------------------------------


def test_gitlab_pipeline_text() -> None:
    assert gitlab_pipeline(TARGETS) == """\
# Written by `gobox ci matrix --format gitlab`: one job per target of [cross].targets.
include:
  - local: ".gitlab/gobox-ci.yml"

stages:
  - cross

cross:
  extends: .gobox-ci
  stage: cross
  parallel:
    matrix:
      - GOBOX_TARGET:
          - "linux/amd64"
          - "darwin/arm64"
          - "linux/arm/v7"
  script:
    - gobox ci --target "$GOBOX_TARGET"
  artifacts:
    paths:
      - dist/"""


def test_gitlab_pipeline_parses_as_a_child_pipeline() -> None:
    doc = yaml.safe_load(gitlab_pipeline(TARGETS, template="ci/templates/gobox.yml"))
    assert doc == {
        "include": [{"local": "ci/templates/gobox.yml"}],
        "stages": ["cross"],
        "cross": {
            "extends": ".gobox-ci",
            "stage": "cross",
            "parallel": {"matrix": [{"GOBOX_TARGET": TARGETS}]},
            "script": ['gobox ci --target "$GOBOX_TARGET"'],
            "artifacts": {"paths": ["dist/"]},
        },
    }


def test_gitlab_pipeline_quotes_odd_targets() -> None:
    doc = yaml.safe_load(gitlab_pipeline(ODD, template="odd: #path\n"))
    assert doc["cross"]["parallel"]["matrix"] == [{"GOBOX_TARGET": ODD}]
    assert doc["include"] == [{"local": "odd: #path\n"}]


@pytest.mark.parametrize("text", ODD)
def test_yaml_quote_is_one_printable_ascii_line(text: str) -> None:
    quoted = yaml_quote(text)
    assert quoted.isascii() and quoted.isprintable()
    assert yaml.safe_load(quoted) == text
    assert yaml.safe_load(f"- {quoted}\n- next") == [text, "next"]


# --- both --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_targets_name_cross_targets_of_gobox_toml(fmt: str) -> None:
    with pytest.raises(ConfigError) as e:
        render([], fmt, where="app/gobox.toml")
    assert e.value.message.startswith("app/gobox.toml: cross.targets: no targets")
    assert "[cross]" in e.value.hint and "targets = [" in e.value.hint
    assert e.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(("fmt", "limit", "system"), [("github", GITHUB_MAX_JOBS, "GitHub Actions matrix"),
                                                      ("gitlab", GITLAB_MAX_JOBS, "GitLab parallel:matrix")])
def test_more_jobs_than_the_ci_system_allows_are_refused(fmt: str, limit: int, system: str) -> None:
    targets = [f"linux/t{i}" for i in range(limit + 1)]
    render(targets[:limit] + targets[:5], fmt)  # repeats make no jobs
    with pytest.raises(ConfigError) as e:
        render(targets, fmt)
    assert e.value.message == (f"gobox.toml: cross.targets: {limit + 1} targets, more than the {limit} jobs "
                               f"a {system} may have")
    assert "gobox ci --target A --target B" in e.value.hint


def test_limits_are_the_documented_ones() -> None:
    assert (GITHUB_MAX_JOBS, GITLAB_MAX_JOBS) == (256, 200)


def test_render_dispatches_and_refuses_other_formats() -> None:
    assert render(TARGETS, "github") == github_matrix(TARGETS)
    assert render(TARGETS, "gitlab") == gitlab_pipeline(TARGETS)
    with pytest.raises(UsageError, match="--format circleci: expected one of github, gitlab"):
        render(TARGETS, "circleci")


# --- the commands of docs/ci/ --------------------------------------------------------------


def test_github_build_job_runs_ci_then_verify_and_skips_the_install() -> None:
    steps = github_commands(WORKFLOW, "build")
    assert [s.name for s in steps] == ["Allow user namespaces", "Check the host", "Build in the clean room",
                                       "Rebuild twice and compare"]
    assert [s.run for s in steps[1:]] == ["gobox doctor", "gobox ci --json > ci.json", "gobox verify --runs 2"]
    assert not any("pipx" in s.run for s in steps)


def test_github_cross_job_gets_its_target_from_the_matrix() -> None:
    (entry, *_) = json.loads(github_matrix(["linux/arm/v7"]))["include"]
    steps = github_commands(WORKFLOW, "cross", entry)
    # Through the step's env, not spliced into the script: gobox.toml, where targets come from, is a PR's to change.
    assert steps[-1].run == 'gobox ci --target "$TARGET" --out dist'
    assert steps[-1].env == {"TARGET": "linux/arm/v7"}
    with pytest.raises(ValueError, match=r"cannot evaluate \$\{\{ matrix.target \}\}"):
        github_commands(WORKFLOW, "cross")


def test_github_cross_job_uses_only_keys_the_matrix_has() -> None:
    (entry,) = json.loads(github_matrix(["linux/arm/v7"]))["include"]
    assert matrix_keys(WORKFLOW, "cross") == set(entry) == {"target", "slug"}


def test_github_plan_step_passes_gobox_output_and_exit_code(tmp_path: Path) -> None:
    assert github_outputs(WORKFLOW, "plan") == {"matrix": ("matrix", "matrix")}
    (step,) = [s for s in github_commands(WORKFLOW, "plan") if s.id == "matrix"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gobox"

    def run(script: str) -> tuple[int, str]:
        fake.write_text(f"#!/bin/sh\n{script}\n")
        fake.chmod(0o755)
        out = tmp_path / "output"
        out.write_text("")
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(out)}
        p = subprocess.run(["bash", "-e", "-c", step.run], env=env, cwd=tmp_path)
        return p.returncode, out.read_text()

    code, out = run(f"echo '{github_matrix(TARGETS)}'")
    assert code == 0
    assert json.loads(parse_github_output(out)["matrix"]) == json.loads(github_matrix(TARGETS))
    code, out = run("echo 'gobox: gobox.toml: cross.targets: no targets' >&2; exit 2")
    assert code == 2 and out == ""


def test_parse_github_output_reads_lines_and_heredocs() -> None:
    text = "a=1\nb=x=y\n\nnotes<<EOF_1\nline one\nline=two\nEOF_1\nc=\n"
    assert parse_github_output(text) == {"a": "1", "b": "x=y", "notes": "line one\nline=two", "c": ""}


def test_gitlab_parent_builds_verifies_and_plans_and_triggers_the_plan() -> None:
    assert gitlab_commands(PARENT, LOCAL) == {
        "build": ["gobox ci --json > ci.json", "gobox verify --runs 2"],
        "plan": ["gobox ci matrix --format gitlab > cross.yml"],
    }
    jobs = gitlab_jobs(PARENT, LOCAL)
    assert gitlab_triggers(PARENT, LOCAL) == {"cross": [("cross.yml", "plan")]}
    assert jobs["cross"]["trigger"]["strategy"] == "depend"
    assert "cross.yml" in jobs["plan"]["artifacts"]["paths"]
    assert [jobs[j]["stage"] for j in ("build", "plan", "cross")] == yaml.safe_load(PARENT.read_text())["stages"]
    # From .gobox-ci in the template, by extends: the install, left to before_script.
    assert any("pip install" in line for line in jobs["build"]["before_script"])
    assert jobs["plan"]["variables"]["GIT_DEPTH"] == "0"
    # The store kept between pipelines, keyed by gobox.lock, where gobox looks for it.
    assert jobs["plan"]["cache"] == {"key": {"files": ["gobox.lock"]}, "paths": [".gobox-store/"]}
    assert jobs["plan"]["variables"]["GOBOX_HOME"] == "$CI_PROJECT_DIR/.gobox-store"


def test_gitlab_child_runs_one_job_per_target_of_the_github_matrix(tmp_path: Path) -> None:
    path = child(TARGETS, tmp_path)
    assert gitlab_commands(path, LOCAL) == {"cross": ['gobox ci --target "$GOBOX_TARGET"']}
    cross = gitlab_jobs(path, LOCAL)["cross"]
    assert cross["image"] == yaml.safe_load((DOCS / "gobox-ci.yml").read_text())[".gobox-ci"]["image"]
    github = [e["target"] for e in json.loads(github_matrix(TARGETS))["include"]]
    assert [v["GOBOX_TARGET"] for v in gitlab_matrix(cross)] == github == TARGETS


def test_gitlab_matrix_expands_every_entry_in_order() -> None:
    job = {"parallel": {"matrix": [{"A": ["1", "2"], "B": "x"}, {"A": "3", "B": ["y", "z"]}]}}
    assert gitlab_matrix(job) == [{"A": "1", "B": "x"}, {"A": "2", "B": "x"}, {"A": "3", "B": "y"},
                                  {"A": "3", "B": "z"}]
    assert gitlab_matrix({"script": ["true"]}) == [{}]


def test_gitlab_include_must_be_a_known_local_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"include .*\.gitlab/gobox-ci\.yml.*not a local file"):
        gitlab_commands(child(TARGETS, tmp_path), {})


def test_ci_md_shows_what_gobox_ci_matrix_prints() -> None:
    text = (DOCS.parent / "ci.md").read_text()
    targets = ["linux/amd64", "linux/arm/v7"]
    assert f"$ gobox ci matrix --format github\n{github_matrix(targets)}\n```" in text
    assert f"$ gobox ci matrix --format gitlab\n```\n\n```yaml\n{gitlab_pipeline(targets)}\n```" in text
