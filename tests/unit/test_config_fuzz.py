"""The gobox.toml and gobox.lock loaders, fed what an attacker or a slip of the keyboard would write: random
documents made of the schema's own tables and keys with values of every type and range, and random text.
Whatever comes in, what comes out is a Project (a Lock) or one ConfigError line, in bounded time."""

from __future__ import annotations

import dataclasses
import datetime
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gobox import schema
from gobox.cli.options import CPUS, ENV, MEMORY, MOUNT, PIDS, Checked
from gobox.config import Config, Project, load_project, parse_config
from gobox.errors import ConfigError
from gobox.lock import Lock, parse_lock


# A bound on each example, to catch a hang or a blow-up (a regex that backtracks, a recursion), not to time
# anything: every example takes milliseconds, so this is hundreds of times what it needs.
def bounded(examples: int) -> settings:
    return settings(max_examples=examples, deadline=datetime.timedelta(seconds=10),
                    suppress_health_check=[HealthCheck.too_slow])

# Strings that mean something to some key, and their near misses.
MEANINGFUL = ["", " ", "none", "host", "scratch", "auto", "modules", "gopath", "1.22", "1.22.10", "go1.22",
              "1.23rc1", "latest", "golang:1.22", "Hello:1", "a@sha256:" + "a" * 64, "512MiB", "2GiB", "1e3GiB",
              "0B", "-1", "9" * 40 + "TiB", "1.5", "/data:/data:ro", "/a:rel", "a:b:c:d", "/", "/app", "/a/../b",
              "./...", "{name}_{os}_{arch}{variant}", "{nope}", "linux/amd64", "linux/arm/v7", "zig", "*",
              "github.com/you/tool", "../x", "a//b", "A=B", "=", "8080/tcp", "70000", "nonroot", "\0", "a\0b",
              "\n", "é", "\u202e", "x" * 300, "9" * 400, "9" * 400 + "MiB"]
KEYS = [k for keys in schema.SCHEMA.values() for k in keys] + ["git", "hg", "rev", "subdir", "version", "*",
                                                               "linux/arm64", "A=B", "", "a\0", "unknown"]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 4194304, 4194305, 2**63 - 1, 2**63, 10**20]),
    st.builds(lambda: 2**15000),  # more decimal digits (4516) than Python turns into text: repr raises
    st.floats(),  # nan and both infinities among them
    st.sampled_from(MEANINGFUL),
    TEXT,
    st.dates(),
    st.datetimes(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | TEXT, inner, max_size=4), max_leaves=12)


def key(k: str) -> str:
    """A TOML key: bare when it can be."""
    return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else string(k)


def string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml(v: Any) -> str:
    """A value as TOML writes it inline."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return hex(v) if v > 10**4000 else str(v)  # TOML has no sign on hex: only huge positive ones are hex
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    return "{ " + ", ".join(f"{key(k)} = {toml(x)}" for k, x in v.items()) + " }"


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A gobox.toml of the schema's tables (and a stranger) and keys, with values of any type."""
    lines = []
    for table in draw(st.lists(st.sampled_from([*schema.SCHEMA, "gopher"]), max_size=4, unique=True)):
        lines.append(f"[{table}]")
        known = list(schema.SCHEMA.get(table, {})) or ["x"]
        for name in draw(st.lists(st.sampled_from([*known, "nope"]), max_size=5, unique=True)):
            lines.append(f"{key(name)} = {toml(draw(values))}")
    return "\n".join(lines) + "\n"


@st.composite
def deep(draw: st.DrawFn) -> str:
    """Arrays and inline tables in one another, as deep as a file can make them."""
    depth = draw(st.integers(1, 3000))
    opening, closing = draw(st.sampled_from([("[", "]"), ("{ a = ", " }")]))
    return f"[{draw(st.sampled_from(list(schema.SCHEMA)))}]\nx = {opening * depth}1{closing * depth}\n"


def strings(v: Any) -> list[str]:
    """Every string a value holds, keys of mappings included, however deep."""
    if isinstance(v, str):
        return [v]
    if dataclasses.is_dataclass(v):
        return [x for f in dataclasses.fields(v) for x in strings(getattr(v, f.name))]
    if isinstance(v, Mapping):
        return [x for k, y in v.items() for x in strings(k) + strings(y)]
    if isinstance(v, (list, tuple)):
        return [x for y in v for x in strings(y)]
    return []


