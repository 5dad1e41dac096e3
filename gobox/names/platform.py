"""One Platform type for image platforms, cross targets and the host: os/arch[/variant], as Go and OCI spell it."""

from __future__ import annotations

import os
import re

from gobox.errors import InvalidName
from gobox.values import dataclass

_PLATFORM = r"([^/()]+)(?:\(([^()/]+)\))?/([^/]+)(?:/([^/]+))?"  # compiled on first use (re caches it)

# The environment variable that selects each architecture's variant (a microarchitecture level or ABI).
ARCH_VARIABLE = {
    "arm": "GOARM", "amd64": "GOAMD64", "arm64": "GOARM64", "386": "GO386",
    "mips": "GOMIPS", "mipsle": "GOMIPS", "mips64": "GOMIPS64", "mips64le": "GOMIPS64",
    "ppc64": "GOPPC64", "ppc64le": "GOPPC64", "riscv64": "GORISCV64",
}  # fmt: skip

_MACHINE_TO_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "i386": "386", "i686": "386", "armv6l": "arm", "armv7l": "arm", "ppc64le": "ppc64le",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64",
}  # fmt: skip


@dataclass(frozen=True, order=True)
class Platform:
    """An os/architecture pair with an optional variant (v7, v3, power9) and, for Windows images, os.version.

    The same value is an image's platform (OCI's os, architecture, variant, os.version) and a cross
    target (GOOS, GOARCH and the variant Go's GOARM, GOAMD64... select).
    """

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/arm64/v8`, `linux/amd64` or `windows(10.0.20348.2340)/amd64`."""
        m = re.fullmatch(_PLATFORM, text.strip())
        if not m:
            raise InvalidName(f"bad platform {text!r}: expected os/arch[/variant], e.g. linux/arm64/v8")
        os_, os_version, arch, variant = m.groups()
        return cls(os=os_, architecture=arch, variant=variant or "", os_version=os_version or "")

    def __str__(self) -> str:
        os_ = f"{self.os}({self.os_version})" if self.os_version else self.os
        return "/".join(p for p in (os_, self.architecture, self.variant) if p)

    # ---- as Go names it ----

    @property
    def goos(self) -> str:
        return self.os

    @property
    def goarch(self) -> str:
        return self.architecture

    @property
    def variable(self) -> str | None:
        """The environment variable a variant of this architecture sets, e.g. GOARM."""
        return ARCH_VARIABLE.get(self.architecture)

    def env(self) -> tuple[tuple[str, str], ...]:
        pairs = [("GOOS", self.os), ("GOARCH", self.architecture)]
        variable = self.variable
        if self.variant and variable is not None:
            # GOARM is the only variable whose values are bare numbers.
            value = self.variant.removeprefix("v") if variable == "GOARM" else self.variant
            pairs.append((variable, value))
        return tuple(pairs)

    @property
    def exe_suffix(self) -> str:
        # go build names wasm output without a suffix, so only windows gets one.
        return ".exe" if self.os == "windows" else ""

    @property
    def dir_suffix(self) -> str:
        return f"_{self.variant}" if self.variant else ""

    # ---- as images name it ----

    def normalized(self) -> Platform:
        """The spelling containerd compares: arm64/v8 is arm64, bare arm is arm/v7, amd64/v1 is amd64."""
        os_ = self.os.lower()
        if os_ == "macos":
            os_ = "darwin"
        arch, variant = self.architecture.lower(), self.variant.lower()
        if arch == "i386":
            arch, variant = "386", ""
        elif arch in ("x86_64", "x86-64", "amd64"):
            arch = "amd64"
            if variant == "v1":
                variant = ""
        elif arch in ("aarch64", "arm64"):
            arch = "arm64"
            if variant in ("8", "v8", "v8.0"):
                variant = ""
            elif variant in ("9", "9.0", "v9.0"):
                variant = "v9"
        elif arch == "armhf":
            arch, variant = "arm", "v7"
        elif arch == "armel":
            arch, variant = "arm", "v6"
        elif arch == "arm":
            if variant in ("", "7"):
                variant = "v7"
            elif variant in ("5", "6", "8"):
                variant = "v" + variant
        return Platform(os_, arch, variant, self.os_version)

    def matches(self, other: Platform) -> bool:
        a, b = self.normalized(), other.normalized()
        # os.version only tells Windows builds apart; an unset one on either side is a wildcard.
        same_version = not a.os_version or not b.os_version or a.os_version == b.os_version
        return (a.os, a.architecture, a.variant) == (b.os, b.architecture, b.variant) and same_version


def host() -> Platform:
    """This machine as GOOS/GOARCH (os.uname: the platform module is slow to import)."""
    u = os.uname()
    machine = u.machine.lower()
    return Platform(u.sysname.lower(), _MACHINE_TO_GOARCH.get(machine, machine))


def host_platform() -> str:
    """This machine as a GOOS/GOARCH string, e.g. "linux/amd64": the key of its toolchains in the store."""
    return str(host())
