"""Property tests of what a registry sends: manifests, indexes, image configs, token answers, auth challenges.

Whatever the bytes, near the real shape or not, parse_document and parse_config give a value or a
GoboxError; the values they give are safe to use (digests gobox can verify, platforms that make a plain
record name), and nothing hangs.
"""

from __future__ import annotations

import io
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.fuzz import digests, json_values, mutated, value_or_gobox_error

from gobox.oci import auth
from gobox.oci.manifest import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    ImageConfig,
    Index,
    Manifest,
    parse_config,
    parse_document,
    sha256_digest,
)
from gobox.oci.transport import registry_error, retry_after

LAYER_TYPES = st.sampled_from([OCI_LAYER_GZIP, "application/vnd.oci.image.layer.v1.tar",
                                "application/vnd.docker.image.rootfs.diff.tar.gzip"])
CONTENT_TYPES = st.sampled_from([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, "text/html", ""])
words = st.sampled_from(["linux", "amd64", "arm64", "v8", "windows", "10.0.20348.2340"])
platform = st.fixed_dictionaries({"os": words, "architecture": words}, optional={"variant": words})


def descriptor(media: st.SearchStrategy[str], with_platform: bool = False) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"mediaType": media, "digest": digests, "size": st.integers(0, 2**40)},
        optional={"annotations": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
                  "urls": st.lists(st.text(max_size=10), max_size=1),
                  **({"platform": platform} if with_platform else {})})


manifest = st.fixed_dictionaries({
    "schemaVersion": st.just(2), "mediaType": st.sampled_from([OCI_MANIFEST, DOCKER_MANIFEST]),
    "config": descriptor(st.just("application/vnd.oci.image.config.v1+json")),
    "layers": st.lists(descriptor(LAYER_TYPES), max_size=3)})
index = st.fixed_dictionaries({
    "schemaVersion": st.just(2), "mediaType": st.sampled_from([OCI_INDEX, DOCKER_MANIFEST_LIST]),
    "manifests": st.lists(descriptor(st.sampled_from([OCI_MANIFEST, DOCKER_MANIFEST]), True), max_size=3)})
strings = st.lists(st.text(max_size=8), max_size=2)
config = st.fixed_dictionaries(
    {"rootfs": st.fixed_dictionaries({"type": st.just("layers"), "diff_ids": st.lists(digests, max_size=3)})},
    optional={"os": words, "architecture": words, "variant": words,
              "config": st.fixed_dictionaries({}, optional={
                  "Env": strings, "Entrypoint": strings, "Cmd": strings, "WorkingDir": st.text(max_size=8),
                  "User": st.text(max_size=8), "Labels": st.dictionaries(st.text(max_size=5), st.text(max_size=5))})})
token = st.fixed_dictionaries({"token": st.text(min_size=1, max_size=10)},
                              optional={"access_token": st.text(max_size=10), "expires_in": st.integers(1, 3600)})


def encoded(doc: st.SearchStrategy[object]) -> st.SearchStrategy[bytes]:
    """JSON bytes of a near-valid `doc`, or of anything, or bytes that are not JSON at all."""
    near = mutated(doc).map(lambda d: json.dumps(d).encode())
    return st.one_of(near, near, json_values.map(lambda d: json.dumps(d).encode()), st.binary(max_size=64))


def _plain(word: str) -> bool:
    return "/" not in word and word not in (".", "..") and all(c.isprintable() for c in word)


@settings(max_examples=300)
@given(data=encoded(manifest) | encoded(index), content_type=CONTENT_TYPES, pin=st.booleans())
@example(data=b"[" * 50000, content_type=OCI_MANIFEST, pin=False)
@example(data=b'{"schemaVersion": 2, "schemaVersion": 2}', content_type=OCI_MANIFEST, pin=False)
@example(data=b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": '
         b'[{"mediaType": "x", "digest": "sha256:' + b"a" * 64 + b'", "size": 1, "platform": {"os": "li\\u0000nux", '
         b'"architecture": "amd64"}}]}', content_type=OCI_INDEX, pin=False)
def test_manifests_and_indexes_are_values_or_one_line(data: bytes, content_type: str, pin: bool) -> None:
    got = value_or_gobox_error(parse_document, data, content_type, sha256_digest(data) if pin else None)
    if isinstance(got, (Manifest, Index)):
        assert got.digest == sha256_digest(data)
        for d in (got.config, *got.layers) if isinstance(got, Manifest) else got.manifests:
            assert d.digest.startswith(("sha256:", "sha512:")) and d.size >= 0
            if d.platform is not None:
                assert all(_plain(w) for w in (d.platform.os, d.platform.architecture, d.platform.variant))


@settings(max_examples=200)
@given(data=encoded(config))
@example(data=b'{"os": "li\\u0000nux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": []}}')
@example(data=b'{"os": "../../x", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": []}}')
def test_configs_are_values_or_one_line(data: bytes) -> None:
    got = value_or_gobox_error(parse_config, data)
    if isinstance(got, ImageConfig):
        # The platform names the image's record file in the store: a plain name, whatever the registry said.
        assert all(_plain(w) for w in (got.os, got.architecture, got.variant))
        assert all(d.startswith("sha256:") or d.startswith("sha512:") for d in got.diff_ids)


@settings(max_examples=150)
@given(data=encoded(token))
@example(data=b"[" * 50000)
@example(data=b'{"token": "t", "expires_in": 1e999}')
def test_token_answers_are_values_or_one_line(data: bytes) -> None:
    got = value_or_gobox_error(auth.parse_token_response, data)
    if isinstance(got, tuple):
        token, lifetime = got
        assert token and isinstance(token, str) and lifetime > 0


@settings(max_examples=150)
@given(header=st.one_of(st.text(max_size=60), st.builds("{} realm={},service={}".format,
                                                         st.sampled_from(["Bearer", "Basic", ""]),
                                                         st.text(max_size=20), st.text(max_size=10))))
@example(header='Bearer realm="unterminated')
def test_challenges_and_retry_after_never_raise(header: str) -> None:
    value_or_gobox_error(auth.parse_challenges, header)
    wait = value_or_gobox_error(retry_after, header)
    assert wait is None or wait >= 0


@example(value="²")
@example(value="Mon, 01 Jan 99999 00:00:00 GMT")
@given(value=st.text(max_size=40))
@settings(max_examples=100)
def test_retry_after_is_seconds_or_nothing(value: str) -> None:
    wait = value_or_gobox_error(retry_after, value)
    assert wait is None or wait >= 0


errors_body = st.fixed_dictionaries({"errors": st.lists(st.fixed_dictionaries(
    {"code": st.sampled_from(["DENIED", "NAME_UNKNOWN"])}, optional={"message": st.text(max_size=30)}), max_size=2)})


def _response(body: bytes) -> object:
    """An answer as requests gives it to the client: its body a stream (a value, not a stand-in for a server)."""
    import requests

    r = requests.Response()
    r.status_code, r.raw = 404, io.BytesIO(body)
    return r


@settings(max_examples=150)
@given(body=encoded(errors_body))
@example(body=b'{"errors": ' + b"[" * 50000 + b"]" * 50000 + b"}")
@example(body=b'{"errors": [{"code": "DENIED", "message": "\\u001b[2J\\n"}]}')
def test_error_bodies_give_a_printable_code_and_message(body: bytes) -> None:
    code, message = value_or_gobox_error(registry_error, _response(body))
    assert code.isprintable() and message.isprintable() and len(code) <= 64 and len(message) <= 200
