"""The user's own settings: config.toml in the user config directory (schema.USER_SCHEMA), then GOBOX_* variables."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gobox import schema
from gobox.errors import ConfigError
from gobox.tomlfile import display, line_of, parse_toml, read_text
from gobox.values import dataclass

SOURCE_NAMES = ("go.dev", "pypi")


@dataclass(frozen=True)
class Settings:
    """The user's own configuration: config.toml in the user config dir, then GOBOX_* variables."""

    sources: tuple[str, ...] = SOURCE_NAMES
    go_dev_url: str = "https://go.dev/dl/"
    pypi_url: str = "https://pypi.org/simple/"
    timeout: float = 30.0  # seconds without a byte before a download is abandoned
    # Registries reached over plain HTTP besides localhost and 127.0.0.1 (which always may be).
    insecure_registries: tuple[str, ...] = ()
    # Bytes of a manifest, index, image config or toolchain index read at most (what registries commonly allow).
    max_metadata_size: int = 4 << 20
    # A layer may unpack to layer_ratio times its compressed size (at least 256 MiB), and never past layer_size.
    layer_ratio: float = 100.0
    layer_size: int = 64 << 30

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        path = Path(env["GOBOX_CONFIG"]) if env.get("GOBOX_CONFIG") else _user_config_path()
        values: dict[str, Any] = {}
        try:
            exists = path.is_file()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the user config: {e.strerror}",
                              hint="set GOBOX_CONFIG to a readable file, or HOME to your own directory") from None
        if exists:
            values.update(_settings_from_file(path))
        if env.get("GOBOX_TOOLCHAIN_SOURCES"):
            values["sources"] = _check_sources(
                [s.strip() for s in env["GOBOX_TOOLCHAIN_SOURCES"].split(",") if s.strip()],
                "GOBOX_TOOLCHAIN_SOURCES")
        for var, key in (("GOBOX_GO_DEV_URL", "go_dev_url"), ("GOBOX_PYPI_URL", "pypi_url")):
            if env.get(var):
                values[key] = _check_url(env[var], var)
        if env.get("GOBOX_INSECURE_REGISTRIES"):
            values["insecure_registries"] = _check_hosts(env["GOBOX_INSECURE_REGISTRIES"].split(","),
                                                         "GOBOX_INSECURE_REGISTRIES")
        if env.get("GOBOX_MAX_METADATA_SIZE"):
            values["max_metadata_size"] = _check_size(env["GOBOX_MAX_METADATA_SIZE"], "GOBOX_MAX_METADATA_SIZE")
        if env.get("GOBOX_HTTP_TIMEOUT"):
            try:
                values["timeout"] = float(env["GOBOX_HTTP_TIMEOUT"])
                if not 0 < values["timeout"] < math.inf:  # nan too
                    raise ValueError
            except ValueError:
                raise ConfigError(f"GOBOX_HTTP_TIMEOUT: expected seconds above 0, got "
                                  f"{env['GOBOX_HTTP_TIMEOUT']!r}") from None
        for var, key in (("GOBOX_LAYER_RATIO", "layer_ratio"), ("GOBOX_LAYER_SIZE", "layer_size")):
            if env.get(var):
                values[key] = _check_limit(key, env[var], var)
        return cls(**values)


def _user_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("gobox", appauthor=False)) / "config.toml"


_SETTINGS_KEYS: dict[tuple[str, str | None], str] = {  # looked up with None for a top-level key
    ("toolchains", "sources"): "sources",
    ("toolchains", "go-dev-url"): "go_dev_url",
    ("toolchains", "pypi-url"): "pypi_url",
    ("network", "timeout"): "timeout",
    ("registries", "insecure"): "insecure_registries",
    ("network", "max-metadata-size"): "max_metadata_size",
    ("limits", "layer-ratio"): "layer_ratio",
    ("limits", "layer-size"): "layer_size",
}


def _settings_from_file(path: Path) -> dict[str, Any]:
    name = display(path)
    text = read_text(path)
    doc = parse_toml(text, name)
    out: dict[str, Any] = {}
    for table, body in doc.items():
        for key, value in (body.items() if isinstance(body, dict) else [(None, body)]):
            where = f"{name}:{line_of(text, (table, key) if key else (table,)) or '?'}"
            attr = _SETTINGS_KEYS.get((table, key))
            allowed = ", ".join(f"{t}.{k}" for t, k in _SETTINGS_KEYS)
            if attr is None:
                raise ConfigError(f"{where}: {table}.{key}: unknown key (allowed: {allowed})")
            label = f"{where}: {table}.{key}"
            if attr == "sources":
                if not isinstance(value, list):
                    raise ConfigError(f"{label}: expected a list such as [\"go.dev\", \"pypi\"]")
                out[attr] = _check_sources(value, label)
            elif attr == "insecure_registries":
                if not isinstance(value, list):
                    raise ConfigError(f"{label}: expected a list such as [\"registry.lan:5000\"]")
                out[attr] = _check_hosts(value, label)
            elif attr == "max_metadata_size":
                out[attr] = _check_size(value, label)
            elif attr == "timeout":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                    raise ConfigError(f"{label}: expected seconds above 0")
                out[attr] = float(value)
            elif attr in ("layer_ratio", "layer_size"):
                out[attr] = _check_limit(attr, value, label)
            else:
                out[attr] = _check_url(value, label)
    return out


def _check_limit(attr: str, value: Any, where: str) -> float | int:
    """limits.layer-ratio (a finite number, at least 1) or limits.layer-size (a size), from the file or a variable."""
    if attr == "layer_ratio":
        try:
            ratio = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
        except (ValueError, OverflowError):
            ratio = None
        if ratio is None or not math.isfinite(ratio) or ratio < 1:
            raise ConfigError(f"{where}: expected how many times its compressed size a layer may unpack to, "
                              f"a number of at least 1 such as 100, got {value!r}")
        return ratio
    return _check_size(value, where, example="64GiB")


def _check_sources(names: list[Any], where: str) -> tuple[str, ...]:
    for n in names:
        if n not in SOURCE_NAMES:
            raise ConfigError(f"{where}: unknown toolchain source {n!r} "
                              f"(allowed: {', '.join(SOURCE_NAMES)})")
    if not names:
        raise ConfigError(f"{where}: needs at least one toolchain source")
    return tuple(names)


def _check_hosts(values: list[Any], where: str) -> tuple[str, ...]:
    hosts = []
    for v in values:
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?", v.strip()):
            raise ConfigError(f"{where}: expected registry hosts such as \"registry.lan:5000\", got {v!r}")
        hosts.append(v.strip())
    return tuple(hosts)


def _check_size(value: Any, where: str, example: str = "4MiB") -> int:
    size = schema.parse_size(value) if isinstance(value, (int, str)) else None
    if size is None:
        raise ConfigError(f"{where}: expected a size such as \"{example}\" or {schema.parse_size(example)}, "
                          f"got {value!r}")
    return size


def _check_url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://", value):
        raise ConfigError(f"{where}: expected an http(s):// URL, got {value!r}")
    return value if value.endswith("/") else value + "/"
