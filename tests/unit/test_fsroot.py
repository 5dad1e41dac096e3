"""gobox.fsroot on real trees: symlinks resolved inside a root never reach the host, and trees are
written beneath a root without following any symlink; openat2 and the portable walk agree."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gobox import fsroot


@pytest.fixture(params=["openat2", "walk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs twice: with the kernel's openat2, and with the walk that stands in for it."""
    if request.param == "walk":
        monkeypatch.setattr(fsroot, "_openat2_state", [False])
    return request.param


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    """A root whose symlinks point at the host, and the host directory they name."""
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "passwd").write_text("host-root:x:0:0::/:/bin/sh\n")
    root = tmp_path / "root"
    (root / "real" / "etc").mkdir(parents=True)
    (root / "real" / "etc" / "passwd").write_text("image:x:1:1::/:/bin/sh\n")
    (root / "etc").symlink_to(host / "etc")  # absolute: the host's path, read as the image's
    (root / "up").symlink_to("../../host/etc")  # relative, climbing past the root
    (root / "rel").symlink_to("real/etc")
    (root / "loop").symlink_to("loop")
    return root, host


def _read_in_root(root: Path, path: str) -> str:
    fd = fsroot.open_in_root(str(root), path, os.O_RDONLY)
    with os.fdopen(fd) as f:
        return f.read()


def test_absolute_symlink_resolves_inside_the_root(tmp_path: Path, mode: str) -> None:
    root, host = _tree(tmp_path)
    # /etc -> <host>/etc names <root>/<host>/etc, which does not exist: never the host's file.
    with pytest.raises(FileNotFoundError):
        _read_in_root(root, "/etc/passwd")
    (root / str(host).lstrip("/") / "etc").mkdir(parents=True)
    (root / str(host).lstrip("/") / "etc" / "passwd").write_text("inside\n")
    assert _read_in_root(root, "/etc/passwd") == "inside\n"


def test_dotdot_stops_at_the_root(tmp_path: Path, mode: str) -> None:
    root, _ = _tree(tmp_path)
    with pytest.raises(FileNotFoundError):
        _read_in_root(root, "/up/passwd")
    assert _read_in_root(root, "/../../../real/etc/passwd").startswith("image:")
    assert _read_in_root(root, "rel/passwd").startswith("image:")
    (root / "real" / "abs").symlink_to("/real/etc")  # absolute, from a subdirectory: back to the root
    assert _read_in_root(root, "real/abs/passwd").startswith("image:")


def test_symlink_loops_end(tmp_path: Path, mode: str) -> None:
    root, _ = _tree(tmp_path)
    with pytest.raises(OSError) as e:
        _read_in_root(root, "/loop/x")
    assert e.value.errno == errno.ELOOP


def test_makedirs_in_root_follows_the_image_symlink_inside(tmp_path: Path) -> None:
    root, host = _tree(tmp_path)
    (root / "gobox").symlink_to(host / "dir")
    where = fsroot.resolve_in_root(str(root), "/gobox/cache/go-build", make_parents=True)
    fd = fsroot.makedirs_in_root(str(root), "/gobox/cache/go-build")
    os.close(fd)
    assert not (host / "dir").exists()
    assert Path(where).is_relative_to(root)
    assert (root / str(host).lstrip("/") / "dir" / "cache" / "go-build").is_dir()


