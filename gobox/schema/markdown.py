"""docs/config.md, rendered from the schema (`python -m gobox.schema --markdown > docs/config.md`)."""

from __future__ import annotations

from typing import Any

from gobox.schema import SCHEMA, TABLES, USER_SCHEMA, USER_TABLES, Key


def _toml_value(v: Any) -> str:
    """A default as it would be written in the file."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    return str(v)


def _cell(text: str) -> str:
    """Text for a table cell: a | would end the cell, <binary> would be read as HTML, "*" could start emphasis."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")


def _default_cell(v: Any) -> str:
    # None means unset: what applies then depends on other things, and the description says what.
    return "unset" if v is None else f"`{_toml_value(v)}`"


def _type_cell(key: Key) -> str:
    if key.choices:
        return "one of " + ", ".join(f"`{_toml_value(c)}`" for c in key.choices)
    if key.bounds:
        return f"{key.kind}, {key.bounds}"
    return key.kind


def reference_markdown() -> str:
    """docs/config.md: every table and key of gobox.toml and config.toml, from SCHEMA and USER_SCHEMA."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from gobox/schema.py by `python -m gobox.schema --markdown > docs/config.md`;"
        " edit the schema, not this file (tests/unit/test_config_doc.py checks they agree). -->",
        "",
        "gobox reads two files, and every key of both is optional:",
        "",
        "- [`gobox.toml`](#gobox-toml) at the root of a Go project says how gobox builds it; commit it,"
        " with the `gobox.lock` gobox writes next to it.",
        "  [`gobox.toml.example`](../gobox.toml.example) shows each key with a comment.",
        "- [`config.toml`](#config-toml) is your own: where toolchains come from, and network settings.",
        "",
        "A default of *unset* means the key has no value of its own; its description says what applies"
        " then. Sizes are bytes or a string such as `\"512MiB\"` or `\"2GiB\"`. Where a type gives a range,"
        " a value outside it is refused when the file is read, so `--dry-run` sees it; no string, nor key,"
        " may hold a NUL character, since each ends up as a path, an argument or an environment variable.",
        "",
        "## gobox.toml",
        "",
        "gobox finds it in the current directory or the nearest one above (`-C DIR` starts elsewhere);"
        " a go.mod with no gobox.toml beside it is a project too, with every default."
        " An unknown table or key is an error, reported with its line.",
    ]
    for table, keys in SCHEMA.items():
        out += ["", f"### [{table}]", "", TABLES[table], "",
                "| Key | Type | Default | Description |", "|---|---|---|---|"]
        out += [f"| `{k.name}` | {_cell(_type_cell(k))} | {_cell(_default_cell(k.default))} | {_cell(k.doc)} |"
                for k in keys.values()]
    out += [
        "",
        "## config.toml",
        "",
        "Your own settings, for every project: `config.toml` in the user config directory"
        " (`~/.config/gobox/config.toml` on Linux, or under `$XDG_CONFIG_HOME`); `GOBOX_CONFIG` names"
        " another file. Each key's environment variable overrides the file (a list's variable is"
        " comma-separated, e.g. `GOBOX_TOOLCHAIN_SOURCES=pypi,go.dev`).",
    ]
    for table, settings in USER_SCHEMA.items():
        out += ["", f"### [{table}]", "", USER_TABLES[table], "",
                "| Key | Type | Default | Environment | Description |", "|---|---|---|---|---|"]
        out += [f"| `{s.name}` | {s.kind} | {_cell(_default_cell(s.default))} | `{s.env}` | {_cell(s.doc)} |"
                for s in settings.values()]
    return "\n".join(out) + "\n"
