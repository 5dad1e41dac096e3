"""gobox.names: pure (the standard library and gobox.errors only), one Platform type, and one error for a bad name."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gobox.errors import EXIT_USAGE, InvalidName, UsageError
from gobox.names.platform import Platform, host, host_platform
from gobox.names.reference import Reference
from gobox.names.targets import Target, expand, parse_target
from gobox.names.versions import GoVersion

REPO = Path(__file__).resolve().parent.parent.parent


def test_names_import_nothing_of_gobox_but_errors_and_values() -> None:
    # A fresh interpreter, so that what other tests imported does not count.
    code = (
        "import sys, gobox.names.platform, gobox.names.reference, gobox.names.targets, gobox.names.versions\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('gobox'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout.split()
    assert set(out) - {"gobox", "gobox.errors", "gobox.values"} == {
        "gobox.names", "gobox.names.platform", "gobox.names.reference", "gobox.names.targets",
        "gobox.names.versions",
    }


@pytest.mark.parametrize("parse", [
    lambda: GoVersion.parse("1.22.x"),
    lambda: Reference.parse("Golang:1.22"),
    lambda: Reference.parse("golang").with_tag(".bad"),
    lambda: Platform.parse("linux"),
    lambda: parse_target("linux/amd64/v9"),
    lambda: expand(["bsd/amd64"], (), GoVersion.parse("1.22.0")),
])
def test_a_bad_name_is_an_invalid_name_that_exits_as_usage(parse: Callable[[], object]) -> None:
    with pytest.raises(InvalidName) as e:
        parse()
    # Callers that catch a bad argument still catch it, and the exit code is the CLI's for bad usage.
    assert isinstance(e.value, UsageError) and e.value.exit_code == EXIT_USAGE


def test_a_cross_target_an_image_platform_and_the_host_are_one_type() -> None:
    target = parse_target("linux/arm/7")
    image = Platform.parse("linux/arm/v7")
    assert Target is Platform and target == image and hash(target) == hash(image)
    assert target.env() == (("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "7"))
    assert isinstance(host(), Platform) and str(host()) == host_platform()
    assert host_platform().count("/") == 1
