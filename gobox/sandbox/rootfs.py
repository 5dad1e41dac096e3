"""The sandbox's root filesystem: the mounts that assemble it from the spec's layers, binds and tmpfs.

They run inside the new user and mount namespaces (see run.py); each names its
step so a failure can say which one broke. What the layers hold is the caller's.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import struct
from collections.abc import Callable

from gobox import fsroot, libc
from gobox.sandbox.spec import SandboxSpec

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


class SetupError(Exception):
    """A setup step that failed inside the sandbox; sent to the parent as a record."""

    def __init__(self, step: str, path: str, err: OSError) -> None:
        super().__init__(f"{step}: {path}: {err.strerror}")
        self.step, self.path, self.errno = step, path, err.errno or 0


def _do(step: str, path: str | os.PathLike[str], fn: Callable[..., object], *args: object) -> None:
    try:
        fn(*args)
    except OSError as e:
        raise SetupError(step, os.fsdecode(path), e) from None


# --- mounts, inside the namespaces ---------------------------------------------------


def _overlay_path(path: str) -> str:
    # overlayfs splits lowerdir on ':' and options on ','; both may be escaped.
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def _locked_flags(path: str) -> int:
    """Flags of the mount at path that a user namespace may not clear on remount."""
    f = os.statvfs(path).f_flag
    out = 0
    for st, ms in ((os.ST_NOSUID, libc.MS_NOSUID), (os.ST_NODEV, libc.MS_NODEV),
                   (os.ST_NOEXEC, libc.MS_NOEXEC), (os.ST_RDONLY, libc.MS_RDONLY)):
        if f & st:
            out |= ms
    return out


def _readonly(path: str) -> None:
    flags = libc.MS_BIND | libc.MS_REMOUNT | libc.MS_RDONLY | _locked_flags(path)
    libc.mount(None, path, None, flags)


# --- mount points inside the root ----------------------------------------------------------
#
# The root is assembled from image layers, which may hold a symlink where a mount point goes
# (`gobox -> /some/host/dir`, the runc CVE-2021-30465 class). Every mount point is therefore
# found inside the root as if it were / (gobox.fsroot), made there when missing, held open, and
# mounted on through /proc/self/fd/N (as runc does): never by a path the kernel would resolve again.


class _Point:
    """An open mount point inside the root; `at` is what mount(2) takes, `path` its place now."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.at = f"/proc/self/fd/{fd}"
        self.path = fsroot.fd_path(fd)

    def __enter__(self) -> _Point:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _point(root: str, target: str, directory: bool) -> _Point:
    """The mount point `target` inside `root`: a directory, or an empty file, made if missing."""
    if directory:
        fd = fsroot.makedirs_in_root(root, target)
    else:
        head = os.path.dirname(target.rstrip("/")) or "/"
        os.close(fsroot.makedirs_in_root(root, head))
        # O_NONBLOCK: an image's FIFO in its place must not hang the setup.
        fd = fsroot.open_in_root(root, target, os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK, 0o644)
    point = _Point(fd)
    if os.path.samestat(os.fstat(fd), os.stat(root)):
        point.__exit__()
        raise OSError(errno.EINVAL, "resolves to the root itself", target)
    return point


def _mount_at(step: str, root: str, target: str, directory: bool, source: str | None, fstype: str | None,
              flags: int, data: str | None = None) -> str:
    """Mount on `target` inside the root, found as _point finds it; returns its place (a path free of
    symlinks, for what is mounted under it)."""
    try:
        with _point(root, target, directory) as p:
            libc.mount(source, p.at, fstype, flags, data)
            return p.path
    except OSError as e:
        raise SetupError(step, target, e) from None


# /proc and /sys as runc and podman leave them (runc's readonlyPaths and maskedPaths): what the kernel
# would let root of any namespace write, or what tells of the host, out of reach.
PROC_READONLY = ("bus", "fs", "irq", "sys", "sysrq-trigger")
PROC_MASKED = ("kcore", "keys", "timer_list", "sched_debug", "latency_stats", "acpi", "scsi")


def _harden_proc(proc: str) -> None:
    # No user namespace inside this one, filter or not (bubblewrap's --disable-userns): a nested one
    # gives back every capability, and one made by an image's user mapped to the caller's root may
    # map the host's uid 0 again, whose CAP_DAC_OVERRIDE there writes even the sealed cgroup files.
    # The limit is this namespace's own (ucounts are per user namespace); /proc/sys goes read-only next.
    limit = f"{proc}/sys/user/max_user_namespaces"
    if os.path.exists(limit):
        _do("disable nested user namespaces", limit, _write_text, limit, "0\n")
    for sub in PROC_READONLY:
        p = f"{proc}/{sub}"
        if not os.path.exists(p):  # kernels without CONFIG_MAGIC_SYSRQ have no sysrq-trigger, and so on
            continue
        _do(f"bind /proc/{sub}", p, libc.mount, p, p, None, libc.MS_BIND | libc.MS_REC)
        _do(f"make /proc/{sub} read-only", p, _readonly, p)
    for sub in PROC_MASKED:
        _mask(f"{proc}/{sub}", f"/proc/{sub}")


