"""Orchestration of run, build, test and shell: a Project, a Toolchain and a command become a SandboxSpec."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.config import Mount, Project, vendor_mode
from gobox.errors import ConfigError, GoboxError, LimitReached, SandboxError
from gobox.sandbox.cgroups import Limits
from gobox.sandbox.spec import Bind, Overlay, Publish, Result, SandboxSpec
from gobox.store import Store
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.lock import LockPin
    from gobox.progress import Progress
    from gobox.settings import Settings
    from gobox.toolchains.image import ImageToolchain
    from gobox.toolchains.install import Toolchain
    from gobox.toolchains.protocol import GoToolchain

GOROOT = "/usr/local/go"
GOPATH = "/go"
GOCACHE = "/gobox/cache/go-build"
GOMODCACHE = "/go/pkg/mod"
PATH = f"{GOROOT}/bin:{GOPATH}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What base = "host" lends the sandbox, read-only: compilers, linkers, git and their libraries.
# Not /usr itself: /usr/local/go must stay the pinned toolchain's.
HOST_DIRS = ("/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32",
             "/usr/libexec", "/usr/include", "/usr/share", "/etc/alternatives")
# On merged-/usr systems these are symlinks into /usr, and are recreated as such.
HOST_TOP = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
HOST_FILES = ("/etc/ld.so.cache",)
# What gobox ci fixes, so that neither the runner's locale nor its time zone reaches a build or its tests.
# HOME too: the same for every user, so a build's environment does not depend on who runs it.
CLEAN_ROOM_ENV = {"TZ": "UTC", "LANG": "C.UTF-8", "HOME": "/home/gobox"}
CLEAN_ROOM_UMASK = 0o022


@dataclass(frozen=True)
class Options:
    """What the command line adds to gobox.toml for one run."""

    go: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    memory: int | None = None
    pids: int | None = None
    cpus: float | None = None
    locked: bool = False
    no_limits: bool = False
    image: str | None = None  # an OCI image to build in, overriding [go].image
    # gobox ci's clean room: the source read-only, empty caches on tmpfs, fixed TZ, LANG and umask.
    clean_room: bool = False
    user: tuple[int, int] | None = None  # uid and gid inside (gobox verify varies them); default the caller's
    seccomp: str | None = None  # "default" or "off", overriding [sandbox].seccomp
    tty: bool = False  # the command gets a pty of its own when stdin is a terminal (gobox run, gobox shell)
    workdir: str | None = None  # the command's directory inside (gobox run -w), made when missing
    publish: tuple[Publish, ...] = ()  # host ports forwarded into a private network (gobox run -p)
    # A clean room's prebuilt standard library (gobox.ci.stdcache): store directories shown read-only under
    # the room's empty GOCACHE, whose writes stay in a throw-away upper.
    gocache_lower: tuple[str, ...] = ()


@dataclass(frozen=True)
class Paths:
    """Host paths a plan needs; gathered by `prepare`, so `plan` stays pure."""

    toolchain_layers: tuple[str, ...]  # top first: the go.dev/PyPI layer, or an image's layers
    minimal_layer: str
    gocache: str
    gomodcache: str
    scratch: str
    cwd: str
    uid: int
    gid: int
    # An image toolchain's own Env (PATH, GOPATH, ...), which gobox's variables then amend; None otherwise.
    image_env: tuple[tuple[str, str], ...] | None = None
    # A base image's Env under a go.dev/PyPI toolchain ([go].base = an image); None for "none" and "host".
    base_env: tuple[tuple[str, str], ...] | None = None


def home_for(uid: int) -> str:
    return "/root" if uid == 0 else "/home/gobox"


def network(project: Project, options: Options) -> str:
    return options.network or project.config.sandbox.network


def environment(project: Project, options: Options, uid: int, term: str | None,
                image_env: tuple[tuple[str, str], ...] | None = None,
                base_env: tuple[tuple[str, str], ...] | None = None) -> tuple[tuple[str, str], ...]:
    """The command's whole environment: the image's Env if any, what gobox sets, then [build].env, then --env.

    An image toolchain keeps its PATH and GOPATH, and go finds its own GOROOT;
    a base image keeps its PATH after the pinned Go's.
    """
    cfg = project.config
    env = dict(image_env if image_env is not None else base_env or ())
    if image_env is not None:
        path = env.get("PATH", PATH)
    elif env.get("PATH"):
        path = f"{GOROOT}/bin:{GOPATH}/bin:{env['PATH']}"
    else:
        path = PATH
    env.update({
        "PATH": path, "HOME": home_for(uid), "GOPATH": env.get("GOPATH", GOPATH),
        "GOCACHE": GOCACHE, "GOMODCACHE": GOMODCACHE,
        # The pinned toolchain is the one that runs: never a download of another.
        "GOTOOLCHAIN": "local",
        # -mod=vendor in GOFLAGS, not on gobox's own go command only: `go build` in `gobox run`, the go
        # commands tests start and a shell all take vendor/ as the build does (Go's own default needs
        # go.mod at 1.14 or later; gobox takes a vendored tree whatever the go line says).
        "GOFLAGS": f"-buildvcs={'true' if cfg.build.buildvcs else 'false'}"
                   + (" -mod=vendor" if mod_vendor(project) else ""),
        "CGO_ENABLED": "1" if cfg.go.cgo else "0",
    })
    if image_env is None:
        env["GOROOT"] = GOROOT
    if vendor_mode(project) == "gopath":
        # `gobox vendor` put each dependency at vendor/src/<import path>: a GOPATH of its own, before /go.
        env.update({"GO111MODULE": "off", "GOPATH": f"{project.root / 'vendor'}:{env['GOPATH']}"})
    if network(project, options) == "none":
        # Fail module lookups at once with Go's own clear message, not a DNS timeout.
        env["GOPROXY"] = "off"
    if term:
        env["TERM"] = term
    if options.clean_room:
        env.update(CLEAN_ROOM_ENV)
    env.update(cfg.build.env)
    env.update(dict(options.env))
    return tuple(env.items())


def limits(project: Project, options: Options) -> Limits:
    s = project.config.sandbox
    return Limits(memory=options.memory or s.memory, pids=options.pids or s.pids,
                  cpus=options.cpus or s.cpus)


def gopath_import_path(project: Project) -> str:
    """The import path a gopath-mode project is built under: [vendor].import-path, else its directory's name."""
    return project.config.vendor.import_path or project.root.name


