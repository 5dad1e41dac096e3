"""`gobox cross`: from a project and target patterns to dist/<name>_<os>_<arch>/, archives and SHA256SUMS."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.build import (
    COMMANDS_ONLY,
    Listing,
    Options,
    Prepared,
    build_plans,
    environment,
    limits,
    list_packages,
    output_dir,
    project_name,
)
from gobox.config import Mount, Project
from gobox.cross import matrix
from gobox.cross.cgo import (
    ZIG_CACHE,
    ZIG_MOUNT,
    compiler_for,
    find_zig,
    libc_built,
    mark_libc_built,
    zig_libc,
)
from gobox.errors import ConfigError, GoboxError, UsageError
from gobox.names.targets import Port, Target, expand, parse_dist_list, render_output, template_problem
from gobox.sandbox.spec import SandboxSpec
from gobox.store import Store, file_sha256, private_dir, remove_tree, replace_dir, write_atomic
from gobox.toolchains.install import Toolchain
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress

SUMS = "SHA256SUMS"
DIST_LIST = "dist-list.json"  # `go tool dist list -json`, kept next to the toolchain it came from
PEAKS = "cross-peaks.json"
STAGING = ".gobox-cross-"  # the last measured peak memory of a target, per project
HEARTBEAT = 30.0  # seconds between the lines that say a first C library build still runs


@dataclass(frozen=True)
class Request:
    """What `gobox cross` was asked for, beyond the project's gobox.toml."""

    patterns: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    go_args: tuple[str, ...] = ()
    jobs: int | None = None
    archive: bool | None = None  # None: [cross].archive
    cgo: bool | None = None  # None: [go].cgo, or CGO_ENABLED from [build].env or --env


@dataclass(frozen=True)
class Artifact:
    target: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Outcome:
    """How one target went."""

    target: Target
    ok: bool
    seconds: float
    peak_memory: int | None
    exit_code: int | None
    output: str  # what go printed
    error: str | None  # why it failed, in one line
    directory: Path | None  # where its binaries are, when it succeeded and the packages hold commands
    compiled: int = 0  # packages compiled besides the commands (all of them in a library)


@dataclass(frozen=True)
class Report:
    go_version: str
    outcomes: tuple[Outcome, ...]
    artifacts: tuple[Artifact, ...]
    sums: Path | None

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)


def toolchain_ports(toolchain: Toolchain) -> tuple[Port, ...]:
    """The ports the toolchain supports, from its own `go tool dist list -json`, run once and kept."""
    cached = Path(toolchain.path) / DIST_LIST
    try:
        return parse_dist_list(cached.read_text())
    except (OSError, ValueError):
        pass
    # The toolchain's own go for this host, outside the sandbox: `dist list` only prints a
    # table compiled into it, and a scrubbed environment keeps GOFLAGS and GOTOOLCHAIN out.
    env = {"GOROOT": str(toolchain.goroot), "GOTOOLCHAIN": "local", "PATH": "/usr/bin:/bin",
           "HOME": "/nonexistent"}
    try:
        out = subprocess.run([str(toolchain.go), "tool", "dist", "list", "-json"], capture_output=True,
                             env=env, timeout=60, check=True)
        ports = parse_dist_list(out.stdout.decode())
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        raise GoboxError(f"cannot list the ports of go {toolchain.version} ({toolchain.go}): {e}",
                         hint="reinstall it: gobox toolchain rm VERSION && gobox toolchain install VERSION") from None
    with suppress(OSError):  # a store we may only read still works, uncached
        write_atomic(cached, out.stdout)
    return ports


def choose_targets(project: Project, prepared: Prepared, patterns: Sequence[str]) -> tuple[Target, ...]:
    if not isinstance(prepared.toolchain, Toolchain):
        raise UsageError("gobox cross builds with go.dev and PyPI toolchains; an image toolchain "
                         "([go].image, --image) is not supported by cross yet",
                         hint="pin [go].version for cross builds")
    ports = toolchain_ports(prepared.toolchain)
    from gobox.names.versions import GoVersion

    go = GoVersion.parse(prepared.go_version)
    if patterns:
        return expand(patterns, ports, go)
    configured = project.config.cross.targets
    if not configured:
        raise UsageError("no targets: name some, or list them in [cross].targets of gobox.toml",
                         hint="gobox cross darwin/amd64 linux/arm64   (gobox cross --list shows them all)")
    where = project.relative(project.config_path) if project.config_path else "gobox.toml"
    return expand(configured, ports, go, origin=f"{where}: cross.targets")


def cgo_wanted(project: Project, options: Options, request: Request) -> bool:
    if request.cgo is not None:
        return request.cgo
    return dict(environment(project, options, 0, None))["CGO_ENABLED"] == "1"


