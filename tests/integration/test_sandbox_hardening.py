"""Hostile code inside gobox run, test and verify, as an attacker would try it: each escape of issue 17, on
the real kernel, a real terminal and real cgroups, as root and as the unprivileged user nobody."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest
from support.mirror import Mirror
from support.requires import requires_cgroups, requires_tool, requires_userns
from support.runner import NOBODY, REPO, Gobox, gobox_env
from support.terminal import Terminal

pytestmark = requires_userns

HOSTILE_SRC = REPO / "tests" / "data" / "hostile" / "hostile.c"
LOCK_1_22 = (REPO / "recipes" / "hello" / "gobox.lock").read_text()
INJECT = "echo INJECTED\n"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (setpriv to nobody, cgroups)")


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static C helper of tests/data/hostile, built with the host's gcc."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc (apt-get install gcc)")
    out = tmp_path_factory.mktemp("hostile") / "hostile"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(HOSTILE_SRC)], check=True, timeout=120)
    return out


def make_project(root: Path, hostile: Path, toml: str = '[go]\nversion = "1.21.13"\n',
                 files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text("module example.com/app\n\ngo 1.21\n")
    (root / "gobox.toml").write_text(toml)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    shutil.copy(hostile, root / "hostile")
    return root


@pytest.fixture
def nobody_dir() -> Path:
    """A directory nobody owns and can reach (pytest's tmp dirs are 0700 root's)."""
    base = Path(tempfile.mkdtemp(prefix="gobox-nobody-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def hand_to_nobody(base: Path) -> None:
    for p in [base, *base.rglob("*")]:
        os.chown(p, NOBODY, NOBODY, follow_symlinks=False)


def as_user(user: str, argv: list[str]) -> list[str]:
    if user == "root":
        return argv
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


@pytest.fixture(params=["root", "nobody"])
def who(request: pytest.FixtureRequest, stocked: Gobox, clean_mirror: Mirror, nobody_dir: Path
        ) -> tuple[str, dict[str, str], Path]:
    """(user, gobox's environment, a directory for projects): root with the stocked store, or nobody with
    a store of its own (filled from the loopback mirror on first use)."""
    if request.param == "root":
        base = nobody_dir / "root"
        base.mkdir()
        return "root", stocked.env, base
    if os.geteuid() != 0:
        pytest.skip("setpriv to nobody needs root")
    env = gobox_env(nobody_dir / "home", clean_mirror, sources="pypi")
    env["HOME"] = str(nobody_dir)
    return "nobody", env, nobody_dir


def gobox_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "gobox", *args]


# --- TIOCSTI: nothing reaches the caller's terminal -------------------------------------------------


INJECT_TEST = '''package main

import (
\t"os"
\t"syscall"
\t"testing"
\t"unsafe"
)

// What a hostile _test.go does: push a command into the input of every terminal it can reach.
func TestInject(t *testing.T) {
\ttext := []byte("echo INJECTED\\n")
\tfds := []uintptr{0, 1, 2}
\tif tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
\t\tfds = append(fds, tty.Fd())
\t} else {
\t\tt.Logf("open /dev/tty: %v", err)
\t}
\tfor _, fd := range fds {
\t\tfor i := range text {
\t\t\t_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSTI, uintptr(unsafe.Pointer(&text[i])))
\t\t\tif e != 0 {
\t\t\t\tt.Logf("fd %d: TIOCSTI: %v", fd, e)
\t\t\t\tbreak
\t\t\t}
\t\t}
\t}
}
'''


def on_a_terminal(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> bytes:
    """Run argv under bash on a real pty, then let bash read one line from that terminal: what the command
    pushed into the terminal's input, if anything, shows as LEFT=[...]."""
    script = 'cd "$1"; shift; "$@"; echo "EXIT=$?"; read -t 3 -r LINE; echo "LEFT=[$LINE]"'
    with Terminal(["/bin/bash", "--norc", "--noprofile", "-c", script, "bash", str(cwd), *argv],
                  {**env, "TERM": "dumb"}) as term:
        term.expect(b"LEFT=[", timeout=timeout)
        term.expect(b"]", timeout=10)
        term.wait()
        return term.seen


def test_tiocsti_from_gobox_run_stays_inside(who: tuple, hostile: Path) -> None:
    user, env, base = who
    app = make_project(base / "app", hostile)
    if user == "nobody":
        hand_to_nobody(base)
    for seccomp in ("default", "off"):
        seen = on_a_terminal(as_user(user, gobox_argv("run", "--seccomp", seccomp, "--", "./hostile", "tiocsti",
                                                      INJECT)), env, app).decode(errors="replace")
        assert "EXIT=0" in seen, seen
        assert "LEFT=[]" in seen, seen  # nothing was pushed into the caller's terminal
        if seccomp == "default":
            # Refused by the filter, even on the sandbox's own pty.
            for target in ("fd0", "fd1", "fd2", "/dev/tty"):
                assert f"tiocsti {target}: refused (Operation not permitted)" in seen, seen


@pytest.mark.parametrize("command", ["test", "verify"])
def test_tiocsti_from_a_test_stays_inside(stocked: Gobox, tmp_path: Path, hostile: Path, command: str) -> None:
    app = make_project(tmp_path / "app", hostile, '[go]\nversion = "1.22"\n',
                       {"main.go": "package main\n\nfunc main() {}\n", "inject_test.go": INJECT_TEST})
    (app / "gobox.lock").write_text(LOCK_1_22)
    (app / "hostile").unlink()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(app)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "hostile test"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    args = ("test", "--", "-count=1", "-v") if command == "test" else ("verify",)
    seen = on_a_terminal(gobox_argv(*args), stocked.env, app, timeout=900).decode(errors="replace")
    assert "EXIT=0" in seen, seen
    assert "LEFT=[]" in seen, seen
    if command == "test":
        assert "open /dev/tty: open /dev/tty: no such device or address" in seen  # no controlling terminal
        assert "TIOCSTI: operation not permitted" in seen and "--- PASS: TestInject" in seen


# --- the caller's keys --------------------------------------------------------------------------------


@requires_tool("keyctl")
@pytest.mark.parametrize("seccomp", ["default", "off"])
def test_the_callers_session_keyring_is_out_of_reach(who: tuple, hostile: Path, seccomp: str) -> None:
    user, env, base = who
    app = make_project(base / "app", hostile)
    if user == "nobody":
        hand_to_nobody(base)
    # A session keyring of this test's own, holding one key, as a user's login session would; gobox runs in
    # that session (as root, or as nobody, to whom the key is reachable only by possession through it).
    script = ('id=$(keyctl add user gobox-test-key s3cr3t-value @s) && keyctl print "$id" && '
              'exec "$@" keyring "$id"')
    argv = ["keyctl", "session", "-", "sh", "-c", script, "sh",
            *as_user(user, gobox_argv("run", "--seccomp", seccomp, "--", "./hostile"))]
    r = subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("s3cr3t-value\n")  # the caller could read it
    assert "key read: refused" in r.stdout and "s3cr3t" not in r.stdout.split("\n", 1)[1], r.stdout
    expected = "Operation not permitted" if seccomp == "default" else "Permission denied"
    assert f"key read: refused ({expected})" in r.stdout


# --- /proc ----------------------------------------------------------------------------------------------


def test_proc_is_read_only_and_masked_as_root(stocked: Gobox, tmp_path: Path, hostile: Path) -> None:
    app = make_project(tmp_path / "app", hostile)
    pci = sorted(Path("/proc/bus/pci").glob("*/*"))
    irq = [p for p in sorted(Path("/proc/irq").glob("*/smp_affinity"))]
    targets = ["/proc/irq/default_smp_affinity", *map(str, irq[:1]), *map(str, pci[:1])]
    if Path("/proc/sysrq-trigger").exists():
        targets.append("/proc/sysrq-trigger")
    steps = [x for t in targets for x in ("open-w", t)]
    steps += ["rewrite", "/proc/irq/default_smp_affinity"]
    steps += [x for t in ("keys", "timer_list", "kcore", "sched_debug") if Path(f"/proc/{t}").exists()
              for x in ("read", f"/proc/{t}")]
    r = stocked("run", "--", "./hostile", *steps, "ls", "/proc/acpi", cwd=app)
    assert r.code == 0, r.err
    for t in targets:
        assert f"open-w {t}: refused (Read-only file system)" in r.out, r.out
    assert "rewrite /proc/irq/default_smp_affinity: refused (Read-only file system)" in r.out
    for t in ("keys", "timer_list", "kcore", "sched_debug"):
        if Path(f"/proc/{t}").exists():
            assert f"read /proc/{t}: 0 bytes" in r.out, r.out  # an empty file over it
    if Path("/proc/acpi").is_dir():
        assert "ls /proc/acpi: (empty)" in r.out
    plan = stocked("run", "--dry-run", "--", "true", cwd=app)
    assert "/proc (bus, fs, irq, sys, sysrq-trigger read-only; kcore, keys" in plan.out
    assert "seccomp:  default" in plan.out


# --- limits ----------------------------------------------------------------------------------------------


@requires_cgroups
@pytest.mark.parametrize("seccomp", ["default", "off"])
def test_limits_hold_against_a_nested_cgroup_mount(stocked: Gobox, tmp_path: Path, hostile: Path,
                                                   seccomp: str) -> None:
    app = make_project(tmp_path / "app", hostile)
    limits = ("--pids", "200", "--memory", "512MiB", "--seccomp", seccomp)
    r = stocked("run", *limits, "--", "./hostile", "escape-limits", "forkbomb", "300", cwd=app)
    assert "lift pids.max: refused" in r.out and "lift memory.limit_in_bytes: refused" in r.out, r.out
    # Refused by the filter; with it off, by the sandbox's user namespace limit of 0.
    why = "Operation not permitted" if seccomp == "default" else "No space left on device"
    assert f"unshare user+mount+cgroup: refused ({why})" in r.out
    forked = int(r.out.split("forked ", 1)[1].split()[0])
    assert forked < 200, r.out
    hog = stocked("run", *limits, "--", "./hostile", "escape-limits", "hog", "900", cwd=app)
    assert hog.code == 137 and "allocated" not in hog.out, hog.out + hog.err
    assert "ran out of memory and was killed (memory limit 512 MiB)" in hog.err


@requires_cgroups
def test_the_runs_cgroup_is_sealed_against_the_sandboxed_root(stocked: Gobox, tmp_path: Path,
                                                              hostile: Path) -> None:
    """Even with the host's cgroupfs bound in (a --mount), root inside cannot write its own limits: it is
    uid 0 on the host, the files' owner, and gobox leaves them no write bit."""
    app = make_project(tmp_path / "app", hostile)
    r = stocked("run", "--pids", "200", "--memory", "512MiB", "--mount", "/sys/fs/cgroup:/host-cgroup", "--",
                "./hostile", "lift-own", "/host-cgroup", "forkbomb", "300", cwd=app)
    assert "lift pids.max: refused (Permission denied)" in r.out, r.out
    assert "lift memory.limit_in_bytes: refused (Permission denied)" in r.out
    assert int(r.out.split("forked ", 1)[1].split()[0]) < 200, r.out


# --- signals -------------------------------------------------------------------------------------------

SLEEPER_MAIN = ('package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
                'func main() { fmt.Println("sleeping"); time.Sleep(3007 * time.Second); fmt.Println("after") }\n')
SLEEPER_TEST = ('package main\n\nimport (\n\t"fmt"\n\t"testing"\n\t"time"\n)\n\n'
                'func TestSleep(t *testing.T) { fmt.Println("sleeping"); time.Sleep(3007 * time.Second) }\n')
LEFT_BEHIND = "sleep 3007|exe/sleeper|sleeper.test"


def left_behind() -> set[int]:
    out = subprocess.run(["pgrep", "-f", LEFT_BEHIND], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()} - {os.getpid()}


def cgroup_leftovers() -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob("*/**/gobox-*") if p.is_dir() and p.name != "gobox-self"]


