"""Go module paths and versions after golang.org/x/mod: semver, path checks and escaping, a commit's version.

gobox's own, because no Python library knows these rules, and a consumer's `go` checks every one of them.
Each function here follows the Go function it names (golang.org/x/mod/semver and module; cmd/go's coderepo
for the version a commit gets) and is pure.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable

from gobox.values import dataclass

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
