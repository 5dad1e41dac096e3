"""Builds OCI image layouts on disk from Python values, with deterministic bytes, for the registry tests.

The layout follows the OCI image-spec: an `oci-layout` marker, an `index.json` image index whose
entries carry `org.opencontainers.image.ref.name` (so `skopeo copy oci:DIR:TAG ...` finds them), and
content-addressed `blobs/sha256/<hex>`. Layers are gzip'd tars with fixed mtime/owner and sorted names,
so the same values always give the same digests; `Raw` entries let a test put any TarInfo (path
traversal, absolute links) into a layer on purpose.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

OCI_LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

KINDS = ("file", "dir", "symlink", "hardlink", "whiteout", "opaque")


def sha256_digest(data: bytes) -> str:
    """`sha256:<hex>` of `data`, the form digests take in manifests and on the wire."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: object) -> bytes:
    """Compact, key-sorted JSON: the same value always hashes to the same digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Entry:
    """One well-formed layer member.

    kind is file, dir, symlink, hardlink, whiteout (`path` is the deleted name; the member written
    is `<parent>/.wh.<name>`) or opaque (`path` is the directory; the member is
    `<path>/.wh..wh..opq`). `target` is the link target for symlink and hardlink.
    """

    path: str
    kind: str = "file"
    content: bytes | str = b""
    mode: int | None = None
    target: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown entry kind {self.kind!r}; one of {KINDS}")
        if self.kind in ("symlink", "hardlink") and not self.target:
            raise ValueError(f"{self.kind} {self.path!r} needs a target")

    def member_name(self) -> str:
        path = self.path.strip("/")
        if self.kind == "whiteout":
            parent, _, name = path.rpartition("/")
            return f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name
        if self.kind == "opaque":
            return f"{path}/{OPAQUE_MARKER}" if path else OPAQUE_MARKER
        return path

    def tarinfo(self) -> tuple[tarfile.TarInfo, bytes]:
        info = tarfile.TarInfo(self.member_name())
        data = b""
        if self.kind == "file":
            data = self.content.encode() if isinstance(self.content, str) else self.content
            info.type = tarfile.REGTYPE
            info.mode = 0o644 if self.mode is None else self.mode
        elif self.kind == "dir":
            info.type = tarfile.DIRTYPE
            info.mode = 0o755 if self.mode is None else self.mode
        elif self.kind == "symlink":
            info.type = tarfile.SYMTYPE
            info.linkname = self.target
            info.mode = 0o777 if self.mode is None else self.mode
        elif self.kind == "hardlink":
            info.type = tarfile.LNKTYPE
            info.linkname = self.target
            info.mode = 0o644 if self.mode is None else self.mode
        else:  # whiteout and opaque markers are empty regular files by the spec
            info.type = tarfile.REGTYPE
            info.mode = 0o644 if self.mode is None else self.mode
        info.size = len(data)
        return info, data


@dataclass(frozen=True)
class Raw:
    """A member written exactly as given (name, type, linkname, mode...), for hostile archives.

    Only mtime/uid/gid/uname/gname are normalised, unless `keep_owner` is set, so digests stay stable.
    """

    info: tarfile.TarInfo
    data: bytes = b""
    keep_owner: bool = False

    def tarinfo(self) -> tuple[tarfile.TarInfo, bytes]:
        info = copy.copy(self.info)  # the caller's TarInfo may be reused for another layer
        if not self.keep_owner:
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        if info.isreg():
            info.size = len(self.data)
        return info, self.data


def raw(name: str, kind: str = "file", data: bytes = b"", *, target: str = "", mode: int | None = None) -> Raw:
    """A `Raw` member from plain values: kind is file, dir, symlink, hardlink, chardev, blockdev or fifo.

    The name is not cleaned, so `../escape`, `/abs` and `link/passwd` (through a symlink) stay as written.
    """
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "chardev": tarfile.CHRTYPE, "blockdev": tarfile.BLKTYPE,
             "fifo": tarfile.FIFOTYPE}
    info = tarfile.TarInfo(name)
    info.type = types[kind]
    info.linkname = target
    info.mode = mode if mode is not None else {"dir": 0o755, "symlink": 0o777}.get(kind, 0o644)
    return Raw(info, data if kind == "file" else b"")


class Layer:
    """A gzip'd tar layer: `blob` (compressed bytes), `digest`/`size` of the blob, `diff_id` of the tar.

    Members are sorted by name unless `sort=False`, which keeps the given order: a hostile archive
    that writes through a symlink needs the link first, whatever the names sort to.
    """

    def __init__(self, entries: Iterable[Entry | Raw], *, sort: bool = True,
                 media_type: str = OCI_LAYER_GZIP) -> None:
        members = [e.tarinfo() for e in entries]
        if sort:
            members.sort(key=lambda m: m[0].name)
        buf = io.BytesIO()
        # PAX so long names survive; with fixed fields tarfile's output is byte-for-byte stable.
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for info, data in members:
                tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
        self.tar: bytes = buf.getvalue()
        # mtime=0 and no file name in the gzip header, else the blob digest changes with the clock.
        self.blob: bytes = gzip.compress(self.tar, compresslevel=6, mtime=0)
        self.digest: str = sha256_digest(self.blob)
        self.size: int = len(self.blob)
        self.diff_id: str = sha256_digest(self.tar)
        self.media_type: str = media_type
        self.names: list[str] = [info.name for info, _ in members]

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    def __repr__(self) -> str:
        return f"Layer({self.digest[:19]}, {len(self.names)} members)"


def files(mapping: Mapping[str, bytes | str], *, mode: int = 0o644) -> list[Entry]:
    """Entries for a {path: content} mapping, with the parent directories each file needs."""
    out: dict[str, Entry] = {}
    for path, content in mapping.items():
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            out.setdefault(d, Entry(d, "dir"))
        out[path.strip("/")] = Entry(path, "file", content, mode)
    return list(out.values())


@dataclass
class Image:
    """One platform's image: its config fields and its layers, bottom first."""

    layers: Sequence[Layer]
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    env: Sequence[str] = DEFAULT_ENV
    workingdir: str = ""
    user: str = ""
    cmd: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None

    def platform(self) -> dict:
        p = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            p["variant"] = self.variant
        return p

    def config(self) -> dict:
        cfg: dict = {"Env": list(self.env)}
        if self.workingdir:
            cfg["WorkingDir"] = self.workingdir
        if self.user:
            cfg["User"] = self.user
        if self.cmd is not None:
            cfg["Cmd"] = list(self.cmd)
        if self.entrypoint is not None:
            cfg["Entrypoint"] = list(self.entrypoint)
        if self.labels:
            cfg["Labels"] = dict(self.labels)
        out = {**self.platform(), "config": cfg,
               "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]}}
        return out

    def config_bytes(self) -> bytes:
        return canonical_json(self.config())

    def manifest(self) -> dict:
        cfg = self.config_bytes()
        m = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(cfg), "size": len(cfg)},
            "layers": [layer.descriptor() for layer in self.layers],
        }
        if self.annotations:
            m["annotations"] = dict(self.annotations)
        return m

    def manifest_bytes(self) -> bytes:
        return canonical_json(self.manifest())


