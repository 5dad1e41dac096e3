"""Go's module rules, as values: go.mod requires, go.sum's h1: hashes (dirhash Hash1 over the files a module
zip holds), and vendor/modules.txt.

Pure: every function takes file names and bytes and returns text, so they are tested without Go.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from gobox.values import dataclass

T = TypeVar("T")

VCS_DIRS = (".bzr", ".git", ".hg", ".svn")


@dataclass(frozen=True)
class Require:
    module: str
    version: str
    indirect: bool = False


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"`" else word


def parse_requires(text: str) -> tuple[Require, ...]:
    """The require directives of a go.mod, single-line and in blocks."""
    out: list[Require] = []
    block = False
    for raw in text.splitlines():
        line, _, comment = raw.partition("//")
        words = line.split()
        indirect = comment.strip().startswith("indirect")
        if block:
            if words[:1] == [")"]:
                block = False
            elif len(words) == 2:
                out.append(Require(_unquote(words[0]), words[1], indirect))
            continue
        if words[:1] == ["require"]:
            if words[1:] == ["("]:
                block = True
            elif len(words) == 3:
                out.append(Require(_unquote(words[1]), words[2], indirect))
    return tuple(out)


def has_replace(text: str) -> bool:
    """Whether a go.mod has replace directives (single-line or a block)."""
    return re.search(r"^\s*replace\b", text, re.M) is not None


def go_line(gomod: bytes | None) -> str | None:
    if gomod is None:
        return None
    m = re.search(rb"^\s*go\s+([0-9][0-9A-Za-z.]*)\s*(?://.*)?$", gomod, re.M)
    return m.group(1).decode() if m else None


def parse_gosum(text: str) -> dict[tuple[str, str], str]:
    """(module, version) -> h1 hash; version "v1.2.3/go.mod" for the go.mod line."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[2].startswith("h1:"):
            out[(words[0], words[1])] = words[2]
    return out


