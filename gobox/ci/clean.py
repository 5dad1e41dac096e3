"""gobox ci: fetch only what gobox.lock pins, then generate, build, test, cross and pack in a clean room.

The clean room is a private copy of the commit's tracked files (read-only to go), empty Go caches on
tmpfs (under the GOCACHE, read-only, the standard library prebuilt from the toolchain alone: gobox.ci.stdcache),
no network, an environment made of gobox.toml alone, fixed TZ, LANG and umask, and
SOURCE_DATE_EPOCH from the commit. Outputs land in a directory the caller gives, with SHA256SUMS and
provenance.json; the caller decides where they are published (gobox ci) or compared (gobox verify).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gobox import __version__, modzip
from gobox.build import (
    CLEAN_ROOM_UMASK,
    COMMANDS_ONLY,
    LIST_LIMIT,
    Listing,
    Options,
    Prepared,
    execute,
    execute_captured,
    explain,
    go_build_argv,
    go_build_steps,
    go_list_argv,
    go_test_argv,
    output_dir,
    parse_listing,
    plan,
    prepare,
)
from gobox.ci import module, provenance, source, stdcache
from gobox.ci.provenance import Resource, Step
from gobox.config import Project, load_project, vendor_mode
from gobox.errors import (
    BuildFailed,
    ConfigError,
    GoboxError,
    IntegrityError,
    TestsFailed,
    stopped,
)
from gobox.image.plan import origin_uri
from gobox.lock import LOCK_NAME, Lock, read_lock
from gobox.sandbox.spec import Bind, Result, SandboxSpec
from gobox.store import Store, file_sha256, private_dir, remove_tree, write_atomic
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.cross import release
    from gobox.cross.matrix import Events
    from gobox.progress import Progress
    from gobox.settings import Settings

SUMS = "SHA256SUMS"
IMAGE_ARCHIVE = "image.oci.tar"
WHAT = ("the clean room has no network (GOPROXY=off), empty Go caches, only the commit's tracked files, and "
        "only the environment gobox.toml declares")


@dataclass(frozen=True)
class Request:
    """What gobox ci was asked for beyond gobox.toml."""

    targets: tuple[str, ...] = ()  # a shard: only these cross targets; no host build, tests or image
    dirty: bool = False  # build the working tree's changes and untracked files too, and say so


@dataclass(frozen=True)
class Room:
    """How one clean room is set up: what gobox verify varies between its runs."""

    parent: Path  # the room is made in a new directory under here
    user: tuple[int, int] | None = None  # inside the sandbox; default the caller's
    umask: int = CLEAN_ROOM_UMASK  # gobox's own umask while it works (the sandbox's is fixed)
    reverse: bool = False  # build the cross targets in the reverse order
    # Compile against the stored standard library (gobox.ci.stdcache); False: compile std too, as with no
    # cache at all (gobox verify's check that the cache changes no byte). provenance.json names it either way.
    stdcache: bool = True
    rehash: bool = False  # check every stored std file's sha256 before the room uses it (gobox verify's run 1)


@dataclass(frozen=True)
class Output:
    path: str  # relative to the output directory, posix
    size: int
    sha256: str


@dataclass(frozen=True)
class StepResult:
    name: str
    exit_code: int
    seconds: float


@dataclass(frozen=True)
class Report:
    checkout: source.Checkout
    dirty: bool
    go: str
    steps: tuple[StepResult, ...]
    outputs: tuple[Output, ...]  # every file under out, SHA256SUMS and provenance.json last
    out: Path
    error: GoboxError | None = None  # the build or its tests failed: nothing is published
    module_zip: module.Release | None = None  # a library's module zip, when ci wrote one

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error else 0


def build(project: Project, store: Store, settings: Settings, request: Request, room: Room, out: Path,
          progress: Progress, events: Events | None = None) -> Report:
    """One clean-room build of the project's commit into `out` (an empty directory)."""
    checkout = source.inspect(project.root)
    # Untracked outputs of earlier builds are not source, even with --dirty.
    checkout = dataclasses.replace(checkout, untracked=tuple(
        p for p in checkout.untracked if not _under(checkout.toplevel / p, (out, output_dir(project)))
        and not Path(p).name.startswith(".gobox-")))
    if checkout.modified and not request.dirty:
        shown = ", ".join(checkout.modified[:3]) + (", ..." if len(checkout.modified) > 3 else "")
        raise ConfigError(f"the checkout has uncommitted changes ({len(checkout.modified)} files: {shown}); "
                          f"gobox ci builds commit {checkout.commit[:12]}",
                          hint="commit them, or pass --dirty to build the working tree as it is "
                          "(provenance.json then says so)")
    room_dir = private_dir(room.parent)
    try:
        with _umask(room.umask):
            return _build(project, checkout, store, settings, request, room, room_dir, out, progress, events)
    finally:
        remove_tree(room_dir)


