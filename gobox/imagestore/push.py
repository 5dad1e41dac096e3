"""Push a manifest or index from the store to a registry: the blobs it lacks first, then the manifests, bottom up.

What to send is read from the store before the first request, so a missing
blob or a bad tag fails without touching the network. The registry is asked
(HEAD) which blobs it already holds; the others are mounted from another
repository of the same registry when one is named, else uploaded, three at a
time. Manifests go last, an index's children by digest before the index, so
the registry never holds a manifest whose blobs it lacks. A push that dies
midway leaves its finished blobs in the registry, and the next one skips them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from gobox.errors import IntegrityError, NotFoundError, UsageError
from gobox.imagestore.records import Image, images, record_path
from gobox.names.platform import Platform
from gobox.names.reference import Reference
from gobox.oci.manifest import Descriptor, Index, Manifest, parse_document
from gobox.oci.registry import Client
from gobox.oci.transport import Options
from gobox.store import Store, write_atomic
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress

PARALLEL = 3  # blobs sent at once, as pull fetches them

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Pushed:
    reference: str  # canonical ref pushed to
    digest: str  # digest of the top manifest or index pushed
    uploaded: int  # blobs uploaded
    skipped: int  # blobs already there (HEAD said so)
    mounted: int  # blobs mounted from another repository of the same registry
    uploaded_bytes: int


@dataclass(frozen=True)
class Document:
    """A manifest or index as the store holds it: its exact bytes are what the registry gets."""

    digest: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class Plan:
    documents: tuple[Document, ...]  # children before the index that names them; the top one last
    blobs: tuple[Descriptor, ...]  # configs and layers, each once

    @property
    def top(self) -> Document:
        return self.documents[-1]


@dataclass(frozen=True)
class Source:
    """What `gobox push SRC` sends: a manifest or an index, the image records it covers, and why."""

    digest: str
    images: tuple[Image, ...]
    index_digest: str | None  # the digest itself when an index is sent
    note: str


def push(store: Store, ref: Reference, digest: str, options: Options, progress: Progress,
         mount_from: str | None = None) -> Pushed:
    """Push the manifest or index `digest` (a blob in the store, with every blob it names in the store) to `ref`."""
    check_target(ref, digest)
    work = plan(store, digest)
    client = Client(ref.registry, options, api_host=ref.api_host)
    repository = ref.repository
    sizes = _each(lambda d: client.blob_size(repository, d.digest), work.blobs)
    # A size other than the descriptor's is not the blob the manifest names: send it again.
    todo = [d for d, size in zip(work.blobs, sizes, strict=True) if size != d.size]
    outcomes = _send(client, ref, store, todo, progress, mount_from) if todo else []
    for doc in work.documents[:-1]:
        _put(client, ref, doc, doc.digest)
    top = work.top
    _put(client, ref, top, ref.tag or top.digest)
    uploaded = [d for d, how in zip(todo, outcomes, strict=True) if how == "uploaded"]
    return Pushed(reference=str(ref if ref.tag or ref.digest else replace(ref, digest=top.digest)),
                  digest=top.digest, uploaded=len(uploaded), skipped=len(work.blobs) - len(todo),
                  mounted=len(todo) - len(uploaded), uploaded_bytes=sum(d.size for d in uploaded))


def check_target(ref: Reference, digest: str) -> None:
    """Refuse, before any request, a tag the registry would refuse or a digest that is not what is pushed."""
    if ref.tag is not None:
        ref.with_tag(ref.tag)  # Reference.parse checked it, but a Reference can be made by hand
    if ref.digest and ref.digest != digest:
        raise UsageError(f"{ref.familiar} names {ref.digest}, but the image to push is {digest}",
                         hint="drop the @digest from the destination, or name the image it is")


def plan(store: Store, digest: str) -> Plan:
    """Everything pushing `digest` sends, read and checked from the store; NotFoundError if some of it is not there."""
    documents: list[Document] = []
    blobs: list[Descriptor] = []
    absent: list[str] = []
    _walk(store, digest, documents, blobs, absent, set())
    if absent:
        raise NotFoundError(f"cannot push {digest}: the store lacks {len(absent)} of the blobs it names "
                            f"({', '.join(absent[:3])}{', …' if len(absent) > 3 else ''})",
                            hint="pull the image (every platform of it, for an index) into the store first")
    return Plan(tuple(documents), tuple(blobs))


def missing(store: Store, digest: str) -> tuple[str, ...]:
    """The digests pushing `digest` needs (itself, child manifests, configs, layers) that the store lacks."""
    absent: list[str] = []
    _walk(store, digest, [], [], absent, set())
    return tuple(absent)


def _walk(store: Store, digest: str, documents: list[Document], blobs: list[Descriptor], absent: list[str],
          seen: set[str]) -> None:
    if digest in seen:
        return
    seen.add(digest)
    path = store.blob_for(digest)
    if not path.is_file():
        absent.append(digest)
        return
    data = path.read_bytes()
    # No Content-Type to go by: the document's own mediaType says what it is, else its shape does.
    doc = parse_document(data, None, digest)
    if isinstance(doc, Index):
        for child in doc.manifests:
            _walk(store, child.digest, documents, blobs, absent, seen)
    else:
        for d in (doc.config, *doc.layers):
            if d.digest in seen:
                continue
            seen.add(d.digest)
            blob = store.blob_for(d.digest)
            if not blob.is_file():
                absent.append(d.digest)
                continue
            size = blob.stat().st_size
            if size != d.size:
                raise IntegrityError(f"the store's {d.digest} is {size} bytes, but manifest {digest} says {d.size}",
                                     hint="remove that blob from the store and pull the image again")
            blobs.append(d)
    documents.append(Document(digest, doc.media_type, data))


def _send(client: Client, ref: Reference, store: Store, blobs: list[Descriptor], progress: Progress,
          mount_from: str | None) -> list[str]:
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            progress.advance(n)

    def one(d: Descriptor) -> str:
        return client.upload_blob(ref.repository, d.digest, d.size, store.blob_for(d.digest), on_bytes, mount_from)

    progress.start(f"pushing {ref.familiar} ({len(blobs)} blob{'s' if len(blobs) != 1 else ''})",
                   sum(d.size for d in blobs))
    try:
        return _each(one, blobs)
    finally:
        progress.finish()


def _put(client: Client, ref: Reference, doc: Document, reference: str) -> None:
    said = client.put_manifest(ref.repository, reference, doc.data, doc.media_type)
    # The registry hashes what it stored; another digest means other bytes arrived than were sent.
    if said and said.split(":", 1)[0] == doc.digest.split(":", 1)[0] and said != doc.digest:
        raise IntegrityError(f"{ref.name}: the registry stored the manifest as {said}, not {doc.digest}",
                             hint="something between gobox and the registry changed it; push again")


def _each(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """fn over items, PARALLEL at once; the first failure is raised once every call has ended."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(items))) as pool:
        futures = [pool.submit(fn, x) for x in items]
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e
    return [f.result() for f in futures]


