"""Layer archives read safely: a streaming tar reader and an extractor that nothing can escape."""

from __future__ import annotations

import hashlib
import os
import posixpath
import queue
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gobox.errors import IntegrityError

BLOCK = 512
_CHUNK = 1 << 20

REGULAR, HARDLINK, SYMLINK, CHARDEV, BLOCKDEV, DIRECTORY, FIFO = "0", "1", "2", "3", "4", "5", "6"
_KINDS = {"\0": REGULAR, "0": REGULAR, "7": REGULAR, "1": HARDLINK, "2": SYMLINK,
          "3": CHARDEV, "4": BLOCKDEV, "5": DIRECTORY, "6": FIFO}


class UnsafeArchive(IntegrityError):
    """An archive member that would escape its destination or is not allowed."""


@dataclass(frozen=True)
class TarEntry:
    name: str
    kind: str
    size: int
    mode: int
    linkname: str
    mtime: int


@dataclass(frozen=True)
class ExtractStats:
    files: int
    bytes: int


class _Decompressed:
    """Buffered reads of the decompressed bytes of a gzip (or plain) stream.

    Decompression runs in a thread: zlib releases the GIL, so it overlaps
    with the file creation of the extracting thread, as `tar xzf` overlaps
    with its gzip child.
    """

    def __init__(self, raw: BinaryIO, on_raw: Callable[[int], None] | None = None,
                 digest: hashlib._Hash | None = None) -> None:
        self._digest = digest  # fed every decompressed byte: an image layer's diff_id
        self._buf = bytearray()
        self._pos = 0
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
        self._done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(raw, on_raw), name="gobox-gunzip", daemon=True
        )
        self._thread.start()

    def _produce(self, raw: BinaryIO, on_raw: Callable[[int], None] | None) -> None:
        try:
            for data in _decompress(raw, on_raw):
                if self._stop.is_set():
                    return
                if self._digest is not None:
                    self._digest.update(data)
                self._queue.put(data)
            self._queue.put(None)
        except BaseException as e:  # handed to the reading thread, which raises it
            self._queue.put(e)

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
        while len(self._buf) - self._pos < n and self._fill():
            pass
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += len(out)
        return out

    def drain(self) -> None:
        """Read to the end: the padding after a tar's end marker belongs to its digest too."""
        while self._fill():
            self._pos = len(self._buf)

    def copy_to(self, fd: int | None, n: int) -> None:
        """Move exactly n bytes to fd (or drop them when fd is None)."""
        while n:
            if self._pos >= len(self._buf) and not self._fill():
                raise IntegrityError("archive is truncated (a member's data ends early)")
            take = min(n, len(self._buf) - self._pos)
            if fd is not None:
                with memoryview(self._buf) as whole:
                    done = 0
                    while done < take:
                        with whole[self._pos + done : self._pos + take] as part:
                            done += os.write(fd, part)
            self._pos += take
            n -= take


def _decompress(raw: BinaryIO, on_raw: Callable[[int], None] | None) -> Iterator[bytes]:
    """Decompressed chunks of a gzip stream, or the raw chunks of an uncompressed one."""
    head = raw.read(2)
    z = zlib.decompressobj(wbits=31) if head == b"\x1f\x8b" else None
    chunk = head
    while chunk:
        if on_raw:
            on_raw(len(chunk))
        if z is None:
            yield chunk
        else:
            data = z.decompress(chunk)
            # Concatenated gzip members are one stream (gzip(1) accepts them).
            while z.eof and z.unused_data:
                rest = z.unused_data
                z = zlib.decompressobj(wbits=31)
                data += z.decompress(rest)
            if data:
                yield data
        chunk = raw.read(_CHUNK)
    if z is not None and not z.eof:
        raise IntegrityError("archive is truncated (gzip stream ends early)")


