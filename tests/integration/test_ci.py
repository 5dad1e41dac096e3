"""gobox ci and gobox verify on real git checkouts, with the real toolchain: the clean room holds, the outputs
and provenance are what a user checks, and every way out says why with its own exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.ci_examples import statement_checked
from support.runner import REPO, Gobox

LOCK_1_22 = (REPO / "recipes" / "hello" / "gobox.lock").read_text()


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2024-05-01T12:00:00Z",
           "GIT_COMMITTER_DATE": "2024-05-01T12:00:00Z"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def commit_all(repo: Path) -> str:
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")
    return git(repo, "rev-parse", "HEAD").strip()


def project(tmp_path: Path, files: dict[str, str], lock: bool = True) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    base = {"go.mod": "module example.com/probe\n\ngo 1.21\n", "gobox.toml": '[go]\nversion = "1.22"\n'}
    for name, text in {**base, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if lock:
        (root / "gobox.lock").write_text(LOCK_1_22)
    commit_all(root)
    return root


def sha256sum_check(directory: Path) -> None:
    done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=directory, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


PROBE_TEST = """package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// What the clean room promises, seen from inside a test.
func TestCleanRoom(t *testing.T) {
	if v := os.Getenv("GOBOX_SECRET"); v != "" {
		t.Errorf("GOBOX_SECRET leaked in: %q", v)
	}
	if v := os.Getenv("PROBE_DECLARED"); v != "from gobox.toml" {
		t.Errorf("PROBE_DECLARED = %q", v)
	}
	if time.Local.String() != "UTC" || os.Getenv("LANG") != "C.UTF-8" {
		t.Errorf("TZ %s, LANG %q", time.Local, os.Getenv("LANG"))
	}
	if old := syscall.Umask(0); old != 0o022 {
		t.Errorf("umask %o", old)
	}
	if err := os.WriteFile("written-by-test", nil, 0o644); err == nil {
		t.Errorf("the source is writable")
	}
	if mods, _ := os.ReadDir("/go/pkg/mod"); len(mods) != 0 {
		t.Errorf("module cache not empty: %v", mods)
	}
}
"""


def test_ci_sees_tracked_files_and_declared_env_only(stocked: Gobox, tmp_path: Path) -> None:
    root = project(tmp_path, {
        "main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("probe") }\n',
        "main_test.go": PROBE_TEST,
        "gobox.toml": '[go]\nversion = "1.22"\n[build.env]\nPROBE_DECLARED = "from gobox.toml"\n',
    })
    (root / "leak.go").write_text('package main\n\nfunc init() { println("LEAK") }\n')  # untracked
    host = {"GOBOX_SECRET": "s3cr3t", "GOFLAGS": "-mod=mod", "GOPROXY": "http://127.0.0.1:9", "TZ": "Asia/Tokyo"}
    r = stocked("-C", str(root), "ci", env=host, timeout=600)
    assert r.code == 0, r.err
    ran = subprocess.run([root / "dist" / "probe"], capture_output=True, text=True)
    assert ran.stdout == "probe\n" and "LEAK" not in ran.stderr
    assert not (root / "written-by-test").exists()
    # The test can fail: outside the clean room the variable reaches it.
    leaky = stocked("-C", str(root), "test", "--env", "GOBOX_SECRET=x", "--", "-run", "TestCleanRoom", "-count=1",
                    env=host, timeout=600)
    assert leaky.code == 1 and "GOBOX_SECRET leaked in" in leaky.out

    # --dirty takes the untracked file and an uncommitted change, and says so (not dist/, the last outputs).
    (root / "written-by-test").unlink()
    (root / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("probe 2") }\n')
    refused = stocked("-C", str(root), "ci", timeout=600)
    assert refused.code == 2 and "uncommitted changes (1 files: main.go)" in refused.err
    assert subprocess.run([root / "dist" / "probe"], capture_output=True, text=True).stdout == "probe\n"
    r = stocked("-C", str(root), "ci", "--dirty", "--json", timeout=600)
    assert r.code == 0, r.err
    assert json.loads(r.out)["dirty"] is True
    ran = subprocess.run([root / "dist" / "probe"], capture_output=True, text=True)
    assert ran.stdout == "probe 2\n" and "LEAK" in ran.stderr
    external = statement_checked(root / "dist" / "provenance.json")["predicate"]["buildDefinition"][
        "externalParameters"]
    assert external["dirty"] is True
    assert [c["path"] for c in external["changes"]] == ["leak.go", "main.go"]


def test_ci_refuses_a_missing_or_stale_lock(stocked: Gobox, tmp_path: Path) -> None:
    root = project(tmp_path, {"main.go": "package main\n\nfunc main() {}\n"}, lock=False)
    r = stocked("-C", str(root), "ci")
    assert r.code == 2 and "gobox.lock does not exist" in r.err, r.err
    assert not (root / "dist").exists()

    (root / "gobox.lock").write_text(LOCK_1_22)
    r = stocked("-C", str(root), "ci")
    assert r.code == 2 and "gobox.lock is not committed" in r.err, r.err

    (root / "gobox.toml").write_text('[go]\nversion = "1.21"\n')  # the lock still pins 1.22.10
    commit_all(root)
    r = stocked("-C", str(root), "ci")
    assert r.code == 2 and "pins go 1.22.10" in r.err and "1.21" in r.err, r.err
    assert not (root / "dist").exists()


def test_ci_build_that_needs_the_network_fails_and_says_the_network_is_off(stocked: Gobox, tmp_path: Path) -> None:
    root = project(tmp_path, {
        "go.mod": "module example.com/probe\n\ngo 1.21\n\nrequire example.com/dep v1.0.0\n",
        "main.go": 'package main\n\nimport "example.com/dep"\n\nfunc main() { dep.Hello() }\n',
    })
    r = stocked("-C", str(root), "ci", "--json", timeout=600)
    assert r.code == 1, r.err
    assert "go build failed (exit 1) in gobox ci's clean room" in r.err
    assert "the network is off in gobox ci" in r.err and "example.com/dep" in r.err
    assert json.loads(r.out)["ok"] is False
    assert not (root / "dist").exists()


def test_ci_failing_test_exits_5_and_publishes_nothing(stocked: Gobox, tmp_path: Path) -> None:
    root = project(tmp_path, {
        "main.go": "package main\n\nfunc main() {}\n",
        "main_test.go": 'package main\n\nimport "testing"\n\nfunc TestNo(t *testing.T) { t.Fatal("no") }\n',
    })
    (root / "dist").mkdir()
    (root / "dist" / "old").write_text("from before")
    r = stocked("-C", str(root), "ci", timeout=600)
    assert r.code == 5, r.err
    assert "go test failed (exit 1)" in r.err and "--- FAIL: TestNo" in r.out + r.err
    assert sorted(p.name for p in (root / "dist").iterdir()) == ["old"]
    assert not list(root.glob(".gobox-ci-*"))


GENERATOR = """//go:build ignore

