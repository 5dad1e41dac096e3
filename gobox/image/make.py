"""`gobox image`: build the project statically through cross, pack each platform's image, write it out or push it.

The binaries come from `gobox cross` (one sandboxed build per platform, in
parallel) of the project with the image's static settings, landing in
dist/image/. Everything after the build is deterministic: the same binaries,
lock and commit give the same digest, wherever the project is checked out.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gobox.build import COMMANDS_ONLY, environment, output_dir
from gobox.config import Project
from gobox.errors import BuildFailed, ConfigError, GoboxError, UsageError
from gobox.image import pack, plan
from gobox.image.elf import read_elf
from gobox.image.pack import Base, Packed
from gobox.image.plan import Output
from gobox.imagestore.records import Image, record_path, record_paths
from gobox.names.reference import Reference
from gobox.names.targets import Target
from gobox.oci.layout import Top
from gobox.oci.manifest import OCI_INDEX, OCI_MANIFEST, Manifest, parse_document
from gobox.store import Store, write_atomic
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.build import Options, Prepared
    from gobox.cross.matrix import Events
    from gobox.imagestore.push import Pushed
    from gobox.lock import LockPin
    from gobox.progress import Progress
    from gobox.settings import Settings

OUTPUT_DIR = "image"  # under [build].output: the binaries that went into the image


@dataclass(frozen=True)
class Request:
    """What `gobox image` was asked for beyond gobox.toml."""

    platforms: tuple[str, ...] = ()
    tag: str | None = None
    output: str | None = None
    binary: Path | None = None  # pack this already-built binary instead of building


@dataclass(frozen=True)
class Made:
    reference: Reference
    top: Top  # the index, or the one platform's manifest
    images: tuple[Image, ...]  # one per platform, as recorded in the store
    output: Output
    written: Path | None  # the layout or archive written, if any
    size: int  # bytes of every distinct blob, compressed: what a registry stores for it
    pushed: Any = None  # gobox.imagestore.push.Pushed, when pushed
    go_version: str = ""
    pins: tuple[LockPin, ...] = ()  # the base images' digests and the CA bundle, for the command to record


def git_info(root: Path) -> plan.Git:
    """The remote, commit and `git describe` of the project's checkout; empty fields outside one."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(root), *args], capture_output=True,
                                 text=True, timeout=30, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    revision = git("rev-parse", "--verify", "-q", "HEAD")
    if not revision:
        return plan.Git()
    return plan.Git(git("remote", "get-url", "origin"), revision, git("describe", "--tags", "--always"))


@dataclass(frozen=True)
class Checked:
    """A request checked against the project, before anything is fetched or built."""

    request: Request
    output: Output
    targets: tuple[Target, ...]
    cgo: bool
    needs_go: bool  # making it takes the project's Go toolchain: to build the binary, or for its zoneinfo


def check(project: Project, request: Request, options: Options) -> Checked:
    """Every refusal a request can meet before the build: what to write, for which platforms, with cgo or not."""
    from gobox.names.platform import host_platform

    cfg = project.config.image
    output = plan.parse_output(request.output, Path.cwd())
    where = "--platform" if request.platforms else "gobox.toml: image.platforms"
    targets = plan.targets(request.platforms or cfg.platforms, host_platform(), where)
    if output.kind == "docker-archive" and len(targets) > 1:
        raise UsageError(f"a docker-archive holds one platform's image, and {len(targets)} were asked for "
                         f"({', '.join(map(str, targets))})",
                         hint="give one --platform, or write --output oci-archive:FILE or oci:DIR for all")
    if request.binary is not None and len(targets) > 1:
        raise UsageError("--binary packs one binary, for one platform", hint="give one --platform, or build "
                         "with gobox image (without --binary) for several")
    if request.tag is not None:
        plan.reference(project, request.tag, "x")  # a bad --tag is refused before anything is built
    if output.kind == "registry" and request.tag is None and cfg.name is None:
        raise UsageError("--output registry needs a name to push to", hint="give --tag REGISTRY/NAME:TAG or set "
                         "[image].name")
    cgo = dict(environment(project, options, 0, None))["CGO_ENABLED"] == "1"  # as gobox cross decides
    problem = plan.cgo_problem(cgo, cfg.base)
    if problem is not None:
        raise problem
    pack.check_project_files(project.root, cfg.files)  # a source leading out of the project stops us before the build
    return Checked(request, output, targets, cgo, request.binary is None or cfg.tzdata)


