"""gobox vendor: pin [vendor.deps] to full commits in gobox.lock, and make vendor/ from them.

Module projects get vendor/<module path>/ and vendor/modules.txt, written here rather than by
`go mod vendor`: the whole tree of each pinned module is kept (every package, for every GOOS/GOARCH
and build tag, and the non-Go directories cgo code needs, which `go mod vendor` drops), no module
proxy or network is needed, and each module is checked against go.sum by its h1: hashes first.
GOPATH projects get vendor/src/<import path>/, and builds run with GOPATH=<root>/vendor:/go.

vendor/ is made in a sibling directory and swapped in whole, so it is always the old tree or the new.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.config import Dependency, Project, vendor_mode
from gobox.deps import fetch, graph, modules
from gobox.deps.fetch import Entry, Remote
from gobox.errors import ConfigError, GoboxError, IntegrityError, LockError, NetworkError, NotFoundError
from gobox.lock import Lock, LockedDep, LockPin, read_lock
from gobox.store import Store, remove_tree, swap_dir
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress

VENDOR = "vendor"


@dataclass(frozen=True)
class Pin:
    dep: Dependency
    remote: Remote
    commit: str


def remote_for(project: Project, dep: Dependency) -> Remote:
    """The dependency's remote; a relative local path is taken from the project root."""
    url = dep.url
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url) and not re.match(r"^[^/]+@[^/]+:", url) \
            and not url.startswith("/"):
        url = str((project.root / url).resolve())
    return Remote(dep.vcs, url)


def pin(project: Project, store: Store, progress: Progress, locked: bool = False,
        update: tuple[str, ...] | None = None) -> list[Pin]:
    """Each dependency at a full commit: the locked one while gobox.toml still asks for the same rev of the
    same repository, else the rev resolved now. `update` re-resolves those paths (all when empty);
    `locked` refuses any change, and a tag or branch that moved since the lock."""
    lock = read_lock(project.lock_path) or Lock()
    lock_name = project.relative(project.lock_path)
    names = {d.path for d in project.config.vendor.deps}
    for path in update or ():
        if path not in names:
            raise ConfigError(f"--update {path}: not in [vendor.deps] (there: {', '.join(sorted(names))})")
    pins = []
    for dep in project.config.vendor.deps:
        remote = remote_for(project, dep)
        held = lock.dep_for(dep.path)
        same = held is not None and (held.vcs, held.url, held.rev) == (dep.vcs, dep.url, dep.rev)
        renew = update is not None and (not update or dep.path in update)
        if held is not None and same and not renew:
            commit = held.commit
            if locked and fetch.is_symbolic(dep.rev):
                _update(store, remote, progress, dep, repr(dep.rev))
                now = _resolve(store, remote, dep)
                if now != commit:
                    raise LockError(f"--locked: {dep.path}: {dep.rev!r} of {remote} moved: {lock_name} has "
                                    f"{commit}, the repository now {now}",
                                    hint=f"run `gobox vendor --update {dep.path}` to take the new commit")
            elif not fetch.has_commit(store, remote, commit):
                _update(store, remote, progress, dep, f"commit {commit} ({dep.rev!r})")
            if not fetch.has_commit(store, remote, commit):
                raise GoboxError(f"{remote}: the locked commit {commit} of {dep.path} is not in the repository",
                                 hint=f"run `gobox vendor --update {dep.path}` to pin what {dep.rev!r} is now")
            pins.append(Pin(dep, remote, commit))
            continue
        if locked:
            why = "pins nothing for it" if held is None else f"pins {held.vcs} {held.url} {held.rev!r}"
            raise LockError(f"--locked: {dep.path}: gobox.toml asks for {dep.vcs} {dep.url} {dep.rev!r}, "
                            f"{lock_name} {why}", hint="run gobox vendor without --locked and commit the lock")
        if not (not fetch.is_symbolic(dep.rev) and fetch.has_commit(store, remote, dep.rev)):
            _update(store, remote, progress, dep, repr(dep.rev))
        commit = _resolve(store, remote, dep)
        pins.append(Pin(dep, remote, commit))
    return pins


def _update(store: Store, remote: Remote, progress: Progress, dep: Dependency, what: str) -> None:
    """fetch.update, a failure naming the dependency and the revision it was fetched for: a URL alone does not
    say which line of gobox.toml needs it, nor what was wanted of it."""
    try:
        fetch.update(store, remote, progress)
    except fetch.FetchFailed as e:
        raise NetworkError(f"[vendor.deps] {dep.path}: cannot fetch {what} from {remote}: {e.detail}",
                           hint="check the URL, and that the remote is reachable and serves that "
                           "revision") from None


