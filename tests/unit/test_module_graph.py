"""The module graph as Go computes it, on values: minimal version selection (properties over random graphs),
graph pruning, semver order, what a build's imports need, and the one error that lists every missing pin."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gobox.deps import graph, modules
from gobox.deps.fetch import Entry

# Versions in semver order, with the shapes go.mod files hold: prereleases, +incompatible, pseudo-versions.
ORDERED = ["v0.0.0-20190101000000-abcdefabcdef", "v0.1.0", "v1.0.0-rc.1", "v1.0.0-rc.2", "v1.0.0-rc.10",
           "v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0+incompatible", "v2.1.0"]


def test_semver_order_is_go_s() -> None:
    assert sorted(reversed(ORDERED), key=modules.semver_key) == ORDERED
    assert modules.semver_key("v1.0.0+incompatible") == modules.semver_key("v1.0.0")
    assert modules.semver_key("v1.0.0-alpha") < modules.semver_key("v1.0.0-alpha.1") < modules.semver_key(
        "v1.0.0-beta")
    assert modules.semver_key("latest") < modules.semver_key("v0.0.0")
    assert not modules.is_semver("v1.0.0-01") and not modules.is_semver("1.0.0")


PATHS = ["a.org/a", "b.org/b", "c.org/c", "d.org/d"]
VERSIONS = ["v1.0.0", "v1.1.0", "v1.10.0", "v2.0.0+incompatible"]
Node = tuple[str, str]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[Node], dict[Node, modules.Summary]]:
    """Roots and go.mod files of random module versions; a version absent from the dict has no go.mod to read."""
    nodes = st.tuples(st.sampled_from(PATHS), st.sampled_from(VERSIONS))
    roots = draw(st.lists(nodes, max_size=4))
    summaries = draw(st.dictionaries(nodes, st.builds(
        modules.Summary, st.lists(nodes | st.tuples(st.just("main.org/m"), st.sampled_from(VERSIONS)),
                                  max_size=4).map(tuple), st.sampled_from([None, "1.13", "1.16", "1.17", "1.21"])),
        max_size=12))
    return roots, summaries


def reachable(roots: list[Node], summaries: dict[Node, modules.Summary]) -> list[Node]:
    """Every requirement met on the way from the roots, unpruned: the test's own plain walk."""
    seen: list[Node] = []
    todo = [r for r in roots if r[0] != "main.org/m"]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.append(n)
        todo += [r for r in (summaries[n].requires if n in summaries else ()) if r[0] != "main.org/m"]
    return seen


@settings(max_examples=80)
@given(graphs())
@example(([("a.org/a", "v1.0.0"), ("b.org/b", "v1.1.0")],
          # a.org/a v1.0.0 asks for c v1.10.0 through b v1.0.0, a version b's own selection is above.
          {("a.org/a", "v1.0.0"): modules.Summary((("b.org/b", "v1.0.0"),)),
           ("b.org/b", "v1.0.0"): modules.Summary((("c.org/c", "v1.10.0"),)),
           ("b.org/b", "v1.1.0"): modules.Summary((("c.org/c", "v1.0.0"),))}))
def test_mvs_selects_the_minimal_versions_that_satisfy_every_requirement(
        g: tuple[list[Node], dict[Node, modules.Summary]]) -> None:
    roots, summaries = g
    got = modules.select("main.org/m", roots, lambda p, v: summaries.get((p, v)), prune=False)
    met = reachable(roots, summaries)
    # Every module met is selected, at or above every version anything reached requires of it...
    assert set(got.selected) == {p for p, _ in met}
    for n in met:
        assert modules.semver_key(got.selected[n[0]]) >= modules.semver_key(n[1])
    # ...and at no more than that: each selected version is one that something reached requires.
    for path, version in got.selected.items():
        assert (path, version) in met
    assert "main.org/m" not in got.selected  # the main module is itself, whatever its dependencies ask
    assert got.unread == {n for n in met if n not in summaries}


