"""Layers written into the store: the same entries give the same bytes, and gobox's own extractor reads them back."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.requires import REPO

from gobox.oci.layer import extract_layer
from gobox.oci.write import (
    DIR,
    FILE,
    HARDLINK,
    OPAQUE,
    OPAQUE_MARKER,
    SYMLINK,
    WHITEOUT,
    WHITEOUT_PREFIX,
    Entry,
    tar_name,
    write_json_blob,
    write_layer,
    write_tar,
)
from gobox.store import Store

ENTRIES = [
    Entry("usr", DIR, 0o755, mtime=5),
    Entry("usr/bin", DIR, 0o755, mtime=5),
    Entry("usr/bin/hello", FILE, 0o755, data=b"#!hello\n", mtime=5),
    Entry("usr/bin/hi", HARDLINK, link="usr/bin/hello"),
    Entry("etc", DIR, 0o755),
    Entry("etc/motd", WHITEOUT),
    Entry("opt", OPAQUE),
    Entry("opt", DIR, 0o755),
    Entry("opt/new", SYMLINK, link="/usr/bin/hello"),
]


def test_the_same_entries_in_any_order_give_the_same_digest(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    a = write_layer(store, ENTRIES)
    b = write_layer(store, list(reversed(ENTRIES)))
    assert a == b
    blob = store.blob_for(a.digest).read_bytes()
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == a.digest and len(blob) == a.size
    assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == a.diff_id
    assert blob[4:8] == b"\0\0\0\0"  # gzip mtime
    assert list(store.tmp.iterdir()) == []


def test_whiteouts_are_spelled_the_oci_way_and_read_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    written = write_layer(store, ENTRIES)
    data = store.blob_for(written.digest).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert tar.getmember("usr/bin/hello").mtime == 5
        assert tar.getmember("usr/bin/hi").islnk()
    assert names == sorted(names)
    assert "etc/.wh.motd" in names and "opt/.wh..wh..opq" in names
    dest = tmp_path / "out"
    dest.mkdir()
    _, diff_id = extract_layer(io.BytesIO(data), dest)
    assert diff_id == written.diff_id
    assert (dest / "usr/bin/hello").read_bytes() == b"#!hello\n"
    assert stat.S_ISCHR((dest / "etc/motd").lstat().st_mode)
    assert os.getxattr(dest / "opt", "user.overlay.opaque") == b"y"
    assert os.readlink(dest / "opt/new") == "/usr/bin/hello"


def test_a_name_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="twice"):
        write_layer(Store(tmp_path), [Entry("a", FILE, data=b"1"), Entry("a", FILE, data=b"2")])


def test_json_blobs_are_canonical(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.ensure()
    a = write_json_blob(store, {"b": 1, "a": [1, 2]})
    b = write_json_blob(store, {"a": [1, 2], "b": 1})
    assert a == b and store.blob_for(a.digest).read_bytes() == b'{"a":[1,2],"b":1}'


def test_a_plain_tar_is_the_layer_tar_with_no_gzip(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    layer = write_layer(store, ENTRIES)
    a = write_tar(tmp_path / "a.tar", ENTRIES)
    b = write_tar(tmp_path / "b.tar", list(reversed(ENTRIES)))
    data = (tmp_path / "a.tar").read_bytes()
    assert data == (tmp_path / "b.tar").read_bytes() == gzip.decompress(store.blob_for(layer.digest).read_bytes())
    assert a == b and a.digest == layer.diff_id and a.size == len(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "b.tar", "store"]  # no .part left


# --- the tar bytes: gobox's own headers, the bytes tarfile's PAX_FORMAT writes -------------------------------------

LONG = "d" * 60 + "/" + "n" * 80
TRICKY = [
    Entry("usr", DIR, 0o755, mtime=1700000000),
    Entry("usr/bin/hello", FILE, 0o4755, uid=65532, gid=65532, mtime=1700000000, data=b"x" * 513),
    Entry("usr/empty", FILE, 0o600, data=b""),
    Entry("usr/block", FILE, 0o644, data=b"y" * 512),
    Entry(LONG, FILE, 0o644, data=b"long name\n"),  # a pax path
    Entry("a" * 100, FILE, 0o644, data=b"exactly 100\n"),  # fits the ustar field
    Entry("caf\u00e9/na\u00efve", FILE, 0o644, data=b"utf-8 name\n"),  # a pax path for a non-ASCII name
    Entry("bad\udcffname", FILE, 0o644, data=b"surrogate-escaped byte\n"),  # not UTF-8: hdrcharset=BINARY
    Entry("usr/link", SYMLINK, 0o777, link="/" + "t" * 120),  # a pax linkpath
    Entry("usr/hard", HARDLINK, 0o755, link="usr/bin/hello"),
    Entry("big/ids", FILE, 0o644, uid=2**21, gid=3_000_000, mtime=8**11 + 5, data=b"ids\n"),  # pax numbers
    Entry("old", FILE, 0o644, mtime=-1, data=b""),
    Entry("etc/motd", WHITEOUT),
    Entry("opt", OPAQUE),
]
# sha256 of write_tar(TRICKY), as tarfile (PAX_FORMAT, utf-8) wrote it in CPython 3.11, 3.12 and 3.13 alike.
TRICKY_TAR = "sha256:ced7edd0832f8360fe4750ee6f406c8fa37399afe61e49e68a588f0dcd439d09"
# write_layer(ENTRIES): the tar's bytes as above, compressed by gobox.oci.gzipfixed (zlib-ng 1.1.0, level 4).
ENTRIES_LAYER = ("sha256:4312c974b2ed49e4b63b31ff4695e3910a06dfc228acba9e76563a1ef0b901d3", 275,
                 "sha256:0526778917c4b518aa502a2ac0e92046dbdd08f030b3c03a872bea788102a629")


def tarfile_bytes(entries: list[Entry]) -> bytes:
    """The reference: the same entries written by tarfile, as gobox wrote layers until it wrote its own headers."""
    types = {DIR: tarfile.DIRTYPE, FILE: tarfile.REGTYPE, SYMLINK: tarfile.SYMTYPE, HARDLINK: tarfile.LNKTYPE,
             WHITEOUT: tarfile.REGTYPE, OPAQUE: tarfile.REGTYPE}
    out = io.BytesIO()
    with tarfile.TarFile(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        for e in sorted(entries, key=tar_name):
            info = tarfile.TarInfo(tar_name(e))
            info.mode, info.uid, info.gid, info.mtime = e.mode & 0o7777, e.uid, e.gid, e.mtime
            info.uname = info.gname = ""
            info.type = types[e.kind]
            if e.kind in (SYMLINK, HARDLINK):
                info.linkname = e.link
            if e.kind in (WHITEOUT, OPAQUE):
                info.mode = 0
            data = e.data if e.data is not None else (e.source.read_bytes() if e.source else None)
            if e.kind == FILE and data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return out.getvalue()


def test_the_golden_tar_and_layer(tmp_path: Path) -> None:
    # These change only when gobox's tar or gzip bytes do, and then every image digest changes with them.
    assert write_tar(tmp_path / "t.tar", TRICKY).digest == TRICKY_TAR
    layer = write_layer(Store(tmp_path / "store"), ENTRIES)
    assert (layer.digest, layer.size, layer.diff_id) == ENTRIES_LAYER


def test_the_tar_is_the_one_tarfile_writes_and_reads_back(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"z" * 70_000)
    entries = [*TRICKY, Entry("from/source", FILE, 0o755, source=tmp_path / "src")]
    write_tar(tmp_path / "t.tar", entries)
    data = (tmp_path / "t.tar").read_bytes()
    assert data == tarfile_bytes(entries)
    with tarfile.open(tmp_path / "t.tar", encoding="utf-8") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members[LONG].size == 10 and members["usr/link"].linkname == "/" + "t" * 120
        assert members["big/ids"].uid == 2**21 and members["big/ids"].mtime == 8**11 + 5
        assert members["usr/bin/hello"].mode == 0o4755 and members["caf\u00e9/na\u00efve"].isfile()
        assert tar.extractfile("from/source").read() == b"z" * 70_000  # type: ignore[union-attr]


def test_the_whiteout_spellings_are_the_extractors() -> None:
    from gobox.oci import layer

    assert (WHITEOUT_PREFIX, OPAQUE_MARKER) == (layer.WHITEOUT, layer.OPAQUE)


NAMES = st.text(st.sampled_from("ab/.é\u4e2d\udcff"), min_size=1, max_size=120).filter(
    lambda n: not n.startswith("/") and not n.endswith("/"))
ENTRY = st.builds(
    lambda name, kind, mode, uid, mtime, data, link: Entry(name, kind, mode, uid=uid, gid=uid, mtime=mtime,
                                                           data=data if kind == FILE else None, link=link),
    NAMES, st.sampled_from([DIR, FILE, SYMLINK, HARDLINK, WHITEOUT, OPAQUE]), st.integers(0, 0o7777),
    st.sampled_from([0, 1000, 65532, 2**21 - 1, 2**21, 2**32 - 1]),
    st.sampled_from([0, 1700000000, 8**11 - 1, 8**11, -5]), st.binary(max_size=1100),
    st.text(st.sampled_from("ab/.é\udcff"), max_size=150))


@settings(max_examples=60)
@given(st.lists(ENTRY, max_size=6, unique_by=tar_name))
@example([Entry("x" * 100, DIR), Entry("é" * 50, FILE, data=b"")])  # a directory's "/" takes it past 100
def test_any_entries_give_tarfiles_bytes(tmp_path_factory: pytest.TempPathFactory, entries: list[Entry]) -> None:
    dest = tmp_path_factory.mktemp("tar") / "t.tar"
    write_tar(dest, entries)
    assert dest.read_bytes() == tarfile_bytes(entries)


def test_writing_layers_imports_neither_tarfile_nor_the_extractor() -> None:
    # gobox image --binary pays for every import on its path: these two cost more than its tar headers do.
    code = "import sys, gobox.oci.write; print(sorted({'tarfile', 'gobox.oci.layer'} & set(sys.modules)))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.stdout.strip() == "[]"
