"""Go toolchains: versions, sources, the installed set, and resolution for a project."""

from __future__ import annotations

import os

_MACHINE_TO_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "i386": "386", "i686": "386", "armv6l": "arm", "armv7l": "arm", "ppc64le": "ppc64le",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64",
}


def host_platform() -> str:
    """This machine as GOOS/GOARCH, e.g. "linux/amd64" (os.uname: the platform module is slow to import)."""
    u = os.uname()
    machine = u.machine.lower()
    return f"{u.sysname.lower()}/{_MACHINE_TO_GOARCH.get(machine, machine)}"
