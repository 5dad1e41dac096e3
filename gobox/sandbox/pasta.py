"""A private network for a sandbox: pasta (Debian's passt package) attached to its network namespace.

pasta, podman 5's rootless network, gives a namespace a tap interface copying
the host's addresses and routes, carries its outbound traffic through ordinary
sockets of the host's, and forwards published host ports into it. gobox starts
it once the sandbox's user and network namespaces exist and before the command
runs, and stops it with the run. pasta attached to a PID stays after that
process is gone, so a keeper process (gobox's child in a session of its own)
holds a pidfd of it and kills it when gobox's pipe to the keeper closes: at the
end of the run, or when gobox itself is killed.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from contextlib import suppress

from gobox.errors import SandboxError
from gobox.sandbox.spec import Publish
from gobox.values import dataclass

MISSING = "--network private (and -p) need pasta, which is not installed: apt-get install passt"
STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL to pasta


def find() -> str:
    """pasta's path, or the one-line error that says how to install it."""
    path = shutil.which("pasta")
    if path is None:
        raise SandboxError(MISSING)
    return path


def _ports(publish: Sequence[Publish], protocol: str) -> str:
    specs = [(f"{p.host_ip}/" if p.host_ip else "") + f"{p.host_port}:{p.container_port}"
             for p in publish if p.protocol == protocol]
    return ",".join(specs) or "none"


def argv(pasta: str, pid: int, publish: Sequence[Publish], pid_file: str, uid: int, gid: int) -> list[str]:
    """pasta's command line for the namespaces of `pid` (pure).

    Only the published ports are forwarded: "auto", pasta's default, would forward every port the
    sandbox binds, and -T/-U auto every port the host binds into the sandbox's loopback. --no-map-gw,
    as podman passes it: the gateway's address is not the host's loopback, whose services stay out of
    reach. --runas the caller: as root pasta would drop to nobody, who may not enter a user namespace
    root owns.
    """
    return [pasta, "--quiet", "--config-net", "--no-map-gw", "--runas", f"{uid}:{gid}",
            "-t", _ports(publish, "tcp"), "-u", _ports(publish, "udp"), "-T", "none", "-U", "none",
            "--pid", pid_file, str(pid)]


@dataclass
class Pasta:
    """A running pasta, and the keeper that stops it."""

    keeper: int
    pipe: int  # gobox's end; its close tells the keeper to stop pasta

    def stop(self) -> None:
        """Stop pasta and wait until it is gone."""
        if self.pipe >= 0:
            os.close(self.pipe)
            self.pipe = -1
            with suppress(ChildProcessError):
                os.waitpid(self.keeper, 0)


def start(pasta: str, pid: int, publish: Sequence[Publish]) -> Pasta:
    """Attach pasta to the namespaces of `pid`; returns once the network inside is configured."""
    with tempfile.TemporaryDirectory(prefix="gobox-pasta-") as tmp:
        pid_file = os.path.join(tmp, "pid")
        # pasta configures the namespace, forks into the background and only then exits: its exit is
        # the sign the network is ready.
        done = subprocess.run(argv(pasta, pid, publish, pid_file, os.getuid(), os.getgid()),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=60, check=False)
        try:
            with open(pid_file) as f:
                daemon = int(f.read().strip())
        except (OSError, ValueError):
            daemon = 0
    lines = [x for x in done.stderr.decode(errors="replace").splitlines()
             if x.strip() and not x.startswith("Failed to send")]  # pasta's syslog fallback noise
    if done.returncode != 0 or daemon <= 0:
        why = lines[-1] if lines else f"exit status {done.returncode}"
        ports = " ".join(f"-p {p}" for p in publish)
        raise SandboxError(f"pasta could not set up the private network{' for ' + ports if ports else ''}: "
                           f"{why}", hint=_hint(why))
    try:
        pidfd = os.pidfd_open(daemon)
    except OSError as e:
        raise SandboxError(f"pasta exited right after it started: {e.strerror}") from None
    r, w = os.pipe2(os.O_CLOEXEC)
    keeper = os.fork()
    if keeper == 0:
        try:
            _close_all_but(r, pidfd)  # gobox's pipes must see their end of file when gobox is done
            os.setsid()  # a Ctrl-C to gobox's process group must not take the keeper before pasta
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while os.read(r, 1):
                pass
            _kill(pidfd)
        finally:
            os._exit(0)
    os.close(r)
    os.close(pidfd)
    return Pasta(keeper, w)


def _hint(why: str) -> str:
    if "tun" in why:
        return ("pasta opens /dev/net/tun as you: it must be read-write for you, as Debian makes it "
                "(crw-rw-rw-, chmod 0666 /dev/net/tun)")
    if "ddress in use" in why or "bind" in why.lower():
        return "a published host port is in use: pick another with -p HOST:CONTAINER"
    return "run pasta by hand with --debug to see more, or `gobox doctor`"


def _close_all_but(*keep: int) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with suppress(OSError):
                os.close(fd)


def _kill(pidfd: int) -> None:
    """SIGTERM, then SIGKILL after STOP_GRACE; returns once pasta has exited (its pidfd readable)."""
    for signo in (signal.SIGTERM, signal.SIGKILL):
        try:
            signal.pidfd_send_signal(pidfd, signo)
        except ProcessLookupError:
            return
        if select.select([pidfd], [], [], STOP_GRACE)[0]:
            return
