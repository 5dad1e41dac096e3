"""Go's module rules as values: go.sum h1: hashes (checked against what go 1.22 computed), go.mod requires,
module zip contents, vendor/modules.txt."""

from __future__ import annotations

import hashlib

import pytest

from gobox.deps import fetch, modules
from gobox.errors import IntegrityError

# A module whose go.sum lines were made by `go mod download` from a file GOPROXY (go 1.22.10).
DEP2 = {
    "go.mod": b"module example.org/dep2\n\ngo 1.21\n",
    "dep2.go": b'package dep2\n\nfunc Hello() string { return "mod" }\n',
    "win/w.go": b'//go:build windows\n\npackage win\n\nimport _ "golang.org/x/sys/windows"\n',
    "win/doc.go": b"package win\n",
    "inc/x.h": b"#define X 1\n",
}


def test_hashes_match_what_go_wrote_in_go_sum() -> None:
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in DEP2.items()}
    assert modules.zip_hash("example.org/dep2", "v1.0.0", digests) == "h1:9cPxCBhERqp2DD8opDxwmDMVJiTmXrjKsnisbKhbaGE="
    assert modules.gomod_hash(DEP2["go.mod"]) == "h1:1Wsw7KEadacS0qeQmrdWcqwtSFln2OFKHXQBEK6sdto="


def test_zip_leaves_out_nested_modules_vendored_packages_and_vcs_dirs() -> None:
    files = {"a.go": b"", "sub/go.mod": b"", "sub/b.go": b"", "vendor/modules.txt": b"", "vendor/x/y.go": b"",
             "c/vendor/d/e.go": b"", ".git/config": b"", "c/c.go": b""}
    assert sorted(modules.zip_files(files)) == ["a.go", "c/c.go", "vendor/modules.txt"]


def test_requires_single_and_block_with_indirect() -> None:
    text = ('module m\n\ngo 1.21\n\nrequire example.org/a v1.0.0\n\nrequire (\n\texample.org/b/v2 v2.1.0\n'
            '\t"example.org/c" v0.0.0-20200101000000-abcdefabcdef // indirect\n)\n')
    assert modules.parse_requires(text) == (
        modules.Require("example.org/a", "v1.0.0"), modules.Require("example.org/b/v2", "v2.1.0"),
        modules.Require("example.org/c", "v0.0.0-20200101000000-abcdefabcdef", True))


def test_packages_keep_every_platform_but_not_testdata_or_nested_modules() -> None:
    paths = ["a.go", "win/w_windows.go", "testdata/t.go", "_x/x.go", "inc/x.h", "sub/go.mod", "sub/s.go"]
    assert modules.packages("example.org/m", paths) == ["example.org/m", "example.org/m/win"]


MODS = [
    modules.VendoredModule("example.org/z", "v1.0.0", None, ("example.org/z",)),
    modules.VendoredModule("example.org/a/v2", "v2.0.0", "1.21", ("example.org/a/v2", "example.org/a/v2/b")),
    modules.VendoredModule("example.org/t", "v0.1.0", "1.13", ("example.org/t",), explicit=False),
    modules.VendoredModule("example.org/unused", "v0.2.0", None, ()),
]


def test_modules_txt_is_sorted_and_marked_as_go_marks_it_by_the_main_go_line() -> None:
    # go 1.17 on: explicit and each module's go line; a required module that gives no package still listed.
    assert modules.modules_txt(MODS, "1.21") == (
        "# example.org/a/v2 v2.0.0\n## explicit; go 1.21\nexample.org/a/v2\nexample.org/a/v2/b\n"
        "# example.org/t v0.1.0\n## go 1.13\nexample.org/t\n"
        "# example.org/unused v0.2.0\n## explicit\n"
        "# example.org/z v1.0.0\n## explicit\nexample.org/z\n")
    # 1.14 to 1.16: explicit only.
    assert modules.modules_txt(MODS, "1.16") == (
        "# example.org/a/v2 v2.0.0\n## explicit\nexample.org/a/v2\nexample.org/a/v2/b\n"
        "# example.org/t v0.1.0\nexample.org/t\n# example.org/unused v0.2.0\n## explicit\n"
        "# example.org/z v1.0.0\n## explicit\nexample.org/z\n")
    # Before 1.14 (or no go line): no markers, and only modules that give packages.
    for old in ("1.13", None):
        assert modules.modules_txt(MODS, old) == (
            "# example.org/a/v2 v2.0.0\nexample.org/a/v2\nexample.org/a/v2/b\n"
            "# example.org/t v0.1.0\nexample.org/t\n# example.org/z v1.0.0\nexample.org/z\n")


def test_gosum_and_go_line() -> None:
    assert modules.parse_gosum("m v1.0.0 h1:x=\nm v1.0.0/go.mod h1:y=\n") == {
        ("m", "v1.0.0"): "h1:x=", ("m", "v1.0.0/go.mod"): "h1:y="}
    assert modules.go_line(DEP2["go.mod"]) == "1.21" and modules.go_line(None) is None


@pytest.mark.parametrize("name,link,ok", [
    ("a/b", "c", True), ("a/b", "../c", True), ("a/b", "../../c", False), ("b", "/etc/passwd", False),
    ("a/b", "../a/../../x", False)])
def test_symlinks_must_stay_inside_the_tree(name: str, link: str, ok: bool) -> None:
    tree = {name: fetch.Entry(link=link)}
    if ok:
        fetch.check(tree, {"": "dep"})
    else:
        with pytest.raises(IntegrityError, match="points outside the dependency's tree"):
            fetch.check(tree, {"": "dep"})


def test_nested_vendor_and_godeps_are_dropped() -> None:
    e = fetch.Entry.of(b"x")
    tree = {"a.go": e, "vendor/v.go": e, "Godeps/Godeps.json": e, "x/vendor/y/z.go": e, "vendorish/a.go": e}
    assert sorted(fetch.vendored(tree)) == ["a.go", "vendorish/a.go"]


def test_tree_digest_sees_content_mode_and_links() -> None:
    a = {"a.go": fetch.Entry.of(b"package a\n"), "l": fetch.Entry(link="a.go")}
    d = fetch.tree_digest(a)
    assert d.startswith("sha256:") and d == fetch.tree_digest(dict(reversed(list(a.items()))))
    assert d != fetch.tree_digest({**a, "a.go": fetch.Entry.of(b"package a\n", executable=True)})
    assert d != fetch.tree_digest({**a, "l": fetch.Entry(link="b.go")})
    assert d != fetch.tree_digest({"a.go": a["a.go"]})


def test_nested_modules_are_other_modules() -> None:
    paths = ["go.mod", "a.go", "sub/go.mod", "sub/b.go", "sub/deep/c.go", "subway/d.go"]
    assert modules.in_nested_module(paths) == {"sub/go.mod", "sub/b.go", "sub/deep/c.go"}


def test_replace_directives_are_seen() -> None:
    assert modules.has_replace("module m\n\nreplace example.org/a => ../a\n")
    assert modules.has_replace("module m\n\nreplace (\n\texample.org/a => ../a\n)\n")
    assert not modules.has_replace("module m\n\n// replace nothing\nrequire example.org/replace v1.0.0\n")
