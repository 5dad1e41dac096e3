"""The default seccomp profile: its rules mean what Docker's profile means (property-tested on values), and the
program libseccomp makes of them, loaded in a real child, gives the kernel the same answers."""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gobox import libc
from gobox.errors import SandboxError
from gobox.sandbox import seccomp

RULES = seccomp.default_rules()
NS_FLAGS = 0x7E020000  # Docker's mask: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
ALLOWED_PERSONAS = {0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF}
u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


@given(u64)
@example(0x1_0000_5412)  # TIOCSTI with garbage in the upper half (CVE-2019-10063)
@example(0x5412)
@example(0x541C)
def test_ioctl_refuses_tiocsti_and_tioclinux_whatever_the_upper_bits(request: int) -> None:
    refused = seccomp.refusal(RULES, "ioctl", (1, request))
    assert (refused == errno.EPERM) == (request & 0xFFFFFFFF in (0x5412, 0x541C))


@given(u64)
@example(0x10000000)  # CLONE_NEWUSER
@example(0x02000000 | 0x11)  # CLONE_NEWCGROUP | SIGCHLD
@example(0x01200011)  # what fork() passes: CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
def test_clone_refuses_new_namespaces_only(flags: int) -> None:
    assert (seccomp.refusal(RULES, "clone", (flags,)) == errno.EPERM) == bool(flags & NS_FLAGS)
    assert (seccomp.refusal(RULES, "unshare", (flags,)) == errno.EPERM) == bool(flags & (NS_FLAGS | 0x80))


@given(u64)
@example(0xFFFFFFFF)
@example(0xFFFFFFFF_FFFFFFFF)
@example(0x0040000)  # ADDR_NO_RANDOMIZE
@example(0x80000000 | 0x0100000)  # MMAP_PAGE_ZERO behind bit 31
@example(0x20008)
def test_personality_allows_what_docker_allows(persona: int) -> None:
    allowed = persona & 0xFFFFFFFF in ALLOWED_PERSONAS
    assert (seccomp.refusal(RULES, "personality", (persona,)) is None) == allowed


def test_clone3_answers_enosys_and_the_deny_list_eperm() -> None:
    assert seccomp.refusal(RULES, "clone3", (0,)) == errno.ENOSYS
    for name in ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "mount", "umount2",
                 "pivot_root", "setns", "open_by_handle_at", "kexec_load", "init_module", "fsopen", "move_mount"):
        assert seccomp.refusal(RULES, name, ()) == errno.EPERM, name
    for name in ("read", "openat", "ptrace", "execve", "chdir"):
        assert seccomp.refusal(RULES, name, (0, 0)) is None, name


linux = pytest.mark.skipif(not sys.platform.startswith("linux") or seccomp.libseccomp_version() is None,
                           reason="needs Linux and libseccomp")


def _in_filtered_child(program: bytes, calls: list[tuple[int, ...]]) -> list[int]:
    """Load `program` in a forked child and make raw syscalls; the errno of each (0: it succeeded)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            lib = ctypes.CDLL(None, use_errno=True)
            libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
            libc.seccomp_load(program)
            out = []
            for call in calls:
                res = lib.syscall(*(ctypes.c_long(x) for x in call))
                out.append(0 if res != -1 else ctypes.get_errno())
            os.write(w, ",".join(map(str, out)).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return [int(x) for x in data.split(",")]


@linux
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers of x86_64")
def test_the_kernel_answers_as_the_rules_say(tmp_path: Path) -> None:
    program = seccomp.program(str(tmp_path))
    nr = {"ioctl": 16, "personality": 135, "keyctl": 250, "unshare": 272, "clone3": 435, "getpid": 39}
    answers = _in_filtered_child(program, [
        (nr["ioctl"], 0, 0x1_0000_5412, 0), (nr["keyctl"], 0, 0), (nr["unshare"], 0x10000000),
        (nr["clone3"], 0, 0), (nr["personality"], 0xFFFFFFFF), (nr["personality"], 0x0100000),
        (nr["getpid"],), (nr["unshare"], 0x200)])  # CLONE_FS: allowed
    assert answers == [errno.EPERM, errno.EPERM, errno.EPERM, errno.ENOSYS, 0, errno.EPERM, 0, 0]


@linux
def test_the_program_is_cached_and_a_planted_one_is_not_used(tmp_path: Path) -> None:
    first = seccomp.program(str(tmp_path))
    (cached,) = tmp_path.glob("seccomp-*.bpf")
    assert cached.read_bytes() == first and cached.stat().st_mode & 0o777 == 0o600
    cached.write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f")  # "allow everything", written by someone else
    os.chmod(cached, 0o666)
    assert seccomp.program(str(tmp_path)) == first  # not trusted: compiled again


def test_missing_libseccomp_is_refused_with_a_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(seccomp, "LIBSECCOMP", "libseccomp-gobox-test-missing.so.2")
    with pytest.raises(SandboxError) as e:
        seccomp.program(str(tmp_path))
    assert "needs libseccomp" in e.value.message
    assert "apt-get install libseccomp2" in e.value.hint and "pip install pyseccomp" in e.value.hint
    assert '--seccomp off' in e.value.hint
