"""gobox cross: build for other GOOS/GOARCH targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gobox.cli.options import (
    EPILOG,
    App,
    RunFlags,
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
    stdout_to_stderr,
    table,
)
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
def cross_cmd(app: App, args: tuple[str, ...], flags: RunFlags, jobs: int | None, archive: bool | None,
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
    from gobox.cross import release

    patterns, go_args = split_dashdash(args)
    project = app.project()
    options = flags.options()
    request = release.Request(patterns=patterns, go_args=go_args, jobs=jobs, archive=archive, cgo=cgo)
    if list_only or flags.dry_run:
        cross_plan(app, project, options, request, list_only, flags.as_json)
        return
    events = None if app.quiet else CrossEvents()
    with stdout_to_stderr(flags.as_json):
        report = release.cross(project, app.store, app.settings, request, options, app.progress(), events)
    if flags.as_json:
        emit_json(release.to_json(report))
    elif not app.quiet:
        _cross_summary(project, report)
    if report.failed:
        names = ", ".join(str(o.target) for o in report.failed)
        raise GoboxError(f"{len(report.failed)} of {len(report.outcomes)} targets failed: {names}")


def cross_plan(app: App, project: Any, options: Any, request: Any, list_only: bool, as_json: bool) -> None:
    doc = cross_plan_doc(app, project, options, request, list_only, as_json)
    if doc is not None:
        emit_json(doc)


_PACKAGES_NOTE = ("go list runs first; with no main package each target's build is go build with no -o "
                  "(every package compiled), and packages no command imports are compiled too")


def cross_plan_doc(app: App, project: Any, options: Any, request: Any, list_only: bool,
                    as_json: bool) -> Any:
    """--list or --dry-run of a cross: printed, or with `as_json` returned as one document."""
    import dataclasses

    from gobox.build import output_dir, prepare
    from gobox.cross import release

    prepared = prepare(project, app.store, app.settings, options, app.progress(), dry_run=not list_only)
    patterns = request.patterns or (() if project.config.cross.targets else ("all",))
    if not list_only and not Path(getattr(prepared.toolchain, "path", "/")).is_dir():
        # The targets are expanded against the toolchain's own port list, which only an installed go prints.
        named = " ".join(patterns or project.config.cross.targets)
        if as_json:
            return {**plan_json(project, prepared), "patterns": named.split(),
                    "targets": None, "note": f"checked against go {prepared.go_version}'s ports once it is installed"}
        plan_header(project, prepared)
        click.echo(f"targets:  {named} (checked against go {prepared.go_version}'s ports once it is installed)")
        return None
    targets = release.choose_targets(project, prepared, patterns)
    if list_only:
        ports = {(p.goos, p.goarch): p for p in release.toolchain_ports(prepared.toolchain)}
        rows = [(str(t), ports[(t.goos, t.goarch)]) for t in targets]
        if as_json:
            return [{"target": t, "cgo": p.cgo, "first_class": p.first_class} for t, p in rows]
        for t, p in rows:
            notes = [n for n, on in (("first-class", p.first_class), ("cgo", p.cgo)) if on]
            click.echo(f"{t:<20} {' '.join(notes)}".rstrip())
        return None
    names = release.directory_names(project, targets)
    out = output_dir(project)
    specs = release.plan_request(project, app.store, prepared, dataclasses.replace(request, patterns=patterns),
                                 options, out)
    if as_json:
        return {**plan_json(project, prepared), "packages": _PACKAGES_NOTE,
                "targets": [{"target": str(t), "output": str(out / names[t]),
                             "sandbox": [spec_json(step) for step in steps]} for t, steps in specs.items()]}
    plan_header(project, prepared)
    for t, steps in specs.items():
        click.echo(f"\n# {t} -> {project.relative(out / names[t])}")
        click.echo(steps[0].describe())
    click.echo(f"\npackages: {_PACKAGES_NOTE}")
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
