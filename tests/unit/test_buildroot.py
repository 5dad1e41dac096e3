"""The generated layer under every build's root, written to real directories: what Go reads is there, it is
made once under a name that stays what it was, a layer another gobox made first is kept, and the sandbox
itself holds none of it."""

from __future__ import annotations

import os
import re
import stat
import zlib
from pathlib import Path

import certifi
from support.runner import REPO

from gobox import buildroot


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    layers, scratch = tmp_path / "layers", tmp_path / "tmp"
    scratch.mkdir()
    return layers, scratch


def test_the_layer_holds_the_etc_go_reads_a_gobox_user_the_ca_bundle_and_gos_directories(tmp_path: Path) -> None:
    layers, scratch = _dirs(tmp_path)
    layer = buildroot.ensure_minimal_layer(layers, scratch, 1000, 1001)
    assert layer.parent == layers and layer.name.startswith("minimal-")
    passwd, group = (layer / "etc/passwd").read_text(), (layer / "etc/group").read_text()
    assert "gobox:x:1000:1001:gobox:/home/gobox:/bin/sh\n" in passwd and passwd.startswith("root:x:0:0:")
    assert "gobox:x:1001:\n" in group
    assert (layer / "etc/ssl/certs/ca-certificates.crt").read_bytes() == Path(certifi.where()).read_bytes()
    assert (layer / "etc/hosts").read_text().startswith("127.0.0.1\tlocalhost")
    assert (layer / "etc/nsswitch.conf").read_text() == "hosts: files dns\npasswd: files\ngroup: files\n"
    assert (layer / "etc/resolv.conf").read_bytes() == b""
    for d in ("usr/local/go", "go", "home/gobox", "root", "proc", "dev"):
        assert (layer / d).is_dir(), d
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    assert list(scratch.iterdir()) == []  # made there, renamed whole into place


def test_root_gets_no_gobox_user() -> None:
    files = buildroot.minimal_files(0, 0, b"")
    assert b"gobox" not in files["etc/passwd"] and b"gobox" not in files["etc/group"]


def test_the_layer_is_made_once_under_a_name_of_its_inputs(tmp_path: Path) -> None:
    layers, scratch = _dirs(tmp_path)
    layer = buildroot.ensure_minimal_layer(layers, scratch, 1000, 1000)
    # The name spells format, ids and the CA bundle's identity (no content read, no hashlib import):
    # another bundle, or the same one touched, gives another layer.
    where = Path(certifi.where())
    st = where.stat()
    crc = zlib.crc32(os.fsencode(where))
    assert layer.name == f"minimal-1-1000-1000-{crc:08x}-{st.st_size}-{st.st_mtime_ns}"
    (layer / "marker").write_text("kept")
    assert buildroot.ensure_minimal_layer(layers, scratch, 1000, 1000) == layer
    assert (layer / "marker").read_text() == "kept"
    assert buildroot.ensure_minimal_layer(layers, scratch, 1000, 1002) != layer


def test_a_layer_another_gobox_made_first_is_kept(tmp_path: Path) -> None:
    layers, scratch = _dirs(tmp_path)
    theirs = layers / "minimal-0123456789abcdef"
    (theirs / "etc").mkdir(parents=True)
    (theirs / "etc/passwd").write_text("theirs\n")
    buildroot._make_layer_once(theirs, scratch, ("etc",), {"etc/passwd": b"ours\n"})
    assert (theirs / "etc/passwd").read_text() == "theirs\n"  # a live lower dir is never swapped
    assert list(scratch.iterdir()) == []


def test_the_sandbox_knows_no_go() -> None:
    # Nor gobox.toml: a key such as [go].base is the build layer's to name.
    go = re.compile(r"/usr/local/go|GOROOT|GOPATH|GOCACHE|certifi|home/gobox|gobox:x:|\[go\]\.")
    found = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
             for p in sorted((REPO / "gobox" / "sandbox").glob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if go.search(line)]
    assert found == []
