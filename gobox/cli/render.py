"""How the CLI shows results: tables, sizes, JSON on stdout (and --json's promise), a sandboxed command's ending."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click


class Json:
    """--json's promise: stdout is one JSON document. A command's result, or, when gobox itself fails (bad
    config, network, integrity), {"ok": false, "exit_code", "error", "hint"} written by main() besides the
    usual one line on stderr; the exit code is kept either way. What a sandboxed command prints goes to
    stderr (gobox.commands.session.stdout_to_stderr). Only a command line click cannot parse leaves stdout empty."""

    requested = False  # set by every --json option's callback (watch_json)
    emitted = False


def emit_json(value: Any) -> None:
    import json

    Json.emitted = True
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def watch_json(command: click.Command) -> None:
    """Make every --json option of the tree record that it was given, so main() knows a failure's output is
    owed as JSON; found by walking the tree, so a new command's --json is covered too."""
    def record(ctx: click.Context, param: click.Parameter, value: Any, then: Any = None) -> Any:
        if value:
            Json.requested = True
        return then(ctx, param, value) if then else value

    for param in command.params:
        if isinstance(param, click.Option) and "--json" in param.opts and not getattr(param, "_gobox_watched", 0):
            import functools

            param.callback = functools.partial(record, then=param.callback)
            param._gobox_watched = True  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        watch_json(sub)


def spec_json(spec: Any) -> dict[str, Any]:
    """A SandboxSpec as --dry-run --json prints it: every field, the environment as an object."""
    import dataclasses

    return {**dataclasses.asdict(spec), "env": dict(spec.env)}


def plan_json(header: Any) -> dict[str, Any]:
    """--dry-run --json's first keys: plan_header's lines as data (a gobox.commands.run.Header)."""
    return {"dry_run": True, "go": header.go, "first": list(header.first), "vendor": header.vendor}


def toolchain_json(t: Any) -> dict[str, Any]:
    return {"kind": "toolchain", "version": str(t.version), "platform": t.platform, "goroot": str(t.goroot),
            "source": t.source, "filename": t.filename, "url": t.url, "sha256": t.sha256,
            "size": t.size}


def image_json(image: Any, go: str | None, unpacked: bool) -> dict[str, Any]:
    """An image toolchain (gobox.imagestore.pull.Image) as `toolchain install/list --json` print it."""
    return {"kind": "image", "version": go.removeprefix("go") if go else None, "platform": image.platform,
            "source": "image", "reference": image.reference, "digest": image.digest, "size": image.size,
            "unpacked": unpacked}


def mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def render_result(flags: Any, ran: Any, more: dict | None = None) -> None:
    """The end of a sandboxed command (a gobox.commands.run.Ran): --json or -v's summary, why a limit killed
    it, and its exit code."""
    result = ran.result
    if flags.as_json:
        emit_json({"exit_code": result.exit_code, "peak_memory": result.peak_memory,
                   "cpu_time": result.cpu_time, "oom_killed": result.oom_killed,
                   "pids_limited": result.pids_limited, "go": ran.go,
                   "setup_seconds": result.setup_seconds, **(more or {})})
    elif flags.verbose:
        peak = f"{result.peak_memory / (1 << 20):.1f} MiB" if result.peak_memory else "unknown"
        cpu = f"{result.cpu_time:.2f} s" if result.cpu_time is not None else "unknown"
        click.echo(f"gobox: exit {result.exit_code}, peak memory {peak}, cpu {cpu}", err=True)
    if ran.problem is not None:
        raise ran.problem  # the one handler prints it, and exits with the command's status
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


def plan_header(header: Any) -> None:
    """--dry-run's first lines (a gobox.commands.run.Header): the Go, what a real run would fetch or write
    first, and vendor mode."""
    click.echo(f"go:       {header.go}")
    for note in header.first:
        click.echo(f"first:    {note}")
    if header.vendor:
        click.echo(f"vendor:   -mod=vendor in GOFLAGS: {header.vendor}")


class CrossEvents:
    """One line per target and state on stderr: queued, building, done or failed."""

    def __init__(self) -> None:
        self.total = 0
        self.started_count = 0

    def queued(self, names: list[str]) -> None:
        self.total = len(names)
        for n in names:
            click.echo(f"gobox: {n}: queued", err=True)

    def started(self, name: str, running: int) -> None:
        self.started_count += 1
        click.echo(f"gobox: {name}: building ({self.started_count}/{self.total}, {running} at once)", err=True)

    def finished(self, done: Any) -> None:
        if done.result is not None and done.result.exit_code == 0 and done.error is None:
            peak = f", peak {done.result.peak_memory / (1 << 20):.0f} MiB" if done.result.peak_memory else ""
            click.echo(f"gobox: {done.name}: done in {done.seconds:.1f} s{peak}", err=True)
        else:
            why = done.error or f"exit {done.result.exit_code}"
            click.echo(f"gobox: {done.name}: failed in {done.seconds:.1f} s ({why})", err=True)
        # What go printed (its errors, or -v and -x output), labelled: targets finish interleaved.
        for line in done.output.rstrip().splitlines():
            click.echo(f"  {done.name}| {line}", err=True)


def gc_summary(report: Any) -> str:
    """`removed 3 blobs and 2 layers, freed 64.2 MB` (or what a dry run would do)."""
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    if report.dry_run:
        line = (f"would remove {n(len(report.blobs), 'blob')} and {n(len(report.layers), 'layer')}, "
                f"freeing {megabytes(report.freed)}")
    else:
        line = (f"removed {n(len(report.blobs), 'blob')} and {n(len(report.layers), 'layer')}, "
                f"freed {megabytes(report.freed)}")
    extra = []
    if report.parts:
        extra.append(n(report.parts, "unfinished file"))
    if report.pins:
        extra.append(n(report.pins, "stale pin") + " of a gobox that is gone")
    if extra:
        line += f" ({'would clear' if report.dry_run else 'cleared'} {' and '.join(extra)})"
    return line


def megabytes(n: int) -> str:
    # Decimal, as registries and `docker images` count: the figures compare with theirs.
    return f"{n / 1e6:.1f} MB"


def table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
