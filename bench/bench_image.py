"""Time writing the hello image from an already-built binary: gobox image --binary against umoci and buildah."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_toolchains import PYTHON, Row, base_env, cache_dir, machine, publish, table  # noqa: E402
from support.mirror import full_mirror  # noqa: E402 - tests/ is put on sys.path above

BEGIN, END = "<!-- image:begin -->", "<!-- image:end -->"
REPS = 15
TIMEOUT = 900.0
SEEDS_SIZE = 2_000_000  # "about 2 MB", the seeds' scratch image of a static binary
PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
GROUP = "root:x:0:\nnonroot:x:65532:\n"


def check(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> str:
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(argv)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def timed(argv: Sequence[str], env: dict[str, str], before: Callable[[], None], cwd: Path | None = None
          ) -> Callable[[], float]:
    """A run whose `before` (cleaning up the last run's output) is not timed."""

    def go() -> float:
        before()
        start = time.perf_counter()
        p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=TIMEOUT)
        elapsed = time.perf_counter() - start
        if p.returncode != 0:
            raise SystemExit(f"bench: {shlex.join(argv)} failed ({p.returncode}):\n{p.stderr.decode(errors='replace')}")
        return elapsed

    return go


def medians(commands: dict[str, Callable[[], float]], reps: int) -> dict[str, float]:
    """Median of each, interleaved so a noisy moment hits them all alike; one untimed warm-up each."""
    for f in commands.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(reps):
        for k, f in commands.items():
            times[k].append(f())
    return {k: statistics.median(v) for k, v in times.items()}


# gobox's layer compressor against Python's zlib at level 6 (what gobox used until it pinned zlib-ng), in one
# process over the binary's bytes: medians of interleaved runs, in ms.
COMPRESS = """
import gzip, statistics, sys, time
from gobox.oci.gzipfixed import compress
data = open(sys.argv[1], "rb").read()
times = {"gobox": [], "zlib": []}
for _ in range(int(sys.argv[2])):
    for name, f in (("gobox", compress), ("zlib", lambda d: gzip.compress(d, 6, mtime=0))):
        start = time.perf_counter()
        out = f(data)
        times[name].append(time.perf_counter() - start)
        assert gzip.decompress(out) == data
print(statistics.median(times["gobox"]) * 1000, statistics.median(times["zlib"]) * 1000)
"""


