"""gobox cross: the project's packages built for other GOOS/GOARCH targets, in parallel, and its plan."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from gobox.commands.run import Header, Session, header
from gobox.commands.session import stdout_to_stderr
from gobox.values import dataclass

PACKAGES_NOTE = ("go list runs first (unless its answer is kept from an earlier build of the same sources); with "
                 "no main package each target's build is go build with no -o "
                 "(every package compiled), and packages no command imports are compiled too")


@dataclass(frozen=True)
class Port:
    """One target of `gobox cross --list`."""

    target: str
    cgo: bool
    first_class: bool


@dataclass(frozen=True)
class TargetPlan:
    target: str
    output: Path
    steps: tuple[Any, ...]  # gobox.sandbox.spec.SandboxSpec, go list first


@dataclass(frozen=True)
class Plan:
    """--list (`ports`) or --dry-run (`targets`, or only the `patterns` while the Go is not installed)."""

    header: Header
    patterns: tuple[str, ...] = ()  # named, not yet expanded: the Go that expands them is not installed
    ports: tuple[Port, ...] | None = None
    targets: tuple[TargetPlan, ...] | None = None


def request(patterns: tuple[str, ...], go_args: tuple[str, ...] = (), jobs: int | None = None,
            archive: bool | None = None, cgo: bool | None = None, packages: tuple[str, ...] = ()) -> Any:
    """A gobox.cross.release.Request of these values."""
    from gobox.cross import release

    return release.Request(patterns=patterns, go_args=go_args, jobs=jobs, archive=archive, cgo=cgo,
                           packages=packages)


def cross(session: Session, project: Any, req: Any, options: Any, events: Any = None,
          json_stdout: bool = False) -> Any:
    """Build every target; the gobox.cross.release report (failed targets included, not raised)."""
    from gobox.build import prepare, source_date_epoch
    from gobox.cross import release

    with stdout_to_stderr(json_stdout):
        prepared = prepare(project, session.store, session.settings, options, session.progress())
        session.record(project, prepared.pins)
        return release.cross(project, session.store, req, options, prepared,
                             source_date_epoch(project.root, os.environ), session.progress(), events)


def to_json(report: Any) -> Any:
    from gobox.cross import release

    return release.to_json(report)


def plan(session: Session, project: Any, options: Any, req: Any, list_only: bool) -> Plan:
    """What --list or --dry-run shows; nothing is built or written (a --list may install the Go)."""
    from gobox.build import output_dir, prepare
    from gobox.cross import release
    from gobox.toolchains.install import Toolchain

    prepared = prepare(project, session.store, session.settings, options, session.progress(), dry_run=not list_only)
    session.record(project, prepared.pins)  # a --list may install the Go, and pin it
    head = header(project, prepared)
    patterns = req.patterns or (() if project.config.cross.targets else ("all",))
    goroot = prepared.toolchain.goroot
    if not list_only and goroot is not None and not goroot.is_dir():
        # The targets are expanded against the toolchain's own port list, which only an installed go prints.
        return Plan(head, patterns=tuple(" ".join(patterns or project.config.cross.targets).split()))
    targets = release.choose_targets(project, prepared, patterns)  # refuses an image toolchain
    if list_only:
        assert isinstance(prepared.toolchain, Toolchain)
        ports = {(p.goos, p.goarch): p for p in release.toolchain_ports(prepared.toolchain)}
        return Plan(head, ports=tuple(Port(str(t), ports[(t.goos, t.goarch)].cgo,
                                           ports[(t.goos, t.goarch)].first_class) for t in targets))
    names = release.directory_names(project, targets)
    out = output_dir(project)
    specs = release.plan_request(project, session.store, prepared, dataclasses.replace(req, patterns=patterns),
                                 options, out)
    return Plan(head, targets=tuple(TargetPlan(str(t), out / names[t], tuple(steps)) for t, steps in specs.items()))
