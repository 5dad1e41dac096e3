"""PID 1 of the sandbox: start the command in a session of its own, pass signals on to it as a terminal
would, reap every zombie, tell gobox when the command stops, and return its status."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import struct
import termios
from collections.abc import Iterable
from typing import Any, NoReturn

from gobox import libc
from gobox.sandbox.spec import SandboxSpec
from gobox.values import dataclass

# What gobox passes on to the sandbox. SIGTSTP and SIGCONT carry job control when gobox itself is
# stopped and continued (Ctrl-Z on a terminal gobox does not relay, `kill -STOP`, `fg`).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH, signal.SIGTSTP, signal.SIGCONT)
# What ends a run: passed on, then after run.GRACE seconds everything in the sandbox is killed.
TERMINATING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# The C functions under the signal module's wrappers, which turn each handler and mask they return into
# enums: in a forked child that Python work and the copy-on-write faults it makes cost ~0.15 ms per call.
_raw: Any
try:
    import _signal as _raw  # type: ignore[import-not-found,no-redef]  # CPython's; signal.py imports it
except ImportError:
    _raw = signal

STOPPED = b"T"  # PID 1 -> gobox: "the command stopped, with this signal" (one byte after it)
MASTER = b"M"  # PID 1 -> gobox: the pty master, as SCM_RIGHTS


@dataclass(frozen=True)
class Launch:
    """What PID 1 and the command need beyond the spec, made ready by gobox before the fork."""

    seccomp: bytes | None  # the BPF program to load last before exec; None: no filter
    tty_fds: tuple[int, ...]  # the command's fds that get the sandbox's own pty; (): no pty
    ctl: int  # PID 1's end of a SOCK_SEQPACKET pair with gobox
    last_cap: int  # the highest capability this kernel knows (libc.last_capability), read before the fork


def report(fd: int, step: str, path: str, err: int, message: str = "") -> None:
    """Send one setup failure to the gobox process as a JSON line."""
    record = {"step": step, "path": path, "errno": err, "message": message or os.strerror(err)}
    try:
        os.write(fd, json.dumps(record).encode() + b"\n")
    except OSError:
        pass  # the parent is gone; nobody is left to tell


def sigmask(how: int, signals: Iterable[int]) -> None:
    """pthread_sigmask, for the forked children: as signal.pthread_sigmask, without the old mask as enums."""
    _raw.pthread_sigmask(how, signals)


def handle(signals: Iterable[int], handler: Any) -> None:
    """signal.signal on each of `signals`, for the forked children: without the old handlers as enums."""
    if handler in (signal.SIG_DFL, signal.SIG_IGN):  # the C function knows its own objects only, not the enum
        handler = _raw.SIG_DFL if handler == signal.SIG_DFL else _raw.SIG_IGN
    for s in signals:
        _raw.signal(s, handler)


def exit_status(status: int) -> int:
    """The shell's convention: the exit code, or 128+n for death by signal n."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def drop_privileges(last_cap: int) -> None:
    """The command keeps no capabilities, cannot regain any by exec (even as uid 0), and
    cannot gain privileges through setuid binaries. `last_cap` is the kernel's highest capability."""
    libc.prctl(libc.PR_SET_SECUREBITS,
               libc.SECBIT_NOROOT | libc.SECBIT_NOROOT_LOCKED | libc.SECBIT_NO_SETUID_FIXUP
               | libc.SECBIT_NO_SETUID_FIXUP_LOCKED | libc.SECBIT_KEEP_CAPS_LOCKED)
    for cap in range(last_cap + 1):
        try:
            libc.prctl(libc.PR_CAPBSET_DROP, cap)
        except OSError as e:
            if e.errno != errno.EINVAL:  # a capability this kernel does not know
                raise
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    libc.clear_capabilities()
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)


def join_new_keyring() -> None:
    """Leave the caller's session keyring for a new, empty one.

    ENOSYS (no keyrings in this kernel) and EPERM (a seccomp filter around
    gobox refuses keyctl, as Docker's does) leave nothing to hide: the
    command cannot reach keys either way.
    """
    try:
        libc.keyctl_join_session_keyring()
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EPERM):
            raise


def open_pty() -> tuple[int, int]:
    """A pty of the sandbox's own devpts instance (so `tty` names a device that exists inside), with the
    settings and size of gobox's terminal (fd 0, still the caller's here)."""
    master, slave = os.openpty()
    try:
        termios.tcsetattr(slave, termios.TCSANOW, termios.tcgetattr(0))
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # a terminal without a size; the pty keeps its defaults
    return master, slave


