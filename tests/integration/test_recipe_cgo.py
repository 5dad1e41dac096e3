"""recipes/cgo: C called from Go, built against the host's glibc with gcc and cross-compiled with zig."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from support.binfmt import Format, identify
from support.mirror import Mirror
from support.requires import requires_tool
from support.runner import REPO, Gobox, Result, cache_dir, gobox_env

from gobox.cross.cgo import LIBC_BUILT

# The sandbox needs Linux, and the host base needs gcc.
pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux"),
              requires_tool("gcc")]

needs_zig = pytest.mark.skipif(importlib.util.find_spec("ziglang") is None,
                               reason="needs zig from PyPI (pip install ziglang; .ci/run installs it)")

HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
# What main.go prints after C's qsort has sorted {3, 1, 4, 1, 5, 9, 2, 6} in place.
SORTED = "[1 1 2 3 4 5 6 9]"
# Dead ports: the lock and the stocked store must be enough, so any fetch fails loudly.
NO_SOURCES = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}
PT_INTERP = 3


def interpreter(path: Path) -> str | None:
    """The dynamic loader a 64-bit little-endian ELF asks for (PT_INTERP), or None when it is static."""
    data = path.read_bytes()
    phoff, phentsize, phnum = struct.unpack_from("<Q14xHH", data, 32)
    for i in range(phnum):
        p_type, p_offset, p_filesz = struct.unpack_from("<I4xQ16xQ", data, phoff + i * phentsize)
        if p_type == PT_INTERP:
            return data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
    return None


def copy_recipe(dest: Path) -> Path:
    return shutil.copytree(REPO / "recipes" / "cgo", dest, ignore=shutil.ignore_patterns("dist"))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory, stocked_home: Path, mirror: Mirror) -> tuple[Gobox, Path]:
    """One copy of the recipe that the build and the cross-compile share, so each compiles once."""
    return (Gobox({**gobox_env(stocked_home, mirror), **NO_SOURCES}, stocked_home),
            copy_recipe(tmp_path_factory.mktemp("recipe") / "cgo"))


@pytest.fixture(scope="module")
def native(recipe: tuple[Gobox, Path]) -> tuple[Result, Path, str]:
    gobox, root = recipe
    lock = (root / "gobox.lock").read_text()
    return gobox("-C", str(root), "build", "--locked", timeout=600), root, lock


@pytest.fixture(scope="module")
def crossed(recipe: tuple[Gobox, Path], native: tuple[Result, Path, str]) -> Result:
    gobox, root = recipe
    # zig builds musl and mingw for each target once; keep that between test runs, as test_cross does.
    zig_cache = cache_dir() / "zig"
    zig_cache.mkdir(parents=True, exist_ok=True)
    link = gobox.home / "cache" / "zig"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(zig_cache, link)
    # As on a machine where zig has never built these C libraries, whatever this cache holds: gobox says so.
    shutil.rmtree(zig_cache / LIBC_BUILT, ignore_errors=True)
    # After the native build (fixture order), so the two do not contend for the cores.
    return gobox("-C", str(root), "cross", "--cgo", "--locked", timeout=1200)


def test_build_runs_c_linked_against_the_host_glibc(native: tuple[Result, Path, str]) -> None:
    r, root, lock = native
    assert r.code == 0, r.err
    binary = root / "dist" / "cgo"
    ran = subprocess.run([binary], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    # The version glibc reports at run time, through the header only glibc has: the host's own.
    assert ran.stdout == (f"C's qsort on linux/{HOST_ARCH}: {SORTED}\n"
                          f"libc: {os.confstr('CS_GNU_LIBC_VERSION')}\n")
    assert identify(binary).arch == HOST_ARCH
    loader = interpreter(binary)
    assert loader is not None and Path(loader).exists(), loader
    assert (root / "gobox.lock").read_text() == lock


@needs_zig
def test_cross_with_zig_gives_each_target_its_c_library(recipe: tuple[Gobox, Path], crossed: Result) -> None:
    _, root = recipe
    assert crossed.code == 0, crossed.err
    dist = root / "dist"
    arm = dist / "cgo_linux_arm64" / "cgo"
    win = dist / "cgo_windows_amd64" / "cgo.exe"
    assert identify(arm) == Format("elf", "arm64", 64, "sysv")
    assert identify(win) == Format("pe", "amd64", 64)
    # zig links musl statically: nothing to load on the target.
    assert interpreter(arm) is None
    # The preamble's #if chose each target's own branch (musl's is checked by running it, below).
    assert b"glibc %s" not in arm.read_bytes()
    assert b"mingw-w64 %d.%d" in win.read_bytes()
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(r.stdout.splitlines()) == ["cgo_linux_arm64/cgo: OK", "cgo_windows_amd64/cgo.exe: OK"]
    # The minutes zig spends on each target's C library the first time are announced, not silent.
    for target, triple in (("linux/arm64", "aarch64-linux-musl"), ("windows/amd64", "x86_64-windows-gnu")):
        assert (f"gobox: {target}: zig builds the C library for {triple} first; the first cgo build of a "
                "target takes minutes") in crossed.err, crossed.err
        assert (recipe[0].home / "cache" / "zig" / LIBC_BUILT / triple).exists()  # and only the first time


@needs_zig
def test_the_arm64_binary_runs_under_qemu(recipe: tuple[Gobox, Path], crossed: Result) -> None:
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if qemu is None:
        pytest.skip("needs qemu-user (apt-get install qemu-user) to run an arm64 binary here")
    assert crossed.code == 0, crossed.err
    ran = subprocess.run([qemu, recipe[1] / "dist" / "cgo_linux_arm64" / "cgo"], capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"C's qsort on linux/arm64: {SORTED}\nlibc: musl\n"


def test_cgo_for_a_target_without_a_cross_compiler_is_refused(stocked: Gobox, tmp_path: Path) -> None:
    # linux/arm64 has its zig; linux/riscv64 has no [cross.cc] entry, and neither builds.
    root = copy_recipe(tmp_path / "cgo")
    r = stocked("-C", str(root), "cross", "--cgo", "--locked", "linux/arm64", "linux/riscv64", env=NO_SOURCES)
    assert r.code == 2, r.err
    assert "linux/riscv64: cgo is on, and there is no C cross compiler for linux/riscv64" in r.err
    assert '[cross.cc] "linux/riscv64" = "zig"' in r.err
    assert not (root / "dist").exists()
