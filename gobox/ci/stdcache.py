"""The clean room's standard library, prebuilt: Go's build cache of `go build std`, made once per toolchain,
target and std-changing flags in a room of its own from the toolchain alone, kept content-addressed in the store
(cache/std/<key>/), and shown read-only under every clean room's empty GOCACHE.

Go's cache is addressed by the hash of every input of an action, so an entry a room finds there is the one it
would have compiled; the key only decides which prebuilt cache a room is offered. What is stored keeps no time
of its making (entry timestamps zeroed, no trim.txt), and std.json records its tree digest, which
provenance.json names. Two builds of the same key were seen to give different digests once: the digest names
the tree a build used, not one every machine makes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.errors import BuildFailed, GoboxError, stopped
from gobox.sandbox.spec import Bind, SandboxSpec
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.build import Options
    from gobox.progress import Progress
    from gobox.store import Store
    from gobox.toolchains.protocol import GoToolchain

FORMAT = 1  # of the key and of std.json; a change of what is stored changes it
RECORD = "std.json"  # beside go-build/, written before the entry is renamed into place: its marker
# Variables that change what std compiles to: the target and its variants, cgo and its compiler, the module
# mode (which decides the -lang a package is compiled with). GOPATH, HOME, TZ and GOFLAGS' -mod and -buildvcs
# reach the project's packages only; GOFLAGS is keyed by its std flags alone (std_flags).
ENV = ("GOOS", "GOARCH", "GOARM", "GOARM64", "GOAMD64", "GO386", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64",
       "GOWASM", "GOEXPERIMENT", "GOFIPS140", "GO111MODULE", "CGO_ENABLED", "CC", "CXX", "AR", "PKG_CONFIG",
       "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_FFLAGS", "CGO_LDFLAGS", "GOFLAGS")
# go build and go test flags that change std's archives; the others (-ldflags, -o, -mod, -run, -count, -v...)
# reach only the link or the project's own packages.
BOOL_FLAGS = ("trimpath", "race", "msan", "asan", "linkshared")
VALUE_FLAGS = ("tags", "gcflags", "asmflags", "buildmode", "installsuffix", "compiler")
# Go refreshes a used entry's mtime once an hour and trims entries unused for 5 days: a stored mtime in the
# future is neither, so no room copies the archives up into its upper or whites them out.
FUTURE = 4102444800  # 2100-01-01T00:00:00Z
ENTRY = 2 + 1 + 64 + 1 + 64 + 1 + 20 + 1 + 20 + 1  # bytes of one of Go's cache entries (cmd/go/internal/cache)


@dataclass(frozen=True)
class Request:
    """One standard library a room's go commands compile against: the std-changing part of their setup."""

    env: tuple[tuple[str, str], ...]  # ENV's variables the step sets, GOFLAGS cut to its std flags
    flags: tuple[str, ...]  # std flags on the command line, in order


@dataclass(frozen=True)
class Cache:
    """A stored standard library: its go-build/ directory and the digest of its files."""

    key: str
    path: Path  # .../cache/std/<key>/go-build
    digest: str  # sha256 hex over "<sha256>  <path>\n" of every file, sorted by path
    request: Request


def std_flags(args: Sequence[str]) -> tuple[str, ...]:
    """The flags among `args` that change how std compiles, each as one "-name" or "-name=value" (pure)."""
    out: list[str] = []
    it = iter(args)
    for arg in it:
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name in BOOL_FLAGS and value in ("", "true"):
            out.append(f"-{name}")
        elif name in VALUE_FLAGS:
            if not eq:
                value = next(it, "")
            out.append(f"-{name}={value}")
    return tuple(out)


def request_of(argv: Sequence[str], env: Iterable[tuple[str, str]]) -> Request | None:
    """The standard library a go build or go test compiles against, or None for another command (pure)."""
    if len(argv) < 2 or argv[0] != "go" or argv[1] not in ("build", "test", "run", "vet"):
        return None
    values = dict(env)
    values["GOFLAGS"] = " ".join(std_flags(values.get("GOFLAGS", "").split()))
    kept = tuple((k, values[k]) for k in ENV if values.get(k))
    return Request(kept, std_flags(argv[2:]))


