"""Release archives: the same files give the same bytes anywhere, with the metadata unpackers need, or no file."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.requires import requires_tool

from gobox.cross.archive import (
    ARCHIVE_LEVEL,
    ArchiveError,
    Member,
    archive_name,
    write_archive,
    write_tar_gz,
    write_zip,
)
from gobox.errors import GoboxError
from gobox.oci import zipfixed
from gobox.oci.gzipfixed import BLOCK, FixedDeflate

MTIME = 1700000001  # 2023-11-14 22:13:21 UTC; odd on purpose, zip keeps only even seconds
FILES = {"hello": b"\x7fELF" + bytes(range(256)) * 64, "README.md": b"# hello\n", "docs/guide/use.md": b"use it\n",
         "LICENSE": b"Apache-2.0\n"}
WRITERS = {"tar.gz": write_tar_gz, "zip": write_zip}
# A binary's kind of bytes, on which the system's zlib (1.2.13 here) and the pinned zlib-ng give different deflate
# streams; FILES alone they happen to compress alike.
CODE = bytes((b & 0x1F) if i % 3 else 0x48
             for i, b in enumerate(hashlib.shake_256(b"gobox zip golden").digest(100_000)))
# sha256 of the zip of golden_members() at MTIME: gobox's zip writer, deflating with zlib-ng 2.3.3 (the zlib-ng 1.1.0
# wheel) at level 9 in 64 KiB blocks. It changes only with the pin, the level, the blocks or the zip's fields: update
# it deliberately, as it changes the sha256 of every windows release.
GOLDEN_ZIP = "0757fa20034093e6b73a68b2d0b7bc428d2e303cc7803acd144dfe9750f8857b"


def place(root: Path, file_mtime: int, disk_mode: int) -> list[Member]:
    """FILES under root, with on-disk times and modes that must not leak into the archive."""
    members = []
    for name, data in FILES.items():
        p = root / "src" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(disk_mode)
        os.utime(p, (file_mtime, file_mtime))
        members.append(Member(name, p, 0o755 if name == "hello" else 0o644))
    return members


@contextmanager
def environment(cwd: Path, umask: int, tz: str) -> Iterator[None]:
    old_cwd, old_umask, old_tz = Path.cwd(), os.umask(umask), os.environ.get("TZ")
    os.chdir(cwd)
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.umask(old_umask)
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("fmt", WRITERS)
def test_same_files_give_the_same_bytes_anywhere(tmp_path: Path, fmt: str) -> None:
    a, b = tmp_path / "a", tmp_path / "deeper" / "b"
    a.mkdir()
    b.mkdir(parents=True)
    with environment(a, 0o022, "UTC"):
        members = place(a, 1_000_000_000, 0o600)
        WRITERS[fmt](a / f"out.{fmt}", members, MTIME)
    time.sleep(1.1)  # so "now" differs too, should anything read the clock
    with environment(tmp_path, 0o077, "America/St_Johns"):
        members = place(b, 1_600_000_000, 0o777)
        WRITERS[fmt](b / f"out.{fmt}", list(reversed(members)), MTIME)
    assert sha256(a / f"out.{fmt}") == sha256(b / f"out.{fmt}")


def test_tar_entries_are_sorted_with_fixed_metadata(tmp_path: Path) -> None:
    dest = tmp_path / "r.tar.gz"
    write_tar_gz(dest, place(tmp_path, 1_000_000_000, 0o600), MTIME)
    with tarfile.open(dest, "r:gz") as tar:
        infos = tar.getmembers()
        assert [i.name for i in infos] == ["LICENSE", "README.md", "docs", "docs/guide", "docs/guide/use.md", "hello"]
        assert tar.format == tarfile.PAX_FORMAT
        for i in infos:
            assert (i.mtime, i.uid, i.gid, i.uname, i.gname) == (MTIME, 0, 0, "", "")
            assert not i.pax_headers
        modes = {i.name: (i.type, i.mode) for i in infos}
        assert modes["hello"] == (tarfile.REGTYPE, 0o755)
        assert modes["README.md"] == (tarfile.REGTYPE, 0o644)
        assert modes["docs"] == modes["docs/guide"] == (tarfile.DIRTYPE, 0o755)
        assert tar.extractfile("hello").read() == FILES["hello"]


def test_tar_names_needing_pax_headers_stay_deterministic(tmp_path: Path) -> None:
    long = "d" * 120 + "/" + "é" * 10
    src = tmp_path / "f"
    src.write_bytes(b"x")
    write_tar_gz(tmp_path / "1.tar.gz", [Member(long, src, 0o644)], MTIME)
    write_tar_gz(tmp_path / "2.tar.gz", [Member(long, src, 0o644)], MTIME)
    assert sha256(tmp_path / "1.tar.gz") == sha256(tmp_path / "2.tar.gz")
    with tarfile.open(tmp_path / "1.tar.gz") as tar:
        assert tar.getnames() == ["d" * 120, long]


def test_gzip_header_has_no_name_no_time_and_unknown_os(tmp_path: Path) -> None:
    dest = tmp_path / "named-after-me.tar.gz"
    write_tar_gz(dest, place(tmp_path, 1_000_000_000, 0o644), MTIME)
    head = dest.read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08"  # magic, deflate
    assert head[3] == 0  # FLG: in particular no FNAME (0x08)
    assert head[4:8] == bytes(4)  # MTIME
    assert head[8] == 0  # XFL: none claimed (gobox.oci.gzipfixed's fixed header, whatever the level)
    assert head[9] == 255  # OS: unknown
    assert b"named-after-me" not in dest.read_bytes()


def test_tar_extracts(tmp_path: Path) -> None:
    dest = tmp_path / "r.tar.gz"
    write_tar_gz(dest, place(tmp_path, 1_000_000_000, 0o600), MTIME)
    out = tmp_path / "out"
    with tarfile.open(dest) as tar:
        kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(out, **kw)
    for name, data in FILES.items():
        assert (out / name).read_bytes() == data
    assert os.access(out / "hello", os.X_OK)
    assert (out / "hello").stat().st_mtime == MTIME


def test_zip_entries_carry_unix_modes_and_the_time(tmp_path: Path) -> None:
    dest = tmp_path / "r.zip"
    write_zip(dest, place(tmp_path, 1_000_000_000, 0o600), MTIME)
    with zipfile.ZipFile(dest) as zf:
        assert zf.testzip() is None
        assert zf.comment == b""
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["LICENSE", "README.md", "docs/", "docs/guide/", "docs/guide/use.md",
                                               "hello"]
        for i in infos:
            assert i.date_time == (2023, 11, 14, 22, 13, 20)
            assert i.create_system == 3
            assert i.extra == b""
            assert i.comment == b""
        by_name = {i.filename: i for i in infos}
        assert by_name["hello"].external_attr >> 16 == stat.S_IFREG | 0o755
        assert by_name["README.md"].external_attr >> 16 == stat.S_IFREG | 0o644
        assert by_name["docs/"].external_attr >> 16 == stat.S_IFDIR | 0o755
        assert by_name["docs/"].is_dir()
        assert by_name["hello"].compress_type == zipfile.ZIP_DEFLATED
        assert zf.read("hello") == FILES["hello"]


@pytest.mark.parametrize(("mtime", "date_time"), [
    (0, (1980, 1, 1, 0, 0, 0)),
    (315532799, (1980, 1, 1, 0, 0, 0)),
    (315532803, (1980, 1, 1, 0, 0, 2)),
    (2 ** 33, (2107, 12, 31, 23, 59, 58)),
])
def test_zip_time_is_clamped_and_even(tmp_path: Path, mtime: int, date_time: tuple) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    write_zip(tmp_path / "r.zip", [Member("f", src, 0o644)], mtime)
    with zipfile.ZipFile(tmp_path / "r.zip") as zf:
        assert zf.getinfo("f").date_time == date_time


def test_zip_passes_the_zipfile_tester(tmp_path: Path) -> None:
    dest = tmp_path / "r.zip"
    write_zip(dest, place(tmp_path, 1_000_000_000, 0o644), MTIME)
    p = subprocess.run([sys.executable, "-m", "zipfile", "-t", str(dest)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "Done testing" in p.stdout


def golden_members(root: Path) -> list[Member]:
    """FILES, a 100 KB binary-like file over two blocks, an empty one with a non-ASCII name, a private one."""
    members = place(root, 1_000_000_000, 0o644)
    for name, data, mode in [("bin/tool", CODE + CODE[:BLOCK], 0o700), ("docs/é.md", b"", 0o644),
                             ("secret", b"only the owner\n", 0o600)]:
        p = root / "src" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        members.append(Member(name, p, mode))
    return members


@requires_tool("unzip")
def test_unzip_extracts_every_name_mode_time_and_byte(tmp_path: Path) -> None:
    dest = tmp_path / "r.zip"
    members = golden_members(tmp_path)
    write_zip(dest, members, MTIME)
    env = dict(os.environ, TZ="UTC", LC_ALL="C.UTF-8")  # unzip reads the DOS time as local time
    t = subprocess.run(["unzip", "-t", str(dest)], capture_output=True, text=True, env=env)
    assert t.returncode == 0 and "No errors detected" in t.stdout, t.stdout + t.stderr
    out = tmp_path / "out"
    subprocess.run(["unzip", "-q", str(dest), "-d", str(out)], check=True, env=env)
    for m in members:
        got = out / m.name
        assert got.read_bytes() == m.source.read_bytes(), m.name
        assert stat.S_IMODE(got.stat().st_mode) == m.mode, m.name
        assert got.stat().st_mtime == MTIME - 1, m.name  # even seconds
    assert stat.S_IMODE((out / "docs/guide").stat().st_mode) == 0o755
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(m.name for m in members)


def test_zip_golden_digest_whatever_the_order(tmp_path: Path) -> None:
    members = golden_members(tmp_path)
    shuffled = list(members)
    random.Random(7).shuffle(shuffled)
    for i, order in enumerate([members, list(reversed(members)), shuffled, members]):
        write_zip(tmp_path / f"{i}.zip", order, MTIME)
        assert sha256(tmp_path / f"{i}.zip") == GOLDEN_ZIP, i


def raw_entry(zf: zipfile.ZipFile, dest: Path, name: str) -> bytes:
    """The entry's bytes as stored in the archive, past its local header."""
    info = zf.getinfo(name)
    data = dest.read_bytes()
    at = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[at + 26:at + 30])
    start = at + 30 + name_len + extra_len
    return data[start:start + info.compress_size]


