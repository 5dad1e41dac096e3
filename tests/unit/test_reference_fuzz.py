"""Property tests of image references: whatever the text, a normalised Reference or one UsageError line.

A reference names paths in the store (images/<registry>/<repository>/<tag>@<platform>.json) and URLs
on a registry, so what parses must be made of plain parts, and print back to itself.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.fuzz import hex64, value_or_gobox_error

from gobox.errors import UsageError
from gobox.imagestore.records import record_path
from gobox.names.platform import Platform
from gobox.names.reference import Reference
from gobox.store import Store

registries = st.sampled_from(["", "docker.io/", "127.0.0.1:5000/", "localhost/", "[::1]:5000/", "reg.example/",
                              "Reg.Example:5000/", "index.docker.io/", "a..b/", "x:99999999999999999999/"])
components = st.one_of(st.sampled_from(["golang", "library", "team", "a__b", "a-b", "a.b", "..", ".", "A", "a/",
                                        ""]), st.text("abc._-/", min_size=1, max_size=6))
tags = st.one_of(st.just(""), st.builds(":{}".format, st.one_of(
    st.sampled_from(["1.22", "latest", "-x", ".x", "a" * 129, "", "x:y"]), st.text(max_size=6))))
at_digests = st.one_of(st.just(""), hex64.map("@sha256:{}".format),
                       st.sampled_from(["@sha256:", "@sha512:ab", "@md5:00", "@", "@sha256:" + "A" * 64]))
near = st.builds(lambda r, cs, t, d: r + "/".join(cs) + t + d, registries, st.lists(components, min_size=1,
                                                                                       max_size=3), tags, at_digests)

store = Store(Path("/store"))


@settings(max_examples=300)
@given(text=st.one_of(near, near, st.text(max_size=40)))
@example(text="golang:1.22")
@example(text="x:99999999999999999999/a")
@example(text="[::1/a")
@example(text="a" * 64)
def test_references_are_plain_values_or_one_line(text: str) -> None:
    got = value_or_gobox_error(Reference.parse, text)
    if isinstance(got, UsageError) or not isinstance(got, Reference):
        assert isinstance(got, UsageError), got
        return
    assert Reference.parse(str(got)) == got  # normalised: it prints back to itself
    parts = got.repository.split("/")
    assert all(p and p not in (".", "..") for p in parts) and "/" not in got.registry
    # Its record in the store stays inside the store, whatever platform the image turns out to be for.
    path = record_path(store, got, str(Platform("linux", "amd64")))
    assert ".." not in path.relative_to(store.root).parts and "\x00" not in str(path)
