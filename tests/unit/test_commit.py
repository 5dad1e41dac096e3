"""Reading an overlay upper back as a layer: whiteouts, opaque dirs, links, and what gobox itself made there."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gobox.imagestore.commit import read_upper
from gobox.oci.write import DIR, FILE, HARDLINK, OPAQUE, SYMLINK, WHITEOUT


def test_overlay_markers_become_layer_entries(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "motd", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    (upper / "opt").mkdir()
    os.setxattr(upper / "opt", "user.overlay.opaque", b"y")
    (upper / "opt" / "a").write_text("a")
    os.link(upper / "opt" / "a", upper / "opt" / "b")
    os.symlink("/opt/a", upper / "opt" / "c")
    os.mkfifo(upper / "opt" / "fifo")
    diff = read_upper(upper, (), ())
    kinds = {(e.name, e.kind) for e in diff.entries}
    assert kinds == {("etc", DIR), ("etc/motd", WHITEOUT), ("opt", DIR), ("opt", OPAQUE), ("opt/a", FILE),
                     ("opt/b", HARDLINK), ("opt/c", SYMLINK)}
    assert next(e for e in diff.entries if e.kind == HARDLINK).link == "opt/a"
    assert diff.skipped == ("/opt/fifo",)


def test_mount_points_and_the_dirs_made_for_them_are_left_out(tmp_path: Path) -> None:
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    for d in ("gobox/cache/go-build", "go/pkg/mod", "work/src/app", "usr/local/bin"):
        (upper / d).mkdir(parents=True)
    (upper / "usr" / "local" / "bin" / "hi").write_text("hi")
    (lower / "go").mkdir(parents=True)
    targets = ("/proc", "/gobox/cache/go-build", "/go/pkg/mod", "/work/src/app")
    names = {e.name for e in read_upper(upper, targets, (lower,)).entries}
    # /go stays: the image had it, as docker would keep it; /gobox and /work were made only to hold mounts.
    assert names == {"go", "usr", "usr/local", "usr/local/bin", "usr/local/bin/hi"}


def test_a_holder_the_command_wrote_into_stays(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "gobox" / "cache").mkdir(parents=True)
    (upper / "gobox" / "notes").write_text("mine")
    names = {e.name for e in read_upper(upper, ("/gobox/cache",), ()).entries}
    assert names == {"gobox", "gobox/notes"}
