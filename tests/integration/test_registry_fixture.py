"""The registry fixture works: a real distribution 2.8 filled by skopeo, in each auth mode, and the fault proxy."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
from pathlib import Path

import pytest
import requests
from support.ocilayout import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Entry,
    Image,
    Layer,
    Written,
    docker_list,
    files,
    raw,
    sha256_digest,
    write_layout,
)
from support.registry import (
    SERVICE,
    TOOLS,
    FaultProxy,
    Registry,
    RegistryFactory,
    loopback_session,
    parse_challenge,
    push,
    scope_for,
)
from support.requires import requires_tool

pytestmark = requires_tool(*TOOLS)

ACCEPT_ALL = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))


def _hostile_layer() -> Layer:
    # Order matters: the symlink must come before the file written through it.
    return Layer([
        raw("../escape", data=b"out\n"),
        raw("link", "symlink", target="/etc"),
        raw("link/passwd", data=b"root::0:0::/:/bin/sh\n"),
        raw("hard", "hardlink", target="/etc/passwd"),
        raw("/abs", data=b"abs\n"),
    ], sort=False)


@pytest.fixture(scope="module")
def layout() -> tuple[Path, dict[str, Written]]:
    base = Layer(files({"etc/os-release": "ID=gobox-test\n", "bin/tool": b"#!/bin/sh\necho base\n"}))
    top = Layer([Entry("app", "dir"), Entry("app/main", "file", b"\x7fELF fake", 0o755),
                 Entry("etc/os-release", "whiteout"), Entry("var/cache", "opaque"),
                 Entry("app/current", "symlink", target="main"), Entry("app/again", "hardlink", target="app/main")])
    amd64 = Image([base, top], env=["PATH=/usr/bin:/bin", "GOBOX=1"], workingdir="/app", user="1000:1000")
    arm64 = Image([base], architecture="arm64", variant="v8")
    with tempfile.TemporaryDirectory(prefix="gobox-layout-") as tmp:
        d = Path(tmp)
        written = write_layout(d, {"two": amd64, "multi": [amd64, arm64], "hostile": Image([_hostile_layer()])})
        yield d, written


@pytest.fixture(scope="module")
def reg_none(layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> Registry:
    d, _ = layout
    reg = registries("none")
    push(d, "two", reg, "app/two:v1")
    push(d, "two", reg, "app/docker:v1", format="v2s2")
    push(d, "multi", reg, "app/multi:v1")
    push(d, "multi", reg, "app/dlist:v1", format="v2s2")
    push(d, "hostile", reg, "app/hostile:v1")
    return reg


@pytest.fixture(scope="module")
def reg_basic(layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> Registry:
    reg = registries("basic")
    push(layout[0], "two", reg, "private/two:v1")
    return reg


@pytest.fixture(scope="module")
def reg_token(layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> Registry:
    reg = registries("token")
    push(layout[0], "two", reg, "public/two:v1")
    push(layout[0], "two", reg, "private/two:v1")
    return reg


@pytest.fixture(scope="module")
def shared_proxy(reg_none: Registry) -> FaultProxy:
    with FaultProxy(reg_none) as p:
        yield p


@pytest.fixture
def proxy(shared_proxy: FaultProxy) -> FaultProxy:
    shared_proxy.reset()
    yield shared_proxy
    shared_proxy.reset()


def _get(url: str, **kw: object) -> requests.Response:
    with loopback_session() as s:
        return s.get(url, timeout=10, **kw)


# --- the layout itself ---------------------------------------------------------------------------


def test_layers_are_deterministic_with_spec_whiteouts() -> None:
    entries = [Entry("b/f", "file", "x"), Entry("b", "dir"), Entry("a/gone", "whiteout"), Entry("c", "opaque")]
    one, two = Layer(entries), Layer(list(reversed(entries)))
    assert one.blob == two.blob and one.digest == sha256_digest(one.blob) and one.size == len(one.blob)
    assert gzip.decompress(one.blob) == one.tar and one.diff_id == sha256_digest(one.tar)
    with tarfile.open(fileobj=io.BytesIO(one.tar)) as tf:
        members = tf.getmembers()
    assert [m.name for m in members] == ["a/.wh.gone", "b", "b/f", "c/.wh..wh..opq"]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)


def test_layout_is_an_oci_image_layout(layout: tuple[Path, dict[str, Written]]) -> None:
    d, written = layout
    assert json.loads((d / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((d / "index.json").read_text())
    refs = {e["annotations"]["org.opencontainers.image.ref.name"]: e for e in index["manifests"]}
    assert refs["two"]["mediaType"] == OCI_MANIFEST and refs["multi"]["mediaType"] == OCI_INDEX
    for blob in (d / "blobs" / "sha256").iterdir():
        assert sha256_digest(blob.read_bytes()) == "sha256:" + blob.name
    cfg = written["two"].json(written["two"].json()["config"]["digest"])
    assert cfg["os"] == "linux" and cfg["architecture"] == "amd64" and cfg["config"]["WorkingDir"] == "/app"
    layers = written["two"].json()["layers"]
    assert cfg["rootfs"]["diff_ids"] == [sha256_digest(gzip.decompress(written["two"].blob(x["digest"])))
                                         for x in layers]


# --- auth none -------------------------------------------------------------------------------------


def test_none_serves_the_pushed_manifest_and_blobs(reg_none: Registry, layout: tuple[Path, dict[str, Written]]) -> None:
    written = layout[1]["two"]
    r = _get(f"{reg_none.url}/v2/app/two/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["Content-Type"] == OCI_MANIFEST
    assert r.headers["Docker-Content-Digest"] == sha256_digest(r.content) == written.digest
    manifest = r.json()
    assert len(manifest["layers"]) == 2 and manifest["config"]["mediaType"] == OCI_CONFIG
    for desc in [manifest["config"], *manifest["layers"]]:
        b = _get(f"{reg_none.url}/v2/app/two/blobs/{desc['digest']}")
        assert b.status_code == 200 and sha256_digest(b.content) == desc["digest"] and len(b.content) == desc["size"]


def test_none_wants_an_accept_header_for_oci(reg_none: Registry) -> None:
    # distribution 2.8 hides OCI content from clients that do not ask for it: 404, not a fallback.
    r = _get(f"{reg_none.url}/v2/app/two/manifests/v1")
    assert r.status_code == 404 and "accept header does not support OCI" in r.text


def test_multi_arch_index_is_served_as_an_index(reg_none: Registry, layout: tuple[Path, dict[str, Written]]) -> None:
    r = reg_none.manifest("app/multi", "v1", OCI_INDEX)
    assert r.status_code == 200 and r.headers["Content-Type"] == OCI_INDEX
    assert r.headers["Docker-Content-Digest"] == layout[1]["multi"].digest
    platforms = {(m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant"))
                 for m in r.json()["manifests"]}
    assert platforms == {("linux", "amd64", None), ("linux", "arm64", "v8")}
    for m in r.json()["manifests"]:
        child = reg_none.manifest("app/multi", m["digest"], OCI_MANIFEST)
        assert child.status_code == 200 and sha256_digest(child.content) == m["digest"]
        cfg = json.loads(reg_none.blob("app/multi", child.json()["config"]["digest"]))
        assert cfg["architecture"] == m["platform"]["architecture"]


def test_docker_manifest_list_by_skopeo_conversion(reg_none: Registry,
                                                   layout: tuple[Path, dict[str, Written]]) -> None:
    r = reg_none.manifest("app/dlist", "v1", DOCKER_LIST)
    assert r.status_code == 200 and r.headers["Content-Type"] == DOCKER_LIST == r.json()["mediaType"]
    oci_layers = {x["digest"] for x in layout[1]["two"].json()["layers"]}
    for m in r.json()["manifests"]:
        assert m["mediaType"] == DOCKER_MANIFEST
        child = reg_none.manifest("app/dlist", m["digest"], DOCKER_MANIFEST).json()
        assert child["config"]["mediaType"] == DOCKER_CONFIG
        assert {x["mediaType"] for x in child["layers"]} == {DOCKER_LAYER_GZIP}
        # skopeo converts the manifest only: the layer blobs, and so their digests, are the OCI ones.
        assert {x["digest"] for x in child["layers"]} <= oci_layers
    single = reg_none.manifest("app/docker", "v1", DOCKER_MANIFEST)
    assert single.status_code == 200 and single.json()["mediaType"] == DOCKER_MANIFEST
    # Without a list Accept, 2.8 tries a schema1 down-conversion it cannot sign: 400.
    assert _get(f"{reg_none.url}/v2/app/dlist/manifests/v1").status_code == 400


def test_hand_made_docker_list_can_be_put(reg_none: Registry) -> None:
    converted = reg_none.manifest("app/dlist", "v1", DOCKER_LIST).json()["manifests"]
    body = docker_list([(m["digest"], m["size"], m["platform"]) for m in reversed(converted)])
    assert reg_none.put_manifest("app/dlist", "handmade", body, DOCKER_LIST) == sha256_digest(body)
    back = reg_none.manifest("app/dlist", "handmade", [DOCKER_LIST])
    assert back.content == body and back.headers["Content-Type"] == DOCKER_LIST


def test_hostile_layer_is_stored_as_written(reg_none: Registry, layout: tuple[Path, dict[str, Written]]) -> None:
    m = reg_none.manifest("app/hostile", "v1", OCI_MANIFEST).json()
    blob = reg_none.blob("app/hostile", m["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        got = [(t.name, t.type, t.linkname) for t in tf.getmembers()]
    assert got == [("../escape", tarfile.REGTYPE, ""), ("link", tarfile.SYMTYPE, "/etc"),
                   ("link/passwd", tarfile.REGTYPE, ""), ("hard", tarfile.LNKTYPE, "/etc/passwd"),
                   ("/abs", tarfile.REGTYPE, "")]


# --- auth basic ------------------------------------------------------------------------------------


def test_basic_challenges_then_accepts_credentials(reg_basic: Registry) -> None:
    url = f"{reg_basic.url}/v2/private/two/manifests/v1"
    r = _get(url, headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 401
    scheme, params = parse_challenge(r.headers["WWW-Authenticate"])
    assert scheme == "Basic" and params["realm"] == reg_basic.realm
    assert _get(url, headers={"Accept": OCI_MANIFEST}, auth=(reg_basic.user, "wrong")).status_code == 401
    ok = _get(url, headers={"Accept": OCI_MANIFEST}, auth=reg_basic.basic)
    assert ok.status_code == 200 and ok.headers["Docker-Content-Digest"] == sha256_digest(ok.content)


# --- auth token ------------------------------------------------------------------------------------


def test_token_challenge_names_realm_service_and_scope(reg_token: Registry) -> None:
    r = _get(f"{reg_token.url}/v2/public/two/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 401
    scheme, params = parse_challenge(r.headers["WWW-Authenticate"])
    assert scheme == "Bearer"
    assert params == {"realm": reg_token.token_server.realm, "service": SERVICE,
                      "scope": scope_for("public/two", "pull")}


def test_token_anonymous_pull_of_a_public_repository(reg_token: Registry) -> None:
    token = reg_token.token(scope_for("public/two"))
    r = _get(f"{reg_token.url}/v2/public/two/manifests/v1",
             headers={"Accept": OCI_MANIFEST, "Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == sha256_digest(r.content)
    assert reg_token.token_server.hits[-1].subject is None


def test_token_private_repository_needs_credentials(reg_token: Registry) -> None:
    url = f"{reg_token.url}/v2/private/two/manifests/v1"
    anon = reg_token.token(scope_for("private/two"))
    denied = _get(url, headers={"Accept": OCI_MANIFEST, "Authorization": f"Bearer {anon}"})
    assert denied.status_code == 401
    assert parse_challenge(denied.headers["WWW-Authenticate"])[1].get("error") == "insufficient_scope"
    token = reg_token.token(scope_for("private/two"), creds=reg_token.basic)
    assert _get(url, headers={"Accept": OCI_MANIFEST, "Authorization": f"Bearer {token}"}).status_code == 200
    bad = _get(reg_token.token_server.realm, params={"service": SERVICE, "scope": scope_for("private/two")},
               auth=(reg_token.user, "wrong"))
    assert bad.status_code == 401


def test_token_oauth_post_password_and_refresh_grants(reg_token: Registry) -> None:
    realm, url = reg_token.token_server.realm, f"{reg_token.url}/v2/private/two/manifests/v1"
    form = {"grant_type": "password", "username": reg_token.user, "password": reg_token.password,
            "service": SERVICE, "scope": scope_for("private/two"), "client_id": "gobox-test", "access_type": "offline"}
    with loopback_session() as s:
        first = s.post(realm, data=form, timeout=10).json()
        again = s.post(realm, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                    "service": SERVICE, "scope": scope_for("private/two")}, timeout=10).json()
        wrong = s.post(realm, data={**form, "password": "wrong"}, timeout=10)
    for tok in (first["access_token"], again["access_token"]):
        assert _get(url, headers={"Accept": OCI_MANIFEST, "Authorization": f"Bearer {tok}"}).status_code == 200
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_grant"


def test_token_anonymous_push_is_refused(reg_token: Registry, layout: tuple[Path, dict[str, Written]]) -> None:
    with pytest.raises(RuntimeError, match="denied"):
        push(layout[0], "two", reg_token, "public/anon:v1", anonymous=True)


# --- fault proxy ------------------------------------------------------------------------------------


def test_proxy_passes_a_skopeo_push_through(proxy: FaultProxy, reg_none: Registry,
                                            layout: tuple[Path, dict[str, Written]]) -> None:
    digest = push(layout[0], "two", proxy, "viaproxy/two:v1")
    assert digest == layout[1]["two"].digest
    # The registry's upload Location URLs are built from the Host header, so uploads come back through us.
    assert any(h.method == "PATCH" and "/blobs/uploads/" in h.path for h in proxy.hits)
    assert reg_none.manifest("viaproxy/two", "v1", OCI_MANIFEST).headers["Docker-Content-Digest"] == digest


def test_proxy_rate_limits_then_lets_through(proxy: FaultProxy) -> None:
    proxy.rate_limit(r"/manifests/v1$", times=2, retry_after="1")
    got = [_get(f"{proxy.url}/v2/app/two/manifests/v1", headers={"Accept": OCI_MANIFEST}) for _ in range(3)]
    assert [r.status_code for r in got] == [429, 429, 200]
    assert got[0].headers["Retry-After"] == "1" and "Retry-After" not in got[2].headers
    assert [h.fault for h in proxy.hits_for("/manifests/v1")] == ["status", "status", None]


def test_proxy_cuts_a_blob_short_once(proxy: FaultProxy, layout: tuple[Path, dict[str, Written]]) -> None:
    digest = layout[1]["two"].json()["layers"][0]["digest"]
    proxy.truncate(rf"/blobs/{digest}$", after=10)
    url = f"{proxy.url}/v2/app/two/blobs/{digest}"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _get(url)
    whole = _get(url)
    assert whole.status_code == 200 and sha256_digest(whole.content) == digest


def test_proxy_fails_once_with_500(proxy: FaultProxy) -> None:
    proxy.error(r"/v2/app/two/manifests/", status=500)
    url = f"{proxy.url}/v2/app/two/manifests/v1"
    assert _get(url, headers={"Accept": OCI_MANIFEST}).status_code == 500
    assert _get(url, headers={"Accept": OCI_MANIFEST}).status_code == 200
