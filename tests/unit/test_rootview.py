"""gobox.imagestore.rootview on real layer directories: a path in an image's root is what overlayfs shows there,
whiteouts and opaque directories hide, symlinks stay inside the image, and a real overlay mount agrees."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gobox.errors import ConfigError
from gobox.imagestore import rootview
from gobox.imagestore.rootview import lookup, read_bytes, read_lines

# A layer as (path, kind, extra) triples, made in order: kind is file (extra = content; default: a marker
# naming the layer and path), dir, opaque (a directory marked y), link (extra = target), whiteout (a 0/0
# character device) or xwhiteout (an empty file with the whiteout xattr, its directory marked x).
Spec = Sequence[tuple[str, str, str]]


def make_layers(base: Path, specs: Sequence[Spec]) -> tuple[Path, ...]:
    """Layer directories, bottom first, as gobox/imagestore/unpack.py leaves them. An entry under a non-directory
    of its own layer is left out (a layer is a tree); so is one whose path the layer already has."""
    out = []
    for i, spec in enumerate(specs):
        layer = base / f"layer{i}"
        layer.mkdir(parents=True)
        for path, kind, extra in spec:
            _make(layer, i, path, kind, extra)
        out.append(layer)
    return tuple(out)


def _make(layer: Path, i: int, path: str, kind: str, extra: str) -> None:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return
    d = layer
    for part in parts[:-1]:
        d = d / part
        if d.is_symlink() or (d.exists() and not d.is_dir()):
            return
        if not d.exists():
            d.mkdir()
    p = d / parts[-1]
    if p.exists() or p.is_symlink():
        return
    if kind == "file":
        p.write_text(extra or f"layer {i}: /{'/'.join(parts)}\n")
    elif kind in ("dir", "opaque"):
        p.mkdir()
        if kind == "opaque":
            os.setxattr(p, rootview.OPAQUE_XATTR, b"y")
    elif kind == "link":
        p.symlink_to(extra)
    elif kind == "whiteout":
        os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    elif kind == "xwhiteout":
        if _xattr(d, rootview.OPAQUE_XATTR) == b"y":  # an opaque directory holds no whiteouts
            return os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
        p.write_bytes(b"")
        os.setxattr(p, rootview.WHITEOUT_XATTR, b"")
        os.setxattr(d, rootview.OPAQUE_XATTR, b"x")
    else:
        raise ValueError(kind)


def _xattr(path: Path, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def resolved(layers: Sequence[Path], path: str) -> str | None:
    """What the resolver finds at `path`, as text; and it is always a file of one of the layers."""
    found = lookup(layers, path)
    if found is None:
        assert read_bytes(layers, path) is None
        return None
    assert any(found.is_relative_to(layer) for layer in layers), found
    assert stat.S_ISREG(found.lstat().st_mode)
    data = read_bytes(layers, path)
    assert data is not None
    return data.decode()


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A directory of this host that hostile layers point at: nothing in it may ever be read as the image's."""
    h = tmp_path / "host"
    (h / "etc").mkdir(parents=True)
    (h / "etc" / "passwd").write_text("builder:x:4242:4242:host:/host:/bin/sh\n")
    (h / "a").write_text("host a\n")
    return h