def _number(field: bytes) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for values that do not fit in octal
        return int.from_bytes(field, "big") & ~(0x80 << (8 * (len(field) - 1)))
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise IntegrityError("archive is corrupt (a tar header number is not octal)") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode()] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def iter_tar(stream: _Decompressed) -> Iterator[TarEntry]:
    """Entries of a tar stream. The caller must consume each entry's data with
    `stream.copy_to(fd_or_None, entry.size)` before asking for the next."""
    pax: dict[str, str] = {}
    long_name = long_link = None
    while True:
        header = stream.read(BLOCK)
        if len(header) < BLOCK:
            if header:
                raise IntegrityError("archive is truncated (partial tar header)")
            return
        if header == b"\0" * BLOCK:
            return
        stored = _number(header[148:156])
        if stored != sum(header[:148]) + 8 * 32 + sum(header[156:]):
            raise IntegrityError("archive is corrupt (tar header checksum mismatch)")
        flag = chr(header[156])
        size = _number(header[124:136])
        padded = -size % BLOCK
        if flag in "xgLK":
            body = stream.read(size)
            stream.copy_to(None, padded)
            if flag == "x":
                pax.update(_pax(body))
            elif flag == "L":
                long_name = _text(body)
            elif flag == "K":
                long_link = _text(body)
            continue  # 'g' (global pax) carries nothing gobox uses
        name = _text(header[0:100])
        if header[257:263] == b"ustar\0" and header[345:500].strip(b"\0"):
            name = _text(header[345:500]) + "/" + name
        name = pax.get("path", long_name or name)
        linkname = pax.get("linkpath", long_link or _text(header[157:257]))
        if "size" in pax:
            size = int(pax["size"])
            padded = -size % BLOCK
        kind = _KINDS.get(flag)
        if kind is None:
            raise UnsafeArchive(f"archive member {name!r} has unsupported tar type {flag!r}")
        yield TarEntry(name, kind, size if kind == REGULAR else 0,
                       _number(header[100:108]), linkname, _number(header[136:148]))
        if kind != REGULAR:
            stream.copy_to(None, size)
        stream.copy_to(None, padded)
        pax, long_name, long_link = {}, None, None


def clean_member_path(name: str) -> str:
    """The relative path a member names, or UnsafeArchive for absolute paths and `..`."""
    if name.startswith("/"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} climbs out with '..'")
    return "/".join(parts)


