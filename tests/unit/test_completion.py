"""Shell completion as a shell asks for it: `_GOBOX_COMPLETE=bash_complete gobox` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


BASH_WORDBREAKS = " \t\n\"'><=;|&(:"  # bash's default COMP_WORDBREAKS


def complete(line: str, home: Path, legacy: bool = False) -> list[str]:
    """What bash would put in place of the word at the end of `line` ("gobox cro" offers cross).

    As `gobox completion bash` asks: the line up to the cursor; `legacy`, as click's own script
    (one already installed in a user's shell) asks: bash's words.
    """
    asked = {"COMP_WORDS": line, "COMP_CWORD": str(len(line.split(" ")) - 1)} if legacy else \
        {"COMP_LINE": line, "COMP_WORDBREAKS": BASH_WORDBREAKS}
    env = {**os.environ, "PYTHONPATH": str(REPO), "GOBOX_HOME": str(home), "_GOBOX_COMPLETE": "bash_complete",
           **asked}
    p = subprocess.run([sys.executable, "-m", "gobox"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [line.split(",", 1)[1] for line in p.stdout.splitlines() if line]


def test_commands_complete(tmp_path: Path) -> None:
    assert complete("gobox cro", tmp_path) == ["cross"]
    assert set(complete("gobox toolchain ", tmp_path)) == {"install", "list", "rm", "which", "pin"}


def test_cross_targets_complete_from_a_static_list(tmp_path: Path) -> None:
    offered = complete("gobox cross linux/arm", tmp_path)
    assert offered[:2] == ["linux/arm64", "linux/arm/v6"] and "linux/arm/v7" in offered
    assert "!windows/386" in complete("gobox cross all !windows/", tmp_path)
    assert complete("gobox ci --target darwin/", tmp_path) == ["darwin/amd64", "darwin/arm64"]


def test_installed_versions_and_stored_images_complete_from_the_store(tmp_path: Path) -> None:
    from gobox.toolchains.install import METADATA

    for version in ("1.22.10", "1.21.13"):
        entry = tmp_path / "toolchains" / f"go{version}.linux-amd64"
        entry.mkdir(parents=True)
        (entry / METADATA).write_text(json.dumps({
            "version": version, "platform": "linux/amd64", "source": "go.dev", "filename": "f", "url": "u",
            "sha256": "0" * 64, "size": 1}))
    (tmp_path / "toolchains" / "go1.20.1.linux-amd64").mkdir()  # unfinished: no metadata yet
    record = tmp_path / "images" / "docker.io" / "library" / "golang" / "1.22@linux-amd64.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"reference": "docker.io/library/golang:1.22", "digest": "sha256:" + "1" * 64,
                                  "platform": "linux/amd64", "config": "sha256:" + "2" * 64, "layers": [],
                                  "size": 1}))
    assert complete("gobox toolchain rm ", tmp_path) == ["1.22.10", "1.21.13"]
    assert complete("gobox toolchain which 1.21", tmp_path) == ["1.21.13"]
    assert complete("gobox rmi gol", tmp_path) == ["golang:1.22"]
    # Bash replaces only what follows the word's last ':' or '=', so that is all gobox sends.
    assert complete("gobox rmi golang:", tmp_path) == ["1.22"]
    assert complete("gobox run --image=golang:1", tmp_path) == ["1.22"]
    assert complete("gobox run --image=gol", tmp_path) == ["golang:1.22"]
    assert complete("gobox rmi gol", tmp_path, legacy=True) == ["golang:1.22"]


def test_cross_offers_targets_until_the_words_for_go_build(tmp_path: Path) -> None:
    assert complete("gobox cross -- darwin/am", tmp_path) == ["darwin/amd64"]  # click drops the --
    assert complete("gobox cross linux/amd64 -- -trimpath ", tmp_path) == []
    assert complete("gobox cross -- -ldflags=-s darwin/", tmp_path) == []


@pytest.mark.parametrize("word, value, candidate, reply", [
    ("gol", "gol", "golang:1.22", "golang:1.22"),
    ("golang:", "golang:", "golang:1.22", "1.22"),
    ("127.0.0.1:5000/golang:1", "127.0.0.1:5000/golang:1", "127.0.0.1:5000/golang:1.22", "1.22"),
    ("--image=gol", "gol", "golang:1.22", "golang:1.22"),
    ("--image=golang:", "golang:", "golang:1.22", "1.22"),
    ("linux/a", "linux/a", "linux/amd64", "linux/amd64"),
])
def test_bash_reply_is_what_follows_the_last_word_break(word: str, value: str, candidate: str,
                                                         reply: str) -> None:
    from gobox.completion import bash_reply

    assert bash_reply(word, value, candidate, BASH_WORDBREAKS) == reply
    assert bash_reply(word, value, candidate, " \t\n") == word[:len(word) - len(value)] + candidate


def test_an_empty_or_missing_store_offers_nothing(tmp_path: Path) -> None:
    assert complete("gobox toolchain rm ", tmp_path / "none") == []
    assert complete("gobox rmi ", tmp_path / "none") == []


@pytest.mark.parametrize("shell, marker", [("bash", "_GOBOX_COMPLETE=bash_complete"),
                                           ("zsh", "#compdef gobox"), ("fish", "_GOBOX_COMPLETE=fish_complete")])
def test_completion_prints_the_script(shell: str, marker: str) -> None:
    p = subprocess.run([sys.executable, "-m", "gobox", "completion", shell], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert p.returncode == 0 and marker in p.stdout, p.stderr
