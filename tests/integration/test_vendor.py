"""gobox vendor with real git and hg repositories: local paths, `git daemon` and `hg serve` on loopback,
then `gobox build` of the vendored project in a sandbox with no network."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.requires import requires_tool
from support.runner import Gobox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")
needs_hg = requires_tool("hg")

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def sh(*argv: str, cwd: Path | None = None) -> str:
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, timeout=120)
    assert p.returncode == 0, f"{argv}: {p.stderr}"
    return p.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def git_repo(path: Path, commits: list[dict[str, str]], tags: dict[str, int] | None = None) -> list[str]:
    """A git repository with one commit per dict of files (added to what was there); tags name commits by
    index. Returns the full commit ids."""
    sh("git", "init", "-q", "-b", "main", str(path))
    ids = []
    for i, files in enumerate(commits):
        write(path, files)
        sh("git", "add", "-A", cwd=path)
        sh("git", "commit", "-q", "-m", f"commit {i}", cwd=path)
        ids.append(sh("git", "rev-parse", "HEAD", cwd=path))
    for tag, i in (tags or {}).items():
        sh("git", "tag", tag, ids[i], cwd=path)
    return ids


def hg_repo(path: Path, commits: list[dict[str, str]], tags: dict[str, int] | None = None) -> list[str]:
    sh("hg", "init", str(path))
    ids = []
    for i, files in enumerate(commits):
        write(path, files)
        sh("hg", "addremove", "-q", cwd=path)
        sh("hg", "commit", "-q", "-u", "t", "-m", f"commit {i}", cwd=path)
        ids.append(sh("hg", "log", "-r", ".", "--template", "{node}", cwd=path))
    for tag, i in (tags or {}).items():
        sh("hg", "tag", "-q", "-u", "t", "-r", ids[i], tag, cwd=path)
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class GitDaemon:
    """`git daemon` on a free loopback port, serving every repository below `base`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={self.base}", "--listen=127.0.0.1",
             f"--port={self.port}", str(self.base)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, **GIT_ENV})
        wait_for(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    d = GitDaemon(tmp_path / "served")
    d.base.mkdir()
    d.start()
    yield d
    d.stop()


@pytest.fixture
def hg_serve(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`hg serve` of one repository (tmp_path/hgrepo, filled by the test before it fetches) on loopback."""
    repo = tmp_path / "hgrepo"
    sh("hg", "init", str(repo))
    port = free_port()
    proc = subprocess.Popen(["hg", "serve", "-R", str(repo), "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "HGRCPATH": "", "HGPLAIN": "1"})
    wait_for(port, proc)
    yield f"http://127.0.0.1:{port}/", repo
    stop(proc)


def hg_commits(repo: Path, commits: list[dict[str, str]], tags: dict[str, int] | None = None) -> list[str]:
    """Commits into an existing (served) hg repository."""
    ids = []
    for i, files in enumerate(commits):
        write(repo, files)
        sh("hg", "addremove", "-q", cwd=repo)
        sh("hg", "commit", "-q", "-u", "t", "-m", f"commit {i}", cwd=repo)
        ids.append(sh("hg", "log", "-r", ".", "--template", "{node}", cwd=repo))
    for tag, i in (tags or {}).items():
        sh("hg", "tag", "-q", "-u", "t", "-r", ids[i], tag, cwd=repo)
    return ids


def toml_deps(deps: dict[str, str]) -> str:
    return "[vendor.deps]\n" + "".join(f'"{path}" = {{ {spec} }}\n' for path, spec in deps.items())


def full_ids(lock: str) -> list[str]:
    return re.findall(r'^commit = "([0-9a-f]+)"$', lock, re.M)


# --- a GOPATH project in the style of 2014 ------------------------------------------------------------------

MAIN_2014 = """package main

import (
	"fmt"

	"example.org/kr/text"
	"git.example.org/mux"
	"hg.example.org/units"
)

func main() { fmt.Println(text.Indent("hi"), mux.Route(), units.Size()) }
"""


@needs_hg
def test_gopath_project_with_git_and_hg_deps_builds_offline(
        stocked: Gobox, tmp_path: Path, git_daemon: GitDaemon, hg_serve: tuple[str, Path]) -> None:
    text = git_repo(tmp_path / "text", [
        {"indent.go": 'package text\n\nfunc Indent(s string) string { return "  " + s }\n',
         "vendor/other/x.go": "package other\n", "Godeps/Godeps.json": "{}\n"},
        {"indent.go": 'package text\n\nfunc Indent(s string) string { return "NEWER " + s }\n'},
    ])
    mux = git_repo(git_daemon.base / "mux", [
        {"mux.go": 'package mux\n\nfunc Route() string { return "route-v1" }\n'},
        {"mux.go": 'package mux\n\nfunc Route() string { return "route-v2" }\n'},
        {"mux.go": 'package mux\n\nfunc Route() string { return "route-v3" }\n'},
    ], tags={"v1": 0})
    hg_url, hg_path = hg_serve
    units = hg_commits(hg_path, [
        {"units.go": 'package units\n\nfunc Size() string { return "1KiB" }\n'},
        {"units.go": 'package units\n\nfunc Size() string { return "2KiB" }\n'},
    ])
    app = tmp_path / "app2014"
    write(app, {"main.go": MAIN_2014, "gobox.toml": '[go]\nversion = "1.22.10"\n\n' + toml_deps({
        "example.org/kr/text": f'git = "{tmp_path / "text"}", rev = "{text[0][:7]}"',
        "git.example.org/mux": f'git = "{git_daemon.url("mux")}", rev = "{mux[1][:8]}"',
        "hg.example.org/units": f'hg = "{hg_url}", rev = "{units[0][:12]}"',
    })})
    r = stocked("-C", str(app), "vendor")
    assert r.code == 0, r.err
    lock = (app / "gobox.lock").read_text()
    assert sorted(full_ids(lock)) == sorted([text[0], mux[1], units[0]])
    vendored = app / "vendor" / "src"
    assert (vendored / "example.org/kr/text/indent.go").is_file()
    assert not (vendored / "example.org/kr/text/vendor").exists()
    assert not (vendored / "example.org/kr/text/Godeps").exists()
    assert not list(app.rglob(".git")) and not list(app.rglob(".hg*"))

    r = stocked("-C", str(app), "build", "--network", "none")
    assert r.code == 0, r.err
    out = subprocess.run([str(app / "dist" / "app2014")], capture_output=True, text=True)
    assert out.stdout == "  hi route-v2 1KiB\n"

    assert stocked("-C", str(app), "vendor", "--check").code == 0
    fresh = {"GOBOX_HOME": str(tmp_path / "fresh-store")}  # no repositories: the lock's tree digests decide
    r = stocked("-C", str(app), "vendor", "--check", env=fresh)
    assert r.code == 0, r.err
    (vendored / "git.example.org/mux/mux.go").write_text("package mux\n")
    r = stocked("-C", str(app), "vendor", "--check")
    assert r.code == 1 and "changed: vendor/src/git.example.org/mux/mux.go" in r.out
    r = stocked("-C", str(app), "vendor", "--check", env=fresh)
    assert r.code == 1 and r.out.startswith("changed: vendor/src/git.example.org/mux/ (its files digest to sha256:")
    assert "1 difference" in r.err


# --- unhappy paths ------------------------------------------------------------------------------------------


def test_a_revision_that_does_not_exist_names_repository_and_revision(stocked: Gobox, tmp_path: Path) -> None:
    git_repo(tmp_path / "dep", [{"a.go": "package dep\n"}])
    app = tmp_path / "app"
    write(app, {"main.go": "package main\n\nfunc main() {}\n",
                "gobox.toml": toml_deps({"example.org/dep": f'git = "{tmp_path / "dep"}", rev = "v9.9.9"'})})
    r = stocked("-C", str(app), "vendor")
    assert r.code == 2, r.err
    assert f"[vendor.deps] example.org/dep: git {tmp_path / 'dep'}: no revision 'v9.9.9'" in r.err
    assert not (app / "vendor").exists() and not (app / "gobox.lock").exists()


def test_a_moved_tag_is_refused_under_locked(stocked: Gobox, tmp_path: Path, git_daemon: GitDaemon) -> None:
    ids = git_repo(git_daemon.base / "dep", [{"a.go": "package dep\n"}, {"b.go": "package dep\n"}], {"v1.0": 0})
    app = tmp_path / "app"
    write(app, {"main.go": "package main\n\nfunc main() {}\n",
                "gobox.toml": toml_deps({"example.org/dep": f'git = "{git_daemon.url("dep")}", rev = "v1.0"'})})
    assert stocked("-C", str(app), "vendor").code == 0
    assert stocked("-C", str(app), "vendor", "--locked").code == 0
    sh("git", "tag", "-f", "v1.0", ids[1], cwd=git_daemon.base / "dep")
    r = stocked("-C", str(app), "vendor", "--locked")
    assert r.code == 2 and "'v1.0'" in r.err and "moved" in r.err and ids[0] in r.err and ids[1] in r.err, r.err
    # Without --locked the lock still wins: pinned means pinned, until --update.
    assert stocked("-C", str(app), "vendor").code == 0
    assert full_ids((app / "gobox.lock").read_text()) == [ids[0]]
    assert stocked("-C", str(app), "vendor", "--update").code == 0
    assert full_ids((app / "gobox.lock").read_text()) == [ids[1]]
    assert (app / "vendor/src/example.org/dep/b.go").is_file()


def test_a_remote_that_is_down_leaves_vendor_untouched(gobox: Gobox, tmp_path: Path, git_daemon: GitDaemon) -> None:
    git_repo(git_daemon.base / "dep", [{"a.go": "package dep\n"}], {"v1": 0})
    git_repo(git_daemon.base / "dep2", [{"b.go": "package dep2\n"}], {"v1": 0})
    app = tmp_path / "app"
    write(app, {"main.go": "package main\n\nfunc main() {}\n",
                "gobox.toml": toml_deps({"example.org/dep": f'git = "{git_daemon.url("dep")}", rev = "v1"'})})
    assert gobox("-C", str(app), "vendor").code == 0
    before = sorted(str(p.relative_to(app)) for p in app.rglob("*"))
    (app / "gobox.toml").write_text(toml_deps({
        "example.org/dep": f'git = "{git_daemon.url("dep")}", rev = "v1"',
        "example.org/dep2": f'git = "{git_daemon.url("dep2")}", rev = "v1"'}))
    git_daemon.stop()
    r = gobox("-C", str(app), "vendor")
    assert r.code == 4, r.err
    assert (f"gobox: error: [vendor.deps] example.org/dep2: cannot fetch 'v1' from git {git_daemon.url('dep2')}: "
            "fatal: unable to connect to 127.0.0.1: ") in r.err, r.err
    assert sorted(str(p.relative_to(app)) for p in app.rglob("*")) == before


def test_a_symlink_out_of_the_tree_is_refused(stocked: Gobox, tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    git_repo(dep, [{"a.go": "package dep\n"}])
    os.symlink("../../../etc/passwd", dep / "passwd")
    sh("git", "add", "-A", cwd=dep)
    sh("git", "commit", "-q", "-m", "link", cwd=dep)
    app = tmp_path / "app"
    write(app, {"main.go": "package main\n\nfunc main() {}\n",
                "gobox.toml": toml_deps({"example.org/dep": f'git = "{dep}", rev = "main"'})})
    r = stocked("-C", str(app), "vendor")
    assert r.code == 3, r.err
    assert "[vendor.deps] example.org/dep (git " in r.err
    assert "symlink passwd -> ../../../etc/passwd points outside the dependency's tree" in r.err
    assert not (app / "vendor").exists()


# --- a module project ---------------------------------------------------------------------------------------

MAIN_MOD = """package main

import (
	"fmt"

	greet "example.org/greet/v2"
)

func main() { fmt.Println(greet.Hello()) }
"""


def module_project(tmp_path: Path, git_daemon: GitDaemon) -> tuple[Path, list[str]]:
    greet = git_repo(git_daemon.base / "greet", [
        {"go.mod": "module example.org/greet/v2\n\ngo 1.21\n",
         "hello.go": 'package greet\n\nfunc Hello() string { return "hello v2.0" + suffix() }\n',
         "hello_other.go": '//go:build !windows\n\npackage greet\n\nfunc suffix() string { return "" }\n',
         "hello_windows.go": '//go:build windows\n\npackage greet\n\nimport "example.org/winonly"\n\n'
                             'func suffix() string { return winonly.Name }\n'},
        {"hello.go": 'package greet\n\nfunc Hello() string { return "hello v2.1" + suffix() }\n'},
        {"hello.go": 'package greet\n\nfunc Hello() string { return "hello unreleased" + suffix() }\n'},
    ], tags={"v2.0.0": 0, "v2.1.0": 1})
    git_repo(tmp_path / "winonly", [{"go.mod": "module example.org/winonly\n\ngo 1.21\n",
                                     "name.go": 'package winonly\n\nconst Name = " (windows)"\n'}], {"v1.0.0": 0})
    git_repo(tmp_path / "cgoinc", [{"go.mod": "module example.org/cgoinc\n\ngo 1.21\n",
                                    "c.go": 'package cgoinc\n\n// #cgo CFLAGS: -I${SRCDIR}/include\n'
                                            '// #include "x.h"\nimport "C"\n\nfunc X() int { return int(C.X) }\n',
                                    "include/x.h": "#define X 1\n"}], {"v0.1.0": 0})
    app = tmp_path / "app"
    write(app, {
        "main.go": MAIN_MOD,
        "go.mod": "module example.com/app\n\ngo 1.21\n\nrequire example.org/greet/v2 v2.1.0\n\nrequire (\n"
                  "\texample.org/winonly v1.0.0 // indirect\n\texample.org/cgoinc v0.1.0 // indirect\n)\n",
        "gobox.toml": '[go]\nversion = "1.22.10"\n\n' + toml_deps({
            "example.org/greet/v2": f'git = "{git_daemon.url("greet")}", rev = "v2.1.0"',
            "example.org/winonly": f'git = "{tmp_path / "winonly"}", rev = "v1.0.0"',
            "example.org/cgoinc": f'git = "file://{tmp_path / "cgoinc"}", rev = "v0.1.0"'}),
    })
    return app, greet


def test_module_project_vendors_every_platform_and_builds_offline(
        stocked: Gobox, tmp_path: Path, git_daemon: GitDaemon) -> None:
    app, greet = module_project(tmp_path, git_daemon)
    r = stocked("-C", str(app), "vendor")
    assert r.code == 0, r.err
    assert greet[1] in full_ids((app / "gobox.lock").read_text())
    txt = (app / "vendor/modules.txt").read_text()
    assert "# example.org/greet/v2 v2.1.0\n## explicit; go 1.21\nexample.org/greet/v2\n" in txt
    assert "# example.org/winonly v1.0.0\n" in txt
    assert (app / "vendor/example.org/cgoinc/include/x.h").read_text() == "#define X 1\n"

    r = stocked("-C", str(app), "build", "--network", "none")
    assert r.code == 0, r.err
    out = subprocess.run([str(app / "dist" / "app")], capture_output=True, text=True)
    assert out.stdout == "hello v2.1\n"
    r = stocked("-C", str(app), "build", "--network", "none", "--env", "GOOS=windows")
    assert r.code == 0, r.err
    assert (app / "dist" / "app.exe").is_file()
    assert stocked("-C", str(app), "vendor", "--check").code == 0
    fresh = {"GOBOX_HOME": str(tmp_path / "fresh-store")}
    assert stocked("-C", str(app), "vendor", "--check", env=fresh).code == 0
    (app / "vendor/modules.txt").write_text(txt.replace("example.org/greet/v2\n", ""))
    (app / "vendor/stray.go").write_text("package stray\n")
    for env in (None, fresh):
        r = stocked("-C", str(app), "vendor", "--check", env=env)
        assert r.code == 1 and "changed: vendor/modules.txt" in r.out and "extra:   vendor/stray.go" in r.out, r.out


def test_a_go_sum_mismatch_names_module_both_hashes_and_revision(
        stocked: Gobox, tmp_path: Path, git_daemon: GitDaemon) -> None:
    app, greet = module_project(tmp_path, git_daemon)
    wrong = "h1:" + "A" * 43 + "="
    (app / "go.sum").write_text(f"example.org/greet/v2 v2.1.0 {wrong}\n")
    r = stocked("-C", str(app), "vendor")
    assert r.code == 3, r.err
    line = next(x for x in r.err.splitlines() if x.startswith("gobox: error:"))
    assert "example.org/greet/v2 v2.1.0" in line and wrong in line and greet[1] in line
    assert re.search(r"gives h1:[A-Za-z0-9+/]{43}=", line)
    assert not (app / "vendor").exists()


def test_interrupted_vendoring_leaves_the_old_tree_or_the_new(stocked: Gobox, tmp_path: Path) -> None:
    many = {f"p{i // 100}/f{i}.go": f"package p{i // 100}\n\nconst V{i} = 1\n" for i in range(3000)}
    newer = {name: text.replace("= 1", "= 2") for name, text in many.items()}
    git_repo(tmp_path / "big", [many, newer], {"v1": 0, "v2": 1})
    app = tmp_path / "app"
    dep = f'git = "{tmp_path / "big"}", rev = "v1"'
    write(app, {"main.go": "package main\n\nfunc main() {}\n", "gobox.toml": toml_deps({"example.org/big": dep})})
    start = time.monotonic()
    assert stocked("-C", str(app), "vendor").code == 0
    whole = time.monotonic() - start  # kills land across a run's whole length, however fast the machine
    (app / "gobox.toml").write_text(toml_deps({"example.org/big": dep.replace("v1", "v2")}))
    old = {f"src/example.org/big/{n}": t for n, t in many.items()}
    new = {f"src/example.org/big/{n}": t for n, t in newer.items()}
    for delay in (whole * f for f in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)):
        p = stocked.popen("-C", str(app), "vendor")
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        have = {str(f.relative_to(app / "vendor")): f.read_text() for f in (app / "vendor").rglob("*.go")}
        assert have in (old, new), f"a mix after a kill at {delay:.2f} s of {whole:.2f} s"
    r = stocked("-C", str(app), "vendor")
    assert r.code == 0, r.err
    assert not [p.name for p in app.iterdir() if p.name.startswith(".vendor")]


def test_update_one_dep_and_the_shared_repository_cache(stocked: Gobox, tmp_path: Path) -> None:
    a = git_repo(tmp_path / "a", [{"a.go": "package a\n"}], {"stable": 0})
    git_repo(tmp_path / "b", [{"b.go": "package b\n"}], {"stable": 0})
    deps = {"example.org/a": f'git = "{tmp_path / "a"}", rev = "stable"',
            "example.org/b": f'git = "{tmp_path / "b"}", rev = "stable"'}
    one, two = tmp_path / "one", tmp_path / "two"
    for app in (one, two):
        write(app, {"main.go": "package main\n\nfunc main() {}\n", "gobox.toml": toml_deps(deps)})
    r = stocked("-C", str(one), "vendor")
    assert r.code == 0 and r.err.count("cloning") == 2, r.err
    # The same remotes: the store's clones serve; a tag is looked up afresh (fetch), nothing cloned again.
    r = stocked("-C", str(two), "vendor")
    assert r.code == 0 and "cloning" not in r.err, r.err
    r = stocked("-C", str(two), "vendor")  # and once locked, with the commits in the store, no network at all
    assert r.code == 0 and "cloning" not in r.err and "fetching" not in r.err, r.err

    a2 = git_repo_commit(tmp_path / "a", {"a2.go": "package a\n"})
    b2 = git_repo_commit(tmp_path / "b", {"b2.go": "package b\n"})
    for repo in ("a", "b"):
        sh("git", "tag", "-f", "stable", cwd=tmp_path / repo)
    r = stocked("-C", str(one), "vendor", "--update", "example.org/b")
    assert r.code == 0, r.err
    assert sorted(full_ids((one / "gobox.lock").read_text())) == sorted([a[0], b2])
    r = stocked("-C", str(one), "vendor", "--update")
    assert sorted(full_ids((one / "gobox.lock").read_text())) == sorted([a2, b2])
    r = stocked("-C", str(one), "vendor", "--update", "example.org/nope")
    assert r.code == 2 and "--update example.org/nope: not in [vendor.deps]" in r.err
    r = stocked("-C", str(two), "vendor", "--locked", "--update")
    assert r.code == 2 and "--locked forbids" in r.err


def git_repo_commit(path: Path, files: dict[str, str]) -> str:
    write(path, files)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-q", "-m", "more", cwd=path)
    return sh("git", "rev-parse", "HEAD", cwd=path)


@needs_hg
def test_hg_tags_abbreviations_and_a_moved_tag(stocked: Gobox, tmp_path: Path) -> None:
    ids = hg_repo(tmp_path / "units", [{"units.go": "package units\n\nconst V = 1\n"},
                                       {"units.go": "package units\n\nconst V = 2\n"}], {"v1": 0})
    app = tmp_path / "app"
    dep = f'hg = "{tmp_path / "units"}", rev = "v1"'
    write(app, {"main.go": "package main\n\nfunc main() {}\n", "gobox.toml": toml_deps({"example.org/units": dep})})
    r = stocked("-C", str(app), "vendor")
    assert r.code == 0, r.err
    assert full_ids((app / "gobox.lock").read_text()) == [ids[0]]
    assert "const V = 1" in (app / "vendor/src/example.org/units/units.go").read_text()
    sh("hg", "tag", "-q", "-f", "-u", "t", "-r", ids[1], "v1", cwd=tmp_path / "units")
    r = stocked("-C", str(app), "vendor", "--locked")
    assert r.code == 2 and "moved" in r.err and ids[0] in r.err and ids[1] in r.err, r.err
    (app / "gobox.toml").write_text(toml_deps({"example.org/units": dep.replace('"v1"', '"deadbeef00"')}))
    r = stocked("-C", str(app), "vendor")
    assert r.code == 2 and f"hg {tmp_path / 'units'}: no revision 'deadbeef00'" in r.err, r.err
    (app / "gobox.toml").write_text(toml_deps({"example.org/units": dep.replace('"v1"', f'"{ids[1][:12]}"')}))
    r = stocked("-C", str(app), "vendor")
    assert r.code == 0 and full_ids((app / "gobox.lock").read_text()) == [ids[1]], r.err


@requires_tool("gcc")
def test_cgo_dependency_builds_with_its_headers_from_a_non_go_directory(
        stocked: Gobox, tmp_path: Path, git_daemon: GitDaemon) -> None:
    app, _ = module_project(tmp_path, git_daemon)
    (app / "main.go").write_text('package main\n\nimport (\n\t"fmt"\n\n\t"example.org/cgoinc"\n)\n\n'
                                 'func main() { fmt.Println("X =", cgoinc.X()) }\n')
    toml = (app / "gobox.toml").read_text().replace('version = "1.22.10"\n', 'version = "1.22.10"\nbase = "host"\n'
                                                                            'cgo = true\n')
    (app / "gobox.toml").write_text(toml)
    assert stocked("-C", str(app), "vendor").code == 0
    r = stocked("-C", str(app), "build", "--network", "none")
    assert r.code == 0, r.err
    out = subprocess.run([str(app / "dist" / "app")], capture_output=True, text=True)
    assert out.stdout == "X = 1\n"
