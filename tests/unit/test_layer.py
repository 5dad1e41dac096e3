"""The safe tar extractor: good archives come out whole, hostile ones are refused with nothing outside."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
from support.mirror import make_tarball

from gobox.errors import IntegrityError
from gobox.oci.layer import UnsafeArchive, extract_tar


def extract(members: list, dest: Path) -> None:
    extract_tar(io.BytesIO(make_tarball(members)), dest)


def test_extracts_files_dirs_links_and_modes(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    extract([("go/", "dir", ""), ("go/bin/go", "exe", "#!binary"), ("go/VERSION", "file", "go1.0"),
             ("go/lib/link", "symlink", "../VERSION"), ("go/hard", "hardlink", "go/VERSION")], dest)
    assert (dest / "go/VERSION").read_text() == "go1.0"
    assert os.access(dest / "go/bin/go", os.X_OK)
    assert stat.S_IMODE((dest / "go/VERSION").stat().st_mode) == 0o644
    assert os.readlink(dest / "go/lib/link") == "../VERSION"
    assert (dest / "go/hard").stat().st_ino == (dest / "go/VERSION").stat().st_ino


def test_long_names_survive(tmp_path: Path) -> None:
    name = "go/" + "/".join(["d" * 60] * 5) + "/file.go"
    extract([(name, "file", "package x")], tmp_path)
    assert (tmp_path / name).read_text() == "package x"


def test_setuid_bits_are_dropped(tmp_path: Path) -> None:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("suid")
        ti.mode, ti.size = 0o4755, 1
        tf.addfile(ti, io.BytesIO(b"x"))
    extract_tar(io.BytesIO(buf.getvalue()), tmp_path)
    assert stat.S_IMODE((tmp_path / "suid").stat().st_mode) == 0o755


@pytest.mark.parametrize("members, why", [
    ([("../evil", "file", "x")], "climbs out"),
    ([("go/../../evil", "file", "x")], "climbs out"),
    ([("/tmp/evil", "file", "x")], "absolute path"),
    ([("go/link", "symlink", "/etc")], "absolute path"),
    ([("go/link", "symlink", "../../..")], "points outside"),
    ([("go/link", "symlink", "."), ("go/link/evil", "file", "x")], "through a symlink"),
    ([("go/up", "symlink", ".."), ("go/up/evil", "file", "x")], "through a symlink"),
    ([("go/hard", "hardlink", "../../etc/passwd")], "climbs out"),
    ([("go/hard", "hardlink", "go/missing")], "not a file of the archive"),
    ([("go/null", "chardev", "")], "character device"),
    ([("go/fifo", "fifo", "")], "fifo"),
])
def test_hostile_members_are_refused(tmp_path: Path, members: list, why: str) -> None:
    dest = tmp_path / "a" / "b" / "out"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeArchive, match=why):
        extract(members, dest)
    outside = {p for p in tmp_path.rglob("*") if dest not in p.parents and p != dest}
    assert outside == {tmp_path / "a", tmp_path / "a" / "b"}, "something was written outside"


def test_truncated_gzip_is_an_integrity_error(tmp_path: Path) -> None:
    data = make_tarball([("go/big", "file", os.urandom(200_000))])
    with pytest.raises(IntegrityError, match="truncated"):
        extract_tar(io.BytesIO(data[: len(data) // 2]), tmp_path)


def test_garbage_is_not_a_tar(tmp_path: Path) -> None:
    import gzip

    with pytest.raises(IntegrityError, match="corrupt"):
        extract_tar(io.BytesIO(gzip.compress(b"not a tar archive at all" * 100)), tmp_path)