def target_options(project: Project, options: Options, target: Target, host: Target, cgo: bool,
                   zig_cache: Path) -> Options:
    """The run options of one target: its GOOS/GOARCH/variant and C compiler before --env."""
    env = [*target.env(), ("CGO_ENABLED", "1" if cgo else "0")]
    mounts = list(options.mounts)
    if cgo:
        compiler = compiler_for(target, host, project.config.cross.cc, project.config.go.base,
                                find_zig())
        if compiler is not None:
            env += compiler.env()
            if compiler.zig_dir:
                mounts += [Mount(compiler.zig_dir, ZIG_MOUNT, True), Mount(str(zig_cache), ZIG_CACHE)]
    return replace(options, env=(*env, *options.env), mounts=tuple(mounts))


def targets_options(project: Project, store: Store, request: Request, options: Options,
                    targets: Sequence[Target]) -> dict[Target, Options]:
    """Every target's run options; a foreign cgo target without a C compiler fails here, before any work."""
    from gobox.names.platform import host

    here = host()
    cgo = cgo_wanted(project, options, request)
    return {t: target_options(project, options, t, here, cgo, _zig_cache(store)) for t in targets}


def plan_targets(project: Project, prepared: Prepared, request: Request, per_target: Mapping[Target, Options],
                 names: Mapping[Target, str], into: Path, listing: Listing = COMMANDS_ONLY
                 ) -> dict[Target, tuple[SandboxSpec, ...]]:
    """Each target's sandbox plans, run in order, with its options (build.build_plans): its commands into
    `into`/<its directory name> and the other packages compiled (everything, for a library). The listing was
    made for the host, so another target compiles the patterns whole (go skips a package its build
    constraints exclude only then)."""
    from gobox.names.platform import host

    here = host()
    return {t: build_plans(project, prepared.paths, per_target[t], request.packages, request.go_args, listing,
                           into / name, exact=False,
                           bin_subdir="" if (t.goos, t.goarch) == (here.goos, here.goarch) else f"{t.goos}_{t.goarch}")
            for t, name in names.items()}


def plan_request(project: Project, store: Store, prepared: Prepared, request: Request, options: Options,
                 into: Path, listing: Listing = COMMANDS_ONLY) -> dict[Target, tuple[SandboxSpec, ...]]:
    """Every target's sandbox plans for `request`, building into `into` (`gobox cross --dry-run`, and the
    commands gobox ci records); without a listing, as if the packages were commands only."""
    targets = choose_targets(project, prepared, request.patterns)
    names = directory_names(project, targets)
    return plan_targets(project, prepared, request, targets_options(project, store, request, options, targets),
                        names, into, listing)


def listing_for(project: Project, store: Store, prepared: Prepared, request: Request, options: Options) -> Listing:
    """What go list says of the packages, asked once for the host (or kept from an earlier go list of the same
    sources): a command is one on every target."""
    listed = list_packages(project, prepared.paths, options, request.packages, request.go_args, store.listings)
    if listed.listing is None:
        code = listed.result.exit_code if listed.result is not None else None
        raise GoboxError(f"go list of the packages exited with {code}: see its error above")
    return listed.listing


def _zig_cache(store: Store) -> Path:
    return store.cache / "zig"


def directory_names(project: Project, targets: Sequence[Target]) -> dict[Target, str]:
    template = project.config.cross.output
    problem = template_problem(template)
    if problem:
        raise ConfigError(f"gobox.toml: cross.output: {problem}")
    name = project_name(project)
    try:
        names = {t: render_output(template, name, t) for t in targets}
    except ValueError as e:
        raise ConfigError(f"gobox.toml: cross.output: {e}") from None
    seen: dict[str, Target] = {}
    for t, n in names.items():
        if n in seen:
            raise ConfigError(f"gobox.toml: cross.output: {seen[n]} and {t} would both go to {n}",
                              hint="put {variant} in the template")
        seen[n] = t
    return names


