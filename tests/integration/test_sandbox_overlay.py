"""A SandboxSpec's overlays on the real kernel: host directories shown read-only under a directory whose
writes go to a throw-away upper, never to the host; as root and as an unprivileged user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.requires import requires_userns
from support.runner import NOBODY, REPO

from gobox.sandbox.spec import Bind, Overlay, SandboxSpec

SCRIPT = ("cat /cache/kept /cache/other > /out/seen; echo new > /cache/new; echo changed > /cache/kept; "
          "rm /cache/other; cat /cache/kept /cache/new >> /out/seen; ls /cache >> /out/seen")


def spec(tmp: Path) -> SandboxSpec:
    top = [(d, os.readlink(d)) for d in ("/bin", "/sbin", "/lib", "/lib64") if os.path.islink(d)]
    binds = [Bind(d, d, True) for d in ("/bin", "/lib", "/lib64") if os.path.isdir(d) and not os.path.islink(d)]
    return SandboxSpec(
        argv=("/bin/sh", "-c", SCRIPT), layers=(str(tmp / "root"),), env=(("PATH", "/usr/bin:/bin"),),
        binds=(Bind("/usr", "/usr", True), *binds, Bind(str(tmp / "out"), "/out")), symlinks=tuple(top),
        overlays=(Overlay("/cache", (str(tmp / "upper-lower"), str(tmp / "lower"))),),
        uid=os.getuid(), gid=os.getgid(), scratch=str(tmp / "scratch"), seccomp="off")


def run(spec: SandboxSpec, user: int | None = None) -> int:
    code = ("import sys, pickle; from gobox.sandbox.run import run; "
            "sys.exit(run(pickle.loads(sys.stdin.buffer.read()), no_limits=True).exit_code)")
    import pickle

    pre = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return subprocess.run([*pre, sys.executable, "-c", code], input=pickle.dumps(spec), timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)}).returncode


def tree(tmp: Path, owner: int) -> Path:
    """The lowers as a store holds them: the user's own files, 0644 in 0755 directories."""
    for d in ("root", "out", "scratch", "lower", "upper-lower"):
        (tmp / d).mkdir(mode=0o755)
    (tmp / "lower" / "kept").write_text("from the lower\n")
    (tmp / "lower" / "other").write_text("shadowed\n")
    (tmp / "upper-lower" / "other").write_text("from the top lower\n")
    for p in tmp.rglob("*"):
        os.chown(p, owner, owner)
    return tmp


def check(tmp: Path) -> None:
    assert (tmp / "out" / "seen").read_text() == ("from the lower\nfrom the top lower\nchanged\nnew\nkept\nnew\n")
    # The host's directories are as they were: every write stayed in the run's upper.
    assert sorted(p.name for p in (tmp / "lower").iterdir()) == ["kept", "other"]
    assert (tmp / "lower" / "kept").read_text() == "from the lower\n"
    assert sorted(p.name for p in (tmp / "upper-lower").iterdir()) == ["other"]


@requires_userns
def test_an_overlay_reads_its_lowers_and_keeps_writes_off_the_host(tmp_path: Path) -> None:
    tmp = tree(tmp_path, os.getuid())
    assert run(spec(tmp)) == 0
    check(tmp)


@requires_userns
@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv to nobody needs root")
def test_an_overlay_works_rootless() -> None:
    import shutil
    import tempfile
    from dataclasses import replace

    base = Path(tempfile.mkdtemp(prefix="gobox-nobody-"))  # pytest's tmp dirs are 0700 root's
    try:
        base.chmod(0o755)
        tmp = tree(base, NOBODY)
        assert run(replace(spec(tmp), uid=NOBODY, gid=NOBODY), NOBODY) == 0
        check(tmp)
    finally:
        shutil.rmtree(base)
