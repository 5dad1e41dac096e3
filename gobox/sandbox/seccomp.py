"""The default seccomp filter: the rules as data, compiled once by libseccomp (PyPI pyseccomp) and cached.

Modelled on the default profiles of Docker (moby/profiles) and podman
(containers/common), as a deny list: everything is allowed except what those
profiles keep from a container without capabilities, and each refusal is an
errno (EPERM; ENOSYS for clone3, so glibc falls back to clone), never a kill,
so tools degrade as they would on a host that lacks the feature.

Compiling costs ~30 ms (the binding finds libseccomp with ctypes.util, which
runs ldconfig), so the BPF program libseccomp makes is kept in a file named
by the rules, the libseccomp version and the architecture, as crun caches
its programs; a run reads it and hands it to the kernel with one prctl.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import stat
from types import ModuleType

from gobox.errors import SandboxError
from gobox.values import dataclass

PROFILE_FORMAT = 1  # bump when the meaning of a rule changes without its data changing

# <asm-generic/ioctls.h>: push a byte into a terminal's input; the Linux console's multiplexer
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
# <linux/sched.h>: the namespace flags Docker's profile refuses to clone and unshare without CAP_SYS_ADMIN
CLONE_NEWTIME = 0x00000080
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
# personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26, both, and the query 0xffffffff
PERSONALITY_ALLOWED_BITS = 0x0008 | 0x20000
LOW32 = 0xFFFFFFFF

# Refused outright, each with EPERM. From Docker's default profile: what it allows only with a capability
# the sandbox never has (CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYS_BOOT, CAP_SYS_PACCT,
# CAP_SYS_RAWIO, CAP_SYSLOG, CAP_SYS_NICE, CAP_SYS_TTY_CONFIG, CAP_SYS_PTRACE for kcmp) or not at all.
DENIED = (
    # the kernel's keyrings (the caller's session keyring is left behind by KEYCTL_JOIN_SESSION_KEYRING too)
    "keyctl", "add_key", "request_key",
    # kernel attack surface an unprivileged build has no use for
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "lookup_dcookie", "kcmp", "fanotify_init",
    # kernels and modules
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "query_module", "get_kernel_syms",
    # file handles bypass path permissions (the "shocker" escape)
    "open_by_handle_at", "name_to_handle_at",
    # mounts: the root is assembled before the command runs, and stays as it is
    "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    "fspick", "mount_setattr",
    # other namespaces
    "setns",
    # the machine's clocks, swap, accounting, quotas, reboot, kernel log
    "settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex", "swapon", "swapoff", "acct",
    "quotactl", "quotactl_fd", "reboot", "syslog",
    # obsolete or x86-only calls that only old exploits use
    "nfsservctl", "sysfs", "_sysctl", "ustat", "uselib", "vm86", "vm86old", "ioperm", "iopl", "vhangup",
    # NUMA policy of other processes' memory (Docker: CAP_SYS_NICE)
    "move_pages", "mbind", "set_mempolicy", "get_mempolicy",
)


@dataclass(frozen=True)
class Rule:
    """One refusal: `syscall` answers `-errno` when every (argument, mask, value) holds, `arg & mask == value`.

    A rule with no conditions refuses the call whatever its arguments.
    """

    syscall: str
    errno: int
    conditions: tuple[tuple[int, int, int], ...] = ()


def _any_bit(syscall: str, arg: int, bits: tuple[int, ...]) -> list[Rule]:
    """Refuse `syscall` when any of `bits` is set in argument `arg` (one rule per bit: libseccomp ORs rules)."""
    return [Rule(syscall, errno.EPERM, ((arg, bit, bit),)) for bit in bits]


def _personality() -> list[Rule]:
    """Refuse personality(2) unless its 32-bit argument is one Docker allows.

    libseccomp compares one argument once per rule, so "not one of these" is
    spelled with single masked comparisons: a bit outside the allowed ones set
    while bit 31 is clear (no real persona sets it), or bit 31 set while any
    other bit is clear (anything but the query, 0xffffffff).
    """
    top = 1 << 31
    rules = [Rule("personality", errno.EPERM, ((0, (1 << b) | top, 1 << b),))
             for b in range(31) if not (1 << b) & PERSONALITY_ALLOWED_BITS]
    rules += [Rule("personality", errno.EPERM, ((0, top | (1 << b), top),)) for b in range(31)]
    return rules


def default_rules() -> tuple[Rule, ...]:
    """The whole default profile, as data."""
    rules = [Rule(name, errno.EPERM) for name in DENIED]
    # The request is an int: the kernel ignores the upper 32 bits, so must the match (CVE-2019-10063).
    rules += [Rule("ioctl", errno.EPERM, ((1, LOW32, TIOCSTI),)),
              Rule("ioctl", errno.EPERM, ((1, LOW32, TIOCLINUX),))]
    # A new user namespace gives back every capability (and with them cgroupfs, mounts and the limits).
    # s390x passes clone's flags second; everywhere else first.
    clone_arg = 1 if os.uname().machine == "s390x" else 0
    rules += _any_bit("clone", clone_arg, NAMESPACE_FLAGS)
    rules += _any_bit("unshare", 0, (*NAMESPACE_FLAGS, CLONE_NEWTIME))
    # clone3 passes its flags in memory, which seccomp cannot read: glibc and Go fall back to clone on ENOSYS.
    rules.append(Rule("clone3", errno.ENOSYS))
    rules += _personality()
    return tuple(rules)


def refusal(rules: tuple[Rule, ...], syscall: str, args: tuple[int, ...]) -> int | None:
    """The errno `rules` answer this call with, or None when they let it through (what the BPF decides)."""
    for rule in rules:
        if rule.syscall == syscall and all(i < len(args) and args[i] & mask == value
                                           for i, mask, value in rule.conditions):
            return rule.errno
    return None


def describe() -> str:
    """One line for `gobox run --dry-run` and `gobox doctor`."""
    return (f"default (libseccomp): {len(DENIED)} syscalls refused with EPERM, ioctl TIOCSTI and TIOCLINUX, "
            "clone/unshare of namespaces, personality other than Linux's; clone3 answers ENOSYS")


# --- libseccomp ------------------------------------------------------------------------------------

LIBSECCOMP = "libseccomp.so.2"
INSTALL_HINT = ("install libseccomp and its Python binding (apt-get install libseccomp2; "
                "pip install pyseccomp), or run without the filter: [sandbox].seccomp = \"off\" / --seccomp off")


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


def libseccomp_version() -> str | None:
    """The libseccomp this process would use ("2.5.4"), or None when there is none. Costs one dlopen."""
    try:
        lib = ctypes.CDLL(LIBSECCOMP)
    except OSError:
        return None
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def binding_version() -> str | None:
    """pyseccomp's version, or None when it is not installed (read from its metadata, not imported)."""
    from importlib import metadata

    try:
        return metadata.version("pyseccomp")
    except metadata.PackageNotFoundError:
        return None