def _under(path: Path, dirs: tuple[Path, ...]) -> bool:
    return any(d == path or d in path.parents for d in dirs)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _build(project: Project, checkout: source.Checkout, store: Store, settings: Settings, request: Request,
           room: Room, room_dir: Path, out: Path, progress: Progress, events: Events | None) -> Report:
    src = room_dir / "src"
    progress.step(f"clean room: commit {checkout.commit[:12]}{' with uncommitted changes' if request.dirty else ''}")
    # A GOPATH-mode build (no go.mod) names its binary after the directory: keep the checkout's name then.
    # Otherwise one fixed name, so that provenance.json is the same whatever the runner called its checkout.
    name = checkout.toplevel.name if project.gomod is None else "checkout"
    project_dir, changed = source.snapshot(checkout, src / name, request.dirty)
    return _build_in(project, checkout, store, settings, request, room, src, project_dir, changed, out,
                     progress, events)


def _build_in(project: Project, checkout: source.Checkout, store: Store, settings: Settings, request: Request,
              room: Room, src: Path, project_dir: Path, changed: tuple[source.Changed, ...], out: Path,
              progress: Progress, events: Events | None) -> Report:
    snap = _load(project, project_dir)
    cfg = snap.config
    snap = dataclasses.replace(snap, config=dataclasses.replace(cfg, build=dataclasses.replace(
        cfg.build, output=str(out))))
    options = Options(locked=True, network="none", clean_room=True, user=room.user,
                      env=(("SOURCE_DATE_EPOCH", str(checkout.epoch)),))

    # The fetch phase, outside the sandbox: the toolchain by digest, vendored trees by commit.
    prepared = prepare(snap, store, settings, options, progress)
    _vendor(snap, store, progress)
    if cfg.ci.image and not request.targets and cfg.image.ca_certificates:
        from gobox.image import certs

        certs.ensure(snap, store, settings, True, progress)

    steps: list[Step] = []
    results: list[StepResult] = []
    paths = (str(src), str(out))
    caches = stdcache.ensure_all(store, stdcache.toolchain_id(prepared.toolchain),
                                 _compiling(snap, store, request, room, options, prepared, out), options, paths,
                                 progress, room.rehash)
    if room.stdcache and caches:
        options = dataclasses.replace(options, gocache_lower=tuple(str(c.path) for c in caches))
    error: GoboxError | None = None
    images: list[Resource] = []
    shard = bool(request.targets)
    released: module.Release | None = None
    try:
        if cfg.ci.generate and not shard:
            argv = ("go", "generate", *(("-mod=vendor",) if vendor_mode(snap) == "modules" else ()), "./...")
            spec = plan(snap, prepared.paths, argv, options)
            # The only step that may write the source: into the room's private copy, never the checkout.
            spec = dataclasses.replace(spec, binds=tuple(
                Bind(b.source, b.target, False) if b.target == str(snap.root) else b for b in spec.binds))
            _run_step("generate", spec, options, steps, results, paths, BuildFailed)
        listing = _list(snap, prepared, options, steps, results, paths)
        if not shard:
            # The commands into out/, every other package compiled; a library only compiled, as go build ./...
            for i, argv in enumerate(go_build_steps(snap, (), (), listing)):
                spec = plan(snap, prepared.paths, argv, options)
                _run_step("build" if i == 0 else "build compile", spec, options, steps, results, paths,
                          BuildFailed)
            if cfg.ci.test:
                spec = plan(snap, prepared.paths, go_test_argv(snap, (), ()), options)
                _run_step("test", spec, options, steps, results, paths, TestsFailed)
        if shard or cfg.ci.cross:
            _cross(snap, store, checkout.epoch, request, room, options, prepared, out, steps, results, paths,
                   progress, events, listing)
        if cfg.ci.image and not shard:
            images.append(_image(snap, store, settings, options, prepared, checkout.epoch, out, steps, results,
                                 paths, progress, events))
        if listing.libraries and not shard and snap.gomod is not None:
            released = _module(snap, checkout, request.dirty, project_dir, out, src.parent, progress)
    except (BuildFailed, TestsFailed) as e:
        error = _explained(e, snap)
    if error is not None:
        return Report(checkout, request.dirty, prepared.go_version, tuple(results), (), out, error)

    outputs = _outputs(out)
    zipped = {released.zip: (("dirHash", modzip.h1_hex(released.h1)),)} if released else {}
    doc = provenance.statement(provenance.Build(
        repository=checkout.repository, commit=checkout.commit, subdir=checkout.subdir, dirty=request.dirty,
        changed=tuple((c.path, c.sha256) for c in changed), source_date_epoch=checkout.epoch,
        gobox_version=__version__, go=prepared.go_version, network="none", umask=f"{CLEAN_ROOM_UMASK:04o}",
        request=(("targets", sorted(request.targets)), ("test", cfg.ci.test and not shard),
                 ("cross", cfg.ci.cross or shard), ("image", cfg.ci.image and not shard),
                 ("generate", cfg.ci.generate and not shard)),
        steps=tuple(sorted(steps, key=_step_order)),
        # By key: verify's run 2 builds the cross targets in the reverse order, and the record must not care.
        dependencies=_dependencies(snap, prepared) + tuple(_std_resource(c) for c in sorted(caches,
                                                                                           key=lambda c: c.key)),
        subjects=tuple(Resource(o.path, (("sha256", o.sha256), *zipped.get(o.path, ()))) for o in outputs)
        + tuple(images),
        config=tuple((p.name, file_sha256(p)) for p in (snap.root / "gobox.toml", snap.root / LOCK_NAME)
                     if p.is_file()),
    ))
    write_atomic(out / provenance.NAME, provenance.render(doc))
    outputs += (_output(out, out / provenance.NAME),)
    lines = [f"{o.sha256}  {o.path}\n" for o in sorted(outputs, key=lambda o: o.path)]
    write_atomic(out / SUMS, "".join(lines).encode())
    outputs += (_output(out, out / SUMS),)
    _fix_modes(out)
    return Report(checkout, request.dirty, prepared.go_version, tuple(results), outputs, out, None, released)


