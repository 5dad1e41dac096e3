"""Reads the CI examples of docs/ci/ as GitHub Actions and GitLab would, to run their commands in tests.

GitHub: each job's `run:` steps, except the one that installs gobox, with
their own `env:` (not the workflow's, which points at the runner's store), and
`${{ matrix.KEY }}` filled in from one matrix entry (any other expression is
an error, so a test never runs a literal `${{`), and the job outputs read from
what each step appends to $GITHUB_OUTPUT. GitLab: each job's `script:` lines
after `include: - local:` and `extends:` are resolved (hidden jobs and
`before_script`, where gobox is installed, are left out), variables such as
$GOBOX_TARGET left for the environment; `parallel: matrix:` expanded into the
variables of each job; and the artifacts a trigger job includes. Also the check of
provenance.json that existing in-toto verifiers would make.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

INSTALL_STEP = "Install gobox"

# Top-level keys of .gitlab-ci.yml that are not jobs.
GITLAB_KEYWORDS = frozenset({
    "after_script", "before_script", "cache", "default", "image", "include", "services", "spec", "stages",
    "variables", "workflow",
})  # fmt: skip

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_MATRIX_KEY = re.compile(r"matrix\.([A-Za-z_][A-Za-z0-9_-]*)")
_STEP_OUTPUT = re.compile(r"steps\.([A-Za-z_][A-Za-z0-9_-]*)\.outputs\.([A-Za-z_][A-Za-z0-9_-]*)")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return doc


# --- GitHub Actions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One `run:` step of a GitHub job, its expressions evaluated."""

    name: str | None
    id: str | None
    run: str
    env: Mapping[str, str] = field(default_factory=dict)  # the step's `env:`, how run reads matrix values


def github_commands(workflow: Path, job: str, matrix: Mapping[str, str] | None = None) -> list[Step]:
    """The `run:` steps of `job` in order, without the gobox install, for one matrix entry."""
    steps = []
    for i, step in enumerate(_github_job(workflow, job).get("steps", [])):
        if "run" not in step or step.get("name") == INSTALL_STEP:
            continue
        where = f"{workflow.name}: jobs.{job}.steps[{i}]"
        env = {k: substitute(str(v), matrix or {}, f"{where}.env.{k}") for k, v in step.get("env", {}).items()}
        steps.append(Step(step.get("name"), step.get("id"), substitute(step["run"], matrix or {}, where), env))
    return steps


def github_outputs(workflow: Path, job: str) -> dict[str, tuple[str, str]]:
    """The job's outputs: name -> (step id, step output), from `${{ steps.ID.outputs.NAME }}`."""
    outputs = {}
    for name, text in _github_job(workflow, job).get("outputs", {}).items():
        m = _EXPRESSION.fullmatch(text.strip())
        ref = _STEP_OUTPUT.fullmatch(m.group(1)) if m else None
        if ref is None:
            raise ValueError(f"{workflow.name}: jobs.{job}.outputs.{name}: not a step output: {text!r}")
        outputs[name] = (ref.group(1), ref.group(2))
    return outputs


def matrix_keys(workflow: Path, job: str) -> set[str]:
    """Every KEY of `${{ matrix.KEY }}` anywhere in the job."""
    text = yaml.safe_dump(_github_job(workflow, job))
    return {k for expr in _EXPRESSION.findall(text) for k in _MATRIX_KEY.findall(expr)}


def substitute(text: str, matrix: Mapping[str, str], where: str) -> str:
    """`text` with each `${{ matrix.KEY }}` replaced by its value; any other expression is refused."""
    def value(m: re.Match[str]) -> str:
        key = _MATRIX_KEY.fullmatch(m.group(1))
        if key is None or key.group(1) not in matrix:
            raise ValueError(f"{where}: cannot evaluate {m.group(0)} (matrix: {dict(matrix)})")
        return matrix[key.group(1)]

    return _EXPRESSION.sub(value, text)


