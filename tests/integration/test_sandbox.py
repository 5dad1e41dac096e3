"""gobox run, build and test in the real namespace sandbox, as root and as an unprivileged user."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.binfmt import identify
from support.mirror import Mirror
from support.requires import requires_cgroups, requires_userns
from support.runner import NOBODY, REPO, Gobox, gobox_env
from support.runner import as_nobody as run_as_nobody
from support.terminal import Terminal

PROBE_SRC = REPO / "tests" / "data" / "probe"


pytestmark = requires_userns

APP_MAIN = 'package main\n\nimport "fmt"\n\nfunc Greeting() string { return "Hello, Go examples!" }\n\n' \
           'func main() { fmt.Println(Greeting()) }\n'
APP_TEST = 'package main\n\nimport "testing"\n\nfunc TestGreeting(t *testing.T) {\n' \
           '\tif Greeting() != "Hello, Go examples!" {\n\t\tt.Fatal("wrong greeting")\n\t}\n}\n'


def make_app(root: Path, version: str = "1.21.13") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text("module example.com/app\n\ngo 1.21\n")
    (root / "main.go").write_text(APP_MAIN)
    (root / "main_test.go").write_text(APP_TEST)
    (root / "gobox.toml").write_text(f'[go]\nversion = "{version}"\n')
    return root


@pytest.fixture(scope="session")
def probe(stocked_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe program, built once with the stocked Go on the host, static."""
    out = tmp_path_factory.mktemp("probe") / "probe"
    go = next(stocked_home.glob("toolchains/go1.21.13.*")) / "layer/usr/local/go/bin/go"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(out.parent), "CGO_ENABLED": "0", "GOTOOLCHAIN": "local",
           "GOCACHE": str(out.parent / "cache"), "GOFLAGS": "-mod=mod"}
    subprocess.run([str(go), "build", "-o", str(out), "."], cwd=PROBE_SRC, env=env, check=True)
    return out


@pytest.fixture
def app(tmp_path: Path, probe: Path) -> Path:
    root = make_app(tmp_path / "app")
    shutil.copy(probe, root / "probe")
    return root


