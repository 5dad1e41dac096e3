"""Image manifests, indexes and configs (OCI and Docker schema 2) checked against their digests and parsed."""

from __future__ import annotations

import builtins  # _Reader's object() method hides the builtin in its annotations
import hashlib
import json
import re
from typing import Any, NoReturn

from gobox.errors import GoboxError, IntegrityError, NotFoundError
from gobox.names.platform import Platform
from gobox.values import dataclass

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Deprecated by image-spec 1.1, but older Windows-derived images still carry them.
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Not in the schema 2 spec, but moby and go-containerregistry write it for uncompressed layers.
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

# Schema 1 is left out: gobox cannot use it, and naming it could get an old registry to serve it.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

_COMPRESSION = {
    OCI_LAYER: "none",
    OCI_LAYER_NONDIST: "none",
    DOCKER_LAYER_TAR: "none",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_NONDIST_GZIP: "gzip",
    DOCKER_LAYER: "gzip",
    DOCKER_FOREIGN_LAYER: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST_ZSTD: "zstd",
}

# Only algorithms gobox can recompute: a digest it cannot check proves nothing.
_DIGEST_HEX = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT64_MAX = 2**63 - 1
# An os, architecture, variant or os.version: GOOS and GOARCH spellings and Windows build numbers. Such a
# word names an image's record file in the store and shows in messages, so it holds no / and no control byte.
_PLATFORM_WORD = re.compile(r"[A-Za-z0-9_.+-]{0,128}")


class ManifestError(GoboxError):
    """A manifest, index or config that is malformed or describes something gobox cannot use."""


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: tuple[tuple[str, str], ...] = ()
    digest: str = ""

    def check_layers(self) -> None:
        """Refuse a manifest whose layers gobox cannot unpack (it reads tar and tar+gzip)."""
        for i, layer in enumerate(self.layers):
            kind = layer_compression(layer.media_type)
            if kind == "zstd":
                raise ManifestError(
                    f"{_what('manifest', self.digest)}: layers[{i}] is {layer.media_type}: "
                    "zstd layers are not supported",
                    hint="push the image with gzip layers (buildx: --output type=registry,compression=gzip)",
                )
            if kind is None:
                raise ManifestError(
                    f"{_what('manifest', self.digest)}: layers[{i}] is {layer.media_type}, "
                    "not a container image layer (gobox unpacks tar and tar+gzip layers)",
                    hint="is this reference an image, or an artifact such as a helm chart?",
                )


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: tuple[tuple[str, str], ...] = ()
    digest: str = ""


@dataclass(frozen=True)
class ImageConfig:
    env: tuple[str, ...]
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    working_dir: str
    user: str
    labels: tuple[tuple[str, str], ...]
    os: str
    architecture: str
    variant: str
    diff_ids: tuple[str, ...]
    digest: str = ""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify(data: bytes, digest: str) -> None:
    """Raise IntegrityError unless `data` hashes to `digest` (sha256 or sha512)."""
    problem = _digest_problem(digest)
    if problem:
        raise ManifestError(f"bad digest: {problem}")
    algorithm = digest.partition(":")[0]
    actual = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    if actual != digest:
        raise IntegrityError(
            f"content does not match its digest: expected {digest}, got {actual}",
            hint="something between gobox and the registry changed it; try again",
        )


def layer_compression(media_type: str) -> str | None:
    """How a tar layer type is compressed ("gzip", "zstd" or "none"); None if it is not an image layer."""
    return _COMPRESSION.get(media_type)


def parse_document(data: bytes, media_type: str | None, digest: str | None = None) -> Manifest | Index:
    """A manifest or index from a registry's bytes and Content-Type, verified against `digest` when given."""
    if digest is None:
        digest = sha256_digest(data)
    else:
        verify(data, digest)
    r = _Reader(_what("manifest", digest))
    doc = r.load(data)
    kind = _document_type(r, doc, media_type)
    if kind in INDEX_TYPES:
        r.what = _what("index", digest)
    version = doc.get("schemaVersion")
    if "schemaVersion" not in doc:
        r.fail("schemaVersion", "missing")
    if type(version) is not int or version != 2:
        r.fail("schemaVersion", f"expected 2, got {_show(version)}")
    # A document that reads as both kinds is the ambiguity of CVE-2021-41190: refuse it rather than guess.
    if kind in INDEX_TYPES:
        for key in ("config", "layers"):
            if key in doc:
                r.fail(key, f"not allowed in an index ({kind})")
        manifests = r.array(doc, "manifests", "manifests")
        return Index(
            media_type=kind,
            manifests=tuple(
                r.descriptor(d, f"manifests[{i}]", platform_required=kind == DOCKER_MANIFEST_LIST)
                for i, d in enumerate(manifests)
            ),
            annotations=r.string_map(doc.get("annotations"), "annotations"),
            digest=digest,
        )
    if "manifests" in doc:
        r.fail("manifests", f"not allowed in a manifest ({kind})")
    if "config" not in doc:
        r.fail("config", "missing")
    config = r.descriptor(doc["config"], "config")
    layers = r.array(doc, "layers", "layers")
    return Manifest(
        media_type=kind,
        config=config,
        layers=tuple(r.descriptor(d, f"layers[{i}]") for i, d in enumerate(layers)),
        annotations=r.string_map(doc.get("annotations"), "annotations"),
        digest=digest,
    )


