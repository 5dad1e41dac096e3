"""gobox image and gobox image run: a static binary packed into an OCI image, and an image run as docker run."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from gobox.commands.run import Session, network_for
from gobox.commands.session import stdout_to_stderr
from gobox.errors import LimitReached
from gobox.values import dataclass


@dataclass(frozen=True)
class Plan:
    """gobox image --dry-run: the image's settings, and (unless --binary) the cross build that makes it."""

    image: str
    platforms: tuple[str, ...]
    base: str
    user: Any
    output: str
    binary: Path | None
    build_project: Any  # gobox.config.Project of the static build, or None with --binary
    build_request: Any  # its gobox.cross.release.Request, or None


@dataclass(frozen=True)
class RunPlan:
    """An image ready to run: which one, and its sandbox."""

    reference: str  # as the store records it
    digest: str
    spec: Any  # gobox.sandbox.spec.SandboxSpec
    asked: str  # the reference as the user wrote it, for errors


@dataclass(frozen=True)
class Ran:
    result: Any  # gobox.sandbox.run.Result
    problem: LimitReached | None  # why a limit killed it


def request(platforms: tuple[str, ...], tag: str | None, output: str | None, binary: Path | None) -> Any:
    from gobox.image import make

    return make.Request(platforms=platforms, tag=tag, output=output, binary=binary)


def make(session: Session, project: Any, req: Any, options: Any, events: Any = None,
         json_stdout: bool = False) -> Any:
    """Build and pack the image (gobox.image.make.Made): recorded in the store, and written or pushed."""
    from gobox.build import prepare, source_date_epoch
    from gobox.image import make as making

    with stdout_to_stderr(json_stdout):
        checked = making.check(project, req, options)
        prepared = None
        if checked.needs_go:
            prepared = prepare(project, session.store, session.settings, options, session.progress())
            session.record(project, prepared.pins)
        made = making.make(project, session.store, session.settings, checked, options, prepared,
                           source_date_epoch(project.root, os.environ), session.progress(), events)
        session.record(project, made.pins)
        return made


def plan(project: Any, req: Any) -> Plan:
    """What gobox image --dry-run shows; nothing is built or written."""
    from gobox.build import output_dir
    from gobox.cross import release
    from gobox.image import make as making
    from gobox.image import plan as planning
    from gobox.names.platform import host_platform

    cfg = project.config.image
    targets = planning.targets(req.platforms or cfg.platforms, host_platform(), "--platform")
    output = planning.parse_output(req.output, Path.cwd())
    static = cross = None
    if req.binary is None:
        static = planning.static_project(project, output_dir(project) / making.OUTPUT_DIR)
        cross = release.Request(patterns=tuple(map(str, targets)), packages=(cfg.package,) if cfg.package else ())
    return Plan(req.tag or cfg.name or "localhost/<binary>:latest", tuple(map(str, targets)), cfg.base, cfg.user,
                str(output), req.binary, static, cross)


def run_plan(session: Session, reference: str, args: tuple[str, ...], *, network: str | None,
             env: tuple[tuple[str, str], ...], mounts: tuple[str, ...], entrypoint: str | None,
             platform: str | None, memory: int | None, pids: int | None, cpus: float | None,
             seccomp: str | None, workdir: str | None, publish: tuple[Any, ...]) -> RunPlan:
    """Find (or pull) the image and plan its sandbox: its Entrypoint and Cmd, Env, WorkingDir and User."""
    from gobox.config import Mount
    from gobox.image import run
    from gobox.names.platform import host_platform
    from gobox.sandbox.cgroups import Limits
    from gobox.toolchains.image import image_user

    # Checked as click parsed them (ENV, MEMORY, MOUNT, PUBLISH).
    net = network_for(network, publish) or "none"
    binds = tuple(run.bind(Mount.parse(m), Path.cwd()) for m in mounts)
    found = run.find(session.store, session.settings, reference, platform or host_platform(), session.progress())
    uid, gid = image_user(found.config, found.layers, (0, 0))
    argv = run.command(found.config, args, entrypoint)
    environment = run.environment(found.config, run.home_of(uid, found.layers), list(env))
    scratch = session.store.run
    scratch.mkdir(parents=True, exist_ok=True)
    spec = run.spec(found, run.ensure_runtime_layer(session.store), argv, uid, gid, environment, net,
                    Limits(memory=memory, pids=pids, cpus=cpus), scratch, binds=binds, workdir=workdir,
                    publish=tuple(publish))
    spec = dataclasses.replace(spec, seccomp=seccomp or "default", tty=True)
    return RunPlan(found.image.reference, found.image.digest, spec, reference)


def run(planned: RunPlan, no_limits: bool) -> Ran:
    """Run a planned image; a sandbox that cannot start says which part of the image it lacked."""
    from gobox.build import explain
    from gobox.errors import SandboxError
    from gobox.image import run as running
    from gobox.sandbox.run import run as run_sandbox

    try:
        result = run_sandbox(planned.spec, no_limits=no_limits)
    except SandboxError as e:
        raise running.explain_missing(e, planned.asked, planned.spec) from None
    return Ran(result, explain(result, planned.spec))