def _bind(project: Project, m: Mount) -> Bind:
    source = m.source if os.path.isabs(m.source) else str(project.root / m.source)
    return Bind(source, m.target, m.readonly)


def plan(project: Project, paths: Paths, argv: tuple[str, ...], options: Options,
         term: str | None = None) -> SandboxSpec:
    """The SandboxSpec for one command in the project's build environment (pure)."""
    cfg = project.config
    base = cfg.go.base
    image = paths.image_env is not None
    env = environment(project, options, paths.uid, term, paths.image_env, paths.base_env)
    values = dict(env)
    if values["CGO_ENABLED"] == "1" and base == "none" and not values.get("CC") and not image:
        raise ConfigError('cgo needs a C compiler, and [go].base = "none" has none',
                          hint='set [go].base = "host" (the host\'s gcc), or cgo = false')
    clean = options.clean_room
    binds = [Bind(str(project.root), str(project.root), readonly=clean)]
    if not image and paths.toolchain_layers:
        # The toolchain's GOROOT straight from the store, read-only, not through the root's overlay: every
        # run's overlay is new, so each of go's thousands of lookups in GOROOT/src would miss the dentry
        # cache and build an overlay inode (go's package loading in a no-op `go build`: 47 ms through the
        # overlay, 42 ms bound; bench/README.md).
        # Go writes nothing there; the layer is the same bytes the overlay showed.
        binds.append(Bind(paths.toolchain_layers[0] + GOROOT, GOROOT, readonly=True))
    cwd = paths.cwd
    if vendor_mode(project) == "gopath":
        # Outside a GOPATH, go names the main package "_/<its absolute directory>", and that path ends up
        # in the binary even with -trimpath; at $GOPATH/src/<import path> the same bytes come from any checkout.
        home = f"{values['GOPATH'].split(':')[-1]}/src/{gopath_import_path(project)}"
        binds.append(Bind(str(project.root), home, readonly=clean))
        cwd = home + cwd[len(str(project.root)):] if Path(cwd) == project.root or project.root in Path(cwd).parents \
            else cwd
    if not clean:
        binds += [Bind(paths.gocache, GOCACHE), Bind(paths.gomodcache, GOMODCACHE)]
    output = Path(cfg.build.output)
    if output.is_absolute() and project.root not in output.parents:
        binds.append(Bind(str(output), str(output)))
    binds += [_bind(project, m) for m in (*cfg.sandbox.mounts, *options.mounts)]
    symlinks: list[tuple[str, str]] = []
    if base == "host" and not image:
        for d in (*HOST_DIRS, *HOST_TOP):
            if os.path.islink(d):
                symlinks.append((d, os.readlink(d)))
            elif os.path.isdir(d):
                binds.append(Bind(d, d, readonly=True))
        binds += [Bind(f, f, readonly=True) for f in HOST_FILES if os.path.isfile(f)]
    net = network(project, options)
    if net in ("host", "private") and os.path.isfile("/etc/resolv.conf"):
        binds.append(Bind("/etc/resolv.conf", "/etc/resolv.conf", readonly=True))
    return SandboxSpec(
        argv=argv,
        layers=(paths.minimal_layer, *paths.toolchain_layers),
        env=env,
        cwd=options.workdir or cwd,
        make_cwd=options.workdir is not None,
        binds=tuple(binds),
        tmpfs=("/tmp", values["HOME"], *((GOMODCACHE,) if clean else ()),
               *((GOCACHE,) if clean and not options.gocache_lower else ())),
        overlays=(Overlay(GOCACHE, options.gocache_lower),) if clean and options.gocache_lower else (),
        symlinks=tuple(symlinks),
        uid=paths.uid,
        gid=paths.gid,
        network=net,
        publish=options.publish,
        limits=limits(project, options),
        scratch=paths.scratch,
        umask=CLEAN_ROOM_UMASK if clean else None,
        seccomp=options.seccomp or cfg.sandbox.seccomp,
        tty=options.tty,
    )


