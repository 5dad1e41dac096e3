"""Paths inside an image's root as its overlay shows it, resolved over the unpacked layers without mounting them.

The layers are directories as gobox/imagestore/unpack.py leaves them, bottom first:
an OCI whiteout is a 0/0 character device, or a zero-size regular file with
the user.overlay.whiteout xattr in a directory marked user.overlay.opaque=x;
an opaque directory carries user.overlay.opaque=y. A name is looked up the
way overlayfs (mounted with userxattr, as the sandbox mounts it) looks it up:
the topmost layer that has it decides; a whiteout hides it; a non-directory
hides whatever is below it; directories merge down to the first opaque one
or the first layer where the name is something else. Symlinks are followed as
if the image's root were `/`: an absolute target starts again at the image's
root and `..` never climbs above it, so no path ever leads to the host's
files. More than 40 symlinks (the kernel's limit, ELOOP) means "not found".

Nothing here mounts, and nothing here follows a symlink on the host: every
layer directory on the way is checked with lstat, and the file found is
opened beneath its layer (gobox/fsroot.py) with no symlink on the way.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from gobox.errors import ConfigError
from gobox.fsroot import MAX_SYMLINKS, open_beneath

OPAQUE_XATTR = "user.overlay.opaque"
WHITEOUT_XATTR = "user.overlay.whiteout"
MAX_TEXT = 4 << 20  # bytes of an image's /etc/passwd or /etc/group gobox reads at most

# One merged directory: the layer directories that make it, top first, as (layer root, path inside it).
_Stack = tuple[tuple[str, str], ...]


def lookup(layers: Sequence[Path], path: str) -> Path | None:
    """The regular file at `path` in the root the layers (bottom first) make, in the layer that holds it; or None.

    None when the path does not exist in the image, is not a regular file
    there, or loops through more than 40 symlinks.
    """
    found = _find(layers, path)
    return None if found is None else Path(found[0]) / found[1]


def read_bytes(layers: Sequence[Path], path: str, limit: int = MAX_TEXT) -> bytes | None:
    """The content of the regular file at `path` in the image's root, or None when there is none.

    A file larger than `limit` is a ConfigError: an image's account files are
    small, and a hostile image must not make gobox read gigabytes.
    """
    found = _find(layers, path)
    if found is None:
        return None
    try:
        fd = open_beneath(found[0], found[1], os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
        raise ConfigError(f"the image's {path} is larger than {size}, more than gobox reads of it")
    return data


def read_lines(layers: Sequence[Path], path: str) -> list[str]:
    """The lines of the text file at `path` in the image's root; [] when it has none."""
    data = read_bytes(layers, path)
    return [] if data is None else data.decode(errors="replace").splitlines()


def _find(layers: Sequence[Path], path: str) -> tuple[str, str] | None:
    """(layer root, path inside it) of the regular file `path` names in the merged root, or None."""
    root: _Stack = tuple((os.fspath(layer), "") for layer in reversed(layers))
    chain = [root]  # the merged directories walked, for `..`; chain[0] is the root
    todo = _parts(path)
    hops = 0
    while todo:
        part = todo.pop()
        if part == ".":
            continue
        if part == "..":
            if len(chain) > 1:
                chain.pop()
            continue
        child = _child(chain[-1], part)
        if child is None:
            return None
        kind, where = child
        if kind == "dir":
            chain.append(where)
            continue
        top = where[0]
        if kind == "link":
            hops += 1
            if hops > MAX_SYMLINKS:
                return None
            try:
                target = os.readlink(_host(top))
            except OSError:
                return None
            if target.startswith("/"):
                del chain[1:]
            todo.extend(_parts(target))
            continue
        # A file with more to walk after it (`passwd/x`, `passwd/.`, a trailing `/`) is ENOTDIR.
        return top if kind == "file" and not todo else None
    return None  # the path names a directory


def _parts(path: str) -> list[str]:
    """The components of `path`, reversed for popping; a trailing `/` is a `.`, which only a directory has."""
    parts = [p for p in path.split("/") if p]
    if path.endswith("/") and parts:
        parts.append(".")
    return parts[::-1]


def _host(entry: tuple[str, str]) -> str:
    layer, rel = entry
    return f"{layer}/{rel}" if rel else layer


def _child(stack: _Stack, name: str) -> tuple[str, _Stack] | None:
    """What `name` is in the merged directory `stack`: ("dir", its stack), ("link" | "file" | "other",
    the one layer entry), or None when it is not there.

    The root's stack is every layer: overlayfs reads no opaque mark on a
    layer's own root (a top-level `.wh..wh..opq` hides nothing there).
    """
    dirs: list[tuple[str, str]] = []
    for layer, rel in stack:
        entry = (layer, f"{rel}/{name}" if rel else name)
        try:
            st = os.lstat(_host(entry))
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            return None  # unreadable or a name too long: the kernel fails the lookup too
        if _is_whiteout(st, entry, (layer, rel)):
            break
        if stat.S_ISDIR(st.st_mode):
            dirs.append(entry)
            if _opaque(_host(entry)) == b"y":
                break
            continue
        if dirs:
            break  # a non-directory below a directory ends the merge, and is not seen
        kind = "link" if stat.S_ISLNK(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
        return kind, (entry,)
    return ("dir", tuple(dirs)) if dirs else None


def _is_whiteout(st: os.stat_result, entry: tuple[str, str], parent: tuple[str, str]) -> bool:
    if stat.S_ISCHR(st.st_mode):
        return st.st_rdev == 0
    # overlayfs's other whiteout: an empty file with the xattr, in a directory that says it holds such files.
    if not stat.S_ISREG(st.st_mode) or st.st_size != 0:
        return False
    if _opaque(_host(parent)) != b"x":
        return False
    try:
        os.getxattr(_host(entry), WHITEOUT_XATTR, follow_symlinks=False)
    except OSError:
        return False
    return True


def _opaque(directory: str) -> bytes | None:
    try:
        return os.getxattr(directory, OPAQUE_XATTR, follow_symlinks=False)
    except OSError:
        return None
