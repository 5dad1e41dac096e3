"""gobox's own deflate, whose bytes depend on its input alone: the pinned zlib-ng, fed in 64 KiB blocks.

FixedDeflate writes the raw deflate stream (zip entries, gobox.oci.zipfixed);
FixedGzip puts it in a gzip member with a fixed header (image layers at
level 4, release .tar.gz at 9).

A layer's compressed bytes are its digest, and the image's. The system's zlib
(what `gzip` uses) varies between machines: distributions now ship zlib-ng in
its place, whose output differs from zlib's, and zlib-ng's own output has
changed between its releases. So gobox carries its own deflate, the zlib-ng
that the `zlib-ng` wheel bundles, pinned to one version in pyproject.toml:
that version's output was found the same on every CPU feature path it
dispatches to (SSE2 only, SSE4.2, AVX2, AVX-512, aarch64). Two more things are
fixed here rather than left to the caller:

- the blocks: some levels' output depends on how the input was split between
  calls, so the compressor is always given exactly BLOCK bytes (the last block
  short), whatever sizes the caller writes;
- the member's header and trailer, written here around a raw deflate stream:
  no name, MTIME 0, XFL 0, OS 255 (unknown), then CRC-32 and length, which
  any implementation computes alike.

Upgrading the pin changes every layer's digest: treat it as such (the golden
digest in tests/unit/test_gzipfixed.py says when it happens).
"""

from __future__ import annotations

import struct
from typing import Protocol, Self

from zlib_ng import zlib_ng

LEVEL = 4  # zlib-ng's level 4: about 3x faster than zlib's default 6, for 2% more bytes on a Go binary
BLOCK = 64 * 1024
# magic, CM deflate, FLG none, MTIME 0, XFL 0, OS 255 (unknown): the same on every machine.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


class Sink(Protocol):
    """Where the compressed bytes go."""

    def write(self, data: bytes, /) -> int: ...


class FixedDeflate:
    """A write-only stream: the raw deflate stream of everything written, into `out`, finished by close().

    Only whole blocks reach the compressor; a partial one waits in `_pending`.
    The CRC-32 and length of what was written are kept, as gzip and zip both
    record them.
    """

    def __init__(self, out: Sink, level: int = LEVEL) -> None:
        self._out = out
        self._z = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15)  # raw deflate: any header is the caller's
        self._pending = bytearray()
        self._crc = 0
        self._size = 0
        self._closed = False

    @property
    def crc(self) -> int:
        """CRC-32 of the bytes written so far."""
        return self._crc

    @property
    def size(self) -> int:
        """How many bytes were written so far (uncompressed), unbounded."""
        return self._size

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        if self._closed:
            raise ValueError(f"write to a closed {type(self).__name__}")
        view = memoryview(data).cast("B")
        n = len(view)
        self._crc = zlib_ng.crc32(view, self._crc)
        self._size += n
        at = 0
        if self._pending:
            at = min(BLOCK - len(self._pending), n)
            self._pending += view[:at]
            if len(self._pending) < BLOCK:
                return n
            self._deflate(self._pending)
            self._pending = bytearray()
        whole = at + (n - at) // BLOCK * BLOCK
        for start in range(at, whole, BLOCK):  # straight from the caller's buffer, no copy
            self._deflate(view[start:start + BLOCK])
        self._pending += view[whole:]
        return n

    def _deflate(self, block: bytes | bytearray | memoryview) -> None:
        out = self._z.compress(block)
        if out:
            self._out.write(out)

    def tell(self) -> int:
        """Bytes written so far, uncompressed (as gzip.GzipFile says; tarfile asks when it starts)."""
        return self._size

    def flush(self) -> None:
        """Nothing to do: a flush that reached the compressor would change the bytes, so it waits for close()."""

    def close(self) -> None:
        """Compress what is left and end the stream (and whatever _trailer adds); the sink stays open."""
        if self._closed:
            return
        self._closed = True
        if self._pending:
            self._deflate(self._pending)
            self._pending = bytearray()
        self._out.write(self._z.flush() + self._trailer())

    def _trailer(self) -> bytes:
        return b""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:  # after a failed write the stream is not finished: the caller drops it
            self.close()


class FixedGzip(FixedDeflate):
    """One gzip member of everything written: HEADER, FixedDeflate's stream, then CRC-32 and length."""

    def __init__(self, out: Sink, level: int = LEVEL) -> None:
        out.write(HEADER)
        super().__init__(out, level)

    def _trailer(self) -> bytes:
        return struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)


def compress(data: bytes) -> bytes:
    """`data` as one gzip member, the bytes FixedGzip writes."""
    import io

    out = io.BytesIO()
    with FixedGzip(out) as gz:
        gz.write(data)
    return out.getvalue()
