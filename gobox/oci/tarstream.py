"""A hardened, streaming tar reader: every header checked, every size bounded, no input able to make it spin.

The reader is gobox's own rather than Python's tarfile, because tarfile cannot
be made to keep gobox's promises from the outside:

- It reads a GNU long name or a pax header whole before anything can look at
  its size (`_proc_gnulong`, `_proc_pax`: `fileobj.read(self.size)`): a header
  that claims 6 GiB is allocated, not refused. Here every such size is checked
  against MAX_META before one byte of it is read.
- Each GNU long-name or pax header recurses once (`fromtarfile` calls itself),
  so a chain of two thousand of them ends in RecursionError; here it is a loop.
- It accepts what gobox must refuse: a pax `size` of -1536 (the member comes out
  with a negative size), a pax record with no space or with a key that is not
  UTF-8 (silently dropped), and it raises a dozen exception types depending on
  the Python version (ReadError, StreamError, ValueError, UnicodeError...).
- In stream mode (the only mode for a decompressor that cannot seek) it still
  keeps every member's TarInfo in `members`, so memory grows with the count.

What this reader does instead: it pulls blocks from a gzip stream that is
decompressed in a thread while the same bytes are hashed (the layer's diff_id),
in pieces of at most 1 MiB, and stops as soon as the stream has unpacked to more
than its budget (gobox.oci.layer.Limits): a gzip bomb ends early, not after
filling the disk.
Every header is checked: the checksum, each number (octal digits only, or
base-256), sizes non-negative, names and link names at most MAX_META, pax
records well-formed (a length of at least 5 that fits, one space, key=value, a
UTF-8 key, no NUL in a path). Each loop consumes at least one 512-byte block or
one pax record of positive length, so no input can make it spin. Anything
malformed is one IntegrityError (or UnsafeArchive) naming what and where.
tests/unit/test_tar_fuzz.py holds it to that with Hypothesis.

Where Go's archive/tar (what registries and containerd use) reads an archive a
certain way, this reader does the same, so gobox cannot see other files in an
image than docker does: a GNU long name wins over a pax path, and links,
directories, devices and fifos carry no data whatever their size field says.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from gobox.errors import GoboxError, IntegrityError
from gobox.values import dataclass

BLOCK = 512
_CHUNK = 1 << 20  # bytes read from the compressed file, and most bytes one decompression step yields
MAX_META = 1 << 20  # a GNU long name or link, or one pax header: longer ones are refused unread
_MAX_NUMBER = (1 << 63) - 1  # Go's archive/tar limit: sizes and times are int64

REGULAR, HARDLINK, SYMLINK, CHARDEV, BLOCKDEV, DIRECTORY, FIFO = "0", "1", "2", "3", "4", "5", "6"
_KINDS = {"\0": REGULAR, "0": REGULAR, "7": REGULAR, "1": HARDLINK, "2": SYMLINK,
          "3": CHARDEV, "4": BLOCKDEV, "5": DIRECTORY, "6": FIFO}
_META = {"x", "g", "L", "K"}  # pax extended and global headers, GNU long name and long link
_OCTAL = re.compile(rb"[0-7]+")


class UnsafeArchive(IntegrityError):
    """An archive member that would escape its destination or is not allowed."""


@dataclass(frozen=True)
class TarEntry:
    """One member as its headers describe it, GNU long names and pax records applied."""

    name: str
    kind: str
    size: int
    mode: int
    linkname: str
    mtime: int


def shown(name: str) -> str:
    """A name for a message: quoted, and cut short, since a hostile one may be a megabyte long."""
    return repr(name) if len(name) <= 200 else repr(name[:200]) + "..."


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


class Decompressed:
    """Buffered reads of the decompressed bytes of a gzip (or plain) stream, at most `budget` of them.

    Decompression runs in a thread: zlib releases the GIL, so it overlaps
    with the file creation of the extracting thread, as `tar xzf` overlaps
    with its gzip child.
    """

    def __init__(self, raw: BinaryIO, on_raw: Callable[[int], None] | None = None,
                 digest: hashlib._Hash | None = None, budget: int | None = None,
                 too_big: Callable[[int], GoboxError] | None = None) -> None:
        self._digest = digest  # fed every decompressed byte: an image layer's diff_id
        self._budget = budget
        self._too_big = too_big or (lambda n: UnsafeArchive(f"archive unpacks to more than {size_text(n)}"))
        self._buf = bytearray()
        self._pos = 0
        self.consumed = 0  # decompressed bytes handed to the reader
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
        self._done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(raw, on_raw), name="gobox-gunzip", daemon=True
        )
        self._thread.start()

    def _produce(self, raw: BinaryIO, on_raw: Callable[[int], None] | None) -> None:
        produced = 0
        try:
            for data in _decompress(raw, on_raw):
                if self._stop.is_set():
                    return
                produced += len(data)
                if self._budget is not None and produced > self._budget:
                    raise self._too_big(self._budget)  # before the bytes are used: a bomb stops here
                if self._digest is not None:
                    self._digest.update(data)
                self._queue.put(data)
            self._queue.put(None)
        except zlib.error as e:
            self._queue.put(IntegrityError(f"archive is corrupt (gzip: {e})"))
        except OSError as e:
            self._queue.put(GoboxError(f"cannot read the archive: {e.strerror or e}"))
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread, which raises it
            self._queue.put(e)

    def over_budget(self) -> GoboxError:
        """The error for a stream that would unpack past its budget."""
        return self._too_big(self._budget or 0)

    def left(self) -> int | None:
        """How many more bytes the reader may take before the budget is spent (None: no budget)."""
        return None if self._budget is None else self._budget - self.consumed

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def _fill(self) -> bool:
        if self._done:
            return False
        item = self._queue.get()
        if item is None:
            self._done = True
            return False
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += item
        return True

    def read(self, n: int) -> bytes:
        """Up to n bytes (fewer only at the end of the stream); n is bounded by the caller."""
        while len(self._buf) - self._pos < n and self._fill():
            pass
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += len(out)
        self.consumed += len(out)
        return out

    def drain(self) -> None:
        """Read to the end: the padding after a tar's end marker belongs to its digest too."""
        while self._fill():
            self.consumed += len(self._buf) - self._pos
            self._pos = len(self._buf)

    def copy_to(self, fd: int | None, n: int) -> None:
        """Move exactly n bytes to fd (or drop them when fd is None)."""
        if n < 0:
            raise ValueError(f"copy_to of {n} bytes")  # iter_tar never asks for that; a bug, not an input
        while n:
            if self._pos >= len(self._buf) and not self._fill():
                raise IntegrityError("archive is truncated (a member's data ends early)")
            take = min(n, len(self._buf) - self._pos)
            if fd is not None:
                with memoryview(self._buf) as whole:
                    done = 0
                    while done < take:
                        with whole[self._pos + done : self._pos + take] as part:
                            wrote = os.write(fd, part)
                        if wrote <= 0:
                            raise OSError(errno.EIO, "write wrote nothing")
                        done += wrote
            self._pos += take
            self.consumed += take
            n -= take


