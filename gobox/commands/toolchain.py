"""gobox toolchain: Go toolchains (go.dev, PyPI, OCI images) installed, listed, removed, resolved and pinned."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gobox.commands.session import Session
from gobox.errors import GoboxError
from gobox.values import dataclass


@dataclass(frozen=True)
class ImageInstalled:
    """An image toolchain pulled and unpacked."""

    familiar: str  # its reference, short
    platform: str
    digest: str
    go: str | None  # the Go it holds ("go1.22.10"), None when gobox sees none
    image: Any  # its gobox.oci records Image (for the size), or None


@dataclass(frozen=True)
class Installed:
    """What toolchain install did: go.dev or PyPI toolchains, or one image toolchain."""

    toolchains: tuple[Any, ...] = ()  # gobox.toolchains.install.Toolchain
    image: ImageInstalled | None = None


@dataclass(frozen=True)
class Pulled:
    """An image in the store that holds a Go, as toolchain list shows it."""

    familiar: str
    go: str
    image: Any  # gobox.oci records Image
    unpacked: bool


@dataclass(frozen=True)
class Available:
    source: str  # the name of the source that answered
    platform: str
    artifacts: tuple[Any, ...]  # newest first
    installed: frozenset[Any]  # versions installed for `platform`


@dataclass(frozen=True)
class Which:
    """The Go that toolchain which names: a toolchain found in the store (`resolution` None), or resolved."""

    toolchain: Any
    resolution: Any = None  # gobox.toolchains.resolve's result: request, how, choice, reason
    mod_vendor: str | None = None  # why the project's builds take vendor/


@dataclass(frozen=True)
class Pinned:
    version: str
    config: Path
    lock: Path


def install(session: Session, versions: tuple[str, ...], image: str | None, platform: str | None,
            locked: bool) -> Installed:
    """Install Go `versions`, or the image toolchain `image`, or (neither given) the project's Go or [go].image."""
    from gobox.errors import UsageError
    from gobox.names.platform import host_platform
    from gobox.names.versions import VersionRequest
    from gobox.toolchains.resolve import ensure_project, ensure_version

    if image is not None and versions:
        raise UsageError("give Go VERSIONs or --image, not both")
    wrong_platform = UsageError("--platform goes with image toolchains (--image, or [go].image)",
                                hint="go.dev and PyPI toolchains are installed for this machine")
    if platform is not None and versions:
        raise wrong_platform
    if image is not None:
        return Installed(image=install_image(session, image.strip(), platform, locked))
    progress = session.progress()
    if versions:
        requests = [VersionRequest.parse(v) for v in versions]  # all checked before any download
        done = [ensure_version(session.store, session.settings, r, host_platform(), progress,
                               prefer_installed=False) for r in requests]
    else:
        project = session.project()
        if project.config.go.image:
            # What gobox build would use: [go].image wins over any Go version, as in prepare().
            return Installed(image=install_image(session, project.config.go.image, platform, locked, project))
        if platform is not None:
            raise wrong_platform
        done = [ensure_project(project, session.store, session.settings, host_platform(), progress,
                               None, os.environ, locked)]
        session.record(project, (done[0].pin,))
    return Installed(toolchains=tuple(r.toolchain for r in done))


def install_image(session: Session, text: str, platform: str | None, locked: bool,
                  project: Any = None) -> ImageInstalled:
    """Pull and unpack an image toolchain: `project` given, its [go].image; else --image REF, pinned in
    gobox.lock when it is the [go].image of the project around."""
    from gobox.config import Project, find_root
    from gobox.errors import UsageError
    from gobox.names.platform import Platform, host_platform
    from gobox.oci.layer import Limits
    from gobox.oci.registry import Options
    from gobox.toolchains.image import ensure_image, find_image, go_version_of, parse_image_reference

    progress = session.progress()
    platform = str(Platform.parse(platform)) if platform else host_platform()
    where = "gobox.toml: go.image" if project is not None else "--image"
    ref = parse_image_reference(text, where)
    if project is None:
        around = session.project() if find_root(Path.cwd()) is not None else None
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
    t, pin = ensure_image(project, session.store, Options.from_settings(session.settings), text, where, platform,
                          progress, locked, Limits.from_settings(session.settings))
    session.record(project, (pin,))
    image = find_image(session.store, ref, t.platform, t.digest)  # the record, for its size
    return ImageInstalled(ref.familiar, t.platform, t.digest, go_version_of(t.config, t.layers), image)