def cross(project: Project, store: Store, request: Request, options: Options, prepared: Prepared, epoch: int,
          progress: Progress, events: matrix.Events | None = None,
          listing: Listing | None = None) -> Report:
    """Build every target in its own sandbox, in parallel, and collect the outputs into dist/: the commands'
    binaries, every other package compiled. `prepared` is the caller's one prepare() of the project; `epoch`
    dates the archives. `listing` is go list's answer when the caller has it (or COMMANDS_ONLY, for a build
    of binaries alone); else go list is asked first."""
    targets = choose_targets(project, prepared, request.patterns)
    if listing is None:
        listing = listing_for(project, store, prepared, request, options)
    names = directory_names(project, targets)
    per_target = targets_options(project, store, request, options, targets)
    out = output_dir(project)
    staging = _staging(out)
    try:
        specs = plan_targets(project, prepared, request, per_target, names, staging, listing)
        if any(b.target == ZIG_CACHE for steps in specs.values() for spec in steps for b in spec.binds):
            _zig_cache(store).mkdir(parents=True, exist_ok=True)
        firsts = {str(t): triple for t, o in per_target.items()
                  if (triple := zig_libc(o.env)) and not libc_built(_zig_cache(store), triple)}
        if firsts:
            events = FirstLibc(events, firsts, _zig_cache(store), progress)
        tasks = []
        for t in targets:
            (staging / names[t]).mkdir()
            first, *then = specs[t]
            tasks.append(matrix.Task(str(t), first, staging / f"{names[t]}.log", tuple(then)))
        peaks = store.cache / PEAKS
        estimate = matrix.peak_estimate(peaks, str(project.root)) or matrix.DEFAULT_ESTIMATE
        memory_limit = limits(project, options).memory
        if memory_limit:
            estimate = min(estimate, memory_limit)
        done = matrix.run_all(tasks, matrix.machine(request.jobs or project.config.cross.jobs), estimate,
                              events)
        outcomes = [_settle(t, d, staging / names[t], out / names[t], staging, listing) for t, d in
                    zip(targets, done, strict=True)]
        measured = [o.peak_memory for o in outcomes if o.ok and o.peak_memory]
        if measured:
            matrix.remember_peak(peaks, str(project.root), max(measured), write_atomic)
        use_archive = request.archive if request.archive is not None else project.config.cross.archive
        artifacts = _artifacts(outcomes, names, out, use_archive, epoch)
        sums = _write_sums(out, artifacts)
    finally:
        remove_tree(staging)
    return Report(prepared.go_version, tuple(outcomes), tuple(artifacts), sums)


class FirstLibc(matrix.Events):
    """The caller's events, and for each target whose C library zig has not built here yet: a line when it
    starts saying that this first build takes minutes, one every HEARTBEAT seconds while it runs, and a mark
    in zig's cache when it succeeds, so the next build says nothing."""

    heartbeat = HEARTBEAT

    def __init__(self, events: matrix.Events | None, firsts: Mapping[str, str], cache: Path,
                 progress: Progress) -> None:
        self.events = events or matrix.Events()
        self.firsts = dict(firsts)  # target -> zig target
        self.cache = cache
        self.progress = progress

    def queued(self, names: list[str]) -> None:
        self.events.queued(names)

    def started(self, name: str, running: int) -> None:
        self.events.started(name, running)
        if name in self.firsts:
            self.progress.step(f"{name}: zig builds the C library for {self.firsts[name]} first; the first cgo "
                               f"build of a target takes minutes (then it is kept in {self.cache})")

    def still(self, name: str, seconds: float) -> None:
        if hasattr(self.events, "still"):  # the CLI's events are duck-typed, and may not listen for this
            self.events.still(name, seconds)
        if name in self.firsts:
            minutes, secs = divmod(int(seconds), 60)
            self.progress.step(f"{name}: still building, {minutes}:{secs:02d} so far "
                               f"(zig's C library for {self.firsts[name]})")

    def finished(self, done: matrix.Done) -> None:
        triple = self.firsts.get(done.name)
        if triple and done.error is None and done.result is not None and done.result.exit_code == 0:
            mark_libc_built(self.cache, triple)
        self.events.finished(done)


def _staging(out: Path) -> Path:
    """A fresh directory beside the outputs (same filesystem: each target's lands by one rename).

    One left by a gobox that was killed (its pid is in the name) is removed first.
    """
    try:
        return private_dir(out, STAGING)
    except OSError as e:
        raise GoboxError(f"cannot write the output directory {out}: {e.strerror}",
                         hint="set [build].output in gobox.toml to a directory you can write") from None


def _settle(target: Target, done: matrix.Done, built: Path, final: Path, staging: Path,
            listing: Listing) -> Outcome:
    """Move a target's binaries into place when its build succeeded; say why it failed otherwise."""
    text = done.output
    peak = done.result.peak_memory if done.result else None
    code = done.result.exit_code if done.result else None
    error = done.error
    if error is None and code != 0:
        first = first_error(text)
        error = f"go build exited with {code}" + (f": {first}" if first else "")
    compiled = len(listing.libraries)
    if error is None and not listing.commands:
        return Outcome(target, True, done.seconds, peak, code, text, None, None, compiled)
    if error is None and not any(built.iterdir()):
        error = "go build wrote no binary: [build].packages has no main package"
    if error is None:
        error = _not_regular(built)
    if error is not None:
        return Outcome(target, False, done.seconds, peak, code, text, error, None)
    for f in built.iterdir():
        # go leaves an executable's mode to the umask; releases are the same for everyone.
        os.chmod(f, 0o755)
    replace_dir(built, final, staging)
    return Outcome(target, True, done.seconds, peak, code, text, None, final, compiled)