@dataclass
class Index:
    """A multi-platform image: an OCI image index of one manifest per platform."""

    images: Sequence[Image]
    annotations: Mapping[str, str] | None = field(default=None)

    def index(self) -> dict:
        manifests = []
        for img in self.images:
            body = img.manifest_bytes()
            manifests.append({"mediaType": OCI_MANIFEST, "digest": sha256_digest(body), "size": len(body),
                              "platform": img.platform()})
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        if self.annotations:
            idx["annotations"] = dict(self.annotations)
        return idx

    def index_bytes(self) -> bytes:
        return canonical_json(self.index())


@dataclass(frozen=True)
class Written:
    """What `write_layout` put under one tag: the top descriptor and every blob by digest."""

    tag: str
    media_type: str
    digest: str
    size: int
    blobs: Mapping[str, bytes]

    def blob(self, digest: str) -> bytes:
        return self.blobs[digest]

    def json(self, digest: str | None = None) -> dict:
        return json.loads(self.blobs[digest or self.digest])


def _blobs_of_image(img: Image, into: dict[str, bytes]) -> bytes:
    for layer in img.layers:
        into[layer.digest] = layer.blob
    cfg = img.config_bytes()
    into[sha256_digest(cfg)] = cfg
    body = img.manifest_bytes()
    into[sha256_digest(body)] = body
    return body