def make(project: Project, store: Store, settings: Settings, checked: Checked, options: Options,
         prepared: Prepared | None, epoch: int, progress: Progress, events: Events | None = None) -> Made:
    """Build, pack and write the project's image; push it when the output is the registry.

    `prepared` is the caller's one prepare() of the project: None only when nothing needs Go (a --binary
    without [image].tzdata). `epoch` dates the image's config, layers and labels."""
    cfg = project.config.image
    request, output, targets, cgo = checked.request, checked.output, checked.targets, checked.cgo
    if request.binary is not None:
        binaries, go_version = {targets[0]: request.binary.absolute()}, ""
    else:
        assert prepared is not None, "a build needs the prepared toolchain"
        binaries, go_version = _build(project, store, targets, cgo, options, prepared, epoch, progress, events)
    for t, binary in binaries.items():
        _check_binary(binary, t, cfg.base)
    name = Path(next(iter(binaries.values()))).name
    ref = plan.reference(project, request.tag, name)
    binary_path = cfg.path or f"/{name}"

    labels = plan.labels(cfg, git_info(project.root), epoch)
    bundle = None
    pins: list[LockPin | None] = []
    if cfg.ca_certificates:
        from gobox.image import certs

        bundle, pin = certs.ensure(project, store, settings, options.locked, progress)
        pins.append(pin)
    zoneinfo = _zoneinfo(prepared, epoch) if cfg.tzdata else []
    extra = pack.project_entries(project.root, cfg.files, epoch)

    packed: list[Packed] = []
    files_layers: dict[tuple, plan.LayerRef] = {}
    for t in targets:
        platform = plan.oci_platform(t)
        base = None
        if cfg.base != plan.SCRATCH:
            base, pin = _base(project, store, settings, cfg.base, str(platform), progress, options.locked)
            pins.append(pin)
        user = plan.parse_user(cfg.user, base.passwd if base else ())
        key = (user, base.passwd if base else (), base.group if base else ())
        if key not in files_layers:  # the same for every platform of a scratch image: written once
            entries = pack.files_layer_entries(user, base, bundle, zoneinfo, extra, epoch)
            files_layers[key] = pack.write_entries(store, entries, pack.FILES_LAYER)
        binary_layer = pack.write_entries(store, pack.binary_entries(binaries[t], binary_path, epoch),
                                          f"gobox image: {binary_path}")
        packed.append(pack.pack(store, cfg, platform, (files_layers[key], binary_layer), binary_path, user,
                                labels, epoch, base))
    if len(packed) == 1:
        p = packed[0]
        top = Top(OCI_MANIFEST, p.manifest.digest, p.manifest.size, p.platform)
    else:
        index = pack.write_index(store, packed)
        top = Top(OCI_INDEX, index.digest, index.size)
    images = _record(store, ref, top, packed)
    blobs = {top.digest: top.size}
    for p in packed:
        blobs.update({p.manifest.digest: p.manifest.size, p.config.digest: p.config.size})
        blobs.update({x.digest: x.size for x in p.layers})

    written = _write(store, top, ref, output, epoch)
    pushed = None
    if output.kind == "registry":
        pushed = _push(store, ref, top, settings, progress)
    return Made(ref, top, images, output, written, sum(blobs.values()), pushed, go_version,
                tuple(p for p in pins if p is not None))


# --- the build --------------------------------------------------------------------------------


def static_build(project: Project, targets: tuple[Target, ...], cgo: bool) -> tuple[Project, Any]:
    """The project and the gobox cross request (a release.Request) the image's binaries are built with:
    static settings, into dist/image/."""
    from gobox.cross import release

    cfg = project.config.image
    static = plan.static_project(project, output_dir(project) / OUTPUT_DIR)
    packages = (cfg.package,) if cfg.package else ()
    return static, release.Request(patterns=tuple(map(str, targets)), packages=packages, archive=False, cgo=cgo)


def _build(project: Project, store: Store, targets: tuple[Target, ...], cgo: bool, options: Options,
           prepared: Prepared, epoch: int, progress: Progress,
           events: Events | None) -> tuple[dict[Target, Path], str]:
    """Each platform's binary, built by gobox cross with the image's static settings into dist/image/."""
    from gobox.cross import release

    static, req = static_build(project, targets, cgo)
    # An image holds one command's binary: nothing else is compiled, and go list need not be asked.
    report = release.cross(static, store, req, options, prepared, epoch, progress, events, COMMANDS_ONLY)
    if report.failed:
        names = ", ".join(str(o.target) for o in report.failed)
        first = report.failed[0]
        raise BuildFailed(f"the image's build failed for {names}: {first.error}")
    binaries = {}
    for o in report.outcomes:
        assert o.directory is not None
        built = sorted(p for p in o.directory.iterdir() if p.is_file())
        if len(built) != 1:
            raise ConfigError(f"the build made {len(built)} binaries ({', '.join(p.name for p in built)}), and an "
                              "image holds one", hint='set [image].package, e.g. package = "./cmd/server"')
        binaries[o.target] = built[0]
    return binaries, report.go_version


