"""The header reader the cross-compile tests use: synthetic headers of each kind, broken files, one real binary."""

from __future__ import annotations

import platform
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
from support.binfmt import Format, identify

ELF_MACHINE = {"386": 3, "amd64": 62, "arm": 40, "arm64": 183, "riscv64": 243, "ppc64": 21, "s390x": 22,
               "mips": 8, "loong64": 258}


def elf(machine: int, bits: int = 64, little: bool = True, osabi: int = 0, notes: bytes = b"") -> bytes:
    """An ELF header, plus one PT_NOTE program header holding notes when there are any."""
    end = "<" if little else ">"
    ident = b"\x7fELF" + bytes([bits // 32, 1 if little else 2, 1, osabi]) + bytes(8)
    if bits == 64:
        ehsize, phentsize = 64, 56
        phdr = struct.pack(end + "IIQQQQQQ", 4, 4, ehsize + phentsize, 0, 0, len(notes), len(notes), 4)
        header = struct.pack(end + "HHIQQQIHHHHHH", 2, machine, 1, 0x401000, ehsize if notes else 0, 0, 0,
                             ehsize, phentsize, 1 if notes else 0, 64, 0, 0)
    else:
        ehsize, phentsize = 52, 32
        phdr = struct.pack(end + "IIIIIIII", 4, ehsize + phentsize, 0, 0, len(notes), len(notes), 4, 4)
        header = struct.pack(end + "HHIIIIIHHHHHH", 2, machine, 1, 0x8000, ehsize if notes else 0, 0, 0,
                             ehsize, phentsize, 1 if notes else 0, 40, 0, 0)
    out = ident + header
    assert len(out) == ehsize
    return out + (phdr + notes if notes else b"")


def note(name: bytes, ntype: int, desc: bytes, end: str = "<") -> bytes:
    def pad(b: bytes) -> bytes:
        return b + bytes(-len(b) % 4)
    return struct.pack(end + "III", len(name) + 1, len(desc), ntype) + pad(name + b"\0") + pad(desc)


def macho(cputype: int, bits: int = 64) -> bytes:
    magic = 0xFEEDFACF if bits == 64 else 0xFEEDFACE
    # magic, cputype, cpusubtype, filetype (MH_EXECUTE), ncmds, sizeofcmds, flags, and reserved on 64-bit
    return struct.pack("<IIIIIII", magic, cputype, 3, 2, 0, 0, 0) + (bytes(4) if bits == 64 else b"")


def pe(machine: int, opt_magic: int) -> bytes:
    lfanew = 0x80
    dos = b"MZ" + bytes(0x3C - 2) + struct.pack("<I", lfanew)
    dos += bytes(lfanew - len(dos))
    opt = struct.pack("<H", opt_magic) + bytes(0xF0 - 2 if opt_magic == 0x20B else 0xE0 - 2)
    coff = struct.pack("<HHIIIHH", machine, 0, 0, 0, 0, len(opt), 0x22)
    return dos + b"PE\0\0" + coff + opt


# Writes the bytes to a file under tmp_path (named `name`, default "bin") and gives its path.
Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def write(data: bytes, name: str = "bin") -> Path:
        p = tmp_path / name
        p.write_bytes(data)
        return p
    return write


def test_elf64_with_freebsd_osabi(write: Write) -> None:
    assert identify(write(elf(62, osabi=9))) == Format("elf", "amd64", 64, "freebsd")


def test_elf_freebsd_abi_note_counts_as_freebsd(write: Write) -> None:
    notes = note(b"Go", 4, b"buildid") + note(b"FreeBSD", 1, struct.pack("<I", 1300139))
    assert identify(write(elf(183, notes=notes))) == Format("elf", "arm64", 64, "freebsd")


def test_elf_other_notes_leave_sysv(write: Write) -> None:
    assert identify(write(elf(62, notes=note(b"GNU", 1, bytes(16))))).osabi == "sysv"


@pytest.mark.parametrize(("osabi", "name"), [(0, "sysv"), (3, "linux"), (9, "freebsd")])
def test_elf_osabi_names(write: Write, osabi: int, name: str) -> None:
    assert identify(write(elf(62, osabi=osabi))).osabi == name


def test_elf32_arm(write: Write) -> None:
    assert identify(write(elf(40, bits=32))) == Format("elf", "arm", 32, "sysv")


@pytest.mark.parametrize(("arch", "bits", "little"), [
    ("386", 32, True), ("amd64", 64, True), ("arm64", 64, True), ("riscv64", 64, True),
    ("ppc64le", 64, True), ("ppc64", 64, False), ("s390x", 64, False), ("loong64", 64, True),
    ("mips", 32, False), ("mipsle", 32, True), ("mips64", 64, False), ("mips64le", 64, True),
])
def test_elf_architectures(write: Write, arch: str, bits: int, little: bool) -> None:
    machine = ELF_MACHINE[arch.removesuffix("le").replace("mips64", "mips")]
    assert identify(write(elf(machine, bits=bits, little=little))) == Format("elf", arch, bits, "sysv")


def test_big_endian_elf_note_is_read_big_endian(write: Write) -> None:
    notes = note(b"FreeBSD", 1, struct.pack(">I", 1300139), end=">")
    assert identify(write(elf(22, little=False, notes=notes))).osabi == "freebsd"


@pytest.mark.parametrize(("cputype", "bits", "arch"), [
    (0x01000007, 64, "amd64"), (0x0100000C, 64, "arm64"), (7, 32, "386"), (12, 32, "arm"),
])
def test_macho(write: Write, cputype: int, bits: int, arch: str) -> None:
    assert identify(write(macho(cputype, bits))) == Format("macho", arch, bits)


def test_macho_magic_on_disk_is_little_endian(write: Write) -> None:
    assert macho(0x0100000C)[:4] == b"\xcf\xfa\xed\xfe"


@pytest.mark.parametrize(("machine", "opt_magic", "arch", "bits"), [
    (0x8664, 0x20B, "amd64", 64), (0xAA64, 0x20B, "arm64", 64), (0x14C, 0x10B, "386", 32), (0x1C4, 0x10B, "arm", 32),
])
def test_pe(write: Write, machine: int, opt_magic: int, arch: str, bits: int) -> None:
    assert identify(write(pe(machine, opt_magic))) == Format("pe", arch, bits)


@pytest.mark.parametrize("data", [
    elf(62)[:10], elf(62)[:19], elf(62, notes=note(b"FreeBSD", 1, bytes(4)))[:100],
    macho(0x01000007)[:6], pe(0x8664, 0x20B)[:0x3E], pe(0x8664, 0x20B)[:0x86], pe(0x8664, 0x20B)[:0x99],
], ids=["elf-ident", "elf-machine", "elf-phdr", "macho", "pe-lfanew", "pe-coff", "pe-optional"])
def test_truncated_headers_are_refused(write: Write, data: bytes) -> None:
    with pytest.raises(ValueError, match="truncated"):
        identify(write(data))


def test_text_file_is_refused_with_its_first_bytes(write: Write) -> None:
    with pytest.raises(ValueError, match="not an executable format we know: 23212f62"):
        identify(write(b"#!/bin/sh\necho hi\n"))


def test_empty_file_is_refused(write: Write) -> None:
    with pytest.raises(ValueError, match="not an executable format we know"):
        identify(write(b""))


def test_dos_stub_without_pe_header_is_refused(write: Write) -> None:
    data = bytearray(pe(0x8664, 0x20B))
    data[0x80:0x84] = b"NE\0\0"
    with pytest.raises(ValueError, match="without a PE header"):
        identify(write(bytes(data)))


def test_unknown_elf_machine_is_refused(write: Write) -> None:
    with pytest.raises(ValueError, match="ELF machine 2 "):
        identify(write(elf(2)))


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64", reason="needs a linux x86-64 host")
def test_real_binary_the_running_python() -> None:
    fmt = identify(Path(sys.executable).resolve())
    assert (fmt.kind, fmt.arch, fmt.bits) == ("elf", "amd64", 64)
    assert fmt.osabi in ("sysv", "linux")
