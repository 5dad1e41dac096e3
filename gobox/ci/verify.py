"""gobox verify: the clean-room build again, in rooms that differ in every way that must not matter, compared
byte for byte."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gobox.ci import clean
from gobox.ci.compare import Difference, compare_trees
from gobox.config import Project
from gobox.store import Store, private_dir, remove_tree
from gobox.values import dataclass

if TYPE_CHECKING:
    from gobox.cross.matrix import Events
    from gobox.progress import Progress
    from gobox.settings import Settings

# Far enough apart that a timestamp with one-second resolution differs between two runs.
MIN_APART = 1.1
UNPRIVILEGED = (65534, 65534)


@dataclass(frozen=True)
class Verdict:
    reports: tuple[clean.Report, ...]
    rooms: tuple[clean.Room, ...]
    differences: tuple[tuple[int, Difference], ...]  # (run number, what differs from run 1)
    kept: Path | None  # where each run's outputs are, when asked to keep them

    @property
    def ok(self) -> bool:
        return not self.differences


def rooms_for(base: Path, runs: int, uid: int) -> tuple[clean.Room, ...]:
    """Each run's room (pure): odd runs as the caller with umask 022 and the targets in order; even runs
    deeper in the tree, as another user (unprivileged when the caller is root, root otherwise), with umask
    077 and the targets reversed. Run 2 alone compiles the standard library itself rather than taking the
    store's (gobox.ci.stdcache): every verify proves that the cache changes no byte; run 1 rehashes the
    store's before using it."""
    other = UNPRIVILEGED if uid == 0 else (0, 0)
    return tuple(
        clean.Room(base / f"run-{i}", None, 0o022, False, rehash=i == 1) if i % 2 else
        clean.Room(base / f"run-{i}" / "a-longer" / "path", other, 0o077, True, stdcache=i != 2)
        for i in range(1, runs + 1)
    )


def verify(project: Project, store: Store, settings: Settings, request: clean.Request, runs: int,
           progress: Progress, events: Events | None = None, keep: Path | None = None) -> Verdict:
    """Build `runs` times and compare every output of every run with run 1's."""
    base = private_dir(store.ci)
    rooms = rooms_for(base, runs, os.getuid())
    outs = [(keep or base) / f"run-{i}" / "out" for i in range(1, runs + 1)]
    reports: list[clean.Report] = []
    try:
        last = 0.0
        for i, (room, out) in enumerate(zip(rooms, outs, strict=True), start=1):
            time.sleep(max(0.0, last + MIN_APART - time.monotonic()))
            last = time.monotonic()
            who = "as the caller" if room.user is None else f"as uid {room.user[0]}"
            progress.step(f"verify: run {i} of {runs}, {who}, umask {room.umask:04o}"
                          f"{', targets reversed' if room.reverse else ''}"
                          f"{'' if room.stdcache else ', compiling the standard library (no prebuilt cache)'}")
            out.mkdir(parents=True)
            report = clean.build(project, store, settings, request, room, out, progress, events)
            if report.error is not None:
                raise report.error
            reports.append(report)
        differences = tuple((i, d) for i in range(2, runs + 1) for d in compare_trees(outs[0], outs[i - 1]))
    finally:
        remove_tree(base)
    return Verdict(tuple(reports), rooms, differences, keep)
