"""Tar archives built byte by byte, for the hostile cases no tar writer would make: headers with any field,
pax records of any shape, and gzip bombs made of repeated gzip members, so gigabytes cost nothing to build."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterable, Iterator

BLOCK = 512
ZERO_BLOCK = b"\0" * BLOCK
END = ZERO_BLOCK * 2

# Offset and length of each ustar header field.
FIELDS = {
    "name": (0, 100), "mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12),
    "mtime": (136, 12), "chksum": (148, 8), "typeflag": (156, 1), "linkname": (157, 100),
    "magic": (257, 6), "version": (263, 2), "uname": (265, 32), "gname": (297, 32),
    "devmajor": (329, 8), "devminor": (337, 8), "prefix": (345, 155),
}


def octal(n: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, n)


def with_checksum(block: bytes | bytearray) -> bytes:
    """The block with a correct header checksum (computed with the field as spaces, as tar does)."""
    b = bytearray(block)
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def header(name: bytes | str, typeflag: bytes = b"0", size: int = 0, *, linkname: bytes | str = b"",
           mode: int = 0o644, checksum: bool = True, **raw: bytes) -> bytes:
    """One ustar header block; `raw` puts exact bytes into any other field (e.g. uname=b"root")."""
    b = bytearray(BLOCK)

    def put(field: str, value: bytes) -> None:
        off, length = FIELDS[field]
        b[off:off + length] = value[:length].ljust(length, b"\0")

    put("name", name.encode() if isinstance(name, str) else name)
    put("mode", octal(mode, 8))
    put("uid", octal(0, 8))
    put("gid", octal(0, 8))
    put("size", octal(size, 12) if size < 8 ** 11 else b"\x80" + size.to_bytes(11, "big"))
    put("mtime", octal(0, 12))
    put("typeflag", typeflag)
    put("linkname", linkname.encode() if isinstance(linkname, str) else linkname)
    put("magic", b"ustar\0")
    put("version", b"00")
    for field, value in raw.items():
        put(field, value)
    return with_checksum(b) if checksum else bytes(b)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def member(name: bytes | str, data: bytes = b"", typeflag: bytes = b"0", **kw: object) -> bytes:
    """A header and its padded data."""
    return header(name, typeflag, len(data), **kw) + pad(data)


def pax_record(key: bytes, value: bytes) -> bytes:
    """A well-formed `LEN key=value\\n`: LEN counts its own digits, so it is found by trying."""
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def pax(records: bytes, name: str = "PaxHeader/x", typeflag: bytes = b"x") -> bytes:
    """An extended header member holding `records` exactly as given."""
    return member(name, records, typeflag)


def tar(*members: bytes) -> bytes:
    return b"".join(members) + END


def sha256(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return "sha256:" + h.hexdigest()


class Bomb:
    """A gzip'd tar of `files` members of `each` zero bytes, as concatenated gzip members.

    The zeros are compressed once and the member repeated, so a GiB costs a
    millisecond to build; `blob` is what a registry serves, `diff_id` the
    sha256 of the tar it unpacks to (hashed in pieces, never held whole).
    """

    def __init__(self, files: int, each: int, prefix: str = "bomb/") -> None:
        assert each % BLOCK == 0
        self.files, self.each, self.prefix = files, each, prefix
        zeros = gzip.compress(b"\0" * (1 << 20), compresslevel=9, mtime=0)
        parts = [gzip.compress(self._dir(), mtime=0)]
        for i in range(files):
            parts.append(gzip.compress(self._header(i), mtime=0))
            parts += [zeros] * (each >> 20)
            if each % (1 << 20):
                parts.append(gzip.compress(b"\0" * (each % (1 << 20)), mtime=0))
        parts.append(gzip.compress(END, mtime=0))
        self.blob = b"".join(parts)
        self.size = files * each  # bytes of file data it unpacks to

    def _dir(self) -> bytes:
        return header(self.prefix, b"5", mode=0o755)

    def _header(self, i: int) -> bytes:
        return header(f"{self.prefix}{i}", b"0", self.each)

    def tar_chunks(self) -> Iterator[bytes]:
        yield self._dir()
        mib = b"\0" * (1 << 20)
        for i in range(self.files):
            yield self._header(i)
            for _ in range(self.each >> 20):
                yield mib
            yield b"\0" * (self.each % (1 << 20))
        yield END

    @property
    def diff_id(self) -> str:
        return sha256(self.tar_chunks())


def tarfile_bytes(members: Iterable[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed archive written by Python's tarfile (a well-formed starting point to mutate)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()
