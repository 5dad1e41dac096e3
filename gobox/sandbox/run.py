"""Turn a SandboxSpec into a running process and a Result: the one place the sandbox is executed.

Process model (after bubblewrap and benchexec): gobox forks a setup child,
which joins the run's cgroup, unshares user, mount, PID, UTS, IPC (and net)
namespaces and writes its id maps; it forks PID 1 of the new PID namespace,
which assembles the root, pivots into it and forks the command. Parent and
children talk over one close-on-exec pipe: a setup failure comes back as a
JSON record, and end-of-file means the command was exec'd.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

from gobox.errors import SandboxError
from gobox.sandbox import init, libc, rootfs
from gobox.sandbox.cgroups import Cgroup, CgroupError, Cgroups, Limits
from gobox.sandbox.spec import Result, SandboxSpec

SETUP_TIMEOUT = 60.0  # seconds from fork to exec; mounts are local, so this is generous

NO_USERNS = "this kernel has no user namespaces (CONFIG_USER_NS is off)"
USERNS_LIMIT = ("the user namespace limit is reached: raise it with "
                "`sysctl -w user.max_user_namespaces=15000`")
DEBIAN_SYSCTL = ("unprivileged user namespaces are disabled: "
                 "`sysctl -w kernel.unprivileged_userns_clone=1`")
UBUNTU_APPARMOR = ("Ubuntu's AppArmor restricts unprivileged user namespaces: "
                   "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, "
                   "or give gobox an AppArmor profile that allows userns")
USERNS_DISABLED = "user namespaces are disabled: `sysctl -w user.max_user_namespaces=15000`"
SECCOMP = ("unshare() was refused; gobox may be running in a container whose seccomp "
           "profile forbids it (Docker: --security-opt seccomp=unconfined)")
OLD_OVERLAY = "overlayfs in a user namespace needs Linux 5.11 or newer"


def _sysctl(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def hint_for(step: str, err: int) -> str | None:
    """How to fix a setup failure, from what the host says about itself."""
    if step == "unshare":
        if err == errno.EINVAL:
            return NO_USERNS
        if err == errno.ENOSPC:
            return USERNS_LIMIT
        if err == errno.EPERM:
            if _sysctl("/proc/sys/user/max_user_namespaces") == "0":
                return USERNS_DISABLED
            if _sysctl("/proc/sys/kernel/unprivileged_userns_clone") == "0":
                return DEBIAN_SYSCTL
            if _sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
                return UBUNTU_APPARMOR
            return SECCOMP
    if step == "mount overlay root" and err in (errno.EINVAL, errno.EPERM):
        return OLD_OVERLAY
    if step in ("write uid_map", "write gid_map", "write setgroups"):
        return "the kernel refused the id mapping; run `gobox doctor`"
    return "run `gobox doctor` to see what this host supports"


def _write(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _setup_child(spec: SandboxSpec, parent: int, cgroup: Cgroup | None, err_fd: int) -> NoReturn:
    """The forked setup child; never returns."""
    step = "start"
    # Held back until there is a PID 1 to forward them to; PID 1 inherits the mask
    # and collects them with sigwaitinfo.
    signal.pthread_sigmask(signal.SIG_BLOCK, init.FORWARDED)
    try:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # gobox died before the line above took effect
            os._exit(1)
        if cgroup is not None:
            step = "join cgroup"
            cgroup.add(os.getpid())
        flags = (libc.CLONE_NEWUSER | libc.CLONE_NEWNS | libc.CLONE_NEWPID | libc.CLONE_NEWUTS
                 | libc.CLONE_NEWIPC)
        if spec.network == "none":
            flags |= libc.CLONE_NEWNET
        # Read before unshare: until the maps are written, getuid() says 65534.
        host_uid, host_gid = os.getuid(), os.getgid()
        step = "unshare"
        libc.unshare(flags)
        # The caller's ids map to themselves: files written to bind mounts stay the
        # caller's, and root inside is still only root of this namespace.
        map_ids(spec.uid, spec.gid, host_uid, host_gid)
        step = "fork pid 1"
        pid1 = os.fork()
        if pid1 == 0:
            _pid1(spec, err_fd)
        os.close(err_fd)
        for s in init.FORWARDED:
            signal.signal(s, lambda signo, _frame: _forward(pid1, signo))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, init.FORWARDED)
        _, status = os.waitpid(pid1, 0)
        os._exit(init.exit_status(status))
    except rootfs.SetupError as e:
        init.report(err_fd, e.step, e.path, e.errno)
    except OSError as e:
        init.report(err_fd, step, "", e.errno or 0)
    except BaseException as e:  # noqa: BLE001 - must reach the parent as a record
        init.report(err_fd, step, "", 0, repr(e))
    os._exit(125)


def map_ids(uid: int, gid: int, host_uid: int, host_gid: int) -> None:
    """Write this process's id maps after unshare(CLONE_NEWUSER), in the order the kernel
    requires of an unprivileged writer: uid_map, setgroups=deny, gid_map.

    Take host_uid/host_gid before unshare: until the maps exist getuid() says 65534.
    """
    for step, path, data in (("write uid_map", "/proc/self/uid_map", f"{uid} {host_uid} 1\n"),
                             ("write setgroups", "/proc/self/setgroups", "deny"),
                             ("write gid_map", "/proc/self/gid_map", f"{gid} {host_gid} 1\n")):
        try:
            _write(path, data)
        except OSError as e:
            raise rootfs.SetupError(step, path, e) from None


def _pid1(spec: SandboxSpec, err_fd: int) -> NoReturn:
    try:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        root = rootfs.assemble(spec)
        rootfs.enter(root)
        init.pid1(spec, err_fd)
    except rootfs.SetupError as e:
        init.report(err_fd, e.step, e.path, e.errno)
    except OSError as e:
        init.report(err_fd, "set up the root", "", e.errno or 0)
    except BaseException as e:  # noqa: BLE001
        init.report(err_fd, "set up the root", "", 0, repr(e))
    os._exit(125)


def _forward(pid: int, signo: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signo)


def _read_records(fd: int, deadline: float) -> tuple[list[dict], bool]:
    """Read the setup pipe to its end; (records, whether it ended before the deadline)."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return _parse(data), False
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return _parse(data), True
        data += chunk


