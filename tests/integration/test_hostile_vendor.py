"""gobox vendor against repositories made to hurt: symlinks that read as inside the tree but lead out on disk,
a file below a symlink, a file too big to hold in memory, a remote whose history was replaced, a remote that
sends a broken pack. Each ends in one line, nothing written outside the project, memory bounded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.requires import requires_tool
from support.runner import REPO, Gobox, no_traceback
from test_vendor import GitDaemon, full_ids, git_repo, hg_repo, sh, toml_deps, write

from gobox.deps import fetch
from gobox.deps.fetch import Remote
from gobox.errors import IntegrityError
from gobox.progress import Progress
from gobox.store import Store

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")
needs_hg = requires_tool("hg")

DEP = "example.org/dep"
MAIN = {"main.go": "package main\n\nfunc main() {}\n"}
HOPS = 20  # more directories than any test path has above vendor/, and within the kernel's 40 symlinks


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    d = GitDaemon(tmp_path / "served")
    d.base.mkdir()
    d.start()
    yield d
    d.stop()


def climbing(repo: Path) -> str:
    """Symlinks d -> ".", u1 -> "d/..", u2 -> "u1/..", ...: each reads as the tree's own root, yet each, followed
    on disk, is one directory above the last. Returns the name of the top one, which is the host's /."""
    os.symlink(".", repo / "d")
    os.symlink("d/..", repo / "u1")
    for i in range(2, HOPS + 1):
        os.symlink(f"u{i - 1}/..", repo / f"u{i}")
    return f"u{HOPS}"


def commit_all(repo: Path) -> str:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "more", cwd=repo)
    return sh("git", "rev-parse", "HEAD", cwd=repo)


def add_root_symlink(repo: Path, name: str, target: str) -> str:
    """A commit whose root tree holds the symlink `name` beside the directory `name/` it already has: a tree git
    itself would never check out, made with git mktree."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], input=target.encode(), cwd=repo,
                          capture_output=True, check=True).stdout.decode().strip()
    entries = sh("git", "ls-tree", "HEAD", cwd=repo) + f"\n120000 blob {blob}\t{name}\n"
    tree = subprocess.run(["git", "mktree"], input=entries.encode(), cwd=repo, capture_output=True,
                          check=True).stdout.decode().strip()
    commit = sh("git", "commit-tree", "-p", "HEAD", "-m", "link over a directory", tree, cwd=repo)
    sh("git", "update-ref", "refs/heads/main", commit, cwd=repo)
    return commit


def app_with(tmp_path: Path, spec: str) -> Path:
    app = tmp_path / "app"
    write(app, {**MAIN, "gobox.toml": toml_deps({DEP: spec})})
    return app


def error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("gobox: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- symlinks ----------------------------------------------------------------------------------------------


def test_a_symlink_that_reads_as_inside_but_leads_to_a_host_file_is_refused(gobox: Gobox, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("host's own\n")
    dep = tmp_path / "dep"
    git_repo(dep, [{"a.go": "package dep\n"}])
    top = climbing(dep)
    os.symlink(f"{top}{secret}", dep / "l")  # "u20/tmp/.../host-secret": no "..", no leading /
    commit_all(dep)
    app = app_with(tmp_path, f'git = "{dep}", rev = "main"')
    r = gobox("-C", str(app), "vendor")
    assert r.code == 3, r.err
    line = error_line(r.err)
    assert DEP in line and f"symlink l -> {top}{secret}" in line and "outside the dependency's tree" in line, line
    assert not (app / "vendor").exists()


def test_a_directory_below_a_symlink_to_the_host_writes_nothing_there(gobox: Gobox, tmp_path: Path) -> None:
    host = tmp_path / "hostdir"
    host.mkdir()
    dep = tmp_path / "dep"
    # "w" sorts after the u* links, so that gobox of old had made them all before it wrote w/planted.
    git_repo(dep, [{"a.go": "package dep\n", "w/planted": "written through the symlink\n"}])
    top = climbing(dep)
    commit_all(dep)
    add_root_symlink(dep, "w", f"{top}{host}")
    app = app_with(tmp_path, f'git = "{dep}", rev = "main"')
    r = gobox("-C", str(app), "vendor")
    assert r.code == 3, r.err
    assert DEP in error_line(r.err)
    assert list(host.iterdir()) == []
    assert not (app / "vendor").exists()


def test_a_file_below_a_symlink_inside_the_tree_is_refused(gobox: Gobox, tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    git_repo(dep, [{"a.go": "package dep\n", "sub/x.go": "package sub\n", "l/f.go": "package sub\n"}])
    add_root_symlink(dep, "l", "sub")
    app = app_with(tmp_path, f'git = "{dep}", rev = "main"')
    r = gobox("-C", str(app), "vendor")
    assert r.code == 3, r.err
    line = error_line(r.err)
    assert DEP in line and "l/f.go" in line and "symlink l" in line, line
    assert not (app / "vendor").exists()


def test_writing_a_tree_follows_no_symlink_even_one_no_check_refused(tmp_path: Path) -> None:
    """The second line of defence: write_tree itself, given a tree nothing checked, opens every parent beneath
    its root with no symlink followed, so a symlink the tree holds carries no write out."""
    host = tmp_path / "hostdir"
    host.mkdir()
    dep = tmp_path / "dep"
    git_repo(dep, [{"a.go": "package dep\n", "l/planted": "x\n"}])
    commit = add_root_symlink(dep, "l", str(host))
    store = Store(tmp_path / "store")
    remote = Remote("git", str(dep))
    fetch.update(store, remote, Progress(quiet=True))
    tree = fetch.read_tree(store, remote, commit)
    assert tree["l"].link == str(host) and tree["l/planted"].link is None
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="l/planted"):
        fetch.write_tree(store, remote, commit, tree, str(dest))
    assert list(host.iterdir()) == []


# --- a file bigger than memory should hold -----------------------------------------------------------------


def peak_rss(argv: list[str], env: dict[str, str]) -> tuple[int, str, int]:
    """Run `argv`; its exit code, stderr and the highest resident memory the kernel reported for that process
    (VmHWM, sampled until it exits: a high-water mark, so a late sample still sees an early peak)."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(p.stderr.read()))
    reader.start()
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.02)
    reader.join()
    return p.wait(), "".join(err), peak


