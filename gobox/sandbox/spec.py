"""What a sandbox run is, as plain values: the plan made before any syscall, and the result after."""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import field

from gobox.sandbox.cgroups import Limits
from gobox.values import dataclass


@dataclass(frozen=True)
class Bind:
    """A host path made visible inside at `target`."""

    source: str
    target: str
    readonly: bool = False


@dataclass(frozen=True)
class Overlay:
    """A directory at `target` that reads through to host directories `lower` (top first, never written) and
    takes every write into a fresh upper on the sandbox's private tmpfs, gone with the run."""

    target: str
    lower: tuple[str, ...]


NETWORKS = ("none", "host", "private")


@dataclass(frozen=True)
class Publish:
    """A host port forwarded to a port inside a private network (`-p [IP:]HOST:CONTAINER[/tcp|udp]`)."""

    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str | None = None  # None: every address of the host, as docker binds 0.0.0.0

    @classmethod
    def parse(cls, text: str) -> Publish:
        """Docker's -p syntax; ValueError names what is wrong. A bracketed IPv6 address is `[::1]:80:80`."""
        spec, slash, protocol = text.partition("/")
        if slash and protocol not in ("tcp", "udp"):
            raise ValueError(f"protocol must be tcp or udp, got {protocol!r}")
        ip: str | None = None
        if spec.startswith("["):
            ip, close, spec = spec[1:].partition("]")
            if not close or not spec.startswith(":"):
                raise ValueError("expected [IPv6]:HOST:CONTAINER")
            spec = spec[1:]
            parts = spec.split(":")
            if len(parts) != 2:
                raise ValueError("expected [IPv6]:HOST:CONTAINER")
        else:
            parts = spec.split(":")
            if len(parts) == 3:
                ip, parts = parts[0], parts[1:]
            elif len(parts) != 2:
                raise ValueError("expected [IP:]HOST:CONTAINER[/tcp|udp]")
        if ip is not None:
            try:
                ip = str(ipaddress.ip_address(ip))
            except ValueError:
                raise ValueError(f"{ip!r} is not an IP address") from None
        host, container = (_port(p) for p in parts)
        return cls(host, container, protocol or "tcp", ip)

    def __str__(self) -> str:
        ip = "" if self.host_ip is None else (f"[{self.host_ip}]:" if ":" in self.host_ip else f"{self.host_ip}:")
        return f"{ip}{self.host_port}:{self.container_port}/{self.protocol}"


def _port(text: str) -> int:
    # Digits only: int() would take " 80", "+80" and "8_0", which no other tool reads as a port.
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise ValueError(f"port must be a number from 1 to 65535, got {text!r}")
    return int(text)


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
    overlays: tuple[Overlay, ...] = ()  # mounted after the tmpfs and before the binds
    uid: int = 0
    gid: int = 0
    hostname: str = "gobox"
    # "none": an empty network namespace with lo up; "host": the host's; "private": a namespace of its own
    # with outbound access and `publish`ed ports through pasta (gobox.sandbox.pasta)
    network: str = "none"
    publish: tuple[Publish, ...] = ()
    make_cwd: bool = False  # create `cwd` in the root (not under a bind) when missing, as docker does -w
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
        return ("/proc", "/dev", *self.tmpfs, *(o.target for o in self.overlays), *(b.target for b in self.binds),
                *(p for p, _ in self.symlinks))

    def describe(self) -> str:
        """The plan as a person reads it (`gobox run --dry-run`)."""
        lines = [f"command:  {shlex.join(self.argv)}",
                 f"cwd:      {self.cwd}" + (" (made when missing)" if self.make_cwd else ""),
                 f"user:     uid {self.uid}, gid {self.gid} (mapped to themselves)",
                 f"hostname: {self.hostname}", f"network:  {self.network}"
                 + "".join(f", -p {p}" for p in self.publish)]
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
        lines += [f"            {o.target} (overlay: a throw-away upper on tmpfs over {', '.join(o.lower)}, ro)"
                  for o in self.overlays]
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
