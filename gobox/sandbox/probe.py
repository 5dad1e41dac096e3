"""Probes of what this host lets the sandbox do, each tried for real in a throw-away child."""

from __future__ import annotations

import os
import sys
import tempfile

from gobox import libc
from gobox.sandbox.rootfs import SetupError
from gobox.sandbox.run import hint_for, map_ids
from gobox.values import dataclass


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str  # what was seen, or the error
    fix: str | None = None


def _in_child(steps: str, scratch: str) -> tuple[bool, str, int]:
    """Fork; in the child unshare user+mount namespaces and do `steps` ("userns" or "overlay").
    Returns (ok, failing step, errno)."""
    r, w = os.pipe()
    host_uid, host_gid = os.getuid(), os.getgid()
    pid = os.fork()
    if pid == 0:
        step = "unshare"
        try:
            os.close(r)
            libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNS)
            map_ids(host_uid, host_gid, host_uid, host_gid)
            if steps == "overlay":
                step = "mount tmpfs"
                libc.mount(None, "/", None, libc.MS_REC | libc.MS_SLAVE)
                libc.mount("gobox", scratch, "tmpfs", 0, "mode=0755")
                for d in ("lower", "upper", "work", "merged"):
                    os.mkdir(f"{scratch}/{d}")
                step = "mount overlay root"
                libc.mount("gobox", f"{scratch}/merged", "overlay", 0,
                           f"lowerdir={scratch}/lower,upperdir={scratch}/upper,"
                           f"workdir={scratch}/work,userxattr")
            os._exit(0)
        except SetupError as e:
            os.write(w, f"{e.step}\0{e.errno}".encode())
        except OSError as e:
            os.write(w, f"{step}\0{e.errno or 0}".encode())
        except BaseException:  # noqa: BLE001 - a forked child: it reports and _exits, never unwinds into gobox
            os.write(w, f"{step}\0{0}".encode())
        os._exit(1)
    os.close(w)
    data = os.read(r, 4096).decode()
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return True, "", 0
    step, _, err = data.partition("\0")
    return False, step or "child", int(err or 0)


def user_namespaces() -> Probe:
    if not sys.platform.startswith("linux"):
        return Probe(False, "not Linux", "the gobox sandbox needs Linux")
    ok, step, err = _in_child("userns", "")
    if ok:
        limit = _read("/proc/sys/user/max_user_namespaces")
        return Probe(True, f"unshare(CLONE_NEWUSER) works (max_user_namespaces {limit})")
    return Probe(False, f"{step} failed: {os.strerror(err)}", hint_for(step, err))


def overlay_in_userns() -> Probe:
    if not sys.platform.startswith("linux"):
        return Probe(False, "not Linux", "the gobox sandbox needs Linux")
    with tempfile.TemporaryDirectory(prefix="gobox-probe-") as scratch:
        ok, step, err = _in_child("overlay", scratch)
    if ok:
        return Probe(True, "overlayfs with a tmpfs upper mounts inside a user namespace")
    return Probe(False, f"{step} failed: {os.strerror(err)}", hint_for(step, err))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def seccomp_filter(cache_dir: str) -> Probe:
    """The default seccomp filter, compiled (or taken from the cache) and loaded in a child, which then
    checks that keyctl(2) is refused."""
    if not sys.platform.startswith("linux"):
        return Probe(False, "not Linux", "the gobox sandbox needs Linux")
    import errno

    from gobox.errors import SandboxError
    from gobox.sandbox import seccomp

    try:
        program = seccomp.program(cache_dir)
    except SandboxError as e:
        return Probe(False, e.message, e.hint)
    libc.load()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
            libc.seccomp_load(program)
            try:
                libc.keyctl_join_session_keyring()
            except OSError as e:
                code = 0 if e.errno == errno.EPERM else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    versions = f"libseccomp {seccomp.libseccomp_version()}, pyseccomp {seccomp.binding_version() or 'not installed'}"
    if code != 0:
        return Probe(False, f"the filter loaded but did not refuse keyctl ({versions})",
                     "report this: the default profile failed its own check")
    return Probe(True, f"{seccomp.describe()} ({versions}, {len(program) // 8} BPF instructions)")
