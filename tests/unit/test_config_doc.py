"""docs/config.md is what gobox/schema.py generates, and the user config's schema matches settings.Settings."""

from __future__ import annotations

import inspect
from pathlib import Path

from gobox import schema, settings
from gobox.schema.markdown import reference_markdown

REPO = Path(__file__).resolve().parent.parent.parent


def test_config_md_is_generated_from_the_schema() -> None:
    written = (REPO / "docs" / "config.md").read_text()
    assert written == reference_markdown(), (
        "docs/config.md differs from gobox/schema.py; regenerate it with\n"
        "  python -m gobox.schema --markdown > docs/config.md")


def test_config_md_names_every_table_and_key() -> None:
    text = reference_markdown()
    for tables in (schema.SCHEMA, schema.USER_SCHEMA):
        for table, keys in tables.items():
            assert f"### [{table}]" in text
            for name in keys:
                assert f"| `{name}` |" in text, f"{table}.{name}"


def test_choices_are_what_the_check_allows() -> None:
    for keys in schema.SCHEMA.values():
        for key in keys.values():
            for choice in key.choices:
                assert key.check(choice) is None, (key.name, choice)
            if key.choices:
                assert key.check("no-such-value") is not None


def test_user_schema_is_what_settings_reads() -> None:
    documented = {(table, name) for table, keys in schema.USER_SCHEMA.items() for name in keys}
    assert documented == set(settings._SETTINGS_KEYS)
    defaults = settings.Settings()
    load = inspect.getsource(settings.Settings.load)
    for (table, name), attr in settings._SETTINGS_KEYS.items():
        setting = schema.USER_SCHEMA[table][name]
        value = getattr(defaults, attr)
        default = schema.parse_size(setting.default) if setting.kind == "size" else setting.default
        assert (list(value) if isinstance(value, tuple) else value) == default, f"{table}.{name}"
        assert f'"{setting.env}"' in load, f"{table}.{name}: {setting.env} is not read by Settings.load"
