"""gobox.lock's one writer: updates from two gobox processes keep both, and a killed writer leaves the old file."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path

from gobox import lock as lockfile
from gobox.lock import Lock, LockedBundle, LockedImage, parse_lock, read_lock, render_lock

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