// gen writes a Go file from a map, in Go's random map order, and stamps the time: a classic way to make
// a build that is not reproducible.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	m := map[string]int{}
	for i := 0; i < 64; i++ {
		m[fmt.Sprintf("k%02d", i)] = i
	}
	s := ""
	for k := range m {
		s += k
	}
	now := time.Now().Format(time.RFC3339Nano)
	code := fmt.Sprintf("package main\\n\\nconst order = %q\\nconst built = %q\\n", s, now)
	if err := os.WriteFile("zz_generated.go", []byte(code), 0o644); err != nil {
		panic(err)
	}
}
"""


def test_verify_catches_a_build_that_is_not_reproducible(stocked: Gobox, tmp_path: Path) -> None:
    root = project(tmp_path, {
        "gobox.toml": '[go]\nversion = "1.22"\n[ci]\ngenerate = true\ntest = false\n',
        "gen.go": GENERATOR,
        "main.go": '//go:generate go run gen.go\npackage main\n\nimport "fmt"\n\n'
                   'func main() { fmt.Println(order[:3], len(built) > 0) }\n',
    })
    r = stocked("-C", str(root), "verify", "--json", timeout=900)
    assert r.code == 6, r.err
    verdict = json.loads(r.out)
    paths = {d["path"] for d in verdict["differences"]}
    assert "probe" in paths, verdict
    probe = next(d for d in verdict["differences"] if d["path"] == "probe")
    assert probe["kind"] == "content" and probe["offset"] > 0
    # The offset is real: the two builds agree before it and differ at it.
    assert "differ at byte" in probe["text"]
    assert "the builds differ" in r.err
    assert not (root / "dist").exists()  # verify publishes nothing


# recipes/hello is verified by test_ci_docs.py, through the GitHub Actions example's own commands.
# matrix: two of its six targets (an ARM variant, a windows zip); all six cost the suite 150 s.
# gopath-2014: verify is what caught a GOPATH build carrying its checkout's directory.
@pytest.mark.parametrize(("recipe", "shard", "archives"), [
    ("matrix", ("--target", "linux/arm/v7", "--target", "windows/amd64"), {".tar.gz": 1, ".zip": 1}),
    ("gopath-2014", (), {}),
])
def test_verify_recipe(stocked: Gobox, tmp_path: Path, recipe: str, shard: tuple[str, ...],
                       archives: dict[str, int]) -> None:
    root = shutil.copytree(REPO / "recipes" / recipe, tmp_path / recipe)
    shutil.rmtree(root / "dist", ignore_errors=True)
    commit_all(root)
    keep = tmp_path / "runs"
    r = stocked("-C", str(root), "verify", "--runs", "2", *shard, "--keep", str(keep), timeout=1200)
    assert r.code == 0, r.err
    assert "2 clean-room builds" in r.err and "match" in r.err
    one, two = keep / "run-1" / "out", keep / "run-2" / "out"
    sha256sum_check(one)
    assert (one / "SHA256SUMS").read_bytes() == (two / "SHA256SUMS").read_bytes()
    assert {ext: len(list(one.glob(f"*{ext}"))) for ext in archives} == archives


def test_ci_matrix_and_one_shard(stocked: Gobox, tmp_path: Path) -> None:
    root = shutil.copytree(REPO / "recipes" / "matrix", tmp_path / "matrix")
    commit_all(root)
    r = stocked("-C", str(root), "ci", "matrix", "--format", "github")
    assert r.code == 0, r.err
    targets = [job["target"] for job in json.loads(r.out)["include"]]
    assert targets == ["linux/amd64", "linux/arm64", "linux/arm/v7", "darwin/arm64", "windows/amd64",
                       "freebsd/amd64"]
    r = stocked("-C", str(root), "ci", "--target", "linux/arm64", "--json", timeout=600)
    assert r.code == 0, r.err
    assert [s["name"] for s in json.loads(r.out)["steps"]] == ["packages", "cross"]  # go list, then the target
    dist = root / "dist"
    sha256sum_check(dist)
    assert sorted(p.name for p in dist.iterdir() if p.is_dir()) == ["matrix_linux_arm64"]
    elf = (dist / "matrix_linux_arm64" / "matrix").read_bytes()[:20]
    assert elf[:4] == b"\x7fELF" and elf[18] == 183  # EM_AARCH64
    request = statement_checked(dist / "provenance.json")["predicate"]["buildDefinition"]["externalParameters"][
        "request"]
    assert request["targets"] == ["linux/arm64"] and request["test"] is False

    bad = stocked("-C", str(root), "ci", "--target", "linux/arm65")
    assert bad.code == 2 and "linux/arm65" in bad.err


def test_ci_fetches_vendored_deps_by_the_locked_commit(stocked: Gobox, tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    dep.mkdir()
    (dep / "dep.go").write_text('package dep\n\nfunc Name() string { return "pinned" }\n')
    pinned = commit_all(dep)
    (dep / "dep.go").write_text('package dep\n\nfunc Name() string { return "newer" }\n')
    commit_all(dep)  # the branch moved on; the lock keeps the old commit
    deps = f'[vendor.deps]\n"example.org/dep" = {{ git = "{dep}", rev = "{pinned[:9]}" }}\n'
    root = project(tmp_path, {
        "gobox.toml": f'[go]\nversion = "1.22"\n\n{deps}',
        "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.org/dep"\n)\n\n'
                   'func main() { fmt.Println(dep.Name()) }\n',
        ".gitignore": "vendor/\ndist/\n",
    }, lock=True)
    (root / "go.mod").unlink()  # a GOPATH-era project: vendor/src, GO111MODULE=off
    assert stocked("-C", str(root), "vendor").code == 0
    commit_all(root)
    shutil.rmtree(root / "vendor")  # not committed: ci fetches it by the locked commit

    r = stocked("-C", str(root), "ci", timeout=600)
    assert r.code == 0, r.err
    assert subprocess.run([root / "dist" / "proj"], capture_output=True, text=True).stdout == "pinned\n"
    resolved = statement_checked(root / "dist" / "provenance.json")["predicate"]["buildDefinition"][
        "resolvedDependencies"]
    assert {"name": "example.org/dep", "digest": {"gitCommit": pinned}, "uri": f"git+file://{dep}",
            "annotations": {"rev": pinned[:9]}} in resolved

    # A committed vendor/ that differs from the lock is an integrity error.
    assert stocked("-C", str(root), "vendor").code == 0
    (root / ".gitignore").write_text("dist/\n")
    (root / "vendor" / "src" / "example.org" / "dep" / "dep.go").write_text("package dep\n")
    commit_all(root)
    r = stocked("-C", str(root), "ci", timeout=600)
    assert r.code == 3 and "the committed vendor/ differs from what gobox.lock pins" in r.err, r.err

    # A dependency gobox.lock does not pin: nothing is resolved, nothing built.
    (root / "gobox.toml").write_text(f'[go]\nversion = "1.22"\n\n{deps}"example.org/other" = '
                                     f'{{ git = "{dep}", rev = "main" }}\n')
    shutil.rmtree(root / "vendor")
    commit_all(root)
    r = stocked("-C", str(root), "ci", timeout=600)
    assert r.code == 2 and "example.org/other" in r.err, r.err


def test_ci_outside_git_and_with_host_mounts_is_refused(stocked: Gobox, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "go.mod").write_text("module example.com/plain\n\ngo 1.21\n")
    r = stocked("-C", str(plain), "ci")
    assert r.code == 2 and "is not in a git checkout" in r.err, r.err
    root = project(tmp_path, {"gobox.toml": '[go]\nversion = "1.22"\n[sandbox]\nmounts = ["/etc:/host-etc:ro"]\n'})
    r = stocked("-C", str(root), "ci")
    assert r.code == 2 and "gobox.toml: sandbox.mounts" in r.err, r.err


def test_ci_terminated_midway_leaves_the_old_outputs_and_no_clean_room(stocked: Gobox, tmp_path: Path) -> None:
    import signal
    import time

    # A test that runs for a minute: with the standard library prebuilt in the store, the build itself can be
    # over before the signal, and the room must be stopped midway whatever step it is in.
    slow = ('package main\n\nimport (\n\t"testing"\n\t"time"\n)\n\n'
            'func TestSlow(t *testing.T) { time.Sleep(time.Minute) }\n')
    root = project(tmp_path, {"main.go": "package main\n\nfunc main() {}\n", "main_test.go": slow})
    (root / "dist").mkdir()
    (root / "dist" / "old").write_text("the last good build")
    p = stocked.popen("-C", str(root), "ci")
    rooms = stocked.home / "ci"
    deadline = time.monotonic() + 120
    while not (rooms.is_dir() and any(rooms.iterdir())) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # into the build
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert sorted(x.name for x in (root / "dist").iterdir()) == ["old"]
    assert not list(root.glob(".gobox-ci-*"))
    assert not list(rooms.iterdir())
    assert subprocess.run(["pgrep", "-f", str(root)], capture_output=True).returncode == 1  # no go left