def _resolve(store: Store, remote: Remote, dep: Dependency) -> str:
    """fetch.resolve, its error naming the dependency too: a URL (a bundle, a mirror) may not say which."""
    try:
        return fetch.resolve(store, remote, dep.rev)
    except NotFoundError as e:
        raise NotFoundError(f"[vendor.deps] {dep.path}: {e.message}", hint=e.hint) from None


def _gomod_requires(project: Project) -> dict[str, modules.Require]:
    text = project.gomod.path.read_text(encoding="utf-8") if project.gomod else ""
    if modules.has_replace(text):
        # vendor/modules.txt would need "=>" lines; a fork is pinned by its URL in [vendor.deps] instead.
        raise ConfigError("go.mod has replace directives, which gobox vendor does not support yet",
                          hint="drop them: [vendor.deps] already fetches each module from the URL you give, "
                          "a fork or a mirror included")
    return {r.module: r for r in modules.parse_requires(text)}


@dataclass(frozen=True)
class Planned:
    """The vendor/ tree pins make, as a listing (paths relative to vendor/), and how to write it."""

    tree: dict[str, Entry]
    digests: dict[str, str]  # each dependency's part (fetch.tree_digest), by import path
    parts: tuple[tuple[Pin, str, dict[str, Entry]], ...]  # each pin, its directory in vendor/, what it writes
    made: dict[str, bytes]  # what gobox makes itself: vendor/modules.txt


def _label(p: Pin) -> str:
    return f"[vendor.deps] {p.dep.path} ({p.remote} at {p.commit})"


def expected(project: Project, store: Store, pins: list[Pin]) -> Planned:
    """The whole vendor/ tree the pins make, checked against the module graph and go.sum, and refused when a
    part of it could not be written beneath vendor/ as it is (fetch.check)."""
    mode = vendor_mode(project)
    top = "src/" if mode == "gopath" else ""
    out: dict[str, Entry] = {}
    owner: dict[str, int] = {}  # path in vendor/ -> index of the pin it is written from (the last one wins)
    digests: dict[str, str] = {}
    made: dict[str, bytes] = {}
    trees = [fetch.read_tree(store, p.remote, p.commit, p.dep.subdir) for p in pins]
    kept_trees = [fetch.vendored(t) if mode == "gopath" else _kept(t) for t in trees]
    if mode != "gopath":
        requires = _gomod_requires(project)
        found = _plan(project, requires, {p.dep.path: k for p, k in zip(pins, kept_trees, strict=True)},
                      graph.main_imports(project.root))
        _refuse(project, found)
        gosum_path = project.root / "go.sum"
        gosum = modules.parse_gosum(gosum_path.read_text(encoding="utf-8")) if gosum_path.is_file() else {}
        for p, tree in zip(pins, trees, strict=True):
            _check_sums(p, tree, found.versions[p.dep.path], gosum)
        made["modules.txt"] = _modules_txt(project, found, {p.dep.path: k for p, k in zip(pins, kept_trees,
                                                                                             strict=True)}).encode()
    for i, (p, kept) in enumerate(zip(pins, kept_trees, strict=True)):
        digests[p.dep.path] = fetch.tree_digest(kept)
        for name, e in kept.items():
            out[f"{top}{p.dep.path}/{name}"] = e
            owner[f"{top}{p.dep.path}/{name}"] = i
    fetch.check(out, {f"{top}{p.dep.path}": _label(p) for p in pins})
    parts = tuple((p, f"{top}{p.dep.path}/", {name[len(top) + len(p.dep.path) + 1:]: e for name, e in out.items()
                                               if owner[name] == i}) for i, p in enumerate(pins))
    out.update({name: Entry.of(data) for name, data in made.items()})
    return Planned(out, digests, parts, made)


def _kept(tree: dict[str, Entry]) -> dict[str, Entry]:
    """What of a module's tree is vendored: not its own vendor/ or Godeps/, and no nested module, which is
    another module, vendored (if at all) from its own pin, as `go mod vendor` does."""
    others = modules.in_nested_module(tree)
    return {n: e for n, e in fetch.vendored(tree).items() if n not in others}