def test_resolve_in_root_names_a_missing_last_component(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    (root / "real" / "run").mkdir()
    (root / "real" / "etc" / "resolv.conf").symlink_to("../run/stub-resolv.conf")
    assert fsroot.resolve_in_root(str(root), "/rel/resolv.conf") == str(root / "real" / "run" / "stub-resolv.conf")


def test_beneath_refuses_any_symlink(tmp_path: Path, mode: str) -> None:
    root, host = _tree(tmp_path)
    for path in ("etc/passwd", "rel/passwd", "real/../etc/passwd"):
        with pytest.raises(OSError) as e:
            os.close(fsroot.open_beneath(str(root), path, os.O_RDONLY))
        assert e.value.errno in (errno.ELOOP, errno.EXDEV), path
    with pytest.raises(OSError):
        os.close(fsroot.open_beneath(str(root), "etc/new", os.O_WRONLY | os.O_CREAT))
    with pytest.raises(OSError):
        os.close(fsroot.makedirs_beneath(str(root), "etc/sub"))
    assert sorted(os.listdir(host / "etc")) == ["passwd"]
    fd = fsroot.open_beneath(str(root), "real/etc/passwd", os.O_RDONLY)
    os.close(fd)


def test_parent_beneath_makes_parents_and_refuses_symlinked_ones(tmp_path: Path) -> None:
    root, host = _tree(tmp_path)
    fd, name = fsroot.parent_beneath(str(root), "a/b/c")
    try:
        os.symlink("x", name, dir_fd=fd)
    finally:
        os.close(fd)
    assert (root / "a" / "b" / "c").is_symlink()
    with pytest.raises(OSError):
        fsroot.parent_beneath(str(root), "etc/x")
    assert not (host / "etc" / "x").exists()


# A fixed skeleton (directories a and a/b, a file in each) with symlinks in three places whose targets
# are drawn: absolute, relative, climbing, dangling, looping. Whatever they are, openat2 and the walk
# open the same file, or both refuse.
_names = st.sampled_from(["a", "b", "f", "l1", "l2", "l3", ".."])
_paths = st.lists(_names, min_size=1, max_size=4).map("/".join)
_targets = st.one_of(st.none(), _paths, _paths.map("/".__add__),
                     st.sampled_from(["/a/f", "/a/b", "../f", "b/f", "/l1", "..", "/", "/a/l2", "l3/..", "../../.."]))
# Paths into the tree that mostly reach one of the symlinks, then go on.
_into = st.builds(lambda where, link, tail: where + link + tail,
                  st.sampled_from(["", "/", "a/", "/a/", "a/b/", "a/../a/"]), st.sampled_from(["l1", "l2", "l3"]),
                  st.one_of(st.just(""), _paths.map("/".__add__)))
_entries = st.fixed_dictionaries({"l1": _targets, "a/l2": _targets, "a/b/l3": _targets})


def _build(root: Path, links: dict) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "f").write_text("a/f")
    (root / "a" / "b" / "f").write_text("a/b/f")
    for rel, target in links.items():
        if target is not None:
            (root / rel).symlink_to(target)


def _outcome(root: Path, path: str) -> tuple[str, object]:
    try:
        fd = fsroot.open_in_root(str(root), path, os.O_RDONLY)
    except OSError as e:
        return "error", e.errno
    try:
        st_ = os.fstat(fd)
        return "ok", (st_.st_dev, st_.st_ino)
    finally:
        os.close(fd)


@settings(max_examples=400,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=_entries, path=st.one_of(_into, _paths, _paths.map("/".__add__)))
def test_openat2_and_the_walk_agree(tmp_path_factory: pytest.TempPathFactory, entries: list, path: str) -> None:
    root = tmp_path_factory.mktemp("t") / "root"
    root.mkdir()
    _build(root, entries)
    fsroot._openat2_state[:] = []
    kernel = _outcome(root, path)
    if fsroot._openat2_state == [False]:
        pytest.skip("this kernel has no openat2")
    fsroot._openat2_state[:] = [False]
    try:
        walked = _outcome(root, path)
    finally:
        fsroot._openat2_state[:] = []
    assert kernel[0] == walked[0], (entries, path, kernel, walked)
    if kernel[0] == "ok":
        assert kernel == walked
        # Whatever was opened lies inside the root.
        fd = fsroot.open_in_root(str(root), path, os.O_RDONLY)
        try:
            assert Path(fsroot.fd_path(fd)).is_relative_to(root)
        finally:
            os.close(fd)
