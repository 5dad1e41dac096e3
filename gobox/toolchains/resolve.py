"""From "what Go is wanted" to an installed Toolchain: sources in order, gobox.lock, the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from gobox.config import Project, VersionChoice, choose_version
from gobox.errors import LockError, NetworkError
from gobox.lock import LockedArtifact, LockPin, read_lock
from gobox.names import versions
from gobox.names.versions import GoVersion, VersionRequest
from gobox.progress import Progress
from gobox.settings import Settings
from gobox.store import Store
from gobox.toolchains.install import Toolchain, entry_name, find_installed, find_match, install
from gobox.values import dataclass

if TYPE_CHECKING:
    # The sources' module (indexes, archives, their JSON shapes) is imported only when a source is asked:
    # a locked, installed toolchain (every `gobox run` after the first) needs none.
    from gobox.toolchains.sources import Artifact, Source


@dataclass(frozen=True)
class Resolution:
    """A toolchain ready to use, and the reasons it is the one.

    In a dry run `toolchain` may not be installed yet: it names where it would be, and `pending` is the
    artifact that would be downloaded for it; `lock_pending` says gobox.lock would be written."""

    toolchain: Toolchain
    request: VersionRequest
    choice: VersionChoice | None
    how: str  # "gobox.lock", "the store", or the source it was resolved from
    pin: LockPin | None = None  # what gobox.lock should now say, for the command to record
    reason: str = ""  # for a minimum (go.mod's go line): one line on why this version, for `which -v`
    pending: Artifact | None = None
    lock_pending: bool = False


@dataclass(frozen=True)
class _Pick:
    """What satisfies a request: an installed toolchain, or an artifact of a source to install."""

    toolchain: Toolchain | None
    artifact: Artifact | None
    source: Source | None
    how: str


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


def _pick(store: Store, settings: Settings, request: VersionRequest, platform: str, progress: Progress,
          prefer_installed: bool, fallback: bool) -> _Pick:
    """The toolchain `request` means. An exact version or a minimum is looked for in the store first (an
    installed Go at or above a minimum needs no network), as is any request with `prefer_installed`; a family
    asks the sources for its newest patch, and with `fallback` settles for the newest installed one when no
    source can be reached, saying so."""
    if prefer_installed or not request.is_family:
        have = find_match(store, request, platform)
        if have is not None:
            return _Pick(have, None, None, "the store")
    from gobox.toolchains.sources import configured_sources

    try:
        artifact, source = find_artifact(request, configured_sources(settings), platform, progress)
    except NetworkError:
        have = find_match(store, request, platform) if fallback else None
        if have is None:
            raise
        progress.step(f"no toolchain source reachable; using the installed go {have.version}")
        return _Pick(have, None, None, "the store (sources unreachable)")
    return _Pick(None, artifact, source, source.name)


def _realize(store: Store, pick: _Pick, progress: Progress, dry_run: bool) -> tuple[Toolchain, Artifact | None]:
    """The picked toolchain, installed; in a dry run, where it would be installed and what would be fetched."""
    if pick.toolchain is not None:
        return pick.toolchain, None
    assert pick.artifact is not None and pick.source is not None  # a pick is a toolchain or an artifact to install
    if dry_run:
        return planned(store, pick.artifact), pick.artifact
    return install(store, pick.artifact, pick.source, progress), None


def planned(store: Store, a: Artifact) -> Toolchain:
    """The toolchain `a` would install, at the path it would have in the store; nothing is written."""
    return Toolchain(a.version, a.platform, store.toolchains / entry_name(a.version, a.platform), a.source,
                     a.filename, a.url, a.sha256, a.size)


def ensure_version(
    store: Store, settings: Settings, request: VersionRequest, platform: str, progress: Progress,
    prefer_installed: bool, dry_run: bool = False,
) -> Resolution:
    """A toolchain for an explicit request (`gobox toolchain install/which VERSION`).

    With `prefer_installed`, the newest installed match is used without asking
    any source; an exact version that is installed never needs the network.
    """
    pick = _pick(store, settings, request, platform, progress, prefer_installed, fallback=False)
    toolchain, pending = _realize(store, pick, progress, dry_run)
    return Resolution(toolchain, request, None, pick.how, pending=pending)


def ensure_project(
    project: Project, store: Store, settings: Settings, platform: str, progress: Progress,
    flag: str | None, environ: Mapping[str, str], locked: bool, dry_run: bool = False,
) -> Resolution:
    """The project's toolchain, following gobox.lock; the resolution's pin says what the lock should
    now say when resolution changes it, or LockError when `locked` forbids that. Never upgrades a locked version that
    still satisfies the request. A dry run installs and writes nothing, and says what it would."""
    choice = choose_version(project, flag, environ)
    request = VersionRequest.parse(choice.text, minimum=choice.minimum)
    if project.ephemeral:
        r = ensure_version(store, settings, request, platform, progress, prefer_installed=True, dry_run=dry_run)
        return replace(r, choice=choice)
    lock = read_lock(project.lock_path)
    lock_name = project.relative(project.lock_path)
    said = f"go.mod says go {choice.text} (a minimum)"
    if lock is not None and lock.go_version and request.matches(GoVersion.parse(lock.go_version)):
        pinned = lock.artifact_for(platform)
        if pinned is not None:
            t = find_installed(store, GoVersion.parse(lock.go_version), platform)
            pending = None
            if t is None or t.sha256 != pinned.sha256:
                from gobox.toolchains.sources import source_named

                artifact = _artifact(pinned, lock.go_version, settings)
                source = source_named(pinned.source, settings)
                t, pending = _realize(store, _Pick(None, artifact, source, source.name), progress, dry_run)
            reason = f"{said}; {lock_name} pins go{lock.go_version}, which meets it" if request.minimum else ""
            return Resolution(t, request, choice, lock_name, reason=reason, pending=pending)
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
                f"--locked: {why}, but {choice.origin} asks for {choice.text}"
                + (" or newer" if request.minimum else ""),
                hint="run gobox without --locked (or `gobox toolchain pin`) to update the lock",
            )
        request_for_lock = request
    pick = _pick(store, settings, request_for_lock, platform, progress, prefer_installed=False, fallback=True)
    toolchain, pending = _realize(store, pick, progress, dry_run)
    reason = ""
    if request.minimum and request_for_lock is request:
        reason = (f"{said}; newest stable installed at or above it: {toolchain.version.tag}" if pick.toolchain
                  else f"{said}; none installed at or above it; newest stable from {pick.how}: "
                  f"{toolchain.version.tag}")
    if dry_run:
        return Resolution(toolchain, request, choice, pick.how, reason=reason, pending=pending, lock_pending=True)

    pin = LockPin(f"go {toolchain.version} ({toolchain.source})", str(toolchain.version), _from_toolchain(toolchain))
    return Resolution(toolchain, request, choice, pick.how, pin=pin, reason=reason)


def _resolve_and_install(
    store: Store, settings: Settings, request: VersionRequest, platform: str, progress: Progress
) -> tuple[Toolchain, str]:
    """The toolchain a lock should record for `request`, installed, and how it was found."""
    pick = _pick(store, settings, request, platform, progress, prefer_installed=False, fallback=True)
    return _realize(store, pick, progress, dry_run=False)[0], pick.how


def pin(
    project: Project, store: Store, settings: Settings, platform: str, progress: Progress,
    text: str,
) -> Resolution:
    """Resolve `text` and install it; the pin replaces whatever gobox.lock said of Go before."""
    request = VersionRequest.parse(text)
    toolchain, how = _resolve_and_install(store, settings, request, platform, progress)
    pin = LockPin(f"go {toolchain.version} ({toolchain.source})", str(toolchain.version), _from_toolchain(toolchain),
                  only_artifact=True)
    return Resolution(toolchain, request, None, how, pin=pin)


def _from_toolchain(t: Toolchain) -> LockedArtifact:
    assert t.size is not None  # installed: the download's size is recorded
    return LockedArtifact(t.platform, t.source, t.filename, t.url, t.sha256, t.size)


def _artifact(pinned: LockedArtifact, version: str, settings: Settings) -> Artifact:
    # go.dev archives are fetched from the configured base, so a committed lock
    # keeps working behind a mirror; PyPI file URLs are not derivable, so kept.
    from gobox.toolchains.sources import Artifact

    url = settings.go_dev_url + pinned.filename if pinned.source == "go.dev" else pinned.url
    v = GoVersion.parse(version)
    return Artifact(v, not v.is_prerelease, pinned.source, pinned.platform, pinned.filename, url,
                    pinned.sha256, pinned.size)
