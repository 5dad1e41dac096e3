"""Time `gobox vendor` of six git dependencies from local remotes, cold (no repository cache) and warm,
against `go mod vendor` served the same content by a local file GOPROXY (cold: empty module cache)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import zipfile
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_toolchains import Row, base_env, cache_dir, measure_in_scratch, publish, run, secs  # noqa: E402
from support.mirror import full_mirror  # noqa: E402 - tests/ is put on sys.path above

from gobox.deps import modules  # noqa: E402

BEGIN, END = "<!-- vendor:begin -->", "<!-- vendor:end -->"
VERSION = "1.21.13"
DEPS = 6
PACKAGES = 12  # per dependency, 4 files each
COLD_REPS = 3
WARM_REPS = 7
TIMEOUT = 600.0
GIT = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.org", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@example.org", "GIT_CONFIG_NOSYSTEM": "1"}


def dep_files(n: int) -> dict[str, str]:
    files = {"go.mod": f"module example.org/dep{n}\n\ngo 1.21\n",
             "dep.go": f"package dep{n}\n\nfunc Name() string {{ return \"dep{n}\" }}\n"}
    for p in range(PACKAGES):
        for f in range(4):
            files[f"p{p}/f{f}.go"] = (f"package p{p}\n\n// F{f} is generated.\n"
                                      f"func F{f}() int {{ return {n * 100 + f} }}\n")
    return files


def make_remotes(work: Path) -> dict[str, dict[str, str]]:
    env = {**os.environ, **GIT}
    trees = {}
    for n in range(DEPS):
        repo = work / "remotes" / f"dep{n}"
        files = dep_files(n)
        for name, text in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text)
        for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "v1"],
                     ["git", "tag", "v1.0.0"]):
            subprocess.run(argv, cwd=repo, env=env, check=True, capture_output=True, timeout=TIMEOUT)
        trees[f"example.org/dep{n}"] = files
    return trees


def make_proxy(work: Path, trees: dict[str, dict[str, str]]) -> Path:
    """A GOPROXY directory per Go's module proxy protocol: $module/@v/{list,$v.info,$v.mod,$v.zip}."""
    proxy = work / "proxy"
    for module, files in trees.items():
        d = proxy / module / "@v"
        d.mkdir(parents=True)
        (d / "list").write_text("v1.0.0\n")
        (d / "v1.0.0.info").write_text(json.dumps({"Version": "v1.0.0", "Time": "2024-01-01T00:00:00Z"}))
        (d / "v1.0.0.mod").write_text(files["go.mod"])
        with zipfile.ZipFile(d / "v1.0.0.zip", "w") as z:
            for name, text in sorted(files.items()):
                z.writestr(f"{module}@v1.0.0/{name}", text)
    return proxy


