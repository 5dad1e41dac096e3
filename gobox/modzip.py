"""Go module zips as Go's proxies serve them: golang.org/x/mod/zip's file set and limits, the zip, its h1: hash.

gobox's own, because no Python library knows these rules, and a consumer's `go` checks every one of them: a
zip that breaks one is refused, and a hash that differs from Go's is a go.sum mismatch. Each function here
follows the Go function it names (golang.org/x/mod/zip, sumdb/dirhash) and is pure; only `create` writes, to
a stream it is given. The module paths and versions it checks are gobox.modversion's.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import IO, BinaryIO

from gobox.errors import GoboxError
from gobox.modversion import (
    build,
    canonical,
    file_path_problem,
    module_path_problem,
    path_major_matches,
    split_path_version,
)
from gobox.oci import zipfixed
from gobox.values import dataclass

MAX_ZIP_FILE = 500 << 20  # the zip, and the files in it together (zip.MaxZipFile)
MAX_GO_MOD = 16 << 20
MAX_LICENSE = 16 << 20
# Every entry's time: Go ignores it, and a fixed one keeps the bytes the same for the same files.
ZIP_TIME: zipfixed.DateTime = (1980, 1, 1, 0, 0, 0)
# The pinned deflate's level for the zip (gobox.oci.gzipfixed): 6, Go's own default, though Go's bytes are out of reach
# anyway (its compress/flate is another deflate). On Go module sources (x/tools, x/sys, net of go1.22.10, 0.6-7.9 MB)
# 9 saves 0-2% of the zip for 1.5-2.2x the time; 4 costs 1-4% more bytes for little gain. The h1: is unaffected.
ZIP_LEVEL = 6


class _Hashing:
    """A file's reader that hashes what the zip writer reads of it: the h1: is of the bytes written, read once."""

    def __init__(self, src: IO[bytes], digest: hashlib._Hash) -> None:
        self._src, self._digest = src, digest

    def read(self, size: int, /) -> bytes:
        data = self._src.read(size)
        self._digest.update(data)
        return data

    def close(self) -> None:
        self._src.close()


class ModuleZipError(GoboxError):
    """The module cannot be made into a zip Go accepts; the message names the file or the rule."""


# --- the file set: golang.org/x/mod/zip ----------------------------------------------------------------


@dataclass(frozen=True)
class File:
    """One file offered for the zip: its slash path from the module root, what it is, and its bytes."""

    path: str
    kind: str  # "file", "symlink" or "other"
    size: int
    open: Callable[[], IO[bytes]]


@dataclass(frozen=True)
class Checked:
    """What the zip holds and what it leaves out, as zip.CheckFiles sorts them."""

    valid: tuple[File, ...]
    omitted: tuple[tuple[str, str], ...]  # (path, why): Go leaves these out on purpose
    invalid: tuple[tuple[str, str], ...]  # (path, why): these make the module unzippable
    size_error: str | None = None

    @property
    def problem(self) -> str | None:
        if self.size_error:
            return self.size_error
        if self.invalid:
            path, why = self.invalid[0]
            more = f" (and {len(self.invalid) - 1} more)" if len(self.invalid) > 1 else ""
            return f"{path}: {why}{more}"
        return None


_GO_LINE = re.compile(rb"^\s*go\s+([0-9][^\s/]*)", re.MULTILINE)


def go_line_at_least(go_mod: bytes, minor: int) -> bool:
    """Whether go.mod's go line says 1.<minor> or later (Go reads the language version, go1.24 of 1.24.1)."""
    m = _GO_LINE.search(go_mod)
    if not m:
        return False
    lang = re.match(rb"(\d+)\.(\d+)(?:\.\d+|(?:rc|beta)\d+)?$", m.group(1))
    return lang is not None and (int(lang.group(1)), int(lang.group(2))) >= (1, minor)


def is_vendored(name: str, go124: bool) -> bool:
    """Whether a file is in a vendored package, which a module zip never holds (zip.isVendoredPackage)."""
    if go124 and name == "vendor/modules.txt":
        return True
    if name.startswith("vendor/"):
        i = len("vendor/")
    else:
        j = name.find("/vendor/")
        if j < 0:
            return False
        # Before go 1.24 Go took the offset as if "/vendor/" began the name: kept, since the hash depends on it.
        i = j + len("/vendor/") if go124 else len("/vendor/")
    return "/" in name[i:]