def gobox_pids() -> set[int]:
    """Processes running the probe anywhere on the host."""
    out = subprocess.run(["pgrep", "-f", "probe (sleep|forkbomb|hog)"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def run_mounts() -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if "gobox" in line]


def cgroup_leftovers() -> list[Path]:
    # gobox-self is the v2 leaf gobox keeps for its own processes, not a run's cgroup.
    return [p for p in Path("/sys/fs/cgroup").glob("*/**/gobox-*") if p.is_dir() and p.name != "gobox-self"]


# --- the three commands users live in ------------------------------------------------


def test_build_test_run_as_root(stocked: Gobox, app: Path) -> None:
    r = stocked("build", "-v", cwd=app)
    assert r.code == 0, r.err
    assert re.search(r"gobox: exit 0, peak memory \d+\.\d MiB, cpu \d+\.\d\d s", r.err), r.err
    ran = subprocess.run([app / "dist" / "app"], capture_output=True, text=True)
    assert ran.stdout == "Hello, Go examples!\n"
    t = stocked("test", "--", "-count=1", "-v", cwd=app)
    assert t.code == 0, t.err
    assert "--- PASS: TestGreeting" in t.out and "ok  \texample.com/app" in t.out
    v = stocked("run", "--", "go", "version", cwd=app)
    assert v.code == 0 and v.out.startswith("go version go1.21.13 linux/amd64"), v.err


def test_failing_test_gives_gos_exit_code(stocked: Gobox, app: Path) -> None:
    (app / "main_test.go").write_text(APP_TEST.replace('!= "Hello, Go examples!"', '== "Hello, Go examples!"'))
    r = stocked("test", "--", "-count=1", cwd=app)
    assert r.code == 1 and "FAIL" in r.out


@pytest.fixture
def nobody_base() -> Path:
    """A directory the unprivileged user can reach (pytest's tmp dirs are 0700 root's)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="gobox-nobody-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_rootless_build_test_run(nobody_base: Path, clean_mirror: Mirror, probe: Path) -> None:
    base = nobody_base
    app = make_app(base / "app")
    home = base / "home"
    home.mkdir()
    for p in [base, *base.rglob("*")]:
        os.chown(p, NOBODY, NOBODY)
    env = gobox_env(home, clean_mirror, sources="pypi")
    env["HOME"] = str(base)

    def as_nobody(*args: str) -> subprocess.CompletedProcess:
        return run_as_nobody(args, app, env)

    r = as_nobody("build")
    assert r.returncode == 0, r.stderr
    binary = app / "dist" / "app"
    assert binary.stat().st_uid == NOBODY  # written through the bind mount as the caller
    assert subprocess.run([binary], capture_output=True, text=True).stdout == "Hello, Go examples!\n"
    t = as_nobody("test", "--", "-count=1")
    assert t.returncode == 0 and "ok  \texample.com/app" in t.stdout, t.stderr
    v = as_nobody("run", "--", "go", "version")
    assert v.returncode == 0 and "go1.21.13" in v.stdout, v.stderr
    shutil.copy(probe, app / "probe")
    os.chown(app / "probe", NOBODY, NOBODY)
    idr = as_nobody("run", "--", "./probe", "id")
    assert f"uid={NOBODY} gid={NOBODY} pid=2 host=gobox" in idr.stdout, idr.stderr

    # gobox cross rootless: no cgroup to measure in, the matrix still runs.
    c = as_nobody("cross", "linux/arm64")
    assert c.returncode == 0, c.stderr
    arm = app / "dist" / "app_linux_arm64" / "app"
    assert identify(arm).arch == "arm64" and arm.stat().st_uid == NOBODY
    os.chmod(app / "dist", 0o555)
    c = as_nobody("cross", "linux/arm64")
    assert c.returncode == 1
    assert f"cannot write the output directory {app / 'dist'}: Permission denied" in c.stderr
    assert arm.is_file()  # the last good build is still there


# --- isolation ----------------------------------------------------------------------------


def test_writes_outside_the_mounts_do_not_reach_the_host(stocked: Gobox, app: Path) -> None:
    goroot = stocked.home / "toolchains" / "go1.21.13.linux-amd64" / "layer" / "usr" / "local" / "go"
    before = sorted(p.name for p in goroot.iterdir())
    marker = f"gobox-escape-{os.getpid()}"
    r = stocked("run", "--", "./probe", "write", f"/{marker}", f"/tmp/{marker}", f"/etc/{marker}",
                f"/usr/local/go/{marker}", f"{app}/inside", cwd=app)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    for line in lines[:3]:
        assert line.startswith("ok "), r.out  # they all succeed... inside the throw-away root
    # The pinned toolchain is the store's own tree, shown read-only: no build can change the Go it runs.
    assert lines[3] == f"err /usr/local/go/{marker}: open /usr/local/go/{marker}: read-only file system", r.out
    assert not Path(f"/{marker}").exists() and not Path(f"/tmp/{marker}").exists()
    assert not Path(f"/etc/{marker}").exists()
    assert sorted(p.name for p in goroot.iterdir()) == before
    assert (app / "inside").read_text() == "escaped\n"  # the project mount is the way out
    again = stocked("run", "--", "./probe", "ls", "/tmp", cwd=app)
    assert marker not in again.out  # and the next run starts clean


def test_the_host_is_not_visible(stocked: Gobox, app: Path) -> None:
    r = stocked("run", "--", "./probe", "ls", "/", cwd=app)
    assert r.code == 0
    assert set(r.out.split()) <= {"dev", "etc", "go", "gobox", "home", "proc", "root", "tmp", "usr",
                                  app.parts[1]}
    assert "boot" not in r.out and "var" not in r.out
    assert stocked("run", "--", "./probe", "ls", "/usr/bin", cwd=app).code == 1


def test_processes_are_invisible(stocked: Gobox, app: Path) -> None:
    r = stocked("run", "--", "./probe", "ps", cwd=app)
    assert r.code == 0
    pids = dict(line.split(" ", 1) for line in r.out.splitlines())
    assert set(pids) == {"1", "2"} and pids["2"] == "probe", r.out


def test_no_network_by_default(stocked: Gobox, app: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        r = stocked("run", "--", "./probe", "dial", f"127.0.0.1:{port}", cwd=app)
        assert r.code == 1 and "dial failed" in r.out
        host = stocked("run", "--network", "host", "--", "./probe", "dial", f"127.0.0.1:{port}", cwd=app)
        assert host.code == 0 and "connected" in host.out, host.out + host.err


def test_privileges_are_dropped_and_env_scrubbed(stocked: Gobox, app: Path) -> None:
    r = stocked("run", "--env", "EXTRA=1", "--", "./probe", "id", cwd=app, env={"SECRET": "hunter2"})
    assert r.code == 0, r.err
    assert f"uid={os.getuid()} gid={os.getgid()} pid=2 host=gobox" in r.out
    assert "CapEff: 0000000000000000" in r.out and "CapBnd: 0000000000000000" in r.out
    assert "NoNewPrivs: 1" in r.out
    assert "SECRET=\n" in r.out and "GOTOOLCHAIN=local" in r.out and "GOROOT=/usr/local/go" in r.out


# --- limits -------------------------------------------------------------------------------


@requires_cgroups
def test_fork_bomb_is_contained(stocked: Gobox, app: Path) -> None:
    r = stocked("run", "--pids", "64", "--", "./probe", "forkbomb", "500", cwd=app)
    assert r.code == 1
    assert "fork failed after" in r.out
    assert "hit the process limit (pids 64)" in r.err
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork
    assert gobox_pids() == set() and cgroup_leftovers() == []


@requires_cgroups
def test_memory_hog_is_killed_and_named(stocked: Gobox, app: Path) -> None:
    r = stocked("run", "--verbose", "--memory", "256MiB", "--", "./probe", "hog", "2048", cwd=app)
    assert r.code == 137, r.err
    assert "ran out of memory and was killed (memory limit 256 MiB)" in r.err
    assert "allocated" not in r.out
    assert cgroup_leftovers() == []


@requires_cgroups
def test_usage_is_reported(stocked: Gobox, app: Path) -> None:
    import json

    r = stocked("run", "--json", "--", "./probe", "hog", "64", cwd=app)
    assert r.code == 0, r.err
    result = json.loads(r.out)  # the probe's own lines go to stderr: stdout is the one document
    assert result["exit_code"] == 0 and result["peak_memory"] > 64 << 20 and result["cpu_time"] > 0


def test_limits_without_cgroups_fail_clearly(nobody_base: Path, clean_mirror: Mirror) -> None:
    base = nobody_base
    app = make_app(base / "app")
    for p in [base, *base.rglob("*")]:
        os.chown(p, NOBODY, NOBODY)
    env = gobox_env(base / "home", clean_mirror, sources="pypi")
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-m",
           "gobox", "run", "--memory", "256MiB", "--", "go", "version"]
    r = subprocess.run(cmd, cwd=app, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "cannot apply the limits" in r.stderr and "--no-limits" in r.stderr
    ok = subprocess.run([*cmd[:-3], "--no-limits", "--", "go", "version"], cwd=app, env=env,
                        capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0 and "go1.21.13" in ok.stdout, ok.stderr


# --- signals and cleanup -----------------------------------------------------------------


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.parametrize("limits", [(), ("--pids", "100")], ids=["no-cgroup", "cgroup"])
def test_signal_mid_run_leaves_nothing(stocked: Gobox, app: Path, sig: int, code: int,
                                       limits: tuple[str, ...]) -> None:
    if limits and os.geteuid() != 0:
        pytest.skip("limits need root here")
    p = stocked.popen("run", *limits, "--", "./probe", "sleep", "60", cwd=app)
    assert p.stdout.readline() == "sleeping\n"
    assert gobox_pids()
    p.send_signal(sig)
    assert p.wait(timeout=30) == code
    p.communicate()
    deadline = time.monotonic() + 10
    while gobox_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gobox_pids() == set()
    assert cgroup_leftovers() == []
    assert run_mounts() == []


@requires_cgroups
def test_kill_9_of_gobox_leaves_no_cgroup(stocked: Gobox, app: Path) -> None:
    p = stocked.popen("run", "--memory", "1GiB", "--", "./probe", "sleep", "60", cwd=app)
    assert p.stdout.readline() == "sleeping\n"
    assert cgroup_leftovers()  # limits asked for: the run has its cgroup
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    deadline = time.monotonic() + 10
    while (gobox_pids() or cgroup_leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gobox_pids() == set() and cgroup_leftovers() == []


@requires_cgroups
def test_a_later_run_sweeps_what_kill_9_of_gobox_and_its_watchdog_left(stocked: Gobox, app: Path) -> None:
    p = stocked.popen("run", "--memory", "1GiB", "--", "./probe", "sleep", "60", cwd=app)
    assert p.stdout.readline() == "sleeping\n"
    children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    for pid in [p.pid, *map(int, children)]:  # gobox, its sandbox and its watchdog at once
        os.kill(pid, signal.SIGKILL)
    p.wait(timeout=30)
    deadline = time.monotonic() + 10
    while gobox_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = cgroup_leftovers()
    assert orphans and gobox_pids() == set()  # nobody was left to remove the cgroup
    old = time.time() - 3600
    for o in orphans:
        os.utime(o, (old, old))
    parent = orphans[0].parent
    young = parent / f"gobox-{p.pid}-0a0b0c"  # may be a run of a gobox in another PID namespace
    owned = parent / f"gobox-{os.getpid()}-0d0e0f"  # its gobox is alive
    keep = [young, owned]
    try:
        for d in keep:
            d.mkdir()
        os.utime(owned, (old, old))
        r = stocked("run", "--pids", "64", "--", "go", "version", cwd=app)
        assert r.code == 0, r.err
        assert sorted(cgroup_leftovers()) == sorted(keep)
    finally:  # whatever happened, or the next tests would find these
        for d in [*keep, *orphans]:
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()


# --- odd inputs ----------------------------------------------------------------------------


def test_source_path_with_spaces_and_non_utf8_bytes(stocked: Gobox, tmp_path: Path) -> None:
    weird = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/my project \xff\xfe"))
    make_app(weird)
    r = stocked("build", cwd=weird)
    assert r.code == 0, r.err
    ran = subprocess.run([weird / "dist" / "app"], capture_output=True, text=True)
    assert ran.stdout == "Hello, Go examples!\n"


def test_missing_command_exits_127(stocked: Gobox, app: Path) -> None:
    r = stocked("run", "--", "no-such-command", "x", cwd=app)
    assert r.code == 127
    assert "no-such-command: command not found in the sandbox" in r.err
    assert "[go].base" in r.err  # a build's root: the hint names the key that adds to it


def test_missing_toolchain_is_installed_on_demand(gobox: Gobox, tmp_path: Path) -> None:
    app = make_app(tmp_path / "app", "1.22.10")
    r = gobox("run", "--", "go", "version", cwd=app)
    assert r.code == 0 and "go1.22.10" in r.out, r.err
    assert "installed go1.22.10" in r.err


def test_missing_toolchain_offline_is_a_clear_error(gobox: Gobox, tmp_path: Path) -> None:
    app = make_app(tmp_path / "app", "1.22.10")
    dead = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}
    r = gobox("run", "--", "go", "version", cwd=app, env=dead)
    assert r.code == 4 and "no toolchain source could be reached" in r.err


def test_dry_run_prints_the_plan(stocked: Gobox, app: Path) -> None:
    r = stocked("build", "--dry-run", cwd=app)
    assert r.code == 0
    assert "command:  go build -trimpath -o" in r.out and "network:  none" in r.out
    assert not (app / "dist").exists()


def test_shell_on_base_none_explains(stocked: Gobox, app: Path) -> None:
    r = stocked("shell", cwd=app)
    assert r.code == 2 and 'base = "none" has none' in r.err


CGO_MAIN = ('package main\n\n// #include <stdio.h>\n'
            '// static void hello(void) { puts("hello from C"); fflush(stdout); }\n'
            'import "C"\n\nfunc main() { C.hello() }\n')


def test_host_base_has_a_shell_and_cgo(stocked: Gobox, app: Path) -> None:
    (app / "gobox.toml").write_text('[go]\nversion = "1.21.13"\nbase = "host"\ncgo = true\n')
    (app / "main.go").write_text(CGO_MAIN)
    (app / "main_test.go").unlink()
    script = "echo $0 && go env CGO_ENABLED && go build -o dist/ . && ldd dist/app"
    r = stocked("run", "--", "sh", "-c", script, cwd=app)
    assert r.code == 0, r.err
    assert r.out.startswith("sh\n1\n") and "libc.so" in r.out
    assert subprocess.run([app / "dist" / "app"], capture_output=True, text=True).stdout == "hello from C\n"


def test_shell_has_a_controlling_terminal_and_job_control(stocked: Gobox, app: Path) -> None:
    """On a terminal, the shell is the foreground process group: Ctrl-C stops its job, not gobox."""
    (app / "gobox.toml").write_text('[go]\nversion = "1.21.13"\nbase = "host"\n')
    shell = [sys.executable, "-m", "gobox", "shell"]
    with Terminal(shell, {**stocked.env, "TERM": "dumb"}, cwd=app) as term:
        term.type(b"test -t 0 && echo TTY=yes$((1+1))\n")
        term.expect(b"TTY=yes2")
        term.type(b"sleep 30; echo AFTER=$((2+3))\n")
        time.sleep(1)
        term.type(b"\x03")  # Ctrl-C: the tty driver signals the foreground group, the shell's job
        term.type(b"echo ALIVE=$((3+4))\n")
        term.expect(b"ALIVE=7")
        assert b"AFTER=5" not in term.seen
        term.type(b"exit 7\n")
        assert term.wait() == 7


def test_run_outside_a_project_with_go(stocked: Gobox, tmp_path: Path) -> None:
    bare = tmp_path / "anywhere"
    bare.mkdir()
    r = stocked("run", "--go", "1.21.13", "--", "go", "version", cwd=bare)
    assert r.code == 0 and "go1.21.13" in r.out, r.err
    assert list(bare.iterdir()) == []  # no gobox.lock written where there is no project
    refused = stocked("run", "--", "go", "version", cwd=bare)
    assert refused.code == 2 and "no gobox.toml or go.mod" in refused.err and "--go" in refused.err
