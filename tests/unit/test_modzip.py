"""Module zips as Go makes them: Go's own test vectors for versions and paths, and properties of the file set,
the zip and its h1: hash over paths and versions Hypothesis makes up (outside data: a repository's file names,
its tags)."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gobox import modversion, modzip
from gobox.modzip import File
from gobox.oci.gzipfixed import FixedDeflate

# golang.org/x/mod/semver's tests: (version, canonical or "" when invalid), in ascending order.
SEMVER = [
    ("bad", ""), ("v1-alpha.beta.gamma", ""), ("v1-pre", ""), ("v1+meta", ""), ("v1-pre+meta", ""),
    ("v1.2-pre", ""), ("v1.2+meta", ""), ("v1.2-pre+meta", ""),
    ("v1.0.0-alpha", "v1.0.0-alpha"), ("v1.0.0-alpha.1", "v1.0.0-alpha.1"),
    ("v1.0.0-alpha.beta", "v1.0.0-alpha.beta"), ("v1.0.0-beta", "v1.0.0-beta"), ("v1.0.0-beta.2", "v1.0.0-beta.2"),
    ("v1.0.0-beta.11", "v1.0.0-beta.11"), ("v1.0.0-rc.1", "v1.0.0-rc.1"), ("v1", "v1.0.0"), ("v1.0", "v1.0.0"),
    ("v1.0.0", "v1.0.0"), ("v1.2", "v1.2.0"), ("v1.2.0", "v1.2.0"), ("v1.2.3-456", "v1.2.3-456"),
    ("v1.2.3-456.789", "v1.2.3-456.789"), ("v1.2.3-456-789", "v1.2.3-456-789"), ("v1.2.3-456a", "v1.2.3-456a"),
    ("v1.2.3-pre", "v1.2.3-pre"), ("v1.2.3-pre+meta", "v1.2.3-pre"), ("v1.2.3-pre.1", "v1.2.3-pre.1"),
    ("v1.2.3-zzz", "v1.2.3-zzz"), ("v1.2.3", "v1.2.3"), ("v1.2.3+meta", "v1.2.3"), ("v1.2.3+meta-pre", "v1.2.3"),
    ("v1.2.3+meta-pre.sha.256a", "v1.2.3"),
]

# golang.org/x/mod/module's pseudo-version tests: (major, base, pseudo-version) at 2006-01-02 15:04:05 UTC.
PSEUDO_TIME = 1136214245
PSEUDO = [
    ("", "", "v0.0.0-20060102150405-hash"), ("v0", "", "v0.0.0-20060102150405-hash"),
    ("v1", "", "v1.0.0-20060102150405-hash"), ("v2", "", "v2.0.0-20060102150405-hash"),
    ("unused", "v0.0.0", "v0.0.1-0.20060102150405-hash"), ("unused", "v1.2.3", "v1.2.4-0.20060102150405-hash"),
    ("unused", "v1.2.99999999999999999", "v1.2.100000000000000000-0.20060102150405-hash"),
    ("unused", "v1.2.3-pre", "v1.2.3-pre.0.20060102150405-hash"),
    ("unused", "v1.3.0-pre", "v1.3.0-pre.0.20060102150405-hash"),
    ("unused", "v0.0.0--", "v0.0.0--.0.20060102150405-hash"),
    ("unused", "v1.0.0+metadata", "v1.0.1-0.20060102150405-hash+metadata"),
    ("unused", "v2.0.0+incompatible", "v2.0.1-0.20060102150405-hash+incompatible"),
    ("unused", "v2.3.0-pre+incompatible", "v2.3.0-pre.0.20060102150405-hash+incompatible"),
]

# golang.org/x/mod/module's CheckPath tests: (path, module path ok, file path ok); "\udcff" is the byte 0xFF.
PATHS = [
    ("x.y/z", True, True), ("x.y", True, True), ("", False, False), ("x.y/\udcffz", False, False),
    ("/x.y/z", False, False), ("x./z", False, False), (".x/z", False, True), ("-x/z", False, True),
    ("x..y/z", True, True), ("x.y/z/../../w", False, False), ("x.y//z", False, False), ("x.y/z//w", False, False),
    ("x.y/z/", False, False), ("x.y/z/v0", False, True), ("x.y/z/v1", False, True), ("x.y/z/v2", True, True),
    ("x.y/z/v2.0", False, True), ("X.y/z", False, True), ("!x.y/z", False, True), ("_x.y/z", False, True),
    ("x.y!/z", False, True), ('x.y"/z', False, False), ("x.y'/z", False, False), ("x.y*/z", False, False),
    ("x.y+/z", False, True), ("x.y-/z", True, True), ("x.y:/z", False, False), ("x.y\\/z", False, False),
    ("x.y/z~", True, True), ("x.y/aux.foo", False, False), ("x.y/prn", False, False), ("x.y/prn2", True, True),
    ("x.y/com", True, True), ("x.y/com1", False, False), ("x.y/com1.txt", False, False), ("x.y/calm1", True, True),
    ("x.y/z~0", False, True), ("x.y/z~09", False, True), ("x.y/z09~09z", True, True),
    ("x.y/z09~09z~09", False, True), ("github.com/!123/logrus", False, True),
    ("github.com/user/unicode/испытание", False, True), ("../x", False, False), ("./y", False, False),
    ("x:y", False, False), ("\\temp\\foo", False, False), (".gitignore", False, True),
    (".github/ISSUE_TEMPLATE", False, True), ("x☺y", False, False),
]


@pytest.mark.parametrize(("i", "version", "canon"), [(i, v, c) for i, (v, c) in enumerate(SEMVER)])
def test_semver_as_go(i: int, version: str, canon: str) -> None:
    assert modversion.is_valid(version) == bool(canon)
    assert modversion.canonical(version) == canon
    for j, (other, other_canon) in enumerate(SEMVER):
        want = 0 if canon == other_canon else (-1 if i < j else 1)
        assert modversion.compare(version, other) == want, (version, other)


@pytest.mark.parametrize(("major", "base", "want"), PSEUDO)
def test_pseudo_versions_as_go(major: str, base: str, want: str) -> None:
    assert modversion.pseudo_version("" if major == "unused" else major, base, PSEUDO_TIME, "hash") == want
    assert modversion.is_pseudo_version(want)
    assert not modversion.is_pseudo_version(base)


@pytest.mark.parametrize(("path", "module_ok", "file_ok"), PATHS)
def test_paths_as_go(path: str, module_ok: bool, file_ok: bool) -> None:
    assert (modversion.module_path_problem(path) is None) == module_ok, modversion.module_path_problem(path)
    assert (modversion.file_path_problem(path) is None) == file_ok, modversion.file_path_problem(path)
    prefix, suffix, _ = modversion.split_path_version(path)
    assert prefix + suffix == path


def test_escaping_and_major_suffixes() -> None:
    assert modversion.escape_path("github.com/GoogleCloudPlatform/omega") == "github.com/!google!cloud!platform/omega"
    assert modversion.escape_path("ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789") == \
        "ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789"
    with pytest.raises(ValueError):
        modversion.escape_path("x.y/z/v1")
    assert modversion.split_path_version("gopkg.in/yaml.v2") == ("gopkg.in/yaml", ".v2", True)
    assert modversion.split_path_version("example.com/m/v3") == ("example.com/m", "/v3", True)
    assert modversion.path_major_matches("v3.1.0", "/v3") and not modversion.path_major_matches("v2.0.0", "/v3")
    assert modversion.path_major_matches("v1.9.0", "") and not modversion.path_major_matches("v2.0.0", "")


def test_tag_prefixes_follow_the_module_directory() -> None:
    assert modversion.tag_prefix("example.com/m", "") == ""
    assert modversion.tag_prefix("example.com/m/sub", "sub") == "sub/"
    assert modversion.tag_prefix("example.com/m/v2", "v2") == ""  # a major subdirectory takes the root's tags
    assert modversion.tag_prefix("example.com/m/sub/v2", "sub/v2") == "sub/"
    assert modversion.tag_prefix("example.com/m/v2", "") == ""  # a major branch


def test_the_version_of_a_commit() -> None:
    commit, t = "89ecb3eacf2b2e529414d03dbeaf79598973a8cf", 1714564800  # 2024-05-01 12:00:00 UTC
    version = modversion.commit_version
    # Its own canonical tag, the highest; a tag with build metadata, another module's or major's do not count.
    assert version("example.com/m", "", ["v1.0.0", "v1.1.0", "v2.0.0", "sub/v3.0.0"], [], t, commit) == "v1.1.0"
    assert version("example.com/m/v2", "", ["v1.5.0", "v2.0.1"], [], t, commit) == "v2.0.1"
    assert version("example.com/m/sub", "sub/", ["v1.0.0", "sub/v0.3.0"], [], t, commit) == "v0.3.0"
    # Else a pseudo-version above the highest tag in its history, for the module's major.
    assert version("example.com/m", "", ["v1.2.3+meta"], ["v1.2.3+meta", "v0.9.0", "v2.0.0"], t, commit) == \
        "v1.2.4-0.20240501120000-89ecb3eacf2b"
    assert version("example.com/m", "", [], ["v0.9.0", "v0.10.0-rc.1"], t, commit) == \
        "v0.10.0-rc.1.0.20240501120000-89ecb3eacf2b"
    assert version("example.com/m/v3", "", [], ["v1.0.0"], t, commit) == "v3.0.0-20240501120000-89ecb3eacf2b"
    assert version("example.com/m/sub", "sub/", [], ["v5.0.0", "sub/v0.0.10", "v0.2.0"], t, commit) == \
        "v0.0.11-0.20240501120000-89ecb3eacf2b"
    assert version("example.com/m", "", [], ["v1.2", "vX"], t, commit) == "v0.0.0-20240501120000-89ecb3eacf2b"


def test_vendored_files_as_each_go_line_reads_them() -> None:
    # Before go 1.24, Go measured a nested vendor/ from the name's start: kept, since hashes depend on it.
    assert not modzip.is_vendored("vendor/modules.txt", go124=False)
    assert modzip.is_vendored("vendor/modules.txt", go124=True)
    assert modzip.is_vendored("vendor/x/y.go", go124=False)
    assert not modzip.is_vendored("vendor/y.go", go124=False)
    assert modzip.is_vendored("sub/vendor/top.go", go124=False)  # "or/top.go" after 8 bytes
    assert not modzip.is_vendored("sub/vendor/top.go", go124=True)
    assert modzip.is_vendored("sub/vendor/z/z.go", go124=True)
    assert modzip.go_line_at_least(b"module m\n\ngo 1.24.1\n", 24)
    assert not modzip.go_line_at_least(b"module m\n\ngo 1.21\n// go 1.25\n", 24)


def data_file(path: str, data: bytes, kind: str = "file") -> File:
    return File(path, kind, len(data), lambda: io.BytesIO(data))


def test_the_file_set_go_keeps() -> None:
    files = [data_file("go.mod", b"module example.com/m\n\ngo 1.21\n"), data_file("m.go", b"package m\n"),
             data_file("vendor/modules.txt", b"# x\n"), data_file("vendor/x/y.go", b"package y\n"),
             data_file("nested/go.mod", b"module other\n"), data_file("nested/a.go", b"package a\n"),
             data_file("link.go", b"m.go", "symlink"), data_file(".hg_archival.txt", b"x"),
             data_file("fifo", b"", "other")]
    checked = modzip.check_files(files)
    assert [f.path for f in checked.valid] == ["go.mod", "m.go", "vendor/modules.txt"]
    assert {p for p, _ in checked.omitted} == {"vendor/x/y.go", "nested/go.mod", "nested/a.go", "link.go",
                                               ".hg_archival.txt", "fifo"}
    assert checked.problem is None
    for bad, why in [("GO.MOD", "lowercase"), ("M.go", "collision"), ("a/../b", "not clean"),
                     ("aux.go", "Windows"), ("go.mod", "multiple entries")]:
        assert why in (modzip.check_files([*files, data_file(bad, b"x")]).problem or ""), bad
    big = File("LICENSE", "file", modzip.MAX_LICENSE + 1, lambda: io.BytesIO())
    assert "LICENSE file too large" in modzip.check_files([big]).problem
    huge = [File(f"f{i}", "file", modzip.MAX_ZIP_FILE // 2, lambda: io.BytesIO()) for i in range(3)]
    assert "too large" in modzip.check_files(huge).problem


def zip_hash(data: bytes) -> tuple[list[str], str]:
    """The zip's names and dirhash.HashZip of it, computed here from what a zip reader sees."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        lines = "".join(f"{hashlib.sha256(z.read(n)).hexdigest()}  {n}\n" for n in sorted(names))
    return names, "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def test_create_writes_go_s_zip_and_hash() -> None:
    files = [data_file("m.go", b"package m\n"), data_file("go.mod", b"module example.com/m\n"),
             data_file("vendor/x/y.go", b"no")]
    out = io.BytesIO()
    made = modzip.create(out, "example.com/m", "v1.0.0", files)
    names, h1 = zip_hash(out.getvalue())
    assert names == ["example.com/m@v1.0.0/go.mod", "example.com/m@v1.0.0/m.go"]
    assert made.h1 == h1 and made.files == 2 and made.size == len(out.getvalue())
    # The empty module's hash is Go's (zip_test.go's emptyHash).
    assert modzip.hash1([]) == "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    for module, version in [("example.com/m", "v1.0"), ("example.com/m", "v2.0.0"), ("m", "v1.0.0"),
                            ("example.com/m", "v1.0.0+meta")]:
        with pytest.raises(modzip.ModuleZipError):
            modzip.create(io.BytesIO(), module, version, files)
    liar = File("m.go", "file", 3, lambda: io.BytesIO(b"package m\n"))
    with pytest.raises(modzip.ModuleZipError, match=r"file 'example.com/m@v1.0.0/m.go': larger than its declared "
                                                    r"size \(3 bytes\)"):
        modzip.create(io.BytesIO(), "example.com/m", "v1.0.0", [liar])
    short = File("m.go", "file", 30, lambda: io.BytesIO(b"package m\n"))
    with pytest.raises(modzip.ModuleZipError, match="shorter than its declared size"):
        modzip.create(io.BytesIO(), "example.com/m", "v1.0.0", [short])


