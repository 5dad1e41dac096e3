"""Docker's and go's habits on real runs: -e, -v, -w, -i, -t, --rm and -p on gobox run and gobox image run,
a private network through a real pasta (root and rootless) with a TCP round trip to a published port and no
pasta left behind, -C after the subcommand, and an image's missing WorkingDir and command."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mirror import Mirror
from support.requires import requires_tool, requires_userns
from support.runner import NOBODY, Gobox, gobox_env

PASTA = shutil.which("pasta")


pytestmark = requires_userns
needs_pasta = requires_tool("pasta")

# A TCP server for the sandbox, from the host's python (base = "host"): one answer, then it exits.
SERVER = ("import socket,sys\n"
          "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(); print('ready', flush=True)\n"
          "c,_=s.accept(); c.sendall(b'pong from the sandbox ' + c.recv(100)); c.close()\n")

# The program of the image: argv[1] says what to do.
IMAGE_MAIN = '''package main

import (
\t"fmt"
\t"net"
\t"os"
)

func main() {
\tswitch os.Args[1] {
\tcase "env":
\t\tfor _, k := range os.Args[2:] {
\t\t\tfmt.Printf("%s=%s\\n", k, os.Getenv(k))
\t\t}
\tcase "pwd":
\t\twd, err := os.Getwd()
\t\tfmt.Println(wd, err)
\tcase "cat":
\t\tdata, err := os.ReadFile(os.Args[2])
\t\tfmt.Printf("%s %v\\n", data, err)
\tcase "write":
\t\tfmt.Println(os.WriteFile(os.Args[2], []byte("from the image\\n"), 0o644))
\tcase "serve":
\t\tl, err := net.Listen("tcp", ":"+os.Args[2])
\t\tif err != nil {
\t\t\tfmt.Println(err)
\t\t\tos.Exit(1)
\t\t}
\t\tfmt.Println("ready")
\t\tc, _ := l.Accept()
\t\tbuf := make([]byte, 100)
\t\tn, _ := c.Read(buf)
\t\tc.Write(append([]byte("pong from the image "), buf[:n]...))
\t\tc.Close()
\t}
}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pasta_for(port: int) -> list[str]:
    """pasta processes (the binary is passt, or passt.avx2) forwarding this host port."""
    out = subprocess.run(["pgrep", "-a", "-f", "^(/usr/bin/)?pasta "], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f" {port}:" in line]


def gone(port: int) -> bool:
    """Whether no pasta forwards `port`, after at most a few seconds (its keeper stops it asynchronously
    when gobox itself was killed)."""
    for _ in range(100):
        if not pasta_for(port):
            return True
        time.sleep(0.05)
    return False


def round_trip(port: int, data: bytes = b"ping", tries: int = 3) -> bytes:
    """The server's answer to `data`. pasta accepts on the host before it has reached the sandbox's socket, and
    on a loaded machine it can close such a connection empty; the server (one answer, then exit) never saw it,
    so a bounded retry asks again. A connection the server did answer leaves it gone: no retry can pass then."""
    out = b""
    for _ in range(tries):
        with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            while chunk := c.recv(4096):
                out += chunk
        if out:
            break
        time.sleep(0.5)
    return out


@contextlib.contextmanager
def started(p: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """A background gobox, once its command said "ready"; killed if the test leaves early."""
    try:
        line = p.stdout.readline()
        assert line.strip() == "ready", line + p.stderr.read()
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=60)


@pytest.fixture(scope="module")
def project() -> Path:
    """A project whose sandbox has the host's /usr (python3, sh) over go 1.21.13, readable by nobody."""
    root = Path(tempfile.mkdtemp(prefix="gobox-docker-flags-"))
    os.chmod(root, 0o755)
    app = root / "app"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/app\n\ngo 1.21\n")
    (app / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    (app / "gobox.toml").write_text('[go]\nversion = "1.21.13"\nbase = "host"\n')
    (app / "server.py").write_text(SERVER)
    yield app
    shutil.rmtree(root, ignore_errors=True)


# --- gobox run ------------------------------------------------------------------------------------


def test_run_takes_dockers_e_v_w_i_t_rm(stocked: Gobox, project: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from the host\n")
    script = 'echo "$FOO|$BAR|${UNSET_X-unset}"; pwd; cat /data/in.txt; echo w > /rw/out.txt; echo x > /data/no.txt'
    r = stocked("run", "-e", "FOO=bar", "--env", "BAR", "-e", "UNSET_X", "-v", f"{shared}:/data:ro",
                "--volume", f"{shared}:/rw", "-w", "/made/here", "-i", "-t", "--rm", "--", "sh", "-c", script,
                cwd=project, env={"BAR": "from the caller"})
    assert r.out.splitlines() == ["bar|from the caller|unset", "/made/here", "from the host"], r.err
    assert "Read-only file system" in r.err and r.code != 0  # -v ...:ro is read-only
    assert (shared / "out.txt").read_text() == "w\n" and not (shared / "no.txt").exists()
    assert not Path("/made").exists()  # -w made it in the sandbox's root, not on the host


def test_run_without_a_separator_takes_e_as_gobox_option(stocked: Gobox, project: Path) -> None:
    r = stocked("run", "-e", "FOO=bar", "env", cwd=project)  # today: -e ran as the command, exit 127
    assert r.code == 0 and "FOO=bar" in r.out.splitlines(), r.err


@pytest.mark.parametrize("args, flag, detail", [
    (("-p", "99999:80"), "'-p' / '--publish'", "'99999:80': port must be a number from 1 to 65535"),
    (("-v", "relative"), "'-v' / '--volume'", "expected \"SRC:DST[:ro]\", got 'relative'"),
    (("-e", "=x"), "'-e' / '--env'", "'=x': '': not a variable name"),
    (("-w", "rel"), "'-w' / '--workdir'", "expected an absolute path inside the sandbox, got 'rel'"),
])
@pytest.mark.parametrize("command", [("run",), ("image", "run", "hello")])
def test_a_bad_docker_flag_is_one_line_naming_it(stocked: Gobox, project: Path, command: tuple[str, ...],
                                                 args: tuple[str, ...], flag: str, detail: str) -> None:
    r = stocked(*command, *args, "--", "true", cwd=project)
    assert r.code == 2 and r.out == ""
    (error,) = [line for line in r.err.splitlines() if line.startswith("Error:")]
    assert flag in error and detail in error, r.err


def test_publish_with_the_host_network_is_refused(stocked: Gobox, project: Path) -> None:
    r = stocked("run", "--network", "host", "-p", "8080:8080", "--", "true", cwd=project)
    assert r.code == 2 and r.err.startswith("gobox: error: -p 8080:8080/tcp: published ports need --network "
                                            "private"), r.err


def test_C_after_the_subcommand(stocked: Gobox, project: Path, tmp_path: Path) -> None:
    r = stocked("run", "-C", str(project), "--", "pwd", cwd=tmp_path)
    assert (r.code, r.out) == (0, f"{project}\n"), r.err
    r = stocked("run", f"-C{project}", "--", "sh", "-c", "echo -C stays", cwd=tmp_path)
    assert r.out == "-C stays\n", r.err
    b = stocked("build", "-C", str(project), cwd=tmp_path)  # as go build -C dir
    assert b.code == 0 and (project / "dist" / "app").is_file(), b.err
    w = stocked("toolchain", "which", "-C", str(project), cwd=tmp_path)
    assert w.code == 0 and "go1.21.13" in w.out, w.err


# --- a private network through pasta ----------------------------------------------------------------


@needs_pasta
def test_publish_a_port_as_root_and_nothing_left(stocked: Gobox, project: Path) -> None:
    port = free_port()
    p = stocked.popen("run", "-p", f"127.0.0.1:{port}:8080", "--", "python3", "server.py", "8080", cwd=project)
    with started(p):
        assert round_trip(port) == b"pong from the sandbox ping"
        assert p.wait(timeout=60) == 0, p.stderr.read()
    assert gone(port), pasta_for(port)


@needs_pasta
def test_pasta_stops_on_kill_of_the_command_ctrl_c_and_kill_of_gobox(stocked: Gobox, project: Path) -> None:
    for how in ("kill -9 the command", "SIGINT to gobox", "kill -9 gobox"):
        port = free_port()
        p = stocked.popen("run", "-p", f"{port}:{port}", "--", "python3", "server.py", str(port), cwd=project)
        with started(p):
            assert pasta_for(port), how
            if how == "kill -9 the command":
                inside = subprocess.run(["pgrep", "-f", f"^python3 server.py {port}$"], capture_output=True, text=True)
                os.kill(int(inside.stdout.split()[0]), signal.SIGKILL)
                assert p.wait(timeout=60) == 137, how
            elif how == "SIGINT to gobox":
                p.send_signal(signal.SIGINT)
                assert p.wait(timeout=60) == 130, how
            else:
                p.kill()
                p.wait(timeout=60)
        assert gone(port), (how, pasta_for(port))


@needs_pasta
def test_a_private_network_has_a_route_out_but_not_the_hosts_loopback(stocked: Gobox, project: Path) -> None:
    """Outbound traffic goes through pasta's sockets on the host; the host's own loopback services stay out
    of reach (--no-map-gw, as podman): 127.0.0.1 inside is the sandbox's."""
    with socket.socket() as host_only:
        host_only.bind(("127.0.0.1", 0))
        host_only.listen()
        port = host_only.getsockname()[1]
        probe = (f"import socket\nprint(open('/proc/net/route').read().split()[12:14])\n"
                 f"try:\n socket.create_connection(('127.0.0.1', {port}), timeout=5); print('reached')\n"
                 f"except OSError as e: print('refused', e.errno)\n")
        private = stocked("run", "--network", "private", "--", "python3", "-c", probe, cwd=project)
        none = stocked("run", "--", "python3", "-c", probe, cwd=project)
    # A default route (destination 00000000) through an interface pasta configured, and none without it.
    assert private.code == 0 and "'00000000'" in private.out.splitlines()[0], private.err
    assert "'00000000'" not in none.out.splitlines()[0], none.out
    assert private.out.splitlines()[1] == "refused 111", private.out


@needs_pasta
def test_missing_pasta_is_one_line_with_the_install_command(stocked: Gobox, project: Path) -> None:
    r = stocked("run", "-p", "18080:8080", "--", "true", cwd=project, env={"PATH": "/nonexistent"})
    assert r.code != 0 and r.err.splitlines() == [
        "gobox: error: --network private (and -p) need pasta, which is not installed: apt-get install passt"], r.err


def tun_for_nobody() -> str | None:
    """Why pasta cannot make a rootless sandbox's interface here, or None: it opens /dev/net/tun as the caller."""
    try:
        mode = os.stat("/dev/net/tun").st_mode & 0o777
    except OSError as e:
        return f"/dev/net/tun: {e.strerror}"
    if mode & 0o006 != 0o006:
        return (f"/dev/net/tun is {mode:04o} here, so uid {NOBODY} cannot open it for pasta "
                "(Debian makes it 0666: chmod 0666 /dev/net/tun)")
    return None


@needs_pasta
@pytest.mark.skipif(tun_for_nobody() is not None, reason=str(tun_for_nobody()))
def test_publish_a_port_rootless(clean_mirror: Mirror, project: Path) -> None:
    base = project.parent
    home = base / "home-nobody"
    home.mkdir(exist_ok=True)
    for p in [home, project, *project.rglob("*")]:
        os.chown(p, NOBODY, NOBODY)
    env = gobox_env(home, clean_mirror, sources="pypi")
    env["HOME"] = str(base)

    def as_nobody(*args: str) -> subprocess.Popen:
        return subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                 sys.executable, "-m", "gobox", *args], cwd=project, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    installed = as_nobody("-q", "toolchain", "install", "1.21.13")
    assert installed.wait(timeout=600) == 0, installed.stderr.read()
    port = free_port()
    p = as_nobody("run", "-p", f"{port}:8080", "--", "python3", "server.py", "8080")
    with started(p):
        assert round_trip(port, b"rootless") == b"pong from the sandbox rootless"
        assert p.wait(timeout=60) == 0, p.stderr.read()
    assert gone(port), pasta_for(port)


# --- gobox image run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image(stocked_home: Path, mirror: Mirror, project: Path) -> tuple[Gobox, Path]:
    """A scratch image of IMAGE_MAIN whose WorkingDir it does not hold, built once."""
    g = Gobox(gobox_env(stocked_home, mirror), stocked_home)
    app = project.parent / "image"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/flags\n\ngo 1.21\n")
    (app / "main.go").write_text(IMAGE_MAIN)
    (app / "gobox.toml").write_text('[go]\nversion = "1.22.10"\n[image]\nname = "flags:test"\n'
                                    'workdir = "/srv/not/in/the/image"\nuser = 0\n')
    r = g("-C", str(app), "image", timeout=900)
    assert r.code == 0, r.err
    return g, app


def test_image_run_takes_dockers_flags_before_the_reference(image: tuple[Gobox, Path], tmp_path: Path) -> None:
    g, app = image
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("host file")
    r = g("image", "run", "-e", "X=1", "--env", "CALLER", "-i", "-t", "--rm", "flags:test", "--", "env", "X",
          "CALLER", cwd=app, env={"CALLER": "yes"})
    assert (r.code, r.out) == (0, "X=1\nCALLER=yes\n"), r.err  # today: "-e" was taken for the image
    r = g("image", "run", "-v", f"{shared}:/data:ro", "flags:test", "--", "cat", "/data/in.txt", cwd=app)
    assert r.out == "host file <nil>\n", r.err
    r = g("image", "run", "--volume", f"{shared}:/data", "flags:test", "--", "write", "/data/out.txt", cwd=app)
    assert r.out == "<nil>\n" and (shared / "out.txt").read_text() == "from the image\n", r.err
    r = g("image", "run", "-w", "/elsewhere/new", "flags:test", "--", "pwd", cwd=app)
    assert r.out == "/elsewhere/new <nil>\n", r.err
    assert not Path("/elsewhere").exists()


def test_image_run_makes_a_missing_workingdir_in_the_container(image: tuple[Gobox, Path]) -> None:
    g, app = image
    r = g("image", "run", "flags:test", "--", "pwd", cwd=app)
    assert (r.code, r.out) == (0, "/srv/not/in/the/image <nil>\n"), r.err
    assert not Path("/srv/not").exists()


def test_image_run_of_a_command_the_image_lacks_names_the_image(image: tuple[Gobox, Path]) -> None:
    g, app = image
    r = g("image", "run", "--entrypoint", "bash", "flags:test", cwd=app)
    assert r.code == 127
    assert r.err.splitlines()[0].startswith("gobox: error: bash: the image flags:test has no such file "
                                            "in its PATH"), r.err
    assert "[go].base" not in r.err


@needs_pasta
def test_image_run_publishes_a_port(image: tuple[Gobox, Path]) -> None:
    g, app = image
    port = free_port()
    p = g.popen("image", "run", "-p", f"{port}:9000", "flags:test", "--", "serve", "9000", cwd=app)
    with started(p):
        assert round_trip(port) == b"pong from the image ping"
        assert p.wait(timeout=60) == 0, p.stderr.read()
    assert gone(port), pasta_for(port)
