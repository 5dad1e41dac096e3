"""An image in the store written out as an OCI image layout, an oci-archive, or a docker-archive (`docker save`).

The layout is the image-spec's: `oci-layout`, `index.json` naming the image by
`org.opencontainers.image.ref.name` (what `skopeo oci:DIR:TAG` and `umoci
--image DIR:TAG` look up), and `blobs/sha256/<hex>`. An oci-archive is that
layout in one tar. A docker-archive is what `docker load` reads: a
`manifest.json` listing each image's config, tags and layer files; layers stay
gzip'd, which docker load and skopeo both accept.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gobox.errors import GoboxError, IntegrityError, UsageError
from gobox.names.platform import Platform
from gobox.oci.manifest import INDEX_TYPES, Index, Manifest, layer_compression, parse_document
from gobox.oci.write import DIR, FILE, Blob, Entry, canonical_json, write_tar
from gobox.store import Store, write_atomic
from gobox.values import dataclass

LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"  # the full name, which containerd and `docker load` of OCI layouts use


@dataclass(frozen=True)
class Top:
    """What a layout names: an image manifest, or an index of them."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None


def _document(store: Store, digest: str, media_type: str) -> Manifest | Index:
    path = store.blob_for(digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"the store lacks {digest}, which the image names",
                             hint="build or pull the image again") from None
    return parse_document(data, media_type, digest)


def closure(store: Store, top: Top) -> list[str]:
    """Every blob `top` reaches, itself first, each once: index, manifests, configs, layers."""
    seen: dict[str, None] = {}

    def walk(digest: str, media_type: str) -> None:
        seen[digest] = None
        doc = _document(store, digest, media_type)
        if isinstance(doc, Index):
            for d in doc.manifests:
                walk(d.digest, d.media_type)
            return
        for d in (doc.config, *doc.layers):
            if not store.blob_for(d.digest).is_file():
                raise IntegrityError(f"the store lacks {d.digest}, which manifest {digest} names",
                                     hint="build or pull the image again")
            seen[d.digest] = None

    walk(top.digest, top.media_type)
    return list(seen)


def descriptor(top: Top, ref_name: str, image_name: str) -> dict:
    """`top` as index.json lists it, named by its tag (ref.name) and its whole reference."""
    d: dict[str, Any] = {"mediaType": top.media_type, "digest": top.digest, "size": top.size,
         "annotations": {IMAGE_NAME: image_name, REF_NAME: ref_name}}
    if top.platform is not None:
        d["platform"] = {"architecture": top.platform.architecture, "os": top.platform.os}
        if top.platform.variant:
            d["platform"]["variant"] = top.platform.variant
    return d