@settings(max_examples=60)
@given(graphs())
def test_pruning_only_leaves_out_what_go_1_17_modules_do_not_pass_on(
        g: tuple[list[Node], dict[Node, modules.Summary]]) -> None:
    roots, summaries = g
    full = modules.select("main.org/m", roots, lambda p, v: summaries.get((p, v)), prune=False)
    pruned = modules.select("main.org/m", roots, lambda p, v: summaries.get((p, v)), prune=True)
    # A pruned graph is part of the full one, and still meets the roots and what they require directly.
    for path, version in pruned.selected.items():
        assert modules.semver_key(version) <= modules.semver_key(full.selected[path])
    for r in roots:
        if r[0] != "main.org/m":
            assert modules.semver_key(pruned.selected[r[0]]) >= modules.semver_key(r[1])
            for q in (summaries[r].requires if r in summaries else ()):
                if q[0] != "main.org/m":
                    assert modules.semver_key(pruned.selected[q[0]]) >= modules.semver_key(q[1])
    if not any(s.go and modules.version_at_least(s.go, "1.17") for s in summaries.values()):
        assert pruned.selected == full.selected  # before go 1.17 nothing is pruned


def test_a_go_1_17_module_passes_on_its_requirements_but_not_theirs() -> None:
    summaries = {("a.org/a", "v1.0.0"): modules.Summary((("b.org/b", "v1.0.0"),), "1.21"),
                 ("b.org/b", "v1.0.0"): modules.Summary((("c.org/c", "v1.0.0"),), "1.21"),
                 ("d.org/d", "v1.0.0"): modules.Summary((("b.org/b", "v1.0.0"),), "1.16")}
    lookup = lambda p, v: summaries.get((p, v))  # noqa: E731
    assert modules.select("m", [("a.org/a", "v1.0.0")], lookup, prune=True).selected == {
        "a.org/a": "v1.0.0", "b.org/b": "v1.0.0"}
    assert modules.select("m", [("a.org/a", "v1.0.0")], lookup, prune=False).selected["c.org/c"] == "v1.0.0"
    # Reached through a module below 1.17, whose graph is followed all the way down, c is in again.
    assert "c.org/c" in modules.select("m", [("d.org/d", "v1.0.0")], lookup, prune=True).selected


# --- build constraints and imports ---------------------------------------------------------------------


@pytest.mark.parametrize(("header", "built"), [
    ("//go:build ignore", False), ("//go:build !ignore", True), ("//go:build windows", True),
    ("//go:build !windows", True), ("//go:build linux && !linux", True), ("//go:build ignore || linux", True),
    ("//go:build ignore && linux", False), ("//go:build (", False), ("// +build ignore", False),
    ("// +build linux,!ignore darwin", True), ("// +build ignore\n// +build linux", False), ("", True),
])
def test_a_file_counts_for_every_platform_and_tag_but_ignore(header: str, built: bool) -> None:
    # As `go mod vendor` reads files (imports.AnyTags): each tag both set and not, `ignore` never.
    source = f'// Copyright.\n\n{header}\n\npackage p\n\nimport "x.org/y"\n'.encode()
    assert modules.go_imports(source) == (("x.org/y",) if built else None)


def test_imports_of_every_form_and_nothing_after_the_first_declaration() -> None:
    source = (b'/* package nope */\npackage p // c\n\nimport "fmt"\nimport (\n\t"a.org/b"\n\tz "c.org/d" // x\n'
              b'\t_ `e.org/f`\n\t. "g.org/h"\n)\n\nfunc f() {}\n\nimport "late.org/x"\n')
    assert modules.go_imports(source) == ("fmt", "a.org/b", "c.org/d", "e.org/f", "g.org/h")
    assert modules.go_imports(b"not go at all") is None
    assert modules.is_std("net/http") and modules.is_std("C") and not modules.is_std("golang.org/x/net")


# --- the plan: what [vendor.deps] must pin --------------------------------------------------------------


def tree(files: dict[str, str]) -> dict[str, Entry]:
    out = {}
    for name, text in files.items():
        data = text.encode()
        imports = modules.go_imports(data) if name.endswith(".go") and not name.endswith("_test.go") else None
        out[name] = Entry(hashlib.sha256(data).hexdigest(), False, None, len(data), name,
                          data if name == "go.mod" else None, imports)
    return out


AY = tree({"go.mod": "module a.org/ay\n\ngo 1.13\n\nrequire (\n\tb.org/bee v1.1.0\n\tt.org/testify v1.4.0\n)\n",
           "ay.go": 'package ay\n\nimport "b.org/bee/sub"\n',
           "ay_test.go": 'package ay\n\nimport "t.org/testify/assert"\n'})
BEE = tree({"go.mod": "module b.org/bee\n\ngo 1.12\n", "sub/s.go": 'package sub\n\nimport "c.org/cee"\n',
            "bee.go": "package bee\n"})
