"""gobox ci, ci matrix and verify: the commit built in clean rooms, published to the output directory whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gobox.commands.session import Session, stdout_to_stderr
from gobox.errors import GoboxError
from gobox.values import dataclass


@dataclass(frozen=True)
class Done:
    """A gobox ci: its report (gobox.ci.clean), and the directory its outputs were published to."""

    report: Any
    out: Path


def ci(session: Session, project: Any, targets: tuple[str, ...], dirty: bool, out: Path | None,
       events: Any = None, json_stdout: bool = False) -> Done:
    """Build in a clean room into a staging directory beside `out`, which replaces `out` (default the
    project's output directory) only when every step passed. A failed step is the report's error, not raised."""
    from gobox.build import output_dir
    from gobox.ci import clean
    from gobox.store import remove_tree, swap_dir

    final = (out or output_dir(project)).absolute()
    staging = _staging(final)
    try:
        with stdout_to_stderr(json_stdout):
            report = clean.build(project, session.store, session.settings, clean.Request(targets, dirty),
                                 clean.Room(session.store.ci), staging, session.progress(), events)
        if report.error is None:
            swap_dir(staging, final)
    finally:
        remove_tree(staging)
    return Done(report, final)


def _staging(final: Path) -> Path:
    """A new directory beside --out (one rename publishes it); any left by a killed gobox ci is removed."""
    from gobox.store import private_dir

    try:
        staging = private_dir(final.parent, ".gobox-ci-")
        staging.chmod(0o755)  # mkdtemp's 0700 would otherwise become dist/'s mode
        return staging
    except OSError as e:
        raise GoboxError(f"cannot write beside the output directory {final}: {e.strerror}",
                         hint="pass --out DIR in a directory you can write") from None


def matrix(session: Session, fmt: str) -> str:
    """[cross].targets, expanded for the pinned Go, as a `fmt` (github, gitlab) CI job matrix."""
    from gobox.build import Options, prepare
    from gobox.ci import jobs
    from gobox.cross import release
    from gobox.errors import ConfigError

    project = session.project()
    prepared = prepare(project, session.store, session.settings, Options(locked=True), session.progress())
    session.record(project, prepared.pins)  # none: the lock decides everything
    where = project.relative(project.config_path) if project.config_path else "gobox.toml"
    if not project.config.cross.targets:
        raise ConfigError(f"{where}: cross.targets: empty, so there is nothing to fan out",
                          hint='list them, e.g. [cross] targets = ["linux/arm64", "darwin/amd64"]')
    targets = release.choose_targets(project, prepared, ())
    return jobs.render([str(t) for t in targets], fmt, where)


def verify(session: Session, targets: tuple[str, ...], dirty: bool, runs: int, keep: Path | None,
           json_stdout: bool = False) -> Any:
    """Build `runs` times in clean rooms that differ; the gobox.ci.verify verdict (mismatches not raised)."""
    from gobox.ci import clean
    from gobox.ci.verify import verify as verify_runs
    from gobox.errors import UsageError

    project = session.project()
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise UsageError(f"--keep {keep}: not empty", hint="give a new or empty directory")
    with stdout_to_stderr(json_stdout):
        return verify_runs(project, session.store, session.settings, clean.Request(targets, dirty), runs,
                           session.progress(), None, keep.absolute() if keep else None)


def describe(difference: Any) -> str:
    """One line on where two builds' outputs differ."""
    from gobox.ci.compare import describe as describe_difference

    return describe_difference(difference)