def usable(config: Config) -> None:
    """What the kernel will take of a Config that was let through: no NUL in any string (a path, an argument or
    a variable), variable names execve can carry, limits cgroups accept."""
    assert not [x for x in strings(config) if "\0" in x]
    for env in (config.build.env, config.image.env):
        assert all(name and "=" not in name for name in env)
    s = config.sandbox
    assert s.pids is None or 1 <= s.pids <= 4194304
    assert s.cpus is None or (math.isfinite(s.cpus) and 0 < s.cpus <= 8192)
    assert s.memory is None or 0 < s.memory < 2**63


def load(text: str) -> Project | None:
    """load_project of a directory whose gobox.toml is `text`; None when it is refused with a ConfigError."""
    with tempfile.TemporaryDirectory() as d:
        Path(d, "gobox.toml").write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            return load_project(Path(d))
        except ConfigError as e:
            assert e.message and "\n" not in e.message, e.message
            return None


@bounded(250)
@given(documents() | deep())
@example("[sandbox]\npids = 100000000000000000000\n")
@example("[build]\noutput = \"\\u0000\"\n")
@example("[sandbox]\ncpus = nan\n")
@example("[sandbox]\ncpus = 1e999\n")
@example('[sandbox]\nmemory = "' + "9" * 400 + '"\n')  # float(digits) was inf, int(inf) an OverflowError
@example("[go]\nversion = " + hex(2**15000) + "\n")  # repr of the int, in the message, a ValueError
@example("a = " + "{ b = " * 2000 + "1" + " }" * 2000 + "\n")  # RecursionError in tomllib
@example("[build.env]\n\"A=B\" = \"x\"\n")
def test_any_gobox_toml_is_a_project_or_one_config_error(text: str) -> None:
    try:
        usable(parse_config(text, "gobox.toml"))
    except ConfigError as e:
        assert e.message.startswith("gobox.toml") and "\n" not in e.message, e.message
    project = load(text)
    assert project is None or isinstance(project, Project)


@bounded(200)
@given(st.text(st.sampled_from('[]{}="\'#.,:\n \\tabcxyz019-_+e') | st.characters(), max_size=80))
@example("a = " + "[" * 5000)
def test_any_text_is_a_project_or_one_config_error(text: str) -> None:
    project = load(text)  # which lets only a ConfigError of one line pass as a refusal
    assert project is None or isinstance(project, Project)


LOCK_KEYS = ["version", "go", "artifacts", "images", "platform", "source", "filename", "url", "sha256", "size",
             "reference", "digest", "image", "ca-certificates", "vendor", "deps", "path", "vcs", "rev", "commit",
             "tree"]


LOCK_VALUES = st.recursive(scalars | st.sampled_from(["git", "hg", "a" * 64, "0" * 40, "sha256:" + "0" * 64]),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(LOCK_KEYS), inner, max_size=4), max_leaves=16)


@st.composite
def locks(draw: st.DrawFn) -> str:
    """A gobox.lock of its own keys, nested anyhow, with values of any type."""
    doc = draw(st.dictionaries(st.sampled_from(LOCK_KEYS), LOCK_VALUES, max_size=5))
    if draw(st.booleans()):
        doc["version"] = 1
    return "\n".join(f"{key(k)} = {toml(v)}" for k, v in doc.items()) + "\n"


@bounded(150)
@given(locks())
@example('version = 1\n[go]\nartifacts = "x"\n')  # iterated as a string: AttributeError
@example("version = 1\n[vendor]\ndeps = [1]\n")
@example("version = " + hex(2**15000) + "\n")
def test_any_gobox_lock_is_a_lock_or_one_config_error(text: str) -> None:
    try:
        lock = parse_lock(text, "gobox.lock")
    except ConfigError as e:
        assert e.message.startswith("gobox.lock") and "\n" not in e.message, e.message
    else:
        assert isinstance(lock, Lock)


OPTIONS = [(CPUS, "cpus_problem"), (PIDS, "pids_problem"), (MEMORY, "memory_problem"), (MOUNT, "mount_problem"),
           (ENV, "env_problem")]


@bounded(300)
@pytest.mark.parametrize("kind, rule", OPTIONS, ids=[r for _, r in OPTIONS])
@given(text=st.sampled_from(MEANINGFUL) | st.text(st.sampled_from("0123456789.eE+-_xXnaifNAIF=:/ro"), max_size=12)
       | TEXT)
@example(text="nan")
@example(text="1e999")
@example(text="9" * 5000)
def test_a_command_line_value_is_what_its_key_allows_or_a_click_error(kind: Checked, rule: str, text: str) -> None:
    import click

    try:
        value = kind.convert(text, None, None)
    except click.BadParameter as e:
        assert "\n" not in e.message
    else:
        # None: a bare -e NAME the caller's environment lacks, dropped as docker drops it.
        assert (value is None and kind is ENV and "=" not in text) or getattr(schema, rule)(value) is None
