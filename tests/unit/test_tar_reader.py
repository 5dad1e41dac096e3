"""Each hostile tar from the hostile-input issue, by name: refused in one gobox error, promptly, with nothing
written outside the destination and nothing read or allocated past the limits."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
import support.tarbytes as tb
from support.tarbytes import Bomb, header, member, pax, pax_record, tar

from gobox.errors import GoboxError, IntegrityError
from gobox.imagestore.unpack import ensure_layer, layers_root
from gobox.oci.layer import DEFAULT_LIMITS, Limits, extract_layer, extract_tar
from gobox.oci.tarstream import MAX_META, Decompressed, UnsafeArchive, iter_tar
from gobox.store import Store

HANG = 20  # seconds: far past what any of these takes, so only a hang trips it


class Hung(Exception):
    pass


@contextlib.contextmanager
def bounded(seconds: float = HANG) -> Iterator[None]:
    """Fail instead of spinning: an alarm interrupts a reader that never returns."""
    def fire(signum: int, frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def read_all(data: bytes) -> list:
    stream = Decompressed(io.BytesIO(data))
    try:
        out = []
        for entry in iter_tar(stream):
            stream.copy_to(None, entry.size)
            out.append(entry)
        return out
    finally:
        stream.close()


def layer(data: bytes, dest: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    with bounded():
        return extract_layer(io.BytesIO(gzip.compress(data)), dest, limits=limits)[1]


def nothing_outside(root: Path, dest: Path) -> None:
    outside = [p for p in root.rglob("*") if p != dest and dest not in p.parents and p not in dest.parents]
    assert outside == [], f"written outside {dest}: {outside}"


# --- hangs ------------------------------------------------------------------------------------------


def test_pax_record_of_length_zero_is_refused_not_spun_on(tmp_path: Path) -> None:
    data = tar(pax(b"0 path=x\n"), member("f", b"x"))
    with bounded(), pytest.raises(IntegrityError, match=r"pax record 1 has the length 0.*tar header at byte 0"):
        read_all(data)


def test_pax_size_of_minus_1536_is_refused_not_spun_on(tmp_path: Path) -> None:
    data = tar(pax(pax_record(b"size", b"-1536")), member("f", b""))
    with bounded(), pytest.raises(IntegrityError, match=r"pax size '-1536' is not a size"):
        read_all(data)
    with pytest.raises(IntegrityError, match="-1536"):
        layer(data, tmp_path)


# --- tracebacks: malformed pax records ---------------------------------------------------------------


def test_pax_record_without_a_space_is_refused(tmp_path: Path) -> None:
    with bounded(), pytest.raises(IntegrityError, match="pax record 1 has no space after its length"):
        read_all(tar(pax(b"16path=abcdefgh\n"), member("f", b"x")))


def test_pax_record_with_a_key_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    with bounded(), pytest.raises(IntegrityError, match=r"pax record 1 has a key that is not UTF-8 \(b'\\xff\\xfe'\)"):
        read_all(tar(pax(pax_record(b"\xff\xfe", b"v")), member("f", b"x")))


@pytest.mark.parametrize("records, why", [
    (b"7 path\n", "is not key=value"),
    (b"7 =abc\n", "is not key=value"),
    (b"+8 a=bc\n", "not a decimal number"),
    (b"12 path=ab\n", "does not fit"),
    (b"8 path=ab", "does not end with a newline"),
    (b"99999999999999999999999 a=b\n", "no space after its length"),
    (b"4 a\n", "length 4"),
    (pax_record(b"path", b"a\0b"), "NUL"),
    (pax_record(b"size", b"0x10"), "not a size"),
    (pax_record(b"GNU.sparse.map", b"0,1"), "sparse file"),
])
def test_other_malformed_pax_records_are_refused(records: bytes, why: str) -> None:
    with bounded(), pytest.raises(IntegrityError, match=why):
        read_all(tar(pax(records), member("f", b"x")))


# --- sizes ------------------------------------------------------------------------------------------


class Endless(io.RawIOBase):
    """A 6 GiB GNU long-name member made on the fly: the header, then 'a's; reading far into it is a failure."""

    def __init__(self, head: bytes, allowed: int) -> None:
        self.head, self.pos, self.allowed = head, 0, allowed

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:
        if self.pos > self.allowed:
            raise AssertionError(f"the reader pulled {self.pos} bytes of a header it should have refused")
        n = len(b)
        head = self.head[self.pos:self.pos + n]
        b[:len(head)] = head
        b[len(head):n] = b"a" * (n - len(head))
        self.pos += n
        return n


def test_a_6_gib_gnu_long_name_is_refused_unread() -> None:
    raw = Endless(header("././@LongLink", b"L", 6 << 30), allowed=64 << 20)
    stream = Decompressed(io.BufferedReader(raw))
    try:
        with bounded(), pytest.raises(UnsafeArchive, match=r"GNU long name of 6.0 GiB; gobox allows at most 1.0 MiB"):
            next(iter_tar(stream))
    finally:
        stream.close()
    assert raw.pos <= 16 << 20  # a few reads ahead by the decompressing thread, not the name


def test_a_long_name_up_to_the_limit_is_read(tmp_path: Path) -> None:
    name = "d/" + "n" * 200
    entries = read_all(tar(member("././@LongLink", name.encode() + b"\0", b"L"), member("short", b"x")))
    assert [(e.name, e.size) for e in entries] == [(name, 1)]
    with pytest.raises(UnsafeArchive, match="pax header of 1.0 MiB"):
        read_all(tar(pax(b"x" * (MAX_META + 1)), member("f")))


def test_a_gzip_bomb_in_one_member_is_refused_at_its_header(tmp_path: Path) -> None:
    bomb = Bomb(1, 1 << 30)  # 1 GiB of zeros in 1 MiB of gzip
    dest = tmp_path / "out"
    dest.mkdir()
    with bounded(), pytest.raises(UnsafeArchive, match="gzip bomb") as e:
        extract_layer(io.BytesIO(bomb.blob), dest)
    assert "limits.layer-ratio" in e.value.hint
    assert [p for p in dest.rglob("*") if p.is_file()] == []  # its header said too much: nothing was written


def test_a_gzip_bomb_stops_while_streaming(tmp_path: Path) -> None:
    """Many members, each under the limit on its own: the stream is cut once their sum passes it."""
    bomb = Bomb(256, 16 << 20)  # 4 GiB of zeros in 256 files, 4 MiB of gzip
    limits = Limits(ratio=10, floor=1 << 20)
    dest = tmp_path / "out"
    dest.mkdir()
    read = []
    with bounded(), pytest.raises(UnsafeArchive, match=r"unpacks to more than 4\d.\d MiB from 4.\d MiB compressed"):
        extract_layer(io.BytesIO(bomb.blob), dest, read.append, limits)
    written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert written <= 50 << 20
    assert sum(read) < len(bomb.blob) // 2  # stopped early: half the gzip stream was never even read


def test_the_limit_is_the_floor_for_tiny_layers_and_the_size_cap_for_big_ones() -> None:
    limits = Limits(ratio=100, size=10 << 30, floor=256 << 20)
    assert limits.budget(1000) == 256 << 20
    assert limits.budget(10 << 20) == 1000 << 20
    assert limits.budget(1 << 30) == 10 << 30
    assert limits.budget(None) == 10 << 30


def test_bytes_hidden_after_the_end_of_the_tar_count_too(tmp_path: Path) -> None:
    zeros = gzip.compress(b"\0" * (1 << 20))
    blob = gzip.compress(tar(member("f", b"x"))) + zeros * 300  # 300 MiB of zeros after the end marker
    with bounded(), pytest.raises(UnsafeArchive, match="gzip bomb"):
        extract_layer(io.BytesIO(blob), tmp_path)


# --- what one layer may hold -------------------------------------------------------------------------


def test_a_file_over_a_directory_in_one_layer_is_refused(tmp_path: Path) -> None:
    data = tar(member("d/", typeflag=b"5"), member("d/x", b"inner"), member("d", b"a file now"))
    with pytest.raises(UnsafeArchive, match="archive member 'd' is a file, but an earlier member made it a directory"):
        layer(data, tmp_path)


def test_a_symlink_over_a_directory_in_one_layer_is_refused(tmp_path: Path) -> None:
    data = tar(member("d/", typeflag=b"5"), member("d", typeflag=b"2", linkname="/etc"))
    with pytest.raises(UnsafeArchive, match="'d' is a symlink, but an earlier member made it a directory"):
        layer(data, tmp_path)


def test_a_directory_or_file_over_a_file_replaces_it(tmp_path: Path) -> None:
    layer(tar(member("a", b"1"), member("a", b"2"), member("b", b"1"), member("b/", typeflag=b"5"),
              member("b/c", b"in b")), tmp_path)
    assert (tmp_path / "a").read_bytes() == b"2" and (tmp_path / "b" / "c").read_bytes() == b"in b"


def test_symlink_then_write_through_it_is_refused(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    data = tar(member("l", typeflag=b"2", linkname=str(host)), member("l/x", b"planted"))
    with pytest.raises(UnsafeArchive, match=r"archive member 'l/x' would be written through a symlink \('l'\)"):
        layer(data, dest)
    assert list(host.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "dir", "symlink", "hardlink", "opaque"])
def test_a_symlink_already_in_the_destination_is_never_written_through(tmp_path: Path, kind: str) -> None:
    """The filesystem holds the line, not a list of the links the archive made: a link gobox did not make
    (or a check forgot) still leads nowhere."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("host file\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "l").symlink_to(host)
    (dest / "file").write_text("in the layer\n")
    last = {"file": member("l/x", b"planted"), "dir": member("l/sub/", typeflag=b"5"),
            "symlink": member("l/ln", typeflag=b"2", linkname="x"),
            "hardlink": member("l/hard", typeflag=b"1", linkname="file"),
            "opaque": member("l/.wh..wh..opq")}[kind]
    with pytest.raises(UnsafeArchive, match="through a symlink"):
        layer(tar(last), dest)
    assert sorted(p.name for p in host.iterdir()) == ["secret"]
    assert "user.overlay.opaque" not in os.listxattr(host)
    with pytest.raises(UnsafeArchive, match="not a file of the archive"):
        layer(tar(member("h", typeflag=b"1", linkname="l/secret")), dest)


