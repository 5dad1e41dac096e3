"""gobox ci, ci matrix and verify: clean-room builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gobox.cli.options import (
    COMPLETE_TARGETS,
    EPILOG,
    Session,
    pass_app,
)
from gobox.cli.render import (
    CrossEvents,
    emit_json,
)
from gobox.commands import ci as commands


@click.group("ci", epilog=EPILOG, short_help="Build the commit in a clean room, as CI should.",
           invoke_without_command=True)
@click.option("--target", "targets", multiple=True, metavar="OS/ARCH[/VARIANT]", shell_complete=COMPLETE_TARGETS,
              help="Build only this cross target (repeatable): one shard of a fan-out across CI jobs. "
              "No host build, tests or image.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Where the outputs go (default [build].output's dist/ in the project); replaced whole, "
              "only when everything succeeded.")
@click.option("--dirty", is_flag=True, help="Build the working tree's uncommitted changes and untracked files "
              "too; provenance.json lists them.")
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON on stdout (go's output goes "
              "to stderr).")
@click.pass_context
def ci_cmd(ctx: click.Context, targets: tuple[str, ...], out: Path | None, dirty: bool, as_json: bool) -> None:
    """Build the checked-out commit in a clean room, as CI should: the same bytes on any machine.

    \b
    Refuses to start unless gobox.lock pins the toolchain (and [vendor.deps]).
    Fetches only what the lock pins, then runs go in a sandbox with the
    network off, empty Go caches on tmpfs, the commit's tracked files
    read-only (untracked files are never seen), only gobox.toml's
    environment, TZ=UTC, LANG=C.UTF-8, umask 022 and SOURCE_DATE_EPOCH from
    the commit: [ci].generate, go build, [ci].test, [ci].cross targets,
    [ci].image. The outputs, SHA256SUMS and provenance.json (in-toto/SLSA v1)
    replace --out only when every step passed.

    \b
    Exit codes: 0 ok; 1 build failed; 2 usage, config or lock problem;
    3 integrity (a digest or the committed vendor/ differs from the lock);
    4 network while fetching; 5 tests failed.

    \b
    Examples:
      gobox ci
      gobox ci --json > ci.json && (cd dist && sha256sum -c SHA256SUMS)
      gobox ci matrix --format github      # the [cross].targets as a job matrix
      gobox ci --target linux/arm64        # one shard of it
      gobox verify --runs 2                # build twice, compare every byte
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(Session)
    assert app is not None  # the root group made it
    project = app.project()  # an error before the report: the one handler writes --json's document too
    done = commands.ci(app, project, targets, dirty, out, None if app.quiet or as_json else CrossEvents(), as_json)
    report, final = done.report, done.out
    if as_json:
        emit_json(_ci_json(report, final))
    elif not app.quiet and report.error is None:
        for o in report.outputs:
            click.echo(f"{o.sha256}  {project.relative(final / o.path)}")
        click.echo(f"gobox: commit {report.checkout.commit[:12]}{' (dirty)' if report.dirty else ''}, "
                   f"{report.go}: {len(report.outputs)} files in {project.relative(final)}", err=True)
        if report.module_zip is not None:
            for line in report.module_zip.go_sum:
                click.echo(f"gobox: go.sum: {line}", err=True)
    if report.error is not None:
        raise report.error


def _ci_json(report: Any, final: Path) -> dict[str, Any]:
    c = report.checkout
    return {
        "ok": report.error is None, "exit_code": report.exit_code,
        "error": report.error.message if report.error else None,
        "commit": c.commit, "dirty": report.dirty, "repository": c.repository, "path": c.subdir or ".",
        "source_date_epoch": c.epoch, "go": report.go,
        "steps": [{"name": s.name, "exit_code": s.exit_code, "seconds": s.seconds} for s in report.steps],
        "out": str(final) if report.error is None else None,
        "outputs": [{"path": o.path, "size": o.size, "sha256": o.sha256} for o in report.outputs],
        "module": None if report.module_zip is None else {
            "path": report.module_zip.module, "version": report.module_zip.version, "zip": report.module_zip.zip,
            "h1": report.module_zip.h1, "go_mod_h1": report.module_zip.go_mod_h1,
            "go_sum": list(report.module_zip.go_sum)},
    }