def _build_flags(project: Project) -> list[str]:
    b = project.config.build
    flags = ["-trimpath", *b.flags]
    if b.ldflags:
        flags.append(f"-ldflags={b.ldflags}")
    if b.tags:
        flags.append(f"-tags={','.join(b.tags)}")
    return flags


def go_build_argv(project: Project, packages: tuple[str, ...], extra: tuple[str, ...],
                  output: Path | None = None) -> tuple[str, ...]:
    """`go build` of the packages into `output` (default [build].output); a trailing slash makes go
    write every main package's binary there, named as go names it (and skip the other packages)."""
    out = str(output or output_dir(project)) + "/"
    return ("go", "build", *_build_flags(project), *extra, "-o", out, *(packages or project.config.build.packages))


def go_install_argv(project: Project, packages: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    """`go install` of the packages: each compiled, and each command linked once into $GOPATH/bin (bin/GOOS_GOARCH
    for another platform). One go run does what go_build_steps' two do for a cross target, without their cost:
    `go build` of a pattern links every command in it again, only to throw the binaries away."""
    return ("go", "install", *_build_flags(project), *extra, *(packages or project.config.build.packages))


def go_compile_argv(project: Project, packages: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    """`go build` with no -o: compiles the packages and keeps nothing, as `go build ./...` in a library does.
    The flags are go_build_argv's (-trimpath too), so the two share GOCACHE's entries."""
    return ("go", "build", *_build_flags(project), *extra, *(packages or project.config.build.packages))


# What `go list` prints of each package: its name, import path, whether it has Go source of its own (not a
# directory of tests only), and for a command the packages building it compiles.
LIST_FORMAT = ('{{.Name}}\t{{.ImportPath}}\t{{if or .GoFiles .CgoFiles}}src{{end}}'
               '{{if eq .Name "main"}}\t{{join .Deps "\\t"}}{{end}}')
LIST_LIMIT = 64 << 20  # bytes of go list's output read; a module whose listing is larger is no module


def go_list_argv(project: Project, packages: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    """`go list` of the packages a build selects, with the flags (tags, -mod) that decide which files count."""
    b = project.config.build
    argv = ["go", "list", "-e", "-f", LIST_FORMAT, *b.flags]
    if b.tags:
        argv.append(f"-tags={','.join(b.tags)}")
    return (*argv, *extra, *(packages or b.packages))


@dataclass(frozen=True)
class Listing:
    """The selected packages as go list sees them: commands (main packages) and the rest."""

    commands: tuple[str, ...]  # import paths
    libraries: tuple[str, ...]  # non-main packages with Go source of their own
    uncovered: tuple[str, ...]  # libraries no command imports, which building the commands leaves uncompiled

    @property
    def packages(self) -> int:
        return len(self.commands) + len(self.libraries)


# A build that wants binaries and nothing else (gobox image): planned as commands without asking go list.
COMMANDS_ONLY = Listing(("",), (), ())


def parse_listing(text: str) -> Listing:
    """The Listing from go list's output in LIST_FORMAT (pure)."""
    commands: list[str] = []
    libraries: list[str] = []
    imported: set[str] = set()
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[1]:
            continue
        name, path, source = fields[0], fields[1], fields[2] == "src"
        if name == "main":
            commands.append(path)
            imported.update(fields[3:])
        elif source:
            libraries.append(path)
    return Listing(tuple(commands), tuple(libraries), tuple(p for p in libraries if p not in imported))


def go_build_steps(project: Project, packages: tuple[str, ...], extra: tuple[str, ...], listing: Listing,
                   output: Path | None = None, exact: bool = True) -> tuple[tuple[str, ...], ...]:
    """The go commands that build what `listing` found: the commands into `output`, and every other package
    compiled (with no command, `go build` as in a library). `exact`: the listing was made for the very
    GOOS/GOARCH built, so the uncovered packages can be named; else (a cross target) the patterns are
    compiled whole, as go skips a package that target's build constraints exclude only then."""
    if not listing.commands:
        return (go_compile_argv(project, packages, extra),)
    steps = [go_build_argv(project, packages, extra, output)]
    if listing.uncovered:
        steps.append(go_compile_argv(project, listing.uncovered if exact else packages, extra))
    return tuple(steps)


def go_test_argv(project: Project, packages: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    """`go test` as go runs it: no -trimpath (a test may read its own source through runtime.Caller) unless
    [test].flags asks for it; [build].flags and tags too."""
    b = project.config.build
    argv = ["go", "test", *b.flags, *project.config.test.flags]
    if b.tags:
        argv.append(f"-tags={','.join(b.tags)}")
    return (*argv, *extra, *(packages or b.packages))


def check_vendored(project: Project) -> None:
    """A project with [vendor.deps] builds from vendor/ alone: say so before go fails on a missing one."""
    mode = vendor_mode(project)
    if mode is None or (project.root / "vendor").is_dir():
        return
    how = "-mod=vendor" if mode == "modules" else "GO111MODULE=off and GOPATH=vendor"
    raise ConfigError(f"gobox.toml has [vendor.deps], so builds use vendor/ ({how}), and there is none yet",
                      hint="run gobox vendor (it fetches the pinned revisions; the build needs no network)")


def mod_vendor(project: Project) -> str | None:
    """Why the project builds with -mod=vendor (vendor/ and never the network), or None when it does not.

    As Go decides it, but whatever go.mod's go line says: Go takes vendor/ by itself only from go 1.14 on,
    and a project that ships its own vendor/ under an older line would otherwise need the network."""
    mode = vendor_mode(project)
    if mode == "modules":
        return "gobox vendor writes vendor/ from [vendor.deps]"
    if mode is not None or project.gomod is None or not (project.root / "vendor" / "modules.txt").is_file():
        return None
    go = project.gomod.go
    old = go is not None and _below_1_14(go)
    return "the project's own vendor/modules.txt" + (f" (go.mod says go {go}, below 1.14, where go would not "
                                                      "take vendor/ by itself)" if old else "")


def _below_1_14(go: str) -> bool:
    from gobox.names.versions import GoVersion, is_version

    return is_version(go) and GoVersion.parse(go) < GoVersion.parse("1.14")


def output_dir(project: Project) -> Path:
    out = Path(project.config.build.output)
    return out if out.is_absolute() else project.root / out


@dataclass(frozen=True)
class Prepared:
    """The world a project's plans need, made ready: its toolchain, installed, and the host paths.

    A dry run's is made ready in name only: `notes` say what a real run would fetch or write first."""

    paths: Paths
    toolchain: GoToolchain  # installed from a source (toolchains.install), or a Go image's layers (.image)
    notes: tuple[str, ...] = ()
    pins: tuple[LockPin, ...] = ()  # what gobox.lock should now say: the command records them (Session.record)

    @property
    def go_version(self) -> str:
        """The Go version, or for an image toolchain the image and its digest."""
        return self.toolchain.label


def prepare(project: Project, store: Store, settings: Settings, options: Options,
            progress: Progress, dry_run: bool = False) -> Prepared:
    """Everything in the world a plan needs: the toolchain (installed or pulled on demand), the
    generated layer and the shared caches. A dry run downloads and writes nothing: it names what would be.
    Nothing is written to gobox.lock: what it should now say is in the result's `pins`."""
    from gobox.buildroot import ensure_minimal_layer, minimal_layer_path
    from gobox.names.platform import host_platform

    uid, gid = options.user or (os.getuid(), os.getgid())
    image_ref = options.image or project.config.go.image
    base = project.config.go.base
    image_env = base_env = None
    notes: list[str] = []
    pins: list[LockPin | None] = []
    toolchain: Toolchain | ImageToolchain
    if image_ref:
        from gobox.oci.layer import Limits
        from gobox.oci.transport import Options as RegistryOptions
        from gobox.toolchains.image import ensure_image, image_in_store, image_user

        where = "--image" if options.image else "gobox.toml: go.image"
        if base not in ("none", "host"):
            raise ConfigError(f"gobox.toml: go.base = {base!r} with {where} {image_ref}: an image toolchain "
                              "is its own root",
                              hint="drop [go].base, or use a go.dev toolchain ([go].version) on that base")
        if dry_run:
            toolchain = image_in_store(project, store, image_ref, where, host_platform(), options.locked, notes)
        else:
            toolchain, pin = ensure_image(project, store, RegistryOptions.from_settings(settings), image_ref,
                                          where, host_platform(), progress, options.locked,
                                          Limits.from_settings(settings))
            pins.append(pin)
        layers = toolchain.lower_layers
        image_env = tuple(_env_pairs(toolchain.config.env))
        uid, gid = image_user(toolchain.config, toolchain.layers, (uid, gid))
    else:
        from gobox.toolchains.resolve import ensure_project

        resolution = ensure_project(project, store, settings, host_platform(), progress, options.go,
                                    os.environ, options.locked, dry_run=dry_run)
        toolchain = resolution.toolchain
        pins.append(resolution.pin)
        if resolution.pending is not None:
            a = resolution.pending
            size = f" ({a.size / 1e6:.1f} MB)" if a.size is not None else ""
            notes.append(f"would install {a.version.tag} from {a.source}{size}")
        if resolution.lock_pending:
            notes.append(f"would write {project.relative(project.lock_path)} (go {toolchain.version})")
        layers = toolchain.lower_layers
        if base not in ("none", "host"):
            from gobox.oci.layer import Limits
            from gobox.oci.transport import Options as RegistryOptions
            from gobox.toolchains.image import ensure_image, image_in_store

            if dry_run:
                root = image_in_store(project, store, base, "gobox.toml: go.base", host_platform(),
                                      options.locked, notes)
            else:
                root, pin = ensure_image(project, store, RegistryOptions.from_settings(settings), base,
                                         "gobox.toml: go.base", host_platform(), progress, options.locked,
                                         Limits.from_settings(settings))
                pins.append(pin)
                _hide_below(Path(toolchain.layer) / GOROOT.lstrip("/"))
            layers += tuple(str(p) for p in reversed(root.layers))
            base_env = tuple(_env_pairs(root.config.env))
    cache = store.cache
    run_dir = store.run
    if dry_run:
        minimal, _ = minimal_layer_path(store.layers, uid, gid)
    else:
        for d in (cache / "go-build", cache / "mod", run_dir, store.layers):
            d.mkdir(parents=True, exist_ok=True)
        minimal = ensure_minimal_layer(store.layers, store.tmp, uid, gid)
    cwd = Path.cwd()
    inside = cwd == project.root or project.root in cwd.parents
    paths = Paths(layers, str(minimal), str(cache / "go-build"), str(cache / "mod"), str(run_dir),
                  str(cwd if inside else project.root), uid, gid, image_env, base_env)
    return Prepared(paths, toolchain, tuple(notes), tuple(p for p in pins if p is not None))


def _hide_below(goroot: Path) -> None:
    """Mark the toolchain's GOROOT opaque, so a base image's own /usr/local/go (a golang image's) cannot
    show through and mix two Go releases in one tree."""
    try:
        if os.getxattr(goroot, "user.overlay.opaque") == b"y":
            return
    except OSError:
        pass
    os.setxattr(goroot, "user.overlay.opaque", b"y")


def _env_pairs(env: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for item in env:
        key, sep, value = item.partition("=")
        if sep and key:
            pairs.append((key, value))
    return pairs


# What a build's root holds, for a command the sandbox did not find in it (exit 127).
NOT_FOUND_HINT = "the root holds only the toolchain unless [go].base says more (base = \"host\" adds the host's /usr)"


def execute(spec: SandboxSpec, options: Options) -> Result:
    from gobox.sandbox.run import run

    try:
        return run(spec, no_limits=options.no_limits)
    except SandboxError as e:
        if e.exit_code == 127:
            e.hint = NOT_FOUND_HINT
        raise


def execute_captured(spec: SandboxSpec, options: Options, limit: int) -> tuple[Result, bytes]:
    """Run the spec with its stdout in a file (its stderr still the user's), and read back at most `limit`
    bytes of it; more is an error. The sandbox inherits gobox's fd 1, so that is what is pointed at the file."""
    import sys
    import tempfile

    with tempfile.TemporaryFile() as f:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(f.fileno(), 1)
            result = execute(spec, options)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        f.seek(0)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise GoboxError(f"{spec.argv[0]} {spec.argv[1]} printed more than {limit >> 20} MiB")
    return result, data


@dataclass(frozen=True)
class Built:
    """How `gobox build` went: what go list found, and the last go command run with its result."""

    listing: Listing | None  # None when go list itself failed
    spec: SandboxSpec
    result: Result
    output: Path
    cached: bool = False  # the listing was kept from an earlier go list (gobox.listcache), which did not run


@dataclass(frozen=True)
class Listed:
    """go list's answer for a build: the Listing (None when go list failed), the spec of go list, and its
    result, which is None when a kept listing answered and go list did not run."""

    listing: Listing | None
    spec: SandboxSpec
    result: Result | None


def list_packages(project: Project, paths: Paths, options: Options, packages: tuple[str, ...],
                  extra: tuple[str, ...], cache: Path | None = None) -> Listed:
    """Ask go list, in the sandbox, which of the selected packages are commands: one go command, whose
    output is gobox's to read. With `cache` (the store's listings), a listing kept for the same go list of
    the same sources answers instead, and a new one is kept; gobox ci's clean room never uses one."""
    spec = plan(project, paths, go_list_argv(project, packages, extra), options)
    kept = None
    if cache is not None and not options.clean_room:
        kept = _Kept.look(cache, project, spec)
        if kept.listing is not None:
            return Listed(kept.listing, spec, None)
    result, out = execute_captured(spec, options, LIST_LIMIT)
    listing = parse_listing(out.decode("utf-8", "replace")) if result.exit_code == 0 else None
    if kept is not None and listing is not None:
        kept.keep(listing)
    return Listed(listing, spec, result)


@dataclass(frozen=True)
class _Kept:
    """Where go list's answer for one spec is kept, and what the sources were when it was looked for."""

    path: Path | None  # None: this go list is not kept (it reads files the fingerprint does not cover)
    key: str
    sources: str  # the fingerprint, taken before go list ran: a change while it runs is a miss next time
    racy: bool  # a source changed too recently for its stat to prove the next change (listcache.racy)
    listing: Listing | None  # what the entry said, when it was for this key and these sources

    @classmethod
    def look(cls, cache: Path, project: Project, spec: SandboxSpec) -> _Kept:
        import time

        from gobox import listcache

        key = listcache.key(str(project.root), spec.cwd, spec.argv, spec.env, spec.layers,
                            tuple((b.source, b.target, b.readonly) for b in spec.binds))
        if not listcache.cacheable(spec.argv, spec.env):
            return cls(None, key, "", True, None)
        started = time.time_ns()
        rows = listcache.walk(str(project.root))
        sources = listcache.fingerprint(rows)
        path = cache / listcache.entry_name(key)
        try:
            with open(path, "rb") as f:
                entry = listcache.decode(f.read(listcache.ENTRY_LIMIT + 1))
        except OSError:
            entry = None
        listing = None
        if entry is not None and entry.key == key and entry.sources == sources:
            listing = Listing(entry.commands, entry.libraries, entry.uncovered)
        return cls(path, key, sources, listcache.racy(rows, started), listing)

    def keep(self, listing: Listing) -> None:
        """Write the entry (atomically: a crash leaves the old one or none); a store gobox may only read
        keeps nothing."""
        if self.path is None or self.racy:
            return
        from gobox import listcache
        from gobox.store import write_atomic

        entry = listcache.Entry(self.key, self.sources, listing.commands, listing.libraries, listing.uncovered)
        try:
            write_atomic(self.path, listcache.encode(entry))
        except OSError:
            pass


def build_plans(project: Project, paths: Paths, options: Options, packages: tuple[str, ...],
                extra: tuple[str, ...], listing: Listing, output: Path | None = None, exact: bool = True,
                bin_subdir: str = "") -> tuple[SandboxSpec, ...]:
    """The sandbox plans of go_build_steps, run in order. Commands and other packages both to build: one
    `go install` whose $GOPATH/bin is `output` (bound there; for another platform go writes bin/GOOS_GOARCH,
    `bin_subdir`), where `go build -o` and `go build` would be two sandboxes and link every command twice.
    GOPATH mode (no go.mod, GO111MODULE=off), or a GOBIN of the user's, keeps the two go build steps."""
    steps = go_build_steps(project, packages, extra, listing, output, exact)
    values = dict(environment(project, options, paths.uid, None, paths.image_env, paths.base_env))
    if len(steps) == 1 or project.gomod is None or values.get("GO111MODULE") == "off" or "GOBIN" in values:
        return tuple(plan(project, paths, argv, options) for argv in steps)
    bin_dir = values["GOPATH"].split(":")[0] + "/bin" + (f"/{bin_subdir}" if bin_subdir else "")
    into = output or output_dir(project)
    options = replace(options, mounts=(*options.mounts, Mount(str(into), bin_dir)))
    return (plan(project, paths, go_install_argv(project, packages, extra), options),)


def build_packages(project: Project, paths: Paths, options: Options, packages: tuple[str, ...],
                   extra: tuple[str, ...], cache: Path | None = None) -> Built:
    """`gobox build`: the commands among the packages into [build].output, every other package compiled; with
    no command at all, every package compiled, as `go build ./...` does. Stops at the first failing step.
    `cache`: where go list's answers are kept (list_packages)."""
    out = output_dir(project)
    listed = list_packages(project, paths, options, packages, extra, cache)
    if listed.listing is None:
        assert listed.result is not None  # a kept listing is never a failed one
        return Built(None, listed.spec, listed.result, out)
    spec, result = listed.spec, listed.result
    for spec in build_plans(project, paths, options, packages, extra, listed.listing):
        result = execute(spec, options)
        if result.exit_code != 0:
            break
    assert result is not None  # build_plans has at least one step
    return Built(listed.listing, spec, result, out, cached=listed.result is None)


def explain(result: Result, spec: SandboxSpec) -> LimitReached | None:
    """Why the command died, when a limit killed it; the error exits with the command's status."""
    if result.oom_killed:
        limit = spec.limits.memory
        return LimitReached(f"the command ran out of memory and was killed (memory limit {_mib(limit)})",
                            "raise [sandbox].memory or pass --memory", result.exit_code)
    if result.pids_limited and result.exit_code != 0:
        return LimitReached(f"the command hit the process limit (pids {spec.limits.pids}): a fork failed",
                            "raise [sandbox].pids or pass --pids", result.exit_code)
    return None


def _mib(n: int | None) -> str:
    return "none" if n is None else f"{n / (1 << 20):g} MiB"


def source_date_epoch(root: Path, environ: Mapping[str, str]) -> int:
    """The timestamp of reproducible outputs: SOURCE_DATE_EPOCH, else the last commit's, else 0."""
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value.isdigit():
        return int(value)
    import subprocess

    try:
        # safe.directory: a checkout owned by another user (CI containers) still has a history.
        out = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(root), "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, timeout=30,
                             env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    except (OSError, subprocess.TimeoutExpired):
        return 0
    text = out.stdout.strip()
    return int(text) if out.returncode == 0 and text.isdigit() else 0


def project_name(project: Project) -> str:
    """The name of the project's outputs: go.mod's module path without a /vN suffix, else the directory."""
    module = project.gomod.module if project.gomod else None
    if module:
        parts = [p for p in module.split("/") if p]
        if len(parts) > 1 and parts[-1][:1] == "v" and parts[-1][1:].isdigit():
            parts.pop()
        if parts:
            return parts[-1]
    return project.root.name
