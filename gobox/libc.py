"""Declarations of the Linux syscalls gobox needs (sandbox, store), errno-checked through ctypes; nothing else."""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

# <sched.h> / <linux/sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWCGROUP = 0x02000000

# <sys/mount.h> / <linux/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# <linux/securebits.h>: uid 0 gains no capabilities on exec, and that cannot be undone.
SECBIT_NOROOT = 1 << 0
SECBIT_NOROOT_LOCKED = 1 << 1
SECBIT_NO_SETUID_FIXUP = 1 << 2
SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 3
SECBIT_KEEP_CAPS_LOCKED = 1 << 5

# <linux/seccomp.h>
SECCOMP_MODE_FILTER = 2

# <linux/keyctl.h>
KEYCTL_JOIN_SESSION_KEYRING = 1

# <fcntl.h> / <linux/fs.h>
AT_FDCWD = -100
RENAME_EXCHANGE = 2

# <linux/capability.h>
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# <asm/unistd_64.h>: pivot_root has no glibc wrapper.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
# keyctl has none either (libkeyutils has it).
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 271, "s390x": 280}

_libc: ctypes.CDLL | None = None
_fork: Any = None

# Prototypes of the calls the sandbox's forked children make many times: with them ctypes converts plain
# ints and bytes itself, instead of gobox building a c_int/c_ulong object per argument in the child.
_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "mount": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]),
    "umount2": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_int]),
    "unshare": (ctypes.c_int, [ctypes.c_int]),
    "prctl": (ctypes.c_int, [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]),
    "sethostname": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t]),
}


def _lib() -> ctypes.CDLL:
    global _libc, _fork
    if _libc is None:
        if not sys.platform.startswith("linux"):
            raise OSError(0, "the gobox sandbox needs Linux (namespaces and cgroups)")
        # CDLL(None) is the libc already loaded into this process: no ldconfig run
        # (ctypes.util.find_library forks one), no second copy.
        lib = ctypes.CDLL(None, use_errno=True)
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        # PyDLL: called with the GIL held, which the forking thread must keep (see fork()).
        _fork = ctypes.PyDLL(None, use_errno=True).fork
        _fork.restype, _fork.argtypes = ctypes.c_int, []
        _libc = lib
    return _libc


def load() -> None:
    """Load libc, and make capset's arguments, now: so that the forked children do not pay for them inside
    the sandbox setup."""
    _lib()
    _no_capabilities()


def fork() -> int:
    """fork(2) through glibc, without CPython's after-fork work in the child; only for the sole thread.

    os.fork() runs PyOS_AfterFork_Child in the child: it re-makes the GIL, the import and runtime
    locks and the thread states, clears pending signal flags, and runs the registered hooks, among
    them threading's _after_fork (click imports threading). With the forking thread alone in its
    process, the child has nothing to repair (the lock holders and the one thread state are all this
    thread's, kept by fork, with the same ident), and the hooks' Python code only dirties
    copy-on-write pages: ~190 page faults, ~0.6 ms, per fork. glibc's fork still does its own part
    (its locks, the child's tid, atfork handlers); PyDLL keeps the GIL held across the call, so the
    child's one thread holds it as the parent's did. Unlike os.fork, a signal caught in the parent
    whose Python handler has not run yet runs in the child too: the sandbox's children, which block
    the signals they pass on, report it as a setup failure at worst, while gobox handles it as well.
    """
    _lib()
    pid: int = _fork()
    if pid == -1:
        raise _failed("fork")
    return pid


def _check(result: int, what: str) -> int:
    if result == -1:
        raise _failed(what)
    return result


def _failed(what: str) -> OSError:
    """The OSError of the call that just returned -1; built only then, as the sandbox's hot calls succeed."""
    err = ctypes.get_errno()
    return OSError(err, f"{what} failed: {os.strerror(err)}")


def _b(path: str | bytes | os.PathLike[str] | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    if _lib().unshare(flags) == -1:
        raise _failed(f"unshare({flags:#x})")


def mount(source: str | bytes | None, target: str | bytes | os.PathLike[str], fstype: str | None,
          flags: int = 0, data: str | None = None) -> None:
    if _lib().mount(_b(source), _b(target), _b(fstype), flags, _b(data)) == -1:
        raise _failed(f"mount({fstype or 'bind'} on {os.fsdecode(target)})")


def umount2(target: str | bytes | os.PathLike[str], flags: int = 0) -> None:
    if _lib().umount2(_b(target), flags) == -1:
        raise _failed(f"umount2({os.fsdecode(target)})")


def pivot_root(new_root: str | bytes, put_old: str | bytes) -> None:
    nr = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise OSError(0, f"pivot_root: unknown syscall number on {os.uname().machine}")
    _check(_lib().syscall(ctypes.c_long(nr), _b(new_root), _b(put_old)), "pivot_root")


def keyctl_join_session_keyring() -> None:
    """Join a new, empty, anonymous session keyring: no key of the caller's session stays reachable."""
    nr = _SYS_KEYCTL.get(os.uname().machine)
    if nr is None:
        raise OSError(0, f"keyctl: unknown syscall number on {os.uname().machine}")
    _check(_lib().syscall(ctypes.c_long(nr), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), ctypes.c_void_p(None)),
           "keyctl(KEYCTL_JOIN_SESSION_KEYRING)")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def seccomp_load(program: bytes) -> None:
    """Install a seccomp BPF program (struct sock_filter[], 8 bytes each) on this thread; needs
    no_new_privs first. What libseccomp's seccomp_load does, minus libseccomp."""
    prog = _SockFprog(len(program) // 8, program)
    # prctl's third argument is a pointer; its prototype takes it as the unsigned long the kernel reads.
    _check(_lib().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "prctl(PR_SET_SECCOMP)")


def renameat2(old: str | os.PathLike[str], new: str | os.PathLike[str], flags: int) -> None:
    r = _lib().renameat2(ctypes.c_int(AT_FDCWD), _b(old), ctypes.c_int(AT_FDCWD), _b(new), ctypes.c_uint(flags))
    _check(r, f"renameat2({os.fsdecode(old)}, {os.fsdecode(new)})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_lib().sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    r: int = _lib().prctl(option, arg2, arg3, arg4, arg5)
    if r == -1:
        raise _failed(f"prctl({option})")
    return r


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


# capset's arguments for "no capabilities", made once by the process that loads libc: made in a forked child,
# these ctypes objects cost ~0.2 ms of copy-on-write faults. The kernel only reads them when capset succeeds.
_NO_CAPABILITIES: tuple[_CapHeader, ctypes.Array[_CapData]] | None = None


def _no_capabilities() -> tuple[_CapHeader, ctypes.Array[_CapData]]:
    global _NO_CAPABILITIES
    if _NO_CAPABILITIES is None:
        _NO_CAPABILITIES = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    return _NO_CAPABILITIES


def clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets of this thread."""
    header, data = _no_capabilities()
    _check(_lib().capset(ctypes.byref(header), data), "capset")


def last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40
