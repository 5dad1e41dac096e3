"""Image manifests, indexes and configs: parsed from real-shaped documents, refused with the path of what is wrong."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from gobox.errors import EXIT_INTEGRITY, EXIT_USAGE, IntegrityError, NotFoundError, UsageError
from gobox.names.platform import Platform
from gobox.oci.manifest import (
    ACCEPT,
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    ManifestError,
    check_diff_ids,
    layer_compression,
    parse_config,
    parse_document,
    select,
    sha256_digest,
    verify,
)

# docker.io/library/golang:1.22 as a Docker manifest list, with a buildkit attestation entry.
GOLANG_LIST = b"""{
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "manifests": [
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 2324,
      "digest": "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
      "platform": {"architecture": "amd64", "os": "linux"}
    },
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 2324,
      "digest": "sha256:5ba6c8710dd1369ce61603ab9b7a81b25f92d4a9f74956ab72a7ea75884f07ee",
      "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}
    },
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 2324,
      "digest": "sha256:f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265",
      "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}
    },
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 2324,
      "digest": "sha256:15a26c6fa5151c712acc7ee45a1fd525ab85b801f096847c7d5fdf49efeabb4d",
      "platform": {"architecture": "386", "os": "linux"}
    },
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 3188,
      "digest": "sha256:823a3180dad3c9c3c4dea43ab2baf9f04bac9c3a7711745ff5f702551496d735",
      "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2340"}
    },
    {
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "size": 566,
      "digest": "sha256:f745a15153c4dacf0ea4bbf57265e73283941f8335939b33c693975315cf5916",
      "platform": {"architecture": "unknown", "os": "unknown"}
    }
  ]
}
"""

# What buildx pushes: an OCI index whose attestations point back at the image they describe.
OCI_INDEX_DOC = b"""{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:e6bdbc5864457af5b8c4ca7c8fbd1133d158b00d09207443b1440406f0428b5c",
      "size": 1611,
      "platform": {"architecture": "amd64", "os": "linux"}
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:bf88d5635369c5c076c48dc082766c0364faf31f54e646a9e3976abcb7cd11d2",
      "size": 1611,
      "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:dd86e2310bdf3ab45816029e264c4745a2a028961719031597877887a8f6f1df",
      "size": 839,
      "annotations": {
        "vnd.docker.reference.digest": "sha256:e6bdbc5864457af5b8c4ca7c8fbd1133d158b00d09207443b1440406f0428b5c",
        "vnd.docker.reference.type": "attestation-manifest"
      },
      "platform": {"architecture": "unknown", "os": "unknown"}
    }
  ],
  "annotations": {"org.opencontainers.image.created": "2024-04-03T18:24:11Z"}
}
"""

OCI_MANIFEST_DOC = b"""{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:e67d23e7820c49a8051dac2831f38290f5e72f66c8db5079eeb60d82f14894c0",
    "size": 2417
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:2804bad6fe94a55f18b2b37e300919a5fd517b95aa81e95db574c0ba069a3740",
      "size": 49557601
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:8a1cee436cbac1489a1883c9d886fcfc46f302c55ed4106ae31729e4f4eb9041",
      "size": 24046952
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:10dacdccfe877dc064d57442e6fa7a4e3085dc94e11a29819c2290fc3d788724",
      "size": 69179531
    }
  ],
  "annotations": {
    "org.opencontainers.image.base.name": "docker.io/library/buildpack-deps:bookworm-scm"
  }
}
"""

DOCKER_MANIFEST_DOC = b"""{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1472,
      "digest": "sha256:25d7348770f85599630634c25c9d0f82c542d477aba54799e167862b075edcaf"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 3408729,
         "digest": "sha256:df848841189621489a879baba2ec327faf38d9bbf44c674988660958bb0a69f3"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 291,
         "digest": "sha256:608689afde1929ebafc7c02852d6b53dbb909820840e998b8786ac1853173487"
      }
   ]
}
"""

GOLANG_CONFIG = b"""{
  "architecture": "amd64",
  "config": {
    "Env": [
      "PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "GOLANG_VERSION=1.22.2",
      "GOTOOLCHAIN=local",
      "GOPATH=/go"
    ],
    "Cmd": ["bash"],
    "WorkingDir": "/go",
    "Labels": {"org.opencontainers.image.source": "https://github.com/docker-library/golang"},
    "ArgsEscaped": true,
    "OnBuild": null
  },
  "created": "2024-04-03T18:24:11Z",
  "history": [
    {"created": "2024-04-03T18:24:11Z", "created_by": "ENV GOPATH=/go", "empty_layer": true}
  ],
  "os": "linux",
  "rootfs": {
    "type": "layers",
    "diff_ids": [
      "sha256:8b53639f152c8fc6ef30802fde462ba0be9cf085f7580dc69efd72e002abbb35",
      "sha256:e788103ee15318fcd2af9b73b4ebbb33a903b020de7b307d71f5fed0f433e548",
      "sha256:f451a61749c611ba0fa0e16c61831db44f38c611dff25879cf271a24c81a88b6"
    ]
  }
}
"""

SCHEMA1_DOC = b"""{
   "schemaVersion": 1,
   "name": "library/golang",
   "tag": "1.4",
   "architecture": "amd64",
   "fsLayers": [
      {"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}
   ],
   "history": [{"v1Compatibility": "{}"}],
   "signatures": [{"header": {"alg": "ES256"}, "signature": "c2lnbmF0dXJl", "protected": "e30"}]
}
"""


def edit(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc).encode()


def what(noun: str, data: bytes) -> str:
    """The prefix every error about `data` starts with."""
    return f"{noun} {sha256_digest(data)[:19]}…"


def test_digest_helpers() -> None:
    assert sha256_digest(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    verify(b"abc", sha256_digest(b"abc"))
    verify(b"abc", "sha512:" + hashlib.sha512(b"abc").hexdigest())
    with pytest.raises(IntegrityError) as e:
        verify(b"abd", sha256_digest(b"abc"))
    assert e.value.message == (f"content does not match its digest: expected {sha256_digest(b'abc')}, "
                               f"got {sha256_digest(b'abd')}")
    with pytest.raises(ManifestError, match=r'expected "sha256:<64 hex>", got "md5:900150983cd24fb0"'):
        verify(b"abc", "md5:900150983cd24fb0")


def test_accept_lists_the_four_types() -> None:
    assert sorted(t.strip() for t in ACCEPT.split(",")) == sorted(
        [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST])


def test_docker_manifest_list() -> None:
    index = parse_document(GOLANG_LIST, DOCKER_MANIFEST_LIST, sha256_digest(GOLANG_LIST))
    assert isinstance(index, Index)
    assert index.media_type == DOCKER_MANIFEST_LIST
    assert index.digest == sha256_digest(GOLANG_LIST)
    assert [str(d.platform) for d in index.manifests] == [
        "linux/amd64", "linux/arm/v7", "linux/arm64/v8", "linux/386",
        "windows(10.0.20348.2340)/amd64", "unknown/unknown"]
    windows = index.manifests[4]
    assert windows == Descriptor(
        media_type=DOCKER_MANIFEST,
        digest="sha256:823a3180dad3c9c3c4dea43ab2baf9f04bac9c3a7711745ff5f702551496d735",
        size=3188,
        platform=Platform("windows", "amd64", os_version="10.0.20348.2340"),
    )


def test_oci_index() -> None:
    index = parse_document(OCI_INDEX_DOC, "application/vnd.oci.image.index.v1+json")
    assert isinstance(index, Index)
    assert index.media_type == OCI_INDEX
    assert len(index.manifests) == 3
    assert index.manifests[1].platform == Platform("linux", "arm64", "v8")
    assert index.manifests[2].annotations == (
        ("vnd.docker.reference.digest", "sha256:e6bdbc5864457af5b8c4ca7c8fbd1133d158b00d09207443b1440406f0428b5c"),
        ("vnd.docker.reference.type", "attestation-manifest"),
    )
    assert index.annotations == (("org.opencontainers.image.created", "2024-04-03T18:24:11Z"),)


def test_oci_manifest_with_three_gzip_layers() -> None:
    m = parse_document(OCI_MANIFEST_DOC, OCI_MANIFEST, sha256_digest(OCI_MANIFEST_DOC))
    assert isinstance(m, Manifest)
    assert m.media_type == OCI_MANIFEST
    assert m.config == Descriptor(
        OCI_CONFIG, "sha256:e67d23e7820c49a8051dac2831f38290f5e72f66c8db5079eeb60d82f14894c0", 2417)
    assert [layer.size for layer in m.layers] == [49557601, 24046952, 69179531]
    assert {layer.media_type for layer in m.layers} == {OCI_LAYER_GZIP}
    assert m.layers[2].digest == "sha256:10dacdccfe877dc064d57442e6fa7a4e3085dc94e11a29819c2290fc3d788724"
    assert m.annotations == (("org.opencontainers.image.base.name",
                              "docker.io/library/buildpack-deps:bookworm-scm"),)
    m.check_layers()


def test_docker_v2_manifest() -> None:
    m = parse_document(DOCKER_MANIFEST_DOC, DOCKER_MANIFEST)
    assert isinstance(m, Manifest)
    assert m.media_type == DOCKER_MANIFEST
    assert m.config.media_type == DOCKER_CONFIG
    assert [(layer.media_type, layer.size) for layer in m.layers] == [(DOCKER_LAYER, 3408729), (DOCKER_LAYER, 291)]
    m.check_layers()


def test_digest_mismatch_is_an_integrity_error_naming_both() -> None:
    wanted = sha256_digest(OCI_MANIFEST_DOC)
    tampered = OCI_MANIFEST_DOC.replace(b"49557601", b"49557602")
    with pytest.raises(IntegrityError) as e:
        parse_document(tampered, OCI_MANIFEST, wanted)
    assert e.value.exit_code == EXIT_INTEGRITY
    assert wanted in e.value.message and sha256_digest(tampered) in e.value.message


def test_sha512_digest_is_accepted() -> None:
    digest = "sha512:" + hashlib.sha512(DOCKER_MANIFEST_DOC).hexdigest()
    m = parse_document(DOCKER_MANIFEST_DOC, None, digest)
    assert m.digest == digest


def test_missing_media_type_falls_back_to_content_type() -> None:
    bare = edit(DOCKER_MANIFEST_DOC, lambda d: d.pop("mediaType"))
    m = parse_document(bare, "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
    assert isinstance(m, Manifest) and m.media_type == DOCKER_MANIFEST
    bare_list = edit(GOLANG_LIST, lambda d: d.pop("mediaType"))
    index = parse_document(bare_list, DOCKER_MANIFEST_LIST)
    assert isinstance(index, Index) and index.media_type == DOCKER_MANIFEST_LIST


def test_missing_media_type_and_useless_content_type_goes_by_shape() -> None:
    m = parse_document(edit(OCI_MANIFEST_DOC, lambda d: d.pop("mediaType")), "application/json")
    assert isinstance(m, Manifest) and m.media_type == OCI_MANIFEST
    index = parse_document(edit(OCI_INDEX_DOC, lambda d: d.pop("mediaType")), None)
    assert isinstance(index, Index) and index.media_type == OCI_INDEX


def test_media_type_field_wins_over_content_type() -> None:
    m = parse_document(DOCKER_MANIFEST_DOC, OCI_INDEX)
    assert isinstance(m, Manifest) and m.media_type == DOCKER_MANIFEST


def test_a_document_that_is_both_kinds_is_refused() -> None:
    both = edit(OCI_INDEX_DOC, lambda d: (d.pop("mediaType"), d.update(layers=[])))
    with pytest.raises(ManifestError) as e:
        parse_document(both, None)
    assert e.value.message.startswith(what("manifest", both) + ": no mediaType and Content-Type none")
    with pytest.raises(ManifestError) as e:
        parse_document(edit(both, lambda d: d.update(mediaType=OCI_INDEX)), None)
    assert e.value.message.endswith(f": layers: not allowed in an index ({OCI_INDEX})")
    manifest_too = edit(OCI_MANIFEST_DOC, lambda d: d.update(manifests=[]))
    with pytest.raises(ManifestError, match=r": manifests: not allowed in a manifest"):
        parse_document(manifest_too, OCI_MANIFEST)


def test_duplicate_keys_are_refused() -> None:
    doubled = DOCKER_MANIFEST_DOC.replace(b'"schemaVersion": 2,', b'"schemaVersion": 2, "mediaType": "x/y",', 1)
    with pytest.raises(ManifestError) as e:
        parse_document(doubled, None)
    assert e.value.message == what("manifest", doubled) + ': duplicate key "mediaType"'


@pytest.mark.parametrize("content_type", [None, "application/vnd.docker.distribution.manifest.v1+prettyjws"])
def test_schema1_is_refused(content_type: str | None) -> None:
    with pytest.raises(ManifestError) as e:
        parse_document(SCHEMA1_DOC, content_type)
    assert "Docker schema 1" in e.value.message and "too old" in e.value.message
    assert e.value.hint is not None and "re-push" in e.value.hint


def test_schema1_media_type_field_is_refused() -> None:
    doc = edit(SCHEMA1_DOC, lambda d: d.update(mediaType="application/vnd.docker.distribution.manifest.v1+json"))
    with pytest.raises(ManifestError) as e:
        parse_document(doc, "application/json")
    assert e.value.message.startswith(
        f"{what('manifest', doc)}: Docker schema 1 (application/vnd.docker.distribution.manifest.v1+json) is too old")


@pytest.mark.parametrize("version, shown", [(1, "1"), ("2", '"2"'), (2.0, "2.0"), (True, "true")])
def test_schema_version_must_be_2(version: object, shown: str) -> None:
    doc = edit(OCI_MANIFEST_DOC, lambda d: d.update(schemaVersion=version))
    with pytest.raises(ManifestError) as e:
        parse_document(doc, OCI_MANIFEST)
    assert e.value.message == f"{what('manifest', doc)}: schemaVersion: expected 2, got {shown}"


def test_unknown_document_type_is_refused() -> None:
    doc = edit(OCI_MANIFEST_DOC, lambda d: d.update(mediaType="application/vnd.oci.artifact.manifest.v1+json"))
    with pytest.raises(ManifestError) as e:
        parse_document(doc, None)
    assert e.value.message == (what("manifest", doc) +
                               ": unsupported media type application/vnd.oci.artifact.manifest.v1+json")


def test_not_json_or_not_an_object() -> None:
    with pytest.raises(ManifestError, match=r"^manifest sha256:[0-9a-f]{12}…: not JSON \(Expecting value"):
        parse_document(b"<html>rate limited</html>", "text/html")
    with pytest.raises(ManifestError, match=r": expected a JSON object, got list$"):
        parse_document(b"[]", OCI_MANIFEST)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for step in path[:-1]:
            node = node[step]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return change


_DELETE = object()
BAD_MANIFESTS = [
    (("layers", 2, "digest"), "sha256:abc",
     'layers[2].digest: expected "sha256:<64 hex>", got "sha256:abc"'),
    (("layers", 0, "digest"), "sha256:" + "A" * 64,
     f'layers[0].digest: expected "sha256:<64 hex>", got "sha256:{"A" * 64}"'),
    (("layers", 1, "digest"), "sha512:" + "a" * 64,
     f'layers[1].digest: expected "sha512:<128 hex>", got "sha512:{"a" * 64}"'),
    (("layers", 1, "digest"), _DELETE, "layers[1].digest: missing"),
    (("layers", 1, "size"), -1, "layers[1].size: expected a non-negative integer, got -1"),
    (("layers", 1, "size"), "24046952", 'layers[1].size: expected a non-negative integer, got "24046952"'),
    (("layers", 1, "size"), 1.5, "layers[1].size: expected a non-negative integer, got 1.5"),
    (("layers", 0, "size"), True, "layers[0].size: expected a non-negative integer, got true"),
    (("layers", 0, "mediaType"), 7, "layers[0].mediaType: expected a non-empty string, got 7"),
    (("config", "mediaType"), _DELETE, "config.mediaType: missing"),
    (("config",), None, "config: expected an object, got null"),
    (("config",), _DELETE, "config: missing"),
    (("layers",), {}, "layers: expected an array, got {}"),
    (("layers", 2), "sha256:x", 'layers[2]: expected an object, got "sha256:x"'),
    (("layers", 0, "annotations"), {"org.opencontainers.image.title": 3},
     'layers[0].annotations["org.opencontainers.image.title"]: expected a string, got 3'),
    (("layers", 0, "urls"), ["https://example.com/layer", None], "layers[0].urls[1]: expected a string, got null"),
]


@pytest.mark.parametrize("path, value, problem", BAD_MANIFESTS)
def test_bad_manifest_field_is_named_by_path(path: tuple[Any, ...], value: Any, problem: str) -> None:
    doc = edit(OCI_MANIFEST_DOC, _set(path, value))
    with pytest.raises(ManifestError) as e:
        parse_document(doc, OCI_MANIFEST)
    assert e.value.message == f"{what('manifest', doc)}: {problem}"


BAD_INDEXES = [
    (("manifests", 3, "platform", "architecture"), _DELETE, "manifests[3].platform.architecture: missing"),
    (("manifests", 4, "platform", "os.version"), 10, 'manifests[4].platform["os.version"]: expected a string, got 10'),
    (("manifests", 1, "platform"), _DELETE, "manifests[1].platform: missing"),
    (("manifests", 0, "size"), _DELETE, "manifests[0].size: missing"),
    (("manifests",), _DELETE, "manifests: missing"),
]


@pytest.mark.parametrize("path, value, problem", BAD_INDEXES)
def test_bad_index_field_is_named_by_path(path: tuple[Any, ...], value: Any, problem: str) -> None:
    doc = edit(GOLANG_LIST, _set(path, value))
    with pytest.raises(ManifestError) as e:
        parse_document(doc, DOCKER_MANIFEST_LIST)
    assert e.value.message == f"{what('index', doc)}: {problem}"


def test_oci_index_entries_may_leave_out_the_platform() -> None:
    doc = edit(OCI_INDEX_DOC, _set(("manifests", 0, "platform"), _DELETE))
    index = parse_document(doc, None)
    assert isinstance(index, Index) and index.manifests[0].platform is None


def _manifest_with(*media_types: str) -> Manifest:
    digest = "sha256:" + "ab" * 32
    layers = tuple(Descriptor(t, "sha256:" + f"{i:064x}", 10) for i, t in enumerate(media_types))
    return Manifest(OCI_MANIFEST, Descriptor(OCI_CONFIG, "sha256:" + "0" * 64, 2), layers, digest=digest)


def test_check_layers_accepts_tar_and_gzip() -> None:
    _manifest_with(OCI_LAYER, OCI_LAYER_GZIP, DOCKER_LAYER, DOCKER_FOREIGN_LAYER).check_layers()
    assert [layer_compression(t) for t in (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, "text/plain")] == [
        "none", "gzip", "zstd", None]


def test_check_layers_refuses_zstd() -> None:
    with pytest.raises(ManifestError) as e:
        _manifest_with(OCI_LAYER_GZIP, OCI_LAYER_ZSTD).check_layers()
    assert e.value.message == (f"manifest sha256:abababababab…: layers[1] is {OCI_LAYER_ZSTD}: "
                               "zstd layers are not supported")


def test_check_layers_refuses_an_artifact_by_its_type() -> None:
    helm = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    with pytest.raises(ManifestError) as e:
        _manifest_with(helm).check_layers()
    assert e.value.message.startswith(
        f"manifest sha256:abababababab…: layers[0] is {helm}, not a container image layer")


def test_unknown_layer_types_parse() -> None:
    helm = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    doc = edit(OCI_MANIFEST_DOC, _set(("layers", 1, "mediaType"), helm))
    m = parse_document(doc, OCI_MANIFEST)
    assert isinstance(m, Manifest)
    with pytest.raises(ManifestError, match=r"layers\[1\] is application/vnd.cncf.helm"):
        m.check_layers()


def test_platform_parse_and_str() -> None:
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert Platform.parse("linux/amd64") == Platform("linux", "amd64")
    assert Platform.parse("windows(10.0.20348.2340)/amd64") == Platform("windows", "amd64", "", "10.0.20348.2340")
    for text in ("linux/arm64/v8", "linux/amd64", "windows(10.0.17763.5696)/amd64"):
        assert str(Platform.parse(text)) == text


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "linux/arm/v7/x", ""])
def test_platform_parse_refuses_garbage(text: str) -> None:
    with pytest.raises(UsageError, match="expected os/arch"):
        Platform.parse(text)


@pytest.mark.parametrize("a, b, same", [
    ("linux/arm64", "linux/arm64/v8", True),
    ("linux/aarch64", "linux/arm64/v8", True),
    ("linux/arm", "linux/arm/v7", True),
    ("linux/arm", "linux/arm/v6", False),
    ("linux/amd64/v1", "linux/amd64", True),
    ("linux/x86_64", "linux/amd64", True),
    ("linux/amd64/v3", "linux/amd64", False),
    ("linux/amd64", "windows/amd64", False),
    ("linux/arm64", "linux/amd64", False),
    ("windows(10.0.20348.2340)/amd64", "windows/amd64", True),
    ("windows(10.0.20348.2340)/amd64", "windows(10.0.17763.5696)/amd64", False),
])
def test_platform_matches_normalised(a: str, b: str, same: bool) -> None:
    assert Platform.parse(a).matches(Platform.parse(b)) is same
    assert Platform.parse(b).matches(Platform.parse(a)) is same


def golang_index() -> Index:
    index = parse_document(GOLANG_LIST, None)
    assert isinstance(index, Index)
    return index


@pytest.mark.parametrize("want, digest_start", [
    ("linux/amd64", "sha256:5861314d"),
    ("linux/arm64", "sha256:f6916295"),
    ("linux/arm64/v8", "sha256:f6916295"),
    ("linux/arm", "sha256:5ba6c871"),
    ("linux/386", "sha256:15a26c6f"),
    ("windows/amd64", "sha256:823a3180"),
])
def test_select_platform(want: str, digest_start: str) -> None:
    assert select(golang_index(), Platform.parse(want)).digest.startswith(digest_start)


def test_select_prefers_an_exact_match() -> None:
    def entry(n: int, p: str) -> Descriptor:
        return Descriptor(OCI_MANIFEST, "sha256:" + f"{n:064x}", 1, Platform.parse(p))
    index = Index(OCI_INDEX, (entry(1, "linux/arm64/v8"), entry(2, "linux/arm64")))
    assert select(index, Platform.parse("linux/arm64")).digest.endswith("2")
    assert select(index, Platform.parse("linux/arm64/v8")).digest.endswith("1")


def test_select_skips_attestations() -> None:
    with pytest.raises(NotFoundError):
        select(golang_index(), Platform("unknown", "unknown"))
    oci = parse_document(OCI_INDEX_DOC, None)
    assert isinstance(oci, Index)
    assert select(oci, Platform("linux", "amd64")).digest.startswith("sha256:e6bdbc58")


def test_select_not_found_lists_what_there_is() -> None:
    with pytest.raises(NotFoundError) as e:
        select(golang_index(), Platform.parse("linux/riscv64"), "docker.io/library/golang:1.22")
    assert e.value.exit_code == EXIT_USAGE
    assert e.value.message == (
        "no image for linux/riscv64 in docker.io/library/golang:1.22 (it has: linux/amd64, linux/arm/v7, "
        "linux/arm64/v8, linux/386, windows(10.0.20348.2340)/amd64)")
    with pytest.raises(NotFoundError, match=r"^no image for linux/s390x in the image index \(it lists no platforms\)$"):
        select(Index(OCI_INDEX, ()), Platform("linux", "s390x"))


def test_golang_config() -> None:
    cfg = parse_config(GOLANG_CONFIG, sha256_digest(GOLANG_CONFIG))
    assert cfg == ImageConfig(
        env=("PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "GOLANG_VERSION=1.22.2", "GOTOOLCHAIN=local", "GOPATH=/go"),
        entrypoint=None,
        cmd=("bash",),
        working_dir="/go",
        user="",
        labels=(("org.opencontainers.image.source", "https://github.com/docker-library/golang"),),
        os="linux",
        architecture="amd64",
        variant="",
        diff_ids=("sha256:8b53639f152c8fc6ef30802fde462ba0be9cf085f7580dc69efd72e002abbb35",
                  "sha256:e788103ee15318fcd2af9b73b4ebbb33a903b020de7b307d71f5fed0f433e548",
                  "sha256:f451a61749c611ba0fa0e16c61831db44f38c611dff25879cf271a24c81a88b6"),
        digest=sha256_digest(GOLANG_CONFIG),
    )


def test_config_digest_mismatch() -> None:
    with pytest.raises(IntegrityError):
        parse_config(GOLANG_CONFIG, sha256_digest(GOLANG_CONFIG + b" "))


@pytest.mark.parametrize("change", [_set(("config",), None), _set(("config",), _DELETE)])
def test_config_without_settings_has_defaults(change: Callable[[dict[str, Any]], None]) -> None:
    cfg = parse_config(edit(GOLANG_CONFIG, change))
    assert (cfg.env, cfg.entrypoint, cfg.cmd, cfg.working_dir, cfg.user, cfg.labels) == ((), None, None, "", "", ())
    assert len(cfg.diff_ids) == 3


def test_config_empty_entrypoint_is_not_none() -> None:
    cfg = parse_config(edit(GOLANG_CONFIG, _set(("config", "Entrypoint"), [])))
    assert cfg.entrypoint == () and cfg.cmd == ("bash",)


BAD_CONFIGS = [
    (("rootfs", "diff_ids", 1), "sha256:e788", 'rootfs.diff_ids[1]: expected "sha256:<64 hex>", got "sha256:e788"'),
    (("rootfs", "diff_ids"), _DELETE, "rootfs.diff_ids: missing"),
    (("rootfs", "type"), "layer", 'rootfs.type: expected "layers", got "layer"'),
    (("rootfs",), _DELETE, "rootfs: missing"),
    (("config", "Env", 2), 42, "config.Env[2]: expected a string, got 42"),
    (("config", "Cmd"), "bash", 'config.Cmd: expected an array of strings, got "bash"'),
    (("config", "WorkingDir"), ["/go"], 'config.WorkingDir: expected a string, got ["/go"]'),
    (("config",), [], "config: expected an object, got []"),
]


@pytest.mark.parametrize("path, value, problem", BAD_CONFIGS)
def test_bad_config_field_is_named_by_path(path: tuple[Any, ...], value: Any, problem: str) -> None:
    doc = edit(GOLANG_CONFIG, _set(path, value))
    with pytest.raises(ManifestError) as e:
        parse_config(doc)
    assert e.value.message == f"{what('config', doc)}: {problem}"


def test_diff_ids_must_match_the_layer_count() -> None:
    config = parse_config(GOLANG_CONFIG)
    oci = parse_document(OCI_MANIFEST_DOC, None)
    assert isinstance(oci, Manifest)
    check_diff_ids(oci, config)
    docker = parse_document(DOCKER_MANIFEST_DOC, None)
    assert isinstance(docker, Manifest)
    with pytest.raises(ManifestError) as e:
        check_diff_ids(docker, config)
    assert e.value.message == (f"{what('manifest', DOCKER_MANIFEST_DOC)}: 2 layers, but "
                               f"{what('config', GOLANG_CONFIG)} lists 3 rootfs.diff_ids")