def _extra_arches(seccomp: ModuleType) -> tuple[int, ...]:  # seccomp: the pyseccomp module
    """The other ABIs this machine runs (32-bit x86 and x32 on x86_64, arm on aarch64), as Docker adds them:
    a syscall through int 0x80 is filtered like one through syscall."""
    machine = os.uname().machine
    if machine == "x86_64":
        return (seccomp.Arch.X86, seccomp.Arch.X32)
    if machine == "aarch64":
        return (seccomp.Arch.ARM,)
    return ()


def compile_rules(rules: tuple[Rule, ...]) -> bytes:
    """The BPF program libseccomp makes of `rules` (default: allow), for this machine's ABIs."""
    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError) as e:  # RuntimeError: the binding found no libseccomp
        raise SandboxError(f"the default seccomp filter needs libseccomp: {e}", hint=INSTALL_HINT) from None
    f = seccomp.SyscallFilter(seccomp.ALLOW)
    for arch in _extra_arches(seccomp):
        try:
            f.add_arch(arch)
        except OSError:
            pass  # a libseccomp built without it
    f.set_attr(seccomp.Attr.CTL_NNP, 0)  # no_new_privs is ours to set, before the load
    try:
        f.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)  # a binary tree of syscall numbers, not a linear list
    except OSError:
        pass  # libseccomp < 2.5
    for rule in rules:
        nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, rule.syscall)
        if nr == -1:  # __NR_SCMP_ERROR: a name this libseccomp does not know
            continue
        args = [seccomp.Arg(a, seccomp.MASKED_EQ, mask, value) for a, mask, value in rule.conditions]
        f.add_rule(seccomp.ERRNO(rule.errno), rule.syscall, *args)
    r, w = os.pipe()
    try:
        with open(w, "wb", closefd=True) as out:
            f.export_bpf(out)
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
    finally:
        os.close(r)
    return b"".join(chunks)


def _key(rules: tuple[Rule, ...], version: str) -> str:
    text = repr((PROFILE_FORMAT, rules, version, os.uname().machine))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def program(cache_dir: str) -> bytes:
    """The default filter's BPF program, from `cache_dir` when made before, else compiled and kept there.

    A cached program is used only when it is ours and nobody else may write
    it: a permissive program planted in its place would lift the filter.
    """
    version = libseccomp_version()
    if version is None:
        raise SandboxError(f"the default seccomp filter needs libseccomp ({LIBSECCOMP} not found)",
                           hint=INSTALL_HINT)
    rules = default_rules()
    path = os.path.join(cache_dir, f"seccomp-{_key(rules, version)}.bpf")
    cached = _read_own(path)
    if cached is not None:
        return cached
    prog = compile_rules(rules)
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, prog)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        pass  # a read-only store: compile again next time
    return prog


def _read_own(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or not stat.S_ISREG(st.st_mode):
            return None
        data = os.read(fd, st.st_size + 1)
    finally:
        os.close(fd)
    # A BPF program is whole 8-byte instructions; anything else is not one libseccomp wrote.
    return data if data and len(data) % 8 == 0 else None