def _fold(s: str) -> str:
    """The name as zip.strToFold folds it: each character to the least of its simple case folds."""
    if s.isascii():
        return s.lower()
    out = []
    for c in s:
        orbit = {c, c.lower(), c.upper(), c.upper().lower(), c.lower().upper()}
        least = min(x for x in orbit if len(x) == 1)
        out.append(least.lower() if "A" <= least <= "Z" else least)
    return "".join(out)


def _clean(p: str) -> bool:
    return not p.startswith("/") and all(part not in ("", ".", "..") for part in p.split("/"))


def check_files(files: Sequence[File]) -> Checked:
    """Which files go in the zip, which are left out and which make it invalid (zip.checkFiles, in its order)."""
    go_mod = next((f for f in files if f.path == "go.mod" and f.kind == "file"), None)
    go124 = False
    if go_mod is not None and go_mod.size <= MAX_GO_MOD:
        with go_mod.open() as src:
            go124 = go_line_at_least(src.read(MAX_GO_MOD), 24)
    module_dirs = {f.path.rpartition("/")[0] for f in files
                   if f.kind == "file" and f.path.rpartition("/")[2].lower() == "go.mod" and "/" in f.path}

    def in_submodule(p: str) -> bool:
        parts = p.split("/")[:-1]
        return any("/".join(parts[:i]) in module_dirs for i in range(1, len(parts) + 1))

    valid: list[File] = []
    omitted: list[tuple[str, str]] = []
    invalid: list[tuple[str, str]] = []
    seen: set[str] = set()
    folds: dict[str, tuple[str, bool]] = {}
    budget = MAX_ZIP_FILE
    size_error = None

    def add(to: list, p: str, why: str) -> None:
        if p not in seen:
            seen.add(p)
            to.append((p, why))

    def collision(p: str, is_dir: bool) -> str | None:
        while True:
            key = _fold(p)
            other = folds.get(key)
            if other is not None:
                if other[0] != p:
                    return f"case-insensitive file name collision: {other[0]!r} and {p!r}"
                if other[1] != is_dir:
                    return f"entry {p!r} is both a file and a directory"
                if not is_dir:
                    return f"multiple entries for file {p!r}"
            else:
                folds[key] = (p, is_dir)
            parent = p.rpartition("/")[0]
            if not parent:
                return None
            p, is_dir = parent, True

    for f in files:
        p = f.path
        if not _clean(p):
            add(invalid, p, "file path is not clean" if not p.startswith("/") else "file path is not relative")
            continue
        if is_vendored(p, go124):
            add(omitted, p, "file is in vendor directory")
            continue
        if in_submodule(p):
            add(omitted, p, "file is in another module")
            continue
        if p == ".hg_archival.txt":
            add(omitted, p, "file is inserted by 'hg archive' and is always omitted")
            continue
        problem = file_path_problem(p)
        if problem:
            add(invalid, p, f"malformed file path {p!r}: {problem}")
            continue
        if p.lower() == "go.mod" and p != "go.mod":
            add(invalid, p, "go.mod files must have lowercase names")
            continue
        problem = collision(p, False)
        if problem:
            add(invalid, p, problem)
            continue
        if f.kind == "symlink":
            add(omitted, p, "file is a symbolic link")
            continue
        if f.kind != "file":
            add(omitted, p, "not a regular file")
            continue
        if 0 <= f.size <= budget:
            budget -= f.size
        elif size_error is None:
            size_error = f"module source tree too large (max size is {MAX_ZIP_FILE} bytes)"
        if p == "go.mod" and f.size > MAX_GO_MOD:
            add(invalid, p, f"go.mod file too large (max size is {MAX_GO_MOD} bytes)")
            continue
        if p == "LICENSE" and f.size > MAX_LICENSE:
            add(invalid, p, f"LICENSE file too large (max size is {MAX_LICENSE} bytes)")
            continue
        valid.append(f)
    return Checked(tuple(valid), tuple(omitted), tuple(invalid), size_error)


