"""gobox rmi and gobox gc on a real store: images pulled from a real registry, run in, removed, collected.

Two images share a base layer holding `waiter`, a small static Go program:
it says it started, waits until a file appears in the project directory,
then prints its image's /etc/id. A test decides when a running gobox ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support.ocilayout import Image, Layer, Written, files, sha256_digest, write_layout
from support.registry import TOOLS, Registry, push
from support.requires import requires_tool
from support.runner import Gobox

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux"), requires_tool(*TOOLS)]

WAITER = '''package main

import (
\t"fmt"
\t"os"
\t"time"
)

func main() {
\tdir := os.Args[1]
\tif err := os.WriteFile(dir+"/started", nil, 0o644); err != nil {
\t\tfmt.Println(err)
\t\tos.Exit(3)
\t}
\tfor deadline := time.Now().Add(120 * time.Second); ; time.Sleep(20 * time.Millisecond) {
\t\tif _, err := os.Stat(dir + "/go"); err == nil {
\t\t\tbreak
\t\t}
\t\tif time.Now().After(deadline) {
\t\t\tos.Exit(4)
\t\t}
\t}
\tdata, err := os.ReadFile("/etc/id")
\tif err != nil {
\t\tfmt.Println(err)
\t\tos.Exit(5)
\t}
\tfmt.Print(string(data))
}
'''
WAIT = 120.0  # seconds a test waits for a gobox to reach a point


@pytest.fixture(scope="module")
def waiter(stocked_home: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The waiter, built static with the stocked Go 1.22.10."""
    d = tmp_path_factory.mktemp("waiter")
    (d / "waiter.go").write_text(WAITER)
    go = stocked_home / "toolchains" / "go1.22.10.linux-amd64" / "layer" / "usr" / "local" / "go" / "bin" / "go"
    env = {"PATH": os.environ["PATH"], "HOME": str(d), "GOCACHE": str(d / "cache"), "GOPATH": str(d / "gopath"),
           "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64", "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    subprocess.run([str(go), "build", "-trimpath", "-ldflags=-s -w", "-o", str(d / "waiter"), "waiter.go"],
                   cwd=d, env=env, check=True, timeout=300)
    return (d / "waiter").read_bytes()


@pytest.fixture(scope="module")
def images(waiter: bytes) -> dict[str, Written]:
    base = Layer(files({"bin/waiter": waiter}, mode=0o755))
    a = Image([base, Layer(files({"etc/id": "image a\n", "a/data": os.urandom(256 << 10)}))])
    b = Image([base, Layer(files({"etc/id": "image b\n"}))])
    arm = Image([Layer(files({"etc/id": "arm\n"}))], architecture="arm64", variant="v8")
    with tempfile.TemporaryDirectory(prefix="gobox-gc-layout-") as tmp, Registry("none") as reg:
        written = write_layout(tmp, {"a": a, "b": b, "multi": [a, arm]})
        for name in ("a", "b", "multi"):
            push(tmp, name, reg, f"team/{name}:v1")
        yield {"host": reg.host, "a": a, "b": b, "arm": arm, "multi": written["multi"]}


def ref(images: dict, name: str) -> str:
    return f"{images['host']}/team/{name}:v1"


def content(image: Image) -> tuple[set[str], set[str]]:
    """The names an image's content has in a store: manifest, config and layer blobs; unpacked layers."""
    digests = [sha256_digest(image.manifest_bytes()), image.manifest()["config"]["digest"],
               *(layer.digest for layer in image.layers)]
    return {d.split(":")[1] for d in digests}, {layer.diff_id.split(":")[1] for layer in image.layers}


def store_blobs(gobox: Gobox) -> set[str]:
    d = gobox.home / "blobs" / "sha256"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def store_layers(gobox: Gobox) -> set[str]:
    d = gobox.home / "layers" / "sha256"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def pins(gobox: Gobox) -> list[Path]:
    d = gobox.home / "pins"
    return sorted(d.iterdir()) if d.is_dir() else []


def run_to_end(gobox: Gobox, tmp_path: Path, reference: str) -> str:
    """Run the waiter in an image with its file already there: it prints the image's /etc/id and ends."""
    work = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    (work / "go").touch()
    r = gobox("run", "--image", reference, "--", "/bin/waiter", str(work), cwd=work)
    assert r.code == 0, r.err
    return r.out


def start_waiting(gobox: Gobox, tmp_path: Path, reference: str) -> tuple[subprocess.Popen, Path]:
    """A `gobox run` in the image, left waiting inside the sandbox until the test creates `work/go`."""
    work = tmp_path / "waiting"
    work.mkdir()
    proc = gobox.popen("run", "--image", reference, "--", "/bin/waiter", str(work), cwd=work)
    deadline = time.monotonic() + WAIT
    while not (work / "started").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the waiter did not start (exit {proc.returncode}): {err}")
        time.sleep(0.05)
    return proc, work


def gc_json(gobox: Gobox, *args: str) -> dict:
    r = gobox(*args, "--json", timeout=60)
    assert r.code == 0, r.err
    return json.loads(r.out)


