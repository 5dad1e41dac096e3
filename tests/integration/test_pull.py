"""gobox pull against a real registry (Debian's docker-registry) filled by skopeo, in each auth mode."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.ocilayout import Image, Layer, Written, files, write_layout
from support.registry import TOOLS, FaultProxy, Registry, RegistryFactory, push
from support.requires import requires_tool
from support.runner import Gobox

pytestmark = requires_tool(*TOOLS)


@pytest.fixture(scope="module")
def layout(sample_layout: tuple[Path, dict[str, Written]]) -> tuple[Path, dict[str, Written]]:
    return sample_layout


@pytest.fixture(scope="module")
def reg(layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> Registry:
    d, _ = layout
    r = registries("none")
    push(d, "app", r, "team/app:v1")
    push(d, "multi", r, "team/multi:v1")
    push(d, "multi", r, "team/dlist:v1", format="v2s2")
    return r


@pytest.fixture
def proxy(reg: Registry) -> FaultProxy:
    with FaultProxy(reg) as p:
        yield p


def blobs_of(gobox: Gobox) -> set[str]:
    d = gobox.home / "blobs" / "sha256"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def pulled(gobox: Gobox, ref: str, *args: str, env: dict[str, str] | None = None) -> dict:
    r = gobox("pull", "--json", ref, *args, env=env)
    assert r.code == 0, r.err
    return json.loads(r.out)


def docker_config(tmp_path: Path, config: dict) -> dict[str, str]:
    d = tmp_path / "docker"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(d)}


# --- what users do -----------------------------------------------------------------------------


def test_pull_stores_every_blob_verified_and_once(gobox: Gobox, reg: Registry,
                                                  layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    manifest = image.json(image.digest)
    out = pulled(gobox, f"{reg.host}/team/app:v1")
    assert out["digest"] == image.digest and out["platform"] == "linux/amd64"
    assert out["layers"] == [layer["digest"] for layer in manifest["layers"]]
    assert (out["fetched"], out["reused"]) == (3, 0)
    have = blobs_of(gobox)
    for digest in [manifest["config"]["digest"], *out["layers"], image.digest]:
        assert digest.split(":")[1] in have
        data = (gobox.home / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
        assert "sha256:" + __import__("hashlib").sha256(data).hexdigest() == digest
    listed = gobox("images")
    assert listed.code == 0 and f"{reg.host}/team/app:v1" in listed.out and "linux/amd64" in listed.out
    # The second pull finds everything and fetches nothing.
    again = pulled(gobox, f"{reg.host}/team/app:v1")
    assert (again["fetched"], again["reused"]) == (0, 3)
    # By digest, the content must hash to it.
    by_digest = pulled(gobox, f"{reg.host}/team/app@{image.digest}")
    assert by_digest["digest"] == image.digest


@pytest.mark.parametrize("name", ["team/multi:v1", "team/dlist:v1"])  # OCI index, Docker manifest list
def test_platform_is_chosen_from_an_index(gobox: Gobox, reg: Registry, name: str) -> None:
    amd = pulled(gobox, f"{reg.host}/{name}")
    arm = pulled(gobox, f"{reg.host}/{name}", "--platform", "linux/arm64")
    assert amd["platform"] == "linux/amd64" and arm["platform"] == "linux/arm64/v8"
    assert amd["index_digest"] == arm["index_digest"] and amd["digest"] != arm["digest"]
    assert len(arm["layers"]) == 1 and arm["reused"] == 1  # the base layer both share
    r = gobox("pull", f"{reg.host}/{name}", "--platform", "linux/riscv64")
    assert r.code == 2
    assert "no image for linux/riscv64" in r.err and "linux/amd64" in r.err and "linux/arm64/v8" in r.err


def store_state(gobox: Gobox) -> dict[str, tuple[int, int]]:
    """Every file of the store's blobs/ and images/, with its size and mtime: what a pull may change."""
    out = {}
    for area in ("blobs", "images"):
        for p in sorted((gobox.home / area).rglob("*")):
            if p.is_file():
                st = p.stat()
                out[str(p.relative_to(gobox.home))] = (st.st_size, st.st_mtime_ns)
    return out