def test_zip_entries_are_the_pinned_deflate_not_the_systems(tmp_path: Path) -> None:
    dest = tmp_path / "r.zip"
    members = golden_members(tmp_path)
    write_zip(dest, members, MTIME)
    with zipfile.ZipFile(dest) as zf:
        for m in members:
            pinned = io.BytesIO()
            with FixedDeflate(pinned, ARCHIVE_LEVEL) as z:
                z.write(m.source.read_bytes())
            assert raw_entry(zf, dest, m.name) == pinned.getvalue(), m.name
            assert zf.getinfo(m.name).compress_type == zipfile.ZIP_DEFLATED
        assert zf.getinfo("docs/").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("docs/é.md").flag_bits & 0x800  # UTF-8 name
        assert not zf.getinfo("docs/guide/use.md").flag_bits


names = st.lists(st.text(st.characters(exclude_characters="/\\\0", exclude_categories=("Cs",)), min_size=1, max_size=6)
                 .filter(lambda p: p not in (".", "..")), min_size=1, max_size=3).map("/".join)


@settings(max_examples=30)
@given(st.dictionaries(names, st.tuples(st.binary(max_size=700), st.integers(0, 0o777)), min_size=1, max_size=6))
@example({"a": (b"x" * (BLOCK + 1), 0o755), "é/b": (b"", 0), "é/c\n d": (b"\0", 0o777)})
def test_zip_reads_back_exactly_what_was_written(tmp_path_factory: pytest.TempPathFactory,
                                                 files: dict[str, tuple[bytes, int]]) -> None:
    # A name that is also another's directory is refused (tested above): keep the deeper one.
    files = {n: v for n, v in files.items() if not any(o.startswith(n + "/") for o in files)}
    root = tmp_path_factory.mktemp("z")
    members = []
    for i, (name, (data, mode)) in enumerate(files.items()):
        (root / str(i)).write_bytes(data)
        members.append(Member(name, root / str(i), mode))
    write_zip(root / "r.zip", members, MTIME)
    dirs = {n.rsplit("/", k)[0] + "/" for n in files for k in range(1, n.count("/") + 1)}
    with zipfile.ZipFile(root / "r.zip") as zf:
        assert zf.testzip() is None
        assert zf.namelist() == sorted(dirs | files.keys())
        for name, (data, mode) in files.items():
            info = zf.getinfo(name)
            assert (zf.read(info), info.external_attr >> 16, info.date_time) == (
                data, stat.S_IFREG | mode, (2023, 11, 14, 22, 13, 20))
        for d in dirs:
            assert zf.getinfo(d).is_dir() and zf.getinfo(d).external_attr >> 16 == stat.S_IFDIR | 0o755


