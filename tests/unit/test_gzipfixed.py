"""gobox's gzip writer: one input gives one sequence of bytes, however it is written, and any inflater reads it back.

The golden digest below is the contract: it changes only when the pinned
zlib-ng, the level, the block size or the header changes, and each of those
changes every image digest gobox writes. Update it deliberately, never to
make the test pass.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gobox.oci.gzipfixed import BLOCK, HEADER, FixedGzip, compress

# sha256 and size of compress(sample()): zlib-ng 2.3.3 (in the zlib-ng 1.1.0 wheel), level 4, 64 KiB blocks.
GOLDEN = "80bd30b96a5e212395be8be83ddc8df51883b64bfef8f9c3cb8e0e1939095739"
GOLDEN_SIZE = 736_264


def sample() -> bytes:
    """About 1.6 MB that exercises the compressor's paths: incompressible, text-like, repetitive, zeros.

    Built from SHAKE-256 and fixed strings, never from `random`, so it is the same bytes on any Python.
    """
    noise = hashlib.shake_256(b"gobox gzipfixed noise").digest(400_000)
    words = (b"func main package import return struct interface go defer select chan map string byte error nil "
             b"true false var const type range for if else switch case").split(b" ")
    seed = hashlib.shake_256(b"gobox gzipfixed text").digest(120_000)
    text = b" ".join(words[b % len(words)] + (b"\n" if b % 11 == 0 else b"") for b in seed)
    lines = b"".join(b"%08d: the same line, over and over, with a counter\n" % i for i in range(6_000))
    # A binary's kind of bytes: small integers and repeated instruction-like runs, mildly compressible.
    code = bytes((b & 0x1F) if i % 3 else 0x48 for i, b in enumerate(hashlib.shake_256(b"code").digest(300_000)))
    return b"".join([noise[:150_000], text, b"\0" * 200_000, lines, code, noise[150_000:], b"\xff" * 65_537])


def written(data: bytes, sizes: list[int], level: int | None = None) -> bytes:
    """`data` through FixedGzip in writes of the given sizes (cycled), as tar or a copy loop would write it."""
    out = io.BytesIO()
    gz = FixedGzip(out) if level is None else FixedGzip(out, level)
    view, at, i = memoryview(data), 0, 0
    while at < len(data):
        n = sizes[i % len(sizes)]
        gz.write(view[at:at + n])
        at, i = at + n, i + 1
    gz.close()
    return out.getvalue()


def random_splits(seed: int, top: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, top) for _ in range(1000)]


DATA = sample()
SPLITS = [[1 << 20], [1], [7], [4096], [BLOCK - 1], [BLOCK], [BLOCK + 1], [3 * BLOCK + 5, 10],
          random_splits(1, 200_000), random_splits(2, 3_000)]


def test_the_golden_digest() -> None:
    out = compress(DATA)
    assert gzip.decompress(out) == DATA
    assert out[:10] == HEADER  # no name, MTIME 0, XFL 0, OS 255: nothing of this machine
    assert (hashlib.sha256(out).hexdigest(), len(out)) == (GOLDEN, GOLDEN_SIZE)


@pytest.mark.parametrize("sizes", SPLITS[:8] + SPLITS[9:], ids=lambda s: str(s[0]) if len(s) == 1 else f"{len(s)}")
def test_any_write_sizes_give_the_same_bytes(sizes: list[int]) -> None:
    # Byte-at-a-time over 1.6 MB is slow in Python: the single-byte and 7-byte cases run over a prefix, which still
    # crosses several blocks.
    data = DATA[:300_000] if sizes[0] < 100 else DATA
    assert written(data, sizes) == compress(data)


@pytest.mark.parametrize("level", [1, 6])
def test_the_blocks_not_the_writes_decide_the_bytes_at_levels_that_depend_on_them(level: int) -> None:
    # zlib-ng's levels 1 and 6 (unlike 4, as far as we saw) give other bytes when the same input comes in other
    # pieces: the fixed blocks are what makes the writes' sizes not matter.
    outs = {written(DATA, sizes, level) for sizes in SPLITS[1:]}
    assert len(outs) == 1 and gzip.decompress(outs.pop()) == DATA


@settings(max_examples=40)
@given(st.binary(max_size=3 * BLOCK), st.lists(st.integers(1, 2 * BLOCK), min_size=1, max_size=8))
@example(b"", [1])
@example(b"x" * (2 * BLOCK), [BLOCK])
def test_any_input_round_trips_the_same_way_however_written(data: bytes, sizes: list[int]) -> None:
    out = written(data, sizes)
    assert out == compress(data) and gzip.decompress(out) == data
    assert int.from_bytes(out[-4:], "little") == len(data)


def test_a_closed_writer_takes_nothing_more() -> None:
    gz = FixedGzip(io.BytesIO())
    gz.close()
    gz.close()  # twice is once
    with pytest.raises(ValueError, match="closed"):
        gz.write(b"x")
