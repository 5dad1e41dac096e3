"""set_go_version on generated gobox.toml documents: a valid document stays valid, [go].version is the new one,
and every other key, value and comment is kept."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gobox.config import set_go_version
from gobox.errors import ConfigError

KEY = st.sampled_from(["cgo", "base", "image", "tags", "output", "a-b", "x_1", "version2", "with space", "é"])
VALUE = st.one_of(st.booleans(), st.integers(-1000, 1000), st.text(max_size=8),
                  st.lists(st.text(max_size=4), max_size=3))


def toml_key(k: str) -> str:
    return k if all(c.isascii() and (c.isalnum() or c in "-_") for c in k) else '"' + k + '"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(map(toml_value, v)) + "]"
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in v) + '"'


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A TOML text with [go] in one of its forms (or absent), other tables, and comments between lines."""
    go = draw(st.dictionaries(KEY, VALUE, max_size=3))
    if draw(st.booleans()):
        go["version"] = draw(st.sampled_from(["1.21", "1.22.10", ""]))
    other = draw(st.dictionaries(st.sampled_from(["build", "test", "image", "my tool"]),
                                 st.dictionaries(KEY, VALUE, max_size=3), max_size=3))
    form = draw(st.sampled_from(["table", "dotted", "inline", "quoted", "none"]))
    lines = [f"# {draw(st.text(st.characters(codec='utf-8', exclude_categories=('Cc', 'Cs')), max_size=6))}"]
    if form == "table" or (form == "none" and go):
        lines.append("[go]  # go")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in go.items()]
    elif form in ("dotted", "quoted"):
        head = "go" if form == "dotted" else '"go"'
        lines += [f"{head}.{toml_key(k)} = {toml_value(v)}  # {k}" for k, v in go.items()]
    elif form == "inline":
        lines.append("go = {" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in go.items()) + "}")
    for table, keys in other.items():
        lines += ["", f"[{toml_key(table)}]"] + [f"{toml_key(k)} = {toml_value(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


@settings(max_examples=150)
@given(documents(), st.sampled_from(["1.22", "1.21.13", "1.23rc1"]))
@example('go.version = "1.21"\ngo.cgo = false\n\n[build]\ntags = []\n', "1.22")  # "Cannot declare twice"
@example('go = { cgo = true }\n[build]\n', "1.22")
@example('"go".base = "host"\n', "1.22")
def test_valid_documents_stay_valid_and_keep_other_keys(text: str, version: str) -> None:
    before = tomllib.loads(text)
    after_text = set_go_version(text, version)
    after = tomllib.loads(after_text)  # still TOML
    assert after["go"]["version"] == version
    assert {k: v for k, v in after["go"].items() if k != "version"} == \
        {k: v for k, v in before.get("go", {}).items() if k != "version"}
    assert {k: v for k, v in after.items() if k != "go"} == {k: v for k, v in before.items() if k != "go"}
    for line in text.splitlines():  # the comments are where they were, byte for byte
        if line.startswith("#"):
            assert line in after_text.splitlines()


def test_a_go_that_is_no_table_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match=r"gobox.toml: go: expected a table"):
        set_go_version('go = "1.22"\n', "1.22")
