"""gobox image and image run: build a static binary into an OCI image, and run images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gobox.cli.cross import cross_plan, cross_plan_doc
from gobox.cli.options import (
    COMPLETE_IMAGES,
    COMPLETE_PLATFORMS,
    CPUS,
    ENV,
    EPILOG,
    MEMORY,
    MOUNT,
    NETWORKS,
    PIDS,
    SECCOMP_OPTION,
    RunFlags,
    Session,
    docker_options,
    env_pairs,
    pass_app,
    sandbox_options,
    size_bytes,
    split_platforms,
    with_options,
)
from gobox.cli.render import (
    CrossEvents,
    emit_json,
)
from gobox.commands import image as commands


@click.group("image", epilog=EPILOG, short_help="Build a static binary into an OCI image.", invoke_without_command=True)
@click.option("--platform", "platforms", multiple=True, metavar="OS/ARCH[,...]", shell_complete=COMPLETE_PLATFORMS,
              help="Platforms of the image, comma-separated or repeated (default [image].platforms, else "
              "this machine's); several make an OCI index.")
@click.option("--tag", metavar="REF", help="Name of the image (default [image].name, else "
              "localhost/<binary>:latest).")
@click.option("--output", metavar="DEST", help="Also write it: oci:DIR, oci-archive:FILE, docker-archive:FILE, "
              "or registry (push to --tag's registry). Default: the store only.")
@click.option("--binary", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE",
              help="Pack this already-built Linux binary instead of building (one platform).")
@sandbox_options
@click.pass_context
def image_cmd(ctx: click.Context, platforms: tuple[str, ...], tag: str | None, output: str | None,
              binary: Path | None, flags: RunFlags) -> None:
    """Build a static binary and pack it into a FROM scratch OCI image (no Docker).

    \b
    The build is `gobox cross` of the project for each platform with
    CGO_ENABLED=0, tags netgo and osusergo, -trimpath and -ldflags "-s -w"
    (binaries in dist/image/); the image holds the binary at /<name>,
    /etc/passwd and /etc/group for a non-root user (65532), and what [image]
    adds: CA bundle, zoneinfo, files, a base image. It is recorded in the
    store under its tag (`gobox images`), and the same commit and lock give
    the same digest in any directory.

    \b
    Examples:
      gobox image                                    # into the store, as localhost/<name>:latest
      gobox image --output oci-archive:hello.tar     # skopeo, podman and umoci read it
      gobox image --platform linux/amd64,linux/arm64 --output oci:out
      gobox image --output docker-archive:hello.tar  # docker load -i hello.tar
      gobox image --tag registry.example/hello:1.0 --output registry
      gobox image run localhost/hello               # run it in gobox's sandbox
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(Session)
    assert app is not None  # the root group made it
    project = app.project()
    options = flags.options()
    request = commands.request(split_platforms(platforms), tag, output, binary)
    if flags.dry_run:
        _image_plan(app, project, options, request, flags.as_json)
        return
    events = None if app.quiet or flags.as_json else CrossEvents()
    made = commands.make(app, project, request, options, events, flags.as_json)
    if flags.as_json:
        emit_json(_made_json(made))
        return
    click.echo(f"{made.reference.familiar} {made.top.digest}")
    if not app.quiet:
        for i in made.images:
            click.echo(f"gobox: {i.platform}: {i.digest} ({len(i.layers)} layers, {i.size / 1e6:.2f} MB)", err=True)
        click.echo(f"gobox: {made.size / 1e6:.2f} MB compressed in all", err=True)
        if made.written is not None:
            click.echo(f"gobox: wrote {made.output.kind}:{project.relative(made.written)}", err=True)
        if made.pushed is not None:
            click.echo(f"gobox: pushed {made.pushed.reference}@{made.pushed.digest}", err=True)


def _made_json(made: Any) -> dict[str, Any]:
    pushed = made.pushed
    return {
        "reference": str(made.reference), "digest": made.top.digest, "media_type": made.top.media_type,
        "size": made.size, "go": made.go_version, "output": str(made.output),
        "written": str(made.written) if made.written else None,
        "images": [i.to_json() for i in made.images],
        "pushed": None if pushed is None else {
            "reference": pushed.reference, "digest": pushed.digest, "uploaded": pushed.uploaded,
            "skipped": pushed.skipped, "mounted": pushed.mounted, "uploaded_bytes": pushed.uploaded_bytes},
    }