def _parse(data: bytes) -> list[dict]:
    out = []
    for line in data.splitlines():
        with suppress(ValueError):
            out.append(json.loads(line))
    return out


def _error(record: dict, spec: SandboxSpec) -> SandboxError:
    step, path, err = record.get("step", "?"), record.get("path", ""), record.get("errno", 0)
    what = record.get("message") or os.strerror(err)
    if step == "exec":
        code = 127 if err == errno.ENOENT else 126
        path_env = dict(spec.env).get("PATH", "")
        reason = "command not found" if err == errno.ENOENT else what
        return SandboxError(f"{path}: {reason} in the sandbox (PATH={path_env})", exit_code=code,
                            hint="the root holds only the toolchain unless [go].base says more "
                            "(base = \"host\" adds the host's /usr)" if err == errno.ENOENT else None)
    where = f" {path}" if path else ""
    return SandboxError(f"sandbox setup failed at {step}{where}: {what}", hint=hint_for(step, err))


def run(spec: SandboxSpec, cgroups: Cgroups | None = None, no_limits: bool = False,
        measure: bool = False) -> Result:
    """Run the spec to completion and say how it ended.

    A cgroup is made only when limits are asked for, or with `measure` where
    the host lets us: joining one costs a kernel grace period (~12 ms on
    cgroup v1), and without limits the PID namespace already guarantees that
    nothing outlives the run, while wait4's rusage gives CPU time and the
    peak RSS of the largest process (not the sum that `measure` gives).
    Limits that cannot be applied are an error unless `no_limits`, which
    runs without them.
    """
    if not sys.platform.startswith("linux"):
        raise SandboxError("the gobox sandbox needs Linux (user namespaces and cgroups)")
    limits = Limits() if no_limits else spec.limits
    libc.load()
    cgroup = None
    if limits.any:
        cgroup = _make_cgroup(cgroups, limits)
    elif measure:
        cgroup = _measuring_cgroup(cgroups)
    watchdog = _start_watchdog(cgroup) if cgroup is not None else None
    tty_owner = _terminal_owner()
    try:
        return _run(spec, cgroup)
    finally:
        _restore_terminal(tty_owner)
        if cgroup is not None:
            cgroup.remove()
        if watchdog is not None:
            _stop_watchdog(*watchdog)


