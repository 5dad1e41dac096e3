"""Forget images and free what nothing refers to: gobox rmi, gobox gc, and the pins that keep running builds safe.

What gc keeps (the mark) is what some image record under images/ names, and
what a live gobox process has pinned: the blobs and unpacked layers of the
image it runs in, whose record may be removed meanwhile. Everything else in
blobs/sha256/ and layers/sha256/ goes (the sweep). Toolchains, the generated
minimal layers and the caches are not gc's business.

Two rules keep a concurrent gobox safe:
  - a gobox that finds, pulls or unpacks an image does so inside `using(store)`
    (a shared lock) and pins what it will use before leaving it;
  - gc marks and sweeps holding the same lock exclusively.
So gc never sees a pull half done, and a build that got past `using` is pinned
for as long as its process lives; it never waits for gc, nor gc for it.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.errors import GoboxError, NotFoundError
from gobox.imagestore.records import Image, read_record
from gobox.names.reference import Reference
from gobox.store import Store, process_alive, process_starttime, remove_tree, write_atomic
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.progress import Progress

LOCK = "gc"
_HEX = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Downloads and layers being written, named by their writer's pid: pull's tmp/<hex>.<pid>.<tid>.part and
# gobox.oci.write's tmp/layer.<pid>.<random hex>.part.
_PART = re.compile(r"(?:[0-9a-f]{64}|layer)\.([0-9]+)\.[0-9a-f]+\.part")
_GRAVE = "gc-"  # prefix of a layer moved into tmp/ to be deleted there


@dataclass(frozen=True)
class Refs:
    """Content by digest: blobs ("sha256:<hex>" of the blob) and unpacked layers (their diff_id)."""

    blobs: frozenset[str] = frozenset()
    layers: frozenset[str] = frozenset()

    @classmethod
    def of(cls, blobs: Iterable[str] = (), layers: Iterable[str] = ()) -> Refs:
        return cls(frozenset(blobs), frozenset(layers))


@dataclass(frozen=True)
class Pin:
    """What one gobox process said it uses, read back from pins/<pid>-<starttime>.json."""

    path: Path
    pid: int
    starttime: int
    refs: Refs


@dataclass(frozen=True)
class Report:
    """What a gc removed, or with dry_run would remove."""

    blobs: tuple[str, ...]  # digests
    layers: tuple[str, ...]  # diff_ids
    freed: int  # bytes: blob sizes, files in layer dirs, leftover downloads
    pins: int  # stale pins of processes that are gone
    parts: int  # unfinished downloads and layers of processes that are gone
    dry_run: bool

    def to_json(self) -> dict:
        return {"blobs": list(self.blobs), "layers": list(self.layers), "freed": self.freed,
                "pins_cleared": self.pins, "parts_removed": self.parts, "dry_run": self.dry_run}


# --- the mark, as values ---------------------------------------------------------------------------


def collect(roots: Iterable[Refs], pins: Iterable[Refs], present: Refs) -> Refs:
    """The garbage: what is present that no root and no pin names."""
    keep_blobs: set[str] = set()
    keep_layers: set[str] = set()
    for r in (*roots, *pins):
        keep_blobs |= r.blobs
        keep_layers |= r.layers
    return Refs(present.blobs - keep_blobs, present.layers - keep_layers)


def image_refs(image: Image, diff_ids: Iterable[str]) -> Refs:
    """What an image record protects: its manifest, index, config and layer blobs, and its unpacked layers."""
    blobs = {image.digest, image.config, *image.layers}
    if image.index_digest:
        blobs.add(image.index_digest)
    return Refs.of(blobs, diff_ids)


def matches(image: Image, ref: Reference, platform: str | None = None) -> bool:
    """Whether `gobox rmi ref` means this record: same name and tag, or the digest of its manifest or index."""
    from gobox.names.platform import Platform

    try:
        have = Reference.parse(image.reference)
        if platform is not None and not Platform.parse(platform).matches(Platform.parse(image.platform)):
            return False
    except GoboxError:  # a record this gobox cannot read names nothing it could be asked for
        return False
    if have.name != ref.name:
        return False
    if ref.digest:
        return ref.digest in (image.digest, image.index_digest) and ref.tag in (None, have.tag)
    return have.tag == ref.tag


# --- locks and pins ----------------------------------------------------------------------------------


def using(store: Store) -> contextlib.AbstractContextManager[None]:
    """Hold off gc while finding, pulling or unpacking an image; pin what is used before leaving.

    Shared: any number of gobox processes pull at once. Hold it briefly, never
    for a whole build: a gc waits for it.
    """
    return store.locked(LOCK, shared=True)


def exclusive(store: Store, progress: Progress) -> contextlib.AbstractContextManager[None]:
    """The gc side of `using`: no gobox is between finding an image and pinning it while this is held."""
    return store.locked(LOCK, on_wait=lambda: progress.step("waiting for another gobox to finish pulling"))


# This process's pins by file, so that a second pin() adds to the first. Keyed by path, which holds the
# pid: a forked child that pins starts a file of its own instead of rewriting its parent's.
_pinned: dict[Path, Refs] = {}


def pin(store: Store, blobs: Iterable[str], diff_ids: Iterable[str]) -> None:
    """Keep these blobs and unpacked layers from gc for as long as this process lives.

    Call it inside `using(store)`. The pin goes away at exit; one left by a
    gobox killed with -9 is seen to be stale (its pid is gone or now another
    process's) and cleared by the next gc.
    """
    pid = os.getpid()
    starttime = process_starttime(pid)
    path = store.pins / f"{pid}-{starttime}.json"
    old = _pinned.get(path)
    refs = Refs.of(blobs, diff_ids)
    if old is not None:
        refs = Refs(old.blobs | refs.blobs, old.layers | refs.layers)
    doc = {"pid": pid, "starttime": starttime, "blobs": sorted(refs.blobs), "layers": sorted(refs.layers)}
    write_atomic(path, json.dumps(doc, indent=2).encode())
    if old is None:
        atexit.register(_unpin, path, pid)
    _pinned[path] = refs


def _unpin(path: Path, owner: int) -> None:
    # atexit handlers are inherited by forked children (cross builds fork workers): only the writer removes it.
    if os.getpid() != owner:
        return
    _pinned.pop(path, None)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read_pins(store: Store) -> list[Pin]:
    """Every pin file; one that cannot be read names nothing (a pin is written whole, so it is not ours)."""
    if not store.pins.is_dir():
        return []
    out = []
    for path in sorted(store.pins.glob("*.json")):
        pid, _, start = path.stem.partition("-")
        if not (pid.isdigit() and start.isdigit()):
            continue
        try:
            doc = json.loads(path.read_text())
            refs = Refs.of((str(b) for b in doc.get("blobs", ())), (str(x) for x in doc.get("layers", ())))
        except (OSError, ValueError, TypeError, AttributeError):
            refs = Refs()
        out.append(Pin(path, int(pid), int(start), refs))
    return out


# --- rmi and gc -------------------------------------------------------------------------------------


def records(store: Store) -> list[tuple[Path, Image | None]]:
    """Every image record and what it says; None for one this gobox cannot read."""
    root = store.images
    if not root.is_dir():
        return []
    return [(p, read_record(p)) for p in sorted(root.rglob("*.json"))]


def untag(store: Store, refs: Sequence[Reference], platform: str | None, progress: Progress,
          prune: bool = True) -> tuple[tuple[Image, ...], Report | None]:
    """Remove the image records refs name (every platform, or one), then, if prune, run gc.

    Every ref must name a record, or nothing is removed: a typo in the third of
    three is reported before the first two are gone.
    """
    if platform is not None:
        from gobox.names.platform import Platform

        Platform.parse(platform)  # a bad --platform is a usage error, not "no such image"
    with exclusive(store, progress):
        found = records(store)
        chosen: list[tuple[Path, Image]] = []
        for ref in refs:
            hits = [(p, i) for p, i in found if i is not None and matches(i, ref, platform)]
            if not hits:
                where = f" for {platform}" if platform else ""
                raise NotFoundError(f"no image {ref.familiar}{where} in the store",
                                    hint="`gobox images` lists what the store holds")
            chosen += [h for h in hits if h not in chosen]
        for path, _ in chosen:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            _prune_dirs(path.parent, store.images)
        report = _collect_and_sweep(store, dry_run=False) if prune else None
    return tuple(i for _, i in chosen), report


def gc(store: Store, progress: Progress, dry_run: bool = False) -> Report:
    """Remove the blobs and unpacked layers no image record and no running gobox refers to."""
    with exclusive(store, progress):
        return _collect_and_sweep(store, dry_run)


def _collect_and_sweep(store: Store, dry_run: bool) -> Report:
    from gobox.imagestore.unpack import layer_dir  # the extractor's modules: not for a pull's `using`

    roots = [_record_refs(store, path, image) for path, image in records(store)]
    pins: list[Pin] = []
    stale: list[Pin] = []
    for p in read_pins(store):
        (pins if process_alive(p.pid, p.starttime) else stale).append(p)
    garbage = collect(roots, (p.refs for p in pins), _present(store))
    parts = _dead_parts(store)
    freed = sum(_size(store.blob_for(b)) for b in garbage.blobs)
    freed += sum(_tree_size(layer_dir(store, d)) for d in garbage.layers)
    freed += sum(_size(p) for p in parts)
    if not dry_run:
        _clear_graves(store)
        for b in sorted(garbage.blobs):
            with contextlib.suppress(FileNotFoundError):
                store.blob_for(b).unlink()
        for d in sorted(garbage.layers):
            _remove_layer(store, d)
        for part in parts:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        for p in stale:
            with contextlib.suppress(FileNotFoundError):
                p.path.unlink()
    return Report(tuple(sorted(garbage.blobs)), tuple(sorted(garbage.layers)), freed, len(stale), len(parts),
                  dry_run)


def _record_refs(store: Store, path: Path, image: Image | None) -> Refs:
    """What one record protects. Missing blobs do not matter: the record still names them."""
    if image is None:
        # Written by another gobox version: protect every digest it mentions rather than guess wrong.
        try:
            named = set(_DIGEST.findall(path.read_text(errors="replace")))
        except OSError:
            named = set()
        return Refs.of(named, (d for b in named for d in _diff_ids(store, b)))
    return image_refs(image, _diff_ids(store, image.config))


def _diff_ids(store: Store, config_digest: str) -> tuple[str, ...]:
    from gobox.oci.manifest import parse_config

    try:
        data = store.blob_for(config_digest).read_bytes()
        return parse_config(data).diff_ids  # not checked against the digest: only what it names matters here
    except (OSError, GoboxError):
        return ()


def _present(store: Store) -> Refs:
    from gobox.imagestore.unpack import layers_root  # the extractor's modules: not for a pull's `using`

    blobs: list[str] = []
    layers: list[str] = []
    if store.blobs.is_dir():
        blobs = ["sha256:" + e.name for e in os.scandir(store.blobs)
                 if _HEX.fullmatch(e.name) and e.is_file(follow_symlinks=False)]
    root = layers_root(store)
    if root.is_dir():
        layers = ["sha256:" + e.name for e in os.scandir(root)
                  if _HEX.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    return Refs.of(blobs, layers)


def _dead_parts(store: Store) -> list[Path]:
    """Partial downloads and layers whose writing process is gone."""
    if not store.tmp.is_dir():
        return []
    out = []
    for e in os.scandir(store.tmp):
        m = _PART.fullmatch(e.name)
        if m and not process_alive(int(m.group(1))):
            out.append(Path(e.path))
    return sorted(out)


def _remove_layer(store: Store, diff_id: str) -> None:
    """Move the layer out of layers/sha256 in one rename, then delete it: no half layer is ever visible."""
    from gobox.imagestore.unpack import layer_dir  # the extractor's modules: not for a pull's `using`

    src = layer_dir(store, diff_id)
    grave = store.tmp / f"{_GRAVE}{src.name}.{os.getpid()}"
    try:
        os.rename(src, grave)
    except FileNotFoundError:
        return
    except PermissionError:
        # Moving a directory to another parent rewrites its "..": it must be writable itself.
        os.chmod(src, 0o700)
        os.rename(src, grave)
    remove_tree(grave)


def _clear_graves(store: Store) -> None:
    """Layers an earlier gc moved aside and did not finish deleting (it was killed)."""
    for e in os.scandir(store.tmp):
        if e.name.startswith(_GRAVE):
            remove_tree(Path(e.path))


def _prune_dirs(d: Path, top: Path) -> None:
    """Remove the now empty directories of a record up to, not including, images/."""
    while d != top and top in d.parents:
        try:
            d.rmdir()
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                return
            raise
        d = d.parent


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


def _tree_size(path: Path) -> int:
    """Bytes of the files under path, each inode once (a layer may hard-link)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, dirs, names in os.walk(path):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