class Extractor:
    """Writes archive members under `dest`, refusing anything that could land outside it.

    A member is refused when its path is absolute or has `..`; when it would be
    written through a symlink the archive made; when it is a symlink whose
    target leaves `dest`, a hardlink to anything but a regular file already
    written, or a device node or fifo. setuid, setgid and sticky bits are
    dropped; a file is 0755 when any execute bit was set, else 0644.
    """

    def __init__(self, dest: Path, relocate: Callable[[str], str | None]) -> None:
        self.dest = dest
        self._root = os.fspath(dest) + "/"  # str joins: pathlib costs more than the syscalls here
        self._relocate = relocate
        self._dirs: set[str] = {""}
        self._symlinks: set[str] = set()
        self._files: set[str] = set()
        self.files = 0
        self.bytes = 0

    def _place(self, name: str) -> str | None:
        rel = clean_member_path(name)
        if not rel:
            return None
        target = self._relocate(rel)
        if target is None:
            return None
        parts = target.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self._symlinks:
                raise UnsafeArchive(f"archive member {name!r} would be written through a symlink")
        self._mkdirs(posixpath.dirname(target))
        if target in self._dirs:
            return target
        if target in self._symlinks or target in self._files:
            os.unlink(self._root + target)
            self._symlinks.discard(target)
            self._files.discard(target)
        return target

    def _mkdirs(self, rel: str) -> None:
        if rel in self._dirs:
            return
        self._mkdirs(posixpath.dirname(rel))
        if rel in self._symlinks or rel in self._files:
            raise UnsafeArchive(f"archive member {rel!r} is a directory and also a file or link")
        os.mkdir(self._root + rel, 0o755)
        self._dirs.add(rel)

    def directory(self, name: str) -> None:
        rel = self._place(name)
        if rel is not None:
            self._mkdirs(rel)

    def regular(self, name: str, mode: int, write: Callable[[int], int]) -> None:
        """Create a file and let `write(fd)` fill it; `write` returns the byte count."""
        rel = self._place(name)
        perm = 0o755 if mode & 0o111 else 0o644
        if rel is None:
            write(-1)
            return
        fd = os.open(self._root + rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, perm)
        try:
            self.bytes += write(fd)
        finally:
            os.close(fd)
        self._files.add(rel)
        self.files += 1

    def symlink(self, name: str, target: str) -> None:
        rel = self._place(name)
        if rel is None:
            return
        if target.startswith("/"):
            raise UnsafeArchive(f"archive symlink {name!r} points to the absolute path {target!r}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(f"archive symlink {name!r} points outside the archive ({target!r})")
        os.symlink(target, self._root + rel)
        self._symlinks.add(rel)

    def hardlink(self, name: str, target: str) -> None:
        rel = self._place(name)
        if rel is None:
            return
        src = self._relocate(clean_member_path(target))
        if src is None or src not in self._files:
            raise UnsafeArchive(
                f"archive hardlink {name!r} points to {target!r}, which is not a file of the archive"
            )
        os.link(self._root + src, self._root + rel, follow_symlinks=False)
        self._files.add(rel)
        self.files += 1

    def refuse_special(self, name: str, kind: str) -> None:
        what = {CHARDEV: "a character device", BLOCKDEV: "a block device", FIFO: "a fifo"}[kind]
        raise UnsafeArchive(f"archive member {name!r} is {what}")


WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class LayerExtractor(Extractor):
    """An image layer: Extractor's rules, plus what a root filesystem needs.

    Absolute symlinks are kept (they resolve inside the sandbox's root, and
    nothing here follows them); device nodes and fifos are skipped (a build
    root needs none, and rootless gobox could not make them); OCI whiteouts
    become overlayfs ones: `.wh.NAME` a 0/0 character device (any user may
    make one since Linux 5.8), `.wh..wh..opq` the user.overlay.opaque xattr,
    which the sandbox's userxattr overlay reads.
    """

    def __init__(self, dest: Path) -> None:
        super().__init__(dest, lambda rel: rel)
        self.skipped = 0

    def symlink(self, name: str, target: str) -> None:
        if not target.startswith("/"):
            return super().symlink(name, target)
        rel = self._place(name)
        if rel is not None:
            os.symlink(target, self._root + rel)
            self._symlinks.add(rel)

    def refuse_special(self, name: str, kind: str) -> None:
        clean_member_path(name)
        self.skipped += 1

    def whiteout(self, name: str) -> None:
        rel = clean_member_path(name)
        parent, base = posixpath.split(rel)
        if base == OPAQUE:
            self._mkdirs(parent)
            os.setxattr(self._root + parent if parent else self._root, "user.overlay.opaque", b"y")
            return
        hidden = posixpath.join(parent, base[len(WHITEOUT):])
        if not base[len(WHITEOUT):] or base[len(WHITEOUT):] in (".", ".."):
            raise UnsafeArchive(f"archive whiteout {name!r} names nothing")
        rel = self._place(hidden)
        if rel is None:
            return
        if rel in self._dirs:
            raise UnsafeArchive(f"archive whiteout {name!r} hides a directory the same layer made")
        os.mknod(self._root + rel, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
        self._files.discard(rel)


def extract_layer(raw: BinaryIO, dest: Path, on_raw: Callable[[int], None] | None = None
                  ) -> tuple[ExtractStats, str]:
    """An image layer under `dest`, and the sha256 of its uncompressed tar (to check against its diff_id)."""
    digest = hashlib.sha256()
    stream = _Decompressed(raw, on_raw, digest)
    try:
        stats = _extract_entries(stream, LayerExtractor(dest))
        stream.drain()
    finally:
        stream.close()
    return stats, "sha256:" + digest.hexdigest()


def extract_tar(
    raw: BinaryIO,
    dest: Path,
    relocate: Callable[[str], str | None] = lambda rel: rel,
    on_raw: Callable[[int], None] | None = None,
) -> ExtractStats:
    """Extract a tar or tar.gz stream under `dest` through an Extractor.

    `relocate` maps each member's clean relative path to where it goes under
    dest (None skips it); `on_raw` is told how many compressed bytes were read.
    """
    stream = _Decompressed(raw, on_raw)
    try:
        return _extract_entries(stream, Extractor(dest, relocate))
    finally:
        stream.close()


def _extract_entries(stream: _Decompressed, ex: Extractor) -> ExtractStats:
    layer = isinstance(ex, LayerExtractor)
    for entry in iter_tar(stream):
        if layer and posixpath.basename(entry.name.rstrip("/")).startswith(WHITEOUT):
            ex.whiteout(entry.name)
            if entry.kind == REGULAR:
                stream.copy_to(None, entry.size)
        elif entry.kind == REGULAR:
            def write(fd: int, size: int = entry.size) -> int:
                stream.copy_to(fd if fd >= 0 else None, size)
                return size

            ex.regular(entry.name, entry.mode, write)
        elif entry.kind == DIRECTORY:
            ex.directory(entry.name)
        elif entry.kind == SYMLINK:
            ex.symlink(entry.name, entry.linkname)
        elif entry.kind == HARDLINK:
            ex.hardlink(entry.name, entry.linkname)
        else:
            ex.refuse_special(entry.name, entry.kind)
    return ExtractStats(ex.files, ex.bytes)
