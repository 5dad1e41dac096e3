"""A hostile registry: `gobox pull` against tests/support/hostile.py's loopback server, the real one for concurrency.

Each case is a real pull over HTTP. What is checked is what a user would see or suffer: the exit code
and the one line naming what was wrong, how much of an endless answer gobox read before hanging up,
which server got the user's credentials, what the store holds afterwards, and (against Debian's
docker-registry) how many times each blob crossed the network when eight pulls run at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest
from support.hostile import ENDLESS_LIMIT, Answer, HostileRegistry, can_mount_tmpfs, endless, nested, tmpfs
from support.ocilayout import OCI_MANIFEST, Image, Layer, files, sample_images, write_layout
from support.registry import TOOLS, FaultProxy, Registry, push
from support.requires import requires_tool
from support.runner import Gobox, Result

NAME = "team/app"


def small_image(payload: bytes = b"#!/bin/sh\necho hi\n") -> Image:
    return Image([Layer(files({"bin/tool": payload}))])


def error_line(r: Result) -> str:
    lines = [x for x in r.err.splitlines() if x.startswith("gobox: error:")]
    assert len(lines) == 1, r.err
    return lines[0]


def pull(gobox: Gobox, reg: HostileRegistry, ref: str = f"{NAME}:v1", **env: str) -> Result:
    return gobox("pull", "--json", f"{reg.host}/{ref}", env=env or None)


def store_is_whole(home: Path) -> None:
    """Every blob in the store hashes to its name, and no work is left in tmp/."""
    blobs = home / "blobs" / "sha256"
    for p in blobs.iterdir() if blobs.is_dir() else []:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name, p
    assert list((home / "tmp").iterdir()) == [] if (home / "tmp").is_dir() else True


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Content-Length": str(3 << 30)}], ids=["streamed", "declared-3GiB"])
def test_an_endless_manifest_is_cut_off_at_the_limit(gobox: Gobox, headers: dict) -> None:
    with HostileRegistry() as reg:
        reg.serve(f"/v2/{NAME}/manifests/v1", Answer(200, endless(), {"Content-Type": OCI_MANIFEST, **headers}))
        r = pull(gobox, reg)
        sent = reg.sent[f"/v2/{NAME}/manifests/v1"]
    assert r.code == 4 and "over the 4194304-byte limit" in error_line(r), r.err
    assert "max-metadata-size" in r.err
    # gobox hung up soon after the limit (or before a byte, for a declared size): the rest was never read.
    assert sent < 64 << 20 < ENDLESS_LIMIT, sent


def test_the_manifest_limit_is_a_setting(gobox: Gobox) -> None:
    image = small_image()
    doc = image.manifest()
    doc["annotations"] = {"padding": "x" * (5 << 20)}
    with HostileRegistry() as reg:
        reg.add_image(NAME, "v1", image, manifest=json.dumps(doc).encode())
        refused = pull(gobox, reg)
        taken = pull(gobox, reg, GOBOX_MAX_METADATA_SIZE="8MiB")
    assert refused.code == 4 and "over the 4194304-byte limit" in error_line(refused)
    assert taken.code == 0, taken.err


def test_a_config_larger_than_the_limit_is_not_fetched(gobox: Gobox) -> None:
    image = small_image()
    doc = image.manifest()
    doc["config"]["size"] = 3 << 30
    with HostileRegistry() as reg:
        reg.add_image(NAME, "v1", image, manifest=json.dumps(doc).encode())
        r = pull(gobox, reg)
        config_gets = reg.hits_for(f"/blobs/{doc['config']['digest']}")
    assert r.code == 4 and "the config sha256:" in error_line(r) and "3221225472 bytes" in r.err, r.err
    assert config_gets == []


def test_a_blob_longer_than_its_descriptor_is_cut_off(gobox: Gobox) -> None:
    image = small_image()
    layer = image.layers[0]
    with HostileRegistry() as reg:
        reg.add_image(NAME, "v1", image)
        reg.serve(f"/v2/{NAME}/blobs/{layer.digest}", Answer(200, endless(b"\0" * 64, layer.blob)))
        r = pull(gobox, reg)
        sent = reg.sent[f"/v2/{NAME}/blobs/{layer.digest}"]
    assert r.code == 3 and f"more data than the expected {layer.size} bytes" in error_line(r), r.err
    assert sent < 64 << 20
    assert not (gobox.home / "blobs" / "sha256" / layer.digest.split(":")[1]).exists()
    store_is_whole(gobox.home)


# --- shapes ------------------------------------------------------------------------------------


def test_a_config_whose_platform_is_not_a_word_is_one_line(gobox: Gobox) -> None:
    image = small_image()
    config = json.loads(image.config_bytes())
    config["os"] = "li\x00nux"
    with HostileRegistry() as reg:
        reg.add_image(NAME, "v1", image, config=json.dumps(config).encode())
        r = pull(gobox, reg)
    assert r.code == 1 and 'os: expected a word such as linux, amd64 or v8, got "li\\u0000nux"' in error_line(r)
    store_is_whole(gobox.home)


@pytest.mark.parametrize("body, status, said", [
    (nested(100000), 404, "manifest not found (HTTP 404)"),  # past a parser's recursion limit
    (endless(b'{"code": "NOPE", "message": "x"}, ', b'{"errors": ['), 404, "manifest not found (HTTP 404)"),
    (b'{"errors": [{"code": "DENIED", "message": "no\\u001b[2J\\nway"}]}', 403,
     "access denied anonymously (HTTP 403, DENIED: no?[2J?way)"),  # a terminal escape, a new line
], ids=["nested", "endless", "escapes"])
def test_a_hostile_error_body_is_one_line(gobox: Gobox, body: object, status: int, said: str) -> None:
    with HostileRegistry() as reg:
        reg.serve(f"/v2/{NAME}/manifests/v1", Answer(status, body, {"Content-Type": "application/json"}))
        r = pull(gobox, reg)
        sent = reg.sent[f"/v2/{NAME}/manifests/v1"]
    assert r.code == 4 and said in error_line(r), r.err
    assert "\x1b" not in r.err and sent < 64 << 20


def test_a_retry_after_nobody_can_read_is_a_plain_retry(gobox: Gobox) -> None:
    with HostileRegistry() as reg:
        reg.add_image(NAME, "v1", small_image())
        reg.serve(f"/v2/{NAME}/manifests/v1", Answer(503, b"", {"Retry-After": "\u00b2"}))
        r = pull(gobox, reg)
        tries = len([h for h in reg.hits_for("/manifests/v1") if h.method == "GET"])  # after the light HEAD
    assert r.code == 4 and "HTTP 503" in error_line(r), r.err
    assert tries == 5  # retried (with backoff) as for any 503, not a traceback at the first


@pytest.mark.parametrize("token_body", [nested(100000), b"\xff\xfe", b"[]", endless()],
                         ids=["nested", "not-utf8", "not-an-object", "endless"])
def test_a_hostile_token_answer_is_one_line(gobox: Gobox, tmp_path: Path, token_body: object) -> None:
    with HostileRegistry(auth="bearer") as reg:
        reg.add_image(NAME, "v1", small_image())
        reg.serve("/token", Answer(200, token_body, {"Content-Type": "application/json"}))
        r = gobox("pull", f"{reg.host}/{NAME}:v1", env=reg.docker_config(tmp_path / "docker"))
        sent = reg.sent["/token"]
    assert r.code == 4 and "token" in error_line(r), r.err
    assert sent < 64 << 20
    assert reg.password not in r.err


# --- credentials stay with their registry ------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_credentials_are_not_sent_on_a_redirect_to_another_host(gobox: Gobox, tmp_path: Path, auth: str) -> None:
    image = small_image()
    # The second server is another host (127.0.0.2), as blob storage behind a real registry is.
    with HostileRegistry(auth=auth) as reg, HostileRegistry(host="127.0.0.2") as storage:
        reg.add_image(NAME, "v1", image)
        storage.add_image(NAME, "v1", image)
        reg.redirect_blobs = storage.url
        r = gobox("pull", "--json", f"{reg.host}/{NAME}:v1", env=reg.docker_config(tmp_path / "docker"))
        assert r.code == 0, r.err
        blob_gets = storage.hits_for("/blobs/")
        on_registry = [h for h in reg.hits_for("/v2/team/app/") if h.headers.get("Authorization")]
    assert len(blob_gets) == 2  # the config and the layer, each fetched from the storage host
    assert [h.headers.get("Authorization") for h in blob_gets] == [None, None]
    assert on_registry, "the registry itself got the credentials"


def test_a_challenge_from_the_host_a_redirect_led_to_is_not_answered(gobox: Gobox, tmp_path: Path) -> None:
    """Storage that asks for a token would get one fetched with the user's password from a realm it names."""
    image = small_image()
    with HostileRegistry(auth="basic") as reg, HostileRegistry(host="127.0.0.2", auth="bearer") as evil:
        reg.add_image(NAME, "v1", image)
        evil.add_image(NAME, "v1", image)
        reg.redirect_blobs = evil.url
        r = gobox("pull", f"{reg.host}/{NAME}:v1", env=reg.docker_config(tmp_path / "docker"))
        seen = [(h.path, h.headers.get("Authorization")) for h in evil.hits]
    assert r.code == 4 and f"access denied by {evil.url}/v2/team/app/blobs/" in error_line(r), r.err
    assert "the credentials for" in r.err and "are not sent there" in r.err
    assert [a for _, a in seen if a] == [], seen
    assert all(p != "/token" for p, _ in seen), seen