def write_layout(directory: Path | str, images: Mapping[str, Image | Index | Sequence[Image]]) -> dict[str, Written]:
    """Write an OCI layout holding each {tag: image} and return what was written per tag.

    A sequence of Images is taken as a multi-platform Index. Blobs already in the directory are kept,
    and tags already in its index.json are replaced, so a layout can be grown one call at a time.
    """
    root = Path(directory)
    blob_dir = root / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    index_path = root / "index.json"
    if index_path.exists():
        entries = [e for e in json.loads(index_path.read_text()).get("manifests", [])
                   if e.get("annotations", {}).get(REF_NAME) not in images]
    out: dict[str, Written] = {}
    for tag, value in images.items():
        if not isinstance(value, Image | Index):
            value = Index(list(value))
        blobs: dict[str, bytes] = {}
        if isinstance(value, Image):
            top, media = _blobs_of_image(value, blobs), OCI_MANIFEST
        else:
            for img in value.images:
                _blobs_of_image(img, blobs)
            top, media = value.index_bytes(), OCI_INDEX
            blobs[sha256_digest(top)] = top
        for digest, data in blobs.items():
            _write_blob(blob_dir, digest, data)
        desc = {"mediaType": media, "digest": sha256_digest(top), "size": len(top), "annotations": {REF_NAME: tag}}
        if isinstance(value, Image):
            desc["platform"] = value.platform()
        entries.append(desc)
        out[tag] = Written(tag, media, desc["digest"], desc["size"], blobs)
    (root / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    tmp = index_path.with_suffix(".tmp")
    tmp.write_bytes(canonical_json(index))
    os.replace(tmp, index_path)
    return out


def _write_blob(blob_dir: Path, digest: str, data: bytes) -> None:
    path = blob_dir / digest.split(":", 1)[1]
    if path.exists() and path.stat().st_size == len(data):
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def top_media_type(directory: Path | str, tag: str) -> str:
    """The media type index.json gives for `tag` (an index means a multi-platform image)."""
    for e in json.loads((Path(directory) / "index.json").read_text()).get("manifests", []):
        if e.get("annotations", {}).get(REF_NAME) == tag:
            return e["mediaType"]
    raise KeyError(f"no tag {tag!r} in {directory}/index.json")


def docker_list(manifests: Sequence[tuple[str, int, Mapping[str, str]]]) -> bytes:
    """A Docker schema2 manifest list body from (digest, size, platform) of schema2 manifests."""
    return canonical_json({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": d, "size": s, "platform": dict(p)}
                      for d, s, p in manifests],
    })


class TarLayer(Layer):
    """A layer from a tar.gz GNU tar made: tarfile would take minutes over a Go toolchain."""

    def __init__(self, path: Path) -> None:  # no super().__init__: the bytes are made already
        self.blob = Path(path).read_bytes()
        self.digest = "sha256:" + hashlib.sha256(self.blob).hexdigest()
        self.size = len(self.blob)
        self.diff_id = "sha256:" + hashlib.sha256(gzip.decompress(self.blob)).hexdigest()
        self.media_type = OCI_LAYER_GZIP
        self.names = []


def sample_images() -> dict[str, Image | list[Image]]:
    """A three-layer linux/amd64 image ("app") and an index of it and a linux/arm64/v8 one ("multi")."""
    base = Layer(files({"etc/os-release": "ID=gobox-test\n", "bin/tool": b"#!/bin/sh\necho base\n"}))
    top = Layer([Entry("app", "dir"), Entry("app/main", "file", b"\x7fELF not really", 0o755)])
    big = Layer(files({"data/blob.bin": os.urandom(3 << 20)}))  # incompressible: a transfer that takes a moment
    amd64 = Image([base, top, big], env=["PATH=/usr/bin:/bin"], workingdir="/app")
    arm64 = Image([base], architecture="arm64", variant="v8")
    return {"app": amd64, "multi": [amd64, arm64]}