def _load(project: Project, project_dir: Path) -> Project:
    """The project as the commit has it; what the commit lacks is an error naming the file."""
    for name in ("gobox.toml", "go.mod"):
        if (project.root / name).is_file() and not (project_dir / name).is_file():
            raise ConfigError(f"{project.relative(project.root / name)} is not in the commit, and gobox ci builds "
                              "only tracked files", hint=f"git add {name} && git commit")
    snap = load_project(project_dir, display_base=project_dir)  # messages name gobox.lock as the checkout does
    lock = snap.lock_path
    if not lock.is_file():
        tracked = "is not committed" if project.lock_path.is_file() else "does not exist"
        raise ConfigError(f"{project.relative(project.lock_path)} {tracked}: gobox ci builds only what "
                          "gobox.lock pins", hint="run gobox build (or gobox toolchain install) once, then "
                          "git add gobox.lock && git commit")
    if snap.config.sandbox.mounts:
        raise ConfigError(f"{project.relative(project.config_path or project.root)}: sandbox.mounts: gobox ci "
                          "takes no host directories into its clean room", hint="vendor what the build needs "
                          "into the repository, or build with gobox build")
    return snap


def _vendor(snap: Project, store: Store, progress: Progress) -> None:
    """Vendored dependencies at the commits gobox.lock pins: a committed vendor/ must match them, else they
    are written into the room's copy."""
    if vendor_mode(snap) is None:
        return
    from gobox.deps import tree

    if (snap.root / "vendor").exists():
        diffs = tree.check(snap, store)
        if diffs:
            raise IntegrityError(f"the committed vendor/ differs from what gobox.lock pins: {diffs[0]}"
                                 + (f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""),
                                 hint="run gobox vendor and commit vendor/ and gobox.lock")
        return
    tree.vendor(snap, store, progress, locked=True)


