"""The tar reader and the extractors under Hypothesis: whatever the bytes, the answer is entries (or a tree
under the destination) or one gobox error, within a time bound, and nothing is ever written outside.

Inputs: random bytes, plain and behind a gzip header; archives Python's tarfile wrote (GNU, pax, ustar), then
mutated, with their header checksums fixed so the mutations reach the fields behind them; pax headers of random
records; single headers with random field values. Every input that ever failed is kept as an @example.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import signal
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent.parent))
from support.tarbytes import END, FIELDS, header, member, pax, pax_record, tar, tarfile_bytes, with_checksum

from gobox.errors import GoboxError
from gobox.oci.layer import Limits, extract_layer, extract_tar
from gobox.oci.tarstream import (
    DIRECTORY,
    HARDLINK,
    REGULAR,
    SYMLINK,
    Decompressed,
    _checksum_ok,
    iter_tar,
    parse_pax,
)

BOUND = 10.0  # seconds for one example: only a hang gets near it
# A longer hunt: GOBOX_FUZZ_EXAMPLES=20000 (with a profile that is not derandomized, for new ground).
EXAMPLES = int(os.environ.get("GOBOX_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL = Limits(ratio=100, size=64 << 20, floor=4 << 20)  # so that no example can fill a disk


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise AssertionError(f"the tar reader ran for more than {BOUND} s on this input")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, BOUND)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def read(data: bytes) -> list | GoboxError:
    """Entries, or the gobox error; anything else (another exception, a hang) fails the test."""
    with bounded():
        stream = Decompressed(io.BytesIO(data), budget=SMALL.budget(len(data)))
        try:
            out = []
            for entry in iter_tar(stream):
                assert entry.size >= 0
                stream.copy_to(None, entry.size)
                out.append(entry)
            return out
        except GoboxError as e:
            assert e.message and "\n" not in e.message
            return e
        finally:
            stream.close()


# --- random bytes ------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4096))
@example(tar(pax(b"0 path=x\n"), member("f", b"x")))  # spun forever (pos += 0)
@example(tar(pax(pax_record(b"size", b"-1536")), member("f")))  # spun forever (copy_to of -1536)
@example(tar(pax(b"16path=abcdefgh\n"), member("f", b"x")))  # ValueError from bytes.index
@example(tar(pax(pax_record(b"\xff\xfe", b"v")), member("f", b"x")))  # UnicodeDecodeError
@example(header("././@LongLink", b"L", 6 << 30))  # a 6 GiB read into memory
def test_random_bytes(data: bytes) -> None:
    read(data)


@FUZZ
@given(st.binary(max_size=2048), st.booleans())
def test_random_bytes_behind_a_gzip_header(data: bytes, valid_header: bool) -> None:
    head = gzip.compress(b"")[:10] if valid_header else b"\x1f\x8b"
    read(head + data)


# --- mutated archives --------------------------------------------------------------------------------

NAME = st.lists(st.sampled_from(["a", "b", "go", "..", ".", "", "d" * 60, "é", "\udcff", "x y"]),
                min_size=1, max_size=6).map("/".join)


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    """An archive tarfile writes: files, directories, links (to anywhere), long and odd names, any format."""
    fmt = draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT]))
    members = []
    for _ in range(draw(st.integers(1, 6))):
        info = tarfile.TarInfo(("/" if draw(st.booleans()) and draw(st.booleans()) else "") + draw(NAME))
        info.type = draw(st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                                          tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE]))
        if info.issym() or info.islnk():
            info.linkname = ("/" if draw(st.booleans()) else "") + draw(NAME)
        data = draw(st.binary(max_size=700)) if info.isreg() else b""
        info.size = len(data)
        info.mode = draw(st.sampled_from([0o644, 0o755, 0o4755, 0o777]))
        members.append((info, data))
    try:
        return tarfile_bytes(members, fmt)
    except (ValueError, UnicodeError):  # a name that format cannot hold: write it as pax
        return tarfile_bytes(members, tarfile.PAX_FORMAT)


def fix_checksums(data: bytes, like: bytes) -> bytes:
    """Recompute the checksum of every block that was a header in `like`, so mutations get past it."""
    out = bytearray(data)
    for off in range(0, min(len(data), len(like)) - 511, 512):
        block = like[off:off + 512]
        if block.strip(b"\0") and _checksum_ok(block, _stored(block)):
            out[off:off + 512] = with_checksum(out[off:off + 512])
    return bytes(out)


def _stored(block: bytes) -> int:
    text = block[148:156].strip(b" \0")
    try:
        return int(text, 8)
    except ValueError:
        return -1


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(archives()))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["byte", "digit", "space", "nul", "high"]))
        data[pos] = {"byte": draw(st.integers(0, 255)), "digit": draw(st.sampled_from(b"0123456789")),
                     "space": 32, "nul": 0, "high": 0xFF}[how]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    original = bytes(data)
    return fix_checksums(bytes(data), original) if draw(st.booleans()) else bytes(data)


@FUZZ
@given(archives())
def test_what_tarfile_writes_reads_the_same_here(data: bytes) -> None:
    ours = read(data)
    assert isinstance(ours, list), ours
    kinds = {tarfile.REGTYPE: REGULAR, tarfile.DIRTYPE: DIRECTORY, tarfile.SYMTYPE: SYMLINK,
             tarfile.LNKTYPE: HARDLINK}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
        theirs = [(m.name.rstrip("/"), kinds.get(m.type, "other"), m.size if m.isreg() else 0, m.linkname)
                  for m in tf]
    # tarfile drops trailing slashes here and there; gobox's extractor ignores them everywhere.
    assert [(e.name.rstrip("/"), e.kind if e.kind in kinds.values() else "other", e.size, e.linkname)
            for e in ours] == theirs


@FUZZ
@given(mutated())
def test_mutated_archives(data: bytes) -> None:
    read(data)
    read(gzip.compress(data, compresslevel=1, mtime=0))


@FUZZ
@given(archives(), st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4), st.booleans(),
       st.integers(0, 64))
def test_mutated_gzip_streams(data: bytes, flips: list, concatenated: bool, trailer: int) -> None:
    gz = bytearray(gzip.compress(data, compresslevel=6, mtime=0))
    if concatenated:  # a second member, or zeros after the end (which gzip(1) skips)
        gz += gzip.compress(data[:700], mtime=0) if trailer % 2 else b"\0" * trailer
    for pos, value in flips:
        gz[pos % len(gz)] = value
    read(bytes(gz))


# --- pax records ------------------------------------------------------------------------------------

KEYS = st.sampled_from([b"path", b"linkpath", b"size", b"mtime", b"uname", b"GNU.sparse.size", b"SCHILY.xattr.a",
                        b"", b"=", b"\xff", b"a b"]) | st.binary(max_size=12)
VALUES = st.sampled_from([b"", b"x", b"0", b"-1536", b"1e3", b"99999999999999999999999", b"a\0b", b"\xc3\xa9",
                          b"d/e", b"../up", b"/abs"]) | st.binary(max_size=24) | st.integers(1, 6000).map(
    lambda n: b"7" * n)


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes, bool]:
    """Pax records, each either well-formed or with a length that lies; and whether all were well-formed."""
    out, honest = b"", True
    for _ in range(draw(st.integers(0, 5))):
        key, value = draw(KEYS), draw(VALUES)
        record = pax_record(key, value)
        if draw(st.integers(0, 3)) == 0:
            honest = False
            lie = draw(st.sampled_from([b"0", b"-1", b"1", b"", b"+5", b" 5", b"00", b"999999"]) |
                       st.integers(0, 300).map(lambda n: str(n).encode()))
            record = lie + record[record.index(b" "):]
        out += record
    return out, honest


@FUZZ
@given(records(), st.sampled_from([b"x", b"g"]))
@example((b"0 path=x\n", False), b"x")
@example((pax_record(b"size", b"-1536"), True), b"x")
@example((b"16path=abcdefgh\n", False), b"x")
@example((pax_record(b"\xff\xfe", b"v"), True), b"x")
@example((pax_record(b"size", b"9" * 5000), True), b"x")  # ValueError: int() of more than 4300 digits
def test_random_pax_records(recs: tuple[bytes, bool], flag: bytes) -> None:
    body, honest = recs
    got = read(tar(pax(body, typeflag=flag), member("f", b"data")))
    with bounded():
        try:
            parsed = parse_pax(body)
        except GoboxError:
            assert isinstance(got, GoboxError)
            return
    if not isinstance(got, GoboxError) and flag == b"x":
        assert got[-1].name == parsed.get("path", "f")
    if honest and isinstance(got, list):
        assert len(got) == 1


# --- header fields ----------------------------------------------------------------------------------


def field(name: str) -> st.SearchStrategy[bytes]:
    width = FIELDS[name][1]
    octal = st.integers(0, 8 ** (width - 1) - 1).map(lambda n: b"%0*o\0" % (width - 1, n))
    base256 = st.integers(-(1 << (8 * width - 2)), (1 << (8 * width - 2)) - 1).map(
        lambda n: (n if n >= 0 else n + (1 << (8 * width))).to_bytes(width, "big")).map(
        lambda b: bytes([b[0] | 0x80]) + b[1:])
    spaced = st.integers(0, 4095).map(lambda n: (b" %o " % n).ljust(width, b"\0")[:width])
    return st.one_of(octal, base256, spaced, st.binary(min_size=width, max_size=width),
                     st.just(b"\0" * width), st.just(b" " * width))


@FUZZ
@given(st.fixed_dictionaries({"size": field("size"), "mode": field("mode"), "mtime": field("mtime"),
                              "uid": field("uid"), "devmajor": field("devmajor"),
                              "typeflag": st.sampled_from(list(b"0125LKxg7\0SVDM")).map(lambda c: bytes([c])) |
                              st.binary(min_size=1, max_size=1),
                              "magic": st.sampled_from([b"ustar\0", b"ustar ", b"\0" * 6]),
                              "prefix": st.sampled_from([b"", b"p", b"../..", b"/abs"])}),
       st.binary(max_size=1500), st.booleans())
def test_headers_with_random_fields(fields: dict, body: bytes, good_checksum: bool) -> None:
    block = bytearray(header("name"))
    for name, value in fields.items():
        off, width = FIELDS[name]
        block[off:off + width] = value.ljust(width, b"\0")[:width]
    read((with_checksum(block) if good_checksum else bytes(block)) + body + END)


# --- extraction -------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=max(1, EXAMPLES // 3))
@given(st.one_of(archives(), mutated()), st.booleans())
def test_extraction_writes_beneath_its_root_or_refuses(data: bytes, as_layer: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="gobox-fuzz-") as tmp:
        root = Path(tmp)
        (root / "host").mkdir()
        dest = root / "a" / "dest"
        dest.mkdir(parents=True)
        with bounded():
            try:
                if as_layer:
                    extract_layer(io.BytesIO(gzip.compress(data, 1, mtime=0)), dest, limits=SMALL)
                else:
                    extract_tar(io.BytesIO(data), dest, limits=SMALL)
            except GoboxError as e:
                assert e.message and "\n" not in e.message
        outside = {str(p.relative_to(root)) for p in root.rglob("*") if dest not in p.parents}
        assert outside == {"host", "a", "a/dest"}
        for p in dest.rglob("*"):
            assert os.path.realpath(p.parent).startswith(str(dest)), p
