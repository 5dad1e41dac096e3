"""The image store and registries: pull, push, login, logout, images, rmi, gc."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gobox.cli.options import (
    COMPLETE_IMAGES,
    COMPLETE_PLATFORMS,
    EPILOG,
    Session,
    pass_app,
)
from gobox.cli.render import (
    emit_json,
    gc_summary,
    megabytes,
    table,
)
from gobox.commands import images as commands


@click.command("pull", epilog=EPILOG, short_help="Pull an image from a registry into the store.")
@click.argument("reference", shell_complete=COMPLETE_IMAGES)
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=COMPLETE_PLATFORMS,
              help="Which image of a multi-platform one "
              "(default: this machine's).")
@click.option("--json", "as_json", is_flag=True, help="Print the pulled image as JSON.")
@pass_app
def pull_cmd(app: Session, reference: str, platform: str | None, as_json: bool) -> None:
    """Pull an image from a registry into the store, verified blob by blob (no Docker daemon).

    \b
    REFERENCE is as Docker writes it: golang:1.22 is docker.io/library/golang:1.22;
    a registry with a port, a @sha256: digest, or both a tag and a digest.
    Credentials come from `gobox login`, podman's and docker's logins (see gobox login).
    Plain HTTP only for localhost and the registries in [registries].insecure of
    the user config (or GOBOX_INSECURE_REGISTRIES).

    \b
    Examples:
      gobox pull golang:1.22
      gobox pull 127.0.0.1:5000/golang:1.22 --platform linux/arm64
      gobox pull registry.example/team/builder@sha256:4f5c...
    """
    pulled = commands.pull(app, reference, platform)
    image = pulled.image
    if as_json:
        out = image.to_json()
        out.update({"fetched": pulled.fetched, "reused": pulled.reused, "fetched_bytes": pulled.fetched_bytes})
        emit_json(out)
        return
    click.echo(f"{pulled.familiar} ({image.platform}) {image.digest}")
    if not app.quiet:
        click.echo(f"gobox: {len(image.layers)} layers, {megabytes(image.size)}; fetched {pulled.fetched}, "
                   f"already had {pulled.reused}", err=True)


@click.command("push", epilog=EPILOG, short_help="Push an image from the store to a registry.")
@click.argument("source", metavar="SRC", shell_complete=COMPLETE_IMAGES)
@click.argument("destination", metavar="[DEST]", required=False)
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=COMPLETE_PLATFORMS,
              help="Push only this platform's image of SRC "
              "(default: the whole index when the store has every platform of it).")
@click.option("--json", "as_json", is_flag=True, help="Print what was pushed as JSON.")
@pass_app
def push_cmd(app: Session, source: str, destination: str | None, platform: str | None, as_json: bool) -> None:
    """Push an image from the store to a registry (no Docker daemon).

    \b
    SRC is an image in the store, as `gobox images` lists it; DEST is where
    it goes, SRC itself when left out. When the store holds every platform of
    SRC's index, the index is pushed; otherwise the one image. Blobs the
    registry already has are not sent again, and a blob in another repository
    of the same registry is mounted rather than uploaded. Credentials and
    plain HTTP as for `gobox pull`; DEST is recorded so `gobox images` lists it.

    \b
    Examples:
      gobox push 127.0.0.1:5000/hello:1
      gobox push golang:1.22 registry.example/team/golang:1.22
      gobox push registry.example/team/app:1 registry.example/team/app:stable --json
    """
    plan = commands.push_plan(app, source, destination, platform)
    if not app.quiet:
        click.echo(f"gobox: {plan.note}", err=True)
    done = commands.push(app, plan)
    pushed = done.pushed
    if as_json:
        emit_json({"reference": pushed.reference, "digest": pushed.digest, "uploaded": pushed.uploaded,
                   "skipped": pushed.skipped, "mounted": pushed.mounted, "uploaded_bytes": pushed.uploaded_bytes,
                   "source": done.source, "index": done.index, "platforms": list(done.platforms)})
        return
    click.echo(f"pushed {done.familiar} {pushed.digest} ({done.summary})")


_AUTHFILE_HELP = ("The auth file to use (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, "
                  "as podman).")


@click.command("login", epilog=EPILOG, short_help="Log in to a registry, kept where podman and skopeo read it.")
@click.argument("registry")
@click.option("-u", "--username", metavar="USER", help="The user name (asked for on a terminal when left out).")
@click.option("-p", "--password", metavar="PASSWORD", help="The password; visible to ps and kept in shell history, "
              "so prefer --password-stdin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help=_AUTHFILE_HELP)
@pass_app
def login_cmd(app: Session, registry: str, username: str | None, password: str | None, password_stdin: bool,
              authfile: Path | None) -> None:
    """Check a user name and password with REGISTRY, then keep them for gobox pull and push.

    \b
    REGISTRY is host[:port], or a namespace of one (quay.io/team) for a login
    used only below it. The registry is asked first (GET /v2/, answering its
    Basic or Bearer challenge); only a login it takes is stored, in the file
    podman login writes: $REGISTRY_AUTH_FILE, else
    $XDG_RUNTIME_DIR/containers/auth.json (mode 0600, other entries kept), which
    podman, skopeo and buildah read. gobox also reads logins from
    ~/.config/containers/auth.json and docker's config.json.

    \b
    Examples:
      gobox login registry.example
      printf '%s' "$TOKEN" | gobox login -u ci --password-stdin registry.example
      gobox login --authfile ./auth.json 127.0.0.1:5000
    """
    from gobox.errors import UsageError

    key, host = commands.login_key(registry)
    if password is not None and password_stdin:
        raise UsageError("--password and --password-stdin are two ways to give the password; use one")
    if password is not None:
        click.echo("gobox: warning: a --password is visible to other users' ps; prefer --password-stdin", err=True)
    if password_stdin:
        if not username:
            raise UsageError("--password-stdin needs --username", hint=f"gobox login -u USER --password-stdin {key}")
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")  # what docker strips
    terminal = sys.stdin.isatty()
    if not username:
        if not terminal:
            raise UsageError("no user name given, and stdin is not a terminal to ask on",
                             hint=f"gobox login -u USER --password-stdin {key}")
        username = click.prompt("Username").strip()
    if password is None:
        if not terminal:
            raise UsageError("no password given, and stdin is not a terminal to ask on",
                             hint=f"pipe it in: gobox login -u {username} --password-stdin {key}")
        password = click.prompt("Password", hide_input=True, default="", show_default=False)
    if not username or not password:
        raise UsageError("a login needs a user name and a password; one of them is empty")
    done = commands.login(app, key, host, username, password, authfile)
    click.echo("Login Succeeded!")
    if not app.quiet:
        click.echo(f"gobox: kept in {done.path}" + ("" if done.checked else f" ({host} asks for no login at all)"),
                   err=True)


@click.command("logout", epilog=EPILOG, short_help="Remove a registry login that gobox login or podman kept.")
@click.argument("registry", required=False)
@click.option("-a", "--all", "every", is_flag=True, help="Remove every login of the primary auth file, as podman.")
@click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help=_AUTHFILE_HELP)
@pass_app
def logout_cmd(app: Session, registry: str | None, every: bool, authfile: Path | None) -> None:
    """Remove the login for REGISTRY from every auth file gobox reads it from.

    \b
    Those are podman's ($REGISTRY_AUTH_FILE alone when set; else
    $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json) and
    docker's config.json; other entries stay. A registry with no login is an
    error, as for podman logout. Credential helpers are not asked to forget.

    \b
    Examples:
      gobox logout registry.example
      gobox logout --all
    """
    from gobox.errors import UsageError

    if every == bool(registry):
        raise UsageError("name one registry, or give --all", hint="gobox logout REGISTRY")
    key, changed = commands.logout(None if every else registry, authfile)
    if key is None:
        click.echo("Removed login credentials for all registries")
    else:
        click.echo(f"Removed login credentials for {key}")
    if changed and not app.quiet:
        click.echo(f"gobox: changed {', '.join(map(str, changed))}", err=True)


@click.command("images", epilog=EPILOG, short_help="List the images in the store.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def images_cmd(app: Session, as_json: bool) -> None:
    """List the images in the store.

    \b
    Example:
      gobox images
    """
    found = commands.images(app)
    if as_json:
        emit_json([i.image.to_json() for i in found])
        return
    if not found:
        click.echo("no images; try: gobox pull golang:1.22", err=True)
        return
    rows = [("REFERENCE", "PLATFORM", "DIGEST", "SIZE")]
    rows += [(i.familiar, i.image.platform, i.image.digest[:19], megabytes(i.image.size)) for i in found]
    table(rows)


@click.command("rmi", epilog=EPILOG, short_help="Remove images from the store.")
@click.argument("references", nargs=-1, required=True, shell_complete=COMPLETE_IMAGES)
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=COMPLETE_PLATFORMS,
              help="Remove only this platform's image "
              "(default: every platform pulled).")
@click.option("--no-prune", is_flag=True, help="Only forget the names; leave the content for a later gobox gc.")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@pass_app
def rmi_cmd(app: Session, references: tuple[str, ...], platform: str | None, no_prune: bool, as_json: bool) -> None:
    """Remove images from the store, then free their content that nothing else uses.

    \b
    REFERENCE is written as for gobox pull (golang:1.22 is
    docker.io/library/golang:1.22); NAME@sha256:... also matches an image
    pulled by tag whose manifest or index has that digest. Blobs and layers
    other images share stay, and so does an image a running gobox uses,
    until it exits (the next gobox gc frees it then).

    \b
    Examples:
      gobox rmi golang:1.22
      gobox rmi 127.0.0.1:5000/team/app:v1 --platform linux/arm64
      gobox rmi registry.example/team/builder@sha256:4f5c... --no-prune
    """
    removed, report = commands.rmi(app, references, platform, prune=not no_prune)
    if as_json:
        emit_json({"untagged": [i.image.to_json() for i in removed],
                   "gc": report.to_json() if report is not None else None})
        return
    for i in removed:
        click.echo(f"untagged {i.familiar} ({i.image.platform})")
    if report is not None:
        click.echo(gc_summary(report))


@click.command("gc", epilog=EPILOG, short_help="Free store content that no image refers to.")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the digests removed and the bytes freed as JSON.")
@pass_app
def gc_cmd(app: Session, dry_run: bool, as_json: bool) -> None:
    """Free the blobs and unpacked layers that no image in the store refers to.

    Safe while other gobox commands run: what a running build uses is kept
    until it exits, and a pull in progress is waited for. Also clears what
    a gobox killed midway left behind (unfinished downloads and layers, its in-use marks).
    Toolchains and the Go caches are not touched (see gobox toolchain rm).

    \b
    Examples:
      gobox gc --dry-run
      gobox gc
    """
    report = commands.gc(app, dry_run)
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(gc_summary(report))