def _system_cgroups() -> Cgroups:
    from gobox.sandbox.cgroups import from_system

    return from_system()


def _make_cgroup(cgroups: Cgroups | None, limits: Limits) -> Cgroup | None:
    cgroups = cgroups or _system_cgroups()
    reason = cgroups.unavailable(limits)
    if reason:
        raise SandboxError(f"cannot apply the limits: {reason}",
                           hint="run as root or with delegated cgroups, or pass --no-limits")
    return _new_cgroup(cgroups, limits)


def _new_cgroup(cgroups: Cgroups, limits: Limits) -> Cgroup:
    """This run's cgroup, after sweeping what killed gobox runs left behind.

    Named gobox-<pid>-<hex>: the pid lets a later gobox tell an orphan (cgroups.sweep_orphans).
    """
    cgroups.sweep()
    return cgroups.create(f"gobox-{os.getpid()}-{os.urandom(3).hex()}", limits)


def _measuring_cgroup(cgroups: Cgroups | None) -> Cgroup | None:
    """A cgroup with no limits, only to read the run's total memory and CPU; None where we may not."""
    cgroups = cgroups or _system_cgroups()
    if cgroups.version == "none" or cgroups.unavailable(Limits()):
        return None
    try:
        return _new_cgroup(cgroups, Limits())
    except CgroupError:
        return None


def _run(spec: SandboxSpec, cgroup: Cgroup | None) -> Result:
    r, w = os.pipe2(os.O_CLOEXEC)
    started = time.perf_counter()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _setup_child(spec, parent, cgroup, w)
    os.close(w)
    forwarded = {s: signal.signal(s, lambda signo, _f: _forward(pid, signo)) for s in init.FORWARDED}
    try:
        records, finished = _read_records(r, time.monotonic() + SETUP_TIMEOUT)
        setup = time.perf_counter() - started
        os.close(r)
        if not finished:
            _forward(pid, signal.SIGKILL)
        _, status, rusage = os.wait4(pid, 0)
    finally:
        for s, handler in forwarded.items():
            signal.signal(s, handler)
    if not finished:
        raise SandboxError(f"sandbox setup did not finish within {SETUP_TIMEOUT:.0f} s")
    if records:
        raise _error(records[0], spec)
    code = init.exit_status(status)
    usage = cgroup.usage() if cgroup is not None else None
    peak = usage.peak_memory if usage and usage.peak_memory is not None else rusage.ru_maxrss * 1024
    cpu = usage.cpu_time if usage and usage.cpu_time is not None else rusage.ru_utime + rusage.ru_stime
    return Result(code, peak, cpu, oom_killed=bool(usage and usage.oom_killed),
                  pids_limited=bool(usage and usage.pids_limited), setup_seconds=setup)


# --- the cgroup watchdog ---------------------------------------------------------------


def _start_watchdog(cgroup: Cgroup) -> tuple[int, int]:
    """A small process that removes the run's cgroup when gobox goes away, even by kill -9.

    It waits on a pipe only gobox holds; end-of-file means gobox finished or died.
    """
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.setsid()  # a Ctrl-C to gobox's process group must not take it down first
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while os.read(r, 1):
                pass
            cgroup.remove()
        finally:
            os._exit(0)
    os.close(r)
    return pid, w


def _stop_watchdog(pid: int, w: int) -> None:
    os.close(w)
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


# --- the terminal -------------------------------------------------------------------------


def _terminal_owner() -> int | None:
    """The foreground process group of our terminal when it is gobox's own, else None."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return os.getpgrp()
    except OSError:
        pass
    return None


def _restore_terminal(pgrp: int | None) -> None:
    """Take the terminal back from the command's process group (it made itself foreground)."""
    if pgrp is None:
        return
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with suppress(OSError):
            os.tcsetpgrp(0, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, old)
