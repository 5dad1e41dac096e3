"""--json means one JSON document on stdout, for every command that has it: found by walking gobox's click
tree, so a new command with --json fails here until it has a case. Each case runs the real command in a
setup where it succeeds (and, where cheap, one where it fails) and parses the WHOLE stdout; what the command
ran printed (go test -v, a shell's echo) is on stderr. --dry-run --json is the plan as JSON.

Errors: when gobox itself fails, stdout is still one document, {"ok": false, "exit_code", "error", "hint"},
the error is the usual one line on stderr, and the exit code is kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from support.registry import APT_PACKAGES, Registry, missing_tools
from support.runner import REPO, Gobox, Result, gobox_env, no_traceback

from gobox.cli import cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello, Go examples!") }\n'
TEST = ('package main\n\nimport "testing"\n\nfunc TestSays(t *testing.T) { t.Log("said-by-the-test") }\n')


def json_commands(group: click.Command = cli, path: tuple[str, ...] = ()) -> list[str]:
    """Every command of the tree with a --json option, as the words that name it ("toolchain list")."""
    found = []
    if any(isinstance(p, click.Option) and "--json" in p.opts for p in group.params):
        found.append(" ".join(path))
    for name, sub in sorted(getattr(group, "commands", {}).items()):
        found += json_commands(sub, (*path, name))
    return found


def has_dry_run(path: str) -> bool:
    command: click.Command = cli
    for word in path.split():
        command = command.commands[word]  # type: ignore[attr-defined]
    return any(isinstance(p, click.Option) and "--dry-run" in p.opts for p in command.params)


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2024-05-01T12:00:00Z",
           "GIT_COMMITTER_DATE": "2024-05-01T12:00:00Z"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@dataclass
class World:
    g: Gobox  # the stocked store: go 1.22.10 installed
    private: Gobox  # a store of its own, for what removes images (rmi, gc)
    proj: Path  # a committed, locked module with a test
    host: Path  # a module with [go].base = "host", for gobox shell
    gofmt: Path  # a static Linux binary to pack with gobox image --binary
    registry: Registry | None


@pytest.fixture(scope="module")
def world(stocked_home: Path, mirror, tmp_path_factory: pytest.TempPathFactory) -> World:  # noqa: ANN001
    root = tmp_path_factory.mktemp("json")
    proj = root / "proj"
    proj.mkdir()
    (proj / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (proj / "main.go").write_text(MAIN)
    (proj / "main_test.go").write_text(TEST)
    (proj / "gobox.toml").write_text('[go]\nversion = "1.22"\n')
    shutil.copy(REPO / "recipes" / "hello" / "gobox.lock", proj / "gobox.lock")
    git(proj, "init", "-q")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "init")
    host = root / "host"
    host.mkdir()
    (host / "go.mod").write_text("module example.com/host\n\ngo 1.21\n")
    (host / "gobox.toml").write_text('[go]\nversion = "1.22.10"\nbase = "host"\n')
    g = Gobox(gobox_env(stocked_home, mirror), stocked_home)
    private_home = root / "private" / "home"
    private = Gobox(gobox_env(private_home, mirror), private_home)
    gofmt = next((stocked_home / "toolchains").glob("go1.22.10.*")) / "layer/usr/local/go/bin/gofmt"
    if missing_tools():
        yield World(g, private, proj, host, gofmt, None)
        return
    with Registry("none") as reg:
        yield World(g, private, proj, host, gofmt, reg)


@dataclass(frozen=True)
class Call:
    args: tuple[str, ...]
    code: int = 0  # the exit code expected
    on: str = "g"  # which gobox: "g" (stocked) or "private"
    stdin: str | None = None
    err_has: str = ""  # what the command ran printed, which must be on stderr (and not on stdout)


def run(w: World, call: Call) -> Result:
    g: Gobox = getattr(w, call.on)
    p = subprocess.run([sys.executable, "-m", "gobox", *call.args], capture_output=True, text=True, env=g.env,
                       input=call.stdin if call.stdin is not None else "", timeout=900)
    no_traceback(call.args, p.stderr)
    return Result(p.returncode, p.stdout, p.stderr)


def registry_ref(w: World) -> str:
    if w.registry is None:
        pytest.skip(f"needs {', '.join(missing_tools())}: apt-get install -y {' '.join(APT_PACKAGES)}")
    return f"{w.registry.host}/team/fmt:1"


def image_calls(w: World) -> list[Call]:
    return [Call(("-C", str(w.proj), "image", "--json", "--binary", str(w.gofmt), "--tag", "localhost/fmt:1")),
            Call(("-C", str(w.proj), "image", "--json", "--dry-run", "--binary", str(w.gofmt))),
            Call(("-C", str(w.proj), "image", "--json", "--dry-run", "--platform", "linux/arm64")),
            Call(("-C", str(w.proj), "image", "--json", "--binary", str(w.gofmt), "--tag", "UPPER:case"), code=2)]


def pushed(w: World) -> str:
    """An image in the registry, pulled into the private store: what push, pull, images and rmi work on."""
    ref = registry_ref(w)
    for call in (Call(("-C", str(w.proj), "image", "--binary", str(w.gofmt), "--tag", "localhost/fmt:1")),
                 Call(("push", "localhost/fmt:1", ref)), Call(("pull", ref), on="private")):
        r = run(w, call)
        assert r.code == 0, r.err
    return ref


P = "-C"
CASES: dict[str, Callable[[World], list[Call]]] = {
    "toolchain install": lambda w: [Call(("toolchain", "install", "--json", "1.22.10")),
                                    Call(("toolchain", "install", "--json", "1.99.0"), code=2)],
    "toolchain list": lambda w: [Call(("toolchain", "list", "--json"))],
    "toolchain which": lambda w: [Call((P, str(w.proj), "toolchain", "which", "--json"))],
    "run": lambda w: [Call((P, str(w.proj), "run", "--json", "--", "go", "version"), err_has="go version go1.22.10"),
                      Call((P, str(w.proj), "run", "--json", "--", "go", "nosuchcommand"), code=2,
                           err_has="go nosuchcommand: unknown command"),
                      Call((P, str(w.proj), "run", "--json", "--go", "nonsense", "--", "go", "version"), code=2)],
    "shell": lambda w: [Call((P, str(w.host), "shell", "--json"), stdin="echo said-by-the-shell\n",
                             err_has="said-by-the-shell")],
    "build": lambda w: [Call((P, str(w.proj), "build", "--json", "--", "-v"))],
    "test": lambda w: [Call((P, str(w.proj), "test", "--json", "--", "-v", "-count=1"), err_has="said-by-the-test"),
                       Call((P, str(w.proj), "test", "--json", "--", "-run", "Nothing", "-count=1", "-bogus"),
                            code=1)],
    "cross": lambda w: [Call((P, str(w.proj), "cross", "--json", "linux/arm64")),
                        Call((P, str(w.proj), "cross", "--json", "--list", "linux/*"))],
    "ci": lambda w: [Call((P, str(w.proj), "ci", "--json", "--out", str(w.proj.parent / "ci-out"))),
                     Call((P, str(w.host), "ci", "--json"), code=2)],
    "verify": lambda w: [Call((P, str(w.proj), "verify", "--json"))],
    "image": image_calls,
    "push": lambda w: [Call(("push", "--json", "localhost/fmt:1", pushed(w)))],
    "pull": lambda w: [Call(("pull", "--json", pushed(w)), on="private"),
                       Call(("pull", "--json", "127.0.0.1:1/nothing/here:1"), on="private", code=4)],
    "images": lambda w: [Call(("images", "--json"), on="private")],
    "rmi": lambda w: [Call(("rmi", "--json", pushed(w)), on="private"),
                      Call(("rmi", "--json", "localhost/never-made:1"), on="private", code=2)],
    "gc": lambda w: [Call(("gc", "--json"), on="private")],
    "doctor": lambda w: [Call(("doctor", "--offline", "--json"))],
}


def test_every_json_command_has_a_case() -> None:
    assert set(json_commands()) == set(CASES), "a command with --json needs a case in CASES"


@pytest.mark.parametrize("path", json_commands())
def test_json_is_one_document_on_stdout(world: World, path: str) -> None:
    if path not in CASES:
        pytest.fail(f"gobox {path} has --json and no case here")
    calls = CASES[path](world)
    if has_dry_run(path):  # the plan as JSON too, for every command that has both
        words = tuple(path.split())
        where = world.host if path == "shell" else world.proj
        extra = ("--", "go", "version") if path == "run" else ("--binary", str(world.gofmt)) if path == "image" \
            else ()
        calls.append(Call((P, str(where), *words, "--dry-run", "--json", *extra), on="private" if path == "gc"
                          else "g"))
    for call in calls:
        r = run(world, call)
        assert r.code == call.code, f"gobox {' '.join(call.args)}: exit {r.code}\n{r.err}"
        try:
            doc = json.loads(r.out)  # the whole of stdout, nothing before or after the document
        except ValueError:
            pytest.fail(f"gobox {' '.join(call.args)}: stdout is not one JSON document:\n{r.out[:2000]}")
        if call.err_has:
            assert call.err_has in r.err and call.err_has not in r.out, r.err
        if "--dry-run" in call.args and path != "gc":
            assert doc["dry_run"] is True
        if call.code and isinstance(doc, dict) and "ok" in doc:
            # gobox's own failure: the error in the document and as its one line on stderr, the code kept.
            assert doc["ok"] is False and doc["exit_code"] == call.code and doc["error"]
            assert f"gobox: error: {doc['error']}" in r.err
