"""`gobox toolchain pin` edits gobox.toml in whatever TOML form the user wrote it, keeping every other byte."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from support.runner import Gobox

# Each form TOML allows for [go].version, with comments and layout a user cares about. The five-line file of
# dotted keys is the one that exited 2 with "Cannot declare ('go',) twice".
FORMS = {
    "dotted": ('# Our service.\ngo.version = "1.21"  # bump with care\ngo.cgo = false\n\n'
               '[build]\ntags = ["netgo"]  # static\n'),
    "inline": ('# Our service.\ngo = { version = "1.21", cgo = false }  # the compiler\n\n'
               '[build]\ntags = ["netgo"]\n'),
    "quoted": ('# Our service.\n["go"]   # the compiler\n"version" = \'1.21\'  # literal string\n\n'
               '[build]\n"tags" = ["netgo"]\n'),
    "quoted-dotted": '"go"."version" = "1.21"    # aligned\n"go".cgo = false\n',
    "table-without-version": '[go]  # pinned below\ncgo = false\n\n# builds\n[build]\ntags = ["netgo"]\n',
    "dotted-without-version": '# Our service.\ngo.cgo = false  # no C\n\n[build]\ntags = ["netgo"]\n',
}


def project(root: Path, toml: str) -> Path:
    root.mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/p\n\ngo 1.21\n")
    (root / "gobox.toml").write_text(toml)
    return root


def comments(text: str) -> list[str]:
    return [line[line.index("#"):] for line in text.splitlines() if "#" in line]


@pytest.mark.parametrize("form", FORMS)
def test_pin_edits_every_toml_form(stocked: Gobox, tmp_path: Path, form: str) -> None:
    text = FORMS[form]
    proj = project(tmp_path / form, text)
    r = stocked("toolchain", "pin", "1.22", cwd=proj)
    assert r.code == 0, r.err
    new = (proj / "gobox.toml").read_text()
    doc = tomllib.loads(new)
    assert doc["go"]["version"] == "1.22"
    assert doc["go"].get("cgo") in (None, False)
    before = tomllib.loads(text)
    assert {k: v for k, v in doc.items() if k != "go"} == {k: v for k, v in before.items() if k != "go"}
    assert comments(new) == comments(text)  # every comment kept, byte for byte, in its order
    if "1.21" in text:  # the version was there: only its value changed, the form is the user's
        assert new == text.replace("1.21", "1.22")
    assert 'version = "1.22.10"' in (proj / "gobox.lock").read_text()
    assert "/go1.22.10." in stocked("toolchain", "which", cwd=proj).out  # the file reads back
