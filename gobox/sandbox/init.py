"""PID 1 of the sandbox: start the command, forward signals to it, reap every zombie, return its status."""

from __future__ import annotations

import errno
import json
import os
import signal
from typing import NoReturn

from gobox.sandbox import libc
from gobox.sandbox.spec import SandboxSpec

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH)


def report(fd: int, step: str, path: str, err: int, message: str = "") -> None:
    """Send one setup failure to the gobox process as a JSON line."""
    record = {"step": step, "path": path, "errno": err, "message": message or os.strerror(err)}
    try:
        os.write(fd, json.dumps(record).encode() + b"\n")
    except OSError:
        pass  # the parent is gone; nobody is left to tell


def exit_status(status: int) -> int:
    """The shell's convention: the exit code, or 128+n for death by signal n."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def drop_privileges() -> None:
    """The command keeps no capabilities, cannot regain any by exec (even as uid 0), and
    cannot gain privileges through setuid binaries."""
    libc.prctl(libc.PR_SET_SECUREBITS,
               libc.SECBIT_NOROOT | libc.SECBIT_NOROOT_LOCKED | libc.SECBIT_NO_SETUID_FIXUP
               | libc.SECBIT_NO_SETUID_FIXUP_LOCKED | libc.SECBIT_KEEP_CAPS_LOCKED)
    for cap in range(libc.last_capability() + 1):
        try:
            libc.prctl(libc.PR_CAPBSET_DROP, cap)
        except OSError as e:
            if e.errno != errno.EINVAL:  # a capability this kernel does not know
                raise
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    libc.clear_capabilities()
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)


def _take_terminal() -> None:
    """Become the terminal's foreground process group, so Ctrl-C and job control reach the
    command (and only it), as with any shell. Only when gobox itself is in the foreground."""
    try:
        if not os.isatty(0) or os.tcgetpgrp(0) != os.getpgrp():
            return
    except OSError:
        return
    os.setpgid(0, 0)
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(0, os.getpid())
    finally:
        signal.signal(signal.SIGTTOU, old)


def exec_command(spec: SandboxSpec, err_fd: int) -> NoReturn:
    """In the command's process: take the terminal, enter cwd, drop privileges, exec."""
    step, path = "chdir", spec.cwd
    try:
        _take_terminal()
        os.chdir(spec.cwd)
        step, path = "drop privileges", ""
        drop_privileges()
        if spec.umask is not None:
            os.umask(spec.umask)
        step, path = "exec", spec.argv[0]
        os.execvpe(spec.argv[0], list(spec.argv), dict(spec.env))
    except OSError as e:
        report(err_fd, step, path, e.errno or 0)
        os._exit(127 if step == "exec" and e.errno == errno.ENOENT else 126)
    except BaseException as e:  # noqa: BLE001 - anything here must reach the parent as a record
        report(err_fd, step, path, 0, repr(e))
    os._exit(126)


def pid1(spec: SandboxSpec, err_fd: int) -> NoReturn:
    """Run as PID 1 of the sandbox's PID namespace until the command exits."""
    waited = (*FORWARDED, signal.SIGCHLD)
    # Blocked before the fork, so no signal can slip between the fork and the wait loop.
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    child = os.fork()
    if child == 0:
        # Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec:
        # `yes | head` in the sandbox must end as it does in a shell.
        for s in (*waited, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)
        exec_command(spec, err_fd)
    os.close(err_fd)
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo != signal.SIGCHLD:
            try:
                os.kill(child, info.si_signo)
            except ProcessLookupError:
                pass
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(0)
            if pid == 0:
                break
            if pid == child:
                # Leaving kills whatever else still runs in the namespace.
                os._exit(exit_status(status))