# --- rmi -------------------------------------------------------------------------------------------


def test_rmi_frees_what_only_that_image_used(gobox: Gobox, tmp_path: Path, images: dict) -> None:
    a_blobs, a_layers = content(images["a"])
    b_blobs, b_layers = content(images["b"])
    assert run_to_end(gobox, tmp_path, ref(images, "a")) == "image a\n"
    assert run_to_end(gobox, tmp_path, ref(images, "b")) == "image b\n"
    assert a_blobs | b_blobs <= store_blobs(gobox) and a_layers | b_layers <= store_layers(gobox)

    r = gobox("rmi", ref(images, "a"), timeout=60)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"untagged {ref(images, 'a')} (linux/amd64)",
                                  r.out.splitlines()[1]]
    assert r.out.splitlines()[1].startswith("removed 3 blobs and 1 layer, freed ")
    # A's manifest, config and own layer are gone; the base layer B shares stays, blob and directory.
    assert store_blobs(gobox) == b_blobs
    assert store_layers(gobox) == b_layers
    listed = gobox("images")
    assert ref(images, "b") in listed.out and ref(images, "a") not in listed.out
    assert run_to_end(gobox, tmp_path, ref(images, "b")) == "image b\n"
    assert list((gobox.home / "images" / images["host"] / "team").iterdir()) == [
        gobox.home / "images" / images["host"] / "team" / "b"]  # no empty directories left behind


def test_rmi_of_an_unknown_image_fails_and_removes_nothing(gobox: Gobox, images: dict) -> None:
    assert gobox("pull", ref(images, "a")).code == 0
    before = store_blobs(gobox)
    r = gobox("rmi", ref(images, "a"), f"{images['host']}/team/nope:v2", timeout=60)
    assert r.code == 2
    assert f"no image {images['host']}/team/nope:v2 in the store" in r.err and "gobox images" in r.err
    assert ref(images, "a") in gobox("images").out and store_blobs(gobox) == before
    r = gobox("rmi", "golang:1.22", timeout=60)
    assert r.code == 2 and "no image golang:1.22" in r.err


def test_rmi_by_digest_and_by_platform(gobox: Gobox, images: dict) -> None:
    multi = images["multi"]
    amd = json.loads(gobox("pull", "--json", ref(images, "multi")).out)
    arm = json.loads(gobox("pull", "--json", ref(images, "multi"), "--platform", "linux/arm64").out)
    arm_blobs, _ = content(images["arm"])
    r = gobox("rmi", ref(images, "multi"), "--platform", "linux/arm64", "--json", timeout=60)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert [i["digest"] for i in out["untagged"]] == [arm["digest"]]
    assert {b.split(":")[1] for b in out["gc"]["blobs"]} == arm_blobs
    # The index stays: the amd64 record still names it.
    assert multi.digest.split(":")[1] in store_blobs(gobox)
    r = gobox("rmi", f"{images['host']}/team/multi@{amd['index_digest']}", timeout=60)
    assert r.code == 0, r.err
    # Its manifest, config, two layers, and now the index too.
    assert r.out.startswith(f"untagged {ref(images, 'multi')} (linux/amd64)\nremoved 5 blobs and 0 layers")
    assert store_blobs(gobox) == set()


# --- gc ----------------------------------------------------------------------------------------------


def test_gc_dry_run_reports_and_deletes_nothing(gobox: Gobox, tmp_path: Path, images: dict) -> None:
    a_blobs, a_layers = content(images["a"])
    run_to_end(gobox, tmp_path, ref(images, "a"))
    assert gobox("rmi", "--no-prune", ref(images, "a"), timeout=60).code == 0
    assert gobox("images").out == ""
    assert store_blobs(gobox) == a_blobs and store_layers(gobox) == a_layers
    dry = gc_json(gobox, "gc", "--dry-run")
    assert {b.split(":")[1] for b in dry["blobs"]} == a_blobs
    assert {d.split(":")[1] for d in dry["layers"]} == a_layers
    assert dry["freed"] > 256 << 10 and dry["dry_run"]
    assert store_blobs(gobox) == a_blobs and store_layers(gobox) == a_layers
    done = gc_json(gobox, "gc")
    assert (done["blobs"], done["layers"], done["freed"]) == (dry["blobs"], dry["layers"], dry["freed"])
    assert store_blobs(gobox) == set() and store_layers(gobox) == set()
    again = gobox("gc", timeout=60)
    assert again.code == 0 and again.out == "removed 0 blobs and 0 layers, freed 0.0 MB\n"


