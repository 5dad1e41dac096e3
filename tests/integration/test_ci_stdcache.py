"""gobox ci's prebuilt standard library, with the real toolchain and kernel: a room compiles none of std once
the store holds it, the outputs are the bytes a room without it makes, provenance.json names it by its digest,
a damaged one is never used, and a rootless gobox builds and mounts it too."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from support.ci_examples import statement_checked
from support.mirror import Mirror
from support.runner import NOBODY, Gobox, as_nobody, gobox_env
from test_ci import project

from gobox.ci import stdcache

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'
# -x makes go print every action: a compile of a std package shows as `-p runtime` (and so on).
TOML = '[go]\nversion = "1.22"\n[build]\nflags = ["-x"]\n[ci]\ntest = false\n'


def compiled(err: str) -> set[str]:
    """The packages go's -x log says it compiled."""
    return set(re.findall(r"/compile -o \S+ -trimpath \S+ -p (\S+) ", err))


def std_entries(home: Path) -> list[Path]:
    return sorted(p for p in (home / "cache" / "std").iterdir() if not p.name.startswith("."))


def std_resources(out: Path) -> list[dict]:
    resolved = statement_checked(out / "provenance.json")["predicate"]["buildDefinition"]["resolvedDependencies"]
    return [r for r in resolved if r["name"].startswith("go-std-cache ")]


def test_ci_compiles_no_std_package_once_the_store_holds_it(gobox: Gobox, tmp_path: Path) -> None:
    # A store of its own: the first ci builds the standard library, the second finds it.
    assert gobox("-q", "toolchain", "install", "1.22.10", env={"GOBOX_TOOLCHAIN_SOURCES": "pypi"}).code == 0
    root = project(tmp_path, {"main.go": MAIN, "gobox.toml": TOML})
    first = gobox("-C", str(root), "ci", "--out", str(tmp_path / "one"), timeout=1200)
    assert first.code == 0, first.err
    assert "standard library for" in first.err  # built once, and said so
    [entry] = std_entries(gobox.home)

    second = gobox("-C", str(root), "ci", "--out", str(tmp_path / "two"), timeout=600)
    assert second.code == 0, second.err
    assert "standard library for" not in second.err
    assert compiled(second.err) == {"main"}, sorted(compiled(second.err))
    assert (tmp_path / "one" / "probe").read_bytes() == (tmp_path / "two" / "probe").read_bytes()
    assert subprocess.run([tmp_path / "two" / "probe"], capture_output=True, text=True).stdout == "hello\n"

    # provenance.json names it, by the digest of its files as the store holds them.
    [resource] = std_resources(tmp_path / "two")
    record = json.loads((entry / "std.json").read_text())
    assert resource["digest"] == {"sha256": record["digest"]}
    assert resource["annotations"]["key"] == entry.name
    files = [(p.relative_to(entry / "go-build").as_posix(), p) for p in (entry / "go-build").rglob("*") if p.is_file()]
    import hashlib

    assert stdcache.tree_digest((rel, hashlib.sha256(p.read_bytes()).hexdigest()) for rel, p in files) \
        == record["digest"]
    # The store's copy is never written by a room: no file newer than its record.
    assert all(p.stat().st_mtime == stdcache.FUTURE for _, p in files)

    # verify: run 2 compiles std itself, and the bytes are the same as run 1's with the cache.
    r = gobox("-C", str(root), "verify", "--json", timeout=1200)
    assert r.code == 0, r.err
    assert "compiling the standard library (no prebuilt cache)" in r.err
    runs = re.split(r"verify: run \d of 2", r.err)
    assert len(compiled(runs[1])) == 1 and "runtime" in compiled(runs[2]), (compiled(runs[1]), compiled(runs[2]))
    assert json.loads(r.out)["stdcache"] == [True, False]


def test_a_damaged_std_cache_is_built_again_never_used(gobox: Gobox, tmp_path: Path) -> None:
    assert gobox("-q", "toolchain", "install", "1.22.10", env={"GOBOX_TOOLCHAIN_SOURCES": "pypi"}).code == 0
    root = project(tmp_path, {"main.go": MAIN, "gobox.toml": TOML})
    assert gobox("-C", str(root), "ci", "--out", str(tmp_path / "one"), timeout=1200).code == 0
    [entry] = std_entries(gobox.home)

    # Half a cache: one archive cut short (the size check sees it), then one gone.
    archive = max((p for p in (entry / "go-build").rglob("*-d")), key=lambda p: p.stat().st_size)
    archive.write_bytes(archive.read_bytes()[:100])
    r = gobox("-C", str(root), "ci", "--out", str(tmp_path / "two"), timeout=1200)
    assert r.code == 0, r.err
    assert f"standard library cache {entry.name[:12]} is damaged" in r.err
    assert (tmp_path / "one" / "probe").read_bytes() == (tmp_path / "two" / "probe").read_bytes()
    assert (entry / "std.json").is_file()  # made again, whole

    # A cache dir with no record (as a crash before the rename would leave, were it ever renamed) is not used.
    (entry / "std.json").unlink()
    r = gobox("-C", str(root), "ci", "--out", str(tmp_path / "three"), timeout=1200)
    assert r.code == 0, r.err
    assert "is damaged" in r.err and (entry / "std.json").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv to nobody needs root")
def test_rootless_ci_builds_and_mounts_the_std_cache(clean_mirror: Mirror) -> None:
    base = Path(tempfile.mkdtemp(prefix="gobox-nobody-"))  # pytest's tmp dirs are 0700 root's
    try:
        base.chmod(0o755)
        home = base / "home"
        root = project(base, {"main.go": MAIN, "gobox.toml": TOML})
        for p in (base, *base.rglob("*")):
            os.chown(p, NOBODY, NOBODY, follow_symlinks=False)
        env = {**gobox_env(home, clean_mirror, sources="pypi"), "HOME": str(base)}
        assert as_nobody(("-q", "toolchain", "install", "1.22.10"), root, env).returncode == 0
        for n in ("one", "two"):
            p = as_nobody(("ci", "--out", str(base / n)), root, env, timeout=1200)
            assert p.returncode == 0, p.stderr
        assert compiled(p.stderr) == {"main"}
        [entry] = std_entries(home)
        assert entry.stat().st_uid == NOBODY
        assert (base / "one" / "probe").read_bytes() == (base / "two" / "probe").read_bytes()
    finally:
        shutil.rmtree(base, ignore_errors=True)