def test_a_hardlink_to_a_symlink_or_a_directory_is_refused(tmp_path: Path) -> None:
    for target in ("d", "s"):
        (tmp_path / target).mkdir()
        with pytest.raises(UnsafeArchive, match="not a file of the archive"):
            layer(tar(member("d/", typeflag=b"5"), member("s", typeflag=b"2", linkname="/etc/passwd"),
                      member("h", typeflag=b"1", linkname=target)), tmp_path / target)


def test_names_the_filesystem_refuses_are_one_error(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="cannot be made here: File name too long"):
        layer(tar(pax(pax_record(b"path", b"x" * 300)), member("short", b"")), tmp_path)
    deep = "/".join(["d"] * 300)
    with pytest.raises(UnsafeArchive, match="300 directories deep"):
        layer(tar(pax(pax_record(b"path", deep.encode())), member("short", b"")), tmp_path)


def test_a_tarball_with_a_symlink_then_write_through_is_refused(tmp_path: Path) -> None:
    """The toolchain tarballs' extractor (go.dev) holds the same line as layers."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "l").symlink_to(tmp_path)
    with pytest.raises(UnsafeArchive, match="through a symlink"):
        extract_tar(io.BytesIO(tar(member("l/x", b"planted"))), dest)
    assert not (tmp_path / "x").exists()


# --- disk full --------------------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that fills up for real."""
    where = tmp_path / "small"
    where.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_disk_full_while_unpacking_is_one_error_and_leaves_nothing(tmpfs: Path) -> None:
    store = Store(tmpfs / "home")
    store.ensure()
    data = tar(member("big", b"\0" * (8 << 20)))
    blob = gzip.compress(data)
    digest = tb.sha256([blob])
    store.blobs.mkdir(parents=True, exist_ok=True)
    store.blob_for(digest).write_bytes(blob)
    with bounded(), pytest.raises(GoboxError) as e:
        ensure_layer(store, digest, tb.sha256([data]))
    assert "no space left" in e.value.message and "'big'" in e.value.message
    assert e.value.message.startswith(f"layer {digest}: ")
    assert "nothing half-made was kept" in e.value.hint
    assert not layers_root(store).exists() or list(layers_root(store).iterdir()) == []
    assert list(store.tmp.iterdir()) == []
    fs = os.statvfs(tmpfs)
    assert fs.f_bfree * fs.f_frsize > 3 << 20  # the half-written layer's blocks were given back


def test_oserror_mapping_names_the_member(tmp_path: Path) -> None:
    dest = tmp_path / "ro"
    dest.mkdir()
    os.chmod(dest, stat.S_IRUSR | stat.S_IXUSR)
    if os.access(dest, os.W_OK):  # root ignores modes: use a read-only bind instead
        subprocess.run(["mount", "--bind", "-o", "ro", str(dest), str(dest)], check=False)
    try:
        with pytest.raises(GoboxError, match=r"cannot write archive member 'f' under .*: Read-only file system"
                           r"|Permission denied") as e:
            layer(tar(member("f", b"x")), dest)
        assert not isinstance(e.value, OSError)
    finally:
        subprocess.run(["umount", str(dest)], capture_output=True)


def test_a_megabyte_name_makes_a_short_message(tmp_path: Path) -> None:
    name = b"../" + b"a" * (MAX_META - 100)
    with pytest.raises(UnsafeArchive, match="climbs out") as e:
        layer(tar(pax(pax_record(b"path", name)), member("f")), tmp_path)
    assert len(e.value.message) < 400
