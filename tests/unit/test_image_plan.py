"""gobox image as values: names, platforms, outputs, users, labels, the config and documents, and run plans."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from gobox.config import Project, parse_config
from gobox.errors import ConfigError, IntegrityError, LockError, NetworkError, UsageError
from gobox.image import certs, pack, plan, run
from gobox.image.elf import read_elf
from gobox.imagestore.records import Image
from gobox.lock import LockedBundle
from gobox.names.platform import Platform
from gobox.oci.manifest import ImageConfig
from gobox.oci.write import DIR, FILE, Entry


def project(toml: str = "", root: Path = Path("/src/app")) -> Project:
    return Project(root, root / "gobox.toml", parse_config(toml, "gobox.toml"), None, None)


# --- what is asked ------------------------------------------------------------------------------


def test_outputs_are_skopeos_spellings(tmp_path: Path) -> None:
    assert plan.parse_output(None, tmp_path) == plan.Output("store")
    assert plan.parse_output("oci:out", tmp_path) == plan.Output("oci", tmp_path / "out")
    assert plan.parse_output("oci-archive:/x/h.tar", tmp_path) == plan.Output("oci-archive", Path("/x/h.tar"))
    assert plan.parse_output("registry", tmp_path) == plan.Output("registry")
    for bad in ("docker://x/y", "oci:", "tar:x", "registry:x"):
        with pytest.raises(UsageError, match="--output"):
            plan.parse_output(bad, tmp_path)


def test_the_name_is_the_tag_then_config_then_localhost() -> None:
    assert str(plan.reference(project(), None, "Hello_World")) == "localhost/hello_world:latest"
    assert str(plan.reference(project('[image]\nname = "reg.example/a/hello"\n'), None, "x")) == \
        "reg.example/a/hello:latest"
    assert str(plan.reference(project(), "127.0.0.1:5000/hello:1.0", "x")) == "127.0.0.1:5000/hello:1.0"
    with pytest.raises(UsageError, match="--tag: not an image reference"):
        plan.reference(project(), "Bad Tag", "x")
    with pytest.raises(UsageError, match="names a digest"):
        plan.reference(project(), "hello@sha256:" + "a" * 64, "x")


def test_platforms_are_linux_targets_comma_separated_without_repeats() -> None:
    got = plan.targets(["linux/amd64,linux/arm64", "linux/arm/7", "linux/amd64"], "linux/amd64", "--platform")
    assert [str(t) for t in got] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert [str(t) for t in plan.targets((), "linux/arm64", "x")] == ["linux/arm64"]
    assert plan.oci_platform(got[2]) == Platform("linux", "arm", "v7")
    with pytest.raises(UsageError, match="images are for linux"):
        plan.targets(["darwin/arm64"], "linux/amd64", "--platform")
    with pytest.raises(UsageError, match="--platform: not a target"):
        plan.targets(["linux/*"], "linux/amd64", "--platform")


def test_the_build_is_static_and_stripped_unless_configured() -> None:
    p = plan.static_project(project('[build]\ntags = ["prod"]\nldflags = "-X main.v=1"\n'), Path("/out"))
    b = p.config.build
    assert b.tags == ("prod", "netgo", "osusergo") and b.ldflags == "-s -w -X main.v=1" and b.output == "/out"
    p = plan.static_project(project('[image]\nldflags = ""\n'), Path("/out"))
    assert p.config.build.ldflags == ""
    assert "scratch" in plan.cgo_problem(True, "scratch").message
    assert plan.cgo_problem(True, "gcr.io/distroless/base") is None and plan.cgo_problem(False, "scratch") is None


# --- users and labels -----------------------------------------------------------------------------

BASE_PASSWD = ["root:x:0:0:root:/root:/bin/sh", "app:x:1000:1001:app:/srv/app:/bin/sh"]


@pytest.mark.parametrize(("value", "expected"), [
    (65532, (65532, 65532, "nonroot")),
    ("nonroot", (65532, 65532, "nonroot")),
    (0, (0, 0, "root")),
    ("1000", (1000, 1001, "app")),  # the base names uid 1000, and its group
    ("1000:7", (1000, 7, "app")),
    ("app", (1000, 1001, "app")),
    (4242, (4242, 4242, "app")),
])
def test_users(value: str | int, expected: tuple) -> None:
    u = plan.parse_user(value, BASE_PASSWD)
    assert (u.uid, u.gid, u.name) == expected and u.config == f"{expected[0]}:{expected[1]}"


def test_an_unknown_user_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="image.user = 'bob'"):
        plan.parse_user("bob", [])


def test_account_files_add_root_and_the_user_to_the_bases() -> None:
    files = plan.account_files(plan.parse_user(65532, []), [], [])
    assert files["etc/passwd"] == (b"root:x:0:0:root:/root:/sbin/nologin\n"
                                   b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    assert files["etc/group"] == b"root:x:0:\nnonroot:x:65532:\n"
    kept = plan.account_files(plan.parse_user("app", BASE_PASSWD), BASE_PASSWD, ["root:x:0:", "app:x:1001:"])
    assert kept["etc/passwd"].decode().splitlines() == BASE_PASSWD


def test_labels_come_from_git_and_the_epoch_and_hide_credentials() -> None:
    git = plan.Git("https://ci:s3cret@git.example/team/app.git", "0123abc", "v1.2.0")
    labels = plan.labels(project('[image]\nlabels = { "org.opencontainers.image.version" = "2" }\n').config.image,
                         git, 1700000000)
    assert labels == {
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
        "org.opencontainers.image.source": "https://git.example/team/app",
        "org.opencontainers.image.revision": "0123abc",
        "org.opencontainers.image.version": "2",
    }
    assert plan.labels(project().config.image, plan.Git(), 0) == {"org.opencontainers.image.created":
                                                                  "1970-01-01T00:00:00Z"}


# One repository as its clones name their origin: the label, and so the digest, must not tell them apart.
SAME_REPOSITORY = ["git@github.com:o/r.git", "ssh://git@github.com/o/r", "ssh://git@github.com:22/o/r.git/",
                   "git+ssh://github.com/o/r", "https://github.com/o/r", "https://x-token:s3cret@GitHub.com/o/r.git",
                   "https://github.com/o/r/", "git://github.com/o/r.git", "github.com:o/r.git"]


@pytest.mark.parametrize("origin", SAME_REPOSITORY)
def test_every_clone_url_of_a_public_host_is_its_https_url(origin: str) -> None:
    assert plan.public_source(origin) == "https://github.com/o/r"
    assert plan.source_label(origin, "https://elsewhere.example/x") == "https://github.com/o/r"


@pytest.mark.parametrize("origin", ["/srv/git/r", "../r", "r", "file:///srv/git/r.git", "C:\\git\\r", "c:/git/r",
                                    "", "ssh://github.com", "git@github.com:", "svn+ssh://host/r", "http://h:8080/"])
def test_a_local_origin_names_no_source_unless_the_project_does(origin: str) -> None:
    assert plan.public_source(origin) == ""
    assert plan.source_label(origin, None) == ""
    assert plan.source_label(origin, "git@github.com:o/r.git") == "https://github.com/o/r"
    cfg = project('[image]\nsource = "https://github.com/o/r"\n').config.image
    assert plan.labels(cfg, plan.Git(origin, "0123abc", ""), 0)["org.opencontainers.image.source"] == \
        "https://github.com/o/r"


def test_http_keeps_its_scheme_and_port() -> None:
    assert plan.public_source("http://u:p@git.lan:8080/team/r.git") == "http://git.lan:8080/team/r"
    assert plan.public_source("ssh://git@[2001:db8::1]:2222/o/r") == "https://[2001:db8::1]/o/r"


# --- config and documents -------------------------------------------------------------------------

LAYERS = (plan.LayerRef("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + "1" * 64, 10, "sha256:" + "a" * 64,
                        "gobox image: files"),
          plan.LayerRef("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + "2" * 64, 20, "sha256:" + "b" * 64,
                        "gobox image: /hello"))


def test_a_scratch_config() -> None:
    cfg = project('[image]\ncmd = ["--port", "8080"]\nenv = { MODE = "prod" }\nports = ["8080", "53/udp"]\n'
                  'workdir = "/data"\n').config.image
    doc = plan.config_doc(cfg, Platform("linux", "arm", "v7"), "/hello", plan.parse_user(65532, []), {"k": "v"}, 0,
                          LAYERS)
    assert doc == {
        "architecture": "arm", "os": "linux", "variant": "v7", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [plan.DEFAULT_PATH, "MODE=prod"], "Entrypoint": ["/hello"], "Cmd": ["--port", "8080"],
                   "WorkingDir": "/data", "User": "65532:65532", "Labels": {"k": "v"},
                   "ExposedPorts": {"53/udp": {}, "8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "gobox image: files"},
                    {"created": "1970-01-01T00:00:00Z", "created_by": "gobox image: /hello"}],
    }


def test_a_config_over_a_base_keeps_its_layers_env_and_labels_and_drops_its_cmd() -> None:
    base = {"architecture": "amd64", "os": "linux", "container_config": {"Cmd": ["/bin/sh"]},
            "config": {"Env": ["PATH=/bin", "LANG=C"], "Cmd": ["/bin/sh"], "Labels": {"base": "1"},
                       "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGINT", "Image": "sha256:old"},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
            "history": [{"created_by": "ADD rootfs"}, {"created_by": "CMD", "empty_layer": True}]}
    cfg = project('[image]\nenv = { LANG = "C.UTF-8" }\n').config.image
    doc = plan.config_doc(cfg, Platform("linux", "amd64"), "/app", plan.parse_user(0, []), {"ours": "2"}, 0, LAYERS,
                          base)
    assert "container_config" not in doc and "Image" not in doc["config"] and "Cmd" not in doc["config"]
    assert doc["config"]["Env"] == ["PATH=/bin", "LANG=C.UTF-8"] and doc["config"]["StopSignal"] == "SIGINT"
    assert doc["config"]["Labels"] == {"base": "1", "ours": "2"} and doc["config"]["User"] == "0:0"
    assert doc["rootfs"]["diff_ids"] == ["sha256:" + "0" * 64, "sha256:" + "a" * 64, "sha256:" + "b" * 64]
    assert len(doc["history"]) == 4 and base["config"]["Cmd"] == ["/bin/sh"]  # the base's doc is not changed


def test_documents() -> None:
    m = plan.manifest_doc("sha256:" + "c" * 64, 99, LAYERS)
    assert m["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [x["size"] for x in m["layers"]] == [10, 20]
    i = plan.index_doc([("sha256:" + "d" * 64, 5, Platform("linux", "arm64"))])
    assert i["manifests"][0]["platform"] == {"architecture": "arm64", "os": "linux"}
    assert plan.oci_layer_type("application/vnd.docker.image.rootfs.diff.tar.gzip") == \
        "application/vnd.oci.image.layer.v1.tar+gzip"


# --- layer entries ------------------------------------------------------------------------------


def test_entries_get_their_parents_and_later_ones_win() -> None:
    got = pack.with_parents([Entry("etc/ssl/certs/ca.crt", FILE, data=b"1"), Entry("etc/ssl/certs/ca.crt", FILE,
                                                                                   data=b"2")], 7)
    by_name = {e.name: e for e in got}
    assert sorted(by_name) == ["etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca.crt"]
    assert by_name["etc/ssl/certs/ca.crt"].data == b"2" and by_name["etc"] == Entry("etc", DIR, 0o755, mtime=7)
    with pytest.raises(ConfigError, match="/etc as a file and /etc/passwd under it"):
        pack.with_parents([Entry("etc", FILE, data=b""), Entry("etc/passwd", FILE, data=b"")], 0)


def test_project_files_keep_only_the_executable_bit(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "conf" / "run.sh").chmod(0o700)
    (tmp_path / "conf" / "app.toml").write_text("x = 1\n")
    (tmp_path / "conf" / "app.toml").chmod(0o600)
    (tmp_path / "conf" / "current").symlink_to("app.toml")
    (tmp_path / "hosts").write_text("127.0.0.1 db\n")
    got = {e.name: e for e in pack.project_entries(tmp_path, {"/etc/app/": "conf", "/etc/hosts": "hosts"}, 3)}
    assert got["etc/app"].kind == DIR and got["etc/app/run.sh"].mode == 0o755 and got["etc/app/app.toml"].mode == 0o644
    assert got["etc/app/current"].link == "app.toml" and got["etc/hosts"].source == tmp_path / "hosts"
    with pytest.raises(ConfigError, match=r"image.files.'/x': .*missing: No such file"):
        pack.project_entries(tmp_path, {"/x": "missing"}, 0)


def test_project_files_never_leave_the_project(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("host secret\n")
    root = tmp_path / "proj"
    (root / "deploy" / "conf").mkdir(parents=True)
    (root / "deploy" / "conf" / "app.toml").write_text("x = 1\n")
    (root / "deploy" / "abs").symlink_to(host / "secret")  # absolute, to this machine
    (root / "deploy" / "up").symlink_to("../../host/secret")  # relative, climbing out
    (root / "deploy" / "dir").symlink_to("../../host")
    (root / "deploy" / "self").symlink_to(root / "deploy" / "conf")  # absolute, into this checkout
    (root / "deploy" / "ok").symlink_to("conf/app.toml")  # relative and inside: followed
    (root / "deploy" / "loop").symlink_to("loop")
    for source, message in [("deploy/abs", "leads out of the project, to .*host/secret"),
                            ("deploy/up", "leads out of the project"), ("deploy/dir/secret", "leads out"),
                            ("../host/secret", "leads out of the project"),
                            (str(host / "secret"), "not in the project"),
                            ("deploy/self/app.toml", "goes through an absolute symlink"),
                            ("deploy/loop", "Too many levels of symbolic links")]:
        with pytest.raises(ConfigError, match=rf"^gobox.toml: image.files.'/etc/x': .*{message}") as e:
            pack.project_entries(root, {"/etc/x": source}, 0)
        assert "\n" not in e.value.message
        with pytest.raises(ConfigError):
            pack.check_project_files(root, {"/etc/x": source})
    got = pack.project_entries(root, {"/etc/x": "deploy/ok", "/etc/y": str(root / "deploy" / "conf" / "app.toml")}, 0)
    assert [e.source for e in got] == [root / "deploy" / "conf" / "app.toml"] * 2
    # Before the build, a source the build may still make passes; after it, a missing one is an error.
    pack.check_project_files(root, {"/etc/x": "dist/made/by/build", "/etc/y": "deploy/none"})
    with pytest.raises(ConfigError, match="dist/made/by/build: No such file"):
        pack.project_entries(root, {"/etc/x": "dist/made/by/build"}, 0)


# --- the CA bundle pin --------------------------------------------------------------------------

PEM, NEWER = b"-----BEGIN CERTIFICATE-----\nold\n", b"-----BEGIN CERTIFICATE-----\nnew\n"


def pin(data: bytes, version: str = "2024.1.1") -> LockedBundle:
    return LockedBundle("certifi", version, hashlib.sha256(data).hexdigest())


def test_the_pinned_bundle_wins_while_it_can_be_had() -> None:
    assert certs.choose(None, None, "2024.1.1", PEM, False, "gobox.lock") == (pin(PEM), PEM)
    assert certs.choose(pin(PEM), PEM, "2025.1.1", NEWER, True, "gobox.lock") == (pin(PEM), PEM)  # from the store
    assert certs.choose(pin(PEM), None, "2024.1.1", PEM, True, "gobox.lock") == (pin(PEM), PEM)  # installed
    assert certs.choose(pin(PEM), None, "2025.1.1", NEWER, False, "gobox.lock") == (pin(NEWER, "2025.1.1"), NEWER)
    with pytest.raises(LockError, match="pins the CA bundle of certifi 2024.1.1") as e:
        certs.choose(pin(PEM), None, "2025.1.1", NEWER, True, "gobox.lock")
    assert "pip install certifi==2024.1.1" in e.value.hint
    with pytest.raises(LockError, match="pins no CA bundle"):
        certs.choose(None, None, "2025.1.1", NEWER, True, "gobox.lock")


def test_the_pinned_versions_wheel_is_picked_from_a_pep_691_page() -> None:
    page = "http://127.0.0.1:1/simple/certifi/"
    entry = {"filename": "certifi-2024.1.1-py3-none-any.whl", "url": "../../files/certifi-2024.1.1-py3-none-any.whl",
             "hashes": {"sha256": "a" * 64}, "size": 10, "yanked": "old"}
    doc = {"files": [{**entry, "filename": "certifi-2024.1.1.tar.gz"},
                     {**entry, "filename": "certifi-2025.1.1-py3-none-any.whl"}, entry]}
    assert certs.pick_wheel(doc, "2024.1.1", page) == certs.Wheel(  # yanked, yet pinned exactly, as pip allows
        entry["filename"], "http://127.0.0.1:1/files/certifi-2024.1.1-py3-none-any.whl", "a" * 64, 10)
    assert certs.pick_wheel(doc, "2023.1.1", page) is None
    # certifi.__version__ says 2024.01.01 where the wheel's name says 2024.1.1.
    assert certs.pick_wheel(doc, "2024.01.01", page) == certs.pick_wheel(doc, "2024.1.1", page)
    assert certs.pick_wheel({"files": [{**entry, "hashes": {"md5": "x"}}]}, "2024.1.1", page) is None  # unverifiable
    # PEP 691 makes size optional: the download is bounded without it, and verified by the sha256.
    assert certs.pick_wheel({"files": [{**entry, "size": None}]}, "2024.1.1", page).size is None
    with pytest.raises(NetworkError, match="expected an object, got an array"):
        certs.pick_wheel([], "2024.1.1", page)


def test_the_wheels_bundle_must_be_the_pinned_one(tmp_path: Path) -> None:
    import zipfile

    wheel = tmp_path / "certifi-2024.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("certifi/cacert.pem", PEM)
    assert certs.bundle_of_wheel(wheel, pin(PEM)) == PEM
    with pytest.raises(IntegrityError, match=f"has sha256 {hashlib.sha256(PEM).hexdigest()}, the lock pins"):
        certs.bundle_of_wheel(wheel, pin(NEWER))
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("certifi/core.py", "")
    with pytest.raises(IntegrityError, match="has no certifi/cacert.pem"):
        certs.bundle_of_wheel(wheel, pin(PEM))
    wheel.write_bytes(b"not a zip")
    with pytest.raises(IntegrityError, match="not a valid wheel"):
        certs.bundle_of_wheel(wheel, pin(PEM))


# --- ELF ------------------------------------------------------------------------------------------


def elf(path: Path, machine: int, interp: bytes = b"") -> Path:
    """A minimal 64-bit little-endian ELF header with one program header (PT_INTERP or PT_LOAD)."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<HHIQQQIHHH", header, 16, 2, machine, 1, 0, 64, 0, 0, 64, 56, 1)
    ph = struct.pack("<IIQQQQQQ", 3 if interp else 1, 4, 120, 0, 0, len(interp), len(interp), 1)
    path.write_bytes(bytes(header) + ph + interp)
    return path