def test_a_big_file_is_streamed_not_held(gobox: Gobox, tmp_path: Path) -> None:
    size = 256 << 20  # gobox of old held it twice over (the whole archive, then each file): 560 MiB
    dep = tmp_path / "dep"
    git_repo(dep, [{"a.go": "package dep\n"}])
    with open(dep / "big.bin", "wb") as f:
        f.truncate(size)  # zeros: the repository stays small, the vendored file does not
    commit_all(dep)
    app = app_with(tmp_path, f'git = "{dep}", rev = "main"')
    args = ("-C", str(app), "vendor")
    code, err, peak = peak_rss([sys.executable, "-m", "gobox", *args], {**gobox.env, "PYTHONPATH": str(REPO)})
    no_traceback(args, err)
    assert code == 0, err
    assert (app / "vendor/src" / DEP / "big.bin").stat().st_size == size
    assert peak < 128 << 20, f"gobox vendor of a {size >> 20} MiB file peaked at {peak >> 20} MiB"
    r = gobox("-C", str(app), "vendor", "--check")
    assert r.code == 0, r.err


# --- remotes -----------------------------------------------------------------------------------------------


@needs_hg
def test_an_hg_remote_whose_history_was_replaced_is_fetched_anew(gobox: Gobox, tmp_path: Path) -> None:
    units = tmp_path / "units"
    old = hg_repo(units, [{"units.go": "package units\n\nconst V = 1\n"}], {"v1": 0})
    app = app_with(tmp_path, f'hg = "{units}", rev = "v1"')
    assert gobox("-C", str(app), "vendor").code == 0
    assert full_ids((app / "gobox.lock").read_text()) == [old[0]]
    shutil.rmtree(units)
    new = hg_repo(units, [{"units.go": "package units\n\nconst V = 2\n"},
                          {"units.go": "package units\n\nconst V = 3\n"}], {"v2": 1})
    (app / "gobox.toml").write_text(toml_deps({DEP: f'hg = "{units}", rev = "v2"'}))
    r = gobox("-C", str(app), "vendor")
    assert r.code == 0, r.err
    assert full_ids((app / "gobox.lock").read_text()) == [new[1]]
    assert "const V = 3" in (app / "vendor/src" / DEP / "units.go").read_text()
    # The lock pins a commit of the new history by its full id: found in the cache made anew, offline.
    (app / "gobox.toml").write_text(toml_deps({DEP: f'hg = "{units}", rev = "{new[0]}"'}))
    r = gobox("-C", str(app), "vendor")
    assert r.code == 0 and "fetching" not in r.err and "cloning" not in r.err, r.err
    assert "const V = 2" in (app / "vendor/src" / DEP / "units.go").read_text()