def _list(snap: Project, prepared: Prepared, options: Options, steps: list[Step], results: list[StepResult],
          paths: tuple[str, str]) -> Listing:
    """go list of the packages, in the clean room: which are commands, and which are only to be compiled."""
    spec = plan(snap, prepared.paths, go_list_argv(snap, (), ()), options)
    steps.append(provenance.step("packages", spec.argv, spec.env, spec.cwd, *paths))
    started = time.monotonic()
    result, text = execute_captured(spec, options, LIST_LIMIT)
    results.append(StepResult("packages", result.exit_code, round(time.monotonic() - started, 3)))
    _check_step("packages", result, spec, BuildFailed)
    return parse_listing(text.decode("utf-8", "replace"))


def _module(snap: Project, checkout: source.Checkout, dirty: bool, project_dir: Path, out: Path, scratch: Path,
            progress: Progress) -> module.Release | None:
    """The library's module zip of the commit and its h1: into out/, or None (and why) when there is none to
    release: a module path Go cannot fetch, or a --dirty build, whose files no commit (and so no version) has."""
    assert snap.gomod is not None  # a library: the caller has checked that the project is a module
    why = module.skip_reason(snap.gomod.module)
    if dirty:
        why = "--dirty builds files that no commit has, and so no version of the module"
    if why:
        progress.step(f"no module zip: {why}")
        return None
    name = snap.gomod.module
    assert name is not None  # skip_reason gives a reason when go.mod names no module
    repo = project_dir
    for _ in Path(checkout.subdir).parts:
        repo = repo.parent
    try:
        released = module.release(checkout, repo, checkout.commit, name, out, scratch)
    except modzip.ModuleZipError as e:
        raise BuildFailed(f"the module zip Go's proxies would serve cannot be made: {e.message}",
                          hint="Go refuses such a module too; rename or remove the file it names") from None
    progress.step(f"module {released.module} {released.version}: {released.zip}, {released.h1}")
    return released


def _run_step(name: str, spec: SandboxSpec, options: Options, steps: list[Step], results: list[StepResult],
              paths: tuple[str, str], failure: type[GoboxError]) -> None:
    steps.append(provenance.step(name, spec.argv, spec.env, spec.cwd, *paths))
    started = time.monotonic()
    result = execute(spec, options)
    results.append(StepResult(name, result.exit_code, round(time.monotonic() - started, 3)))
    _check_step(name, result, spec, failure)


def _check_step(name: str, result: Result, spec: SandboxSpec, failure: type[GoboxError]) -> None:
    signalled = stopped(result.exit_code, name)
    if signalled is not None:
        raise signalled
    if result.exit_code != 0:
        limit = explain(result, spec)
        what = {"test": "go test", "packages": "go list"}.get(name, "go build" if name.startswith("build")
                                                               else f"go {name}")
        raise failure(f"{what} failed (exit {result.exit_code}) in gobox ci's clean room"
                      + (f": {limit.message}" if limit else ""))


def _explained(error: GoboxError, snap: Project) -> GoboxError:
    """The failure with what the clean room lacks, and the modules go.mod needs that only the network has."""
    hint = WHAT
    missing = _unvendored(snap)
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        hint = (f"go.mod requires {len(missing)} module{'s' if len(missing) != 1 else ''} ({shown}) that the "
                "clean room cannot fetch: the network is off in gobox ci. Vendor them ([vendor.deps] and gobox "
                "vendor, or a committed go mod vendor)")
    return type(error)(error.message, hint=error.hint or hint)