def run_mounts() -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if "gobox" in line]


COMMANDS = {
    "sh": ("run", "--", "sh", "-c", "echo sleeping; sleep 3007; echo after"),
    "sh-ignoring": ("run", "--", "sh", "-c", "trap '' INT TERM HUP; echo sleeping; sleep 3007; echo after"),
    "go-run": ("run", "--", "go", "run", "./sleeper"),
    "go-test": ("test", "--", "-run", "TestSleep", "-count=1", "-v", "./sleeper"),
}


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["INT", "TERM", "HUP"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_signal_ends_the_whole_command(stocked: Gobox, tmp_path: Path, hostile: Path, command: str,
                                         sig: int, code: int) -> None:
    if command.startswith("go") and sig == signal.SIGHUP:
        pytest.skip("SIGHUP is covered by sh; go run and go test once per signal is enough")
    app = make_project(tmp_path / "app", hostile, '[go]\nversion = "1.21.13"\nbase = "host"\n',
                       {"sleeper/main.go": SLEEPER_MAIN, "sleeper/main_test.go": SLEEPER_TEST})
    limits = ("--pids", "300") if os.geteuid() == 0 and command == "go-test" else ()
    args = COMMANDS[command]
    p = subprocess.Popen(gobox_argv(args[0], *limits, *args[1:]), cwd=app, env=stocked.env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "sleeping" not in line:
            line = p.stdout.readline()
            assert line, p.stderr.read()
        p.send_signal(sig)
        assert p.wait(timeout=20) == code  # on the old gobox the command kept running until killed
        out, err = p.communicate()
        assert "after" not in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    deadline = time.monotonic() + 10
    while left_behind() and time.monotonic() < deadline:
        time.sleep(0.05)
    # Only this gobox's cgroups: other gobox runs on the machine may have theirs meanwhile.
    assert left_behind() == set() and run_mounts() == []
    assert [d for d in cgroup_leftovers() if d.name.startswith(f"gobox-{p.pid}-")] == []


# --- orphans ---------------------------------------------------------------------------------------------


@requires_cgroups
@pytest.mark.skipif(not Path("/sys/fs/cgroup/freezer").is_dir(), reason="needs the cgroup v1 freezer")
def test_a_later_run_sweeps_a_frozen_orphan(stocked: Gobox, tmp_path: Path, hostile: Path) -> None:
    """gobox, its watchdog and the command killed with -9 while gobox's kill had the cgroup frozen."""
    app = make_project(tmp_path / "app", hostile)
    p = stocked.popen("run", "--memory", "1GiB", "--", "./hostile", "sleep", "3007", cwd=app)
    assert p.stdout.readline() == "sleeping\n"
    (freezer,) = [d for d in Path("/sys/fs/cgroup/freezer").glob(f"**/gobox-{p.pid}-*")]
    inside = [int(x) for x in (freezer / "cgroup.procs").read_text().split()]
    watchdog = [int(x) for x in subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                                               text=True).stdout.split()]
    (freezer / "freezer.state").write_text("FROZEN")  # where V1Cgroup.kill was when gobox died
    for pid in [p.pid, *watchdog, *inside]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    p.wait(timeout=30)
    p.stdout.close()
    p.stderr.close()
    orphans = [d for d in cgroup_leftovers() if d.name == freezer.name]
    try:
        time.sleep(0.5)
        assert [pid for pid in inside if Path(f"/proc/{pid}").exists()] == inside  # frozen, the kills pending
        old = time.time() - 3600
        for o in orphans:
            os.utime(o, (old, old))
        r = stocked("run", "--pids", "64", "--", "./hostile", "forkbomb", "1", cwd=app)
        assert r.code == 0, r.err
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in inside) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(Path(f"/proc/{pid}").exists() for pid in inside)
        assert [d for d in orphans if d.exists()] == []
    finally:
        with contextlib.suppress(OSError):
            (freezer / "freezer.state").write_text("THAWED")
        for d in orphans:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


