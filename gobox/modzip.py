"""Go module zips as Go's proxies serve them: golang.org/x/mod's versions, paths, file set, limits and h1: hash.

gobox's own, because no Python library knows these rules, and a consumer's `go` checks every one of them: a
zip that breaks one is refused, and a hash that differs from Go's is a go.sum mismatch. Each function here
follows the Go function it names (golang.org/x/mod/semver, module, zip, sumdb/dirhash; cmd/go's coderepo for
the version a commit gets) and is pure; only `create` writes, to a stream it is given.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from gobox.errors import GoboxError

MAX_ZIP_FILE = 500 << 20  # the zip, and the files in it together (zip.MaxZipFile)
MAX_GO_MOD = 16 << 20
MAX_LICENSE = 16 << 20
# Every entry's time: Go ignores it, and a fixed one keeps the bytes the same for the same files.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 16


class ModuleZipError(GoboxError):
    """The module cannot be made into a zip Go accepts; the message names the file or the rule."""


# --- semver: golang.org/x/mod/semver ------------------------------------------------------------------


@dataclass(frozen=True)
class _Semver:
    major: str
    minor: str
    patch: str
    short: str  # what Canonical appends to "v1" or "v1.2"
    prerelease: str  # with its "-"
    build: str  # with its "+"


def _int(v: str) -> tuple[str, str] | None:
    i = 0
    while i < len(v) and "0" <= v[i] <= "9":
        i += 1
    if i == 0 or (v[0] == "0" and i != 1):
        return None
    return v[:i], v[i:]


_IDENT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def _bad_num(v: str) -> bool:
    return v.isascii() and v.isdigit() and len(v) > 1 and v[0] == "0"


def _idents(v: str, numbers: bool) -> bool:
    """A dot-separated list of identifiers (after the - or +), each non-empty; prerelease numbers without a
    leading zero."""
    parts = v.split(".")
    return all(p and set(p) <= _IDENT and not (numbers and _bad_num(p)) for p in parts)


def _parse(v: str) -> _Semver | None:
    if not v.startswith("v"):
        return None
    got = _int(v[1:])
    if got is None:
        return None
    major, rest = got
    if not rest:
        return _Semver(major, "0", "0", ".0.0", "", "")
    if rest[0] != ".":
        return None
    got = _int(rest[1:])
    if got is None:
        return None
    minor, rest = got
    if not rest:
        return _Semver(major, minor, "0", ".0", "", "")
    if rest[0] != ".":
        return None
    got = _int(rest[1:])
    if got is None:
        return None
    patch, rest = got
    prerelease = build = ""
    if rest.startswith("-"):
        end = rest.find("+")
        prerelease, rest = (rest, "") if end < 0 else (rest[:end], rest[end:])
        if not _idents(prerelease[1:], numbers=True):
            return None
    if rest.startswith("+"):
        build, rest = rest, ""
        if not _idents(build[1:], numbers=False):
            return None
    if rest:
        return None
    return _Semver(major, minor, patch, "", prerelease, build)


def is_valid(v: str) -> bool:
    return _parse(v) is not None


def canonical(v: str) -> str:
    """vMAJOR.MINOR.PATCH[-PRERELEASE], without build metadata; "" when v is not a version."""
    p = _parse(v)
    if p is None:
        return ""
    if p.build:
        return v[:len(v) - len(p.build)]
    return v + p.short


def major(v: str) -> str:
    p = _parse(v)
    return "" if p is None else "v" + p.major


def prerelease(v: str) -> str:
    p = _parse(v)
    return "" if p is None else p.prerelease


def build(v: str) -> str:
    p = _parse(v)
    return "" if p is None else p.build


def _cmp_int(x: str, y: str) -> int:
    if x == y:
        return 0
    return -1 if (len(x), x) < (len(y), y) else 1


def _cmp_prerelease(x: str, y: str) -> int:
    if x == y:
        return 0
    if not x:
        return 1
    if not y:
        return -1
    xs, ys = x[1:].split("."), y[1:].split(".")
    for dx, dy in zip(xs, ys, strict=False):
        if dx == dy:
            continue
        nx, ny = dx.isascii() and dx.isdigit(), dy.isascii() and dy.isdigit()
        if nx != ny:
            return -1 if nx else 1
        if nx:
            return _cmp_int(dx, dy)
        return -1 if dx < dy else 1
    return -1 if len(xs) < len(ys) else 1


def compare(v: str, w: str) -> int:
    """-1, 0 or 1; an invalid version is below every valid one, and equal to another invalid one."""
    pv, pw = _parse(v), _parse(w)
    if pv is None or pw is None:
        return 0 if pv is pw else (-1 if pv is None else 1)
    for a, b in ((pv.major, pw.major), (pv.minor, pw.minor), (pv.patch, pw.patch)):
        c = _cmp_int(a, b)
        if c:
            return c
    return _cmp_prerelease(pv.prerelease, pw.prerelease)


# --- module paths: golang.org/x/mod/module ------------------------------------------------------------

_BAD_WINDOWS = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                          *(f"LPT{i}" for i in range(1, 10))})
_FILE_PUNCT = frozenset("!#$%&()+,-.=@[]^_{}~ ")
_MOD_PUNCT = frozenset("-._~")


def _ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _file_char(c: str) -> bool:
    if c < "\x80":
        return _ascii_alnum(c) or c in _FILE_PUNCT
    return c.isalpha()


def _mod_char(c: str) -> bool:
    return c < "\x80" and (_ascii_alnum(c) or c in _MOD_PUNCT)


def _elem_problem(elem: str, file: bool) -> str | None:
    if not elem:
        return "empty path element"
    if elem.count(".") == len(elem):
        return f"invalid path element {elem!r}"
    if elem[0] == "." and not file:
        return "leading dot in path element"
    if elem[-1] == ".":
        return "trailing dot in path element"
    for c in elem:
        if not (_file_char(c) if file else _mod_char(c)):
            return f"invalid char {c!r}"
    short = elem.split(".", 1)[0]
    if short.upper() in _BAD_WINDOWS:
        return f"{short!r} disallowed as path element component on Windows"
    if not file:
        tilde = short.rfind("~")
        if 0 <= tilde < len(short) - 1 and short[tilde + 1:].isascii() and short[tilde + 1:].isdigit():
            return "trailing tilde and digits in path element"
    return None


def _valid_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate: bytes that were not UTF-8
        return False
    return True


def _path_problem(path: str, file: bool) -> str | None:
    if not _valid_utf8(path):
        return "invalid UTF-8"
    if not path:
        return "empty string"
    if path[0] == "-" and not file:
        return "leading dash"
    if "//" in path:
        return "double slash"
    if path[-1] == "/":
        return "trailing slash"
    for elem in path.split("/"):
        problem = _elem_problem(elem, file)
        if problem:
            return problem
    return None


def file_path_problem(path: str) -> str | None:
    """Why `path` cannot name a file in a module zip (module.CheckFilePath), or None."""
    return _path_problem(path, file=True)


def module_path_problem(path: str) -> str | None:
    """Why `path` is not a module path Go can fetch (module.CheckPath), or None."""
    problem = _path_problem(path, file=False)
    if problem:
        return problem
    first = path.split("/", 1)[0]
    if "." not in first:
        return "missing dot in first path element"
    for c in first:
        if not (c in "-." or c.isascii() and (c.isdigit() or c.islower())):
            return f"invalid char {c!r} in first path element"
    if not split_path_version(path)[2]:
        return "invalid version"
    return None


def split_path_version(path: str) -> tuple[str, str, bool]:
    """(prefix, major suffix, ok): example.com/m/v2 is ("example.com/m", "/v2", True); gopkg.in's ".v2" too."""
    if path.startswith("gopkg.in/"):
        return _split_gopkg_in(path)
    i, dot = len(path), False
    while i > 0 and (path[i - 1].isdigit() and path[i - 1].isascii() or path[i - 1] == "."):
        dot = dot or path[i - 1] == "."
        i -= 1
    if i <= 1 or i == len(path) or path[i - 1] != "v" or path[i - 2] != "/":
        return path, "", True
    prefix, suffix = path[:i - 2], path[i - 2:]
    if dot or len(suffix) <= 2 or suffix[2] == "0" or suffix == "/v1":
        return path, "", False
    return prefix, suffix, True