def select(index: Index, want: Platform, name: str | None = None) -> Descriptor:
    """The manifest in `index` for `want`: an exact match first, then one equal after normalisation."""
    candidates = [(d, d.platform) for d in index.manifests if d.platform is not None and not _is_attestation(d)]
    for d, p in candidates:
        if (p.os, p.architecture, p.variant) == (want.os, want.architecture, want.variant) and (
            not want.os_version or p.os_version == want.os_version
        ):
            return d
    for d, p in candidates:
        if p.matches(want):
            return d
    where = name or "the image index"
    have = ", ".join(dict.fromkeys(str(p) for _, p in candidates))
    raise NotFoundError(f"no image for {want} in {where} ({f'it has: {have}' if have else 'it lists no platforms'})")


def parse_config(data: bytes, digest: str | None = None) -> ImageConfig:
    """An image config (OCI or Docker), verified against `digest` when given."""
    if digest is None:
        digest = sha256_digest(data)
    else:
        verify(data, digest)
    r = _Reader(_what("config", digest))
    doc = r.load(data)
    # Images built FROM scratch with no settings have `"config": null` or no config at all.
    cfg = doc.get("config")
    cfg = {} if cfg is None else r.object(cfg, "config")
    entrypoint, cmd = cfg.get("Entrypoint"), cfg.get("Cmd")
    if "rootfs" not in doc:
        r.fail("rootfs", "missing")
    rootfs = r.object(doc["rootfs"], "rootfs")
    if rootfs.get("type") != "layers":
        r.fail("rootfs.type", f'expected "layers", got {_show(rootfs.get("type"))}')
    diff_ids = r.array(rootfs, "diff_ids", "rootfs.diff_ids")
    for i, d in enumerate(diff_ids):
        problem = _digest_problem(d)
        if problem:
            r.fail(f"rootfs.diff_ids[{i}]", problem)
    return ImageConfig(
        env=r.string_list(cfg.get("Env"), "config.Env"),
        entrypoint=None if entrypoint is None else r.string_list(entrypoint, "config.Entrypoint"),
        cmd=None if cmd is None else r.string_list(cmd, "config.Cmd"),
        working_dir=r.string(cfg, "WorkingDir", "config.WorkingDir", required=False),
        user=r.string(cfg, "User", "config.User", required=False),
        labels=r.string_map(cfg.get("Labels"), "config.Labels"),
        os=r.word(doc, "os", "os", required=False),
        architecture=r.word(doc, "architecture", "architecture", required=False),
        variant=r.word(doc, "variant", "variant", required=False),
        diff_ids=tuple(diff_ids),
        digest=digest,
    )


def check_diff_ids(manifest: Manifest, config: ImageConfig) -> None:
    """The config names one uncompressed digest per layer; a different count means a broken image."""
    if len(manifest.layers) != len(config.diff_ids):
        raise ManifestError(
            f"{_what('manifest', manifest.digest)}: {len(manifest.layers)} layers, but "
            f"{_what('config', config.digest)} lists {len(config.diff_ids)} rootfs.diff_ids",
            hint="the image is broken; rebuild and push it again",
        )


def _what(noun: str, digest: str) -> str:
    if not digest:
        return noun
    algorithm, _, hexpart = digest.partition(":")
    return f"{noun} {algorithm}:{hexpart[:12]}…" if len(hexpart) > 12 else f"{noun} {digest}"


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _digest_problem(value: object) -> str | None:
    """Why `value` is not a digest gobox can verify, or None if it is one."""
    if isinstance(value, str):
        algorithm, sep, hexpart = value.partition(":")
        if sep and len(hexpart) == _DIGEST_HEX.get(algorithm) and _HEX.fullmatch(hexpart):
            return None
    algorithm = "sha512" if isinstance(value, str) and value.startswith("sha512:") else "sha256"
    return f'expected "{algorithm}:<{_DIGEST_HEX[algorithm]} hex>", got {_show(value)}'


def _path(base: str, key: str) -> str:
    step = key if _IDENT.fullmatch(key) else f"[{json.dumps(key)}]"
    if not base:
        return step
    return f"{base}.{step}" if _IDENT.fullmatch(key) else base + step


