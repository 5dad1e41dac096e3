"""gobox run and shell, and run --commit: one command in the project's build environment."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from gobox.commands.session import Session, stdout_to_stderr
from gobox.errors import LimitReached
from gobox.values import dataclass


@dataclass(frozen=True)
class Header:
    """--dry-run's first lines: the Go, what a real run would fetch or write first, and vendor mode."""

    go: str
    first: tuple[str, ...]
    vendor: str | None  # why builds take vendor/ (-mod=vendor), or None


@dataclass(frozen=True)
class Planned:
    """A command ready to run: its sandbox, and what the plan's reader is told."""

    project: Any  # gobox.config.Project
    prepared: Any  # gobox.build.Prepared
    spec: Any  # gobox.sandbox.spec.SandboxSpec
    options: Any  # gobox.build.Options
    commit: Any  # gobox.names.reference.Reference the run is committed as, or None
    header: Header


@dataclass(frozen=True)
class Committed:
    """What --commit recorded."""

    reference: str  # familiar, as gobox images shows it
    digest: str
    entries: int
    layer_size: int
    skipped: tuple[str, ...]  # paths neither a file, a directory nor a link


@dataclass(frozen=True)
class Ran:
    """A finished sandboxed command: its result, why a limit killed it, and what --commit made of it."""

    result: Any  # gobox.sandbox.run.Result
    problem: LimitReached | None  # why a limit killed it
    go: str
    committed: Committed | None = None


def header(project: Any, prepared: Any) -> Header:
    from gobox.build import mod_vendor

    return Header(prepared.go_version, tuple(prepared.notes), mod_vendor(project) or None)


def network_for(network: str | None, publish: tuple[Any, ...]) -> str | None:
    """The network a run asks for: -p means a private one, as docker's bridge, and is refused with another."""
    from gobox.errors import UsageError

    if not publish:
        return network
    if network not in (None, "private"):
        raise UsageError(f"-p {publish[0]}: published ports need --network private, not --network {network}",
                         hint="drop --network (-p implies private), or drop -p")
    return "private"


def parse_publish(text: str) -> Any:
    """-p's [IP:]HOST:CONTAINER[/PROTO] as a gobox.sandbox.spec.Publish; ValueError when it is not one."""
    from gobox.sandbox.spec import Publish

    return Publish.parse(text)


def options(*, go: str | None, image: str | None, env: tuple[tuple[str, str], ...], mounts: tuple[str, ...],
            network: str | None, memory: int | None, pids: int | None, cpus: float | None, no_limits: bool,
            seccomp: str | None, locked: bool, workdir: str | None, publish: tuple[Any, ...]) -> Any:
    """The gobox.build.Options of a sandbox command's flags, each already checked as click parsed it."""
    from gobox.build import Options
    from gobox.config import Mount

    return Options(go=go, env=env, mounts=tuple(Mount.parse(m) for m in mounts),
                   network=network_for(network, publish), memory=memory, pids=pids, cpus=cpus, locked=locked,
                   no_limits=no_limits, image=image, seccomp=seccomp, workdir=workdir, publish=tuple(publish))


def run_project(session: Session, go: str | None, image: str | None) -> Any:
    """The project gobox run runs in: the one around, else (given a Go) a bare one of the current directory."""
    from gobox.config import CONFIG_NAME, Project, find_root
    from gobox.errors import ConfigError

    if find_root(Path.cwd()) is not None:
        return session.project()
    # Outside any project, `gobox run --go 1.22 -- go version` still works, as
    # `docker run golang` does: the current directory is mounted, nothing is locked.
    if not (go or image or os.environ.get("GOBOX_GO")):
        raise ConfigError(f"no {CONFIG_NAME} or go.mod in {Path.cwd()} or above, and no --go",
                          hint="give a version (gobox run --go 1.22 -- go version) or run in a Go project")
    return Project.bare(Path.cwd())


def shell_project(session: Session) -> Any:
    """The project gobox shell runs in, refused when its root has no shell."""
    from gobox.errors import UsageError

    project = session.project()
    if project.config.go.base == "none":
        raise UsageError('gobox shell needs a shell in the root, and [go].base = "none" has none',
                         hint='set [go].base = "host" in gobox.toml, or use `gobox run -- go ...`')
    return project


def plan(session: Session, project: Any, argv: tuple[str, ...], options: Any, commit: str | None = None,
         tty: bool = False, dry_run: bool = False) -> Planned:
    """Prepare the toolchain and plan the sandbox of `argv`; with `dry_run`, fetch and write nothing."""
    from gobox.build import plan as plan_sandbox
    from gobox.build import prepare

    options = dataclasses.replace(options, tty=tty)
    target = commit_target(commit) if commit else None
    prepared = prepare(project, session.store, session.settings, options, session.progress(), dry_run=dry_run)
    session.record(project, prepared.pins)
    spec = plan_sandbox(project, prepared.paths, argv, options, os.environ.get("TERM"))
    return Planned(project, prepared, spec, options, target, header(project, prepared))


def execute(session: Session, planned: Planned, json_stdout: bool = False) -> Ran:
    """Run a planned command (and with --commit, record what it wrote); `json_stdout` sends its stdout to
    stderr, for --json's document."""
    from gobox.build import execute as execute_spec
    from gobox.build import explain

    committed = None
    with stdout_to_stderr(json_stdout):
        if planned.commit is not None:
            result, committed = run_and_commit(session, planned)
        else:
            result = execute_spec(planned.spec, planned.options)
    return Ran(result, explain(result, planned.spec), planned.prepared.go_version, committed)


def commit_target(text: str) -> Any:
    """The reference --commit names, checked before anything runs."""
    from gobox.errors import UsageError
    from gobox.names.reference import Reference

    ref = Reference.parse(text)
    if ref.digest:
        raise UsageError(f"--commit {text}: name the new image by a tag, not a digest",
                         hint="its digest is printed once it is committed")
    return ref


def run_and_commit(session: Session, planned: Planned) -> tuple[Any, Committed | None]:
    """Run with the upper kept on disk, then turn it into a layer on the image: docker commit. Nothing is
    committed (None) when the command failed."""
    import shlex
    import time

    from gobox.build import execute as execute_spec
    from gobox.errors import UsageError
    from gobox.imagestore.commit import commit, read_upper
    from gobox.imagestore.gc import using
    from gobox.store import private_dir, remove_tree
    from gobox.toolchains.image import ImageToolchain

    spec, ref = planned.spec, planned.commit
    toolchain = planned.prepared.toolchain
    if not isinstance(toolchain, ImageToolchain):
        raise UsageError("--commit needs an image to commit onto: the new image is its layers plus what the "
                         "command wrote", hint="add --image REF (e.g. --image golang:1.22), or set [go].image")
    work = private_dir(session.store.commits)
    work.chmod(0o755)
    try:
        for d in ("upper", "work"):
            (work / d).mkdir(mode=0o755)
        result = execute_spec(dataclasses.replace(spec, upper=str(work)), planned.options)
        if result.exit_code != 0:
            return result, None
        diff = read_upper(work / "upper", spec.mount_points(), toolchain.layers)
        with using(session.store):  # the new blobs are garbage to a gc until the record names them
            done = commit(session.store, toolchain.digest, toolchain.platform, diff, ref, shlex.join(spec.argv),
                          int(time.time()))
    finally:
        remove_tree(work)
    return result, Committed(ref.familiar, done.image.digest, done.entries, done.layer.size,
                             tuple(str(p) for p in done.skipped))
