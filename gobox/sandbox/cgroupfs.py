"""cgroupfs as the kernel wants it written and read; a run's cgroup sealed; those a dead gobox left thawed and swept."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Collection
from pathlib import Path

from gobox.errors import GoboxError

ORPHAN_AGE = 10.0  # seconds an empty run cgroup must be old before another gobox may sweep it
RUN_NAME = r"gobox-(\d+)-[0-9a-f]{6}"  # what run.py names a run's cgroup: gobox-<pid>-<hex>; re caches it


class CgroupError(GoboxError):
    """A cgroup could not be created, limited, joined or removed."""


def write(path: Path, *values: str, optional: Collection[str] = ()) -> None:
    """Each value in its own write(2): the kernel takes one pid or one +controller per write.

    A value in `optional` the kernel refuses is skipped. No O_CREAT: cgroupfs answers
    that with EACCES, which would hide a missing file.
    """
    value = " ".join(values)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            for value in values:
                try:
                    os.write(fd, value.encode())
                except OSError:
                    if value not in optional:
                        raise
        finally:
            os.close(fd)
    except OSError as e:
        raise CgroupError(f"cannot write {value!r} to {path}: {e.strerror}") from e


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_int(path: Path) -> int | None:
    text = read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def fields(path: Path) -> dict[str, int]:
    """The `key value` lines of memory.events, cpu.stat, pids.events, memory.oom_control."""
    out = {}
    for line in (read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def procs(dirs: tuple[Path, ...]) -> set[int]:
    return {int(p) for d in dirs for p in (read(d / "cgroup.procs") or "").split()}


def mkdir(path: Path) -> None:
    try:
        path.mkdir()
    except OSError as e:
        raise CgroupError(f"cannot create cgroup {path}: {e.strerror}") from e


def rmdir(path: Path) -> None:
    os.rmdir(path)


def writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def seal(dirs: Collection[Path]) -> None:
    """Make a run's cgroup read-only to its owner, when gobox is root.

    The sandboxed root maps to the host's uid 0, which owns these files: had it
    cgroupfs in reach (a nested user and cgroup namespace, were the seccomp
    filter off), the owner's write bit would let it lift its own limits.
    Without it, only a holder of CAP_DAC_OVERRIDE in the host's namespace
    writes them: gobox itself, never anything in the sandbox. (A gobox that is
    not root owns its delegated cgroup as the command does, and an owner can
    chmod back: there, the filter and the absence of cgroupfs inside hold.)
    """
    if os.geteuid() != 0:
        return
    for d in dirs:
        with contextlib.suppress(OSError):
            for entry in os.scandir(d):
                if entry.is_file(follow_symlinks=False):
                    os.chmod(entry.path, entry.stat(follow_symlinks=False).st_mode & 0o444)
            os.chmod(d, 0o555)


def thaw_orphans(parent: Path) -> list[Path]:
    """Kill and thaw the frozen run cgroups of v1 freezer hierarchy `parent` whose gobox is gone.

    A gobox killed in the middle of V1Cgroup.kill (kill -9 of it and its
    watchdog) leaves its cgroup FROZEN: the SIGKILLs it sent stay pending, the
    processes stay in the freezer, and the parent-death signals that empty an
    orphan otherwise cannot act. Only a frozen cgroup is touched: a live run is
    frozen only inside its own kill, which this finishes. Returns the thawed ones.
    """
    thawed: list[Path] = []
    now = time.time()
    try:
        children = list(os.scandir(parent))
    except OSError:
        return thawed
    for child in children:
        m = re.fullmatch(RUN_NAME, child.name)
        d = Path(child.path)
        if not m or alive(int(m[1])):
            continue
        state = (read(d / "freezer.state") or "").strip()
        try:
            young = now - child.stat().st_mtime < ORPHAN_AGE
        except OSError:
            continue
        if state not in ("FROZEN", "FREEZING") or young:
            continue
        for pid in procs((d,)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(CgroupError):
            write(d / "freezer.state", "THAWED")
        deadline = time.monotonic() + 2.0
        while procs((d,)) and time.monotonic() < deadline:
            time.sleep(0.01)
        thawed.append(d)
    return thawed


def sweep_orphans(parents: Collection[Path]) -> list[Path]:
    """Remove the run cgroups that a gobox killed with its watchdog (kill -9 of both) left behind.

    Only an empty one, named for a gobox that no longer exists and older than
    ORPHAN_AGE: a live run's cgroup is never empty after its first moments, and
    the age covers a gobox of another PID namespace whose pid we cannot see.
    Processes are never killed here. Returns what was removed.
    """
    now = time.time()
    removed = []
    for parent in parents:
        try:
            children = list(os.scandir(parent))
        except OSError:
            continue
        for child in children:
            m = re.fullmatch(RUN_NAME, child.name)
            if not m or alive(int(m[1])):
                continue
            try:
                if now - child.stat().st_mtime < ORPHAN_AGE or procs((Path(child.path),)):
                    continue
                rmdir(Path(child.path))
            except OSError:
                continue  # EBUSY: a process got in; ENOENT: its watchdog or another gobox was first
            removed.append(Path(child.path))
    return removed
