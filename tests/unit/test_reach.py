"""The light HEAD of gobox.oci.reach against a real loopback server: a digest only from a plain 200, else None."""

from __future__ import annotations

import socket
import threading

import pytest
from support.hostile import Answer, HostileRegistry

from gobox.oci.manifest import ACCEPT, OCI_MANIFEST
from gobox.oci.reach import manifest_digest

DIGEST = "sha256:" + "ab" * 32
PATH = "/v2/team/app/manifests/v1"


def head(reg: HostileRegistry, environ: dict[str, str] | None = None) -> tuple[str, str] | None:
    return manifest_digest(reg.host, "http", "team/app", "v1", ACCEPT, environ or {}, timeout=5)


def test_a_plain_200_with_a_digest_names_the_manifest() -> None:
    with HostileRegistry() as reg:
        reg.serve(PATH, Answer(200, b"{}", {"Docker-Content-Digest": DIGEST, "Content-Type": OCI_MANIFEST}))
        assert head(reg) == (DIGEST, OCI_MANIFEST)
        (hit,) = reg.hits
    assert hit.method == "HEAD" and hit.headers["Accept"] == ACCEPT and "Authorization" not in hit.headers


@pytest.mark.parametrize("answer", [
    Answer(200, b"{}", {}),  # no digest: the full client's GET hashes the bytes itself
    Answer(200, b"{}", {"Docker-Content-Digest": "sha256:" + "AB" * 32}),  # not the canonical form
    Answer(200, b"{}", {"Docker-Content-Digest": "sha512:" + "ab" * 64}),
    Answer(200, b"{}", {"Docker-Content-Digest": DIGEST + "/../x"}),
    Answer(307, b"", {"Location": "http://127.0.0.2/elsewhere", "Docker-Content-Digest": DIGEST}),
    Answer(404, b"{}", {"Docker-Content-Digest": DIGEST}),
])
def test_anything_but_a_plain_200_with_a_sha256_digest_is_none(answer: Answer) -> None:
    with HostileRegistry() as reg:
        reg.serve(PATH, answer)
        assert head(reg) is None
        assert len(reg.hits) == 1  # no redirect followed, nothing retried: the full client does that


def test_a_challenge_is_left_to_the_full_client() -> None:
    with HostileRegistry(auth="bearer") as reg:
        reg.serve(PATH, Answer(200, b"{}", {"Docker-Content-Digest": DIGEST}))
        assert head(reg) is None
        assert [h.path for h in reg.hits] == [PATH]  # no token fetched


def test_a_proxy_in_the_environment_sends_the_pull_to_the_full_client() -> None:
    with HostileRegistry() as reg:
        reg.serve(PATH, Answer(200, b"{}", {"Docker-Content-Digest": DIGEST}))
        assert head(reg, {"HTTP_PROXY": "http://127.0.0.1:9"}) is None
        assert head(reg, {"all_proxy": "http://127.0.0.1:9"}) is None
        assert reg.hits == []  # the proxy is the user's policy: no request went around it
        host = reg.host.rsplit(":", 1)[0]
        assert head(reg, {"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": f"example.org, {host}"}) is not None
        assert head(reg, {"https_proxy": "http://127.0.0.1:9"}) is not None  # another scheme's proxy


def test_a_server_that_is_not_http_is_none() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def garbage() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"\x16\x03\x01\x00\x02\x02\x28 not http at all\r\n\r\n")

        t = threading.Thread(target=garbage, daemon=True)
        t.start()
        port = server.getsockname()[1]
        assert manifest_digest(f"127.0.0.1:{port}", "http", "team/app", "v1", ACCEPT, {}, timeout=5) is None
        t.join(5)


def test_nobody_listening_is_none() -> None:
    assert manifest_digest("127.0.0.1:9", "http", "team/app", "v1", ACCEPT, {}, timeout=5) is None
