"""gobox cross with real toolchains: every output checked by its header bytes, the host's run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.binfmt import Format, identify
from support.runner import REPO, Gobox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello, Go examples!") }\n'


def go_project(root: Path, version: str = "1.22.10", module: str = "example.com/hello",
               files: dict[str, str] | None = None, toml: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(f"module {module}\n\ngo 1.21\n")
    for name, text in (files or {"main.go": HELLO}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "gobox.toml").write_text(f'[go]\nversion = "{version}"\n{toml}')
    return root


def sha256sum_check(dist: Path) -> str:
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def go_version_m(stocked: Gobox, project: Path, binary: Path) -> str:
    r = stocked("-C", str(project), "run", "--", "go", "version", "-m", str(binary))
    assert r.code == 0, r.err
    return r.out


# --- what users type ---------------------------------------------------------------------


def test_cross_darwin_amd64_gives_a_macho_binary(stocked: Gobox, tmp_path: Path) -> None:
    app = go_project(tmp_path / "hello")
    r = stocked("-C", str(app), "cross", "darwin/amd64")
    assert r.code == 0, r.err
    binary = app / "dist" / "hello_darwin_amd64" / "hello"
    assert identify(binary) == Format("macho", "amd64", 64)
    assert sha256sum_check(app / "dist") == "hello_darwin_amd64/hello: OK\n"
    assert "darwin/amd64: queued" in r.err and "darwin/amd64: done in" in r.err
    assert [p.name for p in (app / "dist").iterdir() if p.name.startswith(".")] == []


def test_matrix_recipe_builds_six_targets_with_archives(stocked: Gobox, tmp_path: Path) -> None:
    recipe = shutil.copytree(REPO / "recipes" / "matrix", tmp_path / "matrix")
    r = stocked("-C", str(recipe), "cross", "--locked", "--json")
    assert r.code == 0, r.err
    dist = recipe / "dist"
    expected = {
        "matrix_linux_amd64": Format("elf", "amd64", 64, "sysv"),
        "matrix_linux_arm64": Format("elf", "arm64", 64, "sysv"),
        "matrix_linux_arm_v7": Format("elf", "arm", 32, "sysv"),
        "matrix_darwin_arm64": Format("macho", "arm64", 64),
        "matrix_windows_amd64": Format("pe", "amd64", 64),
        "matrix_freebsd_amd64": Format("elf", "amd64", 64, "freebsd"),
    }
    for dirname, fmt in expected.items():
        exe = ".exe" if "windows" in dirname else ""
        for binary in ("matrix", "sums"):
            got = identify(dist / dirname / f"{binary}{exe}")
            assert (got.kind, got.arch, got.bits) == (fmt.kind, fmt.arch, fmt.bits), dirname
            if fmt.kind == "elf":
                assert got.osabi == fmt.osabi, dirname
    ran = subprocess.run([dist / "matrix_linux_amd64" / "matrix"], capture_output=True, text=True)
    assert ran.stdout == "matrix built for linux/amd64 config=/etc/matrix\n"
    assert "GOARM=7" in go_version_m(stocked, recipe, dist / "matrix_linux_arm_v7" / "matrix")

    # Archives: the binaries at the archive's root, zip for windows.
    with __import__("tarfile").open(dist / "matrix_linux_arm64.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["matrix", "sums"]
        assert {m.mode for m in tar.getmembers()} == {0o755}
    with __import__("zipfile").ZipFile(dist / "matrix_windows_amd64.zip") as z:
        assert sorted(z.namelist()) == ["matrix.exe", "sums.exe"]

    lines = sha256sum_check(dist).splitlines()
    assert len(lines) == 6 * 2 + 6 and all(line.endswith(": OK") for line in lines)
    report = json.loads(r.out)
    assert {a["target"] for a in report["artifacts"]} == {
        "linux/amd64", "linux/arm64", "linux/arm/v7", "darwin/arm64", "windows/amd64", "freebsd/amd64"}
    for a in report["artifacts"]:
        data = Path(a["path"]).read_bytes()
        assert (a["size"], a["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert all(t["ok"] for t in report["targets"])

    # The same source in another directory, under another umask, gives the same bytes.
    again = shutil.copytree(REPO / "recipes" / "matrix", tmp_path / "elsewhere" / "matrix")
    r2 = subprocess.run([sys.executable, "-m", "gobox", "-C", str(again), "-q", "cross", "--locked"],
                        env=stocked.env, capture_output=True, text=True, preexec_fn=lambda: os.umask(0o077))
    assert r2.returncode == 0, r2.stderr
    assert (again / "dist" / "SHA256SUMS").read_text() == (dist / "SHA256SUMS").read_text()


def test_patterns_variants_and_windows_arm64(stocked: Gobox, tmp_path: Path) -> None:
    app = go_project(tmp_path / "hello")
    r = stocked("-C", str(app), "cross", "windows/arm64", "linux/amd64/v3")
    assert r.code == 0, r.err
    assert identify(app / "dist" / "hello_windows_arm64" / "hello.exe") == Format("pe", "arm64", 64)
    v3 = app / "dist" / "hello_linux_amd64_v3" / "hello"
    assert identify(v3).arch == "amd64"
    assert "GOAMD64=v3" in go_version_m(stocked, app, v3)

    listed = stocked("-C", str(app), "cross", "--list", "*/arm64", "!android/*", "!ios/*")
    assert listed.code == 0, listed.err
    names = [line.split()[0] for line in listed.out.splitlines()]
    assert "darwin/arm64" in names and "linux/arm64" in names and "windows/arm64" in names
    assert not any(n.startswith(("android/", "ios/")) for n in names)
    assert all(n.endswith("/arm64") for n in names)
    first = stocked("-C", str(app), "cross", "--list", "--json", "first-class")
    assert {t["target"] for t in json.loads(first.out)} == {
        "darwin/amd64", "darwin/arm64", "linux/386", "linux/amd64", "linux/arm", "linux/arm64",
        "windows/386", "windows/amd64"}


# --- unhappy paths -----------------------------------------------------------------------


@pytest.mark.parametrize(("typo", "meant"), [
    ("darwn/amd64", "darwin/amd64"), ("macos/arm64", "darwin/arm64"),
    ("linux/x86_64", "linux/amd64"), ("win/x64", "windows/amd64"),
])
def test_a_typo_gets_a_suggestion(stocked: Gobox, tmp_path: Path, typo: str, meant: str) -> None:
    app = go_project(tmp_path / "hello")
    r = stocked("-C", str(app), "cross", "linux/amd64", typo)
    assert r.code == 2
    assert f"gobox: error: unknown target '{typo}'" in r.err
    assert f"did you mean {meant}?" in r.err
    assert not (app / "dist").exists()  # nothing built, not even the good target


def test_a_target_the_pinned_go_lacks_is_refused_by_name(stocked: Gobox, tmp_path: Path) -> None:
    # openbsd/ppc64 arrived in go1.22: the project pins 1.21.13.
    app = go_project(tmp_path / "old", version="1.21.13")
    r = stocked("-C", str(app), "cross", "openbsd/ppc64")
    assert r.code == 2
    assert "go1.21.13 does not support openbsd/ppc64" in r.err
    assert "amd64" in r.err  # the openbsd ports it has
    newer = stocked("-C", str(app), "cross", "--go", "1.22.10", "--list", "openbsd/ppc64")
    assert newer.code == 0 and newer.out.split()[0] == "openbsd/ppc64"

    # GOARM64 came in go1.23: a variant the pinned Go cannot honour is not silently ignored.
    r = stocked("-C", str(app), "cross", "--go", "1.22.10", "linux/arm64/v8.2")
    assert r.code == 2 and "GOARM64 needs go1.23 or newer" in r.err

    (app / "gobox.toml").write_text('[go]\nversion = "1.21.13"\n[cross]\ntargets = ["linux/amd64", "bsd/amd64"]\n')
    r = stocked("-C", str(app), "cross")
    assert r.code == 2 and "gobox.toml: cross.targets: unknown target 'bsd/amd64'" in r.err


UNIX_ONLY = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(ppid()) }\n'
UNIX_PPID = '//go:build !windows\n\npackage main\n\nimport "syscall"\n\nfunc ppid() int { return syscall.Getppid() }\n'


def test_one_target_failing_does_not_hide_the_others(stocked: Gobox, tmp_path: Path) -> None:
    app = go_project(tmp_path / "unixy", module="example.com/unixy",
                     files={"main.go": UNIX_ONLY, "ppid_unix.go": UNIX_PPID})
    r = stocked("-C", str(app), "cross", "linux/amd64", "windows/amd64", "darwin/arm64")
    assert r.code == 1
    assert "gobox: error: 1 of 3 targets failed: windows/amd64" in r.err
    assert "undefined: ppid" in r.err  # go's own error, shown
    dist = app / "dist"
    assert sorted(p.name for p in dist.iterdir()) == ["SHA256SUMS", "unixy_darwin_arm64", "unixy_linux_amd64"]
    assert len(sha256sum_check(dist).splitlines()) == 2
    assert "windows/amd64  FAILED" in r.out


def test_cgo_with_no_cross_compiler_fails_before_building(stocked: Gobox, tmp_path: Path) -> None:
    app = go_project(tmp_path / "hello")
    r = stocked("-C", str(app), "cross", "--cgo", "linux/amd64", "linux/arm64")
    assert r.code == 2
    assert "linux/arm64: cgo is on, and there is no C cross compiler for linux/arm64" in r.err
    assert '[cross.cc] "linux/arm64" = "zig"' in r.err
    assert not (app / "dist").exists()


def test_an_output_directory_that_cannot_be_written(stocked: Gobox, tmp_path: Path) -> None:
    app = go_project(tmp_path / "hello")
    (app / "dist").write_text("a file where the output directory should be\n")
    r = stocked("-C", str(app), "cross", "linux/amd64")
    assert r.code == 1
    assert f"gobox: error: cannot write the output directory {app / 'dist'}" in r.err
    assert (app / "dist").read_text().startswith("a file")


def test_terminated_midway_leaves_nothing_half_made(stocked: Gobox, tmp_path: Path) -> None:
    # netbsd/arm64 is built by no other test, so its standard library compiles from
    # scratch: long enough to be stopped in the middle.
    app = go_project(tmp_path / "hello")
    p = stocked.popen("-C", str(app), "cross", "netbsd/arm64", "linux/amd64")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((app / "dist").glob(".gobox-cross-*/*.log")):
        time.sleep(0.1)
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    dist = app / "dist"
    assert not (dist / "hello_netbsd_arm64").exists()
    assert [x.name for x in dist.iterdir() if x.name.startswith(".gobox-cross-")] == []
    left = subprocess.run(["pgrep", "-f", str(app / "dist")], capture_output=True, text=True).stdout
    assert left == ""


# cgo cross-compiled with zig: tests/integration/test_recipe_cgo.py, through recipes/cgo (its arm64 binary
# is also run under qemu), so the suite pays zig's libc builds once.


def test_a_symlink_the_build_leaves_in_its_output_is_refused(stocked: Gobox, tmp_path: Path) -> None:
    """Code run by the build (here a -toolexec wrapper) plants dist/…/evil -> a host file: gobox must not
    chmod it, hash it into SHA256SUMS or release it."""
    victim = tmp_path / "victim"
    victim.write_text("host\n")
    victim.chmod(0o600)
    tool = ('#!/bin/sh\nfor d in "$PROJECT"/dist/.*/*/; do [ -d "$d" ] && ln -sf "$VICTIM" "$d/evil"; done\n'
            'exec "$@"\n')
    app = go_project(tmp_path / "hello", files={"main.go": HELLO, "tool.sh": tool},
                     toml=f'base = "host"\n[build]\nflags = ["-toolexec={tmp_path}/hello/tool.sh"]\n'
                          f'env = {{ PROJECT = "{tmp_path}/hello", VICTIM = "{victim}" }}\n')
    (app / "tool.sh").chmod(0o755)
    r = stocked("-C", str(app), "cross", "--json", "linux/arm64")
    assert r.code != 0
    assert "evil is not a regular file" in r.out, r.out
    assert victim.stat().st_mode & 0o777 == 0o600
    assert not (app / "dist" / "SHA256SUMS").exists() or "evil" not in (app / "dist" / "SHA256SUMS").read_text()
