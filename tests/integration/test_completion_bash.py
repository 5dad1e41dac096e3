"""Tab in a real interactive bash, through a pty, with `eval "$(gobox completion bash)"` loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.requires import requires_tool
from support.terminal import Terminal

REPO = Path(__file__).resolve().parents[2]

pytestmark = requires_tool("bash")


def store_with_golang(home: Path) -> None:
    record = home / "images" / "docker.io" / "library" / "golang" / "1.22@linux-amd64.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"reference": "docker.io/library/golang:1.22", "digest": "sha256:" + "1" * 64,
                                  "platform": "linux/amd64", "config": "sha256:" + "2" * 64, "layers": [],
                                  "size": 1}))


def typed_then_tab(tmp_path: Path, keys: str) -> str:
    """The command line bash shows after typing `keys`, a Tab, then Enter with `echo ` put in front."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "gobox"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m gobox "$@"\n')
    wrapper.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "TERM": "dumb", "PS1": "$ ",
           "PYTHONPATH": str(REPO), "GOBOX_HOME": str(tmp_path / "home"), "INPUTRC": "/dev/null"}
    with Terminal(["/bin/bash", "--norc", "--noprofile", "-i"], env) as term:
        term.type(b'eval "$(gobox completion bash)"; echo LOADED\n')
        term.expect(b"LOADED\r\n")
        # Tab, then Ctrl-A and "echo DONE " at the start of the line: bash prints the line as Tab
        # left it. Readline runs the completion (gobox, once) before it reads the keys after Tab.
        term.type(keys.encode() + b"\t\x01echo DONE \n")
        term.expect(b"\r\nDONE ")
        term.expect(b"\r\n", timeout=5)
        term.type(b"exit\n")
        assert term.wait() == 0
    done = term.seen.decode(errors="replace").rsplit("\r\nDONE ", 1)[1]
    return done.split("\r\n", 1)[0]


@pytest.mark.parametrize("keys, line", [
    ("gobox rmi golang:", "gobox rmi golang:1.22"),
    ("gobox run --image=golang:1.", "gobox run --image=golang:1.22"),
    ("gobox cross darwin/am", "gobox cross darwin/amd64"),
    ("gobox cro", "gobox cross"),
])
def test_tab_completes_the_word_under_the_cursor(tmp_path: Path, keys: str, line: str) -> None:
    store_with_golang(tmp_path / "home")
    assert typed_then_tab(tmp_path, keys) == line


def test_bash_has_a_completion_for_gobox_after_eval(tmp_path: Path) -> None:
    p = subprocess.run(["bash", "--norc", "-c", 'eval "$(gobox completion bash)"; complete -p gobox'],
                       env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                            "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "-F _gobox_completion" in p.stdout, p.stderr
