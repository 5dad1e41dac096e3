"""The CA bundle images get ([image].ca-certificates): certifi's cacert.pem, pinned by sha256 in gobox.lock.

certifi is Mozilla's root store as a versioned, hashed file, the same on
every machine that has the same version: the bundle behind requests and pip,
already installed with gobox. The lock records its version and sha256, and
the store keeps the bytes by that sha256, so later builds use exactly the
pinned bundle even after certifi is upgraded, as a pinned Go stays pinned.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from gobox.config import Lock, LockedBundle, Project, read_lock, render_lock
from gobox.errors import GoboxError, LockError
from gobox.store import Store, write_atomic

SOURCE = "certifi"


def installed() -> tuple[str, bytes]:
    """certifi's version and bundle, as this Python has them."""
    try:
        import certifi
    except ImportError:
        raise GoboxError("[image].ca-certificates takes its bundle from the certifi package, which is not "
                         "installed", hint="pip install certifi (requests, which gobox needs, brings it)") from None
    try:
        return certifi.__version__, Path(certifi.where()).read_bytes()
    except OSError as e:
        raise GoboxError(f"cannot read certifi's CA bundle: {e.strerror}") from None


def choose(pinned: LockedBundle | None, stored: bytes | None, version: str, data: bytes, locked: bool,
           lock_name: str) -> tuple[LockedBundle, bytes]:
    """The bundle to use and the lock entry for it (pure): the pinned one while it can be had.

    `stored` is the store's copy of the pinned bundle, if it has one.
    """
    got = LockedBundle(SOURCE, version, hashlib.sha256(data).hexdigest())
    if pinned is not None:
        if stored is not None and hashlib.sha256(stored).hexdigest() == pinned.sha256:
            return pinned, stored
        if got.sha256 == pinned.sha256:
            return pinned, data
    if locked:
        why = (f"pins the CA bundle of {pinned.source} {pinned.version} (sha256 {pinned.sha256[:12]}…), which "
               f"neither the store nor the installed {SOURCE} {version} has" if pinned
               else "pins no CA bundle")
        raise LockError(f"--locked: {lock_name} {why}",
                        hint=(f"pip install {SOURCE}=={pinned.version}, or " if pinned else "")
                        + "run gobox image without --locked to pin the installed one")
    return got, data


def ensure(project: Project, store: Store, locked: bool, progress) -> bytes:  # noqa: ANN001 - Progress
    """The project's pinned bundle, pinning the installed certifi's when gobox.lock has none."""
    lock = None if project.ephemeral else read_lock(project.lock_path)
    pinned = lock.ca_certificates if lock else None
    blob = store.blob(pinned.sha256) if pinned else None
    stored = blob.read_bytes() if blob is not None and blob.is_file() else None
    version, data = installed()
    entry, bundle = choose(pinned, stored, version, data, locked, project.relative(project.lock_path))
    store.ensure()
    kept = store.blob(entry.sha256)
    if not kept.is_file():
        write_atomic(kept, bundle)
    if entry != pinned and not project.ephemeral:
        write_atomic(project.lock_path, render_lock(replace(lock or Lock(), ca_certificates=entry)).encode())
        progress.step(f"wrote {project.relative(project.lock_path)}: CA bundle of {SOURCE} {entry.version}")
    return bundle
