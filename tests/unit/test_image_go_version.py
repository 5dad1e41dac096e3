"""Which Go an image holds: its GOLANG_VERSION, else /usr/local/go/VERSION as its layers stack up."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))
from support.mirror import make_tarball

from gobox.oci.layer import extract_layer
from gobox.oci.manifest import ImageConfig
from gobox.toolchains.image import go_version_of

VERSION = "usr/local/go/VERSION"


def config(*env: str) -> ImageConfig:
    return ImageConfig(env=env, entrypoint=None, cmd=None, working_dir="", user="", labels=(), os="linux",
                       architecture="amd64", variant="", diff_ids=())


def layers(tmp_path: Path, *members: list) -> tuple[Path, ...]:
    """Layers unpacked as gobox unpacks them (whiteouts as 0/0 devices, opaque directories as xattrs)."""
    out = []
    for i, m in enumerate(members):
        dest = tmp_path / f"layer{i}"
        dest.mkdir(parents=True)
        try:
            extract_layer(io.BytesIO(make_tarball(m)), dest)
        except PermissionError as e:  # a whiteout is a device node, an opaque dir a user xattr
            pytest.skip(f"cannot unpack whiteouts here: {e}")
        out.append(dest)
    return tuple(out)


def test_golang_version_in_the_env_wins(tmp_path: Path) -> None:
    go = layers(tmp_path, [(VERSION, "file", "go1.21.0\n")])
    assert go_version_of(config("PATH=/bin", "GOLANG_VERSION=1.22.10"), go) == "go1.22.10"
    assert go_version_of(config("GOLANG_VERSION=go1.23rc1"), ()) == "go1.23rc1"


def test_the_version_file_first_line(tmp_path: Path) -> None:
    go = layers(tmp_path, [(VERSION, "file", "go1.22.10\ntime 2024-11-27T00:00:00Z\n")])
    assert go_version_of(config("GOLANG_VERSION="), go) == "go1.22.10"


def test_no_go_at_all(tmp_path: Path) -> None:
    assert go_version_of(config(), layers(tmp_path, [("etc/motd", "file", "hi\n")])) is None
    assert go_version_of(config(), layers(tmp_path / "empty", [(VERSION, "file", "\n")])) is None


def test_the_topmost_layer_with_the_file_decides(tmp_path: Path) -> None:
    stack = layers(tmp_path, [(VERSION, "file", "go1.21.13\n")], [("etc/motd", "file", "x\n")],
                   [(VERSION, "file", "go1.22.10\n")])
    assert go_version_of(config(), stack) == "go1.22.10"


@pytest.mark.parametrize("upper", [
    [("usr/local/go/.wh.VERSION", "file", "")],  # the file whited out
    [("usr/local/.wh.go", "file", "")],  # the whole tree whited out
    [("usr/local/go/.wh..wh..opq", "file", ""), ("usr/local/go/bin/go", "file", "")],  # made opaque
    [("usr/.wh..wh..opq", "file", ""), ("usr/bin/true", "file", "")],  # opaque higher up
])
def test_upper_layers_hide_a_lower_go(tmp_path: Path, upper: list) -> None:
    stack = layers(tmp_path, [(VERSION, "file", "go1.21.13\n")], upper)
    assert go_version_of(config(), stack) is None


def test_an_opaque_directory_keeps_its_own_file(tmp_path: Path) -> None:
    stack = layers(tmp_path, [(VERSION, "file", "go1.21.13\n")],
                   [("usr/local/go/.wh..wh..opq", "file", ""), (VERSION, "file", "go1.22.10\n")])
    assert go_version_of(config(), stack) == "go1.22.10"


def test_a_symlink_in_an_image_is_followed_inside_it_only(tmp_path: Path) -> None:
    # /usr/local/go -> a directory of this host: its VERSION must not be read as the image's Go.
    host = tmp_path / "host-go"
    host.mkdir()
    (host / "VERSION").write_text("go1.99.0\n")
    stack = layers(tmp_path, [(VERSION, "file", "go1.21.13\n")], [("usr/local/go", "symlink", str(host))])
    assert os.path.islink(stack[1] / "usr/local/go")
    assert go_version_of(config(), stack) is None
    leaf = layers(tmp_path / "leaf", [(VERSION, "symlink", str(host / "VERSION"))])
    assert go_version_of(config(), leaf) is None
    # The same link to a Go the image itself holds there names that Go.
    inside = layers(tmp_path / "inside", [(f"{str(host).lstrip('/')}/VERSION", "file", "go1.23.4\n")],
                    [("usr/local/go", "symlink", str(host))])
    assert go_version_of(config(), inside) == "go1.23.4"
