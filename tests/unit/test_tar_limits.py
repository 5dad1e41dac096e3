"""limits.layer-ratio and limits.layer-size: read from config.toml and GOBOX_* variables, checked when read,
and turned into the budget a layer is unpacked under."""

from __future__ import annotations

from pathlib import Path

import pytest

from gobox.errors import ConfigError
from gobox.oci.layer import Limits
from gobox.settings import Settings


def load(tmp_path: Path, text: str = "", **env: str) -> Settings:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    return Settings.load({"GOBOX_CONFIG": str(cfg), **env})


def test_defaults_allow_100_times_and_64_gib(tmp_path: Path) -> None:
    limits = Limits.from_settings(load(tmp_path))
    assert (limits.ratio, limits.size) == (100, 64 << 30)
    assert limits.budget(10 << 20) == 1000 << 20


def test_the_file_sets_them_and_the_environment_wins(tmp_path: Path) -> None:
    s = load(tmp_path, '[limits]\nlayer-ratio = 500\nlayer-size = "128GiB"\n')
    assert (s.layer_ratio, s.layer_size) == (500, 128 << 30)
    s = load(tmp_path, '[limits]\nlayer-ratio = 500\n', GOBOX_LAYER_RATIO="2000", GOBOX_LAYER_SIZE="1TiB")
    assert (s.layer_ratio, s.layer_size) == (2000, 1 << 40)
    assert Limits.from_settings(s).budget(1 << 30) == 1 << 40


@pytest.mark.parametrize("text, env, message", [
    ("[limits]\nlayer-ratio = 0.5\n", {}, r"config.toml:2: limits.layer-ratio: expected .* at least 1"),
    ("[limits]\nlayer-ratio = nan\n", {}, "limits.layer-ratio: expected"),
    ("[limits]\nlayer-ratio = \"lots\"\n", {}, "limits.layer-ratio: expected"),
    ("[limits]\nlayer-size = \"big\"\n", {},
     r"limits.layer-size: expected a size such as \"64GiB\" or 68719476736, got 'big'"),
    ("[limits]\nlayer-size = -1\n", {}, "limits.layer-size: expected a size"),
    ("[limits]\nlayer-size = true\n", {}, "limits.layer-size: expected a size"),
    ("[limits]\nlayers = 1\n", {}, "limits.layers: unknown key"),
    ("", {"GOBOX_LAYER_RATIO": "inf"}, "GOBOX_LAYER_RATIO: expected"),
    ("", {"GOBOX_LAYER_RATIO": "1e999"}, "GOBOX_LAYER_RATIO: expected"),
    ("", {"GOBOX_LAYER_SIZE": "9" * 400 + "GiB"}, "GOBOX_LAYER_SIZE: expected a size"),
    ("", {"GOBOX_LAYER_SIZE": "0"}, "GOBOX_LAYER_SIZE: expected a size"),
])
def test_bad_values_are_one_config_error(tmp_path: Path, text: str, env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text, **env)
