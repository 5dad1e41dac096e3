"""Pack an image into the store: a layer of files, a layer with the binary, the config and the manifest.

The files layer (passwd, group, CA bundle, zoneinfo, [image].files) is the
same for every platform of a scratch image, so it is written once and its
blob shared; the binary gets a layer of its own. Every entry is owned by
root, with fixed modes and SOURCE_DATE_EPOCH as its time, so the layers'
bytes depend only on the files' contents.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from gobox.config import ImageConfig
from gobox.errors import ConfigError
from gobox.image import plan
from gobox.image.plan import LayerRef, User
from gobox.names.platform import Platform
from gobox.oci.manifest import OCI_LAYER_GZIP
from gobox.oci.write import DIR, FILE, SYMLINK, Blob, Entry, write_json_blob, write_layer
from gobox.store import Store
from gobox.values import dataclass

FILES_LAYER = "gobox image: files"


@dataclass(frozen=True)
class Base:
    """A base image for one platform, as packing needs it."""

    reference: str
    digest: str
    config: dict  # its config document, as it is
    layers: tuple[LayerRef, ...]
    passwd: tuple[str, ...] = ()
    group: tuple[str, ...] = ()


@dataclass(frozen=True)
class Packed:
    """One platform's image in the store."""

    platform: Platform
    manifest: Blob
    config: Blob
    layers: tuple[LayerRef, ...]  # bottom first, the base's included

    @property
    def size(self) -> int:
        return self.config.size + sum(x.size for x in self.layers)


# --- entries ----------------------------------------------------------------------------------


def _mode(st_mode: int) -> int:
    # Only the executable bit is kept: a file's mode in the image must not depend on the umask.
    return 0o755 if st_mode & 0o111 else 0o644


def project_entries(root: Path, files: Mapping[str, str], mtime: int) -> list[Entry]:
    """[image].files as entries: each project file, or directory with everything under it."""
    out: list[Entry] = []
    for target, source in sorted(files.items()):
        name = target.strip("/")
        where = f"gobox.toml: image.files.{target!r}"
        path = project_path(root, source, where)
        try:
            st = path.stat()
        except OSError as e:
            raise ConfigError(f"{where}: {path}: {e.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            out.append(Entry(name, DIR, 0o755, mtime=mtime))
            out += _tree(path, name, mtime, where)
        elif stat.S_ISREG(st.st_mode):
            out.append(Entry(name, FILE, _mode(st.st_mode), mtime=mtime, source=path))
        else:
            raise ConfigError(f"{where}: {path} is neither a file nor a directory")
    return out


def check_project_files(root: Path, files: Mapping[str, str]) -> None:
    """Refuse, before anything is built, an [image].files source that leads out of the project.

    A source that does not exist yet passes: the build may make it, and
    project_entries, after the build, checks it again as it lists it.
    """
    for target, source in sorted(files.items()):
        project_path(root, source, f"gobox.toml: image.files.{target!r}", missing_ok=True)


def project_path(root: Path, source: str, where: str, missing_ok: bool = False) -> Path:
    """Where an [image].files source is on this host: resolved beneath the project root, or a ConfigError.

    Symlinks in the project are followed while they stay in it. One that
    leads out of it (`conf -> /etc`, `conf -> ../../secrets`) is refused, and
    so is an absolute one even when it names a path in this checkout: in
    another checkout, or gobox ci's clean room, it names another file. gobox
    image copies the project's files, never the machine's.
    """
    from gobox.fsroot import resolve_in_root

    rel = _relative(root, source)
    if rel is None:
        raise ConfigError(f"{where}: {source} is not in the project", hint=_FILES_HINT)
    host = os.path.realpath(root / rel)  # as this machine follows the symlinks on the way
    if not _within(host, os.path.realpath(root)):
        raise ConfigError(f"{where}: {source} leads out of the project, to {host}", hint=_FILES_HINT)
    try:
        inside = resolve_in_root(str(root), rel)  # ...and as if the project were /: the same file, or it left
    except FileNotFoundError:
        inside = None
    except OSError as e:
        raise ConfigError(f"{where}: {root / rel}: {e.strerror}") from None
    if inside == host:
        return Path(inside)
    if inside is None and not os.path.lexists(host):
        if missing_ok:  # not there yet: the build may make it
            return root / rel
        raise ConfigError(f"{where}: {root / rel}: No such file or directory")
    raise ConfigError(f"{where}: {source} goes through an absolute symlink, which names this machine's {host}, "
                      "not a file of the checkout", hint=_FILES_HINT)


def _relative(root: Path, source: str) -> str | None:
    """`source` relative to the project root; an absolute one (or ~) only where it is in the project."""
    given = Path(source).expanduser()
    if not given.is_absolute():
        return source  # as written: `..` is resolved after the symlinks before it, as the kernel does
    for top in (os.path.abspath(root), os.path.realpath(root)):
        if _within(os.path.normpath(given), top):
            return os.path.relpath(given, top)
    return None


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


_FILES_HINT = ("[image].files copies files of the project: copy the file in, or make the symlink relative and "
               "inside the checkout")


def _tree(top: Path, prefix: str, mtime: int, where: str) -> list[Entry]:
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        rel = Path(dirpath).relative_to(top).as_posix()
        base = prefix if rel == "." else f"{prefix}/{rel}"
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            inside = f"{base}/{name}"
            if stat.S_ISLNK(st.st_mode):
                out.append(Entry(inside, SYMLINK, 0o777, mtime=mtime, link=os.readlink(path)))
                if name in dirnames:
                    dirnames.remove(name)  # walked as a link, not followed
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(inside, DIR, 0o755, mtime=mtime))
            elif stat.S_ISREG(st.st_mode):
                out.append(Entry(inside, FILE, _mode(st.st_mode), mtime=mtime, source=path))
            else:
                raise ConfigError(f"{where}: {path} is neither a file, a directory nor a symlink")
    return out


