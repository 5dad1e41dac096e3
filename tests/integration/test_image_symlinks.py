"""Images whose layers point `etc` at a directory of this host, from a real registry: gobox reads the image's
User, HOME and a base's accounts inside the image, never from the host, and [image].files stays in the project.

The host directory holds a passwd naming the images' User (builder, uid 4242). An image that reads it would
run as 4242, or carry the host's line into an image built on it. `probe`, a static Go program in the images,
says who it runs as.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support.ocilayout import Entry, Image, Layer, files, write_layout
from support.registry import TOOLS, Registry, push
from support.requires import requires_tool
from support.runner import REPO, Gobox

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux"), requires_tool(*TOOLS)]

PROBE = '''package main

import (
\t"fmt"
\t"os"
)

func main() { fmt.Println(os.Getuid(), os.Getgid(), os.Getenv("HOME")) }
'''
HOST_PASSWD = "builder:x:4242:4242:host:/host-home:/bin/sh\n"
HOST_GROUP = "builder:x:4242:\n"
OWN_PASSWD = "root:x:0:0:root:/root:/bin/sh\nbuilder:x:5151:5151:own:/own-home:/bin/sh\n"


@pytest.fixture(scope="module")
def probe(stocked_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe, built static with the stocked Go 1.22.10."""
    d = tmp_path_factory.mktemp("probe")
    (d / "probe.go").write_text(PROBE)
    go = stocked_home / "toolchains" / "go1.22.10.linux-amd64" / "layer" / "usr" / "local" / "go" / "bin" / "go"
    env = {"PATH": os.environ["PATH"], "HOME": str(d), "GOCACHE": str(d / "cache"), "GOPATH": str(d / "gopath"),
           "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64", "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    subprocess.run([str(go), "build", "-trimpath", "-ldflags=-s -w", "-o", str(d / "probe"), "probe.go"],
                   cwd=d, env=env, check=True, timeout=300)
    return d / "probe"


@pytest.fixture(scope="module")
def host_etc() -> Path:
    """A directory of this host with a passwd and group naming builder; it must never change or be read."""
    d = Path(tempfile.mkdtemp(prefix="gobox-host-etc-"))
    (d / "etc").mkdir()
    (d / "etc" / "passwd").write_text(HOST_PASSWD)
    (d / "etc" / "group").write_text(HOST_GROUP)
    yield d
    shutil.rmtree(d)


def host_unchanged(host_etc: Path) -> None:
    assert sorted(p.name for p in (host_etc / "etc").iterdir()) == ["group", "passwd"]
    assert (host_etc / "etc" / "passwd").read_text() == HOST_PASSWD


@pytest.fixture(scope="module")
def registry(probe: Path, host_etc: Path) -> Registry:
    """evil/etc: `etc -> <host>/etc` and User builder. evil/own: the same, with the image's own file where
    that link leads inside the image."""
    binary = Layer(files({"bin/probe": probe.read_bytes()}, mode=0o755))
    link = Layer([Entry("etc", "symlink", target=f"{host_etc}/etc")])
    inside = f"{str(host_etc).lstrip('/')}/etc"
    own = Layer(files({f"{inside}/passwd": OWN_PASSWD, f"{inside}/group": "root:x:0:\nbuilder:x:5151:\n"}))
    config = {"user": "builder", "entrypoint": ["/bin/probe"]}
    with tempfile.TemporaryDirectory(prefix="gobox-symlink-layout-") as tmp, Registry("none") as reg:
        write_layout(tmp, {"etc": Image([binary, link], **config), "own": Image([binary, link, own], **config)})
        push(tmp, "etc", reg, "evil/etc:v1")
        push(tmp, "own", reg, "evil/own:v1")
        yield reg


# --- running an image: its User and HOME come from the image ---------------------------------------


@pytest.mark.parametrize("command", ["run", "image run"])
def test_the_user_is_not_resolved_from_the_hosts_passwd(gobox: Gobox, registry: Registry, host_etc: Path,
                                                         tmp_path: Path, command: str) -> None:
    ref = f"{registry.host}/evil/etc:v1"
    args = ("run", "--image", ref, "--", "/bin/probe") if command == "run" else ("image", "run", ref)
    r = gobox(*args, cwd=tmp_path)
    assert r.code == 2, (r.out, r.err)
    assert "gobox: error: the image's User 'builder' is not in its /etc/passwd" in r.err
    assert "4242" not in r.out
    host_unchanged(host_etc)


@pytest.mark.parametrize("command", ["run", "image run"])
def test_the_link_is_followed_inside_the_image(gobox: Gobox, registry: Registry, host_etc: Path, tmp_path: Path,
                                               command: str) -> None:
    ref = f"{registry.host}/evil/own:v1"
    args = ("run", "--image", ref, "--", "/bin/probe") if command == "run" else ("image", "run", ref)
    r = gobox(*args, cwd=tmp_path)
    assert r.code == 0, r.err
    uid, gid, home = r.out.split()
    assert (uid, gid) == ("5151", "5151")
    if command == "image run":
        assert home == "/own-home"  # HOME from the image's passwd, as docker run sets it
    host_unchanged(host_etc)


# --- building on such a base: nothing of the host goes into the image -------------------------------


def app(root: Path, probe: Path, toml: str) -> Path:
    """A project to pack the already-built probe with `gobox image --binary`."""
    root.mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/probe\n\ngo 1.21\n")
    (root / "gobox.toml").write_text(f'[go]\nversion = "1.22.10"\n{toml}')
    shutil.copy(probe, root / "probe")
    return root


