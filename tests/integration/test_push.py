"""gobox push against real registries (Debian's docker-registry), checked with skopeo and gobox pull."""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from support.ocilayout import OCI_INDEX, Written
from support.registry import TOOLS, FaultProxy, Registry, RegistryFactory, _child_env, push
from support.requires import requires_tool
from support.runner import Gobox

from gobox.imagestore.push import push as push_api
from gobox.names.reference import Reference
from gobox.oci.transport import Options
from gobox.progress import Progress
from gobox.store import Store

pytestmark = requires_tool(*TOOLS)

BLOB_WRITES = ("PUT", "PATCH", "POST")  # every way a blob can be sent, or an upload opened


@pytest.fixture(scope="module")
def layout(sample_layout: tuple[Path, dict[str, Written]]) -> tuple[Path, dict[str, Written]]:
    return sample_layout


@pytest.fixture(scope="module")
def reg(layout: tuple[Path, dict[str, Written]], registries: RegistryFactory) -> Registry:
    d, _ = layout
    r = registries("none")
    push(d, "app", r, "team/app:v1")
    push(d, "multi", r, "team/multi:v1")
    return r


@pytest.fixture
def other(fresh_registry: RegistryFactory) -> Registry:
    """A second, empty registry: what is pushed there is uploaded, never mounted."""
    return fresh_registry("none")


@pytest.fixture
def proxy(reg: Registry) -> FaultProxy:
    with FaultProxy(reg) as p:
        yield p


def run_json(gobox: Gobox, *args: str, env: dict[str, str] | None = None) -> dict:
    r = gobox(*args, "--json", env=env)
    assert r.code == 0, r.err
    return json.loads(r.out)


def manifest_of(written: Written) -> dict:
    return written.json(written.digest)


def blob_writes(proxy: FaultProxy) -> list[str]:
    return [f"{h.method} {h.path}" for h in proxy.hits if h.method in BLOB_WRITES and "/blobs/" in h.path]


def skopeo_inspect(ref: str, *, raw: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="gobox-skopeo-") as tmp:
        # As the fixture's push: nothing from the machine's containers config may steer it.
        (Path(tmp) / "registries.conf").write_text("")
        cmd = ["skopeo", "--registries.d", tmp, "inspect", "--tls-verify=false", *(["--raw"] if raw else []),
               f"docker://{ref}"]
        env = _child_env(CONTAINERS_REGISTRIES_CONF=str(Path(tmp) / "registries.conf"), HOME=tmp,
                         XDG_RUNTIME_DIR=tmp)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def docker_config(tmp_path: Path, config: dict, name: str = "docker") -> dict[str, str]:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(d)}


def fresh(gobox: Gobox, name: str) -> Gobox:
    home = gobox.home.parent / name
    return Gobox({**gobox.env, "GOBOX_HOME": str(home)}, home)


# --- what users do -----------------------------------------------------------------------------