def _unvendored(snap: Project) -> list[str]:
    if snap.gomod is None or vendor_mode(snap) is not None or (snap.root / "vendor" / "modules.txt").is_file():
        return []
    from gobox.deps.modules import parse_requires

    return [r.module for r in parse_requires((snap.root / "go.mod").read_text())]


def _cross(snap: Project, store: Store, epoch: int, request: Request, room: Room, options: Options,
           prepared: Prepared, out: Path, steps: list[Step], results: list[StepResult], paths: tuple[str, str],
           progress: Progress, events: Events | None, listing: Listing) -> None:
    from gobox.cross import release

    req = _cross_request(snap, prepared, request, room)
    steps += _cross_steps(snap, store, prepared, req, options, out, "cross", paths, listing)
    started = time.monotonic()
    report = release.cross(snap, store, req, options, prepared, epoch, progress, events, listing)
    results.append(StepResult("cross", 1 if report.failed else 0, round(time.monotonic() - started, 3)))
    if report.failed:
        first = report.failed[0]
        names = ", ".join(str(o.target) for o in report.failed)
        raise BuildFailed(f"{len(report.failed)} of {len(report.outcomes)} cross targets failed in gobox ci's "
                          f"clean room ({names}): {first.error}")


def _cross_request(snap: Project, prepared: Prepared, request: Request, room: Room) -> release.Request:
    from gobox.cross import release

    patterns = request.targets
    if not patterns and not snap.config.cross.targets:
        raise ConfigError(f"{snap.relative(snap.config_path) if snap.config_path else 'gobox.toml'}: ci.cross is "
                          "true and cross.targets is empty", hint='list them, e.g. targets = ["linux/arm64"]')
    targets = release.choose_targets(snap, prepared, patterns)
    if room.reverse:
        targets = tuple(reversed(targets))
    return release.Request(patterns=tuple(map(str, targets)))


def _cross_steps(snap: Project, store: Store, prepared: Prepared, req: release.Request, options: Options,
                 into: Path, label: str, paths: tuple[str, str], listing: Listing | None = None) -> list[Step]:
    """The commands gobox cross runs for `req`, as if straight into `into` (it stages, then renames)."""
    from gobox.build import COMMANDS_ONLY
    from gobox.cross import release

    specs = release.plan_request(snap, store, prepared, req, options, into, listing or COMMANDS_ONLY)
    return [provenance.step(f"{label} {t}" + (" compile" if i else ""), s.argv, s.env, s.cwd, *paths)
            for t, steps in specs.items() for i, s in enumerate(steps)]


def _image(snap: Project, store: Store, settings: Settings, options: Options, prepared: Prepared, epoch: int,
           out: Path, steps: list[Step], results: list[StepResult], paths: tuple[str, str], progress: Progress,
           events: Events | None) -> Resource:
    """Build and pack the image into out/image.oci.tar; the subject naming the image by its digest."""
    from gobox.image import make

    checked = make.check(snap, make.Request(output=f"oci-archive:{out / IMAGE_ARCHIVE}"), options)
    static, req = make.static_build(snap, checked.targets, checked.cgo)
    steps += _cross_steps(static, store, prepared, req, options, out / make.OUTPUT_DIR, "image", paths)
    started = time.monotonic()
    try:
        made = make.make(snap, store, settings, checked, options, prepared, epoch, progress, events)
    except GoboxError as e:
        results.append(StepResult("image", 1, round(time.monotonic() - started, 3)))
        if isinstance(e, BuildFailed):  # a config or integrity error stays what it is
            raise BuildFailed(f"{e.message} (in gobox ci's clean room)", hint=e.hint) from None
        raise
    results.append(StepResult("image", 0, round(time.monotonic() - started, 3)))
    algorithm, _, hexdigest = made.top.digest.partition(":")
    return Resource(str(made.reference), ((algorithm, hexdigest),))