# A test fixture's kind of bytes, on which the system's zlib (1.2.13 here) and the pinned zlib-ng give different
# deflate streams (as in tests/unit/test_archive.py), over two 64 KiB blocks.
BLOB = bytes((b & 0x1F) if i % 3 else 0x48
             for i, b in enumerate(hashlib.shake_256(b"gobox zip golden").digest(100_000)))
GOLDEN_FILES = {"go.mod": b"module example.com/golden\n\ngo 1.21\n", "golden.go": b"package golden\n",
                "testdata/blob.bin": BLOB, "testdata/empty": b"", "docs/caf\u00e9.md": "# caf\u00e9\n".encode()}
# sha256 of the module zip of GOLDEN_FILES: gobox's zip writer (gobox.oci.zipfixed), deflating with zlib-ng 2.3.3 (the
# zlib-ng 1.1.0 wheel) at modzip.ZIP_LEVEL in 64 KiB blocks. It changes only with the pin, the level, the blocks or the
# zip's fields: update it deliberately, as it changes the sha256 of every module zip gobox ci publishes.
GOLDEN_ZIP = "4a1f85564ced383380d829a36c9a6ce44361f08e921a679003fe2c536717dffc"
GOLDEN_H1 = "h1:7Htsn6DpMmVtOxilmFmKFTwgg0g7X2HR5O99Lpt3xMw="  # over the files, not the zip: the same as before


