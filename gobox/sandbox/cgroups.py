"""cgroup v2, v1 and "none" behind one interface: a run's cgroup that limits, measures and kills."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
from pathlib import Path
from typing import Protocol

from gobox.sandbox import cgroupfs
from gobox.sandbox.cgroupfs import CgroupError, seal, sweep_orphans, thaw_orphans
from gobox.values import dataclass

SYSFS = Path("/sys/fs/cgroup")
KILL_TIMEOUT = 5.0  # seconds kill() waits for the cgroup to empty
CFS_PERIOD = 100_000  # microseconds; the kernel refuses a quota below 1000
LEAF = "gobox-self"  # v2: where the processes of our own cgroup move so that it may have children
WANTED_V2 = ("memory", "pids", "cpu")
MEASURING_V1 = ("memory", "cpuacct", "pids")  # made for every run, limits or not
NO_LIMITS = "or use --no-limits"
DELEGATE = "start gobox in a delegated scope (systemd-run --user --scope -p Delegate=yes gobox ...)"


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes
    pids: int | None = None
    cpus: float | None = None  # cores, e.g. 1.5

    @property
    def any(self) -> bool:
        return any(x is not None for x in (self.memory, self.pids, self.cpus))

    @property
    def controllers(self) -> tuple[str, ...]:
        """The controllers these limits need (the same names on v1 and v2)."""
        return tuple(c for c, v in (("memory", self.memory), ("pids", self.pids), ("cpu", self.cpus))
                     if v is not None)


@dataclass(frozen=True)
class Usage:
    peak_memory: int | None  # bytes, None when unknown
    cpu_time: float | None  # seconds of user+system CPU of everything in the cgroup
    oom_killed: bool  # the kernel's OOM killer killed something in it
    pids_limited: bool  # a fork failed because of pids.max


class Cgroup(Protocol):
    def add(self, pid: int) -> None: ...
    def join(self) -> None: ...  # the calling process, which must be single-threaded (a fresh fork)
    def usage(self) -> Usage: ...
    def kill(self) -> None: ...
    def remove(self) -> None: ...
    @property
    def paths(self) -> tuple[Path, ...]: ...


class Cgroups(Protocol):
    @property
    def version(self) -> str: ...  # "v1", "v2" or "none"; read-only, as the frozen classes have it

    def unavailable(self, limits: Limits) -> str | None: ...
    def create(self, name: str, limits: Limits) -> Cgroup: ...
    def sweep(self) -> list[Path]: ...


# --- one run's cgroup -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunCgroup:
    """What v1 and v2 share: one directory per hierarchy, all holding the same processes."""

    dirs: tuple[Path, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return self.dirs

    def add(self, pid: int) -> None:
        for d in self.dirs:
            cgroupfs.write(d / "cgroup.procs", str(pid))

    def join(self) -> None:
        self.add(os.getpid())

    def kill(self) -> None:
        self._kill_until_empty(time.monotonic() + KILL_TIMEOUT)

    def _kill_until_empty(self, deadline: float) -> bool:
        # Repeated because a process may fork between our reading cgroup.procs and its death.
        while True:
            pids = cgroupfs.procs(self.dirs)
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        with contextlib.suppress(CgroupError):
            self.kill()
        failed = []
        for d in reversed(self.dirs):
            deadline = time.monotonic() + 1.0
            while True:
                try:
                    cgroupfs.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    # EBUSY while the last killed process is still on its way out.
                    if e.errno == errno.EBUSY and time.monotonic() < deadline:
                        time.sleep(0.02)
                        continue
                    failed.append(f"{d} ({e.strerror})")
                break
        if failed:
            raise CgroupError(f"cannot remove cgroup {', '.join(failed)}",
                              hint="a process in it may be stuck in the kernel (state D)")


@dataclass(frozen=True)
class V2Cgroup(_RunCgroup):
    def usage(self) -> Usage:
        d = self.dirs[0]
        peak = cgroupfs.read_int(d / "memory.peak")  # kernel >= 5.19
        if peak is None:
            peak = cgroupfs.read_int(d / "memory.current")
        cpu = cgroupfs.fields(d / "cpu.stat").get("usage_usec")
        return Usage(peak_memory=peak, cpu_time=cpu / 1e6 if cpu is not None else None,
                     oom_killed=cgroupfs.fields(d / "memory.events").get("oom_kill", 0) > 0,
                     pids_limited=cgroupfs.fields(d / "pids.events").get("max", 0) > 0)

    def kill(self) -> None:
        deadline = time.monotonic() + KILL_TIMEOUT
        knife = self.dirs[0] / "cgroup.kill"  # kernel >= 5.14: kills all, forks included, at once
        if knife.exists():
            cgroupfs.write(knife, "1")
        self._kill_until_empty(deadline)


@dataclass(frozen=True)
class V1Cgroup(_RunCgroup):
    by_controller: tuple[tuple[str, Path], ...] = ()

    def join(self) -> None:
        # "0" in `tasks` moves the calling thread alone, which the kernel does without write-locking the
        # global threadgroup semaphore; a pid in cgroup.procs takes that lock, whose first taking waits
        # out an RCU grace period: 7 to 42 ms here against 0.3 ms, on every sandbox with a cgroup. Moving
        # the one thread of a single-threaded process moves the process; its children are born inside.
        for d in self.dirs:
            cgroupfs.write(d / "tasks", "0")

    def _dir(self, controller: str) -> Path | None:
        return dict(self.by_controller).get(controller)

    def usage(self) -> Usage:
        mem, acct, pids = self._dir("memory"), self._dir("cpuacct"), self._dir("pids")
        oom = False
        if mem is not None:
            # Kernels before 4.13 have no oom_kill line; hitting the limit is the best we know then.
            kills = cgroupfs.fields(mem / "memory.oom_control").get("oom_kill")
            oom = (kills if kills is not None else cgroupfs.read_int(mem / "memory.failcnt") or 0) > 0
        usage_ns = cgroupfs.read_int(acct / "cpuacct.usage") if acct else None
        return Usage(peak_memory=cgroupfs.read_int(mem / "memory.max_usage_in_bytes") if mem else None,
                     cpu_time=usage_ns / 1e9 if usage_ns is not None else None,
                     oom_killed=oom,
                     pids_limited=bool(pids and cgroupfs.fields(pids / "pids.events").get("max", 0) > 0))

    def kill(self) -> None:
        deadline = time.monotonic() + KILL_TIMEOUT
        freezer = self._dir("freezer")
        if freezer is not None:
            # Frozen, nothing can fork away from the kill; the SIGKILLs land when we thaw.
            with contextlib.suppress(CgroupError):
                cgroupfs.write(freezer / "freezer.state", "FROZEN")
                frozen_by = time.monotonic() + 1.0
                while (cgroupfs.read(freezer / "freezer.state") or "").strip() == "FREEZING" \
                        and time.monotonic() < frozen_by:
                    time.sleep(0.01)
                for pid in cgroupfs.procs(self.dirs):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(CgroupError):
                cgroupfs.write(freezer / "freezer.state", "THAWED")
        self._kill_until_empty(deadline)


@dataclass(frozen=True)
class NoCgroup:
    """Stands in for a cgroup where the host has none: measures nothing, kills nothing."""

    paths: tuple[Path, ...] = ()

    def add(self, pid: int) -> None:
        pass

    def join(self) -> None:
        pass

    def usage(self) -> Usage:
        return Usage(peak_memory=None, cpu_time=None, oom_killed=False, pids_limited=False)

    def kill(self) -> None:
        pass

    def remove(self) -> None:
        pass


# --- the host's setup -----------------------------------------------------------------------------


def _cpu_quota(cpus: float) -> int:
    return max(1000, round(cpus * CFS_PERIOD))


@dataclass(frozen=True)
class CgroupsV2:
    """The unified hierarchy; runs become children of `base`, the cgroup gobox started in."""

    base: Path
    version: str = "v2"

    def _available(self) -> set[str]:
        return set((cgroupfs.read(self.base / "cgroup.controllers") or "").split())

    def unavailable(self, limits: Limits) -> str | None:
        missing = [c for c in limits.controllers if c not in self._available()]
        if missing:
            return (f"cgroup v2 controllers {', '.join(missing)} are not delegated to {self.base}: "
                    f"run as root, {DELEGATE}, {NO_LIMITS}")
        files = (self.base, self.base / "cgroup.procs", self.base / "cgroup.subtree_control")
        if not all(cgroupfs.writable(f) for f in files):
            return f"cgroup v2 directory {self.base} is not writable by uid {os.geteuid()}: " \
                   f"run as root, {DELEGATE}, {NO_LIMITS}"
        return None

    def create(self, name: str, limits: Limits) -> V2Cgroup:
        reason = self.unavailable(limits)
        if reason:
            raise CgroupError(reason)
        self._enable(limits)
        d = self.base / name
        cgroupfs.mkdir(d)
        try:
            if limits.memory is not None:
                cgroupfs.write(d / "memory.max", str(limits.memory))
                if (d / "memory.swap.max").exists():
                    cgroupfs.write(d / "memory.swap.max", "0")
            if (d / "memory.oom.group").exists():
                # A build half killed by the OOM killer only confuses; kill all of it.
                cgroupfs.write(d / "memory.oom.group", "1")
            if limits.pids is not None:
                cgroupfs.write(d / "pids.max", str(limits.pids))
            if limits.cpus is not None:
                cgroupfs.write(d / "cpu.max", f"{_cpu_quota(limits.cpus)} {CFS_PERIOD}")
        except CgroupError:
            V2Cgroup((d,)).remove()
            raise
        seal((d,))
        return V2Cgroup((d,))

    def sweep(self) -> list[Path]:
        return sweep_orphans((self.base,))

    def _enable(self, limits: Limits) -> None:
        enabled = set((cgroupfs.read(self.base / "cgroup.subtree_control") or "").split())
        wanted = [c for c in WANTED_V2 if c in self._available() and c not in enabled]
        if not wanted:
            return
        # No process may sit in a cgroup that hands controllers to its children (the root
        # cgroup, which has no cgroup.type, is exempt): move everyone there into a leaf first.
        if (self.base / "cgroup.type").exists():
            self._move_into_leaf()
        # One we only measure with may be refused (cpu, with realtime tasks about): run without it.
        cgroupfs.write(self.base / "cgroup.subtree_control", *(f"+{c}" for c in wanted),
               optional=[f"+{c}" for c in wanted if c not in limits.controllers])

    def _move_into_leaf(self) -> None:
        leaf = self.base / LEAF
        if not leaf.is_dir():
            with contextlib.suppress(CgroupError):  # another gobox may make it at this moment
                cgroupfs.mkdir(leaf)
        for _ in range(5):  # a few rounds for processes forked while we moved the others
            pids = sorted(cgroupfs.procs((self.base,)))
            if not pids:
                return
            for pid in pids:
                try:
                    cgroupfs.write(leaf / "cgroup.procs", str(pid))
                except CgroupError as e:
                    if not isinstance(e.__cause__, ProcessLookupError):
                        raise


@dataclass(frozen=True)
class CgroupsV1:
    """One hierarchy per controller (or per group, as cpu,cpuacct); `own` maps each to our cgroup."""

    own: tuple[tuple[str, Path], ...]
    version: str = "v1"

    def _used(self, limits: Limits) -> dict[str, Path]:
        own = dict(self.own)
        wanted = (*MEASURING_V1, *limits.controllers, "freezer")
        return {c: own[c] for c in wanted if c in own}

    def unavailable(self, limits: Limits) -> str | None:
        own = dict(self.own)
        for c in limits.controllers:
            if c not in own:
                return (f"cgroup v1 has no {c} hierarchy mounted: mount one "
                        f"(mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c}), {NO_LIMITS}")
        if not any(c in own for c in MEASURING_V1):
            return f"cgroup v1 has none of the {', '.join(MEASURING_V1)} hierarchies mounted, {NO_LIMITS}"
        for c, d in self._used(limits).items():
            if not cgroupfs.writable(d):
                return f"cgroup v1 {c} controller is not writable by uid {os.geteuid()} ({d}): " \
                       f"run as root, {NO_LIMITS}"
        return None

    def create(self, name: str, limits: Limits) -> V1Cgroup:
        reason = self.unavailable(limits)
        if reason:
            raise CgroupError(reason)
        by_controller = {c: d / name for c, d in self._used(limits).items()}
        dirs = tuple(dict.fromkeys(by_controller.values()))  # cpu,cpuacct may share one directory
        made: list[Path] = []
        try:
            for d in dirs:
                cgroupfs.mkdir(d)
                made.append(d)
            self._limit(by_controller, limits)
        except CgroupError:
            V1Cgroup(tuple(made)).remove()
            raise
        seal(dirs)
        return V1Cgroup(dirs, tuple(by_controller.items()))

    def sweep(self) -> list[Path]:
        freezer = dict(self.own).get("freezer")
        if freezer is not None:
            thaw_orphans(freezer)
        return sweep_orphans(tuple(dict.fromkeys(d for _, d in self.own)))

    @staticmethod
    def _limit(dirs: dict[str, Path], limits: Limits) -> None:
        if limits.memory is not None:
            mem = dirs["memory"]
            cgroupfs.write(mem / "memory.limit_in_bytes", str(limits.memory))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                # Memory plus swap at the same value: no escaping the limit into swap.
                cgroupfs.write(mem / "memory.memsw.limit_in_bytes", str(limits.memory))
            with contextlib.suppress(CgroupError):  # refused on some kernels; only a preference
                cgroupfs.write(mem / "memory.swappiness", "0")
        if limits.pids is not None:
            cgroupfs.write(dirs["pids"] / "pids.max", str(limits.pids))
        if limits.cpus is not None:
            cgroupfs.write(dirs["cpu"] / "cpu.cfs_period_us", str(CFS_PERIOD))
            cgroupfs.write(dirs["cpu"] / "cpu.cfs_quota_us", str(_cpu_quota(limits.cpus)))


@dataclass(frozen=True)
class NoCgroups:
    reason: str
    version: str = "none"

    def unavailable(self, limits: Limits) -> str | None:
        return self.reason if limits.any else None

    def sweep(self) -> list[Path]:
        return []

    def create(self, name: str, limits: Limits) -> NoCgroup:
        if limits.any:
            raise CgroupError(self.reason)
        return NoCgroup()


# --- finding the hierarchies ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Mount:
    fstype: str
    root: str  # the path inside the hierarchy that is mounted, "/" unless bind-mounted
    point: Path
    options: frozenset[str]


def _mounts(text: str, sysfs: Path) -> list[_Mount]:
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        root, point = (re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), f) for f in fields[3:5])
        where = Path(point)
        if sysfs != SYSFS and where.is_relative_to(SYSFS):
            where = sysfs / where.relative_to(SYSFS)  # a fake tree laid out like the real one
        out.append(_Mount(tail[0], root, where, frozenset(tail[2].split(","))))
    return out


def _inside(mount: _Mount, path: str) -> Path | None:
    """Where cgroup `path` of the hierarchy is in the mounted tree, if this mount shows it."""
    root = mount.root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None
    return mount.point / path[len(root):].lstrip("/")


def from_system(root: Path = SYSFS, mountinfo: Path = Path("/proc/self/mountinfo"),
                self_cgroup: Path = Path("/proc/self/cgroup")) -> Cgroups:
    """The host's cgroups: v2 when it has controllers, else v1, else none.

    A version whose hierarchies exist but are not writable is still returned, so
    that unavailable() can say exactly what is missing.
    """
    mounts = _mounts(cgroupfs.read(mountinfo) or "", root)
    v2: CgroupsV2 | None = None
    own_v1: dict[str, Path] = {}
    for line in (cgroupfs.read(self_cgroup) or "").splitlines():
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        path = path.removesuffix(" (deleted)")
        names = {c for c in controllers.split(",") if c and not c.startswith("name=")}
        if not controllers and path:
            for m in (m for m in mounts if m.fstype == "cgroup2"):
                if (where := _inside(m, path)) is not None and where.is_dir():
                    # A gobox before us moved itself into the leaf; its parent is the real base.
                    v2 = CgroupsV2(where.parent if where.name == LEAF and where != m.point else where)
                    break
        elif names:
            for m in (m for m in mounts if m.fstype == "cgroup" and names <= m.options):
                if (where := _inside(m, path)) is not None and where.is_dir():
                    own_v1.update((c, where) for c in names)
                    break
    v2_usable = v2 is not None and any(c in v2._available() for c in WANTED_V2)
    v1 = CgroupsV1(tuple(sorted(own_v1.items()))) if any(c in own_v1 for c in MEASURING_V1) else None
    if v2 is not None and v2_usable and v2.unavailable(Limits()) is None:
        return v2
    if v1 is not None and v1.unavailable(Limits()) is None:
        return v1
    if v2 is not None and v2_usable:
        return v2
    if v1 is not None:
        return v1
    return NoCgroups("no usable cgroups: no cgroup2 hierarchy with the memory, pids or cpu controller "
                     "and no cgroup v1 memory, cpuacct or pids hierarchy is mounted; "
                     f"mount them, {NO_LIMITS}")