def test_gc_keeps_what_a_running_gobox_uses(gobox: Gobox, tmp_path: Path, images: dict) -> None:
    a_blobs, a_layers = content(images["a"])
    proc, work = start_waiting(gobox, tmp_path, ref(images, "a"))
    try:
        assert len(pins(gobox)) == 1
        r = gobox("rmi", ref(images, "a"), timeout=60)
        assert r.code == 0, r.err
        assert "removed 0 blobs and 0 layers" in r.out
        assert gobox("gc", timeout=60).out.startswith("removed 0 blobs and 0 layers")
        assert store_blobs(gobox) == a_blobs and store_layers(gobox) == a_layers
        (work / "go").touch()
        out, err = proc.communicate(timeout=WAIT)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out == "image a\n"  # read from the removed image's own layer, at the very end
    assert pins(gobox) == []  # gone with its process
    done = gc_json(gobox, "gc")
    assert (len(done["blobs"]), len(done["layers"]), done["pins_cleared"]) == (4, 2, 0)
    assert store_blobs(gobox) == set() and store_layers(gobox) == set()


def test_a_gobox_killed_with_9_leaves_a_pin_the_next_gc_clears(gobox: Gobox, tmp_path: Path,
                                                               images: dict) -> None:
    a_blobs, a_layers = content(images["a"])
    proc, work = start_waiting(gobox, tmp_path, ref(images, "a"))
    assert gobox("rmi", "--no-prune", ref(images, "a"), timeout=60).code == 0
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=WAIT)
    (left,) = pins(gobox)
    r = gobox("gc", timeout=60)
    assert r.code == 0, r.err
    assert r.out.startswith("removed 4 blobs and 2 layers, freed ")
    assert r.out.rstrip().endswith("(cleared 1 stale pin of a gobox that is gone)")
    assert pins(gobox) == [] and store_blobs(gobox) == set() and store_layers(gobox) == set()


def test_gc_removes_partial_downloads_of_dead_processes_only(gobox: Gobox) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    tmp = gobox.home / "tmp"
    tmp.mkdir(parents=True)
    orphan = tmp / f"{'a' * 64}.{dead}.140000.part"
    orphan.write_bytes(b"x" * 5000)
    unfinished = tmp / f"layer.{dead}.0f3a9c1e.part"  # a layer `gobox run --commit` was writing
    unfinished.write_bytes(b"z" * 3000)
    live = tmp / f"{'b' * 64}.{os.getpid()}.140000.part"  # this test process is pulling, as far as gc knows
    live.write_bytes(b"y" * 10)
    dry = gc_json(gobox, "gc", "--dry-run")
    assert (dry["parts_removed"], dry["freed"]) == (2, 8000) and orphan.exists() and unfinished.exists()
    r = gobox("gc", timeout=60)
    assert r.code == 0, r.err
    assert r.out == "removed 0 blobs and 0 layers, freed 0.0 MB (cleared 2 unfinished files)\n"
    assert not orphan.exists() and not unfinished.exists() and live.exists()


def test_gc_waits_for_a_gobox_between_finding_an_image_and_pinning_it(gobox: Gobox) -> None:
    from gobox.imagestore.gc import using
    from gobox.store import Store

    orphan = gobox.home / "blobs" / "sha256" / ("c" * 64)  # no record names it
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"unused")
    with using(Store(gobox.home)):  # what a pulling gobox holds
        proc = gobox.popen("gc")
        line = proc.stderr.readline()  # blocks until gc says it waits
        assert line == "gobox: waiting for another gobox to finish pulling\n"
        time.sleep(0.5)
        assert proc.poll() is None and orphan.exists()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith("removed 1 blob and 0 layers") and not orphan.exists()


def blocked_on(lock: Path, pid: int) -> bool:
    """Whether process pid waits for an flock on `lock`: /proc/locks lists such a request with "->"."""
    ino = lock.stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        f = line.split()  # 1: -> FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF
        if len(f) > 6 and f[1] == "->" and f[5] == str(pid) and f[6].endswith(f":{ino}"):
            return True
    return False


def test_pulls_and_runs_wait_for_a_gc_in_progress(gobox: Gobox, tmp_path: Path, images: dict) -> None:
    from gobox.imagestore.gc import exclusive
    from gobox.progress import Progress
    from gobox.store import Store

    work = tmp_path / "work"
    work.mkdir()
    store = Store(gobox.home)
    with exclusive(store, Progress(quiet=True)):  # what a gc holds while it marks and sweeps
        pull = gobox.popen("pull", ref(images, "b"))
        run = gobox.popen("run", "--image", ref(images, "a"), "--", "/bin/waiter", str(work), cwd=work)
        deadline = time.monotonic() + WAIT
        while not (blocked_on(store.locks / "gc.lock", pull.pid) and blocked_on(store.locks / "gc.lock", run.pid)):
            if pull.poll() is not None or run.poll() is not None or time.monotonic() > deadline:
                pull.kill()
                run.kill()
                pytest.fail(f"a gobox did not wait for gc: pull exit {pull.wait()}, run exit {run.wait()}")
            time.sleep(0.05)
        assert not (work / "started").exists() and not (gobox.home / "images").exists()
    (work / "go").touch()
    assert pull.wait(timeout=WAIT) == 0, pull.stderr.read()
    out, err = run.communicate(timeout=WAIT)
    assert run.returncode == 0, err
    assert out == "image a\n"