def _chunks(raw: BinaryIO, first: bytes, on_raw: Callable[[int], None] | None) -> Iterator[bytes]:
    chunk = first
    while chunk:
        if on_raw:
            on_raw(len(chunk))
        yield chunk
        chunk = raw.read(_CHUNK)


def _decompress(raw: BinaryIO, on_raw: Callable[[int], None] | None) -> Iterator[bytes]:
    """Decompressed pieces (at most _CHUNK each) of a gzip stream, or the raw chunks of an uncompressed one."""
    head = raw.read(2)
    chunks = _chunks(raw, head, on_raw)
    if head == b"\x1f\x8b":
        yield from _gunzip(chunks)
    else:
        yield from chunks


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The bytes of one gzip stream: its members one after the other (as gzip(1) reads them), zeros after it ignored.

    Each decompression step yields at most _CHUNK bytes (max_length): one MiB
    of a bomb would otherwise be a GiB in memory before anyone could count it.
    """
    z = zlib.decompressobj(wbits=31)
    padding = False  # zeros after the last member, which gzip(1) skips too
    for chunk in chunks:
        data = chunk
        while data:
            if padding or z.eof:
                if not data.strip(b"\0"):
                    padding = True
                    break
                if padding:
                    raise IntegrityError("archive is corrupt (bytes after the end of the gzip stream)")
                z = zlib.decompressobj(wbits=31)  # the next member
            before = len(data)
            out = z.decompress(data, _CHUNK)
            if out:
                yield out
            data = z.unused_data if z.eof else z.unconsumed_tail
            # Output cut at max_length with all input taken: zlib may still hold more of it.
            while len(out) == _CHUNK and not data and not z.eof:
                out = z.decompress(b"", _CHUNK)
                if out:
                    yield out
                data = z.unused_data if z.eof else z.unconsumed_tail
            if not out and len(data) == before and not z.eof:
                raise IntegrityError("archive is corrupt (gzip stream makes no progress)")
    if not z.eof:
        raise IntegrityError("archive is truncated (gzip stream ends early)")


# --- headers --------------------------------------------------------------------------------------


def _corrupt(offset: int, what: str) -> IntegrityError:
    return IntegrityError(f"archive is corrupt: {what} (tar header at byte {offset})")


def _number(field: bytes, what: str, offset: int) -> int:
    """A numeric header field: octal digits between optional spaces and NULs, or GNU/star base-256."""
    if field[0] & 0x80:
        if field[0] & 0x40:  # negative, two's complement
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.strip(b" \0")
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise _corrupt(offset, f"its {what} field {bytes(field)!r} is not an octal number")
    return int(text, 8)


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _checksum_ok(header: bytes, stored: int) -> bool:
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if stored == unsigned:
        return True
    # Some old tars summed signed chars; tarfile and Go accept either.
    signed = unsigned - 256 * sum(1 for b in header[:148] + header[156:] if b & 0x80)
    return stored == signed


def parse_pax(data: bytes, offset: int = 0) -> dict[str, str]:
    """The records of a pax extended header: `LEN key=value\\n`, where LEN counts the whole record.

    Keys are UTF-8; values are kept as the bytes they are (surrogateescape), as
    path names on Linux are. Anything else is an IntegrityError: a record that
    does not parse is never skipped, so no two readers can disagree about it.
    """
    out: dict[str, str] = {}
    pos, end = 0, len(data)
    count = 0
    while pos < end:
        count += 1
        where = f"pax record {count}"
        space = data.find(b" ", pos, min(end, pos + 21))  # 20 digits are more than any size
        if space < 0:
            raise _corrupt(offset, f"{where} has no space after its length")
        digits = data[pos:space]
        if not digits.isdigit():  # ASCII digits only: no sign, no spaces, no underscores
            raise _corrupt(offset, f"{where} has the length {digits[:20]!r}, not a decimal number")
        length = int(digits)
        if length < 5 or length > end - pos:  # "5 k=\n" is the shortest record there is
            raise _corrupt(offset, f"{where} has the length {length}, which does not fit the header's "
                                   f"{end - pos} remaining bytes")
        record = data[space + 1 : pos + length]
        if not record.endswith(b"\n"):
            raise _corrupt(offset, f"{where} does not end with a newline where its length says")
        key, eq, value = record[:-1].partition(b"=")
        if not eq or not key:
            raise _corrupt(offset, f"{where} is not key=value")
        if b"\0" in key:
            raise _corrupt(offset, f"{where} has a NUL in its key")
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError:
            raise _corrupt(offset, f"{where} has a key that is not UTF-8 ({key[:40]!r})") from None
        out[name] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


_PAX_USED = ("path", "linkpath", "size")


def _pax_entry(pax: dict[str, str], offset: int) -> dict[str, str]:
    """The records of one pax header that gobox uses, checked; the rest are not kept (memory stays bounded)."""
    for key in pax:
        if key.startswith("GNU.sparse."):
            raise UnsafeArchive(f"archive has a sparse file (pax {key}), which gobox does not unpack "
                                f"(tar header at byte {offset})")
    used = {k: pax[k] for k in _PAX_USED if k in pax}
    for k in ("path", "linkpath"):
        if "\0" in used.get(k, ""):
            raise _corrupt(offset, f"its pax {k} holds a NUL byte")
    if "size" in used:
        size = used["size"]
        if not (size.isascii() and size.isdigit()) or len(size) > 19 or int(size) > _MAX_NUMBER:
            raise _corrupt(offset, f"its pax size {size[:40]!r} is not a size in bytes")
    return used


def iter_tar(stream: Decompressed) -> Iterator[TarEntry]:
    """Entries of a tar stream. The caller must consume each entry's data with
    `stream.copy_to(fd_or_None, entry.size)` before asking for the next."""
    pax: dict[str, str] = {}
    long_name = long_link = None
    offset = 0
    while True:
        offset = stream.consumed
        header = stream.read(BLOCK)
        if len(header) < BLOCK:
            if header:
                raise IntegrityError(f"archive is truncated (a partial tar header at byte {offset})")
            return
        if header == b"\0" * BLOCK:
            # The end: two zero blocks, or one and the end of the stream (as Go's archive/tar reads it).
            if stream.read(BLOCK).strip(b"\0"):
                raise _corrupt(offset + BLOCK, "a zero block is followed by something other than a zero block")
            return
        if not _checksum_ok(header, _number(header[148:156], "checksum", offset)):
            raise _corrupt(offset, "its checksum does not match")
        flag = chr(header[156])
        size = _number(header[124:136], "size", offset)
        if size < 0 or size > _MAX_NUMBER:
            raise _corrupt(offset, f"its size field says {size}")
        mode = _number(header[100:108], "mode", offset)
        mtime = _number(header[136:148], "mtime", offset)
        for what, field in (("uid", header[108:116]), ("gid", header[116:124])):
            _number(field, what, offset)
        ustar = header[257:263] == b"ustar\0"
        if ustar or header[257:265] == b"ustar  \0":  # POSIX or GNU: device numbers are there
            _number(header[329:337], "devmajor", offset)
            _number(header[337:345], "devminor", offset)
        if flag in _META:
            if size > MAX_META:
                kinds = {"x": "pax header", "g": "global pax header", "L": "GNU long name", "K": "GNU long link"}
                raise UnsafeArchive(f"archive has a {kinds[flag]} of {size_text(size)}; gobox allows at most "
                                    f"{size_text(MAX_META)} (tar header at byte {offset})")
            body = stream.read(size)
            if len(body) < size:
                raise IntegrityError(f"archive is truncated (in the extended header at byte {offset})")
            stream.copy_to(None, -size % BLOCK)
            if flag == "x":
                pax.update(_pax_entry(parse_pax(body, offset), offset))
            elif flag == "g":
                parse_pax(body, offset)  # checked; its values are not applied, as Go's archive/tar does
            elif flag == "L":
                long_name = _text(body)
            else:
                long_link = _text(body)
            continue
        name = _text(header[0:100])
        if ustar and header[345:500].strip(b"\0"):
            name = _text(header[345:500]) + "/" + name
        name = long_name if long_name is not None else pax.get("path", name)
        linkname = long_link if long_link is not None else pax.get("linkpath", _text(header[157:257]))
        if "size" in pax:
            size = int(pax["size"])
        if flag == "\0" and name.endswith("/"):
            flag = DIRECTORY  # an old-style (V7) directory, as tarfile and Go read it
        kind = _KINDS.get(flag)
        if kind is None:
            raise UnsafeArchive(f"archive member {shown(name)} has unsupported tar type {flag!r}")
        if kind != REGULAR:
            size = 0  # links, directories, devices and fifos have no data, whatever the field says (as in Go)
        left = stream.left()
        if left is not None and size > left:
            raise stream.over_budget()
        yield TarEntry(name, kind, size, mode, linkname, mtime)
        stream.copy_to(None, -size % BLOCK)
        pax, long_name, long_link = {}, None, None
