"""dist/SHA256SUMS after several `gobox cross` runs: every output still in dist/ listed, as it is now, and
nothing else, so `sha256sum -c SHA256SUMS` passes after any sequence of runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.runner import Gobox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello, Go examples!") }\n'


def listed(dist: Path) -> list[str]:
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return [line.removesuffix(": OK") for line in r.stdout.splitlines()]


def test_sums_list_the_outputs_of_every_run_still_in_dist(stocked: Gobox, tmp_path: Path) -> None:
    app = tmp_path / "hello"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (app / "main.go").write_text(HELLO)
    (app / "gobox.toml").write_text('[go]\nversion = "1.22.10"\n')
    dist = app / "dist"

    assert stocked("-C", str(app), "cross", "linux/arm64").code == 0
    r = stocked("-C", str(app), "cross", "darwin/amd64", "--archive")
    assert r.code == 0, r.err
    assert listed(dist) == ["hello_darwin_amd64.tar.gz", "hello_darwin_amd64/hello", "hello_linux_arm64/hello"]

    # A line naming a file outside dist/, through a symlink or "..", is not followed, hashed or kept.
    (dist / "escape").symlink_to("/etc")
    with (dist / "SHA256SUMS").open("a") as f:
        f.write(f"{'0' * 64}  escape/passwd\n{'0' * 64}  ../hello/main.go\n")
    # An earlier run's output that is gone is dropped; one rebuilt by this run is listed as it is now.
    shutil.rmtree(dist / "hello_linux_arm64")
    (app / "main.go").write_text(HELLO.replace("Hello", "Bye"))
    r = stocked("-C", str(app), "cross", "darwin/amd64")
    assert r.code == 0, r.err
    assert listed(dist) == ["hello_darwin_amd64.tar.gz", "hello_darwin_amd64/hello"]
    assert [p.name for p in dist.iterdir() if p.name.startswith(".")] == []  # nothing half-written left