def _attach(slave: int | None, tty_fds: tuple[int, ...]) -> None:
    """In the command, a process group of its own in PID 1's session: the foreground of the sandbox's pty
    on `tty_fds`; without one, a terminal stdin (gobox's, not relayed) is no input for the sandbox."""
    os.setpgid(0, 0)
    if slave is not None:
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # not yet the foreground: tcsetpgrp would stop us
        try:
            os.tcsetpgrp(slave, os.getpid())
        finally:
            signal.signal(signal.SIGTTOU, old)
        for fd in tty_fds:
            os.dup2(slave, fd)
        if slave not in tty_fds:
            os.close(slave)
    elif os.isatty(0):
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)


def exec_command(spec: SandboxSpec, launch: Launch, err_fd: int, slave: int | None) -> NoReturn:
    """In the command's process: its own process group and terminal, cwd, no privileges, a new keyring,
    the seccomp filter last, then exec."""
    step, path = "attach the terminal", ""
    try:
        _attach(slave, launch.tty_fds)
        step, path = "chdir", spec.cwd
        os.chdir(spec.cwd)
        step, path = "drop privileges", ""
        drop_privileges(launch.last_cap)
        if spec.umask is not None:
            os.umask(spec.umask)
        step = "join a new session keyring"
        join_new_keyring()
        if launch.seccomp is not None:
            step = "load the seccomp filter"
            libc.seccomp_load(launch.seccomp)
        step, path = "exec", spec.argv[0]
        os.execvpe(spec.argv[0], list(spec.argv), dict(spec.env))
    except OSError as e:
        report(err_fd, step, path, e.errno or 0)
        os._exit(127 if step == "exec" and e.errno == errno.ENOENT else 126)
    except BaseException as e:  # noqa: BLE001 - anything here must reach the parent as a record
        report(err_fd, step, path, 0, repr(e))
    os._exit(126)


def _groups(child: int, master: int | None) -> list[int]:
    """Where a signal goes, as a terminal would send it: the pty's foreground process group (a job of
    `gobox shell`), and the command's own group (it is a session leader, its pgid is its pid)."""
    groups = [child]
    if master is not None:
        try:
            fg = os.tcgetpgrp(master)
        except OSError:
            fg = 0
        if fg > 0 and fg != child:
            groups.insert(0, fg)
    return groups


def signal_command(child: int, master: int | None, signo: int) -> None:
    for group in _groups(child, master):
        try:
            os.kill(-group, signo)
        except ProcessLookupError:
            # Not yet a group of its own (the signal came before its setsid): the process itself.
            try:
                os.kill(child, signo)
            except ProcessLookupError:
                pass


def pid1(spec: SandboxSpec, launch: Launch, err_fd: int) -> NoReturn:
    """Run as PID 1 of the sandbox's PID namespace until the command exits."""
    waited = (*FORWARDED, signal.SIGCHLD)
    # Blocked before the fork, so no signal can slip between the fork and the wait loop.
    sigmask(signal.SIG_BLOCK, waited)
    # A session of the sandbox's own, led by PID 1, the sandbox's pty its controlling terminal: the
    # command shares no session with gobox's caller, and sits in a group of its own under a parent of
    # the same session, as under a shell or sudo's monitor: were it the session leader, its group would
    # be orphaned, and the kernel discards the stop signals (Ctrl-Z, SIGTSTP) of an orphaned group.
    os.setsid()
    master = slave = None
    if launch.tty_fds:
        master, slave = open_pty()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    child = libc.fork()  # PID 1 has one thread: see libc.fork
    if child == 0:
        # Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec:
        # `yes | head` in the sandbox must end as it does in a shell.
        handle((*waited, signal.SIGPIPE, signal.SIGXFSZ), signal.SIG_DFL)
        sigmask(signal.SIG_UNBLOCK, waited)
        if master is not None:
            os.close(master)
        os.close(launch.ctl)
        exec_command(spec, launch, err_fd, slave)
    os.close(err_fd)
    ctl = socket.socket(fileno=launch.ctl)
    if master is not None and slave is not None:  # open_pty gives both or neither
        os.close(slave)
        # Kept here too: tcgetpgrp on it names the foreground job that signals go to.
        socket.send_fds(ctl, [MASTER], [master])
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo != signal.SIGCHLD:
            if not (info.si_signo == signal.SIGWINCH and master is not None):  # the pty tells its own group
                signal_command(child, master, info.si_signo)
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
            except ChildProcessError:
                os._exit(0)
            if pid == 0:
                break
            if pid != child:
                continue
            if os.WIFSTOPPED(status):
                # Stopped (Ctrl-Z on its terminal, SIGTSTP, SIGSTOP): gobox stops too, as sudo does,
                # and passes SIGCONT on when it is continued.
                try:
                    ctl.send(STOPPED + struct.pack("B", os.WSTOPSIG(status)))
                except OSError:
                    pass
                continue
            # Leaving kills whatever else still runs in the namespace.
            os._exit(exit_status(status))
