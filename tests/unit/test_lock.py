"""gobox.lock's one writer (two gobox processes keep both updates, a killed writer leaves the old file), and the
lock policy: what a build takes from the lock, and what --locked refuses."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from gobox import lock as lockfile
from gobox.config import GoMod, Project, parse_config
from gobox.errors import LockError, NetworkError
from gobox.lock import Lock, LockedArtifact, LockedBundle, LockedImage, parse_lock, read_lock, render_lock
from gobox.progress import Progress
from gobox.settings import Settings
from gobox.store import Store
from gobox.toolchains.resolve import Resolution, ensure_project

DIGEST = "sha256:" + "a" * 64
# spawn, not fork: each updater is a fresh interpreter, as a second `gobox` would be.
CTX = multiprocessing.get_context("spawn")


def image(name: str) -> LockedImage:
    return LockedImage(f"127.0.0.1:5000/{name}:1", "linux/amd64", DIGEST)


def add_image(path: str, name: str) -> None:
    lockfile.update(Path(path), lambda now: dataclasses.replace(now or Lock(), images=(*(now or Lock()).images,
                                                                                       image(name))))


def add_images(path: str, prefix: str, count: int) -> None:
    for i in range(count):
        add_image(path, f"{prefix}{i}")


def add_image_held(path: str, name: str, inside, go) -> None:  # noqa: ANN001 - multiprocessing Events
    """add_image, holding the lock (inside its change) until `go` is set."""

    def change(now: Lock | None) -> Lock:
        inside.set()
        go.wait(60)
        return dataclasses.replace(now or Lock(), images=(*(now or Lock()).images, image(name)))

    lockfile.update(Path(path), change)


def killed_mid_write(path: str) -> None:
    """An update whose process dies (SIGKILL) with the new lock's bytes written but not yet renamed into place."""

    def die(fd: int) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    os.fsync = die  # the moment chosen: write_atomic syncs the temporary file just before its rename
    lockfile.update(Path(path), lambda now: dataclasses.replace(now or Lock(), go_version="1.23.4"))


def run(target: Callable[..., None], *args: object) -> None:
    p = CTX.Process(target=target, args=args)
    p.start()
    p.join(120)
    assert p.exitcode == 0


