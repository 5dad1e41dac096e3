"""The first cgo cross of a target, when zig builds its C library for minutes, says so and keeps saying it."""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from gobox.cross.cgo import Compiler, libc_built, zig_libc
from gobox.cross.matrix import Done, Events, Task, machine, run_all
from gobox.cross.release import FirstLibc
from gobox.progress import Progress
from gobox.sandbox.spec import Bind, Result, SandboxSpec


class Seen(Events):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def started(self, name: str, running: int) -> None:
        self.calls.append(("started", name))

    def finished(self, done: Done) -> None:
        self.calls.append(("finished", done.name))


def test_zig_libc_reads_the_target_of_gobox_zig_only() -> None:
    arm = Compiler("/gobox/zig/zig cc -target aarch64-linux-musl", "/gobox/zig/zig c++ -target aarch64-linux-musl",
                   "/opt/zig")
    assert zig_libc(arm.env()) == "aarch64-linux-musl"
    assert zig_libc(Compiler("/gobox/zig/zig cc", None, "/opt/zig").env()) == "native"
    assert zig_libc(Compiler("aarch64-linux-gnu-gcc").env()) is None
    assert zig_libc([("CGO_ENABLED", "0")]) is None


def test_a_first_libc_build_is_announced_heartbeats_and_is_remembered(tmp_path: Path) -> None:
    out = io.StringIO()
    seen = Seen()
    events = FirstLibc(seen, {"linux/arm64": "aarch64-linux-musl"}, tmp_path, Progress(out, tty=False))
    assert events.heartbeat and events.heartbeat > 0
    events.started("linux/arm64", 1)
    events.started("linux/amd64", 2)
    events.still("linux/arm64", 151.7)
    events.still("linux/amd64", 151.7)
    assert not libc_built(tmp_path, "aarch64-linux-musl")
    ok = Result(exit_code=0, peak_memory=None, cpu_time=None)
    events.finished(Done("linux/amd64", ok, None, 2.0, ""))
    events.finished(Done("linux/arm64", ok, None, 160.0, ""))
    assert out.getvalue().splitlines() == [
        "gobox: linux/arm64: zig builds the C library for aarch64-linux-musl first; the first cgo build of a target "
        f"takes minutes (then it is kept in {tmp_path})",
        "gobox: linux/arm64: still building, 2:31 so far (zig's C library for aarch64-linux-musl)",
    ]
    assert seen.calls == [("started", "linux/arm64"), ("started", "linux/amd64"), ("finished", "linux/amd64"),
                          ("finished", "linux/arm64")]
    assert libc_built(tmp_path, "aarch64-linux-musl")


def test_a_failed_first_build_is_announced_again_next_time(tmp_path: Path) -> None:
    events = FirstLibc(None, {"windows/amd64": "x86_64-windows-gnu"}, tmp_path, Progress(io.StringIO(), tty=False))
    events.finished(Done("windows/amd64", Result(exit_code=1, peak_memory=None, cpu_time=None), None, 90.0, ""))
    events.finished(Done("windows/amd64", None, "sandbox setup failed", 0.1, ""))
    assert not libc_built(tmp_path, "x86_64-windows-gnu")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")
def test_the_matrix_tells_of_a_run_that_is_still_going() -> None:
    # A real sandboxed run of one second, heartbeats every 0.2: at least one comes before it can end.
    class Heard(Events):
        heartbeat = 0.2

        def __init__(self) -> None:
            self.still_running: list[tuple[str, float]] = []

        def still(self, name: str, seconds: float) -> None:
            self.still_running.append((name, seconds))

    work = Path(tempfile.mkdtemp(dir="/var/tmp"))  # not under /tmp, which the sandbox mounts its own over
    try:
        (work / "layer").mkdir()
        spec = SandboxSpec(argv=("/usr/bin/sleep", "1"), layers=(str(work / "layer"),), env=(("PATH", "/usr/bin"),),
                           binds=(Bind("/usr", "/usr", True),), symlinks=(("/lib64", "usr/lib64"), ("/lib", "usr/lib")))
        heard = Heard()
        (done,) = run_all([Task("linux/arm64", spec, work / "log")], machine(1), events=heard)
        assert done.error is None and done.result is not None and done.result.exit_code == 0, done.output
        assert heard.still_running and {name for name, _ in heard.still_running} == {"linux/arm64"}
        seconds = [s for _, s in heard.still_running]
        assert seconds == sorted(seconds)
    finally:
        shutil.rmtree(work)
