"""A layer's compressed bytes do not depend on the CPU: gobox's gzip writer gives one digest on every feature path.

zlib-ng picks its deflate kernels at run time from the CPU's features
(SSE2, SSSE3, SSE4.2, PCLMUL, AVX2, AVX-512...). qemu-user emulates x86-64
CPUs with fewer of them, so the same interpreter and wheel run here with
SSE2 only (`qemu64`), with AVX2 (`Haswell`) and natively. A zlib-ng whose
kernels disagreed would make an image's digest depend on the machine that
wrote it: zlib-ng 2.0.7, for one, gave other bytes under qemu64 than on SSE4.2
CPUs, which is why the pin is exact.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from support.requires import REPO, requires_tool

pytestmark = [requires_tool("qemu-x86_64"),
              pytest.mark.skipif(platform.machine() != "x86_64", reason="emulates x86-64 CPUs for an x86-64 Python")]

# Writes of odd sizes, so the fixed blocks are what the compressor sees, as in a layer.
SCRIPT = """
import hashlib, sys
from gobox.oci.gzipfixed import FixedGzip
data = open(sys.argv[1], "rb").read()
class Sink:
    sha = hashlib.sha256()
    def write(self, b):
        self.sha.update(b)
        return len(b)
out = Sink()
with FixedGzip(out) as gz:
    for at in range(0, len(data), 10_007):
        gz.write(data[at:at + 10_007])
print(out.sha.hexdigest())
"""


def sample() -> bytes:
    """~300 KB of noise, text and a binary's kind of bytes: enough for every kernel (match finding, hashing, CRC)."""
    noise = hashlib.shake_256(b"cpus noise").digest(60_000)
    text = b"".join(b"%06d the same line with a counter, func main() { return nil }\n" % i for i in range(2_000))
    code = bytes((b & 0x1F) if i % 3 else 0x48 for i, b in enumerate(hashlib.shake_256(b"cpus code").digest(100_000)))
    return noise + text + b"\0" * 20_000 + code


def digest(prefix: list[str], sample_file: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([*prefix, sys.executable, "-c", SCRIPT, str(sample_file)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_the_same_bytes_with_sse2_only_with_avx2_and_natively(tmp_path: Path) -> None:
    sample_file = tmp_path / "sample"
    sample_file.write_bytes(sample())
    native = digest([], sample_file)
    assert len(native) == 64
    assert {cpu: digest(["qemu-x86_64", "-cpu", cpu], sample_file) for cpu in ("qemu64", "Haswell")} == {
        "qemu64": native, "Haswell": native}