@pytest.mark.parametrize(("limit", "value", "message"), [
    ("_ZIP32_MAX", 4000, r"archive member 'big': 5000 bytes, or where it starts in the zip, is past the 4 GiB"),
    # each fits (5000 bytes, deflated to 5005), but the second starts past the limit
    ("_ZIP32_MAX", 5020, r"archive member 'small': 5000 bytes, or where it starts in the zip, is past the 4 GiB"),
    ("_ZIP_MAX_ENTRIES", 1, r"2 archive members are more than a zip without ZIP64 holds \(1\)"),
])
def test_a_zip_too_large_for_zip32_is_refused_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           limit: str, value: int, message: str) -> None:
    # The real limits are 4 GiB and 65534 entries: lowered here so the test need not write 4 GiB.
    monkeypatch.setattr(zipfixed, limit, value)
    src = tmp_path / "big"
    src.write_bytes(hashlib.shake_256(b"incompressible").digest(5000))
    with pytest.raises(ArchiveError, match=message):
        write_zip(tmp_path / "r.zip", [Member("big", src, 0o644), Member("small", src, 0o644)], MTIME)
    assert listing(tmp_path) == ["big"]


@pytest.mark.parametrize("fmt", WRITERS)
def test_failure_midway_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    members = place(tmp_path, 1_000_000_000, 0o644)
    out = tmp_path / "out"
    out.mkdir()
    # "zz" sorts last, so the archive is well under way when its source turns out to be missing
    members.append(Member("zz", tmp_path / "missing", 0o644))
    with pytest.raises(FileNotFoundError):
        WRITERS[fmt](out / f"r.{fmt}", members, MTIME)
    assert listing(out) == []


