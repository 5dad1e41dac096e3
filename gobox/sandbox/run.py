"""Turn a SandboxSpec into a running process and a Result: the one place the sandbox is executed.

Process model (after bubblewrap and benchexec): gobox forks a setup child,
which joins the run's cgroup, unshares user, mount, PID, UTS, IPC (and net)
namespaces and writes its id maps; it forks PID 1 of the new PID namespace,
which assembles the root, pivots into it, starts a session of its own and
forks the command. A close-on-exec pipe carries setup failures back as JSON
records (end-of-file means the command was exec'd); a socket pair between
gobox and PID 1 carries the sandbox's pty master and the command's stops.
With a private network, the setup child waits after unshare until gobox has
attached pasta to its namespaces (pasta.py), so the command starts online.
gobox meanwhile passes signals on (and kills everything GRACE seconds after
an interrupt) and relays the pty (terminal.py).
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from gobox import libc
from gobox.errors import SandboxError
from gobox.sandbox import init, rootfs, terminal
from gobox.sandbox.cgroupfs import CgroupError
from gobox.sandbox.cgroups import Cgroup, Cgroups, Limits
from gobox.sandbox.spec import Result, SandboxSpec
from gobox.values import dataclass

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


@dataclass
class _NetSync:
    """Two pipes for a private network: the setup child says its namespaces exist, gobox says pasta is up."""

    ready_r: int
    ready_w: int
    go_r: int
    go_w: int

    @classmethod
    def make(cls) -> _NetSync:
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        return cls(ready_r, ready_w, go_r, go_w)

    def in_child(self) -> None:
        """After unshare: tell gobox, and wait for its word before anything runs on the network."""
        os.close(self.ready_r)
        os.close(self.go_w)
        os.write(self.ready_w, b"N")
        os.close(self.ready_w)
        ok = os.read(self.go_r, 1)
        os.close(self.go_r)
        if ok != b"1":  # gobox could not start pasta, and says why itself
            os._exit(125)

    def in_parent(self) -> None:
        os.close(self.ready_w)
        os.close(self.go_r)

    def wait_ready(self, timeout: float) -> bool:
        """Whether the namespaces exist; False when the child failed (or gave up) before."""
        ready, _, _ = select.select([self.ready_r], [], [], timeout)
        ok = bool(ready) and os.read(self.ready_r, 1) == b"N"
        os.close(self.ready_r)
        return ok

    def go(self) -> None:
        with suppress(OSError):
            os.write(self.go_w, b"1")
        os.close(self.go_w)


def _setup_child(spec: SandboxSpec, parent: int, cgroup: Cgroup | None, err_fd: int,
                 launch: init.Launch, net: _NetSync | None = None) -> NoReturn:
    """The forked setup child; never returns."""
    step = "start"
    # Held back until there is a PID 1 to forward them to; PID 1 inherits the mask
    # and collects them with sigwaitinfo.
    init.sigmask(signal.SIG_BLOCK, init.FORWARDED)
    try:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # gobox died before the line above took effect
            os._exit(1)
        # Out of gobox's session and process group: a terminal's Ctrl-C reaches gobox alone, which
        # passes it on once, and nothing in here can ever be the caller's terminal's foreground.
        os.setsid()
        if cgroup is not None:
            step = "join cgroup"
            cgroup.join()
        flags = (libc.CLONE_NEWUSER | libc.CLONE_NEWNS | libc.CLONE_NEWPID | libc.CLONE_NEWUTS
                 | libc.CLONE_NEWIPC)
        if spec.network != "host":
            flags |= libc.CLONE_NEWNET
        # Read before unshare: until the maps are written, getuid() says 65534.
        host_uid, host_gid = os.getuid(), os.getgid()
        step = "unshare"
        libc.unshare(flags)
        # The caller's ids map to themselves: files written to bind mounts stay the
        # caller's, and root inside is still only root of this namespace.
        map_ids(spec.uid, spec.gid, host_uid, host_gid)
        if net is not None:
            step = "wait for the private network"
            net.in_child()
        step = "fork pid 1"
        pid1 = libc.fork()  # this child has one thread: see libc.fork
        if pid1 == 0:
            _pid1(spec, err_fd, launch)
        os.close(err_fd)
        os.close(launch.ctl)
        init.handle(init.FORWARDED, lambda signo, _frame: _forward(pid1, signo))
        init.sigmask(signal.SIG_UNBLOCK, init.FORWARDED)
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


def _pid1(spec: SandboxSpec, err_fd: int, launch: init.Launch) -> NoReturn:
    try:
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        root = rootfs.assemble(spec)
        rootfs.enter(root)
        init.pid1(spec, launch, err_fd)
    except rootfs.SetupError as e:
        init.report(err_fd, e.step, e.path, e.errno)
    except OSError as e:
        init.report(err_fd, "set up the root", "", e.errno or 0)
    except BaseException as e:  # noqa: BLE001 - a forked child: anything must reach the parent as a record
        init.report(err_fd, "set up the root", "", 0, repr(e))
    os._exit(125)


def _single_threaded() -> bool:
    """Whether gobox runs as one thread (libc.fork's condition); False when /proc cannot tell."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _forward(pid: int, signo: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signo)


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
        # The caller, who knows what the root was made of, may say more (gobox.build names the config key).
        return SandboxError(f"{path}: {reason} in the sandbox (PATH={path_env})", exit_code=code,
                            hint="the sandbox's root holds only what its layers hold" if err == errno.ENOENT
                            else None)
    where = f" {path}" if path else ""
    return SandboxError(f"sandbox setup failed at {step}{where}: {what}", hint=hint_for(step, err))


def run(spec: SandboxSpec, cgroups: Cgroups | None = None, no_limits: bool = False,
        measure: bool = False) -> Result:
    """Run the spec to completion and say how it ended.

    A cgroup is made only when limits are asked for, or with `measure` where
    the host lets us: making, watching and removing one costs a few ms, and
    without limits the PID namespace already guarantees that nothing
    outlives the run, while wait4's rusage gives CPU time and the peak RSS
    of the largest process (not the sum that `measure` gives).
    Limits that cannot be applied are an error unless `no_limits`, which
    runs without them.
    """
    if not sys.platform.startswith("linux"):
        raise SandboxError("the gobox sandbox needs Linux (user namespaces and cgroups)")
    program = _seccomp_program(spec)
    limits = Limits() if no_limits else spec.limits
    libc.load()
    cgroup = None
    if limits.any:
        cgroup = _make_cgroup(cgroups, limits)
    elif measure:
        cgroup = _measuring_cgroup(cgroups)
    watchdog = _start_watchdog(cgroup) if cgroup is not None else None
    try:
        return _run(spec, cgroup, program)
    finally:
        if cgroup is not None:
            cgroup.remove()
        if watchdog is not None:
            _stop_watchdog(*watchdog)


SECCOMP_OFF = ("gobox: warning: the seccomp filter is off ([sandbox].seccomp = \"off\" or --seccomp off): "
               "the command may use every syscall the kernel offers a user namespace\n")


def _seccomp_program(spec: SandboxSpec) -> bytes | None:
    if spec.seccomp == "off":
        sys.stderr.write(SECCOMP_OFF)
        sys.stderr.flush()
        return None
    if spec.seccomp != "default":
        raise SandboxError(f"unknown seccomp profile {spec.seccomp!r}", hint='use "default" or "off"')
    from gobox.sandbox import seccomp

    return seccomp.program(os.path.join(spec.scratch, ".seccomp"))


def warm(specs: Sequence[SandboxSpec], measure: bool) -> Cgroups | None:
    """Before forking workers that each call run(): find here, once, what every one of them would find
    again after its fork, and return the host's cgroups for their run(cgroups=...) when they need them.

    The seccomp program is made (compiled into the store the first time) with its imports and libraries
    loaded (hashlib's libcrypto, libseccomp: ~5 ms each per process), so each worker inherits them.
    """
    default = next((s for s in specs if s.seccomp == "default"), None)
    if default is not None:
        _seccomp_program(default)
    if measure or any(s.limits.any for s in specs):
        return _system_cgroups()
    return None


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

    Named gobox-<pid>-<hex>: the pid lets a later gobox tell an orphan (cgroupfs.sweep_orphans).
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


def _run(spec: SandboxSpec, cgroup: Cgroup | None, program: bytes | None) -> Result:
    net = None
    if spec.network == "private":
        from gobox.sandbox import pasta

        pasta_path = pasta.find()  # first: a missing pasta is one line, and nothing started
        net = _NetSync.make()
    term = terminal.Outer.of(spec.tty)
    r, w = os.pipe2(os.O_CLOEXEC)
    ctl, ctl_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # both close-on-exec
    launch = init.Launch(program, term.tty_fds, ctl_child.fileno(), libc.last_capability())
    # libc.fork only from gobox's sole thread; its forks below are single-threaded children.
    fork = libc.fork if _single_threaded() else os.fork
    started = time.perf_counter()
    parent = os.getpid()
    pid = fork()
    if pid == 0:
        os.close(r)
        ctl.close()
        _setup_child(spec, parent, cgroup, w, launch, net)
    os.close(w)
    ctl_child.close()
    network = None
    try:
        if net is not None:
            net.in_parent()
            if net.wait_ready(SETUP_TIMEOUT):
                network = pasta.start(pasta_path, pid, spec.publish)
            net.go()
        watch = _Watch(pid, r, ctl, term, started)
    except BaseException:  # pasta failed, or an interrupt before the run: nothing may stay behind
        _forward(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(r)
        ctl.close()
        if net is not None:
            with suppress(OSError):
                os.close(net.go_w)
        if network is not None:
            network.stop()
        raise
    try:
        watch.loop()
    finally:
        watch.close()
        if network is not None:
            network.stop()
    if watch.timed_out:
        raise SandboxError(f"sandbox setup did not finish within {SETUP_TIMEOUT:.0f} s")
    records = _parse(watch.records)
    if records:
        raise _error(records[0], spec)
    code = init.exit_status(watch.status)
    if watch.interrupted and code != 0:
        # Interrupted, and not a clean stop of the command's own (a server's exit 0 on SIGTERM, as under
        # docker stop): 128+n, as for a job a shell interrupted, whether the command died of the signal,
        # was killed after the grace, or reported it its own way (go run and go test exit 1).
        code = 128 + watch.interrupted
    usage = cgroup.usage() if cgroup is not None else None
    rusage = watch.rusage
    peak = usage.peak_memory if usage and usage.peak_memory is not None else rusage.ru_maxrss * 1024
    cpu = usage.cpu_time if usage and usage.cpu_time is not None else rusage.ru_utime + rusage.ru_stime
    return Result(code, peak, cpu, oom_killed=bool(usage and usage.oom_killed),
                  pids_limited=bool(usage and usage.pids_limited), setup_seconds=watch.setup_seconds)


GRACE = 2.0  # seconds between passing SIGINT/SIGTERM/SIGHUP on and killing everything in the sandbox


class _Watch:
    """gobox's side of a run, until the setup child has gone: the setup pipe, signals passed on, the
    pty relayed, the command's stops followed, and the kill after the grace period or setup timeout."""

    def __init__(self, pid: int, records_fd: int, ctl: socket.socket, term: terminal.Outer,
                 started: float) -> None:
        self.pid, self.records_fd, self.term, self.started = pid, records_fd, term, started
        self.ctl: socket.socket | None = ctl
        self.records = b""
        self.setup_seconds: float | None = None
        self.setup_deadline: float | None = time.monotonic() + SETUP_TIMEOUT
        self.timed_out = False
        self.interrupted = 0
        self.kill_at: float | None = None
        self.status = 0
        self.rusage: Any = None
        self.relay: terminal.Relay | None = None
        self.wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.wake_w = wake_w
        self.old_wakeup = signal.set_wakeup_fd(wake_w)
        self.old_handlers = {s: signal.signal(s, _noted) for s in init.FORWARDED}
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None  # Linux < 5.3: poll with waitpid

    def loop(self) -> None:
        while True:
            now = time.monotonic()
            deadlines = [d for d in (self.setup_deadline, self.kill_at) if d is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            if self.pidfd is None:
                timeout = 0.05 if timeout is None else min(timeout, 0.05)
            readers: list[Any] = [self.wake_r]
            if self.ctl is not None:
                readers.append(self.ctl)
            if self.records_fd >= 0:
                readers.append(self.records_fd)
            if self.pidfd is not None:
                readers.append(self.pidfd)
            writers: list[int] = []
            if self.relay is not None:
                readers += self.relay.readers()
                writers += self.relay.writers()
            try:
                ready_r, ready_w, _ = select.select(readers, writers, [], timeout)
            except InterruptedError:
                continue
            if self.wake_r in ready_r:
                self._signals()
            if self.records_fd in ready_r:
                self._read_records()
            if self.ctl is not None and self.ctl in ready_r:
                self._control()
            if self.relay is not None:
                self.relay.pump(ready_r, ready_w)
            if self._exited(self.pidfd in ready_r):
                return
            now = time.monotonic()
            if self.setup_deadline is not None and now >= self.setup_deadline:
                self.timed_out = True
                self.setup_deadline = None
                _forward(self.pid, signal.SIGKILL)
            if self.kill_at is not None and now >= self.kill_at:
                # Past the grace: PID 1 dies with the setup child (its parent-death signal), and the
                # kernel kills every process of its namespace with it.
                self.kill_at = None
                _forward(self.pid, signal.SIGKILL)

    def _read_records(self) -> None:
        chunk = os.read(self.records_fd, 65536)
        if chunk:
            self.records += chunk
            return
        # End of file: the command was exec'd (or setup failed and said so).
        self.setup_seconds = time.perf_counter() - self.started
        self.setup_deadline = None
        os.close(self.records_fd)
        self.records_fd = -1

    def _signals(self) -> None:
        try:
            data = os.read(self.wake_r, 512)
        except BlockingIOError:
            return
        for signo in data:
            if signo == signal.SIGWINCH and self.relay is not None:
                self.relay.resize()
                continue
            if signo == signal.SIGCONT and self.relay is not None:
                self.relay.resume()
            if signo in init.TERMINATING and not self.interrupted:
                self.interrupted = signo
                self.kill_at = time.monotonic() + GRACE
            _forward(self.pid, signo)

    def _control(self) -> None:
        ctl = self.ctl
        assert ctl is not None  # polled only while PID 1's socket is open
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 16, 4)
        except OSError:
            msg, fds = b"", []
        if not msg:  # PID 1 is gone
            ctl.close()
            self.ctl = None
            return
        if msg[:1] == init.MASTER and fds:
            self.relay = terminal.Relay(fds[0], self.term)
        elif msg[:1] == init.STOPPED:
            # The command stopped: so does gobox, with the terminal given back to the user's shell. On
            # SIGCONT (fg, bg) the handler above passes SIGCONT on.
            if self.relay is not None:
                self.relay.suspend()
            os.kill(os.getpid(), signal.SIGSTOP)

    def _exited(self, readable: bool) -> bool:
        if self.pidfd is not None and not readable:
            return False
        pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.status, self.rusage = status, rusage
        if self.records_fd >= 0:  # a setup failure: its records are all written by now
            while chunk := os.read(self.records_fd, 65536):
                self.records += chunk
        if self.relay is not None:
            self.relay.drain()
        return True

    def close(self) -> None:
        if self.status == 0 and self.rusage is None:  # left by an exception: kill and reap
            _forward(self.pid, signal.SIGKILL)
            with suppress(ChildProcessError):
                _, self.status, self.rusage = os.wait4(self.pid, 0)
        if self.relay is not None:
            self.relay.close()
        self.term.restore()
        signal.set_wakeup_fd(self.old_wakeup)
        for s, handler in self.old_handlers.items():
            signal.signal(s, handler)
        for fd in (self.wake_r, self.wake_w, self.pidfd, self.records_fd if self.records_fd >= 0 else None):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)
        if self.ctl is not None:
            self.ctl.close()


def _noted(signo: int, frame: FrameType | None) -> None:
    """The handler of every forwarded signal: set_wakeup_fd has already written its number for the loop."""


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