def test_a_repeated_pull_of_a_tag_asks_only_for_the_manifest_digest_and_changes_nothing(
        gobox: Gobox, proxy: FaultProxy) -> None:
    ref = f"{proxy.host}/team/app:v1"
    first = pulled(gobox, ref)
    assert [h for h in proxy.hits if h.method == "HEAD"] == []  # a first pull goes straight to its GETs
    before = store_state(gobox)
    proxy.reset()
    again = pulled(gobox, ref)
    assert (again["fetched"], again["reused"], again["digest"]) == (0, 3, first["digest"])
    assert [(h.method, h.path) for h in proxy.hits] == [("HEAD", "/v2/team/app/manifests/v1")]
    assert store_state(gobox) == before


def test_a_pull_by_digest_with_everything_stored_asks_the_registry_nothing(gobox: Gobox, proxy: FaultProxy) -> None:
    digest = pulled(gobox, f"{proxy.host}/team/multi:v1")["index_digest"]
    proxy.reset()
    out = pulled(gobox, f"{proxy.host}/team/multi@{digest}")
    assert (out["fetched"], out["index_digest"]) == (0, digest)
    assert proxy.hits == []


def test_a_repeated_pull_does_not_import_an_http_library(gobox: Gobox, reg: Registry) -> None:
    """The fast path stays fast: no requests (nor urllib3) is imported when the store can answer, nor the
    layer extractor (gc's sweep needs it, a pull's pin does not) or the download threads' pool."""
    ref = f"{reg.host}/team/app:v1"
    pulled(gobox, ref)
    heavy = ('requests', 'urllib3', 'gobox.oci.layer', 'concurrent.futures')
    script = ("import sys\nfrom gobox.cli import cli\n"
              f"cli.main(args=['-q', 'pull', {ref!r}], prog_name='gobox', standalone_mode=False)\n"
              f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", script], env=gobox.env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == "[]"


def test_a_tag_moved_on_the_registry_is_noticed_on_the_next_pull(
        gobox: Gobox, reg: Registry, layout: tuple[Path, dict[str, Written]], tmp_path: Path) -> None:
    push(layout[0], "app", reg, "team/moving:v1")
    ref = f"{reg.host}/team/moving:v1"
    first = pulled(gobox, ref)
    other = write_layout(tmp_path / "other", {"other": Image([Layer(files({"moved": "yes\n"}))])})
    push(tmp_path / "other", "other", reg, "team/moving:v1")
    moved = pulled(gobox, ref)
    assert moved["digest"] == other["other"].digest != first["digest"]
    assert (moved["fetched"], moved["reused"]) == (1, 0)
    listed = gobox("images", "--json")
    assert listed.code == 0 and other["other"].digest in listed.out and first["digest"] not in listed.out


def test_a_pull_killed_midway_leaves_no_half_blob(gobox: Gobox, proxy: FaultProxy,
                                                 layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    big = image.json(image.digest)["layers"][2]["digest"].split(":")[1]
    proxy.truncate(rf"/blobs/sha256:{big}$", after=1 << 20, stall=30)  # sends 1 MB of 3, then holds the line
    p = gobox.popen("pull", f"{proxy.host}/team/app:v1")
    parts: list[Path] = []
    try:
        for _ in range(600):  # until gobox is writing the blob: its .part file has the first bytes
            parts = [q for q in (gobox.home / "tmp").glob(f"{big}.*.part") if q.stat().st_size > 0] \
                if (gobox.home / "tmp").is_dir() else []
            if parts or p.poll() is not None:
                break
            time.sleep(0.05)
        assert parts, "gobox never started writing the big layer"
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.communicate(timeout=30)
    for blob in (gobox.home / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name  # whole, or not there at all
    assert big not in blobs_of(gobox)
    proxy.reset()
    out = pulled(gobox, f"{proxy.host}/team/app:v1")
    assert out["fetched"] >= 1 and big in blobs_of(gobox)
    assert list((gobox.home / "tmp").glob("*.part")) == []  # the killed pull's leftover is cleared


# --- auth --------------------------------------------------------------------------------------


def test_basic_auth_from_docker_config(gobox: Gobox, tmp_path: Path, layout: tuple[Path, dict[str, Written]],
                                      registries: RegistryFactory) -> None:
    reg = registries("basic")
    push(layout[0], "app", reg, "private/app:v1")
    r = gobox("pull", f"{reg.host}/private/app:v1", env=docker_config(tmp_path, {}))
    assert r.code == 4
    assert f"{reg.host} needs credentials, and none are configured for it" in r.err
    assert f"docker login {reg.host}" in r.err
    user, password = reg.basic
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    env = docker_config(tmp_path, {"auths": {reg.host: {"auth": token}}})
    out = pulled(gobox, f"{reg.host}/private/app:v1", env=env)
    assert out["fetched"] == 3
    # Again: the light HEAD gets a 401, and the full client answers the challenge with the same login.
    assert pulled(gobox, f"{reg.host}/private/app:v1", env=env)["fetched"] == 0
    wrong = base64.b64encode(f"{user}:nope".encode()).decode()
    bad = gobox("pull", f"{reg.host}/private/app:v1", env=docker_config(tmp_path, {"auths": {reg.host: {
        "auth": wrong}}}))
    assert bad.code == 4 and "access denied as 'gobox'" in bad.err
    assert password not in bad.err + bad.out and "nope" not in bad.err


def test_bearer_tokens_anonymous_and_through_a_credential_helper(
        gobox: Gobox, tmp_path: Path, layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> None:
    reg = registries("token")
    push(layout[0], "app", reg, "public/app:v1")
    push(layout[0], "app", reg, "private/app:v1")
    before = len(reg.token_server.hits)  # the registry is shared: only this test's tokens count
    none = docker_config(tmp_path, {})
    assert pulled(gobox, f"{reg.host}/public/app:v1", env=none)["fetched"] == 3  # anonymous token
    r = gobox("pull", f"{reg.host}/private/app:v1", env=none)
    assert r.code == 4 and "access denied anonymously" in r.err and f"docker login {reg.host}" in r.err
    # A real docker-credential-* program on PATH, named by credHelpers.
    user, password = reg.basic
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-gobox-test"
    helper.write_text("#!/bin/sh\nread server\n"
                      f"printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' "
                      '"$server"\n')
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    env = docker_config(tmp_path, {"credHelpers": {reg.host: "gobox-test"}})
    env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    out = pulled(gobox, f"{reg.host}/private/app:v1", env=env)
    assert out["reused"] == 3  # same blobs as the public image
    assert any(h.subject == user for h in reg.token_server.hits[before:])


# --- unhappy paths -----------------------------------------------------------------------------


def test_unknown_tag_names_the_reference(gobox: Gobox, reg: Registry) -> None:
    r = gobox("pull", f"{reg.host}/team/app:v9")
    assert r.code == 4
    assert f"{reg.host}/team/app:v9: manifest not found (MANIFEST_UNKNOWN)" in r.err


def test_malformed_reference_is_a_usage_error(gobox: Gobox) -> None:
    r = gobox("pull", "Golang:1.22")
    assert r.code == 2 and "not an image reference: 'Golang:1.22'" in r.err


def test_rate_limited_pull_waits_and_succeeds(gobox: Gobox, proxy: FaultProxy) -> None:
    proxy.rate_limit(r"/manifests/v1$", times=2, retry_after="1")
    out = pulled(gobox, f"{proxy.host}/team/app:v1")
    assert out["fetched"] == 3
    assert [h.status for h in proxy.hits_for(r"/manifests/v1$")] == [429, 429, 200]


def test_manifest_bytes_that_do_not_match_the_digest_asked_for(
        gobox: Gobox, proxy: FaultProxy, layout: tuple[Path, dict[str, Written]]) -> None:
    digest = layout[1]["app"].digest
    proxy.corrupt(r"/manifests/sha256:")
    r = gobox("pull", f"{proxy.host}/team/app@{digest}")
    assert r.code == 3, r.err
    assert digest in r.err
    assert blobs_of(gobox) == set()


def test_a_blob_that_does_not_match_its_digest_is_not_stored(
        gobox: Gobox, proxy: FaultProxy, layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    layer = image.json(image.digest)["layers"][1]["digest"]
    proxy.corrupt(rf"/blobs/{layer}$", times=10)
    r = gobox("pull", f"{proxy.host}/team/app:v1")
    assert r.code == 3, r.err
    assert "sha256 mismatch" in r.err and layer.split(":")[1] in r.err
    assert layer.split(":")[1] not in blobs_of(gobox)
    assert list((gobox.home / "tmp").glob("*.part")) == []


def test_registry_dying_midway_then_a_second_pull_reuses_the_finished_blobs(
        gobox: Gobox, proxy: FaultProxy, layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    layers = [d["digest"] for d in image.json(image.digest)["layers"]]
    # The big layer's connection is cut every time: the pull gives up on it, keeps the others.
    proxy.truncate(rf"/blobs/{layers[2]}$", after=100_000, times=100)
    r = gobox("pull", f"{proxy.host}/team/app:v1", env={"GOBOX_HTTP_TIMEOUT": "5"})
    assert r.code == 4, r.err
    assert "run the pull again" in r.err
    have = blobs_of(gobox)
    assert {d.split(":")[1] for d in layers[:2]} <= have and layers[2].split(":")[1] not in have
    proxy.reset()
    out = pulled(gobox, f"{proxy.host}/team/app:v1")
    assert (out["fetched"], out["reused"]) == (1, 2)
    assert [h.path.rsplit("/", 1)[1] for h in proxy.hits_for("/blobs/")] == [layers[2]]


def test_a_dead_registry_is_a_network_error(gobox: Gobox) -> None:
    r = gobox("pull", "127.0.0.1:9/team/app:v1")
    assert r.code == 4 and "is 127.0.0.1:9 up and reachable?" in r.err


def test_a_tls_registry_on_loopback_is_spoken_to_over_tls(gobox: Gobox, tmp_path: Path) -> None:
    """Loopback asks plain http first, but a server that speaks TLS gets TLS, and its certificate is checked."""
    import http.server
    import ssl
    import subprocess
    import threading

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=untrusted", "-keyout", tmp_path / "key.pem", "-out", tmp_path / "cert.pem"],
                   check=True, capture_output=True, timeout=60)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        r = gobox("pull", f"127.0.0.1:{server.server_address[1]}/team/app:v1")
    finally:
        server.shutdown()
        server.server_close()
    assert r.code == 4 and "TLS certificate failed verification" in r.err, r.err


def test_an_expired_token_is_refreshed_on_401(layout: tuple[Path, dict[str, Written]],
                                              registries: RegistryFactory) -> None:
    """A Client that outlives its bearer token (a long pull) gets a new one when the registry says 401."""
    from gobox.oci.registry import Client
    from gobox.oci.transport import Options

    reg = registries("token")
    push(layout[0], "app", reg, "public/app:v1")
    client = Client(reg.host, Options(environ={"HOME": str(layout[0])}))
    first = client.manifest("public/app", "v1")
    issued = len(reg.token_server.hits)
    # The token it holds has expired (distribution allows 60 s of leeway, too long to sit out in a
    # test): the client does not know until the registry says 401.
    (scope,) = client._tokens
    client._tokens[scope] = reg.token_server.mint(None, [scope], ttl=-300)
    again = client.manifest("public/app", "v1")
    assert again.data == first.data
    assert len(reg.token_server.hits) == issued + 1