# --- the terminal ------------------------------------------------------------------------------------------


def test_the_sandbox_has_a_terminal_of_its_own(stocked: Gobox, tmp_path: Path, hostile: Path) -> None:
    """`tty` names a pty of the sandbox's own devpts; window sizes follow; job control works; the caller's
    terminal settings come back."""
    app = make_project(tmp_path / "app", hostile, '[go]\nversion = "1.21.13"\nbase = "host"\n')
    script = 'cd "$1"; stty -g; "$2" -m gobox shell; echo "EXIT=$?"; stty -g; echo DONE=$((2+2))'
    with Terminal(["/bin/bash", "--norc", "--noprofile", "-c", script, "bash", str(app), sys.executable],
                  {**stocked.env, "TERM": "dumb"}) as term:
        fcntl.ioctl(term.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        term.type(b"t=$(tty); echo TTY=$t; test -c $t && echo EXISTS=$((1+1)); stty size\n")
        term.expect(b"EXISTS=2")
        term.expect(b"33 101")
        assert b"TTY=/dev/pts/0" in term.seen
        fcntl.ioctl(term.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 120, 0, 0))  # SIGWINCH to gobox
        time.sleep(0.5)
        term.type(b"stty size\n")
        term.expect(b"44 120")
        term.type(b"sleep 3007\n")
        time.sleep(1)
        term.type(b"\x1a")  # Ctrl-Z: the inner shell stops its job
        term.expect(b"Stopped")
        term.type(b"kill -9 %1\n")
        time.sleep(1)
        term.type(b"jobs; echo JOBS=$((4+5))\n")
        term.expect(b"JOBS=9")
        term.type(b"exit 3\n")
        term.expect(b"EXIT=3")
        term.expect(b"DONE=4")
        assert term.wait() == 0
    lines = [x for x in term.seen.decode(errors="replace").splitlines() if x.count(":") > 30]
    assert len(lines) == 2 and lines[0] == lines[1], term.seen  # raw mode undone: the same settings as before
    assert left_behind() == set()


