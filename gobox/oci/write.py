"""Layers, configs and manifests written into the store, their bytes fixed by what goes into them and nothing else.

A layer is streamed once: tar into gzip into a file in tmp/, with the
uncompressed bytes (the diff_id) and the compressed bytes (the digest) hashed
on the way, then renamed to blobs/sha256/<digest>. Entries are sorted by name
and gzip carries no name or time, so the same entries give the same digest.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from gobox.oci.layer import OPAQUE as OPAQUE_MARKER
from gobox.oci.layer import WHITEOUT as WHITEOUT_PREFIX
from gobox.store import Store, write_atomic
from gobox.values import dataclass

DIR, FILE, SYMLINK, HARDLINK, WHITEOUT, OPAQUE = "dir", "file", "symlink", "hardlink", "whiteout", "opaque"
GZIP_LEVEL = 6  # zlib's default: a layer is written once per commit or image, and read many times


@dataclass(frozen=True)
class Entry:
    """One member of a layer, in filesystem terms; `write_layer` spells whiteouts the OCI way.

    WHITEOUT says `name` was deleted from the layers below; OPAQUE says the
    directory `name` hides everything the layers below had in it.
    """

    name: str  # relative, "/"-separated, no trailing slash
    kind: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    source: Path | None = None  # a regular file's bytes come from here...
    data: bytes | None = None  # ...or from here
    link: str = ""  # a symlink's target, or the name of the entry a hard link shares content with


@dataclass(frozen=True)
class Blob:
    """What was written: its digest and size, and for a layer the digest of its uncompressed tar."""

    digest: str
    size: int
    diff_id: str | None = None


class _Sink(Protocol):
    """Where _Hashing writes: a file, or the GzipFile over one."""

    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...


class _Hashing:
    """A write-only stream that hashes and counts what passes through it."""

    def __init__(self, out: _Sink) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def tell(self) -> int:  # tarfile asks where it starts
        return self.size

    def flush(self) -> None:
        self.out.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def tar_name(entry: Entry) -> str:
    """The member name a layer tar uses for an entry: whiteouts become `.wh.` files."""
    if entry.kind == WHITEOUT:
        head, _, base = entry.name.rpartition("/")
        return f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base
    if entry.kind == OPAQUE:
        return f"{entry.name}/{OPAQUE_MARKER}"
    return entry.name


def _info(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(tar_name(entry))
    info.mode, info.uid, info.gid, info.mtime = entry.mode & 0o7777, entry.uid, entry.gid, entry.mtime
    info.uname = info.gname = ""
    kinds = {DIR: tarfile.DIRTYPE, FILE: tarfile.REGTYPE, SYMLINK: tarfile.SYMTYPE, HARDLINK: tarfile.LNKTYPE,
             WHITEOUT: tarfile.REGTYPE, OPAQUE: tarfile.REGTYPE}
    if entry.kind not in kinds:
        raise ValueError(f"layer entry {entry.name!r}: unknown kind {entry.kind!r}")
    info.type = kinds[entry.kind]
    if entry.kind in (SYMLINK, HARDLINK):
        info.linkname = entry.link
    if entry.kind in (WHITEOUT, OPAQUE):
        info.mode = 0
    return info


def write_layer(store: Store, entries: Iterable[Entry], level: int = GZIP_LEVEL) -> Blob:
    """Write a gzip'd layer of `entries` (sorted here) into the store and return its digest and diff_id."""
    ordered = _ordered(entries)
    store.ensure()
    tmp = store.tmp / f"layer.{os.getpid()}.{os.urandom(4).hex()}.part"
    try:
        with open(tmp, "wb") as f:
            packed = _Hashing(f)
            # filename "" and mtime 0: the gzip header then says nothing about where or when it was written.
            with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=level) as gz:
                raw = _Hashing(gz)
                _tar(raw, ordered)
            f.flush()
            os.fsync(f.fileno())
        final = store.blob_for(packed.digest)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return Blob(packed.digest, packed.size, raw.digest)


def write_tar(dest: Path, entries: Iterable[Entry]) -> Blob:
    """Write a plain tar of `entries` (sorted here) to `dest`, atomically: an image archive, not a layer."""
    ordered = _ordered(entries)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.{os.urandom(4).hex()}.part"
    try:
        with open(tmp, "wb") as f:
            out = _Hashing(f)
            _tar(out, ordered)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return Blob(out.digest, out.size)


def _ordered(entries: Iterable[Entry]) -> list[Entry]:
    ordered = sorted(entries, key=tar_name)
    names = [tar_name(e) for e in ordered]
    for a, b in zip(names, names[1:], strict=False):
        if a == b:
            raise ValueError(f"layer entry {a!r} given twice")
    return ordered


def _tar(out: _Hashing, ordered: list[Entry]) -> None:
    # The ignore: typeshed's _Fileobj asks for read, seek and close too, which mode "w" never calls on a caller's
    # fileobj (it writes and tells, and leaves closing to the caller).
    with tarfile.TarFile(fileobj=out, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[arg-type]
                         encoding="utf-8") as tar:
        for e in ordered:
            _add(tar, e)


def _add(tar: tarfile.TarFile, entry: Entry) -> None:
    info = _info(entry)
    if entry.kind != FILE:
        tar.addfile(info)
    elif entry.data is not None:
        import io

        info.size = len(entry.data)
        tar.addfile(info, io.BytesIO(entry.data))
    elif entry.source is not None:
        with open(entry.source, "rb") as src:
            # The size comes from the open file, so a file that changed since it was listed is still whole.
            info.size = os.fstat(src.fileno()).st_size
            tar.addfile(info, src)
    else:
        raise ValueError(f"layer entry {entry.name!r}: a file with neither source nor data")


def canonical_json(doc: dict) -> bytes:
    """JSON whose bytes depend only on the value: sorted keys, no spaces."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_json_blob(store: Store, doc: dict) -> Blob:
    """A config or manifest into the store, by the digest of its canonical bytes."""
    data = canonical_json(doc)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = store.blob_for(digest)
    if not path.exists():
        write_atomic(path, data)
    return Blob(digest, len(data))
