"""C compilers for cgo builds per target: [cross.cc], zig from PyPI's ziglang, and why none fits."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from gobox.errors import ConfigError
from gobox.names.targets import Target
from gobox.values import dataclass

ZIG_MOUNT = "/gobox/zig"  # where zig's directory (the binary and its lib/) appears in the sandbox
ZIG_CACHE = "/gobox/cache/zig"
INSTALL_ZIG = "pip install ziglang (into gobox's own environment), or put zig on PATH"
# In zig's cache, one empty file per zig target whose C library a build here has made: zig builds musl or
# mingw-w64 from source the first time a target links, minutes of quiet work that users should be told about.
LIBC_BUILT = "gobox-libc-built"
# Where a compiler named in [cross.cc] must be found for base = "host": the host's /usr, lent read-only.
HOST_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


# zig cc -target triples for Go targets
_ZIG_LINUX_ARCH = {
    "amd64": "x86_64", "arm64": "aarch64", "386": "x86", "riscv64": "riscv64", "ppc64le": "powerpc64le",
    "s390x": "s390x", "loong64": "loongarch64", "mips64le": "mips64el", "mipsle": "mipsel", "mips": "mips",
}  # fmt: skip
_ZIG_OTHER = {
    ("windows", "amd64"): "x86_64-windows-gnu",
    ("windows", "arm64"): "aarch64-windows-gnu",
    ("windows", "386"): "x86-windows-gnu",
    ("darwin", "amd64"): "x86_64-macos",
    ("darwin", "arm64"): "aarch64-macos",
}


def zig_target(target: Target) -> str | None:
    """The `zig cc -target` triple for cgo builds of `target`, or None where zig ships no libc for it."""
    if target.goos == "linux":
        if target.goarch == "arm":
            # GOARM=5 means a soft-float ABI; v6 and v7 use hard-float registers.
            return "arm-linux-musleabi" if target.variant == "v5" else "arm-linux-musleabihf"
        arch = _ZIG_LINUX_ARCH.get(target.goarch)
        return f"{arch}-linux-musl" if arch else None
    return _ZIG_OTHER.get((target.goos, target.goarch))


@dataclass(frozen=True)
class Compiler:
    """The C compiler one target builds with: CC and CXX as the sandbox sees them."""

    cc: str
    cxx: str | None = None
    zig_dir: str | None = None  # host directory to lend at ZIG_MOUNT, when the compiler is zig

    def env(self) -> tuple[tuple[str, str], ...]:
        pairs = [("CC", self.cc)]
        if self.cxx:
            pairs.append(("CXX", self.cxx))
        if self.zig_dir:
            # zig compiles libc for each target once; a cache in the store keeps that work.
            pairs += [("ZIG_GLOBAL_CACHE_DIR", ZIG_CACHE), ("ZIG_LOCAL_CACHE_DIR", ZIG_CACHE)]
        return tuple(pairs)


def find_zig() -> Path | None:
    """The directory holding zig and its lib/: the ziglang package first, then zig on PATH."""
    spec = importlib.util.find_spec("ziglang")
    if spec is not None and spec.submodule_search_locations:
        d = Path(next(iter(spec.submodule_search_locations)))
        if (d / "zig").is_file():
            return d
    found = shutil.which("zig")
    if found:
        return Path(os.path.realpath(found)).parent
    return None


def configured(table: Mapping[str, str], target: Target) -> str | None:
    """The [cross.cc] entry for a target: exact, then without the variant, then "*"."""
    for key in (str(target), f"{target.goos}/{target.goarch}", "*"):
        if key in table:
            return table[key]
    return None


def compiler_for(target: Target, host: Target, table: Mapping[str, str], base: str,
                 zig: Path | None) -> Compiler | None:
    """How `target` compiles C, or None for the root's own cc (the host target on base "host").

    Raises ConfigError, before anything is built, when a foreign target has no
    cross compiler or the one configured cannot run in the sandbox.
    """
    entry = configured(table, target)
    where = f'gobox.toml: cross.cc."{target}"'
    if entry is None:
        if (target.goos, target.goarch) == (host.goos, host.goarch):
            return None
        triple = zig_target(target)
        suggestion = f'[cross.cc] "{target}" = "zig"  ({INSTALL_ZIG})' if triple else \
            f'[cross.cc] "{target}" = "<a C cross compiler for {target}>" with [go].base = "host"'
        raise ConfigError(f"{target}: cgo is on, and there is no C cross compiler for {target}",
                          hint=f"configure one in gobox.toml: {suggestion}; or build with cgo off")
    words = entry.split()
    if not words:
        raise ConfigError(f"{where}: empty compiler")
    if words[0] == "zig":
        if zig is None:
            raise ConfigError(f"{where} = {entry!r}: zig is not installed", hint=INSTALL_ZIG)
        zig_bin = f"{ZIG_MOUNT}/zig"
        if len(words) == 1:
            triple = zig_target(target)
            if triple is None:
                raise ConfigError(f"{where}: zig has no C library for {target}",
                                  hint="give a full command, e.g. \"zig cc -target <triple>\", or another compiler")
            return Compiler(f"{zig_bin} cc -target {triple}", f"{zig_bin} c++ -target {triple}", str(zig))
        return Compiler(" ".join([zig_bin, *words[1:]]), None, str(zig))
    if base != "host":
        raise ConfigError(f"{where} = {entry!r}: [go].base = {base!r} has no programs but the toolchain",
                          hint='set [go].base = "host" to use the host\'s compilers, or use "zig"')
    if shutil.which(words[0], path=HOST_PATH) is None:
        raise ConfigError(f"{where} = {entry!r}: {words[0]} is not installed on this host",
                          hint=f"install it (e.g. apt-get install gcc-<triple>), or use \"zig\" ({INSTALL_ZIG})")
    return Compiler(entry)


def zig_libc(env: Iterable[tuple[str, str]]) -> str | None:
    """The zig target whose C library a build with this environment links ("native" without -target),
    or None when its CC is not gobox's zig."""
    words = dict(env).get("CC", "").split()
    if not words or words[0] != f"{ZIG_MOUNT}/zig":
        return None
    if "-target" in words[:-1]:
        return words[words.index("-target") + 1]
    return "native"


def _marker(cache: Path, triple: str) -> Path:
    return cache / LIBC_BUILT / triple.replace("/", "_")


def libc_built(cache: Path, triple: str) -> bool:
    """Whether a build here has had zig make `triple`'s C library (kept in `cache`, zig's global cache)."""
    return _marker(cache, triple).exists()


def mark_libc_built(cache: Path, triple: str) -> None:
    marker = _marker(cache, triple)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
