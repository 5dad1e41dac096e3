"""Which symlinks of a vendored tree lead out of it, decided on the listing before anything is written, held to
what the kernel answers once the same tree is on disk (openat2 with RESOLVE_BENEATH)."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from gobox import fsroot
from gobox.deps import fetch
from gobox.deps.fetch import Entry
from gobox.errors import IntegrityError

FILE = Entry.of(b"x")


def kernel_has_openat2() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    fd = os.open("/", os.O_PATH)
    try:
        got = fsroot._openat2(fd, ".", os.O_PATH, 0, fsroot.RESOLVE_BENEATH)
    finally:
        os.close(fd)
    if got is not None:
        os.close(got)
    return got is not None


needs_openat2 = pytest.mark.skipif(not kernel_has_openat2(), reason="needs openat2 (Linux 5.6)")

parts = st.sampled_from(["a", "b", "c"])
paths = st.lists(parts, min_size=1, max_size=3).map("/".join)
targets = st.lists(st.sampled_from(["a", "b", "c", "..", ".", ""]), min_size=1, max_size=6).map("/".join).filter(
    bool) | st.sampled_from(["/", "/tmp", "/a"])
trees = st.dictionaries(paths, st.just(FILE) | targets.map(lambda t: Entry(link=t)), max_size=8).filter(
    lambda t: fetch.misplaced(t) is None)


def on_disk(tree: dict[str, Entry], top: Path) -> None:
    for name, e in tree.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        if e.link is not None:
            os.symlink(e.link, top / name)
        else:
            (top / name).write_bytes(b"x")


@needs_openat2
@settings(max_examples=300)
@given(tree=trees, root=st.sampled_from(["", "a"]))
@example(tree={"d": Entry(link="."), "u": Entry(link="d/.."), "l": Entry(link="u/x")}, root="")
@example(tree={"a/s": Entry(link="."), "a/l": Entry(link="s/../a/s/..")}, root="a")
def test_a_link_leaves_its_tree_exactly_when_the_kernel_would_walk_out(tree: dict[str, Entry], root: str) -> None:
    assume(root not in tree)  # a dependency's directory is a directory
    with tempfile.TemporaryDirectory() as d:
        # Two directories above the tree, so that a way out has somewhere to go.
        top = Path(d) / "up" / "up"
        top.mkdir(parents=True)
        on_disk(tree, top)
        (top / root).mkdir(parents=True, exist_ok=True)
        rootfd = os.open(top / root, os.O_PATH | os.O_DIRECTORY)
        try:
            for name in sorted(tree):
                if tree[name].link is None or not name.startswith(f"{root}/" if root else ""):
                    continue
                ours = fetch.leaves(tree, name, root)
                try:
                    os.close(fsroot._openat2(rootfd, name[len(root):].lstrip("/"), os.O_PATH, 0,
                                             fsroot.RESOLVE_BENEATH))
                    kernel = "inside"
                except OSError as e:
                    kernel = errno.errorcode[e.errno]
                if kernel == "EXDEV":  # the kernel walked (or would walk) out of the root
                    assert ours, f"{name} -> {tree[name].link}: out on disk, inside by the listing"
                if kernel == "inside":  # the whole way exists and stays inside: the listing must agree
                    assert not ours, f"{name} -> {tree[name].link}: inside on disk, out by the listing"
        finally:
            os.close(rootfd)


def test_a_climb_through_links_that_each_read_as_inside_is_out() -> None:
    tree = {"d": Entry(link="."), "u1": Entry(link="d/.."), "u2": Entry(link="u1/.."),
            "l": Entry(link="u2/etc/passwd"), "ok": Entry(link="d/d/d/a.go"), "a.go": FILE}
    with pytest.raises(IntegrityError, match="symlink l -> u2/etc/passwd points outside the dependency's tree"):
        fetch.check(tree, {"": "[vendor.deps] x"})
    assert [n for n in sorted(tree) if tree[n].link and fetch.leaves(tree, n)] == ["l", "u1", "u2"]


def test_entries_below_a_file_or_a_symlink_are_refused_naming_both() -> None:
    with pytest.raises(IntegrityError, match=r"^\[vendor.deps\] x: l/f.go is below the symlink l, "):
        fetch.check({"sub/x.go": FILE, "l": Entry(link="sub"), "l/f.go": FILE}, {"": "[vendor.deps] x"})
    # One dependency's file where another's directory goes (example.org/a holds a file b; example.org/a/b is
    # a dependency of its own).
    tree = {"example.org/a/b": FILE, "example.org/a/b/x.go": FILE}
    with pytest.raises(IntegrityError, match=r"^b: x.go is below the file vendor/example.org/a/b"):
        fetch.check(tree, {"example.org/a": "a", "example.org/a/b": "b"})


def test_a_link_may_lead_into_another_dependency_only_within_its_own_directory() -> None:
    tree = {"example.org/a/l": Entry(link="../b/x.go"), "example.org/b/x.go": FILE}
    with pytest.raises(IntegrityError, match="^a: symlink l -> ../b/x.go points outside"):
        fetch.check(tree, {"example.org/a": "a", "example.org/b": "b"})
    fetch.check({"example.org/a/l": Entry(link="sub/../x.go"), "example.org/a/x.go": FILE},
                {"example.org/a": "a"})