def test_module_zip_golden_digest_is_the_pinned_deflate_s() -> None:
    files = [data_file(p, d) for p, d in GOLDEN_FILES.items()]
    out = io.BytesIO()
    made = modzip.create(out, "example.com/golden", "v1.2.3", list(reversed(files)))
    data = out.getvalue()
    assert hashlib.sha256(data).hexdigest() == GOLDEN_ZIP
    assert made.h1 == GOLDEN_H1 == zip_hash(data)[1]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        for info in zf.infolist():
            path = info.filename.removeprefix("example.com/golden@v1.2.3/")
            assert (info.date_time, info.create_system, info.external_attr >> 16) == (modzip.ZIP_TIME, 3, 0o100644)
            assert (info.compress_type, info.extra, info.comment) == (zipfile.ZIP_DEFLATED, b"", b"")
            assert bool(info.flag_bits & 0x800) == (not path.isascii())
            # Each entry's bytes are the pinned deflate's at ZIP_LEVEL, whatever the system's zlib would give.
            pinned = io.BytesIO()
            with FixedDeflate(pinned, modzip.ZIP_LEVEL) as z:
                z.write(GOLDEN_FILES[path])
            at = info.header_offset + 30 + len(info.orig_filename.encode())
            assert data[at:at + info.compress_size] == pinned.getvalue(), path