def _split_gopkg_in(path: str) -> tuple[str, str, bool]:
    i = len(path) - (len("-unstable") if path.endswith("-unstable") else 0)
    while i > 0 and path[i - 1].isascii() and path[i - 1].isdigit():
        i -= 1
    if i <= 1 or path[i - 1] != "v" or path[i - 2] != ".":
        return path, "", False
    prefix, suffix = path[:i - 2], path[i - 2:]
    if len(suffix) <= 2 or suffix[2] == "0" and suffix != ".v0":
        return path, "", False
    return prefix, suffix, True


def path_major_matches(v: str, path_major: str) -> bool:
    """Whether version v may be a version of a module whose path ends in `path_major` (module.CheckPathMajor)."""
    if path_major.startswith(".v") and path_major.endswith("-unstable"):
        path_major = path_major[:-len("-unstable")]
    if v.startswith("v0.0.0-") and path_major == ".v1":
        return True
    m = major(v)
    if not path_major:
        return m in ("v0", "v1") or build(v) == "+incompatible"
    return m == path_major[1:]


def path_major_prefix(path_major: str) -> str:
    """The major version pseudo-versions of a module with this path suffix start with: "/v2" is "v2"."""
    if path_major.startswith(".v") and path_major.endswith("-unstable"):
        path_major = path_major[:-len("-unstable")]
    return path_major[1:]