def _image_plan(app: Session, project: Any, options: Any, request: Any, as_json: bool = False) -> None:
    """--dry-run: the image's settings and each platform's build plan; nothing is built or written."""
    plan = commands.plan(project, request)
    if as_json:
        doc = {"dry_run": True, "image": plan.image, "platforms": list(plan.platforms), "base": plan.base,
               "user": plan.user, "output": plan.output,
               "binary": str(plan.binary) if plan.binary is not None else None, "build": None}
        if plan.build_request is not None:
            doc["build"] = cross_plan_doc(app, plan.build_project, options, plan.build_request, False, True)
        emit_json(doc)
        return
    click.echo(f"image:    {plan.image}")
    click.echo(f"platform: {', '.join(plan.platforms)}")
    click.echo(f"base:     {plan.base}")
    click.echo(f"user:     {plan.user}")
    click.echo(f"output:   {plan.output}")
    if plan.binary is not None:
        click.echo(f"binary:   {plan.binary} (not built)")
        return
    cross_plan(app, plan.build_project, options, plan.build_request, False, False)


@image_cmd.command("run", epilog=EPILOG, context_settings={"ignore_unknown_options": True})
@click.argument("reference", shell_complete=COMPLETE_IMAGES)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--network", type=click.Choice(NETWORKS), help="Network of the container (default none; -p: "
              "private, its own with outbound access, through pasta).")
@click.option("-e", "--env", "env", multiple=True, metavar="K=V", type=ENV,
              help="Set a variable, over the image's Env; a bare K takes yours.")
@click.option("-v", "--volume", "--mount", "mounts", multiple=True, metavar="SRC:DST[:ro]", type=MOUNT,
              help="Bind a host path into the container.")
@click.option("--entrypoint", metavar="CMD", help="Run CMD instead of the image's Entrypoint (and Cmd).")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=COMPLETE_PLATFORMS,
              help="Which image of a multi-platform one "
              "(default: this machine's).")
@click.option("--memory", metavar="SIZE", type=MEMORY, help='Memory limit, e.g. "512MiB".')
@click.option("--pids", metavar="N", type=PIDS, help="Most processes at once.")
@click.option("--cpus", metavar="CORES", type=CPUS, help="CPU limit in cores, e.g. 1.5.")
@click.option("--no-limits", is_flag=True, help="Run without cgroup limits where the host has none.")
@SECCOMP_OPTION
@click.option("--dry-run", is_flag=True, help="Print the sandbox plan; run nothing.")
@with_options(docker_options())
@pass_app
def image_run_cmd(app: Session, reference: str, args: tuple[str, ...], network: str | None, env: tuple[str | None, ...],
                  mounts: tuple[str, ...], entrypoint: str | None, platform: str | None, memory: str | None,
                  pids: int | None, cpus: float | None, no_limits: bool, seccomp: str | None, dry_run: bool,
                  workdir: str | None, publish: tuple[Any, ...], interactive: bool, allocate_tty: bool,
                  remove: bool) -> None:
    """Run an image on gobox's own sandbox: `docker run`, with no daemon.

    \b
    REFERENCE is an image in the store (built by gobox image or pulled), else
    pulled now; a bare name also finds localhost/NAME, as gobox image tags it.
    The command is the image's Entrypoint and Cmd (ARGS after `--` replace
    Cmd), with its Env, WorkingDir (made when missing) and User; no network
    unless --network host, or private (-p publishes a port on it).
    The exit code is the command's.

    \b
    Examples:
      gobox image run localhost/hello
      gobox image run hello -- --verbose
      gobox image run -p 8080:8080 rng          # answers on the host's port 8080
      gobox image run --network host registry.example/app:1.0
    """
    planned = commands.run_plan(app, reference, args, network=network, env=env_pairs(env), mounts=mounts,
                                entrypoint=entrypoint, platform=platform, memory=size_bytes(memory), pids=pids,
                                cpus=cpus, seccomp=seccomp, workdir=workdir, publish=publish)
    if dry_run:
        click.echo(f"image:    {planned.reference} {planned.digest}")
        click.echo(planned.spec.describe())
        return
    ran = commands.run(planned, no_limits)
    if ran.problem is not None:
        raise ran.problem  # the one handler prints it, and exits with the command's status
    if ran.result.exit_code:
        raise click.exceptions.Exit(ran.result.exit_code)
