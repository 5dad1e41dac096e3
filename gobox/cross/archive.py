"""Release archives of cross-compiled binaries whose bytes depend only on the files put in them."""

from __future__ import annotations

import errno
import functools
import os
import stat
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from gobox.errors import GoboxError
from gobox.oci import zipfixed
from gobox.oci.gzipfixed import FixedGzip
from gobox.values import dataclass

# Parent directories implied by nested member names get this mode in both formats.
DIR_MODE = 0o755

# Both formats deflate with gobox.oci.gzipfixed's pinned zlib-ng, at this level.
ARCHIVE_LEVEL = 9  # a release is downloaded many times: its smallest


class ArchiveError(GoboxError, ValueError):
    """Members that cannot make a release archive: one gobox error line (and a ValueError, as it always was)."""


@dataclass(frozen=True)
class Member:
    """One file of an archive: its path inside, where its bytes come from, and its permission bits."""

    name: str
    source: Path
    mode: int


@dataclass(frozen=True)
class _Entry:
    name: str  # directories end in "/", as both formats spell them
    member: Member | None  # None for a directory implied by a nested name


def archive_name(dirname: str, goos: str) -> str:
    """The archive file name for a release directory: zip for windows, where tar.gz is a nuisance."""
    return dirname + (".zip" if goos == "windows" else ".tar.gz")


def write_archive(dest: Path, members: Sequence[Member], mtime: int) -> None:
    """Write whichever archive dest's name asks for (as given by archive_name)."""
    name = Path(dest).name
    if name.endswith(".zip"):
        write_zip(dest, members, mtime)
    elif name.endswith(".tar.gz"):
        write_tar_gz(dest, members, mtime)
    else:
        raise ArchiveError(f"no archive format for {name!r}: expected .zip or .tar.gz")


def write_tar_gz(dest: Path, members: Sequence[Member], mtime: int) -> None:
    """A gzip'd tar of members, sorted by name, with every entry owned by root and dated mtime."""
    entries = _entries(members)
    _write_atomically(Path(dest), lambda out: _tar_gz(out, entries, mtime))


def write_zip(dest: Path, members: Sequence[Member], mtime: int) -> None:
    """A zip of members, sorted by name, deflated at level 9 by gobox's pinned zlib-ng, with unix modes and every
    entry dated mtime."""
    entries = _entries(members)
    _write_atomically(Path(dest), lambda out: _zip(out, entries, mtime))


def _entries(members: Sequence[Member]) -> list[_Entry]:
    """Members and the directories their names imply, checked and sorted so the input order cannot matter."""
    files: dict[str, Member] = {}
    dirs: set[str] = set()
    for m in members:
        parts = m.name.split("/")
        # Names go into the archive verbatim, so anything an extractor would resolve differently, or refuse, is
        # refused here instead.
        if "\\" in m.name or "\0" in m.name or any(p in ("", ".", "..") for p in parts):
            raise ArchiveError(f"archive member name {m.name!r} is not a plain relative path")
        try:
            m.name.encode("utf-8")
        except UnicodeEncodeError:  # a surrogate, from a file name that was not UTF-8: neither format can hold it
            raise ArchiveError(f"archive member name {m.name!r} is not valid UTF-8") from None
        if m.name in files:
            raise ArchiveError(f"archive member {m.name!r} given twice")
        if not 0 <= m.mode <= 0o777:
            raise ArchiveError(f"archive member {m.name!r}: mode {m.mode:#o} is not just permission bits")
        files[m.name] = m
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(dirs & files.keys())
    if clash:
        raise ArchiveError(f"archive member {clash[0]!r} is both a file and a directory")
    entries = [_Entry(d + "/", None) for d in dirs] + [_Entry(n, m) for n, m in files.items()]
    # A directory's "d/" is a prefix of all its contents' names, so plain string order puts it before them.
    return sorted(entries, key=lambda e: e.name)


def _open_regular(member: Member) -> tuple[BinaryIO, int]:
    """The source opened for reading, and its size, taken from the open file so both describe the same file.

    A symlink is refused, not followed: a release holds the files the build
    made, and a link the build left (to /etc/shadow, say) must not carry a
    host file into it.
    """
    try:
        fd = os.open(member.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_BINARY", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ArchiveError(f"archive member {member.name!r}: {member.source} is a symlink, and release "
                               "archives hold only regular files") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArchiveError(f"archive member {member.name!r}: {member.source} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb"), st.st_size


def _tar_gz(out: BinaryIO, entries: list[_Entry], mtime: int) -> None:
    # The gzip is gobox's own (gobox.oci.gzipfixed: a pinned zlib-ng at level 9 in fixed blocks under a fixed
    # header), not the system's zlib, whose bytes differ between distributions: a release archive's sha256 in
    # SHA256SUMS is then the same wherever it is built.
    # PAX, not GNU: it is the POSIX format, every tar reads it, and Python adds an extended header only when a value
    # does not fit ustar (a long or non-ASCII name), so ordinary archives are plain ustar. The encoding is spelled
    # out because tarfile otherwise takes it from the filesystem encoding of the machine.
    with (
        FixedGzip(out, level=ARCHIVE_LEVEL) as gz,
        tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar,  # type: ignore[arg-type]  # tarfile only writes and tells
    ):
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if e.member is None:
                info.type = tarfile.DIRTYPE
                info.mode = DIR_MODE
                tar.addfile(info)
                continue
            src, info.size = _open_regular(e.member)
            with src:
                info.mode = e.member.mode
                tar.addfile(info, src)


def _zip(out: BinaryIO, entries: list[_Entry], mtime: int) -> None:
    # gobox.oci.zipfixed's writer, as for module zips: its deflate is the pinned one of the .tar.gz, not the system's
    # zlib, so a windows archive's sha256 in SHA256SUMS is the same wherever it is built.
    zipfixed.write(out, [zipfixed.Entry(e.name, DIR_MODE) if e.member is None
                         else zipfixed.Entry(e.name, e.member.mode, functools.partial(_open_regular, e.member))
                         for e in entries],
                   zipfixed.dos_date_time(mtime), ARCHIVE_LEVEL, ArchiveError, "archive member")


def _write_atomically(dest: Path, write: Callable[[BinaryIO], None]) -> None:
    """Run write into a temporary file beside dest and rename it over dest, removing the temporary file on error."""
    tmp = dest.with_name(f".{dest.name}.{os.urandom(6).hex()}.tmp")
    # os.open with 0o666 rather than mkstemp: mkstemp makes the file 0600, and the rename would carry that onto the
    # archive; this way it gets the permissions any new file gets under the caller's umask.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            # Without this a crash soon after the rename can leave dest naming a file whose blocks never reached disk.
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
