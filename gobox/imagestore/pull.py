"""Pull an image into the store: resolve the reference, pick the platform, fetch blobs once, record the image.

Every blob is verified before it is renamed into blobs/sha256/<hex>, so what
the store holds is always whole; a pull that dies midway keeps the blobs it
finished, and the next pull fetches only the rest. An image record, written
last and atomically, names the manifest, config and layers by digest.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from gobox.errors import GoboxError, IntegrityError, NotFoundError
from gobox.fetch import too_large
from gobox.imagestore.records import Image, read_record, record_path, record_paths
from gobox.names.platform import Platform
from gobox.names.reference import Reference
from gobox.oci.manifest import (
    ACCEPT,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    ManifestError,
    check_diff_ids,
    parse_config,
    parse_document,
    select,
    sha256_digest,
)
from gobox.store import Store, write_atomic
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.oci.reach import Options
    from gobox.oci.registry import Client
    from gobox.progress import Progress

PARALLEL = 3  # blobs fetched at once: enough to fill a link, few enough to be polite to a registry


@dataclass(frozen=True)
class Pulled:
    image: Image
    manifest: Manifest
    config: ImageConfig
    fetched: int  # blobs downloaded this time
    reused: int  # blobs the store already had
    fetched_bytes: int


def pull(ref: Reference, store: Store, options: Options, want: Platform, progress: Progress) -> Pulled:
    """Pull `ref` for the platform `want`; blobs the store has are not fetched again.

    Safe to run in several processes at once: each blob is fetched by one of them, under its lock.
    """
    try:
        return _pull(ref, store, options, want, progress)
    except OSError as e:
        if e.errno is None:  # not the store's: requests' own exceptions are OSErrors too
            raise
        # Disk full, read-only store: nothing half-made is left (a blob is renamed in only once whole).
        raise GoboxError(f"cannot pull {ref.familiar} into the store {store.root}: {e.strerror or e}",
                         hint="free some space, or set GOBOX_HOME to a writable directory with room") from None


class _Remote:
    """The registry, reached only when the store lacks something: the full client (and requests) is made then."""

    def __init__(self, ref: Reference, options: Options) -> None:
        self.ref = ref
        self.options = options
        self._client: Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                from gobox.oci.registry import Client

                self._client = Client(self.ref.registry, self.options, api_host=self.ref.api_host)
            return self._client

    def head(self, reference: str) -> tuple[str, str] | None:
        """(digest, Content-Type) of a tag by one light HEAD, or None: then the full client is asked."""
        from gobox.oci import reach

        host = self.ref.api_host
        return reach.manifest_digest(host, "http" if reach.is_loopback(host) else "https", self.ref.repository,
                                     reference, ACCEPT, self.options.environ, self.options.timeout)


def _recorded(store: Store, ref: Reference) -> bool:
    """Whether the store has a record of `ref` for some platform: then a repeated pull is likely."""
    return bool(record_paths(store, ref))


def _stored_document(store: Store, digest: str, media_type: str | None,
                     limit: int) -> tuple[bytes, Manifest | Index] | None:
    """The manifest or index `digest` from the store, re-hashed (it is small); None when it is not there,
    or what the store holds under that name is no manifest (a registry may name a layer's digest)."""
    if not digest.startswith("sha256:"):
        return None
    try:
        with store.blob_for(digest).open("rb") as f:
            data = f.read(limit + 1)  # a layer named as a manifest is not read whole
    except OSError:
        return None
    if len(data) > limit or sha256_digest(data) != digest:
        return None  # too large to be one, or damaged: the registry's copy is fetched and checked instead
    try:
        return data, parse_document(data, media_type or None, digest)
    except (ManifestError, ValueError, RecursionError):
        return None


def _pull(ref: Reference, store: Store, options: Options, want: Platform, progress: Progress) -> Pulled:
    store.ensure()
    remote = _Remote(ref, options)
    top_ref = ref.digest or ref.tag or "latest"
    # What the reference names now: a digest names itself; a tag takes one HEAD, answered from the store
    # when it names a manifest the store holds. Anything else goes through the full client.
    found = None
    if ref.digest:
        found = _stored_document(store, ref.digest, None, options.max_metadata)
    elif _recorded(store, ref):  # a first pull of a tag would only pay for the HEAD before its GET
        said = remote.head(top_ref)
        if said is not None:
            found = _stored_document(store, said[0], said[1], options.max_metadata)
    if found is None:
        top = remote.client.manifest(ref.repository, top_ref)
        found = top.data, _document(top.data, top.media_type, ref.digest, top.digest, ref)
    data, doc = found
    index_digest = None
    if isinstance(doc, Index):
        index_digest = ref.digest or sha256_digest(data)
        _keep(store, data)
        chosen = select(doc, want, name=ref.familiar)
        _small_enough(chosen, "manifest", ref, options)
        found = _stored_document(store, chosen.digest, chosen.media_type, options.max_metadata)
        if found is None:
            fetched = remote.client.manifest(ref.repository, chosen.digest, accept=chosen.media_type)
            found = fetched.data, _document(fetched.data, fetched.media_type, chosen.digest, fetched.digest, ref)
        data, doc = found
        if not isinstance(doc, Manifest):
            raise ManifestError(f"{ref.familiar}: the index entry for {want} is itself an index")
    manifest = doc
    manifest.check_layers()
    digest = sha256_digest(data)
    _keep(store, data)

    config_blob = store.blob_for(manifest.config.digest)
    missing = [d for d in manifest.layers if not store.blob_for(d.digest).exists()]
    need_config = not config_blob.exists()
    if need_config:
        _small_enough(manifest.config, "config", ref, options)  # before a byte of it is fetched

    def checked() -> ImageConfig:
        """The config, parsed and checked against the manifest and the platform asked for."""
        config = parse_config(config_blob.read_bytes(), manifest.config.digest)
        check_diff_ids(manifest, config)
        got = Platform(config.os, config.architecture, config.variant)
        if index_digest is None and config.os and not got.matches(want):
            raise NotFoundError(f"{ref.familiar} is an image for {got}, not {want}",
                                hint=f"pull it with --platform {got}, or name an image for {want}")
        return config

    # Another gobox pulling the same image may fetch some of them first: those count as reused.
    if missing or need_config:
        # The config comes with the layers, not before them; it is checked as soon as it is there.
        config, downloaded = _fetch_all(remote, ref, store, manifest.config if need_config else None, missing,
                                        checked, progress)
    else:
        config, downloaded = checked(), []
    got = Platform(config.os, config.architecture, config.variant)
    image = Image(str(ref), digest, index_digest, str(got if config.os else want), manifest.config.digest,
                  tuple(d.digest for d in manifest.layers),
                  manifest.config.size + sum(d.size for d in manifest.layers))
    record = record_path(store, ref, image.platform)
    data = json.dumps(image.to_json(), indent=2).encode()
    if read_record(record) != image:  # a pull that changed nothing writes (and fsyncs) nothing
        write_atomic(record, data)
    return Pulled(image, manifest, config, len(downloaded), len(manifest.layers) - len(downloaded),
                  sum(d.size for d in downloaded))


def _document(data: bytes, media_type: str, digest: str | None, claimed: str, ref: Reference) -> Manifest | Index:
    """Parse a manifest or index, checked against the digest asked for and the one the registry claims."""
    doc = parse_document(data, media_type, digest)
    if claimed and claimed.startswith("sha256:") and claimed != sha256_digest(data):
        raise IntegrityError(f"{ref.familiar}: the manifest's bytes hash to {sha256_digest(data)}, "
                             f"not the {claimed} the registry says", hint="the registry or a proxy is "
                             "serving other bytes; nothing was kept")
    return doc


def _keep(store: Store, data: bytes) -> None:
    """A manifest or index into the blob store (already verified by its caller)."""
    path = store.blob_for(sha256_digest(data))
    if not path.exists():
        write_atomic(path, data)


def _small_enough(d: Descriptor, kind: str, ref: Reference, options: Options) -> None:
    """A manifest or config is read whole to be parsed: one larger than the limit is refused before it is fetched."""
    if d.size > options.max_metadata:
        raise too_large(f"{ref.familiar}: the {kind} {d.digest}", d.size, options.max_metadata)


class _Stopped(Exception):
    """A download given up because another part of the pull failed first."""


def _fetch(client: Client, ref: Reference, store: Store, d: Descriptor,
           on_bytes: Callable[[int], None] | None) -> bool:
    """The blob `d` into the store, unless it is there; whether it was downloaded by this call.

    Streamed into tmp/ while its size and sha256 are checked, then fsynced and renamed into
    blobs/: no second pass over it, no copy. Under the blob's lock, with presence checked again
    once it is held: when several gobox processes pull at once, one downloads and the others
    find the blob there.
    """
    final = store.blob_for(d.digest)
    if final.exists():
        return False
    with store.locked(f"blob-{final.name[:20]}"):
        if final.exists():
            return False
        for stale in store.tmp.glob(f"{final.name}.*.part"):
            stale.unlink(missing_ok=True)  # a pull killed midway: nobody else writes this blob while we hold its lock
        part = store.tmp / f"{final.name}.{os.getpid()}.{threading.get_ident()}.part"
        try:
            client.download_blob(ref.repository, d.digest, d.size, part, on_bytes)
            fd = os.open(part, os.O_RDONLY)
            try:
                os.fsync(fd)  # the bytes are on disk before the name says they are there
            finally:
                os.close(fd)
            os.replace(part, final)
        finally:
            if part.exists():
                part.unlink()
    return True


def _fetch_all(remote: _Remote, ref: Reference, store: Store, config: Descriptor | None, blobs: list[Descriptor],
               checked: Callable[[], ImageConfig], progress: Progress) -> tuple[ImageConfig, list[Descriptor]]:
    """The config (when `config` is given) and `blobs` fetched together, PARALLEL at once; the config as
    `checked` reads it, and the blobs this process downloaded (others may have come meanwhile).

    The config is checked as soon as it is stored: a config that does not fit stops the layer downloads.
    """

    client = remote.client
    lock = threading.Lock()
    stop = threading.Event()

    def on_bytes(n: int) -> None:
        if stop.is_set():
            raise _Stopped
        with lock:
            progress.advance(n)

    def stopped(_n: int) -> None:
        if stop.is_set():
            raise _Stopped

    def fetch(d: Descriptor, counted: Callable[[int], None]) -> bool:
        if stop.is_set():
            raise _Stopped
        return _fetch(client, ref, store, d, counted)

    if blobs:
        progress.start(f"pulling {ref.familiar} ({len(blobs)} layer{'s' if len(blobs) != 1 else ''})",
                       sum(d.size for d in blobs))
    from concurrent.futures import ThreadPoolExecutor  # with logging: only when something is fetched

    try:
        pool = ThreadPoolExecutor(max_workers=min(PARALLEL, len(blobs) + (config is not None)))
        try:
            first = pool.submit(fetch, config, stopped) if config is not None else None
            futures = [pool.submit(fetch, d, on_bytes) for d in blobs]
            if first is not None:
                first.result()
            parsed = checked()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        # The first failure is raised once every download has ended: the finished ones stay.
        errors = [f.exception() for f in futures]
        pool.shutdown(wait=True)
        for e in errors:
            if e is not None:
                raise e
        return parsed, [d for d, f in zip(blobs, futures, strict=True) if f.result()]
    finally:
        if blobs:
            progress.finish()
