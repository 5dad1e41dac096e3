"""Run many sandboxed builds at once: one forked worker each, admitted by cores and memory.

gobox stays single-threaded: each run gets a worker process, forked from the
main thread (forking a threaded Python is unsafe), which runs the sandbox
with its output in a log file and sends the Result back over a pipe. A
worker dies with gobox (PR_SET_PDEATHSIG), and its sandbox with it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

from gobox import libc
from gobox.errors import GoboxError
from gobox.sandbox.cgroups import Cgroups
from gobox.sandbox.run import run, warm
from gobox.sandbox.spec import Result, SandboxSpec
from gobox.values import dataclass

DEFAULT_ESTIMATE = 768 << 20  # a go build's peak before any was measured: the compiler, a few at once
HEADROOM = 0.8  # of MemAvailable: leave the page cache and everything else some room


@dataclass(frozen=True)
class Task:
    name: str
    spec: SandboxSpec
    log: Path  # the run's stdout and stderr
    then: tuple[SandboxSpec, ...] = ()  # run in the same worker after spec, each only when the last succeeded


@dataclass(frozen=True)
class Done:
    name: str
    result: Result | None  # None when the sandbox could not start
    error: str | None  # why it could not start
    seconds: float
    output: str  # what the run printed, read from its log once it ended


@dataclass(frozen=True)
class Admission:
    """How many runs may go at once: `jobs` when given, else by cores and the memory budget."""

    jobs: int | None
    cpus: int
    budget: int | None  # bytes the runs may use together; None when unknown

    def allows(self, running: int, estimate: int) -> bool:
        """Whether one more run may start while `running` are going (pure)."""
        if running == 0:
            return True
        if self.jobs is not None:
            return running < self.jobs
        if running >= self.cpus:
            return False
        return self.budget is None or (running + 1) * estimate <= self.budget

    def default_jobs(self, estimate: int) -> int:
        """The parallelism `allows` settles at for runs that each peak at `estimate`."""
        n = 0
        while n < 256 and self.allows(n, estimate):
            n += 1
        return n


def machine(jobs: int | None) -> Admission:
    """The admission rule for this host: its usable cores and MemAvailable."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return Admission(jobs, max(1, cpus), _mem_available())


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * HEADROOM)
    except (OSError, ValueError, IndexError):
        pass
    return None


class Events:
    """What a matrix tells its caller as it goes; the default says nothing."""

    # Seconds without any run finishing after which `still` is told of each running one; None: never.
    heartbeat: float | None = None

    def queued(self, names: list[str]) -> None: ...

    def started(self, name: str, running: int) -> None: ...

    def still(self, name: str, seconds: float) -> None: ...

    def finished(self, done: Done) -> None: ...


def run_all(tasks: Sequence[Task], admission: Admission, estimate: int = DEFAULT_ESTIMATE,
            events: Events | None = None, measure: bool = True) -> list[Done]:
    """Run every task, at most as many at once as `admission` allows; results in task order.

    `estimate` is a run's expected peak memory; each measured peak raises it,
    so a matrix that turns out heavier than guessed slows its own admission.
    """
    events = events or Events()
    cgroups = warm([s for t in tasks for s in (t.spec, *t.then)], measure)
    pending = deque(tasks)
    running: dict[int, tuple[Task, int, float]] = {}  # pipe fd -> (task, worker pid, start)
    done: dict[str, Done] = {}
    events.queued([t.name for t in tasks])
    try:
        while pending or running:
            while pending and admission.allows(len(running), estimate):
                task = pending.popleft()
                pid, fd = _spawn(task, measure, cgroups)
                running[fd] = (task, pid, time.monotonic())
                events.started(task.name, len(running))
            ready, _, _ = select.select(list(running), [], [], getattr(events, "heartbeat", None))
            if not ready:
                now = time.monotonic()
                for task, _, start in running.values():
                    events.still(task.name, now - start)
            for fd in ready:
                task, pid, start = running.pop(fd)
                d = _collect(task, pid, fd, time.monotonic() - start)
                if d.result is not None and d.result.peak_memory:
                    estimate = max(estimate, d.result.peak_memory)
                done[task.name] = d
                events.finished(d)
    finally:
        _stop(running)
    return [done[t.name] for t in tasks]


def _spawn(task: Task, measure: bool, cgroups: Cgroups | None) -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _worker(task, measure, cgroups, parent, w)
    os.close(w)
    return pid, r


def _worker(task: Task, measure: bool, cgroups: Cgroups | None, parent: int, w: int) -> NoReturn:
    payload: dict = {}
    try:
        libc.load()
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        log = os.open(task.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        try:
            results = [run(task.spec, cgroups, measure=measure)]
            for spec in task.then:
                if results[-1].exit_code != 0:
                    break
                results.append(run(spec, cgroups, measure=measure))
            payload = {"result": asdict(_together(results))}
        except GoboxError as e:
            payload = {"error": e.message + (f" ({e.hint})" if e.hint else "")}
    except BaseException as e:  # noqa: BLE001 - a worker reports, it never raises into gobox's stack
        payload = {"error": f"{type(e).__name__}: {e}"}
    with suppress(OSError):
        os.write(w, json.dumps(payload).encode())
    os._exit(0)


def _together(results: Sequence[Result]) -> Result:
    """One Result for runs made one after another: the last one's exit, the highest peak, the CPU added up."""
    peaks = [r.peak_memory for r in results if r.peak_memory is not None]
    cpus = [r.cpu_time for r in results if r.cpu_time is not None]
    last = results[-1]
    return Result(last.exit_code, max(peaks) if peaks else None, sum(cpus) if cpus else None,
                  any(r.oom_killed for r in results), any(r.pids_limited for r in results), results[0].setup_seconds)


def _collect(task: Task, pid: int, fd: int, seconds: float) -> Done:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    try:
        payload = json.loads(data)
    except ValueError:
        payload = {"error": f"the worker for {task.name} died (wait status {status})"}
    try:
        output = task.log.read_text(errors="replace")
    except OSError:
        output = ""
    if "result" in payload:
        return Done(task.name, Result(**payload["result"]), None, seconds, output)
    return Done(task.name, None, payload.get("error", "unknown"), seconds, output)


def _stop(running: dict[int, tuple[Task, int, float]]) -> None:
    """Interrupted: end the workers (they pass it on to their sandboxes) and reap them."""
    for fd, (_, pid, _) in running.items():
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with suppress(OSError):
            os.close(fd)
    for _, pid, _ in running.values():
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)


def peak_estimate(path: Path, key: str) -> int | None:
    """The peak memory last measured for `key` (a project), kept in a small JSON file."""
    try:
        value = json.loads(path.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def remember_peak(path: Path, key: str, peak: int, write: Callable[[Path, bytes], None]) -> None:
    try:
        known = json.loads(path.read_text())
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    # The largest seen: a cold cache's peak is the one that must fit, and warm runs are lighter.
    old = known.get(key)
    known[key] = max(peak, old) if isinstance(old, int) else peak
    write(path, json.dumps(known, sort_keys=True).encode())