def test_a_git_remote_whose_history_was_replaced_is_fetched_anew(gobox: Gobox, tmp_path: Path,
                                                                 daemon: GitDaemon) -> None:
    served = daemon.base / "dep"
    old = git_repo(served, [{"a.go": "package dep\n\nconst V = 1\n"}], {"v1": 0})
    sh("git", "branch", "release", cwd=served)
    app = app_with(tmp_path, f'git = "{daemon.url("dep")}", rev = "release"')
    assert gobox("-C", str(app), "vendor").code == 0
    assert full_ids((app / "gobox.lock").read_text()) == [old[0]]
    shutil.rmtree(served)
    # Unrelated history, a tag of the old name on another commit, a branch where the cache has a file of refs.
    new = git_repo(served, [{"a.go": "package dep\n\nconst V = 2\n"}, {"a.go": "package dep\n\nconst V = 3\n"}],
                   {"v1": 1})
    sh("git", "branch", "release/v2", new[0], cwd=served)
    (app / "gobox.toml").write_text(toml_deps({DEP: f'git = "{daemon.url("dep")}", rev = "release/v2"'}))
    r = gobox("-C", str(app), "vendor")
    assert r.code == 0, r.err
    assert full_ids((app / "gobox.lock").read_text()) == [new[0]]
    (app / "gobox.toml").write_text(toml_deps({DEP: f'git = "{daemon.url("dep")}", rev = "v1"'}))
    r = gobox("-C", str(app), "vendor")
    assert r.code == 0, r.err
    assert full_ids((app / "gobox.lock").read_text()) == [new[1]]
    assert "const V = 3" in (app / "vendor/src" / DEP / "a.go").read_text()


def test_a_broken_pack_names_dependency_remote_and_revision(gobox: Gobox, tmp_path: Path,
                                                            daemon: GitDaemon) -> None:
    served = daemon.base / "dep"
    # Enough objects that git checks the pack with index-pack (whose failure git ends with the "fetch-pack:
    # invalid index-pack output" of the issue) rather than unpack-objects.
    git_repo(served, [{f"f{i}.go": f"package dep\n\nconst V{i} = {i}\n" for i in range(120)}], {"v1": 0})
    sh("git", "gc", "-q", cwd=served)
    pack = next((served / ".git/objects/pack").glob("*.pack"))
    data = bytearray(pack.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0x55
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    app = app_with(tmp_path, f'git = "{daemon.url("dep")}", rev = "v1"')
    r = gobox("-C", str(app), "vendor")
    assert r.code == 4, r.err
    line = error_line(r.err)
    # git's own first complaint follows (which one depends on where the pack broke), never only its last.
    assert f"[vendor.deps] {DEP}: cannot fetch 'v1' from git {daemon.url('dep')}: fatal: " in line, line
    assert "invalid index-pack output" not in line, line
    assert not (app / "vendor").exists() and not (app / "gobox.lock").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_while_vendoring_is_one_line_and_leaves_the_project_as_it_was(gobox: Gobox,
                                                                                tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    git_repo(dep, [{"a.go": "package dep\n"}])
    with open(dep / "big.bin", "wb") as f:
        f.truncate(32 << 20)
    commit_all(dep)
    app = tmp_path / "app"
    app.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(app)], check=True)
    try:
        write(app, {**MAIN, "gobox.toml": toml_deps({DEP: f'git = "{dep}", rev = "main"'})})
        r = gobox("-C", str(app), "vendor")
        assert r.code == 1, r.err
        line = error_line(r.err)
        assert DEP in line and "big.bin" in line and "No space left on device" in line, line
        assert sorted(p.name for p in app.iterdir()) == ["gobox.toml", "main.go"]
    finally:
        subprocess.run(["umount", str(app)], check=True)