def _plan(project: Project, requires: dict[str, modules.Require], kept: dict[str, dict[str, Entry]],
          imports: dict[str, str] | None) -> graph.Plan:
    deps = {d.path: d for d in project.config.vendor.deps}
    pinned = {path: graph.Pinned(path, deps[path].version or (requires[path].version if path in requires else None),
                                 tree) for path, tree in kept.items()}
    main = project.gomod.module if project.gomod and project.gomod.module else ""
    return graph.plan(main, project.gomod.go if project.gomod else None, requires.values(), pinned, imports)


def _refuse(project: Project, found: graph.Plan) -> None:
    """One error for every module the graph needs that [vendor.deps] lacks or pins at another version."""
    if not found.problems:
        return
    n = len(found.problems)
    where = project.relative(project.config_path) if project.config_path else "gobox.toml"
    lines = "".join(f"\n  {x}" for x in found.problems)
    hint = ("add to [vendor.deps] (check each URL):" + "".join(f"\n  {x}" for x in found.additions)
            if found.additions else "pin each module at the version the module graph selects")
    raise ConfigError(f"{where} [vendor.deps] does not match the module graph of go.mod and the pinned modules' "
                      f"go.mod files ({n} problem{'s' if n != 1 else ''}):{lines}", hint=hint)


def _check_sums(p: Pin, tree: dict[str, Entry], version: str, gosum: dict[tuple[str, str], str]) -> None:
    """A module's tree against the h1: hashes go.sum keeps for it (its files, its go.mod), if any."""
    files = {n: e.sha256 for n, e in tree.items() if e.link is None}
    held = tree.get("go.mod")
    gomod = held.data if held is not None and held.link is None and held.data else \
        modules.synthesized_gomod(p.dep.path)
    for key, got in (((p.dep.path, version), modules.zip_hash(p.dep.path, version, files)),
                     ((p.dep.path, f"{version}/go.mod"), modules.gomod_hash(gomod))):
        want = gosum.get(key)
        if want is not None and want != got:
            raise IntegrityError(f"go.sum mismatch for {key[0]} {key[1]}: go.sum has {want}, "
                                 f"{p.remote} at {p.commit} ({p.dep.rev}) gives {got}",
                                 hint="pin the revision go.sum was made from, or fix go.sum if the "
                                 "pinned tree is the one you trust")


def _modules_txt(project: Project, found: graph.Plan, kept: dict[str, dict[str, Entry]]) -> str:
    entries = [_module_entry(path, found.versions[path], tree, path in found.explicit)
               for path, tree in kept.items() if path in found.versions]
    entries += [modules.VendoredModule(m, v, None, ()) for m, v in found.unpinned_explicit]
    return modules.modules_txt(entries, project.gomod.go if project.gomod else None)


def _module_entry(path: str, version: str, kept: dict[str, Entry], explicit: bool) -> modules.VendoredModule:
    gomod = kept.get("go.mod")
    go = modules.go_line(gomod.data) if gomod is not None and gomod.link is None else None
    return modules.VendoredModule(path, version, go, tuple(modules.packages(path, kept)), explicit)


@dataclass(frozen=True)
class Done:
    pins: list[Pin]
    files: int
    lock_pin: LockPin  # the pinned commits, for the command to record in gobox.lock


