"""cgroups v2, v1 and none against directory trees laid out like cgroupfs: pure, fast, no root."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gobox.sandbox import cgroupfs, cgroups
from gobox.sandbox.cgroupfs import CgroupError
from gobox.sandbox.cgroups import CgroupsV2, Limits, Usage, V1Cgroup, V2Cgroup

MiB = 1 << 20

# This machine: one v1 hierarchy per controller, cpu and cpuacct apart, and an empty cgroup2.
MOUNTINFO_V1 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
CGROUP_V1 = """\
9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""
MOUNTINFO_V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
SCOPE = "user.slice/user-1000.slice/session-1.scope"
V1_FILES = {
    "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness",
               "memory.max_usage_in_bytes", "memory.oom_control", "memory.failcnt"],
    "cpu": ["cpu.cfs_period_us", "cpu.cfs_quota_us"], "cpuacct": ["cpuacct.usage"],
    "cpu,cpuacct": ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpuacct.usage"],
    "pids": ["pids.max", "pids.events"], "freezer": ["freezer.state"], "cpuset": [], "systemd": [],
}
V2_FILES = {"memory": ["memory.max", "memory.swap.max", "memory.oom.group", "memory.peak",
                       "memory.current", "memory.events"],
            "pids": ["pids.max", "pids.events"], "cpu": ["cpu.max"]}