def _compiling(snap: Project, store: Store, request: Request, room: Room, options: Options, prepared: Prepared,
               out: Path) -> list[SandboxSpec]:
    """The room's go commands that compile, as planned (the packages do not matter: only their settings): the
    host build and tests, each cross target, the image's static build."""
    cfg = snap.config
    shard = bool(request.targets)
    specs = []
    if not shard:
        specs.append(plan(snap, prepared.paths, go_build_argv(snap, (), ()), options))
        if cfg.ci.test:
            specs.append(plan(snap, prepared.paths, go_test_argv(snap, (), ()), options))
    from gobox.cross import release

    if shard or cfg.ci.cross:
        req = _cross_request(snap, prepared, request, room)
        specs += [s for ss in release.plan_request(snap, store, prepared, req, options, out).values() for s in ss]
    if cfg.ci.image and not shard:
        from gobox.image import make

        checked = make.check(snap, make.Request(output=f"oci-archive:{out / IMAGE_ARCHIVE}"), options)
        static, req = make.static_build(snap, checked.targets, checked.cgo)
        specs += [s for ss in release.plan_request(static, store, prepared, req, options, out / make.OUTPUT_DIR,
                                                   COMMANDS_ONLY).values() for s in ss]
    return specs


def _std_resource(cache: stdcache.Cache) -> Resource:
    """The stored standard library as a resolved dependency: what it was built for, and its tree's digest."""
    built = " ".join(("go", "build", *cache.request.flags, "std"))
    return Resource(f"go-std-cache {cache.key[:16]}", (("sha256", cache.digest),), "",
                    (("key", cache.key), ("env", " ".join(f"{k}={v}" for k, v in cache.request.env)),
                     ("command", built)))


def _dependencies(snap: Project, prepared: Prepared) -> tuple[Resource, ...]:
    lock = read_lock(snap.lock_path) or Lock()
    deps: list[Resource] = []
    from gobox.toolchains.install import Toolchain

    t = prepared.toolchain
    if isinstance(t, Toolchain):  # one installed from a source: a file with a sha256 (an image is in the lock)
        deps.append(Resource(t.filename, (("sha256", t.sha256),), t.url,
                             (("go", str(t.version)), ("source", t.source))))
    for image in lock.images:
        algorithm, _, hexdigest = image.digest.partition(":")
        deps.append(Resource(image.reference, ((algorithm, hexdigest),), f"oci://{image.reference}@{image.digest}",
                             (("platform", image.platform),)))
    for d in lock.deps:
        digest = (("gitCommit" if d.vcs == "git" else "hgChangeset", d.commit),)
        deps.append(Resource(d.path, digest, origin_uri(d.url, d.vcs), (("rev", d.rev),)))
    if lock.ca_certificates is not None:
        b = lock.ca_certificates
        deps.append(Resource("ca-certificates", (("sha256", b.sha256),), "",
                             (("source", b.source), ("version", b.version))))
    return tuple(deps)


def _step_order(s: Step) -> tuple[int, str]:
    """Steps in a fixed order, whatever order the targets were built in."""
    kind = s.name.split(" ", 1)[0]
    return (["generate", "packages", "build", "test", "cross", "image"].index(kind), s.name)


def _outputs(out: Path) -> tuple[Output, ...]:
    files = sorted(p for p in out.rglob("*") if (p.is_file() or p.is_symlink()) and p.name != SUMS
                   and p.name != provenance.NAME)
    return tuple(_output(out, p) for p in files)


def _fix_modes(out: Path) -> None:
    """0755 for directories and executables, 0644 for the rest: modes that gobox's own writers (archives,
    sums, the image) would otherwise take from the umask of whoever ran gobox ci."""
    out.chmod(0o755)
    for p in out.rglob("*"):
        if p.is_symlink():
            continue
        mode = p.stat().st_mode
        p.chmod(0o755 if p.is_dir() or mode & 0o111 else 0o644)


def _output(out: Path, path: Path) -> Output:
    return Output(path.relative_to(out).as_posix(), path.stat().st_size, file_sha256(path))
