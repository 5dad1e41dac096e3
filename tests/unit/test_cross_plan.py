"""How cross plans a matrix: admission by cores and memory, and each target's C compiler."""

from __future__ import annotations

from pathlib import Path

import pytest

from gobox.cross.cgo import ZIG_CACHE, compiler_for, configured
from gobox.cross.matrix import Admission
from gobox.errors import ConfigError
from gobox.names.targets import Target

MiB = 1 << 20
HOST = Target("linux", "amd64")
ZIG = Path("/opt/ziglang")


@pytest.mark.parametrize(("admission", "estimate", "jobs"), [
    (Admission(None, 2, 4096 * MiB), 768 * MiB, 2),  # cores bound
    (Admission(None, 8, 2048 * MiB), 768 * MiB, 2),  # memory bound: 3 x 768 MiB > 2 GiB
    (Admission(None, 8, 512 * MiB), 768 * MiB, 1),  # one always runs, even over budget
    (Admission(None, 4, None), 768 * MiB, 4),  # memory unknown: cores
    (Admission(3, 1, 100 * MiB), 768 * MiB, 3),  # --jobs is obeyed as given
])
def test_default_parallelism_keeps_the_matrix_within_cores_and_memory(
        admission: Admission, estimate: int, jobs: int) -> None:
    assert admission.default_jobs(estimate) == jobs


def test_a_heavier_measured_peak_slows_admission() -> None:
    a = Admission(None, 4, 3000 * MiB)
    assert a.allows(2, 900 * MiB)
    assert not a.allows(2, 1100 * MiB)


def test_a_foreign_target_with_cgo_needs_a_configured_compiler() -> None:
    with pytest.raises(ConfigError) as e:
        compiler_for(Target("linux", "arm64"), HOST, {}, "none", ZIG)
    assert e.value.message == "linux/arm64: cgo is on, and there is no C cross compiler for linux/arm64"
    assert '[cross.cc] "linux/arm64" = "zig"' in (e.value.hint or "")
    # The host's own target uses the root's cc (the host base's gcc).
    assert compiler_for(Target("linux", "amd64"), HOST, {}, "host", ZIG) is None


def test_zig_gets_the_targets_triple_and_its_cache() -> None:
    c = compiler_for(Target("linux", "arm", "v7"), HOST, {"linux/arm": "zig"}, "none", ZIG)
    assert c is not None
    assert c.cc == "/gobox/zig/zig cc -target arm-linux-musleabihf"
    assert c.zig_dir == str(ZIG)
    assert ("ZIG_GLOBAL_CACHE_DIR", ZIG_CACHE) in c.env()
    win = compiler_for(Target("windows", "amd64"), HOST, {"*": "zig cc -target x86_64-windows-gnu -O2"},
                       "none", ZIG)
    assert win is not None and win.cc == "/gobox/zig/zig cc -target x86_64-windows-gnu -O2"


def test_exact_entries_win_over_pairs_and_the_wildcard() -> None:
    table = {"*": "a", "linux/arm": "b", "linux/arm/v6": "c"}
    assert configured(table, Target("linux", "arm", "v6")) == "c"
    assert configured(table, Target("linux", "arm", "v7")) == "b"
    assert configured(table, Target("darwin", "arm64")) == "a"


@pytest.mark.parametrize(("table", "base", "zig", "message"), [
    ({"linux/arm64": "zig"}, "none", None, "zig is not installed"),
    ({"linux/arm64": "aarch64-linux-gnu-gcc"}, "none", ZIG, "has no programs but the toolchain"),
    ({"linux/arm64": "no-such-cc-gobox"}, "host", ZIG, "no-such-cc-gobox is not installed on this host"),
    ({"plan9/amd64": "zig"}, "none", ZIG, "zig has no C library for plan9/amd64"),
])
def test_a_compiler_that_cannot_run_is_refused_early(table: dict[str, str], base: str, zig: Path | None,
                                                     message: str) -> None:
    target = Target(*next(iter(table)).split("/")[:2])
    with pytest.raises(ConfigError) as e:
        compiler_for(target, HOST, table, base, zig)
    assert message in e.value.message
    assert e.value.message.startswith(f'gobox.toml: cross.cc."{target}"')