# --- properties over what a repository may hold -----------------------------------------------------------

NAME_CHARS = st.sampled_from(list("abcAB._-~!#(){}é0v9") + ["vendor", "go.mod", "GO.MOD", "aux", "..", "."])
PATH = st.lists(NAME_CHARS, min_size=1, max_size=4).map("/".join) | st.text(min_size=0, max_size=12)
REPO = st.lists(st.tuples(PATH, st.binary(max_size=20), st.sampled_from(["file", "file", "file", "symlink"])),
                max_size=12, unique_by=lambda t: t[0])


@settings(max_examples=150)
@given(REPO, st.booleans())
@example([("vendor/a/b.go", b"x", "file"), ("Vendor/a/b.go", b"y", "file")], False)
@example([("a", b"x", "file"), ("A/b", b"y", "file")], False)
def test_check_files_sorts_every_file_once(repo: list[tuple[str, bytes, str]], go124: bool) -> None:
    go_mod = b"module example.com/m\n\ngo " + (b"1.24" if go124 else b"1.21") + b"\n"
    files = [data_file("go.mod", go_mod)] + [data_file(p, d, k) for p, d, k in repo if p != "go.mod"]
    checked = modzip.check_files(files)
    sorted_out = [f.path for f in checked.valid] + [p for p, _ in checked.omitted] + [p for p, _ in checked.invalid]
    assert sorted(sorted_out) == sorted(f.path for f in files)
    valid = [f.path for f in checked.valid]
    folded = [p.casefold() for p in valid]
    assert len(set(folded)) == len(folded)  # no two names a case-insensitive file system would merge
    for p in valid:
        assert modversion.file_path_problem(p) is None and not modzip.is_vendored(p, go124)
        assert p == "go.mod" or p.rpartition("/")[2].lower() != "go.mod"  # another module's go.mod stays out