def _check_binary(binary: Path, target: Target, base: str) -> None:
    """A binary that cannot run in the image is refused: another architecture, or dynamic on scratch."""
    try:
        elf = read_elf(binary)
    except OSError as e:
        raise UsageError(f"{binary}: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"{binary}: {e}; an image holds a Linux executable") from None
    if elf.arch != target.goarch:
        raise UsageError(f"{binary} is a {elf.arch} executable, not one for {target}",
                         hint=f"give --platform linux/{elf.arch}, or build for {target}")
    if elf.interpreter and base == plan.SCRATCH:
        raise UsageError(f"{binary} is dynamically linked (it needs {elf.interpreter}), and a FROM scratch "
                         "image has no libc or loader for it",
                         hint='build it with CGO_ENABLED=0 (tags netgo,osusergo), or set [image].base to an image '
                              'with libc, e.g. "gcr.io/distroless/base-debian12"')


def _zoneinfo(prepared: Prepared | None, epoch: int) -> list:
    assert prepared is not None, "[image].tzdata needs the prepared toolchain"
    goroot = prepared.toolchain.goroot
    if goroot is None:
        raise ConfigError("[image].tzdata takes zoneinfo from the pinned Go toolchain, and an image toolchain "
                          "([go].image) is not one gobox unpacked", hint="pin [go].version for gobox image")
    path = Path(goroot) / "lib" / "time" / "zoneinfo.zip"
    if not path.is_file():
        raise GoboxError(f"go {prepared.go_version} has no {path}", hint="[image].tzdata needs a complete Go toolchain")
    return pack.zoneinfo_entries(path, epoch)


def _base(project: Project, store: Store, settings: Settings, text: str, platform: str, progress: Progress,
          locked: bool) -> tuple[Base, LockPin | None]:
    """The base image for one platform, pulled (or found); and its pin for gobox.lock, as [go].image's."""
    from gobox.imagestore.rootview import read_lines
    from gobox.oci.layer import Limits
    from gobox.oci.transport import Options as RegistryOptions
    from gobox.toolchains.image import ensure_image, find_image, parse_image_reference

    where = "gobox.toml: image.base"
    got, pin = ensure_image(project, store, RegistryOptions.from_settings(settings), text, where, platform, progress,
                       locked, Limits.from_settings(settings))
    image = find_image(store, parse_image_reference(text, where), platform, got.digest)
    assert image is not None  # ensure_image has just found or pulled it
    manifest = parse_document(store.blob_for(image.digest).read_bytes(), None, image.digest)
    assert isinstance(manifest, Manifest)  # an image record names an image manifest, never an index
    config = json.loads(store.blob_for(image.config).read_bytes())
    layers = tuple(plan.LayerRef(plan.oci_layer_type(d.media_type), d.digest, d.size, diff_id)
                   for d, diff_id in zip(manifest.layers, got.config.diff_ids, strict=True))
    # The base's accounts, as its root shows them: a symlink in it (etc -> /anywhere) is followed inside
    # the base, so no line of this host's files ends up in the image.
    return Base(got.reference, got.digest, config, layers, tuple(read_lines(got.layers, "/etc/passwd")),
                tuple(read_lines(got.layers, "/etc/group"))), pin


# --- the store, outputs and push --------------------------------------------------------------


def _record(store: Store, ref: Reference, top: Top, packed: list[Packed]) -> tuple[Image, ...]:
    """Record each platform's image under the tag, so `gobox images` lists it and `gobox image run` finds it.

    The tag now names this build: records of other platforms from an earlier build of it go.
    """
    index_digest = top.digest if top.media_type == OCI_INDEX else None
    images = tuple(Image(str(ref), p.manifest.digest, index_digest, str(p.platform), p.config.digest,
                         tuple(x.digest for x in p.layers), p.size) for p in packed)
    paths = {record_path(store, ref, i.platform): i for i in images}
    for path, image in paths.items():
        write_atomic(path, json.dumps(image.to_json(), indent=2).encode())
    for old in record_paths(store, ref):
        if old not in paths:
            old.unlink(missing_ok=True)
    return images


def _write(store: Store, top: Top, ref: Reference, output: Output, epoch: int) -> Path | None:
    from gobox.oci import layout

    name = str(replace(ref, digest=None))
    if output.path is None:  # "store" and "registry" write no file
        return None
    if output.kind == "oci":
        layout.write_layout(store, top, output.path, ref.tag or "latest", name)
    elif output.kind == "oci-archive":
        layout.write_oci_archive(store, top, output.path, ref.tag or "latest", name, epoch)
    elif output.kind == "docker-archive":
        layout.write_docker_archive(store, top, output.path, [ref.familiar], epoch)
    else:
        return None
    return output.path


def _push(store: Store, ref: Reference, top: Top, settings: Settings,
          progress: Progress) -> Pushed:
    try:
        from gobox.imagestore.push import push
    except ImportError:
        raise GoboxError("this gobox cannot push yet (gobox.imagestore.push is missing); the image is in the store",
                         hint="write it with --output oci-archive:FILE and push that with skopeo copy") from None
    from gobox.oci.transport import Options as RegistryOptions

    return push(store, ref, top.digest, RegistryOptions.from_settings(settings), progress)
