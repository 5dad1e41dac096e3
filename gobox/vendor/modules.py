"""Go's module rules, as values: go.mod requires, go.sum's h1: hashes (dirhash Hash1 over the files a module
zip holds), and vendor/modules.txt.

Pure: every function takes file names and bytes and returns text, so they are tested without Go.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

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


def modules_txt(entries: Iterable[VendoredModule]) -> str:
    """vendor/modules.txt as `go mod vendor` writes it for a go.mod at 1.17 or later."""
    lines = []
    for e in sorted(entries, key=lambda e: e.module):
        lines.append(f"# {e.module} {e.version}")
        lines.append(f"## explicit; go {e.go}" if e.go else "## explicit")
        lines.extend(e.packages)
    return "".join(line + "\n" for line in lines)
