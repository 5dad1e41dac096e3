"""The module graph a vendored module project builds from, as Go computes it: minimal version selection over
the main go.mod and the go.mod of each pinned dependency, then what the build's imports need of it.

Go reads old go.mod files (before go 1.17) as listing only direct requirements: the rest of the graph comes
from the dependencies' own go.mod files. So a module go.mod never names may still need vendoring, at the
version the graph selects, and [vendor.deps] may pin it without any edit to go.mod. What the graph needs and
gobox.toml does not pin, or pins at another version, is found all at once and reported in one error.

Each pinned module's requirements are read from the go.mod of its pinned revision, for whichever version of it
the graph reaches; modules that are not pinned add no requirements of their own (gobox has no module proxy to
read their go.mod files from). Pure but for `main_imports`, which reads the project's own .go files.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from gobox.deps import modules
from gobox.deps.fetch import Entry
from gobox.values import dataclass

_HOSTED = re.compile(r"^(github\.com|gitlab\.com|bitbucket\.org|codeberg\.org)/[^/]+/[^/]+")
_PSEUDO = re.compile(r"-(?:0\.)?(?:\d{14})-([0-9a-f]{12})$")


@dataclass(frozen=True)
class Pinned:
    """A [vendor.deps] module as the graph sees it: the version it declares (its `version`, or go.mod's
    require), if any, and its tree (only go.mod, and the imports of .go files, are read)."""

    path: str
    declared: str | None
    tree: Mapping[str, Entry]


@dataclass(frozen=True)
class Plan:
    """What vendor/modules.txt lists, and what does not fit."""

    versions: dict[str, str]  # pinned module -> the version it is vendored as
    explicit: frozenset[str]  # required by the main go.mod
    unpinned_explicit: tuple[tuple[str, str], ...]  # required by go.mod, no package needed: listed, not vendored
    problems: tuple[str, ...]
    additions: tuple[str, ...]  # [vendor.deps] lines that would supply what is missing


def summary(tree: Mapping[str, Entry]) -> modules.Summary:
    """A pinned module's go.mod as MVS reads it; no go.mod is Go's synthesized one: no requirements."""
    e = tree.get("go.mod")
    if e is None or e.link is not None or e.data is None:
        return modules.Summary(())
    text = e.data.decode("utf-8", errors="replace")
    return modules.Summary(tuple((r.module, r.version) for r in modules.parse_requires(text)),
                           modules.go_line(e.data))


def plan(main: str, main_go: str | None, requires: Iterable[modules.Require], pinned: Mapping[str, Pinned],
         imports: Mapping[str, str] | None) -> Plan:
    """Select the graph and check the pins against it. `imports` (import path -> a file of the main module that
    imports it) starts the search for what the build needs; None skips it (`--check`, which only rebuilds
    modules.txt from what was vendored)."""
    requires = list(requires)
    explicit = {r.module: r.version for r in requires}
    summaries = {path: summary(p.tree) for path, p in pinned.items()}
    prune = main_go is not None and modules.version_at_least(main_go, "1.17")
    graph = modules.select(main, explicit.items(), lambda path, version: summaries.get(path), prune)
    selected = graph.selected
    problems: list[str] = []
    versions: dict[str, str] = {}
    for path, p in sorted(pinned.items()):
        chosen = selected.get(path)
        if chosen is None:
            problems.append(f"{path}: pinned, but neither go.mod nor any pinned module's go.mod requires it "
                            f"(drop it from [vendor.deps], or add `require {path} {p.declared or 'vX.Y.Z'}` "
                            "to go.mod)")
            continue
        if p.declared is not None and p.declared != chosen:
            problems.append(f"{path}: [vendor.deps] says {p.declared}, but the module graph selects {chosen} "
                            f"({_who(graph, path, chosen)})")
            continue
        if path in explicit and explicit[path] != chosen:
            problems.append(f"{path}: go.mod requires {explicit[path]}, but {_who(graph, path, chosen)}: "
                            f"raise go.mod's require to {chosen} and pin that")
            continue
        versions[path] = chosen
    additions: list[str] = []
    if imports is not None:
        missing, unprovided = needed(main, selected, pinned, imports)
        for module, (package, importer) in sorted(missing.items()):
            version = selected[module]
            why = "go.mod requires it" if module in explicit else _who(graph, module, version)
            problems.append(f"{module} {version}: not pinned, and the build needs it ({importer} imports "
                            f"{package}; {why})")
            additions.append(addition(module, version))
        for package, importer in sorted(unprovided.items()):
            problems.append(f"{package}: imported by {importer}, but no module of the graph provides it "
                            f"(go.mod needs a require for its module)")
    unpinned = tuple(sorted((m, v) for m, v in explicit.items() if m not in pinned))
    return Plan(versions, frozenset(explicit), unpinned, tuple(problems), tuple(additions))


def _who(graph: modules.Graph, path: str, version: str) -> str:
    by = [b for b in graph.required_by.get((path, version), ()) if b[1]]
    if not by:
        return "go.mod requires it"
    named = ", ".join(f"{m} {v}" for m, v in sorted(by)[:3]) + (" and others" if len(by) > 3 else "")
    return f"{named} require{'s' if len(by) == 1 else ''} {version}"


def needed(main: str, selected: Mapping[str, str], pinned: Mapping[str, Pinned], imports: Mapping[str, str]
           ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """What the build's imports need of the graph, as `go mod vendor` finds it (the main module's packages
    and tests, then the packages they import, for every GOOS/GOARCH and build tag but `ignore`): the
    modules it needs that are not pinned (module -> (a package, who imports it)), and the imported packages
    no module of the graph provides (package -> who imports it)."""
    packages = {path: _packages(p.tree) for path, p in pinned.items()}
    missing: dict[str, tuple[str, str]] = {}
    unprovided: dict[str, str] = {}
    seen: set[str] = set()
    todo = sorted(imports.items())
    while todo:
        package, importer = todo.pop()
        if package in seen or modules.is_std(package) or package.startswith("."):
            continue
        seen.add(package)
        if package == main or package.startswith(main + "/"):
            continue  # the main module's own: every one of its packages was read already
        owners = [m for m in selected if package == m or package.startswith(m + "/")]
        found = next((m for m in sorted(owners, key=len, reverse=True)
                      if m in packages and _rel(package, m) in packages[m]), None)
        if found is not None:
            for imported in sorted(packages[found][_rel(package, found)]):
                todo.append((imported, package))
        elif owners:
            module = max(owners, key=len)
            if module not in pinned:
                missing.setdefault(module, (package, importer))
        else:
            unprovided.setdefault(package, importer)
    return missing, unprovided


def _rel(package: str, module: str) -> str:
    return package[len(module) + 1:] if package != module else ""


def _packages(tree: Mapping[str, Entry]) -> dict[str, set[str]]:
    """A module tree's package directories (as modules.packages finds them) -> what their non-test files
    import."""
    dirs: dict[str, set[str]] = {_rel(p, "m"): set() for p in modules.packages("m", tree)}
    for name, e in tree.items():
        d = posixpath.dirname(name)
        if d in dirs and name.endswith(".go") and e.imports:
            dirs[d].update(e.imports)
    return dirs


def main_imports(root: Path) -> dict[str, str]:
    """What the main module's packages and their tests import (import path -> the first file, relative to
    `root`, that imports it): every .go file but those below vendor/, testdata, directories named with a
    leading . or _, and nested modules; symlinks are not followed."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        keep = []
        for d in sorted(dirnames):
            if d in ("testdata",) or d[:1] in "._" or (rel == "." and d == "vendor"):
                continue
            if os.path.isfile(os.path.join(dirpath, d, "go.mod")):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(".go") or name[:1] in "._":
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                continue
            with open(full, "rb") as f:
                found = modules.go_imports(f.read(modules.GO_HEAD))
            for path in found or ():
                out.setdefault(path, os.path.normpath(os.path.join(rel, name)))
    return out


def addition(module: str, version: str) -> str:
    """A [vendor.deps] line for a module at a version, its repository guessed from the path as the big hosts
    and Go's own name it (check the URL: a vanity path can live anywhere)."""
    hosted = _HOSTED.match(module)
    repo = hosted.group(0) if hosted else module
    subdir = module[len(repo) + 1:] if hosted and module != repo else ""
    if re.fullmatch(r"v\d+", subdir):
        subdir = ""  # a major version suffix: most modules keep it on a branch at the root
    if module.startswith("golang.org/x/"):
        repo, subdir = "go.googlesource.com/" + module.split("/")[2], ""
    rev = version.split("+", 1)[0]
    pseudo = _PSEUDO.search(rev)
    if pseudo:
        rev = pseudo.group(1)
    elif subdir:
        rev = f"{subdir}/{rev}"
    extra = f', subdir = "{subdir}"' if subdir else ""
    return f'"{module}" = {{ git = "https://{repo}", rev = "{rev}"{extra} }}'
