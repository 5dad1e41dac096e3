"""cgroups on the real kernel: limits that bite, usage that adds up, nothing left behind.

Each test probes the machine for what it needs (root, a controller that can be
written) and skips with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gobox.sandbox.cgroups import Cgroup, Cgroups, CgroupsV1, CgroupsV2, Limits, from_system

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]


def usable(limits: Limits, cgroups: Cgroups | None = None) -> Cgroup:
    """A fresh cgroup with these limits, or a skip saying why this machine cannot make one."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create cgroups")
    cgroups = cgroups or from_system()
    reason = cgroups.unavailable(limits)
    if cgroups.version == "none" or reason:
        pytest.skip(f"cgroups cannot apply {limits}: {reason or 'none here'}")
    return cgroups.create(f"gobox-test-{os.getpid()}-{os.urandom(3).hex()}", limits)


@pytest.fixture
def made() -> Iterator[list[Cgroup]]:
    """Cgroups a test makes; removed afterwards whatever happened, and checked to be gone."""
    cgroups: list[Cgroup] = []
    yield cgroups
    for c in cgroups:
        c.remove()
        assert not any(p.exists() for p in c.paths)


def held(code: str) -> subprocess.Popen:
    """A Python process that waits for one byte on stdin before running `code`.

    The wait lets the test move it into the cgroup before it does anything that counts.
    """
    prog = "import sys\nsys.stdin.buffer.read(1)\n" + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=False)


def run_in(c: Cgroup, p: subprocess.Popen) -> bytes:
    """Move a held process into `c`, let it run to its end, and return its output."""
    try:
        c.add(p.pid)
        out, _ = p.communicate(b"go", timeout=60)
    finally:
        p.kill()
        p.wait()
    return out


def release(p: subprocess.Popen) -> None:
    """Let it run (where the test reads its output line by line rather than with communicate)."""
    assert p.stdin is not None
    p.stdin.write(b"go")
    p.stdin.close()


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_memory_limit_ooms_the_process_and_is_reported(made: list[Cgroup]) -> None:
    made.append(c := usable(Limits(memory=64 * MiB)))
    p = held("""
        chunks = []
        for _ in range(200):  # 200 MiB at most, touched so that it is really charged
            chunks.append(b"x" * (1 << 20))
        print("survived", flush=True)
    """)
    out = run_in(c, p)
    assert p.returncode == -signal.SIGKILL, out
    u = c.usage()
    assert u.oom_killed is True
    assert u.peak_memory is not None and 32 * MiB <= u.peak_memory <= 70 * MiB
    assert u.pids_limited is False


def test_pids_limit_fails_forks_and_is_reported(made: list[Cgroup]) -> None:
    made.append(c := usable(Limits(pids=8)))
    p = held("""
        import os
        r, w = os.pipe()
        children, failed = [], 0
        for _ in range(30):
            try:
                pid = os.fork()
            except OSError:
                failed += 1
                continue
            if pid == 0:
                os.close(w)
                os.read(r, 1)  # until the parent closes w: end-of-file
                os._exit(0)
            children.append(pid)
        os.close(w)
        for pid in children:
            os.waitpid(pid, 0)
        print(len(children), failed, flush=True)
    """)
    out = run_in(c, p)
    assert p.returncode == 0
    forked, failed = map(int, out.split())
    assert forked + failed == 30 and 0 < forked < 8 and failed > 0
    assert c.usage().pids_limited is True
    assert c.usage().oom_killed is False