def installed(session: Session) -> tuple[Any, ...]:
    """The go.dev and PyPI toolchains in the store."""
    from gobox.toolchains.install import installed as installed_toolchains

    return tuple(installed_toolchains(session.store))


def pulled(session: Session) -> tuple[Pulled, ...]:
    """The images in the store that hold a Go."""
    from gobox.names.reference import Reference
    from gobox.toolchains.image import pulled_toolchains

    return tuple(Pulled(Reference.parse(p.image.reference).familiar, p.go_version, p.image, p.unpacked)
                 for p in pulled_toolchains(session.store))


def available(session: Session, show_all: bool) -> Available:
    """What the first reachable source offers for this machine (prereleases with `show_all`)."""
    from gobox.names.platform import host_platform
    from gobox.toolchains.resolve import available as list_available
    from gobox.toolchains.sources import configured_sources

    have = installed(session)
    platform = host_platform()
    source, artifacts = list_available(configured_sources(session.settings), platform, session.progress())
    shown = sorted((a for a in artifacts if show_all or a.stable), key=lambda a: a.version.sort_key(), reverse=True)
    return Available(source.name, platform, tuple(shown),
                     frozenset(t.version for t in have if t.platform == platform))


def remove(session: Session, version: str) -> tuple[Any, ...]:
    """Remove the toolchains of exactly `version`; NotFoundError when none is installed."""
    from gobox.errors import NotFoundError
    from gobox.names.versions import GoVersion
    from gobox.toolchains.install import remove as remove_toolchains

    parsed = GoVersion.parse(version)
    removed = remove_toolchains(session.store, parsed)
    if not removed:
        have = ", ".join(str(t.version) for t in installed(session)) or "none"
        raise NotFoundError(f"go {parsed} is not installed (installed: {have})")
    return tuple(removed)


def which(session: Session, version: str | None, locked: bool, reasons: bool) -> Which:
    """The Go of `version`, or of the project; installed when missing. Without `reasons`, a `version`
    found in the store is all that is read: no config, no sources."""
    from gobox.names.platform import host_platform
    from gobox.names.versions import VersionRequest

    platform = host_platform()
    if version and not reasons:
        # The common case, `$(gobox toolchain which 1.21.13)/bin/go`, reads only the store:
        # no config, no sources, so it starts as fast as click allows.
        from gobox.toolchains.install import find_match

        have = find_match(session.store, VersionRequest.parse(version), platform)
        if have is not None:
            return Which(have)
    from gobox.toolchains.resolve import ensure_project, ensure_version

    progress = session.progress()
    if version:
        r = ensure_version(session.store, session.settings, VersionRequest.parse(version), platform,
                           progress, prefer_installed=True)
        return Which(r.toolchain, r)
    project = session.project()
    if project.config.go.image:
        from gobox.errors import UsageError

        # An image's Go lives in its stacked layers, not in one host directory a GOROOT could name.
        raise UsageError(f"this project builds in the image {project.config.go.image}: its Go has no "
                         "GOROOT on the host", hint="gobox toolchain list shows the image's Go; "
                         "gobox run -- go env GOROOT shows it inside")
    r = ensure_project(project, session.store, session.settings, platform, progress, None, os.environ, locked)
    session.record(project, (r.pin,))
    from gobox.build import mod_vendor

    return Which(r.toolchain, r, mod_vendor(project))


def pin(session: Session, version: str) -> Pinned:
    """Set [go].version in gobox.toml (everything else kept as written) and pin its build in gobox.lock."""
    from gobox.config import CONFIG_NAME, load_project, parse_config, set_go_version
    from gobox.names.platform import host_platform
    from gobox.names.versions import VersionRequest
    from gobox.store import write_atomic
    from gobox.toolchains.resolve import pin as pin_lock

    VersionRequest.parse(version)
    project = session.project()
    path = project.config_path or project.root / CONFIG_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new_text = set_go_version(text, version, str(path))
    if parse_config(new_text, str(path)).go.version != version:
        raise GoboxError(f"{path}: could not set [go].version; set it by hand to {version!r}")
    r = pin_lock(project, session.store, session.settings, host_platform(), session.progress(), version)
    from gobox.lock import record

    record(project.lock_path, (r.pin,) if r.pin else ())  # the command reports both files itself
    write_atomic(path, new_text.encode("utf-8"))
    load_project(project.root)  # proves the file still reads back
    return Pinned(str(r.toolchain.version), project.relative(path), project.relative(project.lock_path))