def _document_type(r: _Reader, doc: dict[str, Any], content_type: str | None) -> str:
    if "mediaType" in doc:
        kind = doc["mediaType"]
        if not isinstance(kind, str):
            r.fail("mediaType", f"expected a string, got {_show(kind)}")
    else:
        # OCI lets mediaType be absent: then the Content-Type, else the shape, says what it is.
        header = (content_type or "").split(";", 1)[0].strip().lower()
        if header in MANIFEST_TYPES | INDEX_TYPES | SCHEMA1_TYPES:
            kind = header
        elif doc.get("schemaVersion") == 1 or "fsLayers" in doc:
            kind = DOCKER_SCHEMA1
        elif "manifests" in doc and "layers" not in doc and "config" not in doc:
            kind = OCI_INDEX
        elif "layers" in doc and "manifests" not in doc:
            kind = OCI_MANIFEST
        else:
            r.fail("", f"no mediaType and Content-Type {header or 'none'}: cannot tell a manifest from an index")
    if kind in SCHEMA1_TYPES:
        raise ManifestError(
            f"{r.what}: Docker schema 1 ({kind}) is too old for gobox",
            hint="re-push the image with a current docker or buildx, which write schema 2",
        )
    if kind not in MANIFEST_TYPES and kind not in INDEX_TYPES:
        raise ManifestError(
            f"{r.what}: unsupported media type {kind}",
            hint="gobox reads OCI and Docker schema 2 image manifests and indexes",
        )
    return kind


def _is_attestation(d: Descriptor) -> bool:
    # buildkit lists its provenance/SBOM manifests as unknown/unknown next to the images.
    p = d.platform
    return (p is not None and p.os == "unknown" and p.architecture == "unknown") or (
        ("vnd.docker.reference.type", "attestation-manifest") in d.annotations
    )


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins, so a document with both means two things.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _Reader:
    """Typed access to a decoded document; every failure names the JSON path of the bad field."""

    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, path: str, problem: str) -> NoReturn:
        raise ManifestError(f"{self.what}: {path}: {problem}" if path else f"{self.what}: {problem}")

    def load(self, data: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(data, object_pairs_hook=_unique_keys)
        except _DuplicateKey as e:
            self.fail("", f"duplicate key {_show(e.args[0])}")
        except (ValueError, RecursionError) as e:
            self.fail("", f"not JSON ({e})")
        if not isinstance(doc, dict):
            self.fail("", f"expected a JSON object, got {type(doc).__name__}")
        return doc

    def object(self, value: builtins.object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_show(value)}")
        return value

    def array(self, obj: dict[str, Any], key: str, path: str) -> list[Any]:
        if key not in obj:
            self.fail(path, "missing")
        value = obj[key]
        if not isinstance(value, list):
            self.fail(path, f"expected an array, got {_show(value)}")
        return value

    def string(self, obj: dict[str, Any], key: str, path: str, required: bool = True) -> str:
        value = obj.get(key)
        if value is None and not required:
            return ""
        if key not in obj:
            self.fail(path, "missing")
        if not isinstance(value, str) or (required and not value):
            self.fail(path, f"expected a{' non-empty' if required else ''} string, got {_show(value)}")
        return value

    def word(self, obj: dict[str, Any], key: str, path: str, required: bool = True) -> str:
        """A platform field: a string, and a plain word (linux, amd64, v8, 10.0.20348.2340)."""
        value = self.string(obj, key, path, required)
        if not _PLATFORM_WORD.fullmatch(value) or value in (".", ".."):
            self.fail(path, f"expected a word such as linux, amd64 or v8, got {_show(value)}")
        return value

    def string_list(self, value: builtins.object, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(path, f"expected an array of strings, got {_show(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{path}[{i}]", f"expected a string, got {_show(item)}")
        return tuple(value)

    def string_map(self, value: builtins.object, path: str) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        obj = self.object(value, path)
        for key, item in obj.items():
            if not isinstance(item, str):
                self.fail(_path(path, key), f"expected a string, got {_show(item)}")
        return tuple(sorted(obj.items()))

    def descriptor(self, value: builtins.object, path: str, platform_required: bool = False) -> Descriptor:
        obj = self.object(value, path)
        media_type = self.string(obj, "mediaType", f"{path}.mediaType")
        if "digest" not in obj:
            self.fail(f"{path}.digest", "missing")
        problem = _digest_problem(obj["digest"])
        if problem:
            self.fail(f"{path}.digest", problem)
        if "size" not in obj:
            self.fail(f"{path}.size", "missing")
        size = obj["size"]
        if type(size) is not int or not 0 <= size <= _INT64_MAX:
            self.fail(f"{path}.size", f"expected a non-negative integer, got {_show(size)}")
        platform = None
        if obj.get("platform") is not None:
            platform = self.platform(obj["platform"], f"{path}.platform")
        elif platform_required:
            self.fail(f"{path}.platform", "missing")
        return Descriptor(
            media_type=media_type,
            digest=obj["digest"],
            size=size,
            platform=platform,
            annotations=self.string_map(obj.get("annotations"), f"{path}.annotations"),
            urls=self.string_list(obj.get("urls"), f"{path}.urls"),
        )

    def platform(self, value: builtins.object, path: str) -> Platform:
        obj = self.object(value, path)
        return Platform(
            os=self.word(obj, "os", f"{path}.os"),
            architecture=self.word(obj, "architecture", f"{path}.architecture"),
            variant=self.word(obj, "variant", f"{path}.variant", required=False),
            os_version=self.word(obj, "os.version", _path(path, "os.version"), required=False),
        )
