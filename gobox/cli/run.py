"""gobox run, shell, build and test: commands in the project's build environment."""

from __future__ import annotations

from typing import Any

import click

from gobox.cli.options import EPILOG, RunFlags, Session, pass_app, sandbox_options, split_dashdash
from gobox.cli.render import emit_json, plan_header, plan_json, render_result, spec_json
from gobox.commands import build as building
from gobox.commands import run as commands


def _run_in_sandbox(app: Session, argv: tuple[str, ...], flags: RunFlags, project: Any,
                    commit: str | None = None, tty: bool = False) -> None:
    planned = commands.plan(app, project, argv, flags.options(), commit, tty, dry_run=flags.dry_run)
    _finish(app, flags, planned)


def _finish(app: Session, flags: RunFlags, planned: commands.Planned) -> None:
    """Print a planned command's plan (--dry-run), or run it and render how it ended."""
    if flags.dry_run:
        _render_plan(flags, planned)
        return
    ran = commands.execute(app, planned, flags.as_json)
    if planned.commit is not None:
        _render_commit(app, ran)
    render_result(flags, ran)


def _render_plan(flags: RunFlags, planned: commands.Planned, note: str | None = None) -> None:
    if flags.as_json:
        emit_json({**plan_json(planned.header), "sandbox": spec_json(planned.spec),
                   **({"packages": note} if note else {})})
        return
    plan_header(planned.header)
    click.echo(planned.spec.describe())
    if note:
        click.echo(f"packages: {note}")


def _render_commit(app: Session, ran: commands.Ran) -> None:
    done = ran.committed
    if done is None:
        click.echo(f"gobox: not committed: the command exited with {ran.result.exit_code}", err=True)
        return
    for path in done.skipped:
        click.echo(f"gobox: warning: not committed: {path} (not a file, directory or link)", err=True)
    app.progress().step(f"committed {done.reference} {done.digest} "
                        f"({done.entries} entries, layer {done.layer_size / (1 << 20):.1f} MiB)")


@click.command("run", epilog=EPILOG, short_help="Run a command in the project's build environment.",
             context_settings={"ignore_unknown_options": True})
@sandbox_options(docker=True)
@click.option("--commit", "commit", metavar="NAME[:TAG]", help="Then record what the command wrote as a new "
              "layer on its image, as local image NAME:TAG (docker commit); needs --image or [go].image.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
def run_cmd(app: Session, command: tuple[str, ...], flags: RunFlags, commit: str | None) -> None:
    """Run COMMAND in the project's build environment (the seed's `docker run --rm golang ...`).

    The root holds only the pinned Go at /usr/local/go and a minimal /etc
    (with [go].base = "host", also the host's /usr); the project is mounted at
    its own path, GOCACHE and GOMODCACHE come from the store, the network is
    off unless --network host (or private, its own through pasta, which -p
    publishes ports of), and the environment is scrubbed. docker run's -e, -v,
    -w, -p, -i, -t and --rm work as there. The exit code is the command's.

    \b
    Examples:
      gobox run -- go version
      gobox run --go 1.21.13 -- go test ./...
      gobox run --network host --env GOPROXY=https://proxy.golang.org -- go mod download
      gobox run --go 1.22 -- go version     # anywhere, even outside a project
      gobox run -p 8080:8080 -- go run ./cmd/server   # answers on the host's port 8080
      gobox run --image golang:1.22 --commit awesomeness -- go install ./cmd/hello
      gobox run --image awesomeness -- hello
    """
    project = commands.run_project(app, flags.go, flags.image)
    _run_in_sandbox(app, command, flags, project, commit, tty=True)


@click.command("shell", epilog=EPILOG, short_help="An interactive shell in the build environment.")
@sandbox_options
@pass_app
def shell_cmd(app: Session, flags: RunFlags) -> None:
    """An interactive shell in the build environment (needs [go].base = "host" or an image).

    \b
    Example:
      gobox shell --network host
    """
    _run_in_sandbox(app, ("/bin/sh",), flags, commands.shell_project(app), tty=True)


@click.command("build", epilog=EPILOG, short_help="Build the project's packages into dist/.",
             context_settings={"ignore_unknown_options": True})
@sandbox_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def build_cmd(app: Session, args: tuple[str, ...], flags: RunFlags) -> None:
    """Build [build].packages (or PKG...) into [build].output (default dist/).

    Runs `go build -trimpath` with the configured flags, ldflags and tags in
    the sandbox; arguments after `--` go to go build. `go list` says first
    which packages are commands (its answer is kept until a Go source,
    go.mod or the settings change): those land in dist/, and every other
    package is compiled (a library, with no command, is compiled whole, as
    `go build ./...` does). Exit code is go's.

    \b
    Examples:
      gobox build
      gobox build ./cmd/server -- -race
    """
    packages, extra = split_dashdash(args)
    project = building.project(app)
    options = flags.options()
    if flags.dry_run:
        _render_plan(flags, building.build_plan(app, project, packages, extra, options), building.PACKAGES_NOTE)
        return
    built = building.build(app, project, packages, extra, options, flags.as_json)
    if built.commands is not None and built.ran.result.exit_code == 0 and not app.quiet and not flags.as_json:
        made = (f"{len(built.commands)} command{'s' if len(built.commands) != 1 else ''} in "
                f"{built.output}/" if built.commands else "no commands")
        click.echo(f"gobox: {built.packages} package{'s' if built.packages != 1 else ''} compiled; {made}",
                   err=True)
    extra_json = None if built.commands is None else {"commands": list(built.commands),
                                                      "libraries": list(built.libraries or ()),
                                                      "listed": built.listed}
    render_result(flags, built.ran, extra_json)


@click.command("test", epilog=EPILOG, short_help="Run go test in the sandbox.",
             context_settings={"ignore_unknown_options": True})
@sandbox_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def test_cmd(app: Session, args: tuple[str, ...], flags: RunFlags) -> None:
    """Run `go test` on [build].packages (or PKG...) in the sandbox; args after `--` go to go test.

    Tests run as `go test` runs them: [build].flags and tags, [test].flags,
    and no -trimpath unless [test].flags asks for it.

    \b
    Examples:
      gobox test
      gobox test ./pkg/... -- -run TestParse -count=1
    """
    packages, extra = split_dashdash(args)
    project = building.project(app)
    options = flags.options()
    _finish(app, flags, building.test_plan(app, project, packages, extra, options, flags.dry_run))