def key(toolchain: str, request: Request) -> str:
    """The store key of a standard library: sha256 over the toolchain's identity (its archive's or image's
    digest) and the request (pure)."""
    doc = {"format": FORMAT, "toolchain": toolchain, "env": dict(request.env), "flags": list(request.flags)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def toolchain_id(toolchain: GoToolchain) -> str:
    """What names the pinned toolchain's bytes: an installed archive's sha256, or (in its label) an image's digest."""
    from gobox.toolchains.install import Toolchain

    if isinstance(toolchain, Toolchain):
        return f"{toolchain.filename} sha256:{toolchain.sha256}"
    return toolchain.label


def tree_digest(files: Iterable[tuple[str, str]]) -> str:
    """The digest of a tree from its (path, sha256) pairs, as sha256 of its SHA256SUMS lines (pure)."""
    lines = "".join(f"{h}  {p}\n" for p, h in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def room_spec(step: SandboxSpec, request: Request, gocache: str, cache_dir: str, drop: Sequence[str]
              ) -> SandboxSpec:
    """The room that builds `request`'s standard library into host directory `cache_dir`, shown at `gocache`:
    `step`'s sandbox (toolchain, user, environment, limits, network none) without the project (no bind from
    under `drop`, the room's source and output), in /, running `go build <std flags> std` (pure)."""
    env = dict(step.env)
    env["GOFLAGS"] = dict(request.env).get("GOFLAGS", "")
    if "GOPATH" in env:  # a GOPATH-mode project's vendor/ comes first: keep the toolchain's own GOPATH only
        env["GOPATH"] = env["GOPATH"].split(":")[-1]

    def kept(b: Bind) -> bool:
        return not any(b.source == d or b.source.startswith(d.rstrip("/") + "/") for d in drop)

    return dataclasses.replace(
        step, argv=("go", "build", *request.flags, "std"), env=tuple(env.items()), cwd="/", make_cwd=False,
        binds=(*(b for b in step.binds if kept(b)), Bind(cache_dir, gocache)),
        tmpfs=tuple(t for t in step.tmpfs if t != gocache), overlays=())


def _files(root: Path) -> list[tuple[str, int]]:
    """Every file under root as (posix path relative to it, size), sorted; scandir's stat, as it runs on every use."""
    out: list[tuple[str, int]] = []
    pending = [("", str(root))]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{e.name}/", e.path))
                else:
                    out.append((prefix + e.name, e.stat(follow_symlinks=False).st_size))
    out.sort()
    return out


def _normalize(cache: Path) -> None:
    """Take the time of its making out of the tree: each entry's time of writing zeroed (Go reads it only to expire
    test results), no trim.txt (Go's last trim), every mtime FUTURE."""
    (cache / "trim.txt").unlink(missing_ok=True)
    for p in cache.rglob("*-a"):
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
        # "v1 <action id> <output id> <size, 20 wide> <time, 20 wide>\n": the time goes, the rest stays.
        if data.startswith(b"v1 ") and len(data) == ENTRY and data[-21:-1].strip().isdigit():
            p.write_bytes(data[:-21] + b"0".rjust(20) + b"\n")
    for p in (cache, *cache.rglob("*")):
        os.utime(p, (FUTURE, FUTURE), follow_symlinks=False)


def _record(entry: Path) -> dict | None:
    try:
        doc = json.loads((entry / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


def _intact(entry: Path, doc: dict) -> bool:
    """Whether the stored tree still has the files its record lists, with their sizes: a cheap check made on
    every use (a full rehash is `check`'s, which gobox verify makes)."""
    files = doc.get("files")
    if not isinstance(files, list):
        return False
    try:
        return _files(entry / "go-build") == sorted((str(f[0]), int(f[1])) for f in files)
    except (OSError, TypeError, ValueError, IndexError):
        return False


def check(cache: Cache) -> str | None:
    """Rehash the stored tree: None when it is what was recorded, else what differs."""
    from gobox.store import file_sha256

    entry = cache.path.parent
    doc = _record(entry)
    if doc is None:
        return f"{entry / RECORD} is missing or unreadable"
    files = doc.get("files")
    if not isinstance(files, list):
        return f"{entry / RECORD} lists no files"
    for f in files:
        if not (isinstance(f, list) and len(f) == 3 and all(isinstance(x, str) for x in (f[0], f[2]))):
            return f"{entry / RECORD} has a malformed file entry: {f!r:.80}"
        p = cache.path / f[0]
        if not p.is_file() or file_sha256(p) != f[2]:
            return f"{p} is not what was stored"
    return None


def ensure(store: Store, toolchain: str, request: Request, step: SandboxSpec, options: Options, drop: Sequence[str],
           progress: Progress, rehash: bool = False) -> Cache:
    """The stored standard library for `request`, built first in a room of its own when the store lacks it or
    holds a damaged one (which is removed). `rehash`: every file's sha256 checked too, not only its size."""
    from gobox.store import remove_tree

    k = key(toolchain, request)
    entry = store.stdcache / k
    cache = _found(entry, k, request, rehash)
    if cache is not None:
        return cache
    with store.locked(f"std-{k[:32]}"):
        cache = _found(entry, k, request, rehash)
        if cache is not None:
            return cache
        if entry.exists():
            progress.step(f"standard library cache {k[:12]} is damaged: removing it and building it again")
            remove_tree(entry)
        with store.workdir(f"std-{k[:32]}") as work:
            return _build(store, k, toolchain, request, step, options, drop, work, entry, progress)


def _found(entry: Path, k: str, request: Request, rehash: bool) -> Cache | None:
    doc = _record(entry)
    if doc is None or doc.get("key") != k or not _intact(entry, doc):
        return None
    cache = Cache(k, entry / "go-build", str(doc["digest"]), request)
    return None if rehash and check(cache) is not None else cache


def _build(store: Store, k: str, toolchain: str, request: Request, step: SandboxSpec, options: Options,
           drop: Sequence[str], work: Path, entry: Path, progress: Progress) -> Cache:
    from gobox.build import GOCACHE, execute
    from gobox.store import file_sha256, write_atomic

    made = work / "entry"
    cache = made / "go-build"
    cache.mkdir(parents=True)
    os.chmod(made, 0o755)
    os.chmod(cache, 0o755)
    target = dict(request.env)
    platform = f"{target['GOOS']}/{target['GOARCH']}" if "GOOS" in target and "GOARCH" in target else "the host"
    progress.step(f"standard library for {platform}{' ' + ' '.join(request.flags) if request.flags else ''}: "
                  "building it once into the store")
    spec = room_spec(step, request, GOCACHE, str(cache), drop)
    result = execute(spec, options)
    signalled = stopped(result.exit_code, "the standard library's build")
    if signalled is not None:
        raise signalled
    if result.exit_code != 0:
        raise BuildFailed(f"go build std failed (exit {result.exit_code}) in the standard library's clean room",
                          hint="the pinned toolchain cannot build its own standard library with these settings")
    _normalize(cache)
    files = [(p, size, file_sha256(cache / p)) for p, size in _files(cache)]
    digest = tree_digest((p, h) for p, _, h in files)
    doc = {"format": FORMAT, "key": k, "toolchain": toolchain, "env": dict(request.env),
           "flags": list(request.flags), "digest": digest, "files": files}
    write_atomic(made / RECORD, (json.dumps(doc, sort_keys=True) + "\n").encode(), 0o644)
    os.utime(made / RECORD, (FUTURE, FUTURE))
    entry.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(made, entry)
    except OSError as e:
        raise GoboxError(f"cannot store the standard library cache at {entry}: {e.strerror}") from None
    return Cache(k, entry / "go-build", digest, request)


def ensure_all(store: Store, toolchain: str, steps: Sequence[SandboxSpec], options: Options, drop: Sequence[str],
               progress: Progress, rehash: bool = False) -> tuple[Cache, ...]:
    """The standard library of every distinct request among `steps`, in their order, each built when missing."""
    seen: dict[Request, SandboxSpec] = {}
    for s in steps:
        r = request_of(s.argv, s.env)
        if r is not None and r not in seen:
            seen[r] = s
    return tuple(ensure(store, toolchain, r, s, options, drop, progress, rehash) for r, s in seen.items())
