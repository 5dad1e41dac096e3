"""Layers written into the store: the same entries give the same bytes, and gobox's own extractor reads them back."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from gobox.oci.layer import extract_layer
from gobox.oci.write import (
    DIR,
    FILE,
    HARDLINK,
    OPAQUE,
    SYMLINK,
    WHITEOUT,
    Entry,
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