REQUIRES = [modules.Require("a.org/ay", "v1.0.0")]


def test_a_dependency_s_dependency_may_be_pinned_without_a_version_or_a_go_mod_edit() -> None:
    cee = tree({"cee.go": "package cee\n"})
    plan = graph.plan("example.com/m", "1.13", REQUIRES, {
        "a.org/ay": graph.Pinned("a.org/ay", "v1.0.0", AY), "b.org/bee": graph.Pinned("b.org/bee", None, BEE),
        "c.org/cee": graph.Pinned("c.org/cee", None, cee)}, {"a.org/ay": "main.go"})
    assert plan.problems[0].startswith("c.org/cee: pinned, but neither go.mod nor any pinned module's go.mod")
    bee = tree({"go.mod": "module b.org/bee\n\ngo 1.12\n\nrequire c.org/cee v0.3.0\n",
                "sub/s.go": 'package sub\n\nimport "c.org/cee"\n'})
    plan = graph.plan("example.com/m", "1.13", REQUIRES, {
        "a.org/ay": graph.Pinned("a.org/ay", "v1.0.0", AY), "b.org/bee": graph.Pinned("b.org/bee", None, bee),
        "c.org/cee": graph.Pinned("c.org/cee", None, cee)}, {"a.org/ay": "main.go"})
    # testify is in the graph but only ay's tests import it: not needed, as `go mod vendor` has it.
    assert plan.problems == ()
    assert plan.versions == {"a.org/ay": "v1.0.0", "b.org/bee": "v1.1.0", "c.org/cee": "v0.3.0"}
    assert plan.explicit == {"a.org/ay"}


def test_every_missing_and_inconsistent_module_is_reported_at_once_with_lines_to_paste() -> None:
    bee = tree({"go.mod": "module b.org/bee\n\ngo 1.12\n\nrequire github.com/o/cee/v3 v3.1.0\n",
                "sub/s.go": 'package sub\n\nimport "github.com/o/cee/v3/x"\n'})
    plan = graph.plan("example.com/m", "1.13", [*REQUIRES, modules.Require("d.org/dee", "v0.1.0")], {
        "a.org/ay": graph.Pinned("a.org/ay", "v0.9.0", AY)}, {"a.org/ay": "main.go", "e.org/nobody/p": "cmd/x.go"})
    assert plan.problems == (
        "a.org/ay: [vendor.deps] says v0.9.0, but the module graph selects v1.0.0 (go.mod requires it)",
        "b.org/bee v1.1.0: not pinned, and the build needs it (a.org/ay imports b.org/bee/sub; a.org/ay v1.0.0 "
        "requires v1.1.0)",
        "e.org/nobody/p: imported by cmd/x.go, but no module of the graph provides it (go.mod needs a require "
        "for its module)",
    )
    assert plan.additions == ('"b.org/bee" = { git = "https://b.org/bee", rev = "v1.1.0" }',)
    assert plan.unpinned_explicit == (("d.org/dee", "v0.1.0"),)  # required, but no package needed: not an error
    plan = graph.plan("example.com/m", "1.13", REQUIRES, {"a.org/ay": graph.Pinned("a.org/ay", None, AY),
                                                         "b.org/bee": graph.Pinned("b.org/bee", None, bee)},
                      {"a.org/ay": "main.go"})
    assert plan.problems == ("github.com/o/cee/v3 v3.1.0: not pinned, and the build needs it (b.org/bee/sub "
                             "imports github.com/o/cee/v3/x; b.org/bee v1.1.0 requires v3.1.0)",)
    assert plan.additions == ('"github.com/o/cee/v3" = { git = "https://github.com/o/cee", rev = "v3.1.0" }',)


@pytest.mark.parametrize(("module", "version", "line"), [
    ("github.com/a/b", "v1.2.0+incompatible", '"github.com/a/b" = { git = "https://github.com/a/b", rev = "v1.2.0" }'),
    ("github.com/a/b/sub", "v0.1.0",
     '"github.com/a/b/sub" = { git = "https://github.com/a/b", rev = "sub/v0.1.0", subdir = "sub" }'),
    ("golang.org/x/sys", "v0.0.0-20190412213103-97732733099d",
     '"golang.org/x/sys" = { git = "https://go.googlesource.com/sys", rev = "97732733099d" }'),
])
def test_additions_guess_the_repository_and_the_rev(module: str, version: str, line: str) -> None:
    assert graph.addition(module, version) == line
