"""gobox image with real toolchains, its outputs checked by independent tools: skopeo, umoci, a real registry.

The hello recipe is built once for the module; other projects are small Go
programs built into images and run with `gobox image run`, which reads them
back from the store: an HTTPS client that must trust a test CA, a netgo
resolver with no libc, a zoneinfo lookup, a base image from a real registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.ocilayout import Image, Layer, files, write_layout
from support.registry import APT_PACKAGES, Registry, missing_tools, push
from support.runner import REPO, Gobox, gobox_env
from support.testca import make_ca

TOOLS = {"skopeo": "skopeo", "umoci": "umoci", "openssl": "openssl", "git": "git"}
MISSING = [name for name, exe in TOOLS.items() if shutil.which(exe) is None]
if MISSING or not sys.platform.startswith("linux"):
    pytest.skip(f"needs Linux and {', '.join(MISSING)}: apt-get install -y skopeo umoci openssl git",
                allow_module_level=True)

HELLO_OUT = "Hello, Go examples!\n"

# One program for the checks that need a Go binary inside an image; argv[1] says which.
PROBE = '''package main

import (
\t"fmt"
\t"io"
\t"net"
\t"net/http"
\t"os"
\t"os/user"
\t"time"
)

func main() {
\tswitch os.Args[1] {
\tcase "get":
\t\tresp, err := http.Get(os.Args[2])
\t\tif err != nil {
\t\t\tfmt.Println("error:", err)
\t\t\tos.Exit(1)
\t\t}
\t\tbody, _ := io.ReadAll(resp.Body)
\t\tfmt.Printf("%d %s\\n", resp.StatusCode, body)
\tcase "resolve":
\t\taddrs, err := net.LookupHost(os.Args[2])
\t\tif err != nil {
\t\t\tfmt.Println("error:", err)
\t\t\tos.Exit(1)
\t\t}
\t\tfmt.Println(addrs)
\tcase "zone":
\t\tloc, err := time.LoadLocation(os.Args[2])
\t\tif err != nil {
\t\t\tfmt.Println("error:", err)
\t\t\tos.Exit(1)
\t\t}
\t\tfmt.Println(time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC).In(loc).Format(time.RFC3339))
\tcase "whoami":
\t\tu, err := user.Current()
\t\tif err != nil {
\t\t\tfmt.Println("error:", err)
\t\t\tos.Exit(1)
\t\t}
\t\twd, _ := os.Getwd()
\t\tfmt.Println(u.Username, u.Uid, u.Gid, os.Getenv("HOME"), wd)
\tcase "cat":
\t\tdata, err := os.ReadFile(os.Args[2])
\t\tif err != nil {
\t\t\tfmt.Println("error:", err)
\t\t\tos.Exit(1)
\t\t}
\t\tos.Stdout.Write(data)
\t}
}
'''


def tool_env(tmp: Path) -> dict[str, str]:
    """skopeo and umoci with nothing from this machine's containers config."""
    (tmp / "registries.conf").write_text("")
    return {**os.environ, "HOME": str(tmp), "XDG_RUNTIME_DIR": str(tmp),
            "CONTAINERS_REGISTRIES_CONF": str(tmp / "registries.conf")}


def run_tool(*argv: str, timeout: float = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="gobox-tool-") as tmp:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=tool_env(Path(tmp)),
                           stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{' '.join(argv)}: {p.stderr}"
    return p.stdout


def skopeo_inspect(transport: str, *flags: str) -> dict:
    return json.loads(run_tool("skopeo", "inspect", *flags, transport))


def image_json(g: Gobox, project: Path, *args: str) -> dict:
    r = g("-C", str(project), "image", "--json", *args, timeout=900)
    assert r.code == 0, r.err
    return json.loads(r.out)


def go_project(root: Path, main: str, toml: str, go: str = "", module: str = "example.com/probe") -> Path:
    """A module of one main.go; `go` adds lines to [go], `toml` adds tables."""
    root.mkdir(parents=True)
    (root / "go.mod").write_text(f"module {module}\n\ngo 1.21\n")
    (root / "main.go").write_text(main)
    (root / "gobox.toml").write_text(f'[go]\nversion = "1.22.10"\n{go}\n{toml}')
    return root