def hash1(digests: Iterable[tuple[str, str]]) -> str:
    """golang.org/x/mod/sumdb/dirhash.Hash1 from (name, hex sha256 of the file) pairs: sha256 over
    "<hex sha256>  <name>\\n" lines, sorted by name. The files themselves are never needed whole."""
    summary = hashlib.sha256()
    for name, digest in sorted(digests, key=lambda f: f[0]):
        if "\n" in name:
            raise ValueError(f"file name with a newline: {name!r}")
        summary.update(f"{digest}  {name}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def synthesized_gomod(module: str) -> bytes:
    """The go.mod Go assumes for a module whose tree has none."""
    return f"module {module}\n".encode()


def gomod_hash(gomod: bytes) -> str:
    """The h1: of a go.sum `/go.mod` line."""
    return hash1([("go.mod", hashlib.sha256(gomod).hexdigest())])


def in_nested_module(paths: Iterable[str]) -> set[str]:
    """The paths of a module's tree that belong to another module: below a subdirectory with its own go.mod."""
    paths = list(paths)
    nested = {posixpath.dirname(p) for p in paths if p.endswith("/go.mod")}
    return {p for p in paths if any(p.startswith(d + "/") for d in nested)}


def zip_files(files: Mapping[str, T]) -> dict[str, T]:
    """Of a module's tree (relative path -> its regular files, by content or digest), what its module zip holds:
    no files of nested modules, none below a vendor/ subdirectory, none in VCS directories."""
    others = in_nested_module(files)
    kept = {}
    for path, data in files.items():
        parts = path.split("/")
        if any(p in VCS_DIRS for p in parts[:-1]):
            continue
        if path in others:
            continue
        if _vendored(path):
            continue
        kept[path] = data
    return kept


def _vendored(name: str) -> bool:
    """x/mod/zip's isVendoredPackage: a file in a subdirectory of a vendor directory."""
    if name.startswith("vendor/"):
        rest = name[len("vendor/"):]
    elif "/vendor/" in name:
        rest = name[name.index("/vendor/") + len("/vendor/"):]
    else:
        return False
    return "/" in rest


def zip_hash(module: str, version: str, files: Mapping[str, str]) -> str:
    """The h1: of a go.sum module line for a tree (paths relative to the module root -> hex sha256)."""
    return hash1((f"{module}@{version}/{p}", d) for p, d in zip_files(files).items())


def packages(module: str, paths: Iterable[str]) -> list[str]:
    """Import paths of every directory with .go files that `go build` may use: all of them, for every
    GOOS/GOARCH and build tag, without testdata, _ and . directories or nested modules."""
    paths = list(paths)
    nested = {posixpath.dirname(p) for p in paths if p.endswith("/go.mod")}
    dirs = set()
    for p in paths:
        if not p.endswith(".go"):
            continue
        d = posixpath.dirname(p)
        parts = d.split("/") if d else []
        if any(x == "testdata" or x[:1] in "._" for x in parts):
            continue
        if any(d == n or d.startswith(n + "/") for n in nested):
            continue
        dirs.add(d)
    return sorted(module + ("/" + d if d else "") for d in dirs)


@dataclass(frozen=True)
class VendoredModule:
    module: str
    version: str
    go: str | None  # the module's own go line, if any
    packages: tuple[str, ...]
    explicit: bool = True  # required by the main module's go.mod


def modules_txt(entries: Iterable[VendoredModule], main_go: str | None) -> str:
    """vendor/modules.txt as `go mod vendor` writes it for a main module whose go line is `main_go`: from
    go 1.14, `## explicit` on what go.mod requires (which `go build -mod=vendor` checks); from go 1.17,
    each module's own go line too (`## explicit; go 1.x`, or `## go 1.x` for the others); before 1.14
    neither, and no module that gives the build no package."""
    markers = main_go is not None and version_at_least(main_go, "1.14")
    go_lines = main_go is not None and version_at_least(main_go, "1.17")
    lines = []
    for e in sorted(entries, key=lambda e: e.module):
        if not e.packages and not (markers and e.explicit):
            continue
        lines.append(f"# {e.module} {e.version}")
        meta = [x for x, on in (("explicit", markers and e.explicit), (f"go {e.go}", go_lines and e.go)) if on]
        if meta:
            lines.append("## " + "; ".join(meta))
        lines.extend(e.packages)
    return "".join(line + "\n" for line in lines)


def version_at_least(go: str, floor: str) -> bool:
    """Whether a go line (1.13, 1.21.0, 1.22rc1) is at `floor` or later, in Go's order; an unreadable one
    is not."""
    from gobox.names.versions import GoVersion, is_version

    return is_version(go) and GoVersion.parse(go) >= GoVersion.parse(floor)


# --- module versions and minimal version selection ---------------------------------------------------------

_SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")


def is_semver(version: str) -> bool:
    """A module version as go.mod writes it: v1.2.3, with an optional prerelease and +build suffix."""
    m = _SEMVER.match(version)
    if m is None:
        return False
    return (m.group(4) is None or all(p and not (p.isdigit() and len(p) > 1 and p[0] == "0")
                                   for p in m.group(4).split(".")))


def semver_key(version: str) -> tuple:
    """A sort key in semver's order (golang.org/x/mod/semver.Compare): build metadata (+incompatible) is not
    compared, a prerelease sorts before its release, its dot-separated parts numerically when they are digits
    and below any that are not. A string that is no version sorts below every version, as semver does."""
    m = _SEMVER.match(version)
    if not m or not is_semver(version):
        return (0,)
    major, minor, patch, pre = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if pre is None:
        return (1, major, minor, patch, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (1, major, minor, patch, 0, parts)


@dataclass(frozen=True)
class Summary:
    """What MVS reads of one module version's go.mod: its requirements and its go line."""

    requires: tuple[tuple[str, str], ...]
    go: str | None = None


@dataclass(frozen=True)
class Graph:
    """The module graph from the main module: the version MVS selects for each module path, and for each
    module version reached, who required it (for messages)."""

    selected: dict[str, str]
    required_by: dict[tuple[str, str], tuple[tuple[str, str], ...]]
    unread: frozenset[tuple[str, str]]  # reached, but no go.mod to read: its requirements are not known


def select(main: str, roots: Iterable[tuple[str, str]],
           summary: Callable[[str, str], Summary | None], prune: bool) -> Graph:
    """Minimal version selection (go.dev/ref/mod#minimal-version-selection): every module version reachable
    from the main module's requirements through the go.mod files `summary(path, version)` gives (None when
    there is none to read), and for each module path the highest version any of them requires.

    With `prune` (a main module at go 1.17 or later), Go's graph pruning: a module whose own go line is 1.17
    or later contributes its requirements, but theirs are read only when reached some other way; below 1.17
    a module's requirements are followed all the way down, as they were before pruning existed."""
    required_by: dict[tuple[str, str], list[tuple[str, str]]] = {}
    read: dict[tuple[str, str], Summary | None] = {}
    done: set[tuple[tuple[str, str], bool]] = set()
    todo: list[tuple[tuple[str, str], bool]] = []

    def reach(m: tuple[str, str], by: tuple[str, str], pruned: bool) -> None:
        if m[0] == main or m[1] == "none":
            return
        required_by.setdefault(m, [])
        if by not in required_by[m]:
            required_by[m].append(by)
        if (m, pruned) not in done and (m, False) not in done:
            done.add((m, pruned))
            todo.append((m, pruned))

    for r in roots:
        reach(r, (main, ""), prune)
    while todo:
        m, pruned = todo.pop()
        if m not in read:
            read[m] = summary(*m)
        s = read[m]
        if s is None:
            continue
        own_pruned = s.go is not None and version_at_least(s.go, "1.17")
        if pruned and own_pruned:
            for r in s.requires:  # counted, not followed
                if r[0] != main and r[1] != "none":
                    required_by.setdefault(r, [])
                    if m not in required_by[r]:
                        required_by[r].append(m)
            continue
        for r in s.requires:
            reach(r, m, pruned and own_pruned)
    selected: dict[str, str] = {}
    for path, version in required_by:
        if path not in selected or semver_key(version) > semver_key(selected[path]):
            selected[path] = version
    return Graph(selected, {k: tuple(v) for k, v in required_by.items()},
                 frozenset(k for k, v in read.items() if v is None))


# --- the imports a build may need ------------------------------------------------------------------------

GO_HEAD = 1 << 18  # bytes of a .go file read for its build constraints and imports; Go's own stop at the first decl
_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|[().;]|.', re.S)


def _constraint(expr: str) -> bool | None:
    """A //go:build expression as `go mod vendor` reads it (every tag both set and not, but ignore never set),
    None when it does not parse."""
    tokens = re.findall(r"&&|\|\||[!()]|[^\s!()&|]+|\S", expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def unary(prefer: bool) -> bool:
        t = peek()
        if t == "!":
            take()
            return not unary(not prefer)
        if t == "(":
            take()
            value = either(prefer)
            if take() != ")":
                raise ValueError
            return value
        if t is None or not re.fullmatch(r"[\w.]+", t):
            raise ValueError
        take()
        return prefer and t != "ignore"

    def both(prefer: bool) -> bool:
        value = unary(prefer)
        while peek() == "&&":
            take()
            value = unary(prefer) and value
        return value

    def either(prefer: bool) -> bool:
        value = both(prefer)
        while peek() == "||":
            take()
            value = both(prefer) or value
        return value

    try:
        value = either(True)
    except (ValueError, IndexError, RecursionError):
        return None
    return value if pos == len(tokens) else None


def _plus_build(line: str) -> bool:
    """A `// +build` line: words ORed, comma-separated terms ANDed, `!` negating one term."""
    return any(all(_constraint(term) for term in word.split(",")) for word in line.split())


def go_imports(source: bytes) -> tuple[str, ...] | None:
    """The import paths of a .go file (from its head: see GO_HEAD), or None when its build constraints leave it
    out of every build (//go:build ignore) or it cannot be read as Go."""
    text = source.decode("utf-8", errors="replace")
    clause = re.search(r"^package\s", text, re.M)
    header = text[:clause.start()] if clause else ""
    go_build = re.findall(r"^//go:build (.*)$", header, re.M)
    if go_build:
        if _constraint(go_build[0]) is not True:
            return None
    elif not all(_plus_build(line) for line in re.findall(r"^// \+build (.*)$", header, re.M)):
        return None
    tokens = [t for t in _TOKEN.findall(text) if t.strip() and not t.startswith(("//", "/*"))]
    if tokens[:1] != ["package"] or len(tokens) < 2:
        return None
    out: list[str] = []
    i = 2
    while i < len(tokens):
        t = tokens[i]
        if t == ";":
            i += 1
            continue
        if t != "import":
            break
        i += 1
        grouped = i < len(tokens) and tokens[i] == "("
        i += grouped
        while i < len(tokens):
            t = tokens[i]
            if grouped and t == ")":
                i += 1
                break
            if t in (";", ".", "_") or re.fullmatch(r"[A-Za-z_]\w*", t):
                i += 1
                continue
            if t[:1] in "\"`":
                out.append(t[1:-1])  # an import path holds no backslash (Go refuses one), so no escape
                i += 1
                if not grouped:
                    break
                continue
            return tuple(out)  # not Go: what was read so far
    return tuple(out)


def is_std(path: str) -> bool:
    """Whether an import path is the standard library's (or cgo's "C"): its first element has no dot."""
    return "." not in path.split("/", 1)[0]


def provider(path: str, modules: Iterable[str]) -> str | None:
    """The module of `modules` whose path is the longest prefix of the import path `path`."""
    found = [m for m in modules if path == m or path.startswith(m + "/")]
    return max(found, key=len, default=None)
