"""Which OS family and architecture an executable was built for, read from its header bytes (a test helper)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class Format:
    """What an executable header says about the target it was built for."""

    kind: str  # "elf", "macho" or "pe"
    arch: str  # GOARCH spelling: "amd64", "arm64", "arm", "386", "riscv64", "ppc64le", "s390x", ...
    bits: int  # 32 or 64
    osabi: str = ""  # ELF only: "freebsd", "linux", "sysv", ... from EI_OSABI or a FreeBSD ABI note


_ELF_OSABI = {0: "sysv", 2: "netbsd", 3: "linux", 6: "solaris", 9: "freebsd", 12: "openbsd"}
_ELF_FREEBSD = 9
_PT_NOTE = 4
_NT_FREEBSD_ABI_TAG = 1
# Far more program headers than any real binary has; a bound so a corrupt e_phnum cannot make us read forever.
_MAX_PHNUM = 256

_MACHO_ABI64 = 0x01000000
_MACHO_CPU = {7: "386", 12: "arm", _MACHO_ABI64 | 7: "amd64", _MACHO_ABI64 | 12: "arm64", _MACHO_ABI64 | 18: "ppc64"}

_PE_MACHINE = {0x14C: "386", 0x8664: "amd64", 0x1C4: "arm", 0xAA64: "arm64"}
_PE_OPT_MAGIC = {0x10B: 32, 0x20B: 64}


def identify(path: Path) -> Format:
    """The format of the executable at path; ValueError if it is none we know or is cut short."""
    with open(path, "rb") as f:
        magic = f.read(4)
        if magic == b"\x7fELF":
            return _elf(f)
        if magic in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce"):
            return _macho(f, magic)
        if magic[:2] == b"MZ":
            return _pe(f)
    raise ValueError(f"not an executable format we know: {magic.hex()}")


def _read(f: BinaryIO, offset: int, size: int, what: str) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise ValueError(f"truncated {what}: wanted {size} bytes at offset {offset}, got {len(data)}")
    return data


def _elf_arch(machine: int, bits: int, little: bool) -> str:
    if machine == 3:
        return "386"
    if machine == 62:
        return "amd64"
    if machine == 40:
        return "arm"
    if machine == 183:
        return "arm64"
    if machine == 243:
        return "riscv64" if bits == 64 else "riscv"
    if machine == 21:
        return "ppc64le" if little else "ppc64"
    if machine == 22:
        return "s390x"
    if machine == 8:
        return ("mips64" if bits == 64 else "mips") + ("le" if little else "")
    if machine == 258:
        return "loong64"
    raise ValueError(f"ELF machine {machine} is not one Go targets")


def _elf(f: BinaryIO) -> Format:
    ident = _read(f, 0, 16, "ELF identification")
    bits = {1: 32, 2: 64}.get(ident[4])
    if bits is None:
        raise ValueError(f"ELF class {ident[4]} is neither 32- nor 64-bit")
    if ident[5] not in (1, 2):
        raise ValueError(f"ELF data encoding {ident[5]} is neither little- nor big-endian")
    little = ident[5] == 1
    end = "<" if little else ">"
    (machine,) = struct.unpack(end + "H", _read(f, 18, 2, "ELF header"))
    arch = _elf_arch(machine, bits, little)
    osabi = ident[7]
    # Go marks its freebsd binaries in EI_OSABI; other linkers often leave it 0 and carry a FreeBSD ABI note, so a
    # sysv binary gets a second look before it is called that.
    if osabi == _ELF_FREEBSD or (osabi == 0 and _has_freebsd_note(f, bits, end)):
        name = "freebsd"
    else:
        name = _ELF_OSABI.get(osabi, f"osabi-{osabi}")
    return Format("elf", arch, bits, name)


def _has_freebsd_note(f: BinaryIO, bits: int, end: str) -> bool:
    if bits == 64:
        phoff, phentsize, phnum = struct.unpack(end + "Q14xHH", _read(f, 32, 26, "ELF header"))
        ph_fmt = end + "I4xQ16xQ"  # p_type, p_offset, p_filesz
    else:
        phoff, phentsize, phnum = struct.unpack(end + "I10xHH", _read(f, 28, 18, "ELF header"))
        ph_fmt = end + "II8xI"
    ph_size = struct.calcsize(ph_fmt)
    if phentsize < ph_size:
        return False
    for i in range(min(phnum, _MAX_PHNUM)):
        p_type, p_offset, p_filesz = struct.unpack(ph_fmt, _read(f, phoff + i * phentsize, ph_size, "program header"))
        if p_type == _PT_NOTE and _notes_have_freebsd(_read(f, p_offset, p_filesz, "note segment"), end):
            return True
    return False


def _notes_have_freebsd(notes: bytes, end: str) -> bool:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, ntype = struct.unpack_from(end + "III", notes, pos)
        pos += 12
        name = notes[pos:pos + namesz].rstrip(b"\0")
        pos += (namesz + 3) & ~3
        pos += (descsz + 3) & ~3
        if name == b"FreeBSD" and ntype == _NT_FREEBSD_ABI_TAG:
            return True
    return False


def _macho(f: BinaryIO, magic: bytes) -> Format:
    end = "<" if magic[0] in (0xCF, 0xCE) else ">"
    bits = 64 if 0xCF in (magic[0], magic[3]) else 32
    (cputype,) = struct.unpack(end + "I", _read(f, 4, 4, "Mach-O header"))
    if cputype not in _MACHO_CPU:
        raise ValueError(f"Mach-O cputype {cputype:#x} is not one Go targets")
    return Format("macho", _MACHO_CPU[cputype], bits)


def _pe(f: BinaryIO) -> Format:
    (lfanew,) = struct.unpack("<I", _read(f, 0x3C, 4, "MS-DOS header"))
    if _read(f, lfanew, 4, "PE signature") != b"PE\0\0":
        raise ValueError("an MS-DOS executable without a PE header")
    machine, opt_size = struct.unpack("<H14xH", _read(f, lfanew + 4, 18, "COFF header"))
    if machine not in _PE_MACHINE:
        raise ValueError(f"PE machine {machine:#x} is not one Go targets")
    if opt_size < 2:
        raise ValueError("a COFF object without an optional header is not an executable")
    (opt_magic,) = struct.unpack("<H", _read(f, lfanew + 24, 2, "PE optional header"))
    if opt_magic not in _PE_OPT_MAGIC:
        raise ValueError(f"PE optional header magic {opt_magic:#x} is neither PE32 nor PE32+")
    return Format("pe", _PE_MACHINE[machine], _PE_OPT_MAGIC[opt_magic])