def test_elf_says_the_architecture_and_the_loader(tmp_path: Path) -> None:
    assert read_elf(elf(tmp_path / "a", 62)) == read_elf(elf(tmp_path / "a", 62)) and \
        read_elf(tmp_path / "a").arch == "amd64" and read_elf(tmp_path / "a").interpreter == ""
    dynamic = read_elf(elf(tmp_path / "b", 183, b"/lib/ld-linux-aarch64.so.1\0"))
    assert (dynamic.arch, dynamic.interpreter) == ("arm64", "/lib/ld-linux-aarch64.so.1")
    (tmp_path / "c").write_text("#!/bin/sh\n")
    with pytest.raises(ValueError, match="not an ELF"):
        read_elf(tmp_path / "c")


# --- gobox image run ------------------------------------------------------------------------------


def config(**kw: object) -> ImageConfig:
    fields = {"env": (), "entrypoint": None, "cmd": None, "working_dir": "", "user": "", "labels": (), "os": "linux",
              "architecture": "amd64", "variant": "", "diff_ids": ()}
    fields.update(kw)
    return ImageConfig(**fields)


def test_a_bare_name_also_means_the_locally_built_image() -> None:
    assert [str(r) for r in run.candidates("hello")] == ["localhost/hello:latest", "docker.io/library/hello:latest"]
    assert [str(r) for r in run.candidates("team/app:1")] == ["localhost/team/app:1", "docker.io/team/app:1"]
    assert [str(r) for r in run.candidates("localhost/hello")] == ["localhost/hello:latest"]
    assert [str(r) for r in run.candidates("docker.io/library/hello")] == ["docker.io/library/hello:latest"]
    assert [str(r) for r in run.candidates("127.0.0.1:5000/hello:v2")] == ["127.0.0.1:5000/hello:v2"]