def rootfs_listing(root: Path) -> dict[str, str]:
    """Every path under an unpacked root with its type and mode, e.g. {"etc": "d755", "hello": "f755"}."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            kind = "l" if p.is_symlink() else "d" if p.is_dir() else "f"
            out[p.relative_to(root).as_posix()] = f"{kind}{st.st_mode & 0o7777:o}"
    return out


@pytest.fixture(scope="module")
def builder(stocked_home: Path, mirror) -> Gobox:  # noqa: ANN001 - conftest's Mirror
    """gobox on the stocked store (go 1.22.10 installed, GOCACHE shared), for module-scoped builds."""
    return Gobox(gobox_env(stocked_home, mirror), stocked_home)


@pytest.fixture(scope="module")
def hello(builder: Gobox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    recipe = shutil.copytree(REPO / "recipes" / "hello", tmp_path_factory.mktemp("image") / "hello")
    made = image_json(builder, recipe, "--locked", "--output", "oci-archive:hello.tar")
    return recipe, made


# --- the hello recipe ----------------------------------------------------------------------------


def test_hello_as_an_oci_archive_that_skopeo_inspects(hello: tuple[Path, dict]) -> None:
    recipe, made = hello
    assert made["reference"] == "localhost/hello:latest" and made["size"] < 1_000_000
    info = skopeo_inspect(f"oci-archive:{recipe / 'hello.tar'}:latest")
    assert info["Digest"] == made["digest"]
    assert (info["Architecture"], info["Os"], info["Created"]) == ("amd64", "linux", "1970-01-01T00:00:00Z")
    config = skopeo_inspect(f"oci-archive:{recipe / 'hello.tar'}:latest", "--config")["config"]
    assert config["Entrypoint"] == ["/hello"] and config["User"] == "65532:65532" and "Cmd" not in config
    assert (recipe / "dist" / "image" / "hello_linux_amd64" / "hello").is_file()


def test_hello_runs_with_gobox_image_run(builder: Gobox, hello: tuple[Path, dict]) -> None:
    recipe, made = hello
    r = builder("-C", str(recipe), "image", "run", "localhost/hello")
    assert r.code == 0, r.err
    assert r.out == HELLO_OUT
    bare = builder("image", "run", "hello", cwd=recipe)  # a bare name finds the locally built image first
    assert bare.out == HELLO_OUT
    listed = builder("images", "--json")
    assert {"reference": "localhost/hello:latest", "digest": made["digest"]}.items() <= \
        next(i for i in json.loads(listed.out) if i["reference"] == "localhost/hello:latest").items()


def test_an_oci_layout_that_umoci_unpacks_to_exactly_the_image_files(builder: Gobox, hello: tuple[Path, dict],
                                                                     tmp_path: Path) -> None:
    recipe, made = hello
    binary = recipe / "dist" / "image" / "hello_linux_amd64" / "hello"
    # The binary the build left, packed again with --binary: the same image, to the byte.
    again = image_json(builder, recipe, "--binary", str(binary), "--output", f"oci:{tmp_path / 'layout'}")
    assert again["digest"] == made["digest"]
    assert skopeo_inspect(f"oci:{tmp_path / 'layout'}:latest")["Digest"] == made["digest"]
    run_tool("umoci", "unpack", "--rootless", "--image", f"{tmp_path / 'layout'}:latest", str(tmp_path / "bundle"))
    rootfs = tmp_path / "bundle" / "rootfs"
    assert rootfs_listing(rootfs) == {"etc": "d755", "etc/passwd": "f644", "etc/group": "f644", "hello": "f755"}
    assert (rootfs / "etc" / "passwd").read_text() == ("root:x:0:0:root:/root:/sbin/nologin\n"
                                                       "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    assert (rootfs / "hello").read_bytes() == binary.read_bytes()
    runtime = json.loads((tmp_path / "bundle" / "config.json").read_text())["process"]
    assert runtime["args"] == ["/hello"] and runtime["user"] == {"uid": 65532, "gid": 65532}
    ran = subprocess.run([rootfs / "hello"], capture_output=True, text=True)
    assert ran.stdout == HELLO_OUT


def test_a_docker_archive_that_skopeo_reads(builder: Gobox, hello: tuple[Path, dict], tmp_path: Path) -> None:
    recipe, made = hello
    binary = recipe / "dist" / "image" / "hello_linux_amd64" / "hello"
    archive = tmp_path / "docker.tar"
    image_json(builder, recipe, "--binary", str(binary), "--tag", "hello:v1", "--output", f"docker-archive:{archive}")
    config = run_tool("skopeo", "inspect", "--config", "--raw", f"docker-archive:{archive}").encode()
    ours = json.loads((builder.home / "images" / "localhost" / "hello" / "latest@linux-amd64.json").read_text())
    assert "sha256:" + hashlib.sha256(config).hexdigest() == ours["config"]  # the very config, byte for byte
    run_tool("skopeo", "copy", "--quiet", f"docker-archive:{archive}", f"oci:{tmp_path / 'copy'}:v1")
    copied = skopeo_inspect(f"oci:{tmp_path / 'copy'}:v1", "--config")  # the layers read whole, each checked
    assert copied["rootfs"] == json.loads(config)["rootfs"]
    listing = subprocess.run(["tar", "-xOf", str(archive), "manifest.json"], capture_output=True, check=True).stdout
    assert json.loads(listing)[0]["RepoTags"] == ["hello:v1"]


def test_clones_by_path_ssh_and_https_in_different_directories_give_one_digest(builder: Gobox,
                                                                               tmp_path: Path) -> None:
    upstream = shutil.copytree(REPO / "recipes" / "hello", tmp_path / "upstream" / "hello")
    toml = upstream / "gobox.toml"
    toml.write_text(toml.read_text().replace("[image]\n", '[image]\nsource = "https://git.example/team/hello"\n'))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "@1700000000 +0000",
           "GIT_COMMITTER_DATE": "@1700000000 +0000", "GIT_CONFIG_GLOBAL": "/dev/null"}

    def git(cwd: Path, *argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout

    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "hello"], ["tag", "v1.0.0"]):
        git(upstream, *argv)
    # The same commit cloned three ways: by path (a local origin, which names no source), and by ssh and https
    # (with a token and .git), each in a directory of its own.
    clones = {}
    for name, origin, where in [("path", None, "one/hello"), ("ssh", "git@git.example:team/hello.git", "a/b/hello"),
                                ("https", "https://ci:token@git.example/team/hello.git", "elsewhere/deeper/hello")]:
        clone = tmp_path / where
        git(tmp_path, "clone", "-q", str(upstream), str(clone))
        if origin:
            git(clone, "remote", "set-url", "origin", origin)
        clones[name] = clone
    made = {name: image_json(builder, clone, "--locked", "--output", "oci-archive:image.tar")
            for name, clone in clones.items()}
    assert len({m["digest"] for m in made.values()}) == 1, made
    assert len({(c / "image.tar").read_bytes() for c in clones.values()}) == 1
    labels = skopeo_inspect(f"oci-archive:{clones['ssh'] / 'image.tar'}:latest")["Labels"]
    assert labels == {"org.opencontainers.image.created": "2023-11-14T22:13:20Z",
                      "org.opencontainers.image.source": "https://git.example/team/hello",
                      "org.opencontainers.image.revision": git(upstream, "rev-parse", "HEAD").strip(),
                      "org.opencontainers.image.version": "v1.0.0"}


def test_several_platforms_make_an_index(builder: Gobox, hello: tuple[Path, dict], tmp_path: Path) -> None:
    recipe, made = hello
    multi = image_json(builder, recipe, "--platform", "linux/amd64,linux/arm64", "--tag", "hello:multi",
                       "--output", f"oci:{tmp_path / 'multi'}")
    raw = json.loads(run_tool("skopeo", "inspect", "--raw", f"oci:{tmp_path / 'multi'}:multi"))
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json" and multi["digest"] != made["digest"]
    assert [m["platform"] for m in raw["manifests"]] == [{"architecture": "amd64", "os": "linux"},
                                                        {"architecture": "arm64", "os": "linux"}]
    assert raw["manifests"][0]["digest"] == made["digest"]  # the amd64 image is the single-platform one
    arm = skopeo_inspect(f"oci:{tmp_path / 'multi'}:multi", "--override-arch", "arm64")
    assert arm["Architecture"] == "arm64"
    layers = [json.loads((tmp_path / "multi" / "blobs" / "sha256" / m["digest"][7:]).read_bytes())["layers"]
              for m in raw["manifests"]]
    assert layers[0][0] == layers[1][0] and layers[0][1] != layers[1][1]  # files layer shared, binaries not
    r = builder("-C", str(recipe), "image", "--platform", "linux/amd64,linux/arm64",
                "--output", f"docker-archive:{tmp_path / 'd.tar'}")
    assert r.code == 2 and "a docker-archive holds one platform's image" in r.err
    assert not (tmp_path / "d.tar").exists()


# --- a probe image: CA bundle, a test CA, /etc/hosts, zoneinfo, the user --------------------------


@pytest.fixture(scope="module")
def probe(builder: Gobox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, tuple[Path, Path, Path]]:
    root = tmp_path_factory.mktemp("probe")
    app = go_project(root / "probe", PROBE, '[image]\nca-certificates = true\ntzdata = true\nworkdir = "/data"\n'
                     'files = { "/etc/ssl/certs/gobox-test-ca.crt" = "certs/ca.crt", "/etc/hosts" = "hosts", '
                     '"/data" = "data" }\n')
    (app / "certs").mkdir()
    ca = make_ca(app / "certs")
    (app / "hosts").write_text("127.0.0.1\tlocalhost\n10.1.2.3\tdb.gobox.test\n")
    (app / "data").mkdir()
    (app / "data" / "motd").write_text("from [image].files\n")
    made = image_json(builder, app, "--tag", "probe:test", "--output", "oci:layout")
    return app, made, ca


@pytest.fixture
def tls_server(probe: tuple) -> str:
    _, _, (_, cert, key) = probe

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello over TLS"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_an_https_client_trusts_the_ca_added_to_its_image(builder: Gobox, probe: tuple, tls_server: str) -> None:
    app, _, _ = probe
    r = builder("image", "run", "--network", "host", "probe:test", "--", "get", tls_server, cwd=app)
    assert r.code == 0, r.out + r.err
    assert r.out == "200 hello over TLS\n"
    # The same image told to read only certifi's bundle: the test CA is what made the difference.
    r = builder("image", "run", "--network", "host", "--env", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                "--env", "SSL_CERT_DIR=/nonexistent", "probe:test", "--", "get", tls_server, cwd=app)
    assert r.code == 1 and "certificate signed by unknown authority" in r.out


def test_the_ca_bundle_is_certifis_pinned_in_the_lock(builder: Gobox, probe: tuple) -> None:
    import certifi

    app, _, _ = probe
    bundle = Path(certifi.where()).read_bytes()
    lock = (app / "gobox.lock").read_text()
    assert f'sha256 = "{hashlib.sha256(bundle).hexdigest()}"' in lock and "[image.ca-certificates]" in lock
    r = builder("image", "run", "probe:test", "--", "cat", "/etc/ssl/certs/ca-certificates.crt", cwd=app)
    assert r.code == 0 and r.out.encode() == bundle


def test_a_netgo_binary_resolves_from_etc_hosts_with_no_libc(builder: Gobox, probe: tuple, tmp_path: Path) -> None:
    app, made, _ = probe
    r = builder("image", "run", "probe:test", "--", "resolve", "db.gobox.test", cwd=app)
    assert r.code == 0, r.out + r.err
    assert r.out == "[10.1.2.3]\n"
    run_tool("umoci", "unpack", "--rootless", "--image", f"{app / 'layout'}:test", str(tmp_path / "b"))
    names = rootfs_listing(tmp_path / "b" / "rootfs")
    assert not [n for n in names if n.startswith(("lib", "usr/lib")) or "libc" in n or "ld-linux" in n]
    assert names["probe"] == "f755" and names["etc/hosts"] == "f644" and names["data/motd"] == "f644"
    assert names["usr/share/zoneinfo/America/New_York"] == "f644"


def test_zoneinfo_user_and_workdir(builder: Gobox, probe: tuple) -> None:
    app, _, _ = probe
    zone = builder("image", "run", "probe:test", "--", "zone", "America/New_York", cwd=app)
    assert zone.out == "2024-07-01T08:00:00-04:00\n", zone.err
    who = builder("image", "run", "probe:test", "--", "whoami", cwd=app)
    assert who.out == "nonroot 65532 65532 /home/nonroot /data\n", who.err
    motd = builder("image", "run", "probe:test", "--", "cat", "motd", cwd=app)
    assert motd.out == "from [image].files\n"


# --- unhappy paths --------------------------------------------------------------------------------


def test_a_cgo_build_for_scratch_is_refused_before_building(builder: Gobox, tmp_path: Path) -> None:
    app = go_project(tmp_path / "app", 'package main\n\nfunc main() {}\n', "", go="cgo = true\n")
    r = builder("-C", str(app), "image")
    assert r.code == 2, r.err
    assert "a cgo binary would not run in a FROM scratch image" in r.err
    assert "set [go].cgo = false" in r.err and "[image].base" in r.err
    assert not (app / "dist").exists()


def test_a_dynamic_binary_for_scratch_is_refused(builder: Gobox, tmp_path: Path) -> None:
    app = go_project(tmp_path / "app", 'package main\n\nfunc main() {}\n', "")
    dynamic = Path("/bin/true").resolve()
    r = builder("-C", str(app), "image", "--binary", str(dynamic))
    assert r.code == 2, r.err
    assert "is dynamically linked" in r.err and "CGO_ENABLED=0" in r.err
    r = builder("-C", str(app), "image", "--binary", str(dynamic), "--platform", "linux/arm64")
    assert r.code == 2 and "not one for linux/arm64" in r.err


@pytest.mark.parametrize(("args", "message"), [
    (("--tag", "Hello World"), "--tag: not an image reference"),
    (("--tag", "hello@sha256:" + "a" * 64), "names a digest"),
    (("--output", "tarball:x.tar"), "--output tarball:x.tar: unknown output"),
    (("--output", "registry"), "--output registry needs a name to push to"),
    (("--platform", "windows/amd64"), "images are for linux"),
])
def test_bad_requests_are_usage_errors(builder: Gobox, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    app = go_project(tmp_path / "app", 'package main\n\nfunc main() {}\n', "")
    r = builder("-C", str(app), "image", *args)
    assert r.code == 2, r.err
    assert message in r.err
    assert not (app / "dist").exists()


# --- registries: a base image, running a pulled image, pushing -------------------------------------


@pytest.fixture(scope="module")
def registry() -> Registry:
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: apt-get install -y {' '.join(APT_PACKAGES)}")
    with Registry("none") as reg:
        yield reg


def test_an_image_on_a_base_pulled_and_pinned(builder: Gobox, registry: Registry, tmp_path: Path) -> None:
    base = Image([Layer(files({"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n",
                               "etc/group": "root:x:0:\napp:x:1000:\n", "etc/base-release": "gobox test base 1\n"}))],
                 env=["PATH=/bin", "BASE=1"], labels={"base.label": "kept"})
    written = write_layout(tmp_path / "base-layout", {"base": base})
    push(tmp_path / "base-layout", "base", registry, "team/base:1")
    app = go_project(tmp_path / "app", PROBE, f'[image]\nbase = "{registry.host}/team/base:1"\nuser = "app"\n')
    made = image_json(builder, app, "--tag", "on-base:1")
    assert f'digest = "{written["base"].digest}"' in (app / "gobox.lock").read_text()
    (image,) = made["images"]
    assert image["layers"][0] == base.layers[0].digest and len(image["layers"]) == 3
    r = builder("image", "run", "on-base:1", "--", "cat", "/etc/base-release", cwd=app)
    assert r.out == "gobox test base 1\n", r.err
    who = builder("image", "run", "--env", "X=1", "on-base:1", "--", "whoami", cwd=app)
    assert who.out == "app 1000 1000 /srv /\n", who.err
    config = json.loads((builder.home / "blobs" / "sha256" / image["config"][7:]).read_bytes())
    assert config["config"]["Env"] == ["PATH=/bin", "BASE=1"] and config["config"]["Labels"]["base.label"] == "kept"


def test_gobox_image_run_pulls_what_the_store_lacks(gobox: Gobox, hello: tuple[Path, dict], registry: Registry,
                                                     tmp_path: Path) -> None:
    recipe, made = hello
    layout = tmp_path / "layout"
    binary = recipe / "dist" / "image" / "hello_linux_amd64" / "hello"
    shutil.copy(binary, tmp_path / "hello")
    r = Gobox({**gobox.env, "GOBOX_HOME": str(tmp_path / "packer")}, tmp_path / "packer")(
        "-C", str(recipe), "image", "--binary", str(tmp_path / "hello"), "--output", f"oci:{layout}")
    assert r.code == 0, r.err
    push(layout, "latest", registry, "library/hello:latest")
    run = gobox("image", "run", f"{registry.host}/library/hello:latest", cwd=tmp_path)  # an empty store
    assert run.code == 0, run.err
    assert run.out == HELLO_OUT


def test_push_to_a_registry_and_pull_by_digest(builder: Gobox, gobox: Gobox, hello: tuple[Path, dict],
                                               registry: Registry) -> None:
    pytest.importorskip("gobox.imagestore.push",
                        reason="the registry push client (gobox/imagestore/push.py) is not in this tree")
    recipe, made = hello
    ref = f"{registry.host}/team/hello:1.0"
    pushed = image_json(builder, recipe, "--tag", ref, "--output", "registry")
    assert pushed["digest"] == made["digest"] and pushed["pushed"]["digest"] == made["digest"]
    info = skopeo_inspect(f"docker://{ref}", "--tls-verify=false")
    assert info["Digest"] == made["digest"]
    pulled = gobox("pull", "--json", f"{registry.host}/team/hello@{made['digest']}")
    assert pulled.code == 0, pulled.err
    image = json.loads(pulled.out)
    for digest in (image["digest"], image["config"], *image["layers"]):
        name = digest.split(":", 1)[1]
        assert (gobox.home / "blobs" / "sha256" / name).read_bytes() == \
            (builder.home / "blobs" / "sha256" / name).read_bytes()
    again = image_json(builder, recipe, "--tag", ref, "--output", "registry")
    assert again["pushed"]["uploaded"] == 0  # every blob is there already