# Lines go prints that are not errors: a package's header above its errors, progress, -v's package names.
_NOT_ERROR = re.compile(r"#|go: (downloading|finding|extracting) ")
_ERROR = re.compile(r"\S+\.(go|s|c|h|mod):\d+(:\d+)?: |go: |package |cannot |build constraints |pattern ")


def first_error(text: str) -> str | None:
    """The line of go's output that says first what went wrong (later lines are often its consequences)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _NOT_ERROR.match(line.strip())]
    return next((line for line in lines if _ERROR.match(line)), lines[0] if lines else None)


def _not_regular(built: Path) -> str | None:
    """Why the build's output directory cannot be released: go writes regular files there and nothing else,
    so a symlink (which chmod, sha256sum and the archive would follow to the host) came from hostile code."""
    for f in sorted(built.iterdir()):
        if not stat.S_ISREG(f.lstat().st_mode):
            return f"the build's output {f.name} is not a regular file (a symlink or a directory); refusing it"
    return None


def _artifacts(outcomes: Sequence[Outcome], names: Mapping[Target, str], out: Path, use_archive: bool,
               mtime: int) -> list[Artifact]:
    if use_archive:
        from gobox.cross import archive  # tarfile and zlib-ng: only when asked for

    artifacts = []
    for o in outcomes:
        if not o.ok or o.directory is None:
            continue
        files = sorted(p for p in o.directory.iterdir() if p.is_file())
        artifacts += [_artifact(str(o.target), f) for f in files]
        if use_archive:
            dest = out / archive.archive_name(names[o.target], o.target.goos)
            members = [archive.Member(f.name, f, 0o755) for f in files]
            archive.write_archive(dest, members, mtime)
            artifacts.append(_artifact(str(o.target), dest))
    return artifacts


def _artifact(target: str, path: Path) -> Artifact:
    return Artifact(target, path, path.stat().st_size, file_sha256(path))


def _write_sums(out: Path, artifacts: Sequence[Artifact]) -> Path | None:
    """SHA256SUMS in the format `sha256sum -c` reads, paths relative to the output directory: this run's
    outputs and every one an earlier run listed that is still there (hashed again, as it is now), so
    `gobox cross linux/arm64` then `gobox cross darwin/amd64` lists both; a file gone is dropped. None,
    and no file, when nothing is left to list."""
    path = out / SUMS
    listed = {a.path.relative_to(out).as_posix(): a.sha256 for a in artifacts}
    for name in _listed(path):
        if name not in listed and _regular_beneath(out, name):
            listed[name] = file_sha256(out / name)
    if not listed:
        with suppress(FileNotFoundError):
            path.unlink()
        return None
    write_atomic(path, "".join(f"{h}  {n}\n" for n, h in sorted(listed.items())).encode())
    return path


def _listed(path: Path) -> list[str]:
    """The names an existing SHA256SUMS lists; lines gobox did not write are ignored."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    return [m.group(1) for m in map(_SUM_LINE.fullmatch, text.splitlines()) if m]


_SUM_LINE = re.compile(r"[0-9a-f]{64}  ([^\\\n]+)")


def _regular_beneath(out: Path, name: str) -> bool:
    """`name` is a regular file inside `out` reached through no symlink: a SHA256SUMS line never makes gobox
    hash (and so reveal) a file elsewhere."""
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return False
    here = out
    for i, part in enumerate(parts):
        here = here / part
        try:
            mode = here.lstat().st_mode
        except OSError:
            return False
        if not (stat.S_ISREG(mode) if i == len(parts) - 1 else stat.S_ISDIR(mode)):
            return False
    return True


def to_json(report: Report) -> dict:
    return {
        "go": report.go_version,
        "artifacts": [{"target": a.target, "path": str(a.path), "size": a.size, "sha256": a.sha256}
                      for a in report.artifacts],
        "targets": [{"target": str(o.target), "ok": o.ok, "seconds": round(o.seconds, 3),
                     "peak_memory": o.peak_memory, "exit_code": o.exit_code, "error": o.error,
                     "compiled": o.compiled, "output": o.output} for o in report.outcomes],
        "sha256sums": str(report.sums) if report.sums else None,
    }

