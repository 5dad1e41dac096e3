"""The store's image records: which manifest, config and layers a reference and platform name, one JSON file each.

Written last and atomically by whatever put the image's blobs in the store
(a pull, or gobox image), so a record always names blobs that are there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from gobox.names.reference import Reference
from gobox.store import Store
from gobox.values import dataclass


@dataclass(frozen=True)
class Image:
    """An image, pulled or built, as the store records it."""

    reference: str  # canonical, as asked: docker.io/library/golang:1.22
    digest: str  # of the image manifest for the platform
    index_digest: str | None  # of the index or list the reference named, if it named one
    platform: str
    config: str  # digest of the config blob
    layers: tuple[str, ...]  # digests of the layer blobs, bottom first
    size: int  # bytes of config and layers

    def to_json(self) -> dict:
        return {"reference": self.reference, "digest": self.digest, "index_digest": self.index_digest,
                "platform": self.platform, "config": self.config, "layers": list(self.layers), "size": self.size}

    @classmethod
    def from_json(cls, d: dict) -> Image:
        return cls(d["reference"], d["digest"], d.get("index_digest"), d["platform"], d["config"],
                   tuple(d["layers"]), int(d["size"]))


def record_path(store: Store, ref: Reference, platform: str) -> Path:
    """images/<registry>/<repository>/<tag or digest>@<os>-<arch>[-<variant>].json"""
    name = ref.digest.replace(":", "-") if ref.digest and not ref.tag else (ref.tag or "latest")
    return store.images / ref.registry / ref.repository / f"{name}@{platform.replace('/', '-')}.json"


def record_paths(store: Store, ref: Reference) -> list[Path]:
    """The records of `ref` the store holds, one per platform."""
    path = record_path(store, ref, "any")
    return sorted(path.parent.glob(f"{path.name.rsplit('@', 1)[0]}@*.json"))


def read_record(path: Path) -> Image | None:
    """The image a record names; None when there is none, or it is from another gobox version."""
    try:
        return Image.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def images(store: Store) -> Iterator[Image]:
    root = store.images
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*.json")):
        image = read_record(path)
        if image is not None:
            yield image
