"""gobox run --commit: what a run wrote becomes a new layer on its image, recorded in the store as a local image.

This is the seeds' `docker commit`: the overlay upper of the run is read back
as a layer, with overlayfs whiteouts (0/0 character devices) and opaque
directories (the user.overlay.opaque xattr) spelled as OCI whiteouts, and
the new image is the base's layers plus that one.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gobox.imagestore.records import Image, record_path
from gobox.names.reference import Reference
from gobox.oci.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Manifest,
    parse_document,
)
from gobox.oci.write import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, WHITEOUT, Blob, Entry, write_json_blob, write_layer
from gobox.store import Store, write_atomic
from gobox.values import dataclass

OPAQUE_XATTR = "user.overlay.opaque"  # the sandbox mounts its overlay with userxattr


@dataclass(frozen=True)
class Diff:
    entries: tuple[Entry, ...]
    skipped: tuple[str, ...]  # fifos and sockets: an image layer has no use for them


@dataclass(frozen=True)
class Committed:
    image: Image
    layer: Blob
    entries: int
    skipped: tuple[str, ...]


def read_upper(upper: Path, mount_points: Iterable[str], lower: Sequence[Path]) -> Diff:
    """The entries of an overlay upper directory, less what gobox itself made there.

    `mount_points` (absolute paths in the root) were mounted over, so they and
    the directories made only to hold them are left out; a directory that the
    image's `lower` layers already had stays, as docker keeps it.
    """
    targets = {p.strip("/") for p in mount_points if p.strip("/")}
    holders = {"/".join(t.split("/")[:i]) for t in targets for i in range(1, t.count("/") + 1)}
    entries: list[Entry] = []
    skipped: list[str] = []
    links: dict[tuple[int, int], str] = {}

    def in_lower(rel: str) -> bool:
        return any(os.path.lexists(layer / rel) for layer in lower)

    def walk(rel_dir: str) -> None:
        with os.scandir(upper / rel_dir if rel_dir else upper) as it:
            names = sorted(e.name for e in it)
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel in targets:
                continue
            path = upper / rel
            st = path.lstat()
            mode, uid, gid, mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
            if stat.S_ISDIR(st.st_mode):
                start = len(entries)
                entries.append(Entry(rel, DIR, mode, uid=uid, gid=gid, mtime=mtime))
                opaque = _opaque(path)
                if opaque:
                    entries.append(Entry(rel, OPAQUE))
                walk(rel)
                if rel in holders and not opaque and len(entries) == start + 1 and not in_lower(rel):
                    entries.pop()
            elif stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                entries.append(Entry(rel, WHITEOUT))
            elif stat.S_ISREG(st.st_mode):
                first = links.get((st.st_dev, st.st_ino)) if st.st_nlink > 1 else None
                if first is not None:
                    entries.append(Entry(rel, HARDLINK, mode, link=first, uid=uid, gid=gid, mtime=mtime))
                else:
                    links[(st.st_dev, st.st_ino)] = rel
                    entries.append(Entry(rel, FILE, mode, source=path, uid=uid, gid=gid, mtime=mtime))
            elif stat.S_ISLNK(st.st_mode):
                entries.append(Entry(rel, SYMLINK, 0o777, link=os.readlink(path), uid=uid, gid=gid, mtime=mtime))
            else:
                skipped.append("/" + rel)

    walk("")
    return Diff(tuple(entries), tuple(skipped))


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def commit(store: Store, base: str, platform: str, diff: Diff, ref: Reference, created_by: str,
           now: int) -> Committed:
    """Record image `ref` = the image whose manifest is `base` plus a layer of `diff`.

    The manifest keeps the base's schema (Docker or OCI), so a registry that
    took the base takes the commit too.
    """
    manifest = parse_document(store.blob_for(base).read_bytes(), None, base)
    if not isinstance(manifest, Manifest):
        raise ValueError(f"{base} is an index, not an image manifest")
    layer = write_layer(store, diff.entries)
    config = json.loads(store.blob_for(manifest.config.digest).read_bytes())
    created = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config["created"] = created
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(layer.diff_id)
    if isinstance(config.get("history"), list):  # history has one entry per layer, or none at all
        config["history"].append({"created": created, "created_by": created_by, "comment": "gobox run --commit"})
    docker = manifest.media_type == DOCKER_MANIFEST
    config_blob = write_json_blob(store, config)
    layers: list[dict[str, Any]] = [{"mediaType": d.media_type, "digest": d.digest, "size": d.size}
                                    for d in manifest.layers]
    layers.append({"mediaType": DOCKER_LAYER if docker else OCI_LAYER_GZIP, "digest": layer.digest,
                   "size": layer.size})
    top = write_json_blob(store, {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, "digest": config_blob.digest,
                   "size": config_blob.size},
        "layers": layers,
    })
    image = Image(str(ref), top.digest, None, platform, config_blob.digest, tuple(d["digest"] for d in layers),
                  config_blob.size + sum(d["size"] for d in layers))
    write_atomic(record_path(store, ref, platform), json.dumps(image.to_json(), indent=2).encode())
    return Committed(image, layer, len(diff.entries), diff.skipped)
