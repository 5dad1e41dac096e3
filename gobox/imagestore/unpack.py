"""Image layers unpacked once each into layers/sha256/<diff_id>/, checked against the diff_id as they stream."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from gobox.errors import GoboxError, IntegrityError
from gobox.oci.layer import DEFAULT_LIMITS, Limits, extract_layer
from gobox.store import Store, remove_tree


def layers_root(store: Store) -> Path:
    return store.layers / "sha256"


def layer_dir(store: Store, diff_id: str) -> Path:
    return layers_root(store) / diff_id.split(":", 1)[1]


def ensure_layer(store: Store, blob_digest: str, diff_id: str, limits: Limits = DEFAULT_LIMITS) -> Path:
    """The unpacked layer of a stored blob; made under a lock, in tmp/, and renamed into place.

    Whatever goes wrong (a hostile member, a bomb past `limits`, a full disk),
    the error names the layer and nothing of it is left in the store.
    """
    final = layer_dir(store, diff_id)
    if final.is_dir():
        return final
    name = f"layer-{diff_id.split(':', 1)[1][:20]}"
    try:
        with store.locked(name):
            if final.is_dir():  # another gobox made it while we waited
                return final
            with store.workdir(name) as work:
                dest = work / "root"
                dest.mkdir()
                blob = store.blob_for(blob_digest)
                with blob.open("rb") as raw:
                    _, got = extract_layer(raw, dest, limits=limits)
                if got != diff_id:
                    raise IntegrityError(f"layer {blob_digest}: its uncompressed content hashes to {got}, not "
                                         f"the diff_id {diff_id} the image config names", hint="the image is "
                                         "inconsistent; nothing was kept")
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(dest, final)
    except GoboxError as e:
        if not e.message.startswith("layer "):
            e.message = f"layer {blob_digest}: {e.message}"
            e.args = (e.message,)
        raise
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise GoboxError(f"layer {blob_digest}: no space left in the store {store.root} to unpack it",
                             hint="free some space (gobox gc removes what no image or toolchain uses), or set "
                             "GOBOX_HOME to a disk with room; nothing half-made was kept") from None
        raise GoboxError(f"layer {blob_digest}: cannot unpack it into the store {store.root}: "
                         f"{e.strerror or e}") from None
    return final


def ensure_layers(store: Store, blobs: tuple[str, ...], diff_ids: tuple[str, ...],
                  limits: Limits = DEFAULT_LIMITS) -> tuple[Path, ...]:
    """Every layer of an image, bottom first."""
    return tuple(ensure_layer(store, b, d, limits) for b, d in zip(blobs, diff_ids, strict=True))


def remove_layer(store: Store, diff_id: str) -> None:
    remove_tree(layer_dir(store, diff_id))
