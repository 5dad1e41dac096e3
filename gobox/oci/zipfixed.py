"""Zip files whose bytes depend on their entries alone: gobox's own zip writer over the pinned deflate.

Written here rather than by zipfile, whose ZIP_DEFLATED is the system's zlib:
its bytes differ between distributions (some ship zlib-ng as zlib), and the
sha256 of a release zip or a module zip in SHA256SUMS must not. Entries are
deflated by gobox.oci.gzipfixed's FixedDeflate. What each caller decides is a
parameter: the entries (already sorted), one DOS date and time for all, the
deflate level, and the error its refusals raise.

The fields are those zipfile wrote (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16):
version 2.0 (deflate, directories) made on unix, so readers take the high half
of the external attributes as a unix mode; names in UTF-8, flagged when not
ASCII; directories stored; no extra fields, comments or data descriptors.
There is no ZIP64: sizes and offsets past 4 GiB, or more than 65534 entries,
are refused. A release binary or a module (500 MB at most) is far from either.
"""

from __future__ import annotations

import datetime
import stat
import struct
from collections.abc import Callable, Sequence
from contextlib import closing
from typing import BinaryIO, Protocol

from gobox.oci.gzipfixed import BLOCK, FixedDeflate
from gobox.values import dataclass

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# The DOS date field starts in 1980 and has seven bits of year; anything outside is clamped, not refused, so an
# mtime of 0 (a common SOURCE_DATE_EPOCH) still gives a zip.
_DOS_MIN = int((datetime.datetime(1980, 1, 1, tzinfo=datetime.UTC) - _EPOCH).total_seconds())
_DOS_MAX = int((datetime.datetime(2107, 12, 31, 23, 59, 58, tzinfo=datetime.UTC) - _EPOCH).total_seconds())

# Sizes and offsets above this need ZIP64 records (0xFFFFFFFF itself says "see the ZIP64 field"); neither does a
# zip without them hold more entries than fit in 16 bits. Module globals, read at each call, so tests can lower them.
_ZIP32_MAX = 0xFFFFFFFE
_ZIP_MAX_ENTRIES = 0xFFFE
_VERSION = 20
_UNIX = 3
_UTF8 = 0x800  # general purpose bit 11: the name is UTF-8
_STORED, _DEFLATED = 0, 8
_DOS_DIR = 0x10  # the MS-DOS directory attribute, in the low half of the external attributes
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sBBHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_COPY = 16 * BLOCK

DateTime = tuple[int, int, int, int, int, int]  # year, month, day, hour, minute, second, as zipfile.ZipInfo has it


class Reader(Protocol):
    """A file's bytes, read once and closed by the writer."""

    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One entry: its name in the zip (a directory's ends in "/"), its permission bits, and for a file where its
    bytes come from: `open` gives a reader and how many bytes it must give, no more and no fewer."""

    name: str
    mode: int
    open: Callable[[], tuple[Reader, int]] | None = None  # None: a directory


def dos_date_time(mtime: int) -> DateTime:
    """A Unix time as a zip entry's date and time, clamped to what the DOS fields hold.

    UTC, not the local time zip readers assume, so the builder's time zone
    cannot change the bytes; seconds are rounded down to even because the
    field stores seconds / 2, and reading back should give what was written.
    """
    secs = min(max(mtime, _DOS_MIN), _DOS_MAX)
    t = _EPOCH + datetime.timedelta(seconds=secs - secs % 2)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


@dataclass(frozen=True)
class _Record:
    """What the local header and the central directory both say of one entry."""

    name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    external: int
    offset: int


def write(out: BinaryIO, entries: Sequence[Entry], date_time: DateTime, level: int,
          error: Callable[[str], Exception], noun: str) -> None:
    """Write the zip of `entries` to `out` (seekable): in the order given, dated date_time, deflated at `level`.

    A refusal is `error(message)`, the message naming the entry as
    "<noun> '<name>'". Each file is deflated straight into `out` after a
    placeholder header, written over once the CRC and sizes are known: no
    data descriptors, and each source is read once.
    """
    if len(entries) > _ZIP_MAX_ENTRIES:
        raise error(f"{len(entries)} {noun}s are more than a zip without ZIP64 holds ({_ZIP_MAX_ENTRIES})")
    y, mo, d, h, mi, sec = date_time
    dos_time, dos_date = h << 11 | mi << 5 | sec // 2, (y - 1980) << 9 | mo << 5 | d
    start = out.tell()
    records = []
    for e in entries:
        offset = out.tell() - start
        name = e.name.encode("utf-8")
        flags = 0 if e.name.isascii() else _UTF8
        if e.open is None:
            rec = _Record(name, flags, _STORED, 0, 0, 0, (stat.S_IFDIR | e.mode) << 16 | _DOS_DIR, offset)
            out.write(_local_header(rec, dos_time, dos_date))
            records.append(rec)
            continue
        src, size = e.open()
        with closing(src):
            if size > _ZIP32_MAX:  # known before compressing it; what it grows to is checked below
                raise error(_too_large(noun, e.name, size))
            out.write(bytes(_LOCAL.size + len(name)))  # the header's place, written below
            left = size
            with FixedDeflate(out, level) as z:
                # One byte more than is left, so a source longer than it said is seen, not cut short.
                while chunk := src.read(min(_COPY, left + 1)):
                    left -= len(chunk)
                    if left < 0:
                        raise error(f"{noun} {e.name!r}: larger than its declared size ({size} bytes)")
                    z.write(chunk)
            if left:
                raise error(f"{noun} {e.name!r}: shorter than its declared size ({size} bytes)")
        end = out.tell()
        rec = _Record(name, flags, _DEFLATED, z.crc, end - start - offset - _LOCAL.size - len(name), z.size,
                      (stat.S_IFREG | e.mode) << 16, offset)
        if max(rec.size, rec.compressed, offset) > _ZIP32_MAX:
            raise error(_too_large(noun, e.name, rec.size))
        out.seek(start + offset)
        out.write(_local_header(rec, dos_time, dos_date))
        out.seek(end)
        records.append(rec)
    directory = out.tell() - start
    for rec in records:
        out.write(_CENTRAL.pack(b"PK\x01\x02", _VERSION, _UNIX, _VERSION, rec.flags, rec.method, dos_time, dos_date,
                                rec.crc, rec.compressed, rec.size, len(rec.name), 0, 0, 0, 0, rec.external,
                                rec.offset))
        out.write(rec.name)
    size = out.tell() - start - directory
    if directory + size > _ZIP32_MAX:
        raise error("the zip's central directory is past the 4 GiB a zip without ZIP64 holds")
    out.write(_END.pack(b"PK\x05\x06", 0, 0, len(records), len(records), size, directory, 0))


def _too_large(noun: str, name: str, size: int) -> str:
    return f"{noun} {name!r}: {size} bytes, or where it starts in the zip, is past the 4 GiB a zip without ZIP64 holds"


def _local_header(rec: _Record, dos_time: int, dos_date: int) -> bytes:
    return _LOCAL.pack(b"PK\x03\x04", _VERSION, rec.flags, rec.method, dos_time, dos_date, rec.crc, rec.compressed,
                       rec.size, len(rec.name), 0) + rec.name
