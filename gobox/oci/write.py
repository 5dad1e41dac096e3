"""Layers, configs and manifests written into the store, their bytes fixed by what goes into them and nothing else.

A layer is streamed once: tar into gzip into a file in tmp/, with the
uncompressed bytes (the diff_id) and the compressed bytes (the digest) hashed
on the way, then renamed to blobs/sha256/<digest>. Entries are sorted by name,
their tar headers are written here (not by the running Python's tarfile), and
the gzip member is gobox's own (gobox/oci/gzipfixed.py: a pinned zlib-ng in
fixed blocks under a fixed header, not the system's zlib), so the same entries
give the same digest on any machine (docs/reproducibility.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from gobox.oci.gzipfixed import LEVEL, FixedGzip, Sink
from gobox.store import Store, write_atomic
from gobox.values import dataclass

DIR, FILE, SYMLINK, HARDLINK, WHITEOUT, OPAQUE = "dir", "file", "symlink", "hardlink", "whiteout", "opaque"
# The OCI spellings of a deletion and of an opaque directory, as gobox.oci.layer reads them (not imported from
# there: that is the extractor, which writing a layer does not need).
WHITEOUT_PREFIX, OPAQUE_MARKER = ".wh.", ".wh..wh..opq"


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


class _Hashing:
    """A write-only stream that hashes and counts what passes through it."""

    def __init__(self, out: Sink) -> None:  # a file, or the FixedGzip over one
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

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


def write_layer(store: Store, entries: Iterable[Entry], level: int = LEVEL) -> Blob:
    """Write a gzip'd layer of `entries` (sorted here) into the store and return its digest and diff_id."""
    ordered = _ordered(entries)
    store.ensure()
    tmp = store.tmp / f"layer.{os.getpid()}.{os.urandom(4).hex()}.part"
    try:
        with open(tmp, "wb") as f:
            packed = _Hashing(f)
            with FixedGzip(packed, level) as gz:
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
    for e in ordered:
        _add(out, e)
    # The end: two zero blocks, then zeros to a whole 10240-byte record, as tar(1) and tarfile write it.
    end = out.size + 2 * BLOCK
    out.write(bytes(2 * BLOCK + -end % RECORD))


def _add(out: _Hashing, entry: Entry) -> None:
    name, kind, mode = tar_name(entry), _TYPES.get(entry.kind), entry.mode & 0o7777
    if kind is None:
        raise ValueError(f"layer entry {entry.name!r}: unknown kind {entry.kind!r}")
    link = entry.link if entry.kind in (SYMLINK, HARDLINK) else ""
    if entry.kind in (WHITEOUT, OPAQUE):
        mode = 0
    elif entry.kind == DIR:
        name += "/"
    if entry.kind != FILE:
        out.write(header(name, kind, mode, entry.uid, entry.gid, 0, entry.mtime, link))
    elif entry.data is not None:
        size = len(entry.data)
        out.write(b"".join((header(name, kind, mode, entry.uid, entry.gid, size, entry.mtime, ""), entry.data,
                            bytes(-size % BLOCK))))
    elif entry.source is not None:
        with open(entry.source, "rb") as src:
            # The size comes from the open file, so a file that changed since it was listed is still whole.
            size = os.fstat(src.fileno()).st_size
            out.write(header(name, kind, mode, entry.uid, entry.gid, size, entry.mtime, ""))
            left = size
            while left:
                chunk = src.read(min(left, COPY))
                if not chunk:
                    raise OSError(f"{entry.source}: shrank while it was written into a layer")
                out.write(chunk)
                left -= len(chunk)
            out.write(bytes(-size % BLOCK))
    else:
        raise ValueError(f"layer entry {entry.name!r}: a file with neither source nor data")


# --- tar headers -------------------------------------------------------------------------------
#
# Written here rather than by tarfile so that a layer's bytes are fixed by gobox's code, not by the
# Python that runs it; they are the bytes tarfile's PAX_FORMAT writes (CPython 3.11 to 3.13 alike, which
# test_write checks against tarfile itself): a ustar header per member, preceded by a pax header ("x")
# when a name is longer than its field or not ASCII, or a number does not fit its field. Owner names
# are empty; there are no device numbers.

BLOCK, RECORD, COPY = 512, 10240, 1 << 20
_TYPES = {DIR: b"5", FILE: b"0", SYMLINK: b"2", HARDLINK: b"1", WHITEOUT: b"0", OPAQUE: b"0"}
_MAGIC = b"ustar\x0000"


def header(name: str, kind: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, link: str) -> bytes:
    """One member's header blocks: its pax header when it needs one, then its ustar header."""
    pax: dict[str, str] = {}
    for key, text in (("path", name), ("linkpath", link)):
        if not text.isascii() or len(text) > 100:
            pax[key] = text
    numbers = {"uid": (uid, 8), "gid": (gid, 8), "size": (size, 12), "mtime": (mtime, 12)}
    fields: dict[str, int] = {}
    for key, (value, digits) in numbers.items():
        if 0 <= value < 8 ** (digits - 1):
            fields[key] = value
        else:  # too big for its octal field (or negative): 0 there, the value in the pax header
            fields[key] = 0
            pax[key] = str(value)
    ustar = _ustar(name, kind, mode, fields["uid"], fields["gid"], fields["size"], fields["mtime"], link)
    return _pax(pax) + ustar if pax else ustar


def _pax(records: dict[str, str]) -> bytes:
    # A value that is not valid UTF-8 text (a file name's undecodable bytes, kept as surrogate escapes) makes the
    # whole header binary: its bytes are written as they were, and a first record says so.
    binary = any(not _utf8_ok(v) for v in records.values())
    body = [b"21 hdrcharset=BINARY\n"] if binary else []
    for key, value in records.items():
        line = b"%s=%s\n" % (key.encode(), value.encode("utf-8", "surrogateescape" if binary else "strict"))
        n = len(line) + 1  # the length counts its own digits and the space after them
        while len(b"%d " % n) + len(line) != n:
            n = len(b"%d " % n) + len(line)
        body.append(b"%d %s" % (n, line))
    data = b"".join(body)
    return _ustar("././@PaxHeader", b"x", 0, 0, 0, len(data), 0, "") + data + bytes(-len(data) % BLOCK)


def _utf8_ok(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ustar(name: str, kind: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, link: str) -> bytes:
    head = b"".join((
        _text(name, 100), b"%07o\0" % mode, b"%07o\0" % uid, b"%07o\0" % gid, b"%011o\0" % size,
        b"%011o\0" % mtime, b"        ", kind, _text(link, 100), _MAGIC,
        bytes(32 + 32 + 8 + 8 + 155 + 12),  # uname, gname, devmajor, devminor, prefix, and the block's padding
    ))
    return head[:148] + b"%06o\0" % sum(head) + head[155:]


def _text(value: str, length: int) -> bytes:
    # The ustar field holds what fits, non-ASCII as "?": the pax header has the real name.
    return value.encode("ascii", "replace")[:length].ljust(length, b"\0")


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