@ci_cmd.command("matrix", epilog=EPILOG)
@click.option("--format", "fmt", type=click.Choice(["github", "gitlab"]), default="github", show_default=True,
              help="github: one line of JSON for strategy.matrix; gitlab: a child pipeline with parallel:matrix.")
@pass_app
def ci_matrix_cmd(app: Session, fmt: str) -> None:
    """Print [cross].targets, expanded for the pinned Go, as a CI job matrix.

    \b
    One pinned build fans out across runners: a job prints the matrix, and
    each matrix job runs `gobox ci --target TARGET`. docs/ci.md has complete
    GitHub Actions and GitLab CI pipelines.

    \b
    Examples:
      echo "matrix=$(gobox ci matrix --format github)" >> "$GITHUB_OUTPUT"
      gobox ci matrix --format gitlab > cross.yml
    """
    click.echo(commands.matrix(app, fmt))


@click.command("verify", epilog=EPILOG, short_help="Build twice in differing clean rooms; compare bytes.")
@click.option("--runs", type=click.IntRange(min=2), default=2, show_default=True, help="Clean-room builds to "
              "compare.")
@click.option("--target", "targets", multiple=True, metavar="OS/ARCH[/VARIANT]", shell_complete=COMPLETE_TARGETS,
              help="Verify only this cross "
              "target's shard, as gobox ci --target.")
@click.option("--dirty", is_flag=True, help="Include uncommitted changes, as gobox ci --dirty.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep each run's outputs in DIR/run-N/out to inspect them.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON on stdout.")
@pass_app
def verify_cmd(app: Session, runs: int, targets: tuple[str, ...], dirty: bool, keep: Path | None,
               as_json: bool) -> None:
    """Build the commit in clean rooms that differ, and compare every output byte for byte.

    \b
    Run 1 is gobox ci as you would run it. Run 2 differs in what must not
    matter: the directory path, the wall-clock time, gobox's umask (077), the
    user inside the sandbox (65534 when you are root, root otherwise) and
    the order of the cross targets, and it compiles the standard library
    itself instead of taking the store's prebuilt one. A mismatch names each differing file and
    its first differing byte, and for an image the layer and the file in it.
    Writes nothing to dist/. Exit 0 when every run matches, 6 when not, and
    gobox ci's codes when a build fails.

    \b
    Examples:
      gobox verify
      gobox verify --runs 3 --keep /tmp/runs
    """
    verdict = commands.verify(app, targets, dirty, runs, keep, as_json)
    first = verdict.reports[0]
    if as_json:
        emit_json({"ok": verdict.ok, "commit": first.checkout.commit, "runs": runs,
                   "stdcache": [room.stdcache for room in verdict.rooms],
                    "outputs": [{"path": o.path, "sha256": o.sha256} for o in first.outputs],
                   "differences": [{"run": i, "path": d.path, "kind": d.kind, "offset": d.offset,
                                    "detail": d.detail, "text": commands.describe(d)}
                                   for i, d in verdict.differences]})
    else:
        for i, d in verdict.differences:
            click.echo(f"run {i}: {commands.describe(d)}")
    if not verdict.ok:
        from gobox.errors import Mismatch

        files = {d.path for _, d in verdict.differences}
        raise Mismatch(f"the builds differ: {len(files)} path{'s' if len(files) != 1 else ''} not the same "
                       f"({', '.join(sorted(files)[:3])}{', ...' if len(files) > 3 else ''})",
                       hint="a build that depends on time, paths, the user or map order; see each line above")
    if not app.quiet and not as_json:
        click.echo(f"gobox: {runs} clean-room builds of {first.checkout.commit[:12]} match: "
                   f"{len(first.outputs)} files, byte for byte", err=True)
