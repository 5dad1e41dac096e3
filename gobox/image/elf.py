"""What a Linux binary's ELF header says: the architecture it runs on, and whether it needs a dynamic loader."""

from __future__ import annotations

import struct
from pathlib import Path

from gobox.values import dataclass

PT_INTERP = 3
MAX_PHNUM = 256  # far more program headers than a real binary has: a corrupt count cannot make us read forever

# e_machine to GOARCH; 64-bit PowerPC is ppc64 or ppc64le by byte order.
_MACHINES = {3: "386", 62: "amd64", 40: "arm", 183: "arm64", 243: "riscv64", 22: "s390x", 258: "loong64"}
_MIPS, _PPC64 = 8, 21


@dataclass(frozen=True)
class Elf:
    arch: str  # GOARCH spelling, or "machine N" when unknown
    interpreter: str  # PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2; "" for a static binary


def read_elf(path: Path) -> Elf:
    """The header of an ELF executable; ValueError when it is not one."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ValueError("not an ELF executable")
        is64, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        head = f.read(48 if is64 else 36)
        if len(head) < (48 if is64 else 36):
            raise ValueError("ELF header cut short")
        machine = struct.unpack_from(f"{order}H", head, 2)[0]
        if is64:
            phoff = struct.unpack_from(f"{order}Q", head, 16)[0]
            phentsize, phnum = struct.unpack_from(f"{order}HH", head, 38)
        else:
            phoff = struct.unpack_from(f"{order}I", head, 12)[0]
            phentsize, phnum = struct.unpack_from(f"{order}HH", head, 26)
        interpreter = ""
        for i in range(min(phnum, MAX_PHNUM)):
            f.seek(phoff + i * phentsize)
            ph = f.read(phentsize)
            if len(ph) < (56 if is64 else 32):
                raise ValueError("ELF program header cut short")
            if struct.unpack_from(f"{order}I", ph, 0)[0] != PT_INTERP:
                continue
            if is64:
                offset, size = struct.unpack_from(f"{order}Q", ph, 8)[0], struct.unpack_from(f"{order}Q", ph, 32)[0]
            else:
                offset, size = struct.unpack_from(f"{order}I", ph, 4)[0], struct.unpack_from(f"{order}I", ph, 16)[0]
            f.seek(offset)
            interpreter = f.read(min(size, 4096)).split(b"\0", 1)[0].decode(errors="replace") or "?"
    return Elf(_arch(machine, is64, order == "<"), interpreter)


def _arch(machine: int, is64: bool, little: bool) -> str:
    if machine == _PPC64:
        return "ppc64le" if little else "ppc64"
    if machine == _MIPS:
        return ("mips64" if is64 else "mips") + ("le" if little else "")
    return _MACHINES.get(machine, f"machine {machine}")