def built_files(layout: Path, tag: str, tmp_path: Path) -> dict[str, str]:
    """The image's root as umoci unpacks it (layers applied in order): each file's text, by path."""
    bundle = tmp_path / "bundle"
    with tempfile.TemporaryDirectory(prefix="gobox-umoci-") as home:
        done = subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:{tag}", str(bundle)],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                              env={**os.environ, "HOME": home, "XDG_RUNTIME_DIR": home})
    assert done.returncode == 0, done.stderr
    root = bundle / "rootfs"
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink() and p.stat().st_size < 1 << 16:
                out[p.relative_to(root).as_posix()] = p.read_text(errors="replace")
    return out


def test_a_user_only_the_hosts_passwd_names_is_not_the_bases(gobox: Gobox, registry: Registry, host_etc: Path,
                                                              probe: Path, tmp_path: Path) -> None:
    base = f'[image]\nbase = "{registry.host}/evil/etc:v1"\nuser = "builder"\n'
    named = app(tmp_path / "named", probe, base)
    r = gobox("-C", str(named), "image", "--binary", "probe", "--output", "oci:layout")
    assert r.code == 2, (r.out, r.err)
    assert "gobox: error: gobox.toml: image.user = 'builder': no such user in the base image" in r.err
    assert not (named / "layout").exists()
    host_unchanged(host_etc)


def test_a_base_with_etc_on_the_host_gives_no_host_line(gobox: Gobox, registry: Registry, host_etc: Path,
                                                        probe: Path, tmp_path: Path) -> None:
    plain = app(tmp_path / "plain", probe, f'[image]\nbase = "{registry.host}/evil/etc:v1"\n')
    r = gobox("-C", str(plain), "image", "--binary", "probe", "--tag", "on-evil:1", "--output", "oci:layout")
    assert r.code == 0, r.err
    root = built_files(plain / "layout", "1", tmp_path)
    assert root["etc/passwd"] == "root:x:0:0:root:/root:/sbin/nologin\n" \
                                 "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    assert all("4242" not in text and "host-home" not in text for text in root.values())
    host_unchanged(host_etc)


def test_a_base_whose_link_leads_to_its_own_accounts(gobox: Gobox, registry: Registry, host_etc: Path,
                                                     probe: Path, tmp_path: Path) -> None:
    project = app(tmp_path / "own", probe, f'[image]\nbase = "{registry.host}/evil/own:v1"\nuser = "builder"\n')
    r = gobox("-C", str(project), "image", "--binary", "probe", "--tag", "on-own:1", "--output", "oci:layout",
              "--json")
    assert r.code == 0, r.err
    (image,) = json.loads(r.out)["images"]
    config = json.loads((gobox.home / "blobs" / "sha256" / image["config"][7:]).read_bytes())
    assert config["config"]["User"] == "5151:5151"
    root = built_files(project / "layout", "1", tmp_path)
    assert root["etc/passwd"] == OWN_PASSWD  # the base's own lines, kept as they are
    host_unchanged(host_etc)


# --- [image].files: files of the project, never of the machine -------------------------------------


def test_image_files_through_a_symlink_out_of_the_project_are_refused(gobox: Gobox, host_etc: Path, probe: Path,
                                                                      tmp_path: Path) -> None:
    project = app(tmp_path / "files", probe, '[image]\nfiles = { "/etc/app.conf" = "deploy/app.conf" }\n')
    (project / "deploy").mkdir()
    (project / "deploy" / "app.conf").symlink_to(host_etc / "etc" / "passwd")
    r = gobox("-C", str(project), "image", "--binary", "probe", "--output", "oci:layout")
    assert r.code == 2, (r.out, r.err)
    assert (f"gobox: error: gobox.toml: image.files.'/etc/app.conf': deploy/app.conf leads out of the project, "
            f"to {host_etc / 'etc' / 'passwd'}") in r.err
    assert not (project / "layout").exists()
    # Made relative and inside the project, the same file is packed.
    (project / "deploy" / "app.conf").unlink()
    (project / "deploy" / "real.conf").write_text("listen = 8080\n")
    (project / "deploy" / "app.conf").symlink_to("real.conf")
    r = gobox("-C", str(project), "image", "--binary", "probe", "--tag", "files:1", "--output", "oci:layout")
    assert r.code == 0, r.err
    assert built_files(project / "layout", "1", tmp_path)["etc/app.conf"] == "listen = 8080\n"


def test_gobox_ci_refuses_a_committed_symlink_out_of_the_checkout(stocked: Gobox, host_etc: Path,
                                                                  tmp_path: Path) -> None:
    project = tmp_path / "ci"
    project.mkdir()
    (project / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (project / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    (project / "gobox.toml").write_text('[go]\nversion = "1.22"\n[ci]\ntest = false\nimage = true\n'
                                        '[image]\nfiles = { "/etc/app.conf" = "deploy/app.conf" }\n')
    shutil.copy(REPO / "recipes" / "hello" / "gobox.lock", project)
    (project / "deploy").mkdir()
    (project / "deploy" / "app.conf").symlink_to(host_etc / "etc" / "passwd")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2024-05-01T12:00:00Z",
           "GIT_COMMITTER_DATE": "2024-05-01T12:00:00Z"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "a link to this machine's passwd"]):
        subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True, env=env)
    r = stocked("-C", str(project), "ci", timeout=900)
    assert r.code == 2, (r.out, r.err)
    assert "gobox: error: gobox.toml: image.files.'/etc/app.conf': deploy/app.conf leads out of the project" in r.err
    assert not list(project.rglob("image.oci.tar"))
    host_unchanged(host_etc)
