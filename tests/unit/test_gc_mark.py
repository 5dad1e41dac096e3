"""gc's mark as values, which records `gobox rmi REF` means, and pins: who owns one, when it is stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gobox.imagestore.gc import Refs, collect, image_refs, matches, pin, read_pins
from gobox.imagestore.records import Image
from gobox.names.reference import Reference
from gobox.store import Store
from gobox.store import process_alive as alive

REPO = Path(__file__).resolve().parent.parent.parent


def d(c: str) -> str:
    """A digest made of one repeated hex character, readable in assertions."""
    return "sha256:" + c * 64


def image(ref: str, digest: str, config: str, layers: tuple[str, ...], index: str | None = None,
          platform: str = "linux/amd64") -> Image:
    return Image(ref, digest, index, platform, config, layers, 100)


# --- the mark --------------------------------------------------------------------------------------


def test_garbage_is_what_no_root_and_no_pin_names() -> None:
    present = Refs.of([d("1"), d("2"), d("3"), d("4"), d("5")], [d("a"), d("b"), d("c")])
    roots = [Refs.of([d("1"), d("2")], [d("a")]), Refs.of([d("2"), d("9")], [])]  # 9 is named but missing
    pins = [Refs.of([d("3")], [d("b")])]
    assert collect(roots, pins, present) == Refs.of([d("4"), d("5")], [d("c")])
    assert collect([], [], present) == present
    assert collect(roots, pins, Refs()) == Refs()


def test_a_record_protects_manifest_index_config_layers_and_unpacked_layers() -> None:
    img = image("127.0.0.1:5000/team/app:v1", d("e"), d("c"), (d("1"), d("2")), index=d("f"))
    refs = image_refs(img, [d("a"), d("b")])
    assert refs.blobs == {d("e"), d("f"), d("c"), d("1"), d("2")}
    assert refs.layers == {d("a"), d("b")}
    assert image_refs(image("x/y:1", d("e"), d("c"), ()), []).blobs == {d("e"), d("c")}


# --- what `gobox rmi REF` means -------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "expected"), [
    ("golang:1.22", True),  # the familiar spelling of docker.io/library/golang:1.22
    ("docker.io/library/golang:1.22", True),
    ("golang", False),  # golang:latest
    ("golang:1.21", False),
    ("library/golang:1.22", True),
    (f"golang@{d('e')}", True),  # the manifest's digest
    (f"golang@{d('f')}", True),  # the index's digest
    (f"golang:1.22@{d('e')}", True),
    (f"golang:1.21@{d('e')}", False),
    (f"golang@{d('0')}", False),
    (f"other@{d('e')}", False),  # the same content under another name is another image
])
def test_a_reference_matches_by_name_and_tag_or_by_digest(asked: str, expected: bool) -> None:
    img = image("docker.io/library/golang:1.22", d("e"), d("c"), (d("1"),), index=d("f"))
    assert matches(img, Reference.parse(asked)) is expected


def test_a_record_pulled_by_digest_matches_its_reference() -> None:
    ref = f"127.0.0.1:5000/x@{d('e')}"
    img = image(ref, d("e"), d("c"), ())
    assert matches(img, Reference.parse(ref))
    assert not matches(img, Reference.parse("127.0.0.1:5000/x"))


def test_platform_narrows_the_match() -> None:
    arm = image("docker.io/library/golang:1.22", d("e"), d("c"), (), platform="linux/arm64/v8")
    ref = Reference.parse("golang:1.22")
    assert matches(arm, ref, None)
    assert matches(arm, ref, "linux/arm64")  # v8 is arm64's default variant
    assert not matches(arm, ref, "linux/amd64")


# --- pins -------------------------------------------------------------------------------------------------


def test_pins_merge_within_a_process_and_are_read_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    pin(store, [d("1"), d("2")], [d("a")])
    pin(store, [d("3")], [d("b")])
    pins = [p for p in read_pins(store) if p.pid == os.getpid()]
    assert len(pins) == 1
    assert pins[0].refs == Refs.of([d("1"), d("2"), d("3")], [d("a"), d("b")])
    assert alive(pins[0].pid, pins[0].starttime)
    assert not alive(pins[0].pid, pins[0].starttime + 1)  # same pid, another process: a reused pid


def test_a_dead_process_is_not_alive() -> None:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not alive(int(p.stdout))


def run_python(code: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(home)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)


def test_a_pin_goes_at_exit_but_not_when_a_forked_child_exits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = run_python(f"""
        import os, sys
        from pathlib import Path
        from gobox.imagestore.gc import pin, read_pins
        from gobox.store import Store
        store = Store(Path(sys.argv[1]))
        pin(store, ["{d('1')}"], ["{d('a')}"])
        child = os.fork()
        if child == 0:
            sys.exit(0)  # a normal exit: atexit handlers run in the child too
        os.waitpid(child, 0)
        print(len(read_pins(store)))
    """, home)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"  # still there after the child exited
    assert list((home / "pins").iterdir()) == []  # and gone when its owner exited


def test_a_killed_owner_leaves_a_stale_pin(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = run_python(f"""
        import os, signal, sys
        from pathlib import Path
        from gobox.imagestore.gc import pin
        from gobox.store import Store
        pin(Store(Path(sys.argv[1])), ["{d('1')}"], [])
        os.kill(os.getpid(), signal.SIGKILL)
    """, home)
    assert r.returncode == -9
    (left,) = read_pins(Store(home))
    assert json.loads(left.path.read_text())["blobs"] == [d("1")]
    assert not alive(left.pid, left.starttime)
