"""What features hand their command for gobox.lock (LockPin), and what the command's one record writes."""

from __future__ import annotations

from pathlib import Path

from gobox.lock import Lock, LockedArtifact, LockedBundle, LockedDep, LockedImage, LockPin, read_lock, record

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def artifact(platform: str, sha: str = "1" * 64) -> LockedArtifact:
    return LockedArtifact(platform, "go.dev", f"go.{platform}.tar.gz", "https://go.dev/dl/x", sha, 10)


def go(version: str, platform: str = "linux/amd64", only: bool = False) -> LockPin:
    return LockPin(f"go {version}", version, artifact(platform), only_artifact=only)


DEP = LockedDep("github.com/x/y", "git", "https://example/x/y", "v1", "c" * 40)
BUNDLE = LockedBundle("certifi", "2024.1.1", "d" * 64)
FULL = Lock("1.22.10", (artifact("linux/amd64"), artifact("linux/arm64")),
            (LockedImage("r/golang:1", "linux/amd64", A),), BUNDLE, (DEP,))


def test_a_go_pin_makes_a_lock_where_there_was_none() -> None:
    assert go("1.22.10").apply(None) == Lock("1.22.10", (artifact("linux/amd64"),))


def test_the_same_go_on_another_machine_adds_its_file_and_keeps_the_others() -> None:
    new = go("1.22.10", "darwin/arm64").apply(FULL)
    assert new is not None
    assert [a.platform for a in new.artifacts] == ["linux/amd64", "linux/arm64", "darwin/arm64"]
    assert (new.images, new.ca_certificates, new.deps) == (FULL.images, BUNDLE, (DEP,))


def test_a_new_file_for_this_platform_replaces_its_old_one() -> None:
    pin = LockPin("go", "1.22.10", artifact("linux/amd64", "2" * 64))
    new = pin.apply(FULL)
    assert new is not None
    assert {a.platform: a.sha256 for a in new.artifacts} == {"linux/amd64": "2" * 64, "linux/arm64": "1" * 64}


def test_another_go_version_drops_the_old_versions_files() -> None:
    new = go("1.23.4").apply(FULL)
    assert new is not None and new.go_version == "1.23.4"
    assert new.artifacts == (artifact("linux/amd64"),)


def test_toolchain_pin_keeps_only_this_platforms_file_even_for_the_same_version() -> None:
    new = go("1.22.10", only=True).apply(FULL)
    assert new is not None and new.artifacts == (artifact("linux/amd64"),)


def test_an_image_pin_replaces_its_reference_and_platform_only() -> None:
    moved = LockPin("img", image=LockedImage("r/golang:1", "linux/amd64", B))
    other = LockPin("img", image=LockedImage("r/golang:1", "linux/arm64", A))
    new = other.apply(moved.apply(FULL))
    assert new is not None
    assert [(i.platform, i.digest) for i in new.images] == [("linux/amd64", B), ("linux/arm64", A)]
    assert new.go_version == "1.22.10" and new.deps == (DEP,)


def test_a_pin_the_lock_already_holds_changes_nothing() -> None:
    assert LockPin("img", image=FULL.images[0]).apply(FULL) is None
    assert LockPin("ca", ca_certificates=BUNDLE).apply(FULL) is None
    assert LockPin("deps", deps=(DEP,)).apply(FULL) is None
    assert LockPin("deps", deps=()).apply(None) is None  # no lock, nothing vendored: no file appears


def test_record_writes_every_pin_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "gobox.lock"
    written = record(path, (go("1.22.10"), LockPin("ca", ca_certificates=BUNDLE), LockPin("deps", deps=(DEP,))))
    assert written == read_lock(path) == Lock("1.22.10", (artifact("linux/amd64"),), (), BUNDLE, (DEP,))


def test_record_leaves_a_lock_that_already_says_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "gobox.lock"
    record(path, (go("1.22.10"),))
    before = path.stat().st_mtime_ns, path.stat().st_ino
    assert record(path, (go("1.22.10"),)) is None
    assert record(path, ()) is None
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
