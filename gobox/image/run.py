"""`gobox image run`: an image from the store (pulled when missing) run on gobox's own sandbox, as `docker run`.

The root is an overlay of the image's layers over a small runtime layer that
gives what a runtime provides and a scratch image lacks (/etc/hosts, an empty
/etc/resolv.conf, mount points for /proc, /dev and /tmp); the image's own files
win over it. The command is Entrypoint + Cmd (ARGS replace Cmd), with the
image's Env, WorkingDir (made in the container's root when missing) and User.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.config import Mount
from gobox.errors import SandboxError, UsageError
from gobox.image.plan import DEFAULT_PATH
from gobox.imagestore.records import Image
from gobox.imagestore.rootview import read_lines
from gobox.names.reference import DOCKER_HUB, Reference
from gobox.oci.manifest import ImageConfig
from gobox.sandbox.cgroups import Limits
from gobox.sandbox.spec import Bind, Publish, SandboxSpec
from gobox.store import Store, remove_tree
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress
    from gobox.settings import Settings

RUNTIME_FORMAT = 1  # bump when runtime_files changes, so an old layer is not reused
RUNTIME_FILES = {
    "etc/hosts": b"127.0.0.1\tlocalhost gobox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "etc/resolv.conf": b"",
}
RUNTIME_DIRS = ("etc", "proc", "dev", "tmp")


@dataclass(frozen=True)
class Found:
    image: Image
    config: ImageConfig
    layers: tuple[Path, ...]  # unpacked, bottom first


def candidates(text: str) -> tuple[Reference, ...]:
    """The references a name may mean: as written, and for a bare name also the locally built localhost/NAME."""
    ref = Reference.parse(text.strip())
    first = text.strip().split("/", 1)[0]
    names_registry = "/" in text and ("." in first or ":" in first or first == "localhost")
    if ref.registry == DOCKER_HUB and not names_registry:
        repo = ref.repository.removeprefix("library/")
        return Reference("localhost", repo, ref.tag, ref.digest), ref
    return (ref,)


def find(store: Store, settings: Settings, text: str, platform: str, progress: Progress) -> Found:
    """The image `text` names for `platform`: built or pulled before, else pulled now."""
    from gobox.imagestore.unpack import ensure_layers
    from gobox.names.platform import Platform
    from gobox.oci.layer import Limits
    from gobox.oci.manifest import parse_config
    from gobox.toolchains.image import find_image

    refs = candidates(text)
    image = next((i for r in refs if (i := find_image(store, r, platform, r.digest)) is not None), None)
    if image is None:
        from gobox.imagestore.pull import pull
        from gobox.oci.transport import Options

        image = pull(refs[-1], store, Options.from_settings(settings), Platform.parse(platform), progress).image
    config = parse_config(store.blob_for(image.config).read_bytes(), image.config)
    return Found(image, config, ensure_layers(store, image.layers, config.diff_ids, Limits.from_settings(settings)))


def command(config: ImageConfig, args: Sequence[str], entrypoint: str | None = None) -> tuple[str, ...]:
    """Entrypoint then Cmd, or ARGS instead of Cmd, as docker run does."""
    head = [entrypoint] if entrypoint is not None else list(config.entrypoint or ())
    tail = list(args) if args else ([] if entrypoint is not None else list(config.cmd or ()))
    argv = tuple(head + tail)
    if not argv:
        raise UsageError("the image has no Entrypoint or Cmd, and no command was given",
                         hint="gobox image run REF -- COMMAND [ARGS...]")
    return argv


def environment(config: ImageConfig, home: str, extra: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The image's Env, a PATH and HOME when it sets none (as Docker adds them), then --env."""
    env: dict[str, str] = {}
    for item in config.env:
        key, sep, value = item.partition("=")
        if sep and key:
            env[key] = value
    env.setdefault("PATH", DEFAULT_PATH.partition("=")[2])
    env.setdefault("HOME", home)
    env.update(extra)
    return tuple(env.items())


def home_of(uid: int, layers: Sequence[Path]) -> str:
    """The uid's home in the image's own /etc/passwd (its symlinks followed inside it), as docker run sets HOME."""
    for line in read_lines(layers, "/etc/passwd"):
        f = line.split(":")
        if len(f) >= 6 and f[2] == str(uid) and f[5]:
            return f[5]
    return "/root" if uid == 0 else "/"


def bind(mount: Mount, cwd: Path) -> Bind:
    """A -v/--mount of `gobox image run`: a relative source is the caller's directory's, as docker -v ./x."""
    return Bind(str(cwd / mount.source), mount.target, mount.readonly)


def spec(found: Found, runtime_layer: Path, argv: tuple[str, ...], uid: int, gid: int,
         env: tuple[tuple[str, str], ...], network: str, limits: Limits, scratch: Path,
         binds: tuple[Bind, ...] = (), workdir: str | None = None, publish: tuple[Publish, ...] = ()) -> SandboxSpec:
    """The sandbox plan of one run of the image (pure). The working directory (-w, else the image's
    WorkingDir) is made in the container's root when missing, as podman and docker make it."""
    extra = []
    if network in ("host", "private") and os.path.isfile("/etc/resolv.conf"):
        extra.append(Bind("/etc/resolv.conf", "/etc/resolv.conf", readonly=True))
    return SandboxSpec(
        argv=argv,
        layers=(*(str(p) for p in reversed(found.layers)), str(runtime_layer)),
        env=env,
        cwd=workdir or found.config.working_dir or "/",
        make_cwd=True,
        binds=(*extra, *binds),
        tmpfs=("/tmp",),
        uid=uid,
        gid=gid,
        network=network,
        publish=publish,
        limits=limits,
        scratch=str(scratch),
    )


def explain_missing(error: SandboxError, reference: str, spec: SandboxSpec) -> SandboxError:
    """A command the image lacks, said of the image as the user named it (the sandbox's own hint is about
    gobox run's [go].base)."""
    if error.exit_code != 127:
        return error
    name = spec.argv[0]
    where = "at that path" if "/" in name else f"in its PATH ({dict(spec.env).get('PATH', '')})"
    return SandboxError(f"{name}: the image {reference} has no such file {where}", exit_code=127,
                        hint=f"name a command the image holds: gobox image run {reference} -- CMD [ARGS...], "
                        "or --entrypoint CMD")


def ensure_runtime_layer(store: Store) -> Path:
    """The runtime layer, made once per format and never changed: running images may have it as a lower dir."""
    import errno

    path = store.layers / f"image-runtime-{RUNTIME_FORMAT}"
    if path.is_dir():
        return path
    store.ensure()
    tmp = store.tmp / f"{path.name}.{os.getpid()}"
    remove_tree(tmp)
    for d in RUNTIME_DIRS:
        (tmp / d).mkdir(parents=True, exist_ok=True)
    (tmp / "tmp").chmod(0o1777)
    for name, data in RUNTIME_FILES.items():
        (tmp / name).write_bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, path)
    except OSError as e:
        remove_tree(tmp)  # another gobox made it first; its content is the same
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    return path
