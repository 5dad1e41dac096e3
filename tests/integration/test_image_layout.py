"""Several images written into one OCI layout by `gobox image --output oci:DIR`: each write replaces only its
own reference and keeps the others, and skopeo reads every one back."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from support.requires import requires_tool
from support.runner import Gobox

pytestmark = requires_tool("skopeo")


def skopeo_digest(layout: Path, ref: str) -> str:
    with tempfile.TemporaryDirectory(prefix="gobox-tool-") as tmp:
        (Path(tmp) / "registries.conf").write_text("")
        env = {**os.environ, "HOME": tmp, "XDG_RUNTIME_DIR": tmp,
               "CONTAINERS_REGISTRIES_CONF": str(Path(tmp) / "registries.conf")}
        p = subprocess.run(["skopeo", "inspect", f"oci:{layout}:{ref}"], capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=120)
    assert p.returncode == 0, f"skopeo inspect oci:{layout}:{ref}: {p.stderr}"
    return json.loads(p.stdout)["Digest"]


def test_one_layout_keeps_two_tags_of_two_names(stocked: Gobox, tmp_path: Path) -> None:
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "go.mod").write_text("module example.com/p\n\ngo 1.21\n")
    (proj / "gobox.toml").write_text('[go]\nversion = "1.22.10"\n')
    gobin = next((stocked.home / "toolchains").glob("go1.22.10.*")) / "layer" / "usr" / "local" / "go" / "bin"
    layout = tmp_path / "layout"

    def image(tag: str, binary: str) -> str:
        r = stocked("-C", str(proj), "image", "--json", "--binary", str(gobin / binary), "--tag", tag,
                    "--output", f"oci:{layout}")
        assert r.code == 0, r.err
        return json.loads(r.out)["digest"]

    gofmt = image("localhost/a:1", "gofmt")
    go = image("localhost/a:2", "go")
    assert gofmt != go
    assert image("localhost/b:1", "go") == go
    assert image("localhost/b:2", "gofmt") == gofmt
    assert image("localhost/solo:only", "gofmt") == gofmt
    assert image("localhost/a:1", "go") == go  # the same reference again: replaced, not added
    want = {"localhost/a:1": go, "localhost/a:2": go, "localhost/b:1": go, "localhost/b:2": gofmt, "only": gofmt}
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == len(want)
    # Tags two names share are read by the whole reference; a tag of one name, as oci:DIR:TAG.
    for ref, digest in want.items():
        assert skopeo_digest(layout, ref) == digest, ref
    assert not [p.name for p in layout.iterdir() if p.name.startswith(".")]  # no temporary file left behind
