"""Time `gobox ci` of the generated 38-package project against a bare `go build` of it, both with cold caches.

    .venv/bin/python bench/bench_ci.py            # print the table
    .venv/bin/python bench/bench_ci.py --write    # and put it in bench/README.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sandbox import LIBRARIES, MAINS, bare_go_env, check, generate_tree  # noqa: E402
from bench_toolchains import GOBOX, VERSION, Row, base_env, cache_dir, measure_in_scratch, publish, run  # noqa: E402
from support.mirror import full_mirror  # noqa: E402 - tests/ is put on sys.path above

BEGIN, END = "<!-- ci:begin -->", "<!-- ci:end -->"
COLD_REPS = 3
TIMEOUT = 1800.0
GIT = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.org", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@example.org", "GIT_CONFIG_NOSYSTEM": "1"}


def measure(work: Path, cold_reps: int, _warm_reps: int) -> tuple[list[Row], list[str]]:
    mirror = full_mirror(cache_dir())
    tree = work / "tree"
    generate_tree(tree)
    # Build only: [ci].test would add a `go test` the bare peer does not run.
    with (tree / "gobox.toml").open("a") as f:
        f.write("\n[ci]\ntest = false\n")
    try:
        env = dict(base_env(work, mirror), GOBOX_TOOLCHAIN_SOURCES="pypi")
        check([GOBOX, "-q", "toolchain", "install"], env, tree)  # pins the toolchain in gobox.lock
    finally:
        mirror.stop()
    git_env = {**os.environ, **GIT}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "bench"]):
        check(argv, git_env, tree)
    store = Path(env["GOBOX_HOME"])
    go = str(store / "toolchains" / f"go{VERSION}.linux-amd64" / "layer" / "usr" / "local" / "go" / "bin" / "go")
    bare = bare_go_env(work)

    gobox_times, bare_times = [], []
    for i in range(cold_reps):
        out = work / f"ci-out-{i}"
        gobox_times.append(run([GOBOX, "-q", "ci", "--out", str(out)], env, tree, timeout=TIMEOUT))
        bare_out = work / f"bare-out-{i}"
        cold = {**bare, "GOCACHE": str(work / f"bare-cache-{i}"), "GOMODCACHE": str(work / f"bare-mod-{i}")}
        bare_times.append(run([go, "build", "-trimpath", "-o", f"{bare_out}/", "./..."], cold, tree,
                              timeout=TIMEOUT))
        same = sorted(p.name for p in bare_out.iterdir()) == sorted(p.name for p in out.iterdir()
                                                                        if p.name not in ("SHA256SUMS",
                                                                                          "provenance.json"))
        if not same:
            raise SystemExit(f"bench: gobox ci and go build made different outputs: {sorted(os.listdir(out))}")
        shutil.rmtree(work / f"bare-cache-{i}", ignore_errors=True)
    g, b = statistics.median(gobox_times), statistics.median(bare_times)
    rows = [Row(f"`gobox ci` vs `go build`, {LIBRARIES + len(MAINS)} packages, cold caches (median of "
                f"{cold_reps})", f"{g:.2f} s", f"{b:.2f} s (bare go build, cold caches)", f"{g / b:.2f}x", "≤ 1.1x",
                "yes" if g / b <= 1.1 else "**no**", g, b, g / b, 1.1)]
    notes = [
        "gobox: `gobox -q ci --out DIR` in a git checkout of the generated project ([ci] test = false): snapshot "
        "of the commit, sandbox with network none, empty GOCACHE and GOMODCACHE on tmpfs, SHA256SUMS and "
        "provenance.json; the toolchain is already in the store, as on a CI runner with a cached store.",
        "bare: `go build -trimpath -o DIR/ ./...` with a new, empty GOCACHE and GOMODCACHE each run, "
        "GOPROXY=off, GOFLAGS=-buildvcs=false, the same go binary.",
        f"runs alternate gobox and bare; all times wall-clock, medians of {cold_reps}.",
    ]
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="update the ci section of bench/README.md")
    parser.add_argument("--cold-reps", type=int, default=COLD_REPS)
    args = parser.parse_args()
    publish(results(args.cold_reps)[1], args.write, BEGIN, END)


def results(cold_reps: int = COLD_REPS) -> tuple[list[Row], str]:
    """Run the measurements; return the rows and this bench's README section."""
    return measure_in_scratch("ci", measure, cold_reps, 0, TIMEOUT)


if __name__ == "__main__":
    main()