def test_the_command_is_entrypoint_then_cmd_or_args() -> None:
    c = config(entrypoint=("/app",), cmd=("--help",))
    assert run.command(c, ()) == ("/app", "--help")
    assert run.command(c, ("serve",)) == ("/app", "serve")
    assert run.command(c, ("-x",), entrypoint="/bin/sh") == ("/bin/sh", "-x")
    assert run.command(config(cmd=("/bin/sh",)), ()) == ("/bin/sh",)
    with pytest.raises(UsageError, match="no Entrypoint or Cmd"):
        run.command(config(), ())


def test_the_environment_and_the_plan(tmp_path: Path) -> None:
    c = config(env=("MODE=prod",), working_dir="/data", entrypoint=("/app",))
    (tmp_path / "layer" / "etc").mkdir(parents=True)
    (tmp_path / "layer" / "etc" / "passwd").write_text("nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n")
    env = run.environment(c, run.home_of(65532, (tmp_path / "layer",)), [("MODE", "dev")])
    assert dict(env) == {"MODE": "dev", "PATH": plan.DEFAULT_PATH.partition("=")[2], "HOME": "/home/nonroot"}
    assert run.home_of(7, ()) == "/" and run.home_of(0, ()) == "/root"
    found = run.Found(Image("localhost/app:latest", "sha256:" + "1" * 64, None, "linux/amd64", "sha256:" + "2" * 64,
                            (), 0), c, (Path("/l/base"), Path("/l/top")))
    from gobox.sandbox.cgroups import Limits

    spec = run.spec(found, Path("/l/runtime"), ("/app",), 65532, 65532, env, "none", Limits(), Path("/s"))
    assert spec.layers == ("/l/top", "/l/base", "/l/runtime") and spec.cwd == "/data"
    assert (spec.uid, spec.gid, spec.network, spec.binds) == (65532, 65532, "none", ())