def test_two_processes_updating_at_once_keep_each_others_entries(tmp_path: Path) -> None:
    path = tmp_path / "gobox.lock"
    procs = [CTX.Process(target=add_images, args=(str(path), prefix, 25)) for prefix in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lock = read_lock(path)
    assert lock is not None
    assert {i.reference for i in lock.images} == {image(f"{p}{i}").reference for p in "ab" for i in range(25)}


def test_a_second_updater_waits_for_the_first_and_reads_what_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "gobox.lock"
    path.write_text(render_lock(Lock("1.22.10", ca_certificates=LockedBundle("certifi", "2024.8.30", "b" * 64))))
    inside, go = CTX.Event(), CTX.Event()
    first = CTX.Process(target=add_image_held, args=(str(path), "first", inside, go))
    first.start()
    try:
        assert inside.wait(60)
        second = CTX.Process(target=add_image, args=(str(path), "second"))
        second.start()
        second.join(3)
        # The first holds the lock until told to go: the second cannot have written meanwhile.
        assert second.is_alive()
    finally:
        go.set()
    first.join(120)
    second.join(120)
    assert (first.exitcode, second.exitcode) == (0, 0)
    lock = read_lock(path)
    assert lock is not None
    assert [i.reference for i in lock.images] == [image("first").reference, image("second").reference]
    assert lock.go_version == "1.22.10" and lock.ca_certificates is not None  # what neither touched stays


def test_a_writer_killed_mid_write_leaves_the_old_lock_and_no_lock_held(tmp_path: Path) -> None:
    path = tmp_path / "gobox.lock"
    old = render_lock(Lock("1.22.10", images=(image("kept"),)))
    path.write_text(old)
    p = CTX.Process(target=killed_mid_write, args=(str(path),))
    p.start()
    p.join(120)
    assert p.exitcode == -signal.SIGKILL
    assert path.read_text() == old
    # The kernel dropped the dead writer's flock: the next update goes through.
    run(add_image, str(path), "next")
    assert [i.reference for i in parse_lock(path.read_text(), "gobox.lock").images] == [
        image("kept").reference, image("next").reference]


def test_a_change_that_returns_none_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "gobox.lock"
    assert lockfile.update(path, lambda now: None) is None
    assert not path.exists()
    written = lockfile.update(path, lambda now: Lock("1.22.10"))
    assert written == Lock("1.22.10") and read_lock(path) == written


# --- the lock policy: what a build with and without --locked takes from gobox.lock, and what it refuses ----------

PLATFORM = "linux/amd64"
SHA = "c" * 64
# Nothing answers here: a test that reaches a toolchain source fails with NetworkError, so a pass shows none was asked.
NOWHERE = Settings(go_dev_url="http://127.0.0.1:9/dl/", pypi_url="http://127.0.0.1:9/simple/", timeout=2)


def go_lock(version: str = "1.22.10", platform: str = PLATFORM) -> Lock:
    filename = f"go{version}.{platform.replace('/', '-')}.tar.gz"
    return Lock(version, artifacts=(LockedArtifact(platform, "go.dev", filename, f"https://go.dev/dl/{filename}",
                                                   SHA, 1234),))


def lock_project(root: Path, toml: str, lock: Lock | None, gomod_go: str | None = None) -> Project:
    (root / "gobox.toml").write_text(toml)
    if lock is not None:
        (root / "gobox.lock").write_text(render_lock(lock))
    gomod = GoMod(root / "go.mod", "example.com/app", gomod_go, None) if gomod_go else None
    return Project(root, root / "gobox.toml", parse_config(toml, "gobox.toml"), gomod, None)


def resolve(p: Project, tmp_path: Path, locked: bool) -> Resolution:
    return ensure_project(p, Store(tmp_path / "store"), NOWHERE, PLATFORM, Progress(quiet=True), None, {}, locked,
                          dry_run=True)


@pytest.mark.parametrize("locked", [True, False])
def test_a_lock_that_meets_the_request_is_used_as_pinned_and_never_upgraded(tmp_path: Path, locked: bool) -> None:
    # gobox.toml asks for the newest 1.22.x; the lock's 1.22.10 meets that and is what runs, with or without
    # --locked, with no source asked what the newest is.
    p = lock_project(tmp_path, '[go]\nversion = "1.22"\n', go_lock())
    before = p.lock_path.read_bytes()
    r = resolve(p, tmp_path, locked)
    assert str(r.toolchain.version) == "1.22.10" and r.how.endswith("gobox.lock")
    # What would be fetched is the pinned archive, checked against the pinned sha256, from the configured
    # go.dev base (so a committed lock keeps working behind a mirror).
    assert r.pending is not None and r.pending.sha256 == SHA and r.pending.size == 1234
    assert r.pending.url == NOWHERE.go_dev_url + "go1.22.10.linux-amd64.tar.gz"
    assert r.pin is None and p.lock_path.read_bytes() == before


def test_a_go_line_minimum_keeps_a_newer_locked_version_and_says_why(tmp_path: Path) -> None:
    p = lock_project(tmp_path, "", go_lock(), gomod_go="1.21")
    r = resolve(p, tmp_path, locked=True)
    assert str(r.toolchain.version) == "1.22.10"
    assert "go.mod says go 1.21 (a minimum)" in r.reason and "pins go1.22.10, which meets it" in r.reason


@pytest.mark.parametrize(("toml", "lock", "gomod_go", "says"), [
    ('[go]\nversion = "1.22"\n', None, None,
     "--locked: {lock} does not exist, but gobox.toml [go].version asks for 1.22"),
    ('[go]\nversion = "1.22"\n', go_lock("1.21.13"), None,
     "--locked: {lock} pins go 1.21.13, but gobox.toml [go].version asks for 1.22"),
    ("", go_lock("1.22.10"), "1.23", "--locked: {lock} pins go 1.22.10, but go.mod go line asks for 1.23 or newer"),
    ('[go]\nversion = "1.22"\n', Lock(images=(image("base"),)), None,
     "--locked: {lock} pins no Go, but gobox.toml [go].version asks for 1.22"),
    ('[go]\nversion = "1.22.10"\n', go_lock("1.22.10", "linux/arm64"), None,
     "{lock} pins go 1.22.10 but has no toolchain for linux/amd64"),
])
def test_locked_refuses_whatever_would_change_the_lock_and_leaves_it_as_it_was(
        tmp_path: Path, toml: str, lock: Lock | None, gomod_go: str | None, says: str) -> None:
    p = lock_project(tmp_path, toml, lock, gomod_go)
    before = p.lock_path.read_bytes() if lock else None
    with pytest.raises(LockError) as e:
        resolve(p, tmp_path, locked=True)
    assert e.value.message == says.format(lock=p.lock_path)
    assert e.value.exit_code == 2
    assert (p.lock_path.read_bytes() if p.lock_path.exists() else None) == before


def test_a_lock_for_another_platform_names_the_command_that_adds_this_one(tmp_path: Path) -> None:
    p = lock_project(tmp_path, '[go]\nversion = "1.22.10"\n', go_lock("1.22.10", "linux/arm64"))
    with pytest.raises(LockError) as e:
        resolve(p, tmp_path, locked=True)
    assert "gobox toolchain pin 1.22.10" in (e.value.hint or "") and PLATFORM in (e.value.hint or "")


def test_without_locked_a_stale_lock_is_resolved_again_not_refused(tmp_path: Path) -> None:
    # The lock pins 1.21.13 but 1.22 is asked for: without --locked gobox goes to the sources for a new pin
    # (here none answers: a network error, not a lock error) and the old lock stays until one is found.
    p = lock_project(tmp_path, '[go]\nversion = "1.22"\n', go_lock("1.21.13"))
    before = p.lock_path.read_bytes()
    with pytest.raises(NetworkError, match="no toolchain source could be reached"):
        resolve(p, tmp_path, locked=False)
    assert p.lock_path.read_bytes() == before