def layout_size(layout: Path) -> int:
    """Compressed bytes of a layout's image: its config and layers, as a registry would store them."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    return manifest["config"]["size"] + sum(x["size"] for x in manifest["layers"])


def measure(work: Path, reps: int) -> tuple[list[Row], list[str]]:
    mirror = full_mirror(cache_dir())
    try:
        env = dict(base_env(work, mirror), GOBOX_TOOLCHAIN_SOURCES="pypi", PYTHONPATH=str(ROOT))
        hello = shutil.copytree(ROOT / "recipes" / "hello", work / "hello")
        gobox = [PYTHON, "-m", "gobox"]
        built = json.loads(check([*gobox, "-q", "image", "--locked", "--json", "--output", "oci:built"], env, hello))
    finally:
        mirror.stop()
    binary = hello / "dist" / "image" / "hello_linux_amd64" / "hello"
    stage = work / "stage"
    (stage / "etc").mkdir(parents=True)
    shutil.copy(binary, stage / "hello")
    (stage / "etc" / "passwd").write_text(PASSWD)
    (stage / "etc" / "group").write_text(GROUP)

    outs = {name: work / f"out-{name}" for name in ("gobox", "umoci", "buildah")}

    def clean(name: str) -> Callable[[], None]:
        return lambda: shutil.rmtree(outs[name], ignore_errors=True)

    commands = {
        "gobox": timed([*gobox, "-q", "image", "--binary", str(binary), "--output", f"oci:{outs['gobox']}"], env,
                       clean("gobox"), hello),
        "umoci": timed(["sh", "-c", f"set -e; o={outs['umoci']}; umoci init --layout $o; umoci new --image $o:latest; "
                        f"umoci insert --rootless --image $o:latest {stage} /; umoci config --image $o:latest "
                        "--config.entrypoint /hello --config.user 65532:65532"], env, clean("umoci")),
    }
    # The start-up floor of any click CLI on this interpreter, as bench_toolchains takes it.
    commands["click floor"] = timed([PYTHON, "-c", "import click"], env, lambda: None)
    notes = []
    buildah = None
    if os.geteuid() == 0 and shutil.which("buildah"):
        store = f"--root {work / 'buildah' / 'root'} --runroot {work / 'buildah' / 'run'} --storage-driver vfs"
        buildah = f"buildah {store}"

        def clean_buildah() -> None:
            clean("buildah")()
            subprocess.run(["sh", "-c", f"{buildah} rm --all; {buildah} rmi --all --force"], capture_output=True,
                           timeout=TIMEOUT)

        commands["buildah"] = timed(["sh", "-c", f"set -e; c=$({buildah} from scratch); {buildah} copy $c {stage} /; "
                                     f"{buildah} config --entrypoint '[\"/hello\"]' --user 65532:65532 $c; "
                                     f"{buildah} commit -q $c oci:{outs['buildah']}:latest"], env, clean_buildah)
    else:
        notes.append("buildah: not measured; it needs root here (or a rootless setup with subuid ranges) and "
                     "/usr/bin/buildah")
    load_before = os.getloadavg()[0]
    m = medians(commands, reps)
    load_after = os.getloadavg()[0]
    ours, zlib6 = map(float, check([PYTHON, "-c", COMPRESS, str(binary), str(reps)], env).split())
    packed = json.loads(check([*gobox, "-q", "image", "--json", "--binary", str(binary)], env, hello))
    assert packed["digest"] == built["digest"], "the packed image differs from the built one"

    own = m["gobox"] - m["click floor"]
    floor = m["click floor"]
    rows = [Row(f"write the hello image from a built binary (median of {reps})", f"{m['gobox'] * 1000:.0f} ms",
                f"{m['umoci'] * 1000:.0f} ms (umoci init, new, insert, config)", f"{m['gobox'] / m['umoci']:.2f}x",
                "≤ 1.0x", "yes" if m["gobox"] <= m["umoci"] else "**no**", m["gobox"], m["umoci"],
                m["gobox"] / m["umoci"], 1.0,
                in_the_way=f"the interpreter and `import click` alone take {floor * 1000:.0f} ms = "
                f"{floor / m['umoci']:.2f}x umoci's whole run; gobox's own work after them is {own * 1000:.0f} ms "
                f"= {own / m['umoci']:.2f}x umoci (next row). A CPython CLI cannot meet it; a native writer could.")]
    rows.append(Row("same, gobox's own time: wall minus `python -c 'import click'` (info)", f"{own * 1000:.0f} ms",
                    f"{m['umoci'] * 1000:.0f} ms", f"{own / m['umoci']:.2f}x", "—", "—", own, m["umoci"],
                    own / m["umoci"]))
    if "buildah" in m:
        rows.append(Row("same, against buildah", f"{m['gobox'] * 1000:.0f} ms",
                        f"{m['buildah'] * 1000:.0f} ms (buildah from scratch, copy, config, commit)",
                        f"{m['gobox'] / m['buildah']:.2f}x", "≤ 0.3x",
                        "yes" if m["gobox"] <= 0.3 * m["buildah"] else "**no**", m["gobox"], m["buildah"],
                        m["gobox"] / m["buildah"], 0.3,
                        in_the_way=f"0.3x buildah is {0.3 * m['buildah'] * 1000:.0f} ms; the interpreter and "
                        f"`import click` take {floor * 1000:.0f} ms of it and gobox's own work {own * 1000:.0f} ms "
                        f"more: the own work alone would have to fit in "
                        f"{max(0.0, 0.3 * m['buildah'] - floor) * 1000:.0f} ms."))
    rows.append(Row("compress the binary, in one process (info): gobox.oci.gzipfixed vs Python's zlib level 6",
                    f"{ours:.0f} ms", f"{zlib6:.0f} ms (gzip.compress, level 6, the system's zlib)",
                    f"{ours / zlib6:.2f}x", "—", "—", ours / 1000, zlib6 / 1000, ours / zlib6))
    size = built["size"]
    rows.append(Row("hello recipe image, compressed (config + layers + manifest)", f"{size / 1e6:.2f} MB",
                    "about 2 MB (the seeds' scratch image)", f"{size / SEEDS_SIZE:.2f}x", "< 1 MB",
                    "yes" if size < 1_000_000 else "**no**", None, None, size / 1_000_000, 1.0, "size / 1 MB"))
    rows.append(Row("same image written by umoci (config + layers; info)", f"{size / 1e6:.2f} MB",
                    f"{layout_size(outs['umoci']) / 1e6:.2f} MB", f"{size / layout_size(outs['umoci']):.2f}x", "—",
                    "—", None, None, size / layout_size(outs["umoci"]), None, "size / umoci's size"))
    notes += [
        f"binary: {binary.stat().st_size / 1e6:.2f} MB (go 1.22.10, CGO_ENABLED=0, -trimpath, -ldflags=\"-s -w\", "
        "tags netgo,osusergo), built once by `gobox image` before the timed runs; every run packs the same file",
        "gobox: `python -m gobox -q image --binary dist/image/hello_linux_amd64/hello --output oci:DIR` "
        "(two layers: /etc/passwd and /etc/group, then /hello; config with Entrypoint, User, labels; recorded in "
        "the store); its digest is the digest of the image `gobox image` built; layers compressed by zlib-ng 1.1.0 "
        "at level 4 in 64 KiB blocks, the same bytes on any CPU (docs/reproducibility.md)",
        "umoci: `umoci init --layout DIR && umoci new --image DIR:latest && umoci insert --rootless --image "
        "DIR:latest stage / && umoci config --image DIR:latest --config.entrypoint /hello --config.user "
        "65532:65532`, where stage/ holds the same hello, etc/passwd and etc/group",
        "buildah: `c=$(buildah from scratch) && buildah copy $c stage / && buildah config --entrypoint "
        "'[\"/hello\"]' --user 65532:65532 $c && buildah commit $c oci:DIR:latest` with "
        "`--storage-driver vfs` and a private --root/--runroot (no RUN, so no isolation is needed)",
        "each run writes a new layout: the previous run's output (and buildah's container and image) is removed "
        "before it, untimed",
        f"start-up floor, `python -c 'import click'` with the same interpreter: {m['click floor'] * 1000:.0f} ms; "
        f"`python -c pass` is most of it",
        f"load average {load_before:.1f} before, {load_after:.1f} after the timed runs (2 cores: noisy when "
        "others share the machine)",
    ]
    return rows, notes


def results(reps: int = REPS) -> tuple[list[Row], str]:
    """Run the measurements; return the rows and this bench's README section."""
    work = Path(tempfile.mkdtemp(prefix="gobox-bench-image-"))
    try:
        rows, notes = measure(work, reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, "\n".join([f"Machine: {machine()}.", "", table(rows), "", *[f"- {n}" for n in notes]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update the image section of bench/README.md")
    parser.add_argument("--reps", type=int, default=REPS, help=f"timed runs of each tool (default {REPS})")
    args = parser.parse_args()
    publish(results(args.reps)[1], args.write, BEGIN, END)


if __name__ == "__main__":
    main()