@settings(max_examples=100)
@given(REPO, st.randoms(use_true_random=False))
def test_create_is_deterministic_and_hashes_what_it_wrote(repo: list[tuple[str, bytes, str]], rnd) -> None:  # noqa: ANN001
    files = [data_file(p, d, k) for p, d, k in repo]
    if modzip.check_files(files).problem:
        with pytest.raises(modzip.ModuleZipError):
            modzip.create(io.BytesIO(), "example.com/m", "v0.1.0", files)
        return
    first = io.BytesIO()
    made = modzip.create(first, "example.com/m", "v0.1.0", files)
    shuffled = list(files)
    rnd.shuffle(shuffled)
    second = io.BytesIO()
    modzip.create(second, "example.com/m", "v0.1.0", shuffled)
    assert first.getvalue() == second.getvalue()
    names, h1 = zip_hash(first.getvalue())
    assert names == sorted(names) and all(n.startswith("example.com/m@v0.1.0/") for n in names)
    assert made.h1 == h1


VERSION = st.builds(lambda a, b, c, pre: f"v{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
                    st.integers(0, 30), st.integers(0, 30), st.integers(0, 30),
                    st.sampled_from(["", "rc.1", "alpha", "0", "pre.10", "x-y"]))


@settings(max_examples=200)
@given(VERSION, VERSION)
@example("v1.0.0-rc.1", "v1.0.0")
@example("v1.2.3-pre.10", "v1.2.3-pre.9")
def test_compare_is_an_order(v: str, w: str) -> None:
    assert modversion.compare(v, w) == -modversion.compare(w, v)
    assert (modversion.compare(v, w) == 0) == (v == w)
    assert modversion.canonical(modversion.canonical(v)) == modversion.canonical(v) == v


@settings(max_examples=200)
@given(VERSION, st.integers(0, 4102444800), st.text("0123456789abcdef", min_size=12, max_size=12))
def test_a_pseudo_version_sorts_just_above_its_base(base: str, epoch: int, rev: str) -> None:
    pv = modversion.pseudo_version("", base, epoch, rev)
    assert modversion.is_pseudo_version(pv) and modversion.canonical(pv) == pv
    assert modversion.compare(base, pv) < 0
    if not modversion.prerelease(base):
        head, _, patch = base.rpartition(".")
        assert modversion.compare(pv, f"{head}.{int(patch) + 1}") < 0


@settings(max_examples=200)
@given(st.text(st.sampled_from("abcXYZ.-/~_0"), min_size=1, max_size=20))
def test_escaping_keeps_paths_apart(path: str) -> None:
    path = "example.com/" + path
    if modversion.module_path_problem(path):
        with pytest.raises(ValueError):
            modversion.escape_path(path)
        return
    escaped = modversion.escape_path(path)
    assert escaped == escaped.lower()
    assert escaped.replace("!", "") == path.lower() and escaped.count("!") == sum(c.isupper() for c in path)
