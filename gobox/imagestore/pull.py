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
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from gobox.errors import GoboxError, IntegrityError, NotFoundError
from gobox.fetch import too_large
from gobox.imagestore.records import Image, read_record, record_path
from gobox.names.platform import Platform
from gobox.names.reference import Reference
from gobox.oci.manifest import (
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
from gobox.oci.registry import Client
from gobox.oci.transport import Options
from gobox.store import Store, write_atomic
from gobox.values import dataclass

if TYPE_CHECKING:
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


def _pull(ref: Reference, store: Store, options: Options, want: Platform, progress: Progress) -> Pulled:
    store.ensure()
    client = Client(ref.registry, options, api_host=ref.api_host)
    top = client.manifest(ref.repository, ref.digest or ref.tag or "latest")
    doc = _document(top.data, top.media_type, ref.digest, top.digest, ref)
    index_digest = None
    if isinstance(doc, Index):
        index_digest = ref.digest or sha256_digest(top.data)
        _keep(store, top.data)
        chosen = select(doc, want, name=ref.familiar)
        _small_enough(chosen, "manifest", ref, options)
        fetched = client.manifest(ref.repository, chosen.digest, accept=chosen.media_type)
        doc = _document(fetched.data, fetched.media_type, chosen.digest, fetched.digest, ref)
        if not isinstance(doc, Manifest):
            raise ManifestError(f"{ref.familiar}: the index entry for {want} is itself an index")
        data = fetched.data
    else:
        data = top.data
    manifest = doc
    manifest.check_layers()
    digest = sha256_digest(data)
    _keep(store, data)

    config_blob = store.blob_for(manifest.config.digest)
    if not config_blob.exists():
        _small_enough(manifest.config, "config", ref, options)  # before a byte of it is fetched
        _fetch(client, ref, store, manifest.config, None)
    config = parse_config(config_blob.read_bytes(), manifest.config.digest)
    check_diff_ids(manifest, config)
    got = Platform(config.os, config.architecture, config.variant)
    if index_digest is None and config.os and not got.matches(want):
        raise NotFoundError(f"{ref.familiar} is an image for {got}, not {want}",
                            hint=f"pull it with --platform {got}, or name an image for {want}")

    missing = [d for d in manifest.layers if not store.blob_for(d.digest).exists()]
    # Another gobox pulling the same image may fetch some of them first: those count as reused.
    downloaded = _fetch_all(client, ref, store, missing, progress, sum(d.size for d in missing)) if missing else []
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


def _fetch(client: Client, ref: Reference, store: Store, d: Descriptor,
           on_bytes: Callable[[int], None] | None) -> bool:
    """The blob `d` into the store, unless it is there; whether it was downloaded by this call.

    Under the blob's lock, with presence checked again once it is held: when several gobox
    processes pull at once, one downloads and the others find the blob there.
    """
    final = store.blob_for(d.digest)
    if final.exists():
        return False
    with store.locked(f"blob-{final.name[:20]}"):
        if final.exists():
            return False
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


def _fetch_all(client: Client, ref: Reference, store: Store, blobs: list[Descriptor], progress: Progress,
               total: int) -> list[Descriptor]:
    """Fetch `blobs`, PARALLEL at once; the ones this process downloaded (others may have come meanwhile)."""
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            progress.advance(n)

    progress.start(f"pulling {ref.familiar} ({len(blobs)} layer{'s' if len(blobs) != 1 else ''})", total)
    try:
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(blobs))) as pool:
            futures = [pool.submit(_fetch, client, ref, store, d, on_bytes) for d in blobs]
            # The first failure is raised once every download has ended: the finished ones stay.
            errors = [f.exception() for f in futures]
        for e in errors:
            if e is not None:
                raise e
        return [d for d, f in zip(blobs, futures, strict=True) if f.result()]
    finally:
        progress.finish()
