"""Image layers unpacked once each into layers/sha256/<diff_id>/, checked against the diff_id as they stream."""

from __future__ import annotations

import os
from pathlib import Path

from gobox.errors import IntegrityError
from gobox.oci.layer import extract_layer
from gobox.store import Store, remove_tree


def layers_root(store: Store) -> Path:
    return store.root / "layers" / "sha256"


def layer_dir(store: Store, diff_id: str) -> Path:
    return layers_root(store) / diff_id.split(":", 1)[1]


def ensure_layer(store: Store, blob_digest: str, diff_id: str) -> Path:
    """The unpacked layer of a stored blob; made under a lock, in tmp/, and renamed into place."""
    final = layer_dir(store, diff_id)
    if final.is_dir():
        return final
    name = f"layer-{diff_id.split(':', 1)[1][:20]}"
    with store.locked(name):
        if final.is_dir():  # another gobox made it while we waited
            return final
        with store.workdir(name) as work:
            dest = work / "root"
            dest.mkdir()
            blob = store.blob_for(blob_digest)
            with blob.open("rb") as raw:
                _, got = extract_layer(raw, dest)
            if got != diff_id:
                raise IntegrityError(f"layer {blob_digest}: its uncompressed content hashes to {got}, not the "
                                     f"diff_id {diff_id} the image config names", hint="the image is "
                                     "inconsistent; nothing was kept")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(dest, final)
    return final


def ensure_layers(store: Store, blobs: tuple[str, ...], diff_ids: tuple[str, ...]) -> tuple[Path, ...]:
    """Every layer of an image, bottom first."""
    return tuple(ensure_layer(store, b, d) for b, d in zip(blobs, diff_ids, strict=True))


def remove_layer(store: Store, diff_id: str) -> None:
    remove_tree(layer_dir(store, diff_id))