def parse_github_output(text: str) -> dict[str, str]:
    """What steps appended to $GITHUB_OUTPUT: `name=value` lines and `name<<DELIM ... DELIM` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line:
            continue
        name, eq, value = line.partition("=")
        if eq and "<<" not in name:
            values[name] = value
            continue
        name, _, delim = line.partition("<<")
        body = list(itertools.takewhile(lambda s, d=delim: s != d, lines))
        values[name] = "\n".join(body)
    return values


def _github_job(workflow: Path, job: str) -> dict[str, Any]:
    jobs = load(workflow).get("jobs", {})
    if job not in jobs:
        raise ValueError(f"{workflow.name}: no job {job!r} (jobs: {', '.join(jobs)})")
    return jobs[job]


# --- GitLab CI ---------------------------------------------------------------------------


def gitlab_jobs(pipeline: Path, local: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """The visible jobs of a pipeline file, `include: - local:` files found through `local`
    (repository path -> file) and `extends:` merged as GitLab merges them."""
    doc = _with_includes(pipeline, local)
    jobs = {k: v for k, v in doc.items() if k not in GITLAB_KEYWORDS and isinstance(v, dict)}
    return {name: _extended(name, jobs) for name in jobs if not name.startswith(".")}


def gitlab_commands(pipeline: Path, local: Mapping[str, Path]) -> dict[str, list[str]]:
    """The `script:` lines of each job that has them (trigger jobs have none)."""
    return {name: _flat(job["script"]) for name, job in gitlab_jobs(pipeline, local).items() if "script" in job}


def gitlab_matrix(job: Mapping[str, Any]) -> list[dict[str, str]]:
    """The variables of each job `parallel: matrix:` makes, in GitLab's order; [{}] without one."""
    entries = job.get("parallel", {}).get("matrix") if isinstance(job.get("parallel"), dict) else None
    if not entries:
        return [{}]
    out = []
    for entry in entries:
        names = list(entry)
        values = [v if isinstance(v, list) else [v] for v in entry.values()]
        out.extend({n: str(v) for n, v in zip(names, combo, strict=True)} for combo in itertools.product(*values))
    return out


def gitlab_triggers(pipeline: Path, local: Mapping[str, Path]) -> dict[str, list[tuple[str, str]]]:
    """Each trigger job's child pipeline files that are artifacts: (artifact path, job that makes it)."""
    triggers = {}
    for name, job in gitlab_jobs(pipeline, local).items():
        trigger = job.get("trigger")
        if isinstance(trigger, dict):
            includes = trigger.get("include", [])
            includes = includes if isinstance(includes, list) else [includes]
            triggers[name] = [(i["artifact"], i["job"]) for i in includes if isinstance(i, dict) and "artifact" in i]
    return triggers


def _with_includes(pipeline: Path, local: Mapping[str, Path]) -> dict[str, Any]:
    doc = load(pipeline)
    includes = doc.get("include", [])
    merged: dict[str, Any] = {}
    for item in includes if isinstance(includes, list) else [includes]:
        path = item.get("local") if isinstance(item, dict) else item
        if not isinstance(path, str) or path.lstrip("/") not in local:
            raise ValueError(f"{pipeline.name}: include {item!r}: not a local file this test knows "
                             f"(knows: {', '.join(local)})")
        merged = _merge(merged, _with_includes(local[path.lstrip("/")], local))
    return _merge(merged, doc)  # the including file wins


def _extended(name: str, jobs: Mapping[str, dict[str, Any]], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in seen:
        raise ValueError(f"extends: a cycle through {' -> '.join((*seen, name))}")
    if name not in jobs:
        raise ValueError(f"extends: no job {name!r}")
    job = jobs[name]
    bases = job.get("extends", [])
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = _merge(merged, _extended(base, jobs, (*seen, name)))
    merged = _merge(merged, job)
    merged.pop("extends", None)
    return merged


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """GitLab's merge for include and extends: mappings deep, everything else (lists too) replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _flat(script: Any) -> list[str]:
    """A script is a string or a list, whose nested lists GitLab flattens."""
    if isinstance(script, str):
        return [script]
    return [line for item in script for line in _flat(item)]


def statement_checked(path: Path) -> dict:
    """provenance.json read by the in-toto attestation library, as existing verifiers read it."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    text = path.read_text()
    pb = json_format.Parse(text, statement_pb2.Statement())  # unknown fields are an error
    Statement.copy_from_pb(pb).validate()
    doc = json.loads(text)
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    predicate = json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance())
    # What SLSA provenance v1 requires: buildType, externalParameters and builder.id.
    assert predicate.build_definition.build_type
    assert predicate.build_definition.external_parameters
    assert predicate.run_details.builder.id
    return doc