def _can_whiteout(tmp_path: Path) -> None:
    try:
        os.mknod(tmp_path / "probe-wh", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
        os.setxattr(tmp_path, "user.probe", b"1")
    except OSError as e:
        pytest.skip(f"cannot make whiteouts (0/0 devices, user xattrs) here: {e}")
    finally:
        (tmp_path / "probe-wh").unlink(missing_ok=True)


# --- what the overlay shows --------------------------------------------------------------------


def test_the_topmost_layer_with_the_file_decides(tmp_path: Path) -> None:
    layers = make_layers(tmp_path, [[("etc/passwd", "file", "low\n")], [("etc/group", "file", "g\n")],
                                    [("etc/passwd", "file", "high\n")]])
    assert resolved(layers, "/etc/passwd") == "high\n"
    assert resolved(layers, "etc/group") == "g\n"  # relative means from the root too
    assert lookup(layers, "/etc/passwd") == layers[2] / "etc" / "passwd"
    assert resolved(layers, "/etc/shadow") is None and resolved(layers, "/etc") is None
    assert resolved(layers, "/") is None and resolved((), "/etc/passwd") is None


def test_whiteouts_and_opaque_directories_hide_lower_layers(tmp_path: Path) -> None:
    _can_whiteout(tmp_path)
    low = [("etc/passwd", "file", "low\n"), ("etc/group", "file", "g\n"), ("opt/x", "file", "x\n"),
           ("var/y", "file", "y\n"), ("srv/z", "file", "z\n")]
    layers = make_layers(tmp_path, [low, [
        ("etc/passwd", "whiteout", ""),  # the file deleted
        ("opt", "opaque", ""),  # the directory replaced
        ("var/y", "xwhiteout", ""),  # deleted, overlayfs's xattr spelling
        ("srv", "file", "now a file\n"),  # a non-directory hides the directory below
    ]])
    assert resolved(layers, "/etc/passwd") is None
    assert resolved(layers, "/etc/group") == "g\n"
    assert resolved(layers, "/opt/x") is None
    assert resolved(layers, "/var/y") is None
    assert resolved(layers, "/srv/z") is None and resolved(layers, "/srv") == "now a file\n"
    # A directory above that file again: the merge stops at the file, the directory below stays hidden.
    again = make_layers(tmp_path / "again", [low, [("srv", "file", "")], [("srv/new", "file", "new\n")]])
    assert resolved(again, "/srv/new") == "new\n" and resolved(again, "/srv/z") is None


def test_an_opaque_directory_keeps_its_own_files_and_hides_only_below(tmp_path: Path) -> None:
    _can_whiteout(tmp_path)
    layers = make_layers(tmp_path, [[("opt/a", "file", "a0\n"), ("opt/b", "file", "b0\n")],
                                    [("opt", "opaque", ""), ("opt/a", "file", "a1\n")],
                                    [("opt/c", "file", "c2\n")]])
    assert resolved(layers, "/opt/a") == "a1\n"
    assert resolved(layers, "/opt/b") is None
    assert resolved(layers, "/opt/c") == "c2\n"


def test_an_opaque_mark_on_a_layers_root_hides_nothing(tmp_path: Path) -> None:
    # What overlayfs does (the property test below holds the resolver to the kernel's answers).
    _can_whiteout(tmp_path)
    layers = make_layers(tmp_path, [[("etc/passwd", "file", "low\n")], [("bin/sh", "file", "sh\n")]])
    os.setxattr(layers[1], rootview.OPAQUE_XATTR, b"y")
    assert resolved(layers, "/etc/passwd") == "low\n"


# --- symlinks stay inside the image --------------------------------------------------------------


def test_an_absolute_symlink_to_a_host_directory_is_the_images_path(tmp_path: Path, host: Path) -> None:
    layers = make_layers(tmp_path, [[("etc", "link", str(host / "etc")), ("a", "link", str(host / "a"))]])
    assert resolved(layers, "/etc/passwd") is None  # never the host's passwd
    assert resolved(layers, "/a") is None
    # The same path inside the image is where the link leads.
    own = make_layers(tmp_path / "own", [[("etc", "link", str(host / "etc")),
                                          (f"{host}/etc/passwd", "file", "own:x:5151:5151::/own:/bin/sh\n")]])
    assert read_lines(own, "/etc/passwd") == ["own:x:5151:5151::/own:/bin/sh"]
    assert lookup(own, "/etc/passwd").is_relative_to(own[0])


def test_relative_and_climbing_symlinks_stop_at_the_images_root(tmp_path: Path, host: Path) -> None:
    climb = "../" * (len(host.parts) + 3)
    layers = make_layers(tmp_path, [
        [("usr/lib/os-release", "file", "ID=test\n"), ("real/etc/passwd", "file", "image\n")],
        [("etc", "link", "real/etc"), ("usr/local/up", "link", f"{climb}usr/lib"),
         ("usr/local/host", "link", f"{climb}{str(host).lstrip('/')}/a"), ("os", "link", "/usr/local/up/os-release"),
         ("x/y", "link", "../../../../real/etc/passwd"), ("x/abs", "link", "/real/etc")],
    ])
    assert resolved(layers, "/etc/passwd") == "image\n"
    assert resolved(layers, "/usr/local/up/os-release") == "ID=test\n"
    assert resolved(layers, "/os") == "ID=test\n"
    assert resolved(layers, "/x/y") == "image\n"
    assert resolved(layers, "/x/abs/passwd") == "image\n"  # from the image's root, not from /x
    assert resolved(layers, "/usr/local/host") is None
    assert resolved(layers, "/../../../real/etc/passwd") == "image\n"


def test_a_symlink_in_a_lower_layer_is_seen_through_an_upper_directory(tmp_path: Path) -> None:
    # A link in one layer, its target's file in another: the merged root is what is walked.
    layers = make_layers(tmp_path, [[("etc", "link", "/data/etc")], [("data/etc/passwd", "file", "up\n")]])
    assert resolved(layers, "/etc/passwd") == "up\n"
    # An upper directory at the link's name hides the link.
    layers = make_layers(tmp_path / "2", [[("etc", "link", "/data/etc"), ("data/etc/passwd", "file", "via\n")],
                                          [("etc/group", "file", "g\n")]])
    assert resolved(layers, "/etc/passwd") is None and resolved(layers, "/etc/group") == "g\n"


def test_loops_and_too_many_hops_are_not_found(tmp_path: Path) -> None:
    chain = [(f"l{i}", "link", f"l{i + 1}") for i in range(45)] + [("l45", "file", "end\n")]
    layers = make_layers(tmp_path, [[("loop", "link", "loop"), ("a", "link", "b"), ("b", "link", "/a"), *chain]])
    assert resolved(layers, "/loop") is None and resolved(layers, "/a") is None
    # 40 symlinks are followed, as the kernel does; the 41st is ELOOP.
    assert resolved(layers, "/l5") == "end\n"
    assert resolved(layers, "/l4") is None


def test_a_file_in_the_middle_of_a_path_and_trailing_slashes(tmp_path: Path) -> None:
    layers = make_layers(tmp_path, [[("etc/passwd", "file", "p\n"), ("lnk", "link", "etc/passwd")]])
    for path in ("/etc/passwd/", "/etc/passwd/.", "/etc/passwd/x", "/etc/passwd/..", "/lnk/"):
        assert resolved(layers, path) is None, path
    assert resolved(layers, "/etc/./passwd") == "p\n" and resolved(layers, "/etc/../etc/passwd") == "p\n"


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    layers = make_layers(tmp_path, [[("etc/passwd", "file", "x" * 100)]])
    assert len(read_bytes(layers, "/etc/passwd", limit=100)) == 100
    with pytest.raises(ConfigError, match="the image's /etc/passwd is larger than"):
        read_bytes(layers, "/etc/passwd", limit=99)


# --- the kernel's answer -----------------------------------------------------------------------

# Run in a new user and mount namespace: mount the layers as the sandbox does (lowerdir, an empty upper,
# userxattr), chroot into the merged root, and print what each path opens as (a regular file's text, else null).
_ORACLE = r"""
import json, os, stat, subprocess, sys
lower, work, paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
merged = f"{work}/merged"
for d in ("merged", "upper", "work"):
    os.mkdir(f"{work}/{d}")
options = f"lowerdir={lower},upperdir={work}/upper,workdir={work}/work,userxattr"
subprocess.run(["mount", "-t", "overlay", "gobox-test", "-o", options, merged], check=True)
os.chroot(merged)
os.chdir("/")  # a relative path starts at the image's root, as the resolver reads it
out = []
for p in paths:
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        out.append(None)
        continue
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    out.append(os.read(fd, 1 << 16).decode() if regular else None)
    os.close(fd)
print(json.dumps(out))
"""


def overlay_reads(layers: Sequence[Path], paths: Sequence[str], work: Path) -> list[str | None]:
    """What a real overlayfs mount of `layers` shows at each path, read as a process chrooted in it would."""
    work.mkdir()
    lower = ":".join(str(p) for p in reversed(layers))
    done = subprocess.run(["unshare", "-Urm", sys.executable, "-I", "-c", _ORACLE, lower, str(work),
                           json.dumps(list(paths))], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise OSError(done.stderr.strip())
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def overlay_ok(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip where this host cannot mount overlayfs in a user namespace (the sandbox cannot either)."""
    base = tmp_path_factory.mktemp("overlay-probe")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) (util-linux)")
    _can_whiteout(base)
    layers = make_layers(base, [[("f", "file", "ok")]])
    try:
        assert overlay_reads(layers, ["/f"], base / "mount") == ["ok"]
    except OSError as e:
        pytest.skip(f"overlayfs in a user namespace is not possible here: {e}")


_NAMES = st.sampled_from(["a", "b", "etc"])
_REL = st.lists(st.one_of(_NAMES, st.sampled_from([".", ".."])), min_size=1, max_size=4).map("/".join)
_PATH = st.lists(_NAMES, min_size=1, max_size=3).map("/".join)
_KINDS = st.sampled_from(["file", "file", "dir", "opaque", "link", "link", "whiteout", "xwhiteout"])
_TARGET = st.one_of(_REL, _REL.map("/".__add__), st.just("HOST"), _REL.map("HOST/".__add__))
_LAYER = st.lists(st.tuples(_PATH, _KINDS, _TARGET), max_size=8)
_QUERY = st.one_of(_REL, _REL.map("/".__add__), _REL.map(lambda p: p + "/"))


def _specs(raw: Sequence[Sequence[tuple[str, str, str]]], host: Path) -> list[Spec]:
    return [[(p, k, t.replace("HOST", str(host)) if k == "link" else "") for p, k, t in layer] for layer in raw]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=st.lists(_LAYER, min_size=1, max_size=3), queries=st.lists(_QUERY, max_size=6))
@example(raw=[[("etc", "link", "HOST/etc")]], queries=["/etc/passwd"])
@example(raw=[[("a/b", "file", "")], [("a", "file", "")], [("a/etc", "file", "")]], queries=["/a/b"])
@example(raw=[[("a/b", "link", "/etc"), ("etc", "file", ""), ("a/etc", "file", "")]], queries=["/a/b"])
@example(raw=[[("a", "file", "")], [("a", "dir", ""), ("a/b", "file", "")]], queries=["/a", "/a/b"])
@example(raw=[[("a/b", "file", "")], [("a", "xwhiteout", "")], [("a/b", "file", "")]], queries=["/a/b"])
@example(raw=[[("a/b", "file", ""), ("a/etc", "file", "")], [("a", "opaque", ""), ("a/etc", "file", "")],
               [("b", "link", "a/../a/./b")]], queries=["/b", "/a/etc", "b/"])
def test_the_resolver_agrees_with_a_real_overlay_mount(overlay_ok: None, tmp_path_factory: pytest.TempPathFactory,
                                                       raw: list, queries: list[str]) -> None:
    work = tmp_path_factory.mktemp("stack")
    host = work / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "passwd").write_text("host passwd\n")
    (host / "a").write_text("host a\n")
    layers = make_layers(work, _specs(raw, host))
    paths = sorted({*queries, *(f"/{p}" for layer in raw for p, _, _ in layer), f"{host}/a", "/etc/passwd"})
    kernel = overlay_reads(layers, paths, work / "mount")
    ours = [resolved(layers, p) for p in paths]
    assert dict(zip(paths, ours, strict=True)) == dict(zip(paths, kernel, strict=True))
    assert not any(text and text.startswith("host") for text in ours)
