"""A no-op `gobox build` asks go list nothing: its answer is kept (gobox.listcache) until something it reads
changes, and a build with commands and a library no command imports is one `go install`.

Each test edits a real module as a user would and checks what the next build says and leaves in dist/;
`--json`'s "listed" says whether go list ran ("ran") or its kept answer served ("cached").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.runner import REPO, Gobox, Result

from gobox import listcache

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

LOCK = (REPO / "recipes" / "hello" / "gobox.lock").read_text()  # go 1.22.10, the stocked store's
MODULE = "example.com/kept"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    settle()


def settle() -> None:
    """Let the kernel's coarse clock move past the edit, so that the next build may keep its listing
    (listcache.racy: a source changed within the walk's tick is never trusted)."""
    time.sleep(3 * listcache.RACY_NS / 1e9)


def build(g: Gobox, project: Path, *args: str) -> tuple[Result, dict]:
    """gobox build --json: the run, and its JSON (the summary line is printed without --json only)."""
    r = g("-C", str(project), "build", "--json", *args, timeout=600)
    assert r.code == 0, r.err
    return r, json.loads(r.out)


def summary(g: Gobox, project: Path) -> str:
    r = g("-C", str(project), "build", timeout=600)
    assert r.code == 0, r.err
    return next(line for line in r.err.splitlines() if "compiled;" in line)


def dist(project: Path) -> list[str]:
    out = project / "dist"
    return sorted(p.name for p in out.iterdir()) if out.is_dir() else []


def entries(home: Path, project: Path) -> list[Path]:
    """The store's kept listings for this project (the stocked store is shared by other tests' projects)."""
    found = []
    for f in sorted((home / "cache" / "list").glob("*.json")):
        entry = listcache.decode(f.read_bytes())
        if entry is None or json.loads(entry.key)[1] == str(project):
            found.append(f)
    return found


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A module of libraries only: lib, and tool, whose one file is `package tool` with a func main, the
    same size as `package main`."""
    project = tmp_path / "kept"
    write(project, {
        "go.mod": f"module {MODULE}\n\ngo 1.21\n",
        "gobox.toml": '[go]\nversion = "1.22"\n',
        "gobox.lock": LOCK,
        "lib/lib.go": "package lib\n\nfunc Hello() string { return \"hello\" }\n",
        "tool/tool.go": "package tool\n\nfunc main() {}\n",
        # Built only with the tag "extra": go list leaves it out until gobox.toml asks for it.
        "extra/main.go": "//go:build extra\n\npackage main\n\nfunc main() {}\n",
    })
    return project


def test_a_second_build_with_nothing_changed_does_not_run_go_list(stocked: Gobox, library: Path) -> None:
    first = summary(stocked, library)
    assert first == "gobox: 2 packages compiled; no commands"
    _, again = build(stocked, library)
    assert again["listed"] == "cached" and again["commands"] == [] and len(again["libraries"]) == 2
    assert summary(stocked, library) == first
    # Other go flags are another go list: its own answer, kept beside the first.
    _, other = build(stocked, library, "--", "-v")
    assert other["listed"] == "ran"
    assert build(stocked, library, "--", "-v")[1]["listed"] == "cached"
    assert len(entries(stocked.home, library)) == 2


def test_each_change_go_list_would_see_is_a_new_listing(stocked: Gobox, library: Path) -> None:
    assert build(stocked, library)[1]["listed"] == "ran"
    assert build(stocked, library)[1]["listed"] == "cached"

    # A library becomes a command: same size, and the mtime put back as touch -r or cp -p would. Only the
    # ctime tells, and the build is then one of a command (a stale listing would compile it with no -o).
    tool = library / "tool" / "tool.go"
    before = os.stat(tool)
    tool.write_text("package main\n\nfunc main() {}\n")
    os.utime(tool, ns=(before.st_atime_ns, before.st_mtime_ns))
    now = os.stat(tool)
    assert (now.st_size, now.st_mtime_ns, now.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    settle()
    _, made = build(stocked, library)
    assert made["listed"] == "ran" and made["commands"] == [f"{MODULE}/tool"]
    assert dist(library) == ["tool"]
    assert summary(stocked, library) == "gobox: 2 packages compiled; 1 command in dist/"

    # A new main package.
    write(library, {"cmd/gamma/main.go": "package main\n\nfunc main() {}\n"})
    _, added = build(stocked, library)
    assert added["listed"] == "ran" and added["commands"] == [f"{MODULE}/cmd/gamma", f"{MODULE}/tool"]
    assert dist(library) == ["gamma", "tool"]
    assert build(stocked, library)[1]["listed"] == "cached"

    # A command deleted: no longer listed, and no longer built (go build -o leaves the old binary, as ever).
    shutil.rmtree(library / "cmd")
    (library / "dist" / "gamma").unlink()
    settle()
    _, removed = build(stocked, library)
    assert removed["listed"] == "ran" and removed["commands"] == [f"{MODULE}/tool"]
    assert dist(library) == ["tool"]

    # Tags in gobox.toml: go list now sees extra/.
    (library / "gobox.toml").write_text('[go]\nversion = "1.22"\n\n[build]\ntags = ["extra"]\n')
    settle()
    _, tagged = build(stocked, library)
    assert tagged["listed"] == "ran" and tagged["commands"] == [f"{MODULE}/extra", f"{MODULE}/tool"]
    assert dist(library) == ["extra", "tool"]
    assert summary(stocked, library) == "gobox: 3 packages compiled; 2 commands in dist/"


def test_a_corrupt_entry_is_a_miss_and_is_written_again(stocked: Gobox, library: Path) -> None:
    build(stocked, library)
    [entry] = entries(stocked.home, library)
    good = entry.read_bytes()
    broken = good.replace(b'"commands":[]', b'"commands":7')
    for garbage in (b'{"format": 1, "key": ', b"\x00\xff" * 100, b"[]", broken):
        entry.write_bytes(garbage)
        _, r = build(stocked, library)
        assert r["listed"] == "ran" and r["commands"] == [] and len(r["libraries"]) == 2
        assert listcache.decode(entry.read_bytes()) is not None  # rewritten whole
        assert build(stocked, library)[1]["listed"] == "cached"


def test_commands_and_a_library_no_command_imports_are_one_go_install(stocked: Gobox, library: Path) -> None:
    """With a library no command imports, the build is one `go install` into dist/ (go -x shows the binary
    installed at $GOPATH/bin, which is dist/), and its binary is the very one `go build -o` makes."""
    write(library, {"cmd/hello/main.go": f'package main\n\nimport (\n\t"fmt"\n\n\t"{MODULE}/lib"\n)\n\n'
                                         "func main() { fmt.Println(lib.Hello()) }\n"})
    r, out = build(stocked, library, "--", "-x")
    assert out["commands"] == [f"{MODULE}/cmd/hello"] and f"{MODULE}/tool" in out["libraries"]
    assert "/go/bin/hello" in r.err, r.err[-2000:]
    assert dist(library) == ["hello"]
    assert subprocess.run([library / "dist" / "hello"], capture_output=True, text=True).stdout == "hello\n"
    installed = hashlib.sha256((library / "dist" / "hello").read_bytes()).hexdigest()
    # Every library imported by the command: one go build -o, as before.
    shutil.rmtree(library / "tool")
    shutil.rmtree(library / "dist")
    settle()
    r, out = build(stocked, library, "--", "-x")
    assert "/go/bin/hello" not in r.err and dist(library) == ["hello"]
    assert hashlib.sha256((library / "dist" / "hello").read_bytes()).hexdigest() == installed
