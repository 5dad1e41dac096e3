"""Layer archives unpacked safely: extractors that write beneath their root only, and the limits on a layer.

The tar stream is read by gobox.oci.tarstream (which says why gobox has its
own reader). Extractors never follow a symlink while writing: each member's
parent directory is reached from the destination one component at a time with
O_NOFOLLOW (gobox.fsroot), holding directory descriptors, so a symlink the
archive made (`l -> /host/dir`, then `l/x`) cannot carry a write outside,
whatever it points to; the error still names the member and the link.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from gobox import fsroot
from gobox.errors import GoboxError
from gobox.oci.tarstream import (  # noqa: F401 - TarEntry and the kinds are this module's API too
    BLOCKDEV,
    CHARDEV,
    DIRECTORY,
    FIFO,
    HARDLINK,
    REGULAR,
    SYMLINK,
    Decompressed,
    TarEntry,
    UnsafeArchive,
    iter_tar,
    shown,
    size_text,
)
from gobox.values import dataclass

MAX_DEPTH = 256  # directories in one member's path; deeper trees are refused (nothing could use them)
_DIR_CACHE = 64  # directory descriptors an extractor keeps open


@dataclass(frozen=True)
class Limits:
    """How far one layer may unpack: `ratio` times its compressed size, at least `floor`, at most `size` bytes."""

    ratio: float = 100.0
    size: int = 64 << 30
    floor: int = 256 << 20  # so that a tiny layer of zeros is not taken for a bomb

    @classmethod
    def from_settings(cls, settings) -> Limits:  # noqa: ANN001 - gobox.settings.Settings (oci does not import it)
        return cls(ratio=settings.layer_ratio, size=settings.layer_size)

    def budget(self, compressed: int | None) -> int:
        """The most uncompressed bytes a layer of `compressed` bytes may give (None: size unknown)."""
        if compressed is None:
            return self.size
        return min(self.size, max(self.floor, int(self.ratio * compressed)))


DEFAULT_LIMITS = Limits()
LIMITS_HINT = ("if the image is genuine, raise limits.layer-ratio or limits.layer-size in gobox's config.toml "
               "(or GOBOX_LAYER_RATIO, GOBOX_LAYER_SIZE); nothing was kept")


@dataclass(frozen=True)
class ExtractStats:
    files: int
    bytes: int


# --- extraction -----------------------------------------------------------------------------------


def clean_member_path(name: str) -> str:
    """The relative path a member names, or UnsafeArchive for absolute paths and `..`."""
    if name.startswith("/"):
        raise UnsafeArchive(f"archive member {shown(name)} has an absolute path")
    if "\0" in name:
        raise UnsafeArchive(f"archive member {shown(name)} has a NUL byte in its name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {shown(name)} climbs out with '..'")
    if len(parts) > MAX_DEPTH:
        raise UnsafeArchive(f"archive member {shown(name[:80])}... is {len(parts)} directories deep; "
                            f"gobox allows at most {MAX_DEPTH}")
    return "/".join(parts)


_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC if hasattr(os, "O_PATH") else 0
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class _Dirs:
    """Directory descriptors beneath one root, made on demand, the last few kept open.

    Each is opened from its parent's descriptor with no symlink followed (fsroot),
    so it is the directory the tree holds, never one a symlink leads to.
    """

    def __init__(self, root: Path) -> None:
        self.root = os.open(root, _DIR)
        self._open: OrderedDict[str, int] = OrderedDict()

    def get(self, rel: str, member: str) -> int:
        """The directory `rel` (made if missing), borrowed until the next call."""
        if not rel:
            return self.root
        fd = self._open.get(rel)
        if fd is not None:
            self._open.move_to_end(rel)
            return fd
        parts = rel.split("/")
        have = len(parts) - 1
        while have and "/".join(parts[:have]) not in self._open:
            have -= 1
        fd = self._open["/".join(parts[:have])] if have else self.root
        for i in range(have, len(parts)):
            here = "/".join(parts[: i + 1])
            try:
                fd = fsroot.makedirs_beneath(fd, parts[i])
            except OSError as e:
                if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                link = stat.S_ISLNK(os.stat(parts[i], dir_fd=fd, follow_symlinks=False).st_mode)
                if link:
                    raise UnsafeArchive(f"archive member {shown(member)} would be written through a symlink "
                                        f"({shown(here)})") from None
                raise UnsafeArchive(f"archive member {shown(member)} needs {shown(here)} to be a directory, but "
                                    "an earlier member made it a file") from None
            self._keep(here, fd)
        return fd

    def find(self, rel: str) -> int | None:
        """An owned descriptor of the existing directory `rel`, reached with no symlink; None if there is none."""
        fd = self._open.get(rel) if rel else self.root
        if fd is not None:
            return os.dup(fd)
        try:
            return fsroot.open_beneath(self.root, rel, _DIR)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV):
                return None
            raise

    def _keep(self, rel: str, fd: int) -> None:
        self._open[rel] = fd
        while len(self._open) > _DIR_CACHE:
            os.close(self._open.popitem(last=False)[1])  # the oldest; never the one just made

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
        if self.root >= 0:
            os.close(self.root)
            self.root = -1


class Extractor:
    """Writes archive members under `dest`, refusing anything that could land outside it.

    A member is refused when its path is absolute or has `..`; when it would be
    written through a symlink (the walk to its parent follows none, so this holds
    for any symlink in `dest`, not only those the archive made); when it is a
    symlink whose target leaves `dest`, a hardlink to anything but a regular file
    already there, a device node or fifo; or when a file or link would replace a
    directory. A later member replaces an earlier file or link of the same name.
    setuid, setgid and sticky bits are dropped; a file is 0755 when any execute
    bit was set, else 0644. An OSError becomes one line naming the member (disk
    full says so). Use it as a context manager, or call close().
    """

    def __init__(self, dest: Path, relocate: Callable[[str], str | None]) -> None:
        self.dest = dest
        self._relocate = relocate
        self._dirs = _Dirs(dest)
        self._closer = weakref.finalize(self, self._dirs.close)
        self.files = 0
        self.bytes = 0

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _os_error(self, name: str, e: OSError) -> GoboxError:
        if e.errno in _DISK_FULL:
            return GoboxError(f"no space left under {self.dest} while unpacking archive member {shown(name)} "
                              f"({e.strerror})", hint="free some space (gobox gc removes what no image or "
                              "toolchain uses), or set GOBOX_HOME to a disk with room; nothing half-made was kept")
        if e.errno in (errno.ENAMETOOLONG, errno.EMLINK, errno.EINVAL, errno.EILSEQ):
            return UnsafeArchive(f"archive member {shown(name)} cannot be made here: {e.strerror}")
        return GoboxError(f"cannot write archive member {shown(name)} under {self.dest}: {e.strerror or e}")

    def _target(self, name: str) -> tuple[str, str, str] | None:
        """(parent, last name, relative path) of where a member goes, or None when it goes nowhere."""
        rel = clean_member_path(name)
        if not rel:
            return None
        target = self._relocate(rel)
        if target is None:
            return None
        target = clean_member_path(target)
        parent, _, base = target.rpartition("/")
        return parent, base, target

    def _make(self, name: str, what: str, make: Callable[[int, str], object]) -> str | None:
        """Run make(parent fd, last name) for a new non-directory; an earlier file or link is replaced."""
        where = self._target(name)
        if where is None:
            return None
        parent, base, rel = where
        try:
            pfd = self._dirs.get(parent, name)
            try:
                make(pfd, base)
            except FileExistsError:
                if stat.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                    raise UnsafeArchive(f"archive member {shown(name)} is {what}, but an earlier member made it a "
                                        "directory") from None
                os.unlink(base, dir_fd=pfd)
                make(pfd, base)
        except OSError as e:
            raise self._os_error(name, e) from None
        return rel

    def directory(self, name: str) -> None:
        where = self._target(name)
        if where is None:
            return
        parent, base, _ = where
        try:
            pfd = self._dirs.get(parent, name)
            try:
                os.mkdir(base, 0o755, dir_fd=pfd)
            except FileExistsError:
                if not stat.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                    os.unlink(base, dir_fd=pfd)  # a directory replaces an earlier file or link
                    os.mkdir(base, 0o755, dir_fd=pfd)
        except OSError as e:
            raise self._os_error(name, e) from None

    def regular(self, name: str, mode: int, write: Callable[[int], int]) -> None:
        """Create a file and let `write(fd)` fill it; `write` returns the byte count (write(-1) skips the data)."""
        perm = 0o755 if mode & 0o111 else 0o644
        opened: list[int] = []

        def create(pfd: int, base: str) -> None:
            opened.append(os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  perm, dir_fd=pfd))

        if self._make(name, "a file", create) is None:
            write(-1)
            return
        try:
            self.bytes += write(opened[0])
        except OSError as e:
            raise self._os_error(name, e) from None
        finally:
            os.close(opened[0])
        self.files += 1

    def _check_symlink(self, name: str, rel: str, target: str) -> None:
        if target.startswith("/"):
            raise UnsafeArchive(f"archive symlink {shown(name)} points to the absolute path {shown(target)}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(f"archive symlink {shown(name)} points outside the archive ({shown(target)})")

    def symlink(self, name: str, target: str) -> None:
        where = self._target(name)
        if where is None:
            return
        if "\0" in target:
            raise UnsafeArchive(f"archive symlink {shown(name)} has a NUL byte in its target")
        self._check_symlink(name, where[2], target)
        self._make(name, "a symlink", lambda pfd, base: os.symlink(target, base, dir_fd=pfd))

    def hardlink(self, name: str, target: str) -> None:
        if self._target(name) is None:
            return
        refused = UnsafeArchive(f"archive hardlink {shown(name)} points to {shown(target)}, which is not a file "
                                "of the archive")
        src: str | None = clean_member_path(target)
        src = self._relocate(src) if src else None
        src = clean_member_path(src) if src is not None else None
        if not src:
            raise refused
        src_parent, _, src_base = src.rpartition("/")
        try:
            sfd = self._dirs.find(src_parent)
        except OSError as e:
            raise self._os_error(name, e) from None
        if sfd is None:
            raise refused
        try:
            try:
                st = os.stat(src_base, dir_fd=sfd, follow_symlinks=False)
            except FileNotFoundError:
                raise refused from None
            if not stat.S_ISREG(st.st_mode):
                raise refused

            def link(pfd: int, base: str) -> None:
                os.link(src_base, base, src_dir_fd=sfd, dst_dir_fd=pfd, follow_symlinks=False)

            self._make(name, "a hardlink", link)
        except OSError as e:
            raise self._os_error(name, e) from None
        finally:
            os.close(sfd)
        self.files += 1

    def refuse_special(self, name: str, kind: str) -> None:
        what = {CHARDEV: "a character device", BLOCKDEV: "a block device", FIFO: "a fifo"}[kind]
        raise UnsafeArchive(f"archive member {shown(name)} is {what}")


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

    def _check_symlink(self, name: str, rel: str, target: str) -> None:
        if not target.startswith("/"):
            super()._check_symlink(name, rel, target)

    def refuse_special(self, name: str, kind: str) -> None:
        clean_member_path(name)
        self.skipped += 1

    def whiteout(self, name: str) -> None:
        rel = clean_member_path(name)
        parent, base = posixpath.split(rel)
        if base == OPAQUE:
            try:
                fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self._dirs.get(parent, name))
                try:
                    os.setxattr(fd, "user.overlay.opaque", b"y")
                finally:
                    os.close(fd)
            except OSError as e:
                raise self._os_error(name, e) from None
            return
        hidden = base[len(WHITEOUT):]
        if not hidden or hidden in (".", ".."):
            raise UnsafeArchive(f"archive whiteout {shown(name)} names nothing")

        def mknod(pfd: int, last: str) -> None:
            os.mknod(last, 0o600 | stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)

        try:
            self._make(posixpath.join(parent, hidden), "a whiteout", mknod)
        except UnsafeArchive as e:
            if "made it a directory" in e.message:
                raise UnsafeArchive(f"archive whiteout {shown(name)} hides a directory the same layer made") from None
            raise


def _compressed_size(raw: BinaryIO) -> int | None:
    try:
        st = os.fstat(raw.fileno())
    except (AttributeError, OSError, ValueError):
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return st.st_size
    getbuffer = getattr(raw, "getbuffer", None)  # io.BytesIO, in tests
    return getbuffer().nbytes if getbuffer is not None else None


def extract_layer(raw: BinaryIO, dest: Path, on_raw: Callable[[int], None] | None = None,
                  limits: Limits = DEFAULT_LIMITS) -> tuple[ExtractStats, str]:
    """An image layer under `dest`, and the sha256 of its uncompressed tar (to check against its diff_id).

    It may unpack to no more than `limits` allow for its compressed size: past
    that, reading stops with UnsafeArchive, whatever is left of the stream.
    """
    compressed = _compressed_size(raw)
    budget = limits.budget(compressed)

    def too_big(n: int) -> UnsafeArchive:
        if compressed is None or n >= limits.size:
            why = f"more than {size_text(limits.size)} (limits.layer-size)"
        else:
            why = (f"more than {size_text(n)} from {size_text(compressed)} compressed (limits.layer-ratio allows "
                   f"{limits.ratio:g} times the compressed size, and at least {size_text(limits.floor)}): a gzip bomb?")
        return UnsafeArchive(f"archive unpacks to {why}", hint=LIMITS_HINT)

    digest = hashlib.sha256()
    stream = Decompressed(raw, on_raw, digest, budget, too_big)
    try:
        with LayerExtractor(dest) as ex:
            stats = _extract_entries(stream, ex)
        stream.drain()
    finally:
        stream.close()
    return stats, "sha256:" + digest.hexdigest()


def extract_tar(
    raw: BinaryIO,
    dest: Path,
    relocate: Callable[[str], str | None] = lambda rel: rel,
    on_raw: Callable[[int], None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ExtractStats:
    """Extract a tar or tar.gz stream under `dest` through an Extractor.

    `relocate` maps each member's clean relative path to where it goes under
    dest (None skips it); `on_raw` is told how many compressed bytes were read.
    """
    stream = Decompressed(raw, on_raw, budget=limits.budget(_compressed_size(raw)))
    try:
        with Extractor(dest, relocate) as ex:
            return _extract_entries(stream, ex)
    finally:
        stream.close()


def _extract_entries(stream: Decompressed, ex: Extractor) -> ExtractStats:
    for entry in iter_tar(stream):
        if isinstance(ex, LayerExtractor) and posixpath.basename(entry.name.rstrip("/")).startswith(WHITEOUT):
            ex.whiteout(entry.name)
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
