"""recipes/gopath-2014 vendors its bundled git and hg dependencies at their pinned revisions and builds with
GO111MODULE=off on Go 1.21, beside recipes/hello on Go 1.22 in the same store."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.requires import requires_tool
from support.runner import REPO, Gobox

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux"),
              requires_tool("hg")]

# Nothing may be fetched: the toolchains are in the store, the repositories in the recipe.
OFFLINE = {"GOBOX_GO_DEV_URL": "http://127.0.0.1:9/dl/", "GOBOX_PYPI_URL": "http://127.0.0.1:9/simple/"}
ARGS = ("-width", "30", "1500000", "2048", "999", "12345678")
# SI units and flush lines: the pinned revisions. The tips say "1.4 MiB" and indent continuation lines.
REPORT = "1,500,000 bytes is 1.5 MB;\n2,048 bytes is 2.0 kB; 999\nbytes is 999 B; 12,345,678\nbytes is 12.3 MB;\n"


def copy(name: str, tmp_path: Path) -> Path:
    return shutil.copytree(REPO / "recipes" / name, tmp_path / name)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def go_version_m(gobox: Gobox, binary: Path) -> str:
    """`go version -m` of a binary, by the 1.21 toolchain on the host: what a user would run to ask how it
    was built."""
    r = gobox("toolchain", "which", "1.21.13", env=OFFLINE)
    assert r.code == 0, r.err
    p = subprocess.run([str(Path(r.out.strip()) / "bin" / "go"), "version", "-m", str(binary)],
                       capture_output=True, text=True, check=True)
    return p.stdout


def test_pinned_revisions_build_in_gopath_mode_beside_a_module_project(stocked: Gobox, tmp_path: Path) -> None:
    recipe = copy("gopath-2014", tmp_path)
    committed = snapshot(recipe)
    # A fresh copy's repositories are not in the store yet: the lock's tree digests vouch for vendor/.
    r = stocked("-C", str(recipe), "vendor", "--check", env=OFFLINE)
    assert r.code == 0, r.out + r.err
    r = stocked("-C", str(recipe), "vendor", env=OFFLINE)
    assert r.code == 0, r.err
    assert "cloning git" in r.err and "cloning hg" in r.err and "wrote gobox.lock" not in r.err, r.err
    assert snapshot(recipe) == committed
    r = stocked("-C", str(recipe), "vendor", "--check", env=OFFLINE)  # now file by file, from the clones
    assert r.code == 0, r.out + r.err

    r = stocked("-C", str(recipe), "build", "--locked", env=OFFLINE)
    assert r.code == 0, r.err
    binary = recipe / "dist" / "gopath-2014"
    assert subprocess.run([binary, *ARGS], capture_output=True, text=True).stdout == REPORT
    assert subprocess.run([binary, "-version"], capture_output=True, text=True).stdout == "go1.21.13\n"

    # Built under $GOPATH/src/<import-path>, not as "_/<its directory>": the same bytes from another checkout.
    elsewhere = shutil.copytree(REPO / "recipes" / "gopath-2014", tmp_path / "a" / "longer" / "path")
    r = stocked("-C", str(elsewhere), "vendor", env=OFFLINE)
    assert r.code == 0, r.err
    r = stocked("-C", str(elsewhere), "build", "--locked", env=OFFLINE)
    assert r.code == 0, r.err
    assert (elsewhere / "dist" / "gopath-2014").read_bytes() == binary.read_bytes()

    hello = copy("hello", tmp_path)
    r = stocked("-C", str(hello), "build", "--locked", env=OFFLINE)
    assert r.code == 0, r.err
    r = stocked("toolchain", "list", env=OFFLINE)
    installed = {line.split()[0] for line in r.out.splitlines()[1:]}
    assert {"1.21.13", "1.22.10"} <= installed, r.out

    # A GOPATH build knows no module: its path is [vendor].import-path under $GOPATH/src, and no mod or deps.
    info = go_version_m(stocked, binary)
    assert info.startswith(f"{binary}: go1.21.13\n") and "\tpath\tgithub.com/gopher2014/gopath-2014\n" in info, info
    assert "\tmod\t" not in info and "\tdep\t" not in info, info
    info = go_version_m(stocked, hello / "dist" / "hello")
    assert info.startswith(f"{hello / 'dist' / 'hello'}: go1.22.10\n"), info
    assert "\tmod\texample.com/hello\t(devel)" in info, info


@pytest.mark.parametrize(("dep", "rev", "bad", "remote"), [
    ("github.com/gopher2014/wordwrap", "effc86f", "0badc0de", "git upstream/wordwrap.bundle"),
    ("bitbucket.org/gopher2014/humanize", "7b2ab6262278", "0badc0de0bad", "hg upstream/humanize.hg"),
])
def test_a_rev_not_in_the_bundle_names_the_dependency_and_leaves_vendor_alone(
        stocked: Gobox, tmp_path: Path, dep: str, rev: str, bad: str, remote: str) -> None:
    recipe = copy("gopath-2014", tmp_path)
    toml = recipe / "gobox.toml"
    toml.write_text(toml.read_text().replace(f'rev = "{rev}"', f'rev = "{bad}"'))
    before = snapshot(recipe)
    r = stocked("-C", str(recipe), "vendor", env=OFFLINE)
    assert r.code == 2, r.err
    vcs, path = remote.split()
    errors = [line for line in r.err.splitlines() if line.startswith("gobox: error:")]
    assert len(errors) == 1, r.err
    assert errors[0].startswith(f"gobox: error: [vendor.deps] {dep}: {vcs} {recipe / path}: no revision '{bad}' "
                                "(not a tag, branch"), r.err
    assert snapshot(recipe) == before
