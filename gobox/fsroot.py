"""Paths resolved inside a directory as if it were `/`, and trees written beneath a root without leaving it.

Two policies, after the kernel's openat2(2) and filepath-securejoin:

- *in root* (RESOLVE_IN_ROOT): symlinks are followed, but an absolute target
  or a `..` starts again from (or stops at) the root, never the host's `/`.
  For paths inside an image's root: its `/etc -> /some/dir` means the
  image's /some/dir.
- *beneath* (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): no symlink and no `..`
  on the way at all. For materialising trees (layers, vendored
  dependencies, archives): a symlink the tree itself holds can never carry
  a later write outside.

openat2 is used where the kernel has it (5.6+); elsewhere, and to make
missing directories, a walk one component at a time with O_NOFOLLOW gives
the same answers. Nothing here races with a hostile writer of the same tree
between our calls: each step holds a directory descriptor, not a path.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys

# <linux/openat2.h>
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
_SYS_OPENAT2 = 437  # the same number on every architecture (a syscall added after the unification)
MAX_SYMLINKS = 40  # as the kernel's path walk (ELOOP after this many)
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC if hasattr(os, "O_PATH") else 0


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_openat2_state: list[bool] = []  # [] unknown, [True] usable, [False] not in this kernel


def _openat2(dirfd: int, path: str, flags: int, mode: int, resolve: int) -> int | None:
    """openat2(2), or None when this kernel (or a seccomp filter around us) does not have it."""
    if _openat2_state == [False] or not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, resolve)
    fd = libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), os.fsencode(path),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd >= 0:
        _openat2_state[:] = [True]
        return fd
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM) and not _openat2_state:
        _openat2_state[:] = [False]
        return None
    if err == errno.EAGAIN:  # the kernel saw a rename race; the walk answers the same without one
        return None
    raise OSError(err, os.strerror(err), path)


def _parts(path: str) -> list[str]:
    """The components of `path`, reversed, for popping; an absolute path is relative to the root."""
    return [p for p in reversed(path.split("/")) if p not in ("", ".")]


def _walk(rootfd: int, path: str, *, follow: bool, create: bool, beneath: bool) -> tuple[int, str]:
    """Resolve all but the last component of `path` inside the root: (parent directory fd, last name).

    The caller owns the returned fd. `follow` resolves a symlink in the last
    component too; `create` makes missing directories (0o755) on the way;
    `beneath` refuses any symlink or `..` instead of resolving it in the root.
    A last component of "" means the path names the root itself.
    """
    todo = _parts(path)
    chain = [os.dup(rootfd)]  # the directories walked, for `..`; chain[0] is the root
    hops = 0
    try:
        while todo:
            part = todo.pop()
            if part == "..":
                if beneath:
                    raise OSError(errno.EXDEV, "path leaves its root", path)
                if len(chain) > 1:
                    os.close(chain.pop())
                continue
            last = not todo
            try:
                st = os.stat(part, dir_fd=chain[-1], follow_symlinks=False)
            except FileNotFoundError:
                if last or not create:
                    if last:
                        return chain.pop(), part
                    raise
                try:
                    os.mkdir(part, 0o755, dir_fd=chain[-1])
                except FileExistsError:
                    pass  # made since our stat: look again
                todo.append(part)
                continue
            if stat.S_ISLNK(st.st_mode) and (follow or not last):
                if beneath:
                    raise OSError(errno.ELOOP, "a symlink on the way", path)
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(part, dir_fd=chain[-1])
                if target.startswith("/"):
                    for fd in chain[1:]:
                        os.close(fd)
                    del chain[1:]
                todo.extend(_parts(target))
                continue
            if last:
                return chain.pop(), part
            if not stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            chain.append(os.open(part, _DIR | os.O_NOFOLLOW, dir_fd=chain[-1]))
        return chain.pop(), ""
    finally:
        for fd in chain:
            os.close(fd)


def _open_root(root: str | int) -> tuple[int, bool]:
    if isinstance(root, int):
        return root, False
    return os.open(root, _DIR), True


def open_in_root(root: str | int, path: str, flags: int, mode: int = 0o644) -> int:
    """Open `path` as a process whose `/` is `root` would; symlinks never lead out of it.

    `flags` are os.open's (O_NOFOLLOW applies to the last component, as usual).
    """
    rootfd, mine = _open_root(root)
    try:
        fd = _openat2(rootfd, path, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        if fd is not None:
            return fd
        parent, name = _walk(rootfd, path, follow=not flags & os.O_NOFOLLOW, create=False, beneath=False)
        try:
            return os.open(name or ".", flags | os.O_CLOEXEC | (os.O_NOFOLLOW if name else 0), mode,
                           dir_fd=parent)
        finally:
            os.close(parent)
    finally:
        if mine:
            os.close(rootfd)


def makedirs_in_root(root: str | int, path: str) -> int:
    """The directory `path` inside `root`, made with its missing parents (0o755); an O_PATH fd of it.

    Symlinks on the way are followed inside the root, so a mount point an
    image placed behind a symlink is made where the image's root has it.
    """
    rootfd, mine = _open_root(root)
    try:
        parent, name = _walk(rootfd, path, follow=True, create=True, beneath=False)
        try:
            return _mkdir_open(parent, name)
        finally:
            os.close(parent)
    finally:
        if mine:
            os.close(rootfd)


def makedirs_beneath(root: str | int, path: str, mode: int = 0o755) -> int:
    """The directory `path` beneath `root`, made with its missing parents; an O_PATH fd of it.

    Any symlink or `..` on the way is an OSError (ELOOP, EXDEV, ENOTDIR): the
    tree being written can hold symlinks, but none is ever written through.
    """
    rootfd, mine = _open_root(root)
    try:
        parent, name = _walk(rootfd, path, follow=False, create=True, beneath=True)
        try:
            return _mkdir_open(parent, name, mode)
        finally:
            os.close(parent)
    finally:
        if mine:
            os.close(rootfd)


def open_beneath(root: str | int, path: str, flags: int, mode: int = 0o644) -> int:
    """Open `path` beneath `root` with no symlink followed anywhere on the way, nor at the end."""
    rootfd, mine = _open_root(root)
    try:
        fd = _openat2(rootfd, path, flags | os.O_NOFOLLOW, mode, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
        if fd is not None:
            return fd
        parent, name = _walk(rootfd, path, follow=False, create=False, beneath=True)
        try:
            return os.open(name or ".", flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
        finally:
            os.close(parent)
    finally:
        if mine:
            os.close(rootfd)


def parent_beneath(root: str | int, path: str, create: bool = True) -> tuple[int, str]:
    """(fd of the directory that holds `path`, its last name), beneath `root` with no symlink on the way.

    For making the last component with the *at calls (mknodat, symlinkat,
    linkat, renameat); the caller closes the fd.
    """
    rootfd, mine = _open_root(root)
    try:
        head, _, name = path.strip("/").rpartition("/")
        if not name or name in (".", ".."):
            raise OSError(errno.EINVAL, "names no entry", path)
        if not head:
            return os.dup(rootfd), name
        return makedirs_beneath(rootfd, head) if create else open_beneath(rootfd, head, _DIR), name
    finally:
        if mine:
            os.close(rootfd)


def _mkdir_open(parent: int, name: str, mode: int = 0o755) -> int:
    if not name:
        return os.open(".", _DIR, dir_fd=parent)
    try:
        os.mkdir(name, mode, dir_fd=parent)
    except FileExistsError:
        pass
    return os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=parent)


def fd_path(fd: int) -> str:
    """Where an open file is, as the kernel names it: a path with no symlink in it."""
    return os.readlink(f"/proc/self/fd/{fd}")


def resolve_in_root(root: str, path: str, make_parents: bool = False) -> str:
    """The host path where `path` inside `root` is, symlinks followed inside the root.

    The last component need not exist (a mount point still to be made); with
    `make_parents` its missing parents are made. For mount targets, in a setup
    where nothing else writes the tree meanwhile.
    """
    rootfd = os.open(root, _DIR)
    try:
        parent, name = _walk(rootfd, path, follow=True, create=make_parents, beneath=False)
        try:
            where = fd_path(parent)
            return f"{where.rstrip('/')}/{name}" if name else where
        finally:
            os.close(parent)
    finally:
        os.close(rootfd)