# --- disk full ---------------------------------------------------------------------------------


def test_disk_full_while_pulling(tmp_path: Path, gobox: Gobox) -> None:
    if not can_mount_tmpfs(tmp_path):
        pytest.skip("mounting a tmpfs needs root")
    image = Image([Layer(files({"small": b"x"})), Layer(files({"big.bin": os.urandom(3 << 20)}))])
    with HostileRegistry() as reg, tmpfs(tmp_path / "small", "1m") as home:
        reg.add_image(NAME, "v1", image)
        g = Gobox({**gobox.env, "GOBOX_HOME": str(home)}, home)
        r = g("pull", f"{reg.host}/{NAME}:v1")
        assert r.code == 1 and "No space left on device" in error_line(r), r.err
        assert f"cannot pull {reg.host}/{NAME}:v1 into the store" in r.err
        store_is_whole(home)
        assert not (home / "images").exists() or [p for p in (home / "images").rglob("*.json")] == []


# --- concurrent pulls, against the real registry -------------------------------------------------


@requires_tool(*TOOLS)
def test_concurrent_pulls_fetch_each_blob_once(gobox: Gobox) -> None:
    with tempfile.TemporaryDirectory(prefix="gobox-concurrent-") as tmp, Registry("none") as reg:
        written = write_layout(Path(tmp), {"app": sample_images()["app"]})["app"]
        push(Path(tmp), "app", reg, "team/app:v1")
        with FaultProxy(reg) as proxy:
            procs = [gobox.popen("pull", "--json", f"{proxy.host}/team/app:v1") for _ in range(8)]
            outs = [p.communicate(timeout=300) for p in procs]
            gets = [h.path for h in proxy.hits_for("/blobs/") if h.method == "GET"]
    assert [p.returncode for p in procs] == [0] * 8, [o[1] for o in outs]
    manifest = written.json()
    blobs = {manifest["config"]["digest"], *(d["digest"] for d in manifest["layers"])}
    assert sorted(gets) == sorted(f"/v2/team/app/blobs/{d}" for d in blobs), gets
    # Each pull says what it did: the fetches add up to one per blob, the rest reused.
    results = [json.loads(o[0]) for o in outs]
    assert sum(x["fetched"] for x in results) == len(manifest["layers"])
    store_is_whole(gobox.home)