def test_cpu_time_is_measured_and_the_quota_written(made: list[Cgroup]) -> None:
    made.append(c := usable(Limits(cpus=1.5)))
    p = held("""
        import time
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    """)
    try:
        c.add(p.pid)
        release(p)
        p.wait(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0
    u = c.usage()
    assert u.cpu_time is not None and u.cpu_time > 0
    written = {f.name: f.read_text() for d in c.paths for f in (d / "cpu.cfs_quota_us", d / "cpu.max")
               if f.exists()}
    assert written in ({"cpu.cfs_quota_us": "150000\n"}, {"cpu.max": "150000 100000\n"})


@pytest.mark.parametrize("freezer", [True, False], ids=["freezer", "kill-loop"])
def test_remove_kills_a_process_tree_and_leaves_nothing(freezer: bool, made: list[Cgroup]) -> None:
    cgroups = from_system()
    if not freezer:
        if not isinstance(cgroups, CgroupsV1):
            pytest.skip("the kill loop without a freezer is the v1 fallback")
        cgroups = replace(cgroups, own=tuple(x for x in cgroups.own if x[0] != "freezer"))
    elif isinstance(cgroups, CgroupsV1) and "freezer" not in dict(cgroups.own):
        pytest.skip("no v1 freezer hierarchy")
    made.append(c := usable(Limits(pids=64), cgroups))
    p = held("""
        import os, time
        for _ in range(3):  # a small tree: the kill must find the grandchildren too
            if os.fork() == 0:
                os.fork()
                break
        os.write(1, b"%d\\n" % os.getpid())  # one write(2): lines from 7 processes stay whole
        time.sleep(120)
    """)
    try:
        c.add(p.pid)
        release(p)
        assert p.stdout is not None
        printed = {int(p.stdout.readline()) for _ in range(7)}
        procs = {int(x) for d in c.paths for x in (d / "cgroup.procs").read_text().split()}
        assert printed | {p.pid} <= procs  # grandchildren included
        c.remove()
        assert not any(d.exists() for d in c.paths)
        assert all(gone(pid) for pid in procs)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == -signal.SIGKILL


def test_remove_twice_is_fine(made: list[Cgroup]) -> None:
    made.append(c := usable(Limits()))
    c.remove()
    c.remove()
    assert not any(d.exists() for d in c.paths)


def own_v2_cgroup() -> Path | None:
    mount = next((line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if " - cgroup2 " in line), None)
    path = next((line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines()
                 if line.startswith("0::")), None)
    return Path(mount) / path.lstrip("/") if mount and path else None


def test_v2_core_without_controllers_measures_and_kills(made: list[Cgroup]) -> None:
    """Even a cgroup2 hierarchy with no controllers (this machine's unified) has cpu.stat and cgroup.kill."""
    base = own_v2_cgroup()
    if os.geteuid() != 0 or base is None or not (base / "cgroup.procs").exists():
        pytest.skip("needs root and a cgroup2 hierarchy")
    cgroups = CgroupsV2(base)
    if cgroups.unavailable(Limits()) is not None:
        pytest.skip(cgroups.unavailable(Limits()))
    made.append(c := cgroups.create(f"gobox-test-{os.getpid()}-{os.urandom(3).hex()}", Limits()))
    if not (c.paths[0] / "cgroup.kill").exists():
        pytest.skip("kernel before 5.14: no cgroup.kill")
    p = held("""
        import os, time
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
        os.fork()
        os.write(1, b"%d\\n" % os.getpid())
        time.sleep(120)
    """)
    try:
        c.add(p.pid)
        release(p)
        assert p.stdout is not None
        p.stdout.readline()
        p.stdout.readline()
        procs = {int(x) for x in (c.paths[0] / "cgroup.procs").read_text().split()}
        c.kill()
        assert (c.paths[0] / "cgroup.procs").read_text() == ""
        assert all(gone(pid) for pid in procs)
        assert c.usage().cpu_time > 0
    finally:
        p.kill()
        p.wait()


def test_this_machine_is_v1() -> None:
    if os.geteuid() != 0 or not Path("/sys/fs/cgroup/memory").is_dir():
        pytest.skip("needs root and the cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")
    cgroups = from_system()
    assert cgroups.version == "v1"
    assert cgroups.unavailable(Limits(memory=64 * MiB, pids=8, cpus=1.0)) is None


def test_unprivileged_user_gets_a_reason() -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv(1) to drop to uid 65534")
    snippet = ("from gobox.sandbox.cgroups import Limits, from_system\n"
               "c = from_system()\nprint(c.version)\nprint(c.unavailable(Limits(memory=64 << 20)))\n")
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", snippet]
    r = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    if r.returncode != 0 and "Permission denied" in r.stderr:
        pytest.skip(f"uid 65534 cannot run this Python or read the repository: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stderr
    version, reason = r.stdout.splitlines()
    if version == "none":
        assert "no usable cgroups" in reason
    else:
        assert "not writable by uid 65534" in reason and "--no-limits" in reason


def test_a_fresh_fork_joins_every_hierarchy_itself_and_its_children_are_born_inside(made: list[Cgroup]) -> None:
    # The sandbox's setup child joins this way (v1: "0" into each `tasks`, no global lock to wait for).
    made.append(c := usable(Limits(memory=256 * MiB, pids=64)))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports through the pipe and never returns
        try:
            c.join()
            own = Path("/proc/self/cgroup").read_text()
            child = os.fork()
            if child == 0:
                os._exit(0 if Path("/proc/self/cgroup").read_text() == own else 1)
            _, status = os.waitpid(child, 0)
            os.write(w, f"{own}child {os.waitstatus_to_exitcode(status)}".encode())
        finally:
            os._exit(0)
    os.close(w)
    report = b""
    while chunk := os.read(r, 65536):
        report += chunk
    os.close(r)
    os.waitpid(pid, 0)
    text = report.decode()
    assert text.endswith("child 0"), text  # the grandchild is where its parent is
    name = c.paths[0].name
    joined = [line for line in text.splitlines() if line.endswith(f"/{name}")]
    assert len(joined) == len({p.parent for p in c.paths}) == len(c.paths), (text, c.paths)
    assert c.usage().cpu_time is not None