def test_ctrl_z_stops_gobox_and_fg_resumes_the_command(stocked: Gobox, tmp_path: Path, hostile: Path) -> None:
    """Ctrl-Z reaches the command on its own pty; gobox stops with it (the caller's shell gets its prompt),
    and `fg` resumes both."""
    app = make_project(tmp_path / "app", hostile)
    with Terminal(["/bin/bash", "--norc", "--noprofile", "-i"], {**stocked.env, "TERM": "dumb", "PS1": "$ "},
                  cwd=app) as term:
        term.type(f"{sys.executable} -m gobox run -- ./hostile sleep 5 write /tmp/x\n".encode())
        term.expect(b"sleeping")
        term.type(b"\x1a")
        term.expect(b"Stopped")
        term.type(b"echo SHELL=$((1+1))\n")
        term.expect(b"SHELL=2")
        term.type(b"fg\n")
        term.expect(b"write /tmp/x: ok\r\n$ ", timeout=30)  # and the shell's prompt: gobox has exited
        term.type(b"echo EXIT=$?\n")
        term.expect(b"EXIT=0")
        term.type(b"exit\n")
        term.wait()


def test_seccomp_off_is_warned_on_every_run(stocked: Gobox, tmp_path: Path, hostile: Path) -> None:
    app = make_project(tmp_path / "app", hostile, '[go]\nversion = "1.21.13"\n[sandbox]\nseccomp = "off"\n')
    for _ in range(2):
        r = stocked("run", "--", "./hostile", "keyring", "1", cwd=app)
        assert r.code == 0
        assert "gobox: warning: the seccomp filter is off" in r.err
    r = stocked("run", "--seccomp", "default", "--", "./hostile", "keyring", "1", cwd=app)
    assert "warning" not in r.err and "key read: refused (Operation not permitted)" in r.out
    bad = stocked("run", "--seccomp", "none", "--", "true", cwd=app)
    assert bad.code == 2 and "'none' is not one of 'default', 'off'" in bad.err


def test_doctor_shows_the_seccomp_filter(stocked: Gobox) -> None:
    r = stocked("doctor", "--offline", "--json")
    checks = {c["check"]: c for c in json.loads(r.out)}
    assert checks["seccomp filter"]["ok"], checks["seccomp filter"]
    assert "libseccomp 2." in checks["seccomp filter"]["detail"]
