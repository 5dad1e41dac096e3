"""Images whose layers put symlinks where gobox mounts (the runc CVE-2021-30465 class), pulled from a real
registry: every mount point is found inside the image's root, nothing is made or mounted on the host; and an
image's unprivileged User cannot lift its limits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support.ocilayout import Entry, Image, Layer, raw, write_layout
from support.registry import TOOLS, Registry, push
from support.requires import requires_cgroups, requires_tool
from support.runner import REPO, Gobox

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux"),
              requires_tool("gcc", *TOOLS)]

HOSTILE_SRC = REPO / "tests" / "data" / "hostile" / "hostile.c"
LINKED = ("gobox", "etc", "tmp", "proc", "dev")  # top-level names the image makes symlinks to the host


@pytest.fixture(scope="module")
def place() -> Path:
    """Where the host directories the image points at live, and the project: not under /tmp, which the
    image itself replaces with a symlink."""
    base = Path(tempfile.mkdtemp(prefix="gobox-links-", dir="/var/tmp"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def images(place: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, dict[str, str]]:
    out = tmp_path_factory.mktemp("hostile") / "hostile"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(HOSTILE_SRC)], check=True, timeout=120)
    binary = Entry("hostile", "file", out.read_bytes(), mode=0o755)
    host = place / "host"
    project = place / "app"
    parents = [Entry("/".join(project.parts[1:i]), "dir") for i in range(2, len(project.parts))]
    links = Image([Layer([binary, *(raw(name, "symlink", target=str(host / name)) for name in LINKED),
                          *parents, raw(str(project).lstrip("/"), "symlink", target=str(host / "project"))])],
                  env=["PATH=/usr/bin:/bin"])
    nobody = Image([Layer([binary, Entry("tmp", "dir", mode=0o1777)])], env=["PATH=/usr/bin:/bin"],
                   user="65534:65534")
    with tempfile.TemporaryDirectory(prefix="gobox-links-layout-") as tmp, Registry("none") as reg:
        write_layout(tmp, {"links": links, "nobody": nobody})
        push(tmp, "links", reg, "evil/links:v1")
        push(tmp, "nobody", reg, "evil/nobody:v1")
        yield reg, {"links": f"{reg.host}/evil/links:v1", "nobody": f"{reg.host}/evil/nobody:v1"}


def host_dirs(place: Path) -> dict[str, list[str]]:
    return {d.name: sorted(p.name for p in d.iterdir()) for d in sorted((place / "host").iterdir())}


def test_mount_points_behind_image_symlinks_stay_in_the_image(gobox: Gobox, place: Path, images: tuple) -> None:
    _, refs = images
    for name in (*LINKED, "project"):
        (place / "host" / name).mkdir(parents=True, exist_ok=True)
    empty = {name: [] for name in sorted((*LINKED, "project"))}
    app = place / "app"
    app.mkdir(exist_ok=True)
    (app / "gobox.toml").write_text(f'[go]\nimage = "{refs["links"]}"\n')

    r = gobox("run", "--", "/hostile", "write", "/tmp/x", "write", "written", "ls", "/proc/self/fd",
              "read", "/dev/null", "ls", "/gobox/cache", cwd=app)
    assert r.code == 0, r.err
    assert "write /tmp/x: ok" in r.out and "ls /proc/self/fd: 0" in r.out and "read /dev/null: 0 bytes" in r.out
    assert "ls /gobox/cache: go-build" in r.out  # GOCACHE was mounted where the image's /gobox leads: inside
    assert (app / "written").read_text() == "escaped\n"  # the project is bound where its path leads inside
    assert host_dirs(place) == empty

    image = gobox("image", "run", "--network", "host", refs["links"], "--", "/hostile", "ls", "/etc",
                  "read", "/etc/resolv.conf", "write", "/tmp/y")
    assert image.code == 0, image.err
    assert "ls /etc: resolv.conf" in image.out and "write /tmp/y: ok" in image.out
    if Path("/etc/resolv.conf").is_file():
        size = len(Path("/etc/resolv.conf").read_bytes())
        assert f"read /etc/resolv.conf: {size} bytes" in image.out  # the host's, bound inside the image's /etc
    assert host_dirs(place) == empty


@requires_cgroups
def test_an_image_user_cannot_lift_its_limits(gobox: Gobox, images: tuple) -> None:
    _, refs = images
    limits = ("--pids", "200", "--memory", "512MiB")
    r = gobox("image", "run", *limits, refs["nobody"], "--", "/hostile", "escape-limits", "forkbomb", "300")
    assert r.code == 0, r.err
    assert "unshare user+mount+cgroup: refused (Operation not permitted)" in r.out
    assert int(r.out.split("forked ", 1)[1].split()[0]) < 200, r.out
    off = gobox("image", "run", *limits, "--seccomp", "off", refs["nobody"], "--", "/hostile", "escape-limits",
                "forkbomb", "300")
    # With the filter off, the sandbox's user namespace limit of 0 refuses the nested one that would map
    # the host's root again (the image's uid 65534 is the caller's root outside).
    assert "unshare user+mount+cgroup: refused (No space left on device)" in off.out, off.out
    assert int(off.out.split("forked ", 1)[1].split()[0]) < 200, off.out
