"""Toolchains from OCI images ([go].image, --image): pinned by digest in gobox.lock, pulled on demand, unpacked.

Like `docker run`, an image already in the store is used as it is; only a
missing one is pulled. gobox.lock records the digest the reference resolved
to, per platform, and later runs use exactly that image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gobox.config import Project
from gobox.errors import ConfigError, GoboxError, LockError, UsageError
from gobox.imagestore.gc import pin, using
from gobox.imagestore.pull import pull
from gobox.imagestore.records import Image, images, read_record, record_path
from gobox.imagestore.rootview import read_bytes, read_lines
from gobox.imagestore.unpack import ensure_layers, layer_dir
from gobox.lock import LockedImage, LockPin, read_lock
from gobox.names.platform import Platform
from gobox.names.reference import Reference
from gobox.oci.layer import DEFAULT_LIMITS, Limits
from gobox.oci.manifest import ImageConfig, parse_config
from gobox.oci.registry import Options
from gobox.store import Store
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress


@dataclass(frozen=True)
class ImageToolchain:
    reference: str
    digest: str
    platform: str
    layers: tuple[Path, ...]  # bottom first
    config: ImageConfig

    @property
    def label(self) -> str:
        return f"image {self.reference} {self.digest}"

    @property
    def lower_layers(self) -> tuple[str, ...]:
        return tuple(str(p) for p in reversed(self.layers))

    @property
    def goroot(self) -> None:
        return None


def parse_image_reference(text: str, where: str) -> Reference:
    try:
        return Reference.parse(text.strip())
    except UsageError as e:
        raise ConfigError(f"{where}: {e.message}", hint=e.hint) from None


def find_image(store: Store, ref: Reference, platform: str, digest: str | None = None) -> Image | None:
    """A pulled image: by digest when one is pinned, else the record of this reference and platform."""
    if digest is None:
        return read_record(record_path(store, ref, platform))
    for image in images(store):
        if image.digest == digest and all(store.blob_for(b).is_file()
                                           for b in (image.config, *image.layers)):
            return image
    return None


def _wanted(project: Project, text: str, where: str, platform: str,
            locked: bool) -> tuple[Reference, LockedImage | None, str | None]:
    """The reference, what gobox.lock pins for it on `platform`, and the digest to use (the reference's own,
    else the pinned one); `locked` with no digest to use is a LockError."""
    ref = parse_image_reference(text, where)
    lock = None if project.ephemeral else read_lock(project.lock_path)
    pinned = lock.image_for(str(ref), platform) if lock else None
    digest = ref.digest or (pinned.digest if pinned else None)
    if locked and digest is None:
        raise LockError(f"--locked: {project.relative(project.lock_path)} pins no digest for {ref.familiar} "
                        f"on {platform}", hint="run gobox without --locked once to record it, and commit the lock")
    return ref, pinned, digest


def _moves_lock(project: Project, ref: Reference, pinned: LockedImage | None, digest: str) -> bool:
    """Whether gobox.lock should now pin `digest` for the reference: a tag that resolved anew."""
    return not project.ephemeral and not ref.digest and (pinned is None or pinned.digest != digest)


def ensure_image(project: Project, store: Store, options: Options, text: str, where: str, platform: str,
                 progress: Progress, locked: bool,
                 limits: Limits = DEFAULT_LIMITS) -> tuple[ImageToolchain, LockPin | None]:
    """The project's image toolchain, following gobox.lock as for any toolchain, and the pin of the digest
    its reference resolved to when the lock should now record it."""
    ref, pinned, digest = _wanted(project, text, where, platform, locked)
    # Between finding the image and pinning it, a gc could free what was found: `using` holds it off,
    # and the pin keeps the image for the whole build, even if it is removed with `gobox rmi` meanwhile.
    with using(store):
        image = find_image(store, ref, platform, digest)
        if image is None:
            want = Platform.parse(platform)
            image = pull(ref.with_digest(digest) if digest else ref, store, options, want, progress).image
        config = parse_config(store.blob_for(image.config).read_bytes(), image.config)
        layers = ensure_layers(store, image.layers, config.diff_ids, limits)
        pin(store, (image.digest, image.config, *image.layers), config.diff_ids)
    lock_pin = None
    if _moves_lock(project, ref, pinned, image.digest):
        lock_pin = LockPin(f"{ref.familiar} at {image.digest[:19]}",
                           image=LockedImage(str(ref), platform, image.digest))
    return ImageToolchain(str(ref), image.digest, platform, layers, config), lock_pin


def image_in_store(project: Project, store: Store, text: str, where: str, platform: str, locked: bool,
                   notes: list[str]) -> ImageToolchain:
    """A dry run's image ([go].image, --image, [go].base): as the store holds it, pulling and unpacking
    nothing; what a real run would fetch is added to `notes`."""
    ref, pinned, digest = _wanted(project, text, where, platform, locked)
    image = find_image(store, ref, platform, digest)
    if image is None:
        notes.append(f"would pull {ref.familiar}" + (f" at {digest}" if digest else "") + f" for {platform}")
        nothing = ImageConfig((), None, None, "", "", (), "", "", "", ())
        return ImageToolchain(str(ref), digest or "(not pulled)", platform, (), nothing)
    config = parse_config(store.blob_for(image.config).read_bytes(), image.config)
    layers = tuple(layer_dir(store, d) for d in config.diff_ids)
    missing = sum(1 for p in layers if not p.is_dir())
    if missing:
        notes.append(f"would unpack {missing} layer{'s' if missing != 1 else ''} of {ref.familiar}")
    if _moves_lock(project, ref, pinned, image.digest):
        notes.append(f"would write {project.relative(project.lock_path)} ({ref.familiar} at {image.digest[:19]})")
    return ImageToolchain(str(ref), image.digest, platform, layers, config)


def image_user(config: ImageConfig, layers: tuple[Path, ...], default: tuple[int, int]) -> tuple[int, int]:
    """The uid and gid the image's User names: numeric, or a name in the image's own /etc/passwd."""
    user = config.user.strip()
    if not user:
        return default
    name, _, group = user.partition(":")
    passwd = read_lines(layers, "/etc/passwd")  # the image's own: its symlinks are followed inside it
    uid = gid = None
    if name.isdigit():
        uid = int(name)
    else:
        for line in passwd:
            fields = line.split(":")
            if len(fields) > 3 and fields[0] == name and fields[2].isdigit() and fields[3].isdigit():
                uid, gid = int(fields[2]), int(fields[3])
    if uid is None:
        raise ConfigError(f"the image's User {user!r} is not in its /etc/passwd")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            gid = next((int(f[2]) for f in (line.split(":") for line in read_lines(layers, "/etc/group"))
                        if len(f) > 2 and f[0] == group and f[2].isdigit()), None)
            if gid is None:
                raise ConfigError(f"the image's User {user!r}: group {group!r} is not in its /etc/group")
    return uid, gid if gid is not None else uid


# --- which Go an image holds -------------------------------------------------------------------

GO_VERSION_FILE = "/usr/local/go/VERSION"  # where the official golang images, and gobox, keep Go


def go_version_of(config: ImageConfig, layers: tuple[Path, ...]) -> str | None:
    """The Go an image holds, as `go version` names it (go1.22.10), or None when it shows none.

    The official golang images say it in their Env (GOLANG_VERSION=1.22.10); any
    other image with Go at /usr/local/go says it in that tree's VERSION file.
    """
    for item in config.env:
        key, _, value = item.partition("=")
        if key == "GOLANG_VERSION" and value.strip():
            value = value.strip()
            return value if value.startswith("go") else f"go{value}"
    try:
        data = read_bytes(layers, GO_VERSION_FILE, limit=1 << 16)
    except GoboxError:
        return None  # not a VERSION file Go writes
    first = (data or b"").decode(errors="replace").partition("\n")[0].strip()
    return first or None


@dataclass(frozen=True)
class PulledToolchain:
    """A pulled image that holds Go: what `gobox toolchain list` shows of images."""

    image: Image
    go_version: str  # as `go version` names it: go1.22.10
    unpacked: bool  # every layer is unpacked, so a build in it needs neither network nor unpacking


def pulled_toolchains(store: Store) -> list[PulledToolchain]:
    """The pulled images that hold Go, found without unpacking anything: images without Go are left out."""
    found = []
    for image in images(store):
        try:
            config = parse_config(store.blob_for(image.config).read_bytes(), image.config)
        except (OSError, GoboxError):
            continue  # its config was removed or is damaged: `gobox pull` again fetches it
        layers = tuple(layer_dir(store, d) for d in config.diff_ids)
        present = tuple(p for p in layers if p.is_dir())
        go = go_version_of(config, present)
        if go is not None:
            found.append(PulledToolchain(image, go, len(present) == len(layers)))
    return found