@pytest.mark.parametrize("fmt", WRITERS)
def test_failure_keeps_the_old_archive(tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / f"r.{fmt}"
    dest.write_bytes(b"previous release")
    with pytest.raises(ValueError, match="not a regular file"):
        WRITERS[fmt](dest, [Member("dir", tmp_path, 0o755)], MTIME)
    assert dest.read_bytes() == b"previous release"
    assert listing(tmp_path) == [f"r.{fmt}"]


@pytest.mark.parametrize("fmt", WRITERS)
def test_a_symlink_is_refused_not_followed(tmp_path: Path, fmt: str) -> None:
    secret = tmp_path / "host-secret"
    secret.write_bytes(b"not for the release\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "hello").symlink_to(secret)
    with pytest.raises(GoboxError, match=r"archive member 'hello': .*/out/hello is a symlink"):
        WRITERS[fmt](tmp_path / f"r.{fmt}", [Member("hello", tmp_path / "out" / "hello", 0o755)], MTIME)
    assert not (tmp_path / f"r.{fmt}").exists()


@pytest.mark.parametrize("fmt", WRITERS)
def test_existing_archive_is_replaced_not_rewritten(tmp_path: Path, fmt: str) -> None:
    members = place(tmp_path, 1_000_000_000, 0o644)
    dest = tmp_path / f"r.{fmt}"
    dest.write_bytes(b"previous release")
    with open(dest, "rb") as reader:
        WRITERS[fmt](dest, members, MTIME)
        # a reader that had the old file open still sees it whole: the new one arrived by rename
        assert reader.read() == b"previous release"
    assert dest.read_bytes()[:2] == (b"PK" if fmt == "zip" else b"\x1f\x8b")
    assert listing(tmp_path) == [f"r.{fmt}", "src"]


def test_archive_permissions_follow_the_umask(tmp_path: Path) -> None:
    members = place(tmp_path, 1_000_000_000, 0o644)
    with environment(tmp_path, 0o022, "UTC"):
        write_tar_gz(tmp_path / "r.tar.gz", members, MTIME)
    assert stat.S_IMODE((tmp_path / "r.tar.gz").stat().st_mode) == 0o644


@pytest.mark.parametrize("bad", [
    [("a", 0o644), ("a", 0o644)],
    [("/abs", 0o644)],
    [("../up", 0o644)],
    [("a//b", 0o644)],
    [("a/./b", 0o644)],
    [("dir/", 0o644)],
    [("win\\path", 0o644)],
    [("a", 0o644), ("a/b", 0o644)],
    [("a", 0o100755)],
    [("nul\0byte", 0o644)],
    [("not-utf8-\udcff", 0o644)],
], ids=["twice", "absolute", "dotdot", "empty-part", "dot", "trailing-slash", "backslash", "file-and-dir", "type-bits",
        "nul", "surrogate"])
@pytest.mark.parametrize("fmt", WRITERS)
def test_bad_members_are_refused_before_anything_is_written(tmp_path: Path, fmt: str, bad: list) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(ValueError):
        WRITERS[fmt](tmp_path / f"r.{fmt}", [Member(n, src, m) for n, m in bad], MTIME)
    assert listing(tmp_path) == ["f"]


def test_archive_name() -> None:
    assert archive_name("hello-1.0-windows-amd64", "windows") == "hello-1.0-windows-amd64.zip"
    assert archive_name("hello-1.0-linux-arm64", "linux") == "hello-1.0-linux-arm64.tar.gz"
    assert archive_name("hello-1.0-darwin-arm64", "darwin") == "hello-1.0-darwin-arm64.tar.gz"


def test_write_archive_goes_by_the_name(tmp_path: Path) -> None:
    members = place(tmp_path, 1_000_000_000, 0o644)
    for goos in ("windows", "linux"):
        dest = tmp_path / archive_name(f"hello-{goos}", goos)
        write_archive(dest, members, MTIME)
        assert zipfile.is_zipfile(dest) == (goos == "windows")
    with tarfile.open(tmp_path / "hello-linux.tar.gz") as tar:
        assert "hello" in tar.getnames()
    with pytest.raises(ValueError, match="no archive format"):
        write_archive(tmp_path / "hello.rar", members, MTIME)


def test_member_is_a_frozen_value() -> None:
    m = Member("hello", Path("/x"), 0o755)
    assert m == Member("hello", Path("/x"), 0o755)
    with pytest.raises(AttributeError):
        m.mode = 0o644  # type: ignore[misc]