def _raw_name(info: zipfile.ZipInfo) -> str:
    """The member's name as Go reads it: its bytes taken as UTF-8 whatever the zip's flag says (bytes that are
    not UTF-8 come back as surrogates, which file_path_problem refuses)."""
    raw = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    return raw.decode("utf-8", "surrogateescape")


def files_in_archive(zf: zipfile.ZipFile, subdir: str, root_license: bytes | None) -> list[File]:
    """The files of `git archive --format=zip` output under subdir, as cmd/go's coderepo reads them to make a
    module zip: directories dropped, symlinks kept as such (check_files omits them), and the repository's
    LICENSE when the module is in a subdirectory without one."""
    import io
    import stat

    prefix = subdir.strip("/") + "/" if subdir.strip("/") else ""
    files: list[File] = []
    for info in zf.infolist():
        name = _raw_name(info)
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        name = name[len(prefix):]
        if not name:
            continue
        mode = info.external_attr >> 16 if info.create_system == 3 else 0
        kind = ("symlink" if stat.S_ISLNK(mode) else "file" if mode == 0 or stat.S_ISREG(mode) else "other")
        files.append(File(name, kind, info.file_size, functools.partial(zf.open, info)))
    if prefix and root_license is not None and not any(f.path == "LICENSE" for f in files):
        files.append(File("LICENSE", "file", len(root_license), lambda: io.BytesIO(root_license)))
    return files


# --- the zip and its hash: golang.org/x/mod/zip.Create and sumdb/dirhash.Hash1 --------------------------


@dataclass(frozen=True)
class Created:
    module: str
    version: str
    h1: str  # "h1:<base64>", what go.sum holds for the zip
    files: int
    size: int  # bytes of the zip


def hash1(lines: Iterable[tuple[str, str]]) -> str:
    """dirhash.Hash1 from (name, sha256 hex) of each file: sha256 over "<hex>  <name>\\n", names sorted."""
    summary = hashlib.sha256()
    for name, digest in sorted(lines):
        if "\n" in name:
            raise ModuleZipError(f"{name!r}: dirhash: filenames with newlines are not supported")
        summary.update(f"{digest}  {name}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def go_mod_hash(data: bytes) -> str:
    """The h1: of a version's go.mod, the "/go.mod" line of go.sum."""
    return hash1([("go.mod", hashlib.sha256(data).hexdigest())])


def h1_hex(h1: str) -> str:
    """The h1: hash in lowercase hex, as in-toto's dirHash digest names it."""
    return base64.b64decode(h1.removeprefix("h1:")).hex()


def create(out: BinaryIO, module: str, version: str, files: Sequence[File]) -> Created:
    """Write the module zip of `files` to `out` (seekable), entries sorted and dated ZIP_TIME, each streamed; its
    h1: is computed from the same bytes as they are written."""
    problem = module_path_problem(module)
    if problem:
        raise ModuleZipError(f"malformed module path {module!r}: {problem}")
    if canonical(version) != version or build(version):
        raise ModuleZipError(f"version {version!r} is not canonical")
    if not path_major_matches(version, split_path_version(module)[1]):
        raise ModuleZipError(f"version {version} does not match the major version of module {module}")
    checked = check_files(files)
    if checked.problem:
        raise ModuleZipError(f"{module}@{version}: {checked.problem}")
    prefix = f"{module}@{version}/"
    digests: list[tuple[str, hashlib._Hash]] = []

    def source(f: File, digest: hashlib._Hash) -> Callable[[], tuple[_Hashing, int]]:
        return lambda: (_Hashing(f.open(), digest), f.size)

    entries = []
    for f in sorted(checked.valid, key=lambda f: f.path):
        digest = hashlib.sha256()
        digests.append((prefix + f.path, digest))
        entries.append(zipfixed.Entry(prefix + f.path, 0o644, source(f, digest)))
    start = out.tell()
    zipfixed.write(out, entries, ZIP_TIME, ZIP_LEVEL, ModuleZipError, "file")
    sums = [(name, digest.hexdigest()) for name, digest in digests]
    size = out.tell() - start
    if size > MAX_ZIP_FILE:
        raise ModuleZipError(f"{module}@{version}: module zip file is too large ({size} bytes; limit is "
                             f"{MAX_ZIP_FILE} bytes)")
    return Created(module, version, hash1(sums), len(sums), size)
