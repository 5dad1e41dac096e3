"""go list's answer, kept while nothing it reads changes: the key, the sources' fingerprint, the entry format.

What go list says of a build's packages (which are commands, which libraries, which no command imports) is a
function of its argv, its directory, the environment go reads (every GO* and CGO_* variable), the toolchain,
what the sandbox shows it, and the project's Go sources. The sources are fingerprinted as git's index does it,
by stat alone: (path, size, mtime, ctime, inode) of every file go list reads. A tool that keeps mtimes
(cp -p, rsync -t, touch -r) still changes the ctime, and a replaced file has a new inode, so any edit changes
the fingerprint. Not fingerprinted: what other mounts ([sandbox].mounts, --mount) hold, which only a local
replace directive or a pattern naming a mounted path would show go list.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable

from gobox.values import dataclass

FORMAT = 1  # of the entry, and a part of the key: a gobox that writes another format never reads this one
# Besides *.go: the files that decide which module, workspace and dependency versions a package comes from.
MODULE_FILES = frozenset({"go.mod", "go.sum", "go.work", "go.work.sum"})
GO_ENV = ("GO", "CGO_")  # the prefixes of every variable go itself reads
# Flags that make go read files the fingerprint does not cover: a listing made with them is never kept.
UNCOVERED_FLAGS = ("modfile", "overlay")
ENTRY_LIMIT = 1 << 20  # bytes of an entry read; a larger file is none gobox wrote
# A file changed this shortly before the walk could change again within the same tick of the kernel's coarse
# clock and keep every stat field (git's "racily clean" entries): a listing whose sources are that fresh is not
# kept. Two seconds where the filesystem keeps whole seconds only (FAT, some network filesystems).
RACY_NS = 20_000_000  # five ticks of a 250 Hz kernel, two of a 100 Hz one
RACY_WHOLE_SECONDS_NS = 2_000_000_000

# One file as the fingerprint sees it: path relative to the root, size, mtime_ns, ctime_ns, inode.
Row = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class Entry:
    """One kept listing: the key it answers, the fingerprint of the sources it was made from, and go list's
    answer: commands, libraries, and the libraries no command imports (import paths)."""

    key: str
    sources: str
    commands: tuple[str, ...]
    libraries: tuple[str, ...]
    uncovered: tuple[str, ...]


def key(root: str, cwd: str, argv: Iterable[str], env: Iterable[tuple[str, str]], layers: Iterable[str],
        binds: Iterable[tuple[str, str, bool]]) -> str:
    """The canonical text of everything but the sources that decides go list's answer (pure): the project's
    root, the directory go runs in, its argv, the GO* and CGO_* variables of its environment (sorted), the
    layers of its root (the toolchain's first) and what is bound in."""
    go_env = sorted([k, v] for k, v in env if k.startswith(GO_ENV))
    return json.dumps([FORMAT, root, cwd, list(argv), go_env, list(layers), [list(b) for b in binds]],
                      separators=(",", ":"))


def cacheable(argv: Iterable[str], env: Iterable[tuple[str, str]]) -> bool:
    """Whether the fingerprint covers every file go list reads (pure): not with -modfile or -overlay, on the
    command line or in GOFLAGS, which name files anywhere."""
    words = [*argv, *(w for k, v in env if k == "GOFLAGS" for w in v.split())]
    return not any(w.lstrip("-").split("=")[0] in UNCOVERED_FLAGS for w in words if w.startswith("-"))


def entry_name(key_text: str) -> str:
    """The file an entry for this key is kept in, named by a checksum of the key: two keys that share a name
    only take turns in one file, as the entry holds its key and is read only for that key."""
    return _checksum(key_text) + ".json"


def walk(root: str) -> list[Row]:
    """Every file go list reads of the tree at `root`, stat'ed: each *.go file and each MODULE_FILES file, in
    the directories `./...` matches (not those named testdata or starting with "." or "_", not vendor/ but
    its modules.txt; directory symlinks not followed, as go does not), sorted by path. A file that cannot be
    stat'ed (a dangling symlink) is a row of -1s."""
    rows: list[Row] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            it = os.scandir(os.path.join(root, rel) if rel else root)
        except OSError:
            rows.append((rel + "/", -1, -1, -1, -1))  # unreadable now, perhaps readable later
            continue
        with it:
            for e in it:
                name = e.name
                path = rel + "/" + name if rel else name
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    if name == "vendor":
                        rows.append(_row(path + "/modules.txt", os.path.join(e.path, "modules.txt")))
                    elif name[0] not in "._" and name != "testdata":
                        stack.append(path)
                elif (name.endswith(".go") and name[0] not in "._") or name in MODULE_FILES:
                    rows.append(_row(path, e))
    rows.sort()
    return rows


def _row(path: str, entry: os.DirEntry[str] | str) -> Row:
    try:
        st = entry.stat() if isinstance(entry, os.DirEntry) else os.stat(entry)
    except OSError:
        return (path, -1, -1, -1, -1)
    return (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def fingerprint(rows: list[Row]) -> str:
    """The checksum of the rows (pure): equal rows, equal checksum; any field of any row changed, another,
    short of a chance collision of two unrelated 32-bit checksums at once (CRC-32 and Adler-32)."""
    # NUL ends each field: it is in no path, and each row has five.
    text = "".join(f"{path}\0{size}\0{mtime}\0{ctime}\0{inode}\0" for path, size, mtime, ctime, inode in rows)
    return f"{len(rows)}-{_checksum(text)}"


def _checksum(text: str) -> str:
    # zlib, not hashlib: gobox's start-up already has zlib, and hashlib's OpenSSL would add ~2.5 ms to every
    # build. No security rests on it: whoever can make the sources collide can edit the sources.
    data = text.encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def racy(rows: Iterable[Row], started_ns: int) -> bool:
    """Whether a file changed so shortly before the walk began (at `started_ns`, wall clock) that a later
    change could leave its row as it is (pure)."""
    for _, _, mtime, ctime, _ in rows:
        newest = max(mtime, ctime)
        if newest > started_ns - (RACY_WHOLE_SECONDS_NS if newest % 1_000_000_000 == 0 else RACY_NS):
            return True
    return False


def encode(entry: Entry) -> bytes:
    return json.dumps({"format": FORMAT, "key": entry.key, "sources": entry.sources,
                       "commands": list(entry.commands), "libraries": list(entry.libraries),
                       "uncovered": list(entry.uncovered)}, separators=(",", ":")).encode()


def decode(data: bytes) -> Entry | None:
    """The entry in `data`, or None for anything else: a file of another format, truncated, garbage (pure)."""
    if len(data) > ENTRY_LIMIT:
        return None
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(obj, dict) or type(obj.get("format")) is not int or obj["format"] != FORMAT:
        return None
    key_text, sources = obj.get("key"), obj.get("sources")
    commands, libraries, uncovered = (_strings(obj.get(name)) for name in ("commands", "libraries", "uncovered"))
    if not isinstance(key_text, str) or not isinstance(sources, str) or None in (commands, libraries, uncovered):
        return None
    return Entry(key_text, sources, commands or (), libraries or (), uncovered or ())


def _strings(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        return None
    return tuple(value)