def zoneinfo_entries(zoneinfo_zip: Path, mtime: int) -> list[Entry]:
    """Go's lib/time/zoneinfo.zip, unpacked to /usr/share/zoneinfo, where Go's time package looks first."""
    import zipfile

    out = []
    with zipfile.ZipFile(zoneinfo_zip) as z:
        for info in z.infolist():
            name = info.filename.strip("/")
            if info.is_dir() or not name or ".." in name.split("/"):
                continue
            out.append(Entry(f"{plan.ZONEINFO}/{name}", FILE, 0o644, mtime=mtime, data=z.read(info)))
    return out


def with_parents(entries: Sequence[Entry], mtime: int) -> list[Entry]:
    """`entries`, later ones replacing earlier ones of the same name, with a directory for every parent."""
    by_name: dict[str, Entry] = {}
    for e in entries:
        by_name[e.name] = e
    for name in list(by_name):
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            have = by_name.get(parent)
            if have is None:
                by_name[parent] = Entry(parent, DIR, 0o755, mtime=mtime)
            elif have.kind != DIR:
                raise ConfigError(f"the image would hold /{parent} as a {have.kind} and /{name} under it",
                                  hint="check [image].files and [image].path")
    return list(by_name.values())


def files_layer_entries(user: User, base: Base | None, bundle: bytes | None, zoneinfo: Sequence[Entry],
                        extra: Sequence[Entry], mtime: int) -> list[Entry]:
    """Everything but the binary: accounts, CA bundle, zoneinfo, then [image].files, which win."""
    generated = plan.account_files(user, base.passwd if base else (), base.group if base else ())
    if bundle is not None:
        generated[plan.CA_BUNDLE] = bundle
    entries = [Entry(name, FILE, 0o644, mtime=mtime, data=data) for name, data in generated.items()]
    return with_parents([*entries, *zoneinfo, *extra], mtime)


def binary_entries(binary: Path, path: str, mtime: int) -> list[Entry]:
    return with_parents([Entry(path.strip("/"), FILE, 0o755, mtime=mtime, source=binary)], mtime)


# --- writing ----------------------------------------------------------------------------------


def write_entries(store: Store, entries: Sequence[Entry], created_by: str) -> LayerRef:
    blob = write_layer(store, entries)
    return LayerRef(OCI_LAYER_GZIP, blob.digest, blob.size, blob.diff_id or "", created_by)


def pack(store: Store, cfg: ImageConfig, platform: Platform, layers: Sequence[LayerRef], binary_path: str,
         user: User, labels: Mapping[str, str], epoch: int, base: Base | None) -> Packed:
    """Write the config and manifest of one platform's image over layers already in the store."""
    all_layers = (*(base.layers if base else ()), *layers)
    doc = plan.config_doc(cfg, platform, binary_path, user, labels, epoch, layers, base.config if base else None)
    config = write_json_blob(store, doc)
    manifest = write_json_blob(store, plan.manifest_doc(config.digest, config.size, all_layers))
    return Packed(platform, manifest, config, tuple(all_layers))


def write_index(store: Store, packed: Sequence[Packed]) -> Blob:
    return write_json_blob(store, plan.index_doc([(p.manifest.digest, p.manifest.size, p.platform) for p in packed]))