def _write_text(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _mask(path: str, name: str) -> None:
    """An empty read-only tmpfs over a directory, /dev/null over a file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        _do(f"mask {name}", path, libc.mount, "tmpfs", path, "tmpfs",
            libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC, "mode=0555")
    else:
        _do(f"mask {name}", path, libc.mount, "/dev/null", path, None, libc.MS_BIND)
        _do(f"mask {name}", path, _readonly, path)


def assemble(spec: SandboxSpec) -> str:
    """Mount the whole root under spec.scratch and return its path; call as PID 1 of the sandbox."""
    # Slave, not private: a filesystem the host unmounts (a USB disk, an NFS
    # share) goes away in here too instead of being pinned busy by a build,
    # while nothing mounted in here ever propagates out.
    _do("make / a slave mount", "/", libc.mount, None, "/", None, libc.MS_REC | libc.MS_SLAVE)
    scratch = spec.scratch
    # The writable upper and every mount point live on a tmpfs of this mount
    # namespace: they vanish with it, even when gobox is killed with -9.
    _do("mount scratch tmpfs", scratch, libc.mount, "gobox", scratch, "tmpfs",
        libc.MS_NOSUID | libc.MS_NODEV, "mode=0755")
    if spec.upper:
        # Kept on the host's disk for a commit: made by gobox before the run, read by it after.
        upper, work, root = f"{spec.upper}/upper", f"{spec.upper}/work", f"{scratch}/root"
        os.mkdir(root, 0o755)
    else:
        upper, work, root = f"{scratch}/upper", f"{scratch}/work", f"{scratch}/root"
        for d in (upper, work, root):
            os.mkdir(d, 0o755)
    lower = ":".join(_overlay_path(p) for p in spec.layers)
    options = f"lowerdir={lower},upperdir={upper},workdir={work},userxattr"
    _do("mount overlay root", root, libc.mount, "gobox-root", root, "overlay", libc.MS_NOSUID, options)

    if spec.make_cwd:
        # In the overlay, before any bind: a missing working directory is made in the root, never on the host.
        _do("make the working directory", spec.cwd, lambda: os.close(fsroot.makedirs_in_root(root, spec.cwd)))
    proc = _mount_at("mount /proc", root, "/proc", True, "proc", "proc",
                     libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
    _harden_proc(proc)
    _dev(_mount_at("mount /dev tmpfs", root, "/dev", True, "tmpfs", "tmpfs", libc.MS_NOSUID | libc.MS_NOEXEC,
                   "mode=0755"))
    for target in sorted(spec.tmpfs, key=lambda t: t.count("/")):
        mode = "1777" if target == "/tmp" else "0755"
        _mount_at("mount tmpfs", root, target, True, "tmpfs", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV,
                  f"mode={mode}")
    for i, o in enumerate(sorted(spec.overlays, key=lambda o: o.target.count("/"))):
        # The upper beside the root's, on the same private tmpfs: the lower directories are never written.
        upper, work = f"{scratch}/overlay-{i}/upper", f"{scratch}/overlay-{i}/work"
        for d in (upper, work):
            os.makedirs(d, 0o755)
        lowers = ":".join(_overlay_path(p) for p in o.lower)
        _mount_at("mount overlay", root, o.target, True, "gobox-overlay", "overlay", libc.MS_NOSUID | libc.MS_NODEV,
                  f"lowerdir={lowers},upperdir={upper},workdir={work},userxattr")
    for path, target in spec.symlinks:
        _do("create symlink", path, _symlink_in_root, root, path, target)
    for b in sorted(spec.binds, key=lambda b: b.target.count("/")):
        where = _mount_at("bind mount", root, b.target, os.path.isdir(b.source), b.source, None,
                          libc.MS_BIND | libc.MS_REC)
        # /sys, when a --mount brings it, as runc leaves it: read-only, its firmware tables hidden.
        if b.readonly or b.target == "/sys" or b.target.startswith("/sys/"):
            _do("make bind read-only", b.target, _readonly, where)
        if b.target == "/sys":
            _mask(f"{where}/firmware", "/sys/firmware")
    _do("sethostname", spec.hostname, libc.sethostname, spec.hostname)
    if spec.network != "host":
        _do("bring up lo", "lo", loopback_up)
    return root


def _symlink_in_root(root: str, path: str, target: str) -> None:
    head, name = os.path.split(path.rstrip("/"))
    parent = fsroot.makedirs_in_root(root, head or "/")
    try:
        os.symlink(target, name, dir_fd=parent)
    finally:
        os.close(parent)


def _dev(dev: str) -> None:
    """The minimal /dev, on the fresh tmpfs at `dev` (a path free of symlinks)."""
    # A user namespace cannot mknod, so the host's device nodes are bound in.
    for name in DEVICES:
        host, path = f"/dev/{name}", f"{dev}/{name}"
        try:
            mode = os.stat(host).st_mode
        except OSError:  # not on this host
            continue
        _do("create device node", path, _mountpoint, mode, path)
        _do("bind device", host, libc.mount, host, path, None, libc.MS_BIND)
    shm, pts = f"{dev}/shm", f"{dev}/pts"
    os.mkdir(shm)
    _do("mount /dev/shm", shm, libc.mount, "tmpfs", shm, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV,
        "mode=1777")
    os.mkdir(pts)
    _do("mount /dev/pts", pts, libc.mount, "devpts", pts, "devpts", libc.MS_NOSUID | libc.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620")
    for name, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")


def _mountpoint(mode: int, target: str) -> None:
    """Create what `target`, new on gobox's own fresh tmpfs, must be to bind a file of `mode` there: a
    directory or an empty file."""
    if stat.S_ISDIR(mode):
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))


def enter(root: str) -> None:
    """Make `root` the root and detach the old one, so nothing of the host stays visible."""
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching
    # "." then removes it, with no put_old directory needed (runc does this).
    _do("pivot_root", root, libc.pivot_root, ".", ".")
    _do("detach the old root", "/", libc.umount2, ".", libc.MNT_DETACH)
    os.chdir("/")


SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = struct.Struct("16sH14x")  # struct ifreq: the name, then ifr_flags
_LO = _IFREQ.pack(b"lo", 0)


def loopback_up() -> None:
    """Bring up lo in the new network namespace: tests listen on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _IFREQ.unpack(fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, _LO))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))
