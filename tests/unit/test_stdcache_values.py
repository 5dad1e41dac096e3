"""The clean room's prebuilt standard library as values: its key is a function of the toolchain, the target and
the flags that change std alone, and the room that builds it holds the toolchain and nothing of the project."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gobox.build import GOCACHE, Options, Paths, plan
from gobox.ci import stdcache
from gobox.config import Project, parse_config
from gobox.sandbox.spec import Overlay

ROOT = Path("/room/src/checkout")
PATHS = Paths(("/store/go1.22.10/layer",), "/store/minimal", "/store/cache/go-build", "/store/cache/mod",
              "/store/run/1", str(ROOT), 1000, 1000)
GO = "go1.22.10.linux-amd64.tar.gz sha256:" + "a" * 64
HOST = stdcache.Request((("GOFLAGS", "-trimpath"), ("CGO_ENABLED", "0")), ("-trimpath",))


def project(toml: str = "") -> Project:
    return Project(ROOT, ROOT / "gobox.toml", parse_config(toml, "gobox.toml"), None, None)


def test_the_key_changes_with_the_toolchain_the_target_and_the_std_flags_only() -> None:
    base = stdcache.key(GO, HOST)
    assert base == stdcache.key(GO, HOST) and len(base) == 64
    assert stdcache.key(GO.replace("a" * 64, "b" * 64), HOST) != base
    arm = stdcache.Request((*HOST.env, ("GOARCH", "arm64")), HOST.flags)
    v3 = stdcache.Request((*HOST.env, ("GOAMD64", "v3")), HOST.flags)
    assert len({base, stdcache.key(GO, arm), stdcache.key(GO, v3)}) == 3
    assert stdcache.key(GO, stdcache.Request(HOST.env, ())) != base  # no -trimpath: other archives


def test_a_step_s_request_keeps_what_changes_std_and_drops_the_rest() -> None:
    env = (("GOPATH", "/room/src/checkout/vendor:/go"), ("HOME", "/home/gobox"), ("CGO_ENABLED", "1"),
           ("GOFLAGS", "-buildvcs=false -mod=vendor"), ("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "7"),
           ("TZ", "UTC"))
    argv = ("go", "build", "-trimpath", "-v", "-ldflags=-s -w -X main.v=1", "-tags", "netgo,osusergo", "-o",
            "/out/", "-race", "./...")
    r = stdcache.request_of(argv, env)
    assert r == stdcache.Request((("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "7"), ("CGO_ENABLED", "1")),
                                 ("-trimpath", "-tags=netgo,osusergo", "-race"))
    # Another project's ldflags, output and packages: the same standard library.
    other = ("go", "build", "-trimpath", "-ldflags", "-X main.v=2", "-tags=netgo,osusergo", "-race", "./cmd/x")
    assert stdcache.request_of(other, env) == r
    assert stdcache.request_of(("go", "test", "-run", "X", "-count=1", "./..."), env).flags == ()
    assert stdcache.request_of(("go", "list", "-e", "./..."), env) is None
    assert stdcache.request_of(("go", "build", "./..."), (("GOFLAGS", "-trimpath -mod=vendor"),)).env \
        == (("GOFLAGS", "-trimpath"),)


@given(st.lists(st.text(alphabet="-=abcdeimprstx,", max_size=12), max_size=8))
def test_std_flags_only_ever_keeps_known_flags(args: list[str]) -> None:
    for flag in stdcache.std_flags(args):
        name = flag.lstrip("-").partition("=")[0]
        assert name in stdcache.BOOL_FLAGS + stdcache.VALUE_FLAGS


def test_the_std_room_has_the_toolchain_and_no_project() -> None:
    options = Options(locked=True, network="none", clean_room=True)
    step = plan(project('[build]\noutput = "/room/out"\n'), PATHS, ("go", "build", "-trimpath", "-o", "/room/out/",
                                                                    "./..."), options)
    r = stdcache.request_of(step.argv, step.env)
    assert r is not None
    spec = stdcache.room_spec(step, r, GOCACHE, "/store/tmp/std/go-build", ("/room/src", "/room/out"))
    assert spec.argv == ("go", "build", "-trimpath", "std") and spec.cwd == "/"
    assert [(b.source, b.target, b.readonly) for b in spec.binds] == [
        ("/store/go1.22.10/layer/usr/local/go", "/usr/local/go", True), ("/store/tmp/std/go-build", GOCACHE, False)]
    assert GOCACHE not in spec.tmpfs and spec.network == "none" and spec.layers == step.layers
    assert dict(spec.env)["GOFLAGS"] == "" and dict(spec.env)["GOCACHE"] == GOCACHE


def test_a_clean_room_with_a_std_cache_mounts_it_under_an_empty_gocache() -> None:
    lower = ("/store/cache/std/k1/go-build", "/store/cache/std/k2/go-build")
    spec = plan(project(), PATHS, ("go", "build"), Options(clean_room=True, gocache_lower=lower))
    assert spec.overlays == (Overlay(GOCACHE, lower),) and GOCACHE not in spec.tmpfs
    assert GOCACHE not in {b.target for b in spec.binds} and GOCACHE in spec.mount_points()
    bare = plan(project(), PATHS, ("go", "build"), Options(clean_room=True))
    assert bare.overlays == () and GOCACHE in bare.tmpfs
    # Outside the clean room the store's shared GOCACHE is bound as before: the option is the clean room's.
    assert plan(project(), PATHS, ("go", "build"), Options(gocache_lower=lower)).overlays == ()


def test_the_tree_digest_is_the_digest_of_its_sums_in_path_order() -> None:
    import hashlib

    files = [("b/x-d", "1" * 64), ("a/y-a", "2" * 64)]
    want = hashlib.sha256(f"{'2' * 64}  a/y-a\n{'1' * 64}  b/x-d\n".encode()).hexdigest()
    assert stdcache.tree_digest(files) == stdcache.tree_digest(reversed(files)) == want


def stored(store_root: Path) -> tuple[Path, stdcache.Request, str]:
    """A stored standard library as _build leaves it: go-build/ and std.json beside it."""
    import hashlib
    import json

    k = stdcache.key(GO, HOST)
    entry = store_root / k
    (entry / "go-build" / "ab").mkdir(parents=True)
    (entry / "go-build" / "ab" / "ab12-d").write_bytes(b"archive bytes")
    (entry / "go-build" / "README").write_text("cache\n")
    files = [[p, len(b), hashlib.sha256(b).hexdigest()] for p, b in (("README", b"cache\n"),
                                                                      ("ab/ab12-d", b"archive bytes"))]
    doc = {"format": stdcache.FORMAT, "key": k, "digest": stdcache.tree_digest((f[0], f[2]) for f in files),
           "files": files}
    (entry / "std.json").write_text(json.dumps(doc))
    return entry, HOST, k


def test_a_stored_std_cache_is_used_only_whole(tmp_path: Path) -> None:
    entry, request, k = stored(tmp_path)
    found = stdcache._found(entry, k, request, rehash=True)
    assert found is not None and found.path == entry / "go-build"
    assert stdcache._found(entry, "0" * 64, request, False) is None  # another key's record

    archive = entry / "go-build" / "ab" / "ab12-d"
    archive.write_bytes(b"archive BYTES")  # same size: the cheap check passes, a rehash does not
    assert stdcache._found(entry, k, request, False) is not None
    assert stdcache._found(entry, k, request, True) is None
    archive.write_bytes(b"archive")  # cut short
    assert stdcache._found(entry, k, request, False) is None
    archive.write_bytes(b"archive bytes")
    (entry / "go-build" / "ab" / "extra-a").write_bytes(b"")  # a file the record does not list
    assert stdcache._found(entry, k, request, False) is None
    (entry / "go-build" / "ab" / "extra-a").unlink()
    (entry / "std.json").write_text("{")  # a record cut short
    assert stdcache._found(entry, k, request, False) is None
    (entry / "std.json").unlink()
    assert stdcache._found(entry, k, request, False) is None


def test_the_stored_tree_keeps_no_time_of_its_making(tmp_path: Path) -> None:
    entry = f"v1 {'a' * 64} {'b' * 64} {9:20d} {1796316188519081073:20d}\n".encode()
    (tmp_path / "aa").mkdir()
    (tmp_path / "aa" / "aa11-a").write_bytes(entry)
    (tmp_path / "bb-d").write_bytes(b"v1 not an entry")
    (tmp_path / "trim.txt").write_text("1796316242")
    stdcache._normalize(tmp_path)
    assert (tmp_path / "aa" / "aa11-a").read_bytes() == entry[:-21] + b"0".rjust(20) + b"\n"
    assert len((tmp_path / "aa" / "aa11-a").read_bytes()) == stdcache.ENTRY
    assert (tmp_path / "bb-d").read_bytes() == b"v1 not an entry" and not (tmp_path / "trim.txt").exists()
    assert {p.stat().st_mtime for p in (tmp_path, *tmp_path.rglob("*"))} == {stdcache.FUTURE}


def test_a_record_with_malformed_file_entries_is_damage_not_a_crash(tmp_path: Path) -> None:
    # Sizes right (so the cheap check on every use passes), but no sha256s: the rehash must call it damaged.
    entry = tmp_path / "k"
    (entry / "go-build" / "00").mkdir(parents=True)
    (entry / "go-build" / "00" / "a-d").write_bytes(b"x")
    request = stdcache.Request((), ())
    doc = {"format": stdcache.FORMAT, "key": "k", "digest": "d", "files": [["00/a-d", 1]]}
    (entry / stdcache.RECORD).write_text(json.dumps(doc))
    assert stdcache._found(entry, "k", request, rehash=False) is not None
    assert stdcache._found(entry, "k", request, rehash=True) is None
    cache = stdcache.Cache("k", entry / "go-build", "d", request)
    assert "malformed file entry" in (stdcache.check(cache) or "")
