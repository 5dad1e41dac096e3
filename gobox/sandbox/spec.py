"""What a sandbox run is, as plain values: the plan made before any syscall, and the result after."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from gobox.sandbox.cgroups import Limits


@dataclass(frozen=True)
class Bind:
    """A host path made visible inside at `target`."""

    source: str
    target: str
    readonly: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a run needs; sandbox.run executes it and nothing else.

    The root is an overlay of `layers` (top first) under a throw-away upper
    on tmpfs; `binds` and `tmpfs` are mounted on it; the command then runs
    as `uid`/`gid` (the caller's own ids, mapped to themselves) with `env`
    as its whole environment.
    """

    argv: tuple[str, ...]
    layers: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str = "/"
    binds: tuple[Bind, ...] = ()
    tmpfs: tuple[str, ...] = ("/tmp",)
    symlinks: tuple[tuple[str, str], ...] = ()  # (path inside, target), made before the binds
    uid: int = 0
    gid: int = 0
    hostname: str = "gobox"
    network: str = "none"  # "none": an empty network namespace with lo up; "host": the host's
    limits: Limits = field(default_factory=Limits)
    scratch: str = "/tmp"  # a host directory the sandbox may mount its private tmpfs on
    # A host directory for the overlay's upper/ and work/, kept after the run (gobox run --commit reads
    # it); None: the upper is a throw-away on the private tmpfs.
    upper: str | None = None
    umask: int | None = None  # set before exec; None: the caller's (gobox ci fixes it so outputs do not vary)
    seccomp: str = "default"  # "default": the filter of gobox.sandbox.seccomp, loaded last before exec; "off"
    # Give the command a pseudo-terminal of its own, relayed to gobox's, when gobox's stdin is a terminal
    # it holds the foreground of (gobox shell, an interactive gobox run); else a terminal stdin is /dev/null.
    tty: bool = False

    def mount_points(self) -> tuple[str, ...]:
        """Paths in the root that gobox mounts or makes: not part of what the command wrote."""
        return ("/proc", "/dev", *self.tmpfs, *(b.target for b in self.binds), *(p for p, _ in self.symlinks))

    def describe(self) -> str:
        """The plan as a person reads it (`gobox run --dry-run`)."""
        lines = [f"command:  {shlex.join(self.argv)}", f"cwd:      {self.cwd}",
                 f"user:     uid {self.uid}, gid {self.gid} (mapped to themselves)",
                 f"hostname: {self.hostname}", f"network:  {self.network}"]
        limits = [f"memory {self.limits.memory} bytes" if self.limits.memory else "",
                  f"pids {self.limits.pids}" if self.limits.pids else "",
                  f"cpus {self.limits.cpus}" if self.limits.cpus else ""]
        lines.append("limits:   " + (", ".join(x for x in limits if x) or "none"))
        kept = f"upper kept in {self.upper}" if self.upper else "throw-away upper on tmpfs"
        if self.umask is not None:
            lines.append(f"umask:    {self.umask:04o}")
        lines.append(f"root:     overlay, {kept}, of layers (top first):")
        lines += [f"            {layer}" for layer in self.layers]
        lines.append(f"seccomp:  {self.seccomp}")
        lines.append("session:  its own (setsid), a new session keyring"
                     + (", its own pseudo-terminal when stdin is one" if self.tty else ", no terminal"))
        lines.append("mounts:   /proc (bus, fs, irq, sys, sysrq-trigger read-only; kcore, keys, timer_list, "
                     "sched_debug, latency_stats, acpi, scsi masked), /sys not mounted, /dev (minimal), "
                     "/dev/shm, /dev/pts (own instance)")
        lines += [f"            {t} (tmpfs)" for t in self.tmpfs]
        lines += [f"            {b.target} <- {b.source} ({'ro' if b.readonly else 'rw'})" for b in self.binds]
        lines += [f"            {path} -> {target} (symlink)" for path, target in self.symlinks]
        lines.append("env:")
        lines += [f"            {k}={v}" for k, v in self.env]
        return "\n".join(lines)


@dataclass(frozen=True)
class Result:
    """How a run ended. `exit_code` is the command's, or 128+n when it died of signal n."""

    exit_code: int
    peak_memory: int | None  # bytes
    cpu_time: float | None  # seconds
    oom_killed: bool = False
    pids_limited: bool = False
    setup_seconds: float | None = None  # from the fork to the exec of the command
