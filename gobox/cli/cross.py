"""gobox cross: build for other GOOS/GOARCH targets."""

from __future__ import annotations

from typing import Any

import click

from gobox.cli.options import (
    EPILOG,
    RunFlags,
    Session,
    complete_patterns,
    pass_app,
    sandbox_options,
    split_dashdash,
)
from gobox.cli.render import (
    CrossEvents,
    emit_json,
    plan_header,
    plan_json,
    spec_json,
    table,
)
from gobox.commands import cross as commands
from gobox.errors import GoboxError


@click.command("cross", epilog=EPILOG, short_help="Build for other GOOS/GOARCH targets, in parallel.",
             context_settings={"ignore_unknown_options": True})
@sandbox_options
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Targets built at once (default: from cores "
              "and memory, so the matrix fits in RAM).")
@click.option("--archive/--no-archive", default=None, help="Also pack each target into .tar.gz (.zip for "
              "windows) with fixed metadata (default [cross].archive).")
@click.option("--cgo/--no-cgo", default=None, help="CGO_ENABLED=1 for every target (default [go].cgo); "
              "foreign targets need a C cross compiler in [cross.cc].")
@click.option("--list", "list_only", is_flag=True, help="Print the targets the patterns name for the "
              "pinned Go, and build nothing.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, shell_complete=complete_patterns)
@pass_app
def cross_cmd(app: Session, args: tuple[str, ...], flags: RunFlags, jobs: int | None, archive: bool | None,
              cgo: bool | None, list_only: bool) -> None:
    """Build [build].packages for other GOOS/GOARCH targets, in parallel, into dist/.

    \b
    TARGET is GOOS/GOARCH[/VARIANT] as the pinned Go names them
    (`gobox cross --list all`), or a pattern: linux/* */arm64 all first-class,
    and !PATTERN to leave some out. With no TARGET, [cross].targets.
    Each target lands in dist/<name>_<os>_<arch>[_<variant>]/, and
    dist/SHA256SUMS lists every output (`cd dist && sha256sum -c SHA256SUMS`).
    Arguments after `--` go to go build. Exit 1 when any target failed.

    \b
    Examples:
      gobox cross darwin/amd64
      gobox cross linux/amd64 linux/arm64 linux/arm/v7 windows/amd64 --archive
      gobox cross 'first-class' '!windows/386' -j 2 -- -ldflags=-s
      gobox cross linux/arm64 --cgo        # with [cross.cc] "linux/arm64" = "zig"
    """
    patterns, go_args = split_dashdash(args)
    project = app.project()
    options = flags.options()
    request = commands.request(patterns, go_args, jobs, archive, cgo)
    if list_only or flags.dry_run:
        cross_plan(app, project, options, request, list_only, flags.as_json)
        return
    events = None if app.quiet else CrossEvents()
    report = commands.cross(app, project, request, options, events, flags.as_json)
    if flags.as_json:
        emit_json(commands.to_json(report))
    elif not app.quiet:
        _cross_summary(project, report)
    if report.failed:
        names = ", ".join(str(o.target) for o in report.failed)
        raise GoboxError(f"{len(report.failed)} of {len(report.outcomes)} targets failed: {names}")


def cross_plan(app: Session, project: Any, options: Any, request: Any, list_only: bool, as_json: bool) -> None:
    doc = cross_plan_doc(app, project, options, request, list_only, as_json)
    if doc is not None:
        emit_json(doc)


def cross_plan_doc(app: Session, project: Any, options: Any, request: Any, list_only: bool,
                   as_json: bool) -> Any:
    """--list or --dry-run of a cross: printed, or with `as_json` returned as one document."""
    plan = commands.plan(app, project, options, request, list_only)
    go = plan.header.go
    if plan.ports is None and plan.targets is None:
        named = " ".join(plan.patterns)
        if as_json:
            return {**plan_json(plan.header), "patterns": list(plan.patterns),
                    "targets": None, "note": f"checked against go {go}'s ports once it is installed"}
        plan_header(plan.header)
        click.echo(f"targets:  {named} (checked against go {go}'s ports once it is installed)")
        return None
    if plan.ports is not None:
        if as_json:
            return [{"target": p.target, "cgo": p.cgo, "first_class": p.first_class} for p in plan.ports]
        for p in plan.ports:
            notes = [n for n, on in (("first-class", p.first_class), ("cgo", p.cgo)) if on]
            click.echo(f"{p.target:<20} {' '.join(notes)}".rstrip())
        return None
    targets = plan.targets or ()
    if as_json:
        return {**plan_json(plan.header), "packages": commands.PACKAGES_NOTE,
                "targets": [{"target": t.target, "output": str(t.output),
                             "sandbox": [spec_json(step) for step in t.steps]} for t in targets]}
    plan_header(plan.header)
    for t in targets:
        click.echo(f"\n# {t.target} -> {project.relative(t.output)}")
        click.echo(t.steps[0].describe())
    click.echo(f"\npackages: {commands.PACKAGES_NOTE}")
    return None


def _cross_summary(project: Any, report: Any) -> None:
    rows = [("TARGET", "STATUS", "TIME", "PEAK MEM", "OUTPUT")]
    for o in report.outcomes:
        peak = f"{o.peak_memory / (1 << 20):.0f} MiB" if o.peak_memory else "-"
        where = project.relative(o.directory) if o.directory else (o.error or ("compiled" if o.ok else ""))
        rows.append((str(o.target), "ok" if o.ok else "FAILED", f"{o.seconds:.1f} s", peak, where))
    table(rows)
    if report.sums:
        click.echo(f"checksums: {project.relative(report.sums)}")
