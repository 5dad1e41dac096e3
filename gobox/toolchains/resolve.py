"""From "what Go is wanted" to an installed Toolchain: sources in order, gobox.lock, the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from gobox.config import (
    Lock,
    LockedArtifact,
    Project,
    Settings,
    VersionChoice,
    choose_version,
    read_lock,
    render_lock,
)
from gobox.errors import LockError, NetworkError
from gobox.progress import Progress
from gobox.store import Store, write_atomic
from gobox.toolchains import versions
from gobox.toolchains.install import Toolchain, find_installed, find_match, install
from gobox.toolchains.sources import Artifact, Source, configured_sources, source_named
from gobox.toolchains.versions import GoVersion, VersionRequest


@dataclass(frozen=True)
class Resolution:
    """A toolchain ready to use, and the reasons it is the one."""

    toolchain: Toolchain
    request: VersionRequest
    choice: VersionChoice | None
    how: str  # "gobox.lock", "the store", or the source it was resolved from
    lock_written: bool = False


def find_artifact(
    request: VersionRequest, sources: Sequence[Source], platform: str, progress: Progress
) -> tuple[Artifact, Source]:
    """The newest artifact matching `request` from the first source that has one.

    An unreachable source falls through to the next with one line saying so.
    """
    unreachable: list[str] = []
    offered: list[GoVersion] = []
    for i, source in enumerate(sources):
        try:
            artifacts = source.artifacts(platform)
        except NetworkError as e:
            unreachable.append(f"{source.name}: {e.message}")
            more = "; trying " + sources[i + 1].name if i + 1 < len(sources) else ""
            progress.step(f"{source.name} unreachable ({e.message}){more}")
            continue
        matching = [a for a in artifacts if request.matches(a.version)]
        if matching:
            return max(matching, key=lambda a: a.version.sort_key()), source
        offered += [a.version for a in artifacts]
        if i + 1 < len(sources):
            progress.step(f"{source.name} has no Go {request} for {platform}; trying "
                          f"{sources[i + 1].name}")
    if offered:
        names = ", ".join(s.name for s in sources)
        versions.resolve(request, offered, names)  # raises NotFoundError listing the nearest
    raise NetworkError(
        "no toolchain source could be reached: " + "; ".join(unreachable),
        hint="check the network, or point GOBOX_GO_DEV_URL / GOBOX_PYPI_URL at a mirror",
    )


def available(
    sources: Sequence[Source], platform: str, progress: Progress
) -> tuple[Source, list[Artifact]]:
    """What the first reachable source offers."""
    problems = []
    for i, source in enumerate(sources):
        try:
            return source, source.artifacts(platform)
        except NetworkError as e:
            problems.append(f"{source.name}: {e.message}")
            if i + 1 < len(sources):
                progress.step(f"{source.name} unreachable ({e.message}); trying {sources[i + 1].name}")
    raise NetworkError("no toolchain source could be reached: " + "; ".join(problems))


def ensure_version(
    store: Store, settings: Settings, request: VersionRequest, platform: str, progress: Progress,
    prefer_installed: bool,
) -> Resolution:
    """A toolchain for an explicit request (`gobox toolchain install/which VERSION`).

    With `prefer_installed`, the newest installed match is used without asking
    any source; an exact version that is installed never needs the network.
    """
    if prefer_installed or not request.is_family:
        have = find_match(store, request, platform)
        if have is not None:
            return Resolution(have, request, None, "the store")
    artifact, source = find_artifact(request, configured_sources(settings), platform, progress)
    return Resolution(install(store, artifact, source, progress), request, None, source.name)


def ensure_project(
    project: Project, store: Store, settings: Settings, platform: str, progress: Progress,
    flag: str | None, environ: Mapping[str, str], locked: bool,
) -> Resolution:
    """The project's toolchain, following gobox.lock; the lock is (re)written when resolution
    changes it, or LockError when `locked` forbids that. Never upgrades a locked version that
    still satisfies the request."""
    choice = choose_version(project, flag, environ)
    request = VersionRequest.parse(choice.text)
    if project.ephemeral:
        r = ensure_version(store, settings, request, platform, progress, prefer_installed=True)
        return Resolution(r.toolchain, request, choice, r.how)
    lock = read_lock(project.lock_path)
    lock_name = project.relative(project.lock_path)
    if lock is not None and lock.go_version and request.matches(GoVersion.parse(lock.go_version)):
        pinned = lock.artifact_for(platform)
        if pinned is not None:
            t = find_installed(store, GoVersion.parse(lock.go_version), platform)
            if t is None or t.sha256 != pinned.sha256:
                source = source_named(pinned.source, settings)
                t = install(store, _artifact(pinned, lock.go_version, settings), source, progress)
            return Resolution(t, request, choice, lock_name)
        if locked:
            raise LockError(
                f"{lock_name} pins go {lock.go_version} but has no toolchain for {platform}",
                hint=f"run `gobox toolchain pin {lock.go_version}` on {platform} and commit the lock",
            )
        request_for_lock = VersionRequest.parse(lock.go_version)
    else:
        if locked:
            why = (f"{lock_name} pins go {lock.go_version}" if lock and lock.go_version
                   else f"{lock_name} does not exist" if lock is None else f"{lock_name} pins no Go")
            raise LockError(
                f"--locked: {why}, but {choice.origin} asks for {choice.text}",
                hint="run gobox without --locked (or `gobox toolchain pin`) to update the lock",
            )
        request_for_lock = request
    toolchain, how = _resolve_and_install(store, settings, request_for_lock, platform, progress)
    keep = lock.artifacts if lock and lock.go_version == str(toolchain.version) else ()
    # replace, not Lock(...): whatever else the lock pins (images, bundles, vendored deps) stays.
    new_lock = replace(lock or Lock(), go_version=str(toolchain.version),
                       artifacts=tuple(a for a in keep if a.platform != platform) + (_from_toolchain(toolchain),))
    write_atomic(project.lock_path, render_lock(new_lock).encode())
    progress.step(f"wrote {lock_name}: go {toolchain.version} ({toolchain.source})")
    return Resolution(toolchain, request, choice, how, lock_written=True)


def _resolve_and_install(
    store: Store, settings: Settings, request: VersionRequest, platform: str, progress: Progress
) -> tuple[Toolchain, str]:
    """The toolchain a lock should record for `request`, and how it was found.

    An exact version already in the store needs no source: its toolchain.json
    holds everything the lock records. A family ("1.22") asks the sources for
    the newest patch, and only when none can be reached settles for the
    newest installed one, saying so.
    """
    if not request.is_family:
        have = find_match(store, request, platform)
        if have is not None:
            return have, "the store"
    try:
        artifact, source = find_artifact(request, configured_sources(settings), platform, progress)
    except NetworkError:
        have = find_match(store, request, platform)
        if have is None:
            raise
        progress.step(f"no toolchain source reachable; using the installed go {have.version}")
        return have, "the store (sources unreachable)"
    return install(store, artifact, source, progress), source.name


def pin(
    project: Project, store: Store, settings: Settings, platform: str, progress: Progress,
    text: str,
) -> Resolution:
    """Resolve `text`, install it and write it to gobox.lock, whatever the lock said before."""
    request = VersionRequest.parse(text)
    toolchain, how = _resolve_and_install(store, settings, request, platform, progress)
    old = read_lock(project.lock_path)
    new_lock = replace(old or Lock(), go_version=str(toolchain.version), artifacts=(_from_toolchain(toolchain),))
    write_atomic(project.lock_path, render_lock(new_lock).encode())
    return Resolution(toolchain, request, None, how, lock_written=True)


def _from_toolchain(t: Toolchain) -> LockedArtifact:
    return LockedArtifact(t.platform, t.source, t.filename, t.url, t.sha256, t.size)


def _artifact(pinned: LockedArtifact, version: str, settings: Settings) -> Artifact:
    # go.dev archives are fetched from the configured base, so a committed lock
    # keeps working behind a mirror; PyPI file URLs are not derivable, so kept.
    url = settings.go_dev_url + pinned.filename if pinned.source == "go.dev" else pinned.url
    v = GoVersion.parse(version)
    return Artifact(v, not v.is_prerelease, pinned.source, pinned.platform, pinned.filename, url,
                    pinned.sha256, pinned.size)
