"""libc.fork, the sandbox's fork without CPython's after-fork hooks: its child still runs Python fully (threads,
locks, imports) and its exit status reaches the parent, as an os.fork child's does; gobox uses it only while it
runs as one thread."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from gobox import libc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libc.fork is Linux's")

CHILD_SAYS = 0x2A


def _reap(pid: int, timeout: float = 30.0) -> int:
    """The child's exit status; kills it (and fails) if it hangs, as a child with a broken GIL or lock would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the libc.fork child hung")


def test_the_child_runs_threads_locks_and_imports_and_its_status_reaches_the_parent() -> None:
    import threading

    parent = os.getpid()
    r, w = os.pipe()
    pid = libc.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            lock = threading.Lock()
            out: list[str] = []

            def work() -> None:
                with lock:
                    import colorsys  # a module not imported yet: the import lock works

                    out.append(f"{colorsys.rgb_to_hsv(1, 0, 0)[0]}")

            t = threading.Thread(target=work)
            t.start()
            t.join(10)
            ok = (not t.is_alive() and out == ["0.0"] and os.getppid() == parent
                  and threading.current_thread() is threading.main_thread())
            os.write(w, f"{os.getpid()} {ok}".encode())
            code = CHILD_SAYS
        finally:
            os._exit(code)
    os.close(w)
    status = _reap(pid)
    said = os.read(r, 100).decode().split()
    os.close(r)
    assert pid > 0 and pid != parent
    assert said == [str(pid), "True"]
    assert os.waitstatus_to_exitcode(status) == CHILD_SAYS


def test_the_sandbox_forks_through_libc_only_while_gobox_has_one_thread() -> None:
    # Asked in a fork child, which has one thread whatever the test session runs (its servers' threads).
    # A thread that threading does not know of (started by C code, or _thread) counts too: /proc lists them all.
    import _thread

    from gobox.sandbox import run

    r, w = os.pipe()
    pid = libc.fork()
    if pid == 0:
        try:
            os.close(r)
            alone = run._single_threaded()
            release, started = _thread.allocate_lock(), _thread.allocate_lock()
            release.acquire()
            started.acquire()

            def hold() -> None:
                started.release()
                release.acquire()

            _thread.start_new_thread(hold, ())
            started.acquire()
            os.write(w, f"{alone} {run._single_threaded()}".encode())
            release.release()
        finally:
            os._exit(0)
    os.close(w)
    _reap(pid)
    said = os.read(r, 100).decode()
    os.close(r)
    assert said == "True False"