def files(d: Path, names: list[str], **content: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for n in ["cgroup.procs", *names]:
        (d / n).write_text(content.get(n.replace(".", "_"), ""))
    return d


Kernel = dict[str, bool]  # the kernel fixture's switches ("writable")


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Kernel:
    """mkdir and rmdir as cgroupfs does them: a new cgroup comes with its interface files.

    v1: the same files as its parent. v2: the core files plus those of the controllers
    the parent enabled in cgroup.subtree_control. `writable` plays the permission check.
    """
    state = {"writable": True}

    def mkdir(path: Path) -> None:
        parent = path.parent
        path.mkdir()
        if (parent / "cgroup.controllers").exists():
            enabled = re.findall(r"\w+", (parent / "cgroup.subtree_control").read_text())
            names = ["cgroup.controllers", "cgroup.subtree_control", "cgroup.type", "cgroup.kill",
                     "cpu.stat", *(n for c in enabled for n in V2_FILES[c])]
            files(path, names)
            (path / "cgroup.controllers").write_text(" ".join(enabled))
        else:
            files(path, [p.name for p in parent.iterdir() if p.is_file()])

    monkeypatch.setattr(cgroupfs, "mkdir", mkdir)
    monkeypatch.setattr(cgroupfs, "rmdir", shutil.rmtree)
    monkeypatch.setattr(cgroupfs, "writable", lambda p: state["writable"])
    return state


def v1_machine(tmp_path: Path, mountinfo: str = MOUNTINFO_V1, cgroup: str = CGROUP_V1) -> dict[str, Path]:
    root = tmp_path / "cg"
    for line in mountinfo.splitlines():
        point, fstype = line.split()[4], line.split(" - ")[1].split()[0]
        if fstype == "cgroup":
            name = point.rsplit("/", 1)[1]
            files(root / name, V1_FILES[name])
    files(root / "memory/process_api/abc", V1_FILES["memory"])
    files(root / "unified", ["cgroup.controllers", "cgroup.subtree_control"], cgroup_controllers="hugetlb\n")
    (tmp_path / "mountinfo").write_text(mountinfo)
    (tmp_path / "cgroup").write_text(cgroup)
    return {"root": root, "mountinfo": tmp_path / "mountinfo", "self_cgroup": tmp_path / "cgroup"}


def v2_machine(tmp_path: Path, controllers: str = "cpu memory pids") -> dict[str, Path]:
    root = tmp_path / "cg"
    files(root, ["cgroup.controllers", "cgroup.subtree_control"], cgroup_controllers="cpu io memory pids\n")
    files(root / SCOPE, ["cgroup.controllers", "cgroup.subtree_control", "cgroup.type", "cpu.stat"],
          cgroup_controllers=controllers + "\n", cgroup_procs="4242\n")
    (tmp_path / "mountinfo").write_text(MOUNTINFO_V2)
    (tmp_path / "cgroup").write_text(f"0::/{SCOPE}\n")
    return {"root": root, "mountinfo": tmp_path / "mountinfo", "self_cgroup": tmp_path / "cgroup"}


# --- choosing the version ---------------------------------------------------------------


def test_picks_v1_on_a_machine_like_this_one_and_ignores_an_empty_cgroup2(tmp_path: Path, kernel: Kernel) -> None:
    m = v1_machine(tmp_path)
    cg = cgroups.from_system(**m)
    assert cg.version == "v1"
    own = dict(cg.own)
    assert own["memory"] == m["root"] / "memory/process_api/abc"
    assert own["cpu"] == m["root"] / "cpu" and own["cpuacct"] == m["root"] / "cpuacct"
    assert "name=systemd" not in own and "systemd" not in own


def test_picks_v2_when_controllers_are_delegated(tmp_path: Path, kernel: Kernel) -> None:
    m = v2_machine(tmp_path)
    cg = cgroups.from_system(**m)
    assert cg == CgroupsV2(m["root"] / SCOPE)


def test_v2_from_inside_the_leaf_a_previous_gobox_made_uses_its_parent(tmp_path: Path, kernel: Kernel) -> None:
    m = v2_machine(tmp_path)
    files(m["root"] / SCOPE / "gobox-self", ["cgroup.controllers"])
    m["self_cgroup"].write_text(f"0::/{SCOPE}/gobox-self\n")
    assert cgroups.from_system(**m) == CgroupsV2(m["root"] / SCOPE)


def test_prefers_v2_with_controllers_over_v1(tmp_path: Path, kernel: Kernel) -> None:
    m = v1_machine(tmp_path)
    (m["root"] / "unified/cgroup.controllers").write_text("memory pids\n")
    assert cgroups.from_system(**m).version == "v2"


def test_none_when_nothing_is_mounted(tmp_path: Path, kernel: Kernel) -> None:
    (tmp_path / "mountinfo").write_text("22 1 0:21 / /proc rw - proc proc rw\n")
    (tmp_path / "cgroup").write_text("0::/\n")
    cg = cgroups.from_system(tmp_path, tmp_path / "mountinfo", tmp_path / "cgroup")
    assert cg.version == "none"
    assert cg.unavailable(Limits()) is None
    assert "no usable cgroups" in cg.unavailable(Limits(memory=MiB))
    c = cg.create("gobox-1-aa", Limits())
    c.add(1)
    assert c.usage() == Usage(None, None, False, False) and c.paths == ()
    c.remove()
    with pytest.raises(CgroupError):
        cg.create("gobox-1-ab", Limits(pids=3))


def test_none_when_only_an_empty_cgroup2_exists(tmp_path: Path, kernel: Kernel) -> None:
    files(tmp_path / "cg", ["cgroup.controllers"], cgroup_controllers="hugetlb\n")
    (tmp_path / "mountinfo").write_text("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    (tmp_path / "cgroup").write_text("0::/\n")
    assert cgroups.from_system(tmp_path / "cg", tmp_path / "mountinfo", tmp_path / "cgroup").version == "none"


def test_combined_cpu_cpuacct_and_bind_mounted_roots(tmp_path: Path, kernel: Kernel) -> None:
    # A container's view: the hierarchy's /docker/c1 is what is mounted; cpu,cpuacct share one.
    root = tmp_path / "cg"
    files(root / "memory", V1_FILES["memory"])
    files(root / "cpu,cpuacct", V1_FILES["cpu,cpuacct"])
    (tmp_path / "mountinfo").write_text(
        "35 31 0:32 /docker/c1 /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
        "32 31 0:29 /docker/c1 /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n")
    (tmp_path / "cgroup").write_text("4:memory:/docker/c1\n2:cpu,cpuacct:/docker/c1\n")
    cg = cgroups.from_system(root, tmp_path / "mountinfo", tmp_path / "cgroup")
    assert dict(cg.own) == {"memory": root / "memory", "cpu": root / "cpu,cpuacct",
                            "cpuacct": root / "cpu,cpuacct"}
    c = cg.create("gobox-1-aa", Limits(cpus=0.5))
    assert c.paths == (root / "memory/gobox-1-aa", root / "cpu,cpuacct/gobox-1-aa")
    assert (root / "cpu,cpuacct/gobox-1-aa/cpu.cfs_quota_us").read_text() == "50000"
    c.remove()


def test_mountinfo_escapes_are_decoded(tmp_path: Path) -> None:
    mounts = cgroups._mounts(r"35 31 0:32 / /mnt/my\040cgroups rw - cgroup cgroup rw,memory", cgroups.SYSFS)
    assert mounts[0].point == Path("/mnt/my cgroups") and "memory" in mounts[0].options


# --- why limits cannot be applied -----------------------------------------------------------


def test_v1_reasons(tmp_path: Path, kernel: Kernel) -> None:
    m = v1_machine(tmp_path, MOUNTINFO_V1.replace("rw,pids", "rw,nopids"))
    cg = cgroups.from_system(**m)
    assert cg.unavailable(Limits(memory=MiB, cpus=1.0)) is None
    reason = cg.unavailable(Limits(pids=10))
    assert "no pids hierarchy" in reason and "--no-limits" in reason
    kernel["writable"] = False
    reason = cg.unavailable(Limits(memory=MiB))
    assert reason.startswith("cgroup v1 memory controller is not writable by uid ")
    assert "run as root" in reason
    with pytest.raises(CgroupError, match="not writable"):
        cg.create("gobox-1-aa", Limits())


def test_unwritable_v1_is_still_reported_as_v1(tmp_path: Path, kernel: Kernel) -> None:
    kernel["writable"] = False
    cg = cgroups.from_system(**v1_machine(tmp_path))
    assert cg.version == "v1" and "not writable" in cg.unavailable(Limits())


def test_v2_reasons(tmp_path: Path, kernel: Kernel) -> None:
    cg = cgroups.from_system(**v2_machine(tmp_path, controllers="cpu"))
    reason = cg.unavailable(Limits(memory=MiB, pids=5, cpus=1))
    assert reason.startswith(f"cgroup v2 controllers memory, pids are not delegated to {tmp_path}/cg/{SCOPE}")
    assert "Delegate=yes" in reason and "--no-limits" in reason
    assert cg.unavailable(Limits(cpus=1)) is None
    kernel["writable"] = False
    assert "is not writable by uid" in cg.unavailable(Limits())


# --- creating, measuring, removing -------------------------------------------------------


def test_v1_create_writes_the_limits_in_every_hierarchy(tmp_path: Path, kernel: Kernel) -> None:
    m = v1_machine(tmp_path)
    root = m["root"]
    c = cgroups.from_system(**m).create("gobox-7-ab", Limits(memory=64 * MiB, pids=8, cpus=1.5))
    mem = root / "memory/process_api/abc/gobox-7-ab"
    assert c.paths == (mem, root / "cpuacct/gobox-7-ab", root / "pids/gobox-7-ab", root / "cpu/gobox-7-ab",
                       root / "freezer/gobox-7-ab")
    assert (mem / "memory.limit_in_bytes").read_text() == str(64 * MiB)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(64 * MiB)
    assert (mem / "memory.swappiness").read_text() == "0"
    assert (root / "pids/gobox-7-ab/pids.max").read_text() == "8"
    assert (root / "cpu/gobox-7-ab/cpu.cfs_period_us").read_text() == "100000"
    assert (root / "cpu/gobox-7-ab/cpu.cfs_quota_us").read_text() == "150000"
    c.add(4321)
    assert all((p / "cgroup.procs").read_text() == "4321" for p in c.paths)
    for p in c.paths:
        (p / "cgroup.procs").write_text("")  # the fake cannot kill 4321; let it look dead
    c.remove()
    assert not any(p.exists() for p in c.paths)
    c.remove()  # already gone: nothing to do, no error


def test_v1_without_limits_still_makes_the_measuring_cgroups(tmp_path: Path, kernel: Kernel) -> None:
    m = v1_machine(tmp_path)
    c = cgroups.from_system(**m).create("gobox-7-ac", Limits())
    assert [p.parent.name for p in c.paths] == ["abc", "cpuacct", "pids", "freezer"]
    assert (c.paths[0] / "memory.limit_in_bytes").read_text() == ""
    c.remove()


def test_v1_without_swap_accounting_sets_only_the_memory_limit(tmp_path: Path, kernel: Kernel) -> None:
    m = v1_machine(tmp_path)
    (m["root"] / "memory/process_api/abc/memory.memsw.limit_in_bytes").unlink()
    c = cgroups.from_system(**m).create("gobox-7-ad", Limits(memory=MiB))
    assert not (c.paths[0] / "memory.memsw.limit_in_bytes").exists()
    c.remove()


def test_v1_a_failed_limit_leaves_nothing_behind(tmp_path: Path, kernel: Kernel) -> None:
    m = v1_machine(tmp_path)
    (m["root"] / "pids/pids.max").unlink()  # the kernel would refuse instead; the effect is the same
    with pytest.raises(CgroupError, match=r"cannot write '3' to .*pids\.max"):
        cgroups.from_system(**m).create("gobox-7-ae", Limits(pids=3))
    assert list(m["root"].glob("**/gobox-7-ae")) == []


def test_v2_create_moves_our_processes_into_a_leaf_then_enables_controllers(tmp_path: Path, kernel: Kernel) -> None:
    m = v2_machine(tmp_path)
    base = m["root"] / SCOPE
    c = cgroups.from_system(**m).create("gobox-9-cd", Limits(memory=64 * MiB, pids=8, cpus=1.5))
    assert (base / "gobox-self/cgroup.procs").read_text() == "4242"
    assert (base / "cgroup.subtree_control").read_text() == "+memory+pids+cpu"
    d = base / "gobox-9-cd"
    assert c.paths == (d,)
    assert (d / "memory.max").read_text() == str(64 * MiB)
    assert (d / "memory.swap.max").read_text() == "0"
    assert (d / "memory.oom.group").read_text() == "1"
    assert (d / "pids.max").read_text() == "8"
    assert (d / "cpu.max").read_text() == "150000 100000"
    c.add(4343)
    assert (d / "cgroup.procs").read_text() == "4343"
    (d / "cgroup.procs").write_text("")
    c.remove()
    assert not d.exists() and (base / "gobox-self").is_dir()  # the leaf holds us; it stays
    c.remove()


def test_v2_root_cgroup_needs_no_leaf(tmp_path: Path, kernel: Kernel) -> None:
    m = v2_machine(tmp_path)
    m["self_cgroup"].write_text("0::/\n")
    (m["root"] / "cgroup.procs").write_text("1\n")
    c = cgroups.from_system(**m).create("gobox-9-ce", Limits(pids=3))
    assert not (m["root"] / "gobox-self").exists()
    assert (m["root"] / "gobox-9-ce/pids.max").read_text() == "3"
    c.remove()


def test_v2_controllers_already_enabled_are_left_alone(tmp_path: Path, kernel: Kernel) -> None:
    m = v2_machine(tmp_path)
    base = m["root"] / SCOPE
    (base / "cgroup.procs").write_text("")
    (base / "cgroup.subtree_control").write_text("cpu memory pids\n")
    c = cgroups.from_system(**m).create("gobox-9-cf", Limits(memory=MiB))
    assert (base / "cgroup.subtree_control").read_text() == "cpu memory pids\n"
    assert not (base / "gobox-self").exists()
    c.remove()


def test_cpu_quota_has_the_kernels_floor() -> None:
    assert cgroups._cpu_quota(0.001) == 1000 and cgroups._cpu_quota(2) == 200000


def test_v2_usage(tmp_path: Path) -> None:
    d = files(tmp_path / "run", ["memory.peak", "memory.current", "cpu.stat", "memory.events", "pids.events"],
              memory_peak="123456\n", memory_current="1000\n", cpu_stat="usage_usec 1500000\nuser_usec 1\n",
              memory_events="low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n", pids_events="max 2\n")
    assert V2Cgroup((d,)).usage() == Usage(123456, 1.5, True, True)
    (d / "memory.peak").unlink()  # kernels before 5.19
    (d / "memory.events").write_text("max 7\noom 0\noom_kill 0\n")
    (d / "pids.events").write_text("max 0\n")
    assert V2Cgroup((d,)).usage() == Usage(1000, 1.5, False, False)


def test_v2_usage_without_controllers(tmp_path: Path) -> None:
    d = files(tmp_path / "run", ["cpu.stat"], cpu_stat="usage_usec 20\n")
    assert V2Cgroup((d,)).usage() == Usage(None, 0.00002, False, False)


def test_v1_usage(tmp_path: Path) -> None:
    names = ["memory.max_usage_in_bytes", "memory.oom_control", "memory.failcnt"]
    mem = files(tmp_path / "memory/run", names,
                memory_max_usage_in_bytes="67108864\n", memory_failcnt="40\n",
                memory_oom_control="oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    acct = files(tmp_path / "cpuacct/run", ["cpuacct.usage"], cpuacct_usage="2500000000\n")
    pids = files(tmp_path / "pids/run", ["pids.events"], pids_events="max 3\n")
    c = V1Cgroup((mem, acct, pids), (("memory", mem), ("cpuacct", acct), ("pids", pids)))
    assert c.usage() == Usage(67108864, 2.5, True, True)
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert c.usage().oom_killed is False  # failcnt counts reclaim too; oom_kill is the truth
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")  # before 4.13
    assert c.usage().oom_killed is True
    assert V1Cgroup((acct,), (("cpuacct", acct),)).usage() == Usage(None, 2.5, False, False)
