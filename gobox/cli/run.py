"""gobox run, shell, build and test: commands in the project's build environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from gobox.cli.options import (
    EPILOG,
    App,
    RunFlags,
    pass_app,
    sandbox_options,
    split_dashdash,
)
from gobox.cli.render import (
    emit_json,
    plan_header,
    plan_json,
    render_result,
    spec_json,
    stdout_to_stderr,
)
from gobox.errors import GoboxError


def _run_in_sandbox(app: App, argv: tuple[str, ...], flags: RunFlags, project: Any = None,
                    commit: str | None = None, tty: bool = False, plan_note: str | None = None) -> None:
    import dataclasses

    from gobox.build import execute, plan, prepare

    project = project or app.project()
    options = dataclasses.replace(flags.options(), tty=tty)
    target = _commit_target(commit, options) if commit else None
    prepared = prepare(project, app.store, app.settings, options, app.progress(), dry_run=flags.dry_run)
    spec = plan(project, prepared.paths, argv, options, os.environ.get("TERM"))
    if flags.dry_run:
        if flags.as_json:
            emit_json({**plan_json(project, prepared), "sandbox": spec_json(spec),
                        **({"packages": plan_note} if plan_note else {})})
            return
        plan_header(project, prepared)
        click.echo(spec.describe())
        if plan_note:
            click.echo(f"packages: {plan_note}")
        return
    with stdout_to_stderr(flags.as_json):
        if target is not None:
            result = _run_and_commit(app, prepared, spec, options, target)
        else:
            result = execute(spec, options)
    render_result(flags, prepared, spec, result)


def _commit_target(text: str, options: Any) -> Any:
    """The reference --commit names, checked before anything runs."""
    from gobox.errors import UsageError
    from gobox.oci.reference import Reference

    ref = Reference.parse(text)
    if ref.digest:
        raise UsageError(f"--commit {text}: name the new image by a tag, not a digest",
                         hint="its digest is printed once it is committed")
    return ref


def _run_and_commit(app: App, prepared: Any, spec: Any, options: Any, ref: Any) -> Any:
    """Run with the upper kept on disk, then turn it into a layer on the image: docker commit."""
    import dataclasses
    import shlex
    import time

    from gobox.build import execute
    from gobox.errors import UsageError
    from gobox.oci.commit import commit, read_upper
    from gobox.oci.gc import using
    from gobox.store import private_dir, remove_tree

    toolchain = prepared.toolchain
    if not hasattr(toolchain, "digest"):
        raise UsageError("--commit needs an image to commit onto: the new image is its layers plus what the "
                         "command wrote", hint="add --image REF (e.g. --image golang:1.22), or set [go].image")
    work = private_dir(app.store.root / "commits")
    work.chmod(0o755)
    try:
        for d in ("upper", "work"):
            (work / d).mkdir(mode=0o755)
        result = execute(dataclasses.replace(spec, upper=str(work)), options)
        if result.exit_code != 0:
            click.echo(f"gobox: not committed: the command exited with {result.exit_code}", err=True)
            return result
        diff = read_upper(work / "upper", spec.mount_points(), toolchain.layers)
        with using(app.store):  # the new blobs are garbage to a gc until the record names them
            done = commit(app.store, toolchain.digest, toolchain.platform, diff, ref, shlex.join(spec.argv),
                          int(time.time()))
    finally:
        remove_tree(work)
    for path in done.skipped:
        click.echo(f"gobox: warning: not committed: {path} (not a file, directory or link)", err=True)
    app.progress().step(f"committed {ref.familiar} {done.image.digest} "
                        f"({done.entries} entries, layer {done.layer.size / (1 << 20):.1f} MiB)")
    return result


@click.command("run", epilog=EPILOG, short_help="Run a command in the project's build environment.",
             context_settings={"ignore_unknown_options": True})
@sandbox_options(docker=True)
@click.option("--commit", "commit", metavar="NAME[:TAG]", help="Then record what the command wrote as a new "
              "layer on its image, as local image NAME:TAG (docker commit); needs --image or [go].image.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
def run_cmd(app: App, command: tuple[str, ...], flags: RunFlags, commit: str | None) -> None:
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
    from gobox.config import CONFIG_NAME, Project, find_root
    from gobox.errors import ConfigError

    project = None
    if find_root(Path.cwd()) is None:
        # Outside any project, `gobox run --go 1.22 -- go version` still works, as
        # `docker run golang` does: the current directory is mounted, nothing is locked.
        if not (flags.go or flags.image or os.environ.get("GOBOX_GO")):
            raise ConfigError(f"no {CONFIG_NAME} or go.mod in {Path.cwd()} or above, and no --go",
                              hint="give a version (gobox run --go 1.22 -- go version) or run in a Go project")
        project = Project.bare(Path.cwd())
    _run_in_sandbox(app, command, flags, project, commit, tty=True)


@click.command("shell", epilog=EPILOG, short_help="An interactive shell in the build environment.")
@sandbox_options
@pass_app
def shell_cmd(app: App, flags: RunFlags) -> None:
    """An interactive shell in the build environment (needs [go].base = "host" or an image).

    \b
    Example:
      gobox shell --network host
    """
    from gobox.errors import UsageError

    project = app.project()
    if project.config.go.base == "none":
        raise UsageError('gobox shell needs a shell in the root, and [go].base = "none" has none',
                         hint='set [go].base = "host" in gobox.toml, or use `gobox run -- go ...`')
    _run_in_sandbox(app, ("/bin/sh",), flags, project, tty=True)


@click.command("build", epilog=EPILOG, short_help="Build the project's packages into dist/.",
             context_settings={"ignore_unknown_options": True})
@sandbox_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def build_cmd(app: App, args: tuple[str, ...], flags: RunFlags) -> None:
    """Build [build].packages (or PKG...) into [build].output (default dist/).

    Runs `go build -trimpath` with the configured flags, ldflags and tags in
    the sandbox; arguments after `--` go to go build. `go list` says first
    which packages are commands: those land in dist/, and every other
    package is compiled (a library, with no command, is compiled whole, as
    `go build ./...` does). Exit code is go's.

    \b
    Examples:
      gobox build
      gobox build ./cmd/server -- -race
    """
    from gobox.build import check_vendored, go_build_argv, output_dir

    packages, extra = split_dashdash(args)
    project = app.project()
    check_vendored(project)
    if flags.dry_run:
        _run_in_sandbox(app, go_build_argv(project, packages, extra), flags, project,
                        plan_note="go list runs first; with no main package the build is go build with no -o "
                        "(every package compiled), and packages no command imports are compiled too")
        return
    out = output_dir(project)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GoboxError(f"cannot create the output directory {out}: {e.strerror}") from None
    _build_in_sandbox(app, project, packages, extra, flags)


def _build_in_sandbox(app: App, project: Any, packages: tuple[str, ...], extra: tuple[str, ...],
                      flags: RunFlags) -> None:
    from gobox.build import build_packages, prepare

    options = flags.options()
    prepared = prepare(project, app.store, app.settings, options, app.progress())
    with stdout_to_stderr(flags.as_json):
        built = build_packages(project, prepared.paths, options, packages, extra)
    listing = built.listing
    if listing is not None and built.result.exit_code == 0 and not app.quiet and not flags.as_json:
        made = (f"{len(listing.commands)} command{'s' if len(listing.commands) != 1 else ''} in "
                f"{project.relative(built.output)}/" if listing.commands else "no commands")
        click.echo(f"gobox: {listing.packages} package{'s' if listing.packages != 1 else ''} compiled; {made}",
                   err=True)
    extra_json = None if listing is None else {"commands": list(listing.commands),
                                               "libraries": list(listing.libraries)}
    render_result(flags, prepared, built.spec, built.result, extra_json)


@click.command("test", epilog=EPILOG, short_help="Run go test in the sandbox.",
             context_settings={"ignore_unknown_options": True})
@sandbox_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def test_cmd(app: App, args: tuple[str, ...], flags: RunFlags) -> None:
    """Run `go test` on [build].packages (or PKG...) in the sandbox; args after `--` go to go test.

    Tests run as `go test` runs them: [build].flags and tags, [test].flags,
    and no -trimpath unless [test].flags asks for it.

    \b
    Examples:
      gobox test
      gobox test ./pkg/... -- -run TestParse -count=1
    """
    from gobox.build import check_vendored, go_test_argv

    packages, extra = split_dashdash(args)
    project = app.project()
    check_vendored(project)
    _run_in_sandbox(app, go_test_argv(project, packages, extra), flags, project)