def test_push_to_another_repository_and_another_registry(
        gobox: Gobox, reg: Registry, other: Registry, layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    run_json(gobox, "pull", f"{reg.host}/team/app:v1")
    same = run_json(gobox, "push", f"{reg.host}/team/app:v1", f"{reg.host}/copies/app:v2")
    assert same["digest"] == image.digest and same["reference"] == f"{reg.host}/copies/app:v2"
    # Same registry: the config and the three layers are mounted from team/app, not sent again.
    assert (same["uploaded"], same["skipped"], same["mounted"]) == (0, 0, 4)
    away = run_json(gobox, "push", f"{reg.host}/team/app:v1", f"{other.host}/elsewhere/app:v3")
    assert (away["uploaded"], away["skipped"], away["mounted"]) == (4, 0, 0)
    assert away["uploaded_bytes"] == sum(d["size"] for d in manifest_of(image)["layers"]) + \
        manifest_of(image)["config"]["size"]
    for ref in (f"{reg.host}/copies/app:v2", f"{other.host}/elsewhere/app:v3"):
        assert skopeo_inspect(ref)["Digest"] == image.digest
    # Another store pulls it back by digest, byte for byte.
    second = fresh(gobox, "second")
    back = run_json(second, "pull", f"{other.host}/elsewhere/app@{image.digest}")
    assert back["digest"] == image.digest and back["fetched"] == 3  # layers; the config is not counted
    hexdigest = image.digest.split(":")[1]
    mine = (gobox.home / "blobs" / "sha256" / hexdigest).read_bytes()
    assert (second.home / "blobs" / "sha256" / hexdigest).read_bytes() == mine == image.blob(image.digest)
    listed = gobox("images")
    assert f"{other.host}/elsewhere/app:v3" in listed.out and f"{reg.host}/copies/app:v2" in listed.out
    text = gobox("push", f"{reg.host}/team/app:v1", f"{other.host}/elsewhere/app:v4")
    assert text.code == 0, text.err
    assert text.out.strip() == \
        f"pushed {other.host}/elsewhere/app:v4 {image.digest} (0 blobs uploaded, 4 already there)"


def test_a_multi_platform_index_is_pushed_whole(gobox: Gobox, reg: Registry, other: Registry,
                                                layout: tuple[Path, dict[str, Written]]) -> None:
    multi = layout[1]["multi"]
    run_json(gobox, "pull", f"{reg.host}/team/multi:v1")
    # One platform in the store: only that image can go, and gobox says so.
    r = gobox("push", f"{reg.host}/team/multi:v1", f"{other.host}/one/multi:v1")
    assert r.code == 0, r.err
    assert "for linux/amd64 only" in r.err and layout[1]["app"].digest in r.out
    run_json(gobox, "pull", f"{reg.host}/team/multi:v1", "--platform", "linux/arm64")
    out = run_json(gobox, "push", f"{reg.host}/team/multi:v1", f"{other.host}/all/multi:v1")
    assert out["index"] and out["digest"] == multi.digest and sorted(out["platforms"]) == ["linux/amd64",
                                                                                          "linux/arm64/v8"]
    assert (out["uploaded"], out["skipped"]) == (5, 0)  # two configs, three layers (the base one is shared)
    raw = skopeo_inspect(f"{other.host}/all/multi:v1", raw=True)
    assert raw["mediaType"] == OCI_INDEX
    assert {(m["platform"]["architecture"], m["platform"].get("variant")) for m in raw["manifests"]} == \
        {("amd64", None), ("arm64", "v8")}
    assert [m["digest"] for m in raw["manifests"]] == [m["digest"] for m in multi.json()["manifests"]]
    arm = fresh(gobox, "arm")
    back = run_json(arm, "pull", f"{other.host}/all/multi:v1", "--platform", "linux/arm64")
    assert back["index_digest"] == multi.digest and back["fetched"] == 1


def test_a_second_push_sends_no_blob(gobox: Gobox, reg: Registry, proxy: FaultProxy) -> None:
    run_json(gobox, "pull", f"{reg.host}/team/app:v1")
    # Pulled from reg.host, pushed to the proxy's name: another registry to gobox, so nothing is mounted.
    first = run_json(gobox, "push", f"{reg.host}/team/app:v1", f"{proxy.host}/again/app:v1")
    assert (first["uploaded"], first["skipped"], first["mounted"]) == (4, 0, 0)
    assert len([w for w in blob_writes(proxy) if w.startswith("PUT")]) == 4
    proxy.reset()
    second = run_json(gobox, "push", f"{reg.host}/team/app:v1", f"{proxy.host}/again/app:v1")
    assert (second["uploaded"], second["skipped"], second["mounted"], second["uploaded_bytes"]) == (0, 4, 0, 0)
    assert blob_writes(proxy) == []
    assert [h.method for h in proxy.hits_for("/blobs/")] == ["HEAD"] * 4
    assert [h.method for h in proxy.hits_for("/manifests/")] == ["PUT"]


def test_blobs_are_mounted_from_the_repository_named(gobox: Gobox, proxy: FaultProxy,
                                                     layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    run_json(gobox, "pull", f"{proxy.host}/team/app:v1")
    proxy.reset()
    store = Store(gobox.home)
    options = Options(environ={"DOCKER_CONFIG": str(gobox.home / "no-docker")})
    done = push_api(store, Reference.parse(f"{proxy.host}/mounted/app:v1"), image.digest, options,
                    Progress(quiet=True), mount_from="team/app")
    assert (done.uploaded, done.skipped, done.mounted, done.uploaded_bytes) == (0, 0, 4, 0)
    mounts = proxy.hits_for(r"/blobs/uploads/\?.*mount=sha256")
    assert len(mounts) == 4 and {h.status for h in mounts} == {201} and all("from=team%2Fapp" in h.path
                                                                             for h in mounts)
    assert [w for w in blob_writes(proxy) if not w.startswith("POST")] == []
    # Without mount_from the same push to a new repository uploads.
    proxy.reset()
    plain = push_api(store, Reference.parse(f"{proxy.host}/plain/app:v1"), image.digest, options,
                     Progress(quiet=True))
    assert (plain.uploaded, plain.mounted) == (4, 0) and proxy.hits_for("mount=") == []
    # gobox push mounts by itself from the repository SRC came from, on the same registry.
    proxy.reset()
    cli = run_json(gobox, "push", f"{proxy.host}/team/app:v1", f"{proxy.host}/bycli/app:v1")
    assert cli["mounted"] == 4 and len(proxy.hits_for("mount=")) == 4


def test_a_mount_the_registry_cannot_do_becomes_an_upload(gobox: Gobox, proxy: FaultProxy,
                                                          layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    run_json(gobox, "pull", f"{proxy.host}/team/app:v1")
    proxy.reset()
    done = push_api(Store(gobox.home), Reference.parse(f"{proxy.host}/fallback/app:v1"), image.digest,
                    Options(environ={"DOCKER_CONFIG": str(gobox.home / "no-docker")}), Progress(quiet=True),
                    mount_from="nothing/here")
    assert (done.uploaded, done.mounted) == (4, 0)
    mounts = proxy.hits_for("mount=")
    assert len(mounts) == 4 and {h.status for h in mounts} == {202}
    # The upload the 202 opened is the one used: no second POST per blob.
    assert len([w for w in blob_writes(proxy) if w.startswith("POST")]) == 4
    # Straight to the registry: the proxy keeps only the last of skopeo's several Accept headers.
    assert skopeo_inspect(f"{proxy.registry.host}/fallback/app:v1")["Digest"] == image.digest


def test_relative_upload_locations(gobox: Gobox, reg: Registry, layout: tuple[Path, dict[str, Written]],
                                   registries: RegistryFactory) -> None:
    image = layout[1]["app"]
    run_json(gobox, "pull", f"{reg.host}/team/app:v1")
    rel = registries("none", relative_urls=True)
    out = run_json(gobox, "push", f"{reg.host}/team/app:v1", f"{rel.host}/rel/app:v1")
    assert out["uploaded"] == 4
    assert skopeo_inspect(f"{rel.host}/rel/app:v1")["Digest"] == image.digest


# --- auth --------------------------------------------------------------------------------------


def test_basic_auth_push_needs_credentials(gobox: Gobox, tmp_path: Path, layout: tuple[Path, dict[str, Written]],
                                           registries: RegistryFactory) -> None:
    basic = registries("basic")
    push(layout[0], "app", basic, "private/app:v1")
    user, password = basic.basic
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    creds = docker_config(tmp_path, {"auths": {basic.host: {"auth": token}}})
    run_json(gobox, "pull", f"{basic.host}/private/app:v1", env=creds)
    r = gobox("push", f"{basic.host}/private/app:v1", f"{basic.host}/private/copy:v1",
              env=docker_config(tmp_path, {}, "empty"))
    assert r.code == 4
    assert f"push to {basic.host}/private/copy refused" in r.err
    assert f"docker login {basic.host}" in r.err and "auths" in r.err
    assert password not in r.err + r.out and token not in r.err + r.out
    ok = run_json(gobox, "push", f"{basic.host}/private/app:v1", f"{basic.host}/private/copy:v1", env=creds)
    assert ok["mounted"] == 4


def test_token_auth_push_with_credentials_from_docker_config(gobox: Gobox, other: Registry, tmp_path: Path,
                                                             layout: tuple[Path, dict[str, Written]],
                                                             registries: RegistryFactory) -> None:
    image = layout[1]["app"]
    tok = registries("token")
    before = len(tok.token_server.hits)  # the registry is shared: only this test's tokens count
    push(layout[0], "app", other, "src/app:v1")
    run_json(gobox, "pull", f"{other.host}/src/app:v1")
    anonymous = gobox("push", f"{other.host}/src/app:v1", f"{tok.host}/public/app:v1",
                      env=docker_config(tmp_path, {}, "empty"))
    assert anonymous.code == 4
    assert f"push to {tok.host}/public/app refused anonymously" in anonymous.err
    assert f"docker login {tok.host}" in anonymous.err
    user, password = tok.basic
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    env = docker_config(tmp_path, {"auths": {tok.host: {"auth": token}}})
    out = run_json(gobox, "push", f"{other.host}/src/app:v1", f"{tok.host}/team/app:v1", env=env)
    assert out["uploaded"] == 4 and out["digest"] == image.digest
    assert any(h.subject == user and "repository:team/app:pull,push" in h.scopes
               for h in tok.token_server.hits[before:])
    assert tok.manifest("team/app", "v1", [image.media_type]).headers["Docker-Content-Digest"] == image.digest


# --- unhappy paths -----------------------------------------------------------------------------


def test_an_upload_cut_off_starts_over_with_a_new_post(gobox: Gobox, reg: Registry, proxy: FaultProxy,
                                                       layout: tuple[Path, dict[str, Written]]) -> None:
    big = manifest_of(layout[1]["app"])["layers"][2]["digest"]
    run_json(gobox, "pull", f"{reg.host}/team/app:v1")
    proxy.drop(rf"digest={big}", method="PUT", times=2)
    out = run_json(gobox, "push", f"{reg.host}/team/app:v1", f"{proxy.host}/flaky/app:v1")
    assert out["uploaded"] == 4
    puts = [h for h in proxy.hits_for(rf"digest={big}") if h.method == "PUT"]
    assert [h.fault for h in puts] == ["drop", "drop", None] and puts[-1].status == 201
    assert len(proxy.hits_for(r"/blobs/uploads/$")) == 4 + 2  # one POST per blob, and one per restart


def test_an_interrupted_push_fails_and_the_next_sends_only_what_is_missing(
        gobox: Gobox, reg: Registry, proxy: FaultProxy, layout: tuple[Path, dict[str, Written]]) -> None:
    image = layout[1]["app"]
    big = manifest_of(image)["layers"][2]["digest"]
    run_json(gobox, "pull", f"{reg.host}/team/app:v1")
    proxy.drop(rf"digest={big}", method="PUT", times=100)
    r = gobox("push", f"{reg.host}/team/app:v1", f"{proxy.host}/resume/app:v1")
    assert r.code == 4, r.err
    assert big in r.err and "run the push again" in r.err
    assert len([h for h in proxy.hits_for(rf"digest={big}") if h.method == "PUT"]) == 5  # the attempts allowed
    assert proxy.hits_for("/manifests/") == []  # no manifest naming a blob the registry lacks
    proxy.reset()
    out = run_json(gobox, "push", f"{reg.host}/team/app:v1", f"{proxy.host}/resume/app:v1")
    assert (out["uploaded"], out["skipped"]) == (1, 3)
    assert [w.split("?")[0].split(" ")[0] for w in blob_writes(proxy)] == ["POST", "PUT"]
    assert all(big in w for w in blob_writes(proxy) if w.startswith("PUT"))
    assert skopeo_inspect(f"{reg.host}/resume/app:v1")["Digest"] == image.digest


def test_an_invalid_tag_is_a_usage_error_before_any_request(gobox: Gobox, reg: Registry, proxy: FaultProxy) -> None:
    run_json(gobox, "pull", f"{reg.host}/team/app:v1")
    proxy.reset()
    r = gobox("push", f"{reg.host}/team/app:v1", f"{proxy.host}/x:bad tag!")
    assert r.code == 2 and f"not an image reference: '{proxy.host}/x:bad tag!'" in r.err
    r = gobox("push", f"{reg.host}/team/app:v1", f"{proxy.host}/x:-dash")
    assert r.code == 2 and "must start with a letter, digit or '_'" in r.err
    missing = gobox("push", f"{proxy.host}/team/nothing:v1")
    assert missing.code == 2 and "no image" in missing.err and "in the store" in missing.err
    assert proxy.hits == []