def make_project(work: Path, trees: dict[str, dict[str, str]]) -> Path:
    app = work / "app"
    app.mkdir()
    mods = sorted(trees)
    (app / "go.mod").write_text("module example.com/app\n\ngo 1.21\n\nrequire (\n"
                                + "".join(f"\t{m} v1.0.0\n" for m in mods) + ")\n")
    digests = {m: {k: sha256(v.encode()).hexdigest() for k, v in files.items()} for m, files in trees.items()}
    (app / "go.sum").write_text("".join(
        f"{m} v1.0.0 {modules.zip_hash(m, 'v1.0.0', digests[m])}\n"
        f"{m} v1.0.0/go.mod {modules.gomod_hash(trees[m]['go.mod'].encode())}\n" for m in mods))
    # Every package of every dependency is imported, so that `go mod vendor` copies as much as gobox does.
    imports = "".join(f'\t"{m}"\n' + "".join(f'\t_ "{m}/p{p}"\n' for p in range(PACKAGES)) for m in mods)
    calls = " + ".join(f"dep{n}.Name()" for n in range(DEPS))
    (app / "main.go").write_text(f"package main\n\nimport (\n\t\"fmt\"\n{imports})\n\n"
                                 f"func main() {{ fmt.Println({calls}) }}\n")
    (app / "gobox.toml").write_text(f'[go]\nversion = "{VERSION}"\n\n[vendor.deps]\n' + "".join(
        f'"{m}" = {{ git = "{work / "remotes" / m.rsplit("/", 1)[1]}", rev = "v1.0.0" }}\n' for m in mods))
    return app


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def measure(work: Path, cold_reps: int, warm_reps: int) -> tuple[list[Row], list[str]]:
    mirror = full_mirror(cache_dir())
    try:
        env = base_env(work, mirror)
        env["PYTHONPATH"] = str(ROOT)
        gobox = [sys.executable, "-m", "gobox"]
        run([*gobox, "-q", "toolchain", "install", VERSION], env, timeout=TIMEOUT)
        goroot = subprocess.run([*gobox, "toolchain", "which", VERSION], env=env, capture_output=True, text=True,
                                check=True, timeout=TIMEOUT).stdout.strip()
    finally:
        mirror.stop()
    trees = make_remotes(work)
    proxy = make_proxy(work, trees)
    app = make_project(work, trees)
    go_env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO"))}
    go_env.update(GOROOT=goroot, GOTOOLCHAIN="local", GOCACHE=str(work / "gocache"), HOME=str(work / "home"),
                  GOPROXY=f"file://{proxy}", GOSUMDB="off", GOFLAGS="-mod=mod", GOMODCACHE=str(work / "modcache"))
    go = [f"{goroot}/bin/go", "mod", "vendor"]

    counter = iter(range(1000))

    def gobox_cold() -> float:
        shutil.rmtree(app / "vendor", ignore_errors=True)
        (app / "gobox.lock").unlink(missing_ok=True)
        return run([*gobox, "vendor"], {**env, "GOBOX_HOME": str(work / f"store-cold-{next(counter)}")}, app,
                   timeout=TIMEOUT)

    def go_cold() -> float:
        shutil.rmtree(app / "vendor", ignore_errors=True)
        return run(go, {**go_env, "GOMODCACHE": str(work / f"modcache-cold-{next(counter)}")}, app, timeout=TIMEOUT)

    def gobox_warm() -> float:
        return run([*gobox, "vendor"], env, app, timeout=TIMEOUT)

    def go_warm() -> float:
        return run(go, go_env, app, timeout=TIMEOUT)

    cold = {"gobox": [], "go": []}
    for _ in range(cold_reps):
        cold["gobox"].append(gobox_cold())
        cold["go"].append(go_cold())
    gobox_warm()
    go_warm()
    warm = {"gobox": [], "go": []}
    for _ in range(warm_reps):
        warm["gobox"].append(gobox_warm())
        warm["go"].append(go_warm())
    gobox_warm()
    files = {"gobox": count_files(app / "vendor")}
    go_warm()
    files["go"] = count_files(app / "vendor")
    rows = []
    for label, times in (("cold: no repository cache / empty module cache", cold),
                         ("warm: repositories cached, lock present / module cache full", warm)):
        g, p = statistics.median(times["gobox"]), statistics.median(times["go"])
        rows.append(Row(f"vendor {DEPS} deps, {label}", secs(g), f"{secs(p)} (go mod vendor)", f"{g / p:.2f}x", "-",
                        "-", g, p, g / p))
    notes = [f"{DEPS} modules of {PACKAGES} packages each from local git remotes, all imported; vendor/ holds "
             f"{files['gobox']} files from gobox (whole module trees, go.mod included), {files['go']} from go.",
             "peer: `go mod vendor` with GOPROXY=file:// serving zips of the same trees, GOSUMDB=off.",
             f"medians of {cold_reps} cold and {warm_reps} warm runs; gobox runs as `python -m gobox`."]
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update the vendor section of bench/README.md")
    parser.add_argument("--cold-reps", type=int, default=COLD_REPS)
    parser.add_argument("--warm-reps", type=int, default=WARM_REPS)
    args = parser.parse_args()
    publish(results(args.cold_reps, args.warm_reps)[1], args.write, BEGIN, END)


def results(cold_reps: int = COLD_REPS, warm_reps: int = WARM_REPS) -> tuple[list[Row], str]:
    """Run the measurements; return the rows and this bench's README section."""
    return measure_in_scratch("vendor", measure, cold_reps, warm_reps, TIMEOUT)


if __name__ == "__main__":
    main()
