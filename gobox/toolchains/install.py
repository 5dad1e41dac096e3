"""Installed toolchains in the store: install (download, verify, unpack, rename), list, remove."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.errors import GoboxError, IntegrityError
from gobox.names.versions import GoVersion, VersionRequest
from gobox.store import Store, remove_tree, replace_dir
from gobox.values import dataclass

if TYPE_CHECKING:  # sources pulls in archive code that `which` does not need
    from gobox.progress import Progress
    from gobox.toolchains.sources import Artifact, Source

METADATA = "toolchain.json"
GOROOT_IN_LAYER = "usr/local/go"


@dataclass(frozen=True)
class Toolchain:
    """An installed Go: a layer directory holding usr/local/go, and where it came from."""

    version: GoVersion
    platform: str
    path: Path
    source: str
    filename: str
    url: str
    sha256: str
    size: int | None  # None only in a dry run's plan, from an index that gives no size

    @property
    def layer(self) -> Path:
        return self.path / "layer"

    @property
    def goroot(self) -> Path:
        return self.layer / GOROOT_IN_LAYER

    @property
    def go(self) -> Path:
        return self.goroot / "bin" / "go"

    @property
    def label(self) -> str:
        return str(self.version)

    @property
    def lower_layers(self) -> tuple[str, ...]:
        return (str(self.layer),)


def entry_name(version: GoVersion, platform: str) -> str:
    return f"{version.tag}.{platform.replace('/', '-')}"


def _read_entry(path: Path) -> Toolchain | None:
    try:
        meta = json.loads((path / METADATA).read_text())
        return Toolchain(GoVersion.parse(meta["version"]), meta["platform"], path,
                         meta["source"], meta["filename"], meta["url"], meta["sha256"],
                         int(meta["size"]))
    except (OSError, ValueError, KeyError, GoboxError):
        return None  # not a finished entry: installs write metadata before the rename


def installed(store: Store, platform: str | None = None) -> list[Toolchain]:
    """Every complete toolchain in the store, newest first."""
    if not store.toolchains.is_dir():
        return []
    found = [t for p in store.toolchains.iterdir() if (t := _read_entry(p)) is not None]
    if platform:
        found = [t for t in found if t.platform == platform]
    return sorted(found, key=lambda t: (t.version.sort_key(), t.platform), reverse=True)


def find_installed(store: Store, version: GoVersion, platform: str) -> Toolchain | None:
    return _read_entry(store.toolchains / entry_name(version, platform))


def find_match(store: Store, request: VersionRequest, platform: str) -> Toolchain | None:
    """The newest installed toolchain that satisfies `request`, with no network."""
    if request.is_exact:
        return find_installed(store, request.version, platform)
    return next((t for t in installed(store, platform) if request.matches(t.version)), None)


def install(store: Store, artifact: Artifact, source: Source, progress: Progress) -> Toolchain:
    """Install `artifact` unless the same bytes are already installed; safe to run concurrently.

    The archive is downloaded to tmp/, verified, unpacked next to it and the
    finished entry renamed into toolchains/. A crash at any point leaves only
    tmp/ debris, which the next install of the same entry clears.
    """
    try:
        return _install(store, artifact, source, progress)
    except OSError as e:
        raise GoboxError(
            f"cannot install go {artifact.version} into the store {store.root}: "
            f"{e.strerror or e}",
            hint="free some space, or set GOBOX_HOME to a writable directory with room",
        ) from e


def _install(store: Store, artifact: Artifact, source: Source, progress: Progress) -> Toolchain:
    from gobox.fetch import download
    from gobox.toolchains.sources import check_archive_name

    # The name comes from an index or a lock: it names a file in the store only once it is a plain one.
    check_archive_name(artifact.source, artifact.filename)
    name = entry_name(artifact.version, artifact.platform)
    with store.locked(name):
        current = find_installed(store, artifact.version, artifact.platform)
        if current is not None and current.sha256 == artifact.sha256:
            return current
        with store.workdir(name) as work:
            archive = work / artifact.filename
            size = download(artifact.url, archive, artifact.sha256, artifact.size, _timeout(source),
                            progress, f"{artifact.version.tag} {artifact.platform} from {artifact.source}")
            progress.step(f"verified {artifact.filename} (sha256 {artifact.sha256[:12]}…)")
            entry = work / "entry"
            (entry / "layer").mkdir(parents=True)
            source.unpack(archive, entry / "layer", progress)
            os.unlink(archive)
            goroot = entry / "layer" / GOROOT_IN_LAYER
            if not (goroot / "bin" / "go").is_file():
                raise IntegrityError(f"{artifact.filename} holds no go/bin/go; it is not a Go toolchain")
            meta = {
                "version": str(artifact.version), "platform": artifact.platform,
                "source": artifact.source, "filename": artifact.filename, "url": artifact.url,
                "sha256": artifact.sha256, "size": size,
            }
            (entry / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
            _sync_tree(entry)
            replace_dir(entry, store.toolchains / name, store.tmp)
        progress.step(f"installed {artifact.version.tag} ({artifact.platform})")
        found = find_installed(store, artifact.version, artifact.platform)
        assert found is not None
        return found


def _timeout(source: Source) -> float:
    return float(getattr(source, "timeout", 30.0))


def _sync_tree(path: Path) -> None:
    """Flush the unpacked tree before the rename that publishes it, so a power
    loss cannot leave a published entry with empty files. syncfs limits the
    flush to the store's own filesystem."""
    import ctypes

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def remove(store: Store, version: GoVersion, platform: str | None = None) -> list[Toolchain]:
    """Remove every installed toolchain of exactly `version` (all platforms unless one is given)."""
    removed = []
    for t in installed(store, platform):
        if t.version != version:
            continue
        name = t.path.name
        with store.locked(name):
            # Renamed out of toolchains/ first, so nobody sees a half-deleted entry.
            graveyard = store.tmp / f"{name}.removing"
            remove_tree(graveyard)
            os.rename(t.path, graveyard)
            remove_tree(graveyard)
        removed.append(t)
    return removed