def vendor(project: Project, store: Store, progress: Progress, locked: bool = False,
           update: tuple[str, ...] | None = None) -> Done:
    """Pin, check and write vendor/ in one swap; the command records the pins in gobox.lock."""
    if not project.config.vendor.deps:
        raise ConfigError("gobox.toml has no [vendor.deps] to vendor",
                          hint='add e.g. [vendor.deps] "github.com/kr/pty" = { git = "https://github.com/kr/pty", '
                          'rev = "v1.1.8" }')
    pins = pin(project, store, progress, locked, update)
    planned = expected(project, store, pins)
    key = hashlib.sha256(str(project.root).encode()).hexdigest()[:32]
    with store.locked(f"vendor-{key}"):
        # What a killed run left: a half-written new tree, or the old one it had swapped out.
        for stale in project.root.glob(".vendor.new.*"):
            remove_tree(stale)
        new = Path(tempfile.mkdtemp(prefix=".vendor.new.", dir=project.root))
        try:
            root = os.open(new, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for p, prefix, entries in planned.parts:
                    fetch.write_tree(store, p.remote, p.commit, entries, root, prefix, _label(p))
                for name, data in planned.made.items():
                    fetch.write_file(root, name, io.BytesIO(data))
            finally:
                os.close(root)
            new.chmod(0o755)
            swap_dir(new, project.root / VENDOR)
        finally:
            remove_tree(new)
    deps = tuple(LockedDep(p.dep.path, p.dep.vcs, p.dep.url, p.dep.rev, p.commit, planned.digests[p.dep.path])
                 for p in pins)

    return Done(pins, len(planned.tree), LockPin("vendored commits", deps=deps))


def check(project: Project, store: Store) -> list[str]:
    """What differs between vendor/ and what gobox.lock pins, one line each; empty when they match.

    Offline. With the pinned commits in the store's repository cache, file by file; without them, by the
    digest gobox.lock keeps of each dependency's tree (which says which dependency differs, not which file)."""
    lock = read_lock(project.lock_path) or Lock()
    held_pins: list[tuple[Pin, LockedDep]] = []
    for dep in project.config.vendor.deps:
        held = lock.dep_for(dep.path)
        if held is None or (held.vcs, held.url, held.rev) != (dep.vcs, dep.url, dep.rev):
            return [f"{dep.path}: not pinned in {project.relative(project.lock_path)} as gobox.toml asks "
                    f"(run gobox vendor)"]
        remote = remote_for(project, dep)
        held_pins.append((Pin(dep, remote, held.commit), held))
    have = read_dir(project.root / VENDOR)
    cached = all(fetch.has_commit(store, p.remote, p.commit) for p, _ in held_pins)
    if not cached:
        missing = [h for _, h in held_pins if h.tree is None]
        if missing:
            raise GoboxError(f"{missing[0].url}: commit {missing[0].commit} of {missing[0].path} is not in the "
                             "repository cache, and gobox.lock keeps no tree digest for it",
                             hint="run gobox vendor once (it records the digest), then commit gobox.lock")
        return _check_digests(project, [h for _, h in held_pins], have)
    want = expected(project, store, [p for p, _ in held_pins]).tree
    diffs = [f"missing: vendor/{n}" for n in sorted(set(want) - set(have))]
    diffs += [f"extra:   vendor/{n}" for n in sorted(set(have) - set(want))]
    diffs += [f"changed: vendor/{n}" for n in sorted(set(want) & set(have)) if want[n] != have[n]]
    return diffs


def _check_digests(project: Project, held: list[LockedDep], have: dict[str, Entry]) -> list[str]:
    gopath = vendor_mode(project) == "gopath"
    top = "src/" if gopath else ""
    paths = sorted((h.path for h in held), key=len, reverse=True)  # the longest import path owns a file

    def owner(name: str) -> str | None:
        return next((p for p in paths if name.startswith(f"{top}{p}/")), None)

    parts: dict[str, dict[str, Entry]] = {h.path: {} for h in held}
    diffs = []
    for name, e in sorted(have.items()):
        o = owner(name)
        if o is not None:
            parts[o][name[len(top) + len(o) + 1:]] = e
        elif gopath or name != "modules.txt":
            diffs.append(f"extra:   vendor/{name}")
    for h in held:
        got = fetch.tree_digest(parts[h.path])
        if got != h.tree:
            diffs.append(f"changed: vendor/{top}{h.path}/ (its files digest to {got}, "
                         f"gobox.lock pins {h.tree} at {h.commit})")
    if not gopath:
        # vendor/modules.txt as the vendored go.mod files make it: the graph is selected again from them.
        found = _plan(project, _gomod_requires(project), parts, None)
        want = Entry.of(_modules_txt(project, found, parts).encode())
        if have.get("modules.txt") != want:
            diffs.append("changed: vendor/modules.txt" if "modules.txt" in have else "missing: vendor/modules.txt")
    return diffs


def read_dir(root: Path) -> dict[str, Entry]:
    """What a vendor/ directory holds, as Entries: files hashed in chunks (a go.mod also kept, for its go line),
    symlinks not followed; anything else (a fifo, a device) differs from every entry gobox writes."""
    out: dict[str, Entry] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = Entry(link=os.readlink(full))
            elif not stat.S_ISREG(st.st_mode):
                out[rel] = Entry(f"not a regular file (mode {st.st_mode:o})")
            else:
                with open(full, "rb") as f:
                    sha, size, data = fetch.digest(f, keep=fetch.MAX_GOMOD if name == "go.mod" else 0)
                out[rel] = Entry(sha, bool(st.st_mode & 0o111), None, size, None, data)
    return out