def _escape(s: str) -> str:
    # Upper case becomes '!' and lower case, so that the names stay apart on case-insensitive file systems.
    return "".join("!" + c.lower() if "A" <= c <= "Z" else c for c in s)


def escape_path(path: str) -> str:
    """The module path as proxies and the module cache spell it on disk (module.EscapePath)."""
    problem = module_path_problem(path)
    if problem:
        raise ValueError(f"malformed module path {path!r}: {problem}")
    return _escape(path)


def escape_version(v: str) -> str:
    if "!" in v or _elem_problem(v, file=True):
        raise ValueError(f"disallowed version string {v!r}")
    return _escape(v)


# --- the version of a commit: cmd/go's coderepo and module.PseudoVersion --------------------------------

_PSEUDO = re.compile(r"v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+"
                     r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?", re.ASCII)


def is_pseudo_version(v: str) -> bool:
    return v.count("-") >= 2 and is_valid(v) and _PSEUDO.fullmatch(v) is not None


def _inc_decimal(decimal: str) -> str:
    return str(int(decimal) + 1)  # a semver number has no leading zero, so this is exact


def pseudo_version(major_prefix: str, older: str, epoch: int, rev: str) -> str:
    """vX.0.0-yyyymmddhhmmss-abcdefabcdef with no tag before it; vX.Y.(Z+1)-0.<time>-<rev> after vX.Y.Z;
    vX.Y.Z-pre.0.<time>-<rev> after vX.Y.Z-pre."""
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y%m%d%H%M%S")
    segment = f"{stamp}-{rev}"
    meta = build(older)
    older = canonical(older)
    if not older:
        return f"{major_prefix or 'v0'}.0.0-{segment}"
    if prerelease(older):
        return f"{older}.0.{segment}{meta}"
    head, _, patch = older.rpartition(".")
    return f"{head}.{_inc_decimal(patch)}-0.{segment}{meta}"


def tag_prefix(module_path: str, subdir: str) -> str:
    """The prefix of the module's tags in its repository: "" at the root, "sub/" for a module in sub/ (whose tags
    are sub/v1.2.3). A module in a major subdirectory (example.com/m/v2 in v2/) takes the tags of its parent."""
    _, path_major, _ = split_path_version(module_path)
    code_dir = subdir.strip("/")
    if path_major.startswith("/") and (code_dir == path_major[1:] or code_dir.endswith(path_major)):
        code_dir = code_dir[:-len(path_major[1:])].rstrip("/")
    return code_dir + "/" if code_dir else ""


def commit_version(module_path: str, prefix: str, tags_at: Iterable[str], tags_merged: Iterable[str],
                   epoch: int, commit: str) -> str:
    """The version Go gives the commit: its highest canonical tag for this module, else a pseudo-version above
    the highest tag in its history (cmd/go's codeRepo.convert, for a module with a go.mod, retractions aside)."""
    _, path_major, _ = split_path_version(module_path)

    def version_of(tag: str) -> tuple[str, bool]:
        if not tag.startswith(prefix) or is_pseudo_version(tag):
            return "", False
        trimmed = tag[len(prefix):]
        v = canonical(trimmed)
        if not v or not trimmed.startswith(v) or not path_major_matches(v, path_major):
            return "", False
        return v, v == trimmed

    best = ""
    for tag in tags_at:
        v, exact = version_of(tag)
        if exact and compare(best, v) < 0:
            best = v
    if best:
        return best
    merged = list(tags_merged)

    def highest(allowed: str) -> str:
        top = ""
        for tag in merged:
            if not tag.startswith(prefix):
                continue
            sem = tag[len(prefix):]
            c = canonical(sem)
            if c and sem.startswith(c) and major(sem) == allowed and compare(sem, top) > 0:
                top = sem
        return prefix + top if top else ""

    pseudo_major = path_major_prefix(path_major)
    tag = highest(pseudo_major) if pseudo_major else (highest("v1") or highest("v0"))
    base = version_of(tag)[0] if tag else ""
    return pseudo_version(pseudo_major, base, epoch, commit[:12])


# --- the file set: golang.org/x/mod/zip ----------------------------------------------------------------


@dataclass(frozen=True)
class File:
    """One file offered for the zip: its slash path from the module root, what it is, and its bytes."""

    path: str
    kind: str  # "file", "symlink" or "other"
    size: int
    open: Callable[[], BinaryIO]


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
        files.append(File(name, kind, info.file_size, lambda info=info: zf.open(info)))
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
    sums: list[tuple[str, str]] = []
    start = out.tell()
    with zipfile.ZipFile(out, mode="w") as zf:
        for f in sorted(checked.valid, key=lambda f: f.path):
            info = zipfile.ZipInfo(prefix + f.path, date_time=ZIP_TIME)
            info.create_system = 3  # unix: the high half of external_attr is a mode
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = f.size
            digest = hashlib.sha256()
            left = f.size
            with f.open() as src, zf.open(info, "w") as dst:
                while chunk := src.read(min(_CHUNK, left + 1)):
                    left -= len(chunk)
                    if left < 0:
                        raise ModuleZipError(f"{f.path}: larger than its declared size ({f.size} bytes)")
                    digest.update(chunk)
                    dst.write(chunk)
            if left:
                raise ModuleZipError(f"{f.path}: shorter than its declared size ({f.size} bytes)")
            sums.append((info.filename, digest.hexdigest()))
    size = out.tell() - start
    if size > MAX_ZIP_FILE:
        raise ModuleZipError(f"{module}@{version}: module zip file is too large ({size} bytes; limit is "
                             f"{MAX_ZIP_FILE} bytes)")
    return Created(module, version, hash1(sums), len(sums), size)