# --- what `gobox push` sends, and what it records -----------------------------------------------


def choose_source(store: Store, ref: Reference, platform: Platform | None, host: Platform) -> Source:
    """The manifest or index to push for the local image `ref`: the whole index when the store has all of it."""
    found = [i for i in images(store) if i.reference == str(ref)]
    if not found:
        raise NotFoundError(f"no image {ref.familiar} in the store",
                            hint=f"`gobox images` lists them; `gobox pull {ref.familiar}` fetches it")
    have = ", ".join(i.platform for i in found)
    if platform is not None:
        chosen = next((i for i in found if Platform.parse(i.platform).matches(platform)), None)
        if chosen is None:
            raise NotFoundError(f"no image for {platform} of {ref.familiar} in the store (it has: {have})")
        return Source(chosen.digest, (chosen,), None, f"pushing {ref.familiar} for {chosen.platform} only")
    for index in dict.fromkeys(i.index_digest for i in found if i.index_digest):
        if not missing(store, index):
            covered = tuple(i for i in found if i.index_digest == index)
            platforms = _index_platforms(store, index)
            return Source(index, covered, index, f"pushing the index of {ref.familiar} "
                          f"({len(platforms)} platform{'s' if len(platforms) != 1 else ''}: {', '.join(platforms)})")
    if len(found) == 1:
        chosen = found[0]
    else:
        chosen = next((i for i in found if Platform.parse(i.platform).matches(host)), None)
        if chosen is None:
            raise UsageError(f"{ref.familiar} has {len(found)} images in the store ({have}) and no index that "
                             "covers them all", hint="choose one with --platform")
    if not any(i.index_digest for i in found):
        return Source(chosen.digest, (chosen,), None, f"pushing {ref.familiar} ({chosen.platform})")
    # Said plainly: pushed to the tag it came from, this replaces a multi-platform image with one platform.
    return Source(chosen.digest, (chosen,), None, f"pushing {ref.familiar} for {chosen.platform} only: "
                  "the other platforms of its index are not in the store")


def _index_platforms(store: Store, digest: str) -> list[str]:
    doc = parse_document(store.blob_for(digest).read_bytes(), None, digest)
    if isinstance(doc, Manifest):
        return []
    return [str(d.platform) for d in doc.manifests if d.platform is not None]


def record(store: Store, ref: Reference, source: Source) -> list[Image]:
    """Image records saying `ref` is what was pushed, so `gobox images` lists it and `gobox push ref` finds it."""
    written = []
    for image in source.images:
        new = replace(image, reference=str(ref), index_digest=source.index_digest)
        write_atomic(record_path(store, ref, new.platform), json.dumps(new.to_json(), indent=2).encode())
        written.append(new)
    return written


def summary(pushed: Pushed, mount_from: str | None = None) -> str:
    """The counts of a push in words: "2 blobs uploaded, 1 already there"."""
    parts = [f"{pushed.uploaded} blob{'s' if pushed.uploaded != 1 else ''} uploaded",
             f"{pushed.skipped} already there"]
    if pushed.mounted:
        parts.append(f"{pushed.mounted} mounted" + (f" from {mount_from}" if mount_from else ""))
    return ", ".join(parts)
