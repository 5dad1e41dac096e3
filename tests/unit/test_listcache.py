"""gobox.listcache: the key of a kept go list answer, the sources' fingerprint, and the entry's format.

An entry is read back from the store, where anything may have been written into it: decoding is tested as a
parser of outside data, and any bytes at all are an entry or a miss, never an exception.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gobox import listcache
from gobox.listcache import Entry

ENV = (("PATH", "/usr/local/go/bin:/bin"), ("HOME", "/home/gobox"), ("GOFLAGS", "-buildvcs=false"),
       ("CGO_ENABLED", "0"), ("GOPATH", "/go"))
ARGV = ("go", "list", "-e", "-f", "{{.Name}}", "./...")
LAYERS = ("/store/layers/minimal", "/store/toolchains/go1.22.10.linux-amd64/layer")
BINDS = (("/src/app", "/src/app", False), ("/store/cache/go-build", "/gobox/cache/go-build", False))


def key(**change: object) -> str:
    args: dict[str, object] = {"root": "/src/app", "cwd": "/src/app", "argv": ARGV, "env": ENV, "layers": LAYERS,
                               "binds": BINDS}
    args.update(change)
    return listcache.key(**args)  # type: ignore[arg-type]


# --- the key -----------------------------------------------------------------------------------------------


def test_the_key_holds_what_go_list_reads_besides_the_sources() -> None:
    base = key()
    assert key(root="/src/other") != base
    assert key(cwd="/src/app/cmd") != base  # ./... from a subdirectory is other packages
    assert key(argv=(*ARGV[:-1], "-tags=extra", "./...")) != base
    assert key(layers=(LAYERS[0], "/store/toolchains/go1.21.13.linux-amd64/layer")) != base
    assert key(binds=(*BINDS, ("/home/me/lib", "/lib", True))) != base


def test_every_go_and_cgo_variable_is_in_the_key_and_no_other() -> None:
    base = key()
    for name, value in (("GOOS", "windows"), ("GOARCH", "arm64"), ("GOAMD64", "v3"), ("GOEXPERIMENT", "x"),
                        ("GO111MODULE", "off"), ("CGO_ENABLED", "1"), ("GOFLAGS", "-mod=mod")):
        assert key(env=(*ENV, (name, value))) != base, name
    # What go does not read leaves the entry usable: another TERM, HOME or PATH, or the order of the variables.
    assert key(env=(*ENV, ("TERM", "xterm"), ("HOME", "/root"), ("BUILD_ID", "42"))) == base
    assert key(env=tuple(reversed(ENV))) == base


names = st.text(st.sampled_from("GOCABFLX_"), min_size=1, max_size=8)
envs = st.lists(st.tuples(names, st.text(max_size=8)), max_size=6, unique_by=lambda kv: kv[0])


@settings(max_examples=60)
@given(envs, envs)
def test_two_environments_share_a_key_exactly_when_their_go_variables_agree(a: list[tuple[str, str]],
                                                                            b: list[tuple[str, str]]) -> None:
    def go_vars(env: list[tuple[str, str]]) -> dict[str, str]:
        return {k: v for k, v in env if k.startswith(("GO", "CGO_"))}

    assert (key(env=tuple(a)) == key(env=tuple(b))) == (go_vars(a) == go_vars(b))


@settings(max_examples=40)
@given(st.lists(st.text(max_size=6), max_size=4), st.lists(st.text(max_size=6), max_size=4))
@example(["a,b"], ["a", "b"])
@example(['"'], ['\\"'])
def test_distinct_argvs_never_share_a_key(a: list[str], b: list[str]) -> None:
    assert (key(argv=tuple(a)) == key(argv=tuple(b))) == (a == b)


def test_the_entrys_file_is_named_by_the_key() -> None:
    assert listcache.entry_name(key()) == listcache.entry_name(key())
    assert listcache.entry_name(key()) != listcache.entry_name(key(cwd="/src/app/cmd"))
    assert listcache.entry_name(key()).endswith(".json") and "/" not in listcache.entry_name(key())


def test_modfile_and_overlay_name_files_the_fingerprint_does_not_cover() -> None:
    assert listcache.cacheable(ARGV, ENV)
    assert not listcache.cacheable((*ARGV[:-1], "-modfile=alt.mod", "./..."), ENV)
    assert not listcache.cacheable((*ARGV[:-1], "-overlay", "o.json", "./..."), ENV)
    assert not listcache.cacheable(ARGV, (*ENV[:2], ("GOFLAGS", "-buildvcs=false --modfile=/x/go.mod")))
    assert listcache.cacheable(ARGV, (("TERM", "-modfile"),))  # only GOFLAGS is go's


# --- the entry ---------------------------------------------------------------------------------------------


entries = st.builds(Entry, st.text(), st.text(), st.lists(st.text()).map(tuple), st.lists(st.text()).map(tuple),
                    st.lists(st.text()).map(tuple))


@settings(max_examples=60)
@given(entries)
def test_an_entry_reads_back_as_written(entry: Entry) -> None:
    assert listcache.decode(listcache.encode(entry)) == entry


@settings(max_examples=200)
@given(st.binary(max_size=300))
@example(b"")
@example(b"[" * 100_000)
@example(b"\xff\xfe{")
@example(b'{"format": 1, "key": "k", "sources": "s", "commands": [1], "libraries": [], "uncovered": []}')
@example(b'{"format": 1, "key": "k", "sources": "s", "commands": "ab", "libraries": [], "uncovered": []}')
@example(b'{"format": 2, "key": "k", "sources": "s", "commands": [], "libraries": [], "uncovered": []}')
@example(b'{"format": 1.0, "key": "k", "sources": "s", "commands": [], "libraries": [], "uncovered": []}')
@example(b'{"format": true, "key": "k", "sources": "s", "commands": [], "libraries": [], "uncovered": []}')
def test_any_bytes_are_an_entry_or_a_miss_never_an_error(data: bytes) -> None:
    entry = listcache.decode(data)
    assert entry is None or isinstance(entry, Entry)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=150)
@given(st.fixed_dictionaries({}, optional={
    "format": st.just(1) | json_values, "key": st.text() | json_values, "sources": st.text() | json_values,
    "commands": st.lists(st.text()) | json_values, "libraries": st.lists(st.text()) | json_values,
    "uncovered": st.lists(st.text()) | json_values}))
def test_an_entry_of_any_shape_is_read_only_when_every_field_is_right(obj: dict) -> None:
    entry = listcache.decode(json.dumps(obj).encode())
    lists = [obj.get(n) for n in ("commands", "libraries", "uncovered")]
    whole = (type(obj.get("format")) is int and obj["format"] == 1 and isinstance(obj.get("key"), str)
             and isinstance(obj.get("sources"), str)
             and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in lists))
    assert (entry is not None) == whole


def test_a_larger_file_than_gobox_writes_is_a_miss() -> None:
    entry = Entry("k", "s", ("x" * listcache.ENTRY_LIMIT,), (), ())
    assert listcache.decode(listcache.encode(entry)) is None


# --- the fingerprint ---------------------------------------------------------------------------------------


rows = st.lists(st.tuples(st.text(min_size=1, max_size=6), *[st.integers(-1, 10**12)] * 4), max_size=5)


@settings(max_examples=80)
@given(rows, rows)
@example([("a\x001", 2, 3, 4, 5)], [("a", 1, 2, 3, 4)])
def test_the_fingerprint_differs_exactly_when_a_row_does(a: list, b: list) -> None:
    assert (listcache.fingerprint(a) == listcache.fingerprint(b)) == (a == b)


def test_a_change_within_the_coarse_clocks_reach_of_the_walk_is_racy() -> None:
    start = 1_700_000_000_123_456_789
    assert not listcache.racy([("a.go", 1, start - 10**9, start - 10**9, 1)], start)
    assert listcache.racy([("a.go", 1, start - 10**9, start - 1_000_000, 1)], start)  # ctime: a chmod, an edit
    assert listcache.racy([("a.go", 1, start + 5 * 10**9, start - 10**9, 1)], start)  # from the future
    # A filesystem of whole seconds: a change one second ago may share its timestamp with the next.
    whole = (start // 10**9 - 1) * 10**9
    assert listcache.racy([("a.go", 1, whole, whole, 1)], start)
    assert not listcache.racy([("a.go", 1, whole - 2 * 10**9, whole - 2 * 10**9, 1)], start)


def tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_walk_sees_the_files_go_list_reads_and_no_other(tmp_path: Path) -> None:
    tree(tmp_path, {
        "go.mod": "module m\n", "go.sum": "", "main.go": "package main\n", "README.md": "",
        "lib/lib.go": "package lib\n", "lib/lib.s": "", "lib/x.txt": "",
        "sub/go.mod": "module m/sub\n", "sub/go.work": "", "sub/go.work.sum": "",
        "vendor/modules.txt": "# example.com/dep v1.0.0\n", "vendor/example.com/dep/dep.go": "package dep\n",
        "lib/vendor/x/x.go": "package x\n",
        "testdata/t.go": "package t\n", "lib/testdata/t.go": "", "_skip/s.go": "", ".git/x.go": "",
        "lib/_ignored.go": "", "lib/.hidden.go": "",
    })
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    tree(outside, {"o.go": "package o\n"})
    (tmp_path / "linked").symlink_to(outside, target_is_directory=True)  # go does not follow it either
    (tmp_path / "dangling.go").symlink_to(tmp_path / "nowhere.go")
    found = {r[0]: r for r in listcache.walk(str(tmp_path))}
    assert sorted(found) == ["dangling.go", "go.mod", "go.sum", "lib/lib.go", "lib/vendor/modules.txt", "main.go",
                             "sub/go.mod", "sub/go.work", "sub/go.work.sum", "vendor/modules.txt"]
    assert found["dangling.go"][1:] == (-1, -1, -1, -1) and found["lib/vendor/modules.txt"][1] == -1
    st_main = os.stat(tmp_path / "main.go")
    assert found["main.go"] == ("main.go", st_main.st_size, st_main.st_mtime_ns, st_main.st_ctime_ns, st_main.st_ino)


def test_an_edit_that_keeps_size_and_mtime_still_changes_the_fingerprint(tmp_path: Path) -> None:
    """`touch -r`, `cp -p`, `rsync -t` put an mtime back; the ctime they cannot."""
    tree(tmp_path, {"go.mod": "module m\n", "tool/tool.go": "package tool\n\nfunc main() {}\n"})
    f = tmp_path / "tool" / "tool.go"
    before = os.stat(f)
    first = listcache.fingerprint(listcache.walk(str(tmp_path)))
    time.sleep(2 * listcache.RACY_NS / 1e9)  # past the tick of the coarse clock the file was written in
    f.write_text("package main\n\nfunc main() {}\n")
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(f)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert listcache.fingerprint(listcache.walk(str(tmp_path))) != first