def index_json(entries: Sequence[dict]) -> bytes:
    return canonical_json({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": list(entries)})


def _existing_entries(directory: Path) -> list[dict]:
    """The entries of the layout already at `directory` ([] for a new or empty directory)."""
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory", hint="name a directory for oci:DIR")
    if not (directory / "oci-layout").is_file():
        if any(directory.iterdir()):
            raise UsageError(f"{directory} is not empty and is not an OCI image layout",
                             hint="name a new or empty directory, or an existing layout to add the image to")
        return []
    try:
        index = json.loads((directory / "index.json").read_text())
        entries = index["manifests"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise GoboxError(f"{directory}/index.json is not an image index",
                         hint="repair the layout, or write to another directory") from None
    return entries


def _annotations(entry: dict) -> dict:
    found = entry.get("annotations")
    return found if isinstance(found, dict) else {}


def _tag_of(image_name: str) -> str:
    name, colon, tag = image_name.rpartition(":")
    return tag if colon and "/" not in tag else "latest"


def merged_entries(entries: Sequence[dict], new: dict) -> list[dict]:
    """index.json's entries once the image `new` (a descriptor(), named by its tag) is added (pure).

    Only the same reference is replaced: an entry of the same full name, or a foreign one (no image name)
    of the same ref.name. Every image is named by its tag, as `skopeo oci:DIR:TAG` looks it up, unless
    images of two names share the tag: then by their whole references (oci:DIR:localhost/a:latest), since a
    reader takes the first entry of a ref.name and the others could not be read at all.
    """
    image_name = _annotations(new)[IMAGE_NAME]
    tag = _annotations(new)[REF_NAME]

    def same(e: dict) -> bool:
        a = _annotations(e)
        if IMAGE_NAME in a:
            return a[IMAGE_NAME] == image_name
        return a.get(REF_NAME) in (tag, image_name)

    out = [dict(e) for e in entries if not same(e)] + [dict(new)]
    names: dict[str, set[str]] = {}
    for e in out:
        a = _annotations(e)
        if isinstance(a.get(IMAGE_NAME), str):
            names.setdefault(_tag_of(a[IMAGE_NAME]), set()).add(a[IMAGE_NAME])
    for e in out:
        a = _annotations(e)
        if isinstance(a.get(IMAGE_NAME), str):
            short = _tag_of(a[IMAGE_NAME])
            e["annotations"] = {**a, REF_NAME: short if len(names[short]) == 1 else a[IMAGE_NAME]}
    return out


def write_layout(store: Store, top: Top, directory: Path, ref_name: str, image_name: str) -> None:
    """Put the image into the layout at `directory` (made if missing; other images there are kept)."""
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):  # two gobox writing one layout: each adds its image, neither loses the other's
        entries = _existing_entries(directory)
        blobs = directory / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        for digest in closure(store, top):
            _copy_blob(store.blob_for(digest), blobs / digest.split(":", 1)[1])
        write_atomic(directory / "oci-layout", canonical_json({"imageLayoutVersion": LAYOUT_VERSION}))
        # index.json last, by rename: until it names the image, a reader sees the layout as it was, and a
        # crash leaves the old index or the new, never part of one.
        write_atomic(directory / "index.json",
                     index_json(merged_entries(entries, descriptor(top, ref_name, image_name))))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive flock on the layout's directory itself: no lock file is left in the layout."""
    import fcntl

    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _copy_blob(src: Path, dest: Path) -> None:
    if dest.is_file() and dest.stat().st_size == src.stat().st_size:
        return  # content-addressed: same name and size is the same blob
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _dirs(names: Sequence[str], mtime: int) -> Iterator[Entry]:
    seen: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in seen:
                seen.add(d)
                yield Entry(d, DIR, 0o755, mtime=mtime)


def write_oci_archive(store: Store, top: Top, dest: Path, ref_name: str, image_name: str, mtime: int) -> Blob:
    """The image as an OCI layout in one tar, its bytes fixed by the image and `mtime`."""
    files = [Entry("oci-layout", FILE, 0o644, mtime=mtime,
                   data=canonical_json({"imageLayoutVersion": LAYOUT_VERSION})),
             Entry("index.json", FILE, 0o644, mtime=mtime, data=index_json([descriptor(top, ref_name, image_name)]))]
    files += [Entry(f"blobs/sha256/{d.split(':', 1)[1]}", FILE, 0o644, mtime=mtime, source=store.blob_for(d))
              for d in closure(store, top)]
    return write_tar(dest, [*_dirs([e.name for e in files], mtime), *files])


def write_docker_archive(store: Store, top: Top, dest: Path, repo_tags: Sequence[str], mtime: int) -> Blob:
    """The image as `docker save` writes it: manifest.json, the config, one file per layer."""
    if top.media_type in INDEX_TYPES:
        raise UsageError("a docker-archive holds one platform's image, and this is a multi-platform index",
                         hint="give one --platform, or write --output oci-archive:FILE")
    manifest = _document(store, top.digest, top.media_type)
    assert isinstance(manifest, Manifest)
    config = manifest.config.digest.split(":", 1)[1] + ".json"
    layers = []
    entries = [Entry(config, FILE, 0o644, mtime=mtime, source=store.blob_for(manifest.config.digest))]
    for d in manifest.layers:
        suffix = ".tar" if layer_compression(d.media_type) == "none" else ".tar.gz"
        name = d.digest.split(":", 1)[1] + suffix
        if name not in layers:  # a layer listed twice is stored once, as docker save does
            entries.append(Entry(name, FILE, 0o644, mtime=mtime, source=store.blob_for(d.digest)))
        layers.append(name)
    listing = [{"Config": config, "RepoTags": list(repo_tags), "Layers": layers}]
    data = json.dumps(listing, sort_keys=True, separators=(",", ":")).encode()
    entries.append(Entry("manifest.json", FILE, 0o644, mtime=mtime, data=data))
    return write_tar(dest, entries)
