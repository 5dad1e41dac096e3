"""gobox.toml, go.mod, .go-version, gobox.lock and user settings, as values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gobox.config import (
    choose_version,
    load_project,
    parse_config,
    parse_gomod,
    set_go_version,
)
from gobox.errors import ConfigError
from gobox.lock import Lock, LockedArtifact, parse_lock, render_lock
from gobox.settings import Settings
from gobox.tomlfile import line_of

REPO = Path(__file__).resolve().parents[2]

# (file text, the start of the one-line error after "gobox.toml:")
MALFORMED = [
    ("[go]\nversion = 1.22\n", "2: go.version: expected a Go version"),
    ("[go]\nversion = \"latest\"\n", "2: go.version: expected a Go version"),
    ("[go]\nverison = \"1.22\"\n", "2: go.verison: unknown key (allowed in [go]: version, image"),
    ("[gopher]\nx = 1\n", "1: gopher: unknown table"),
    ("go = \"1.22\"\n", "1: go: expected a table [go]"),
    ("[go]\ncgo = \"yes\"\n", "2: go.cgo: expected true or false, got a string 'yes'"),
    ("[build]\npackages = \"./...\"\n", "2: build.packages: expected a list of strings"),
    ("[build]\ntags = [\"netgo\", 1]\n", "2: build.tags: expected a list of strings"),
    ("[build]\nenv = { CGO_ENABLED = 0 }\n", "2: build.env: expected a table of strings"),
    ("[sandbox]\nnetwork = \"bridge\"\n", "2: sandbox.network: expected one of 'none', 'host'"),
    ("[sandbox]\nmemory = \"lots\"\n", "2: sandbox.memory: expected a size such as"),
    ("[sandbox]\npids = 0\n", "2: sandbox.pids: expected a whole number above 0"),
    ("[sandbox]\ncpus = true\n", "2: sandbox.cpus: expected a number above 0"),
    ("[sandbox]\nmounts = [\"/data\"]\n", "2: sandbox.mounts: expected \"SRC:DST[:ro]\""),
    ("[sandbox]\nmounts = [\"/a:rel\"]\n", "2: sandbox.mounts: mount destination must be an absolute path"),
    ("[cross]\njobs = -1\n", "2: cross.jobs: expected a whole number above 0"),
    ("[vendor.deps]\n\"github.com/kr/pty\" = { git = \"u\" }\n",
     "2: vendor.deps.\"github.com/kr/pty\": needs rev"),
    ("[vendor.deps]\n\"x.org/y\" = { git = \"u\", hg = \"v\", rev = \"1\" }\n",
     "2: vendor.deps.\"x.org/y\": needs exactly one of git"),
    ("[image]\nuser = -3\n", "2: image.user: expected a user name or uid"),
    ("[image]\nname = \"Hello:1\"\n", "2: image.name: not an image reference: 'Hello:1'"),
    ("[image]\nname = \"hello@sha256:" + "a" * 64 + "\"\n", "2: image.name: a tag cannot hold a digest"),
    ("[image]\nbase = \"\"\n", "2: image.base: expected \"scratch\" or an image reference"),
    ("[image]\npath = \"hello\"\n", "2: image.path: expected an absolute path in the image"),
    ("[image]\nworkdir = \"/a/../b\"\n", "2: image.workdir: '..' is not allowed"),
    ("[image]\nfiles = { \"etc/hosts\" = \"hosts\" }\n", "2: image.files: 'etc/hosts': expected an absolute"),
    ("[image]\nfiles = { \"/\" = \"root\" }\n", "2: image.files: '/': cannot replace the root"),
    ("[image]\nports = [\"http\"]\n", "2: image.ports: expected ports such as \"8080\""),
    ("[image]\nports = [\"70000/tcp\"]\n", "2: image.ports: expected ports such as"),
    ("[image]\nenv = { \"A=B\" = \"1\" }\n", "2: image.env: 'A=B': not a variable name"),
    ("[go]\nversion = \"1.22\"\n[go]\n", "3: invalid TOML"),
    ("[go\n", "1: invalid TOML"),
]


@pytest.mark.parametrize("text, error", MALFORMED)
def test_each_malformed_file_is_one_line_naming_file_line_and_key(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "gobox.toml")
    message = e.value.message
    assert "\n" not in message
    assert message.startswith(f"gobox.toml:{error}"), message


def test_line_of_finds_keys_in_tables_dotted_and_inline() -> None:
    text = '# c\n[go]\nversion = "1"\n\n[sandbox]\nmemory = 1\n[vendor.deps]\n"a.b/c" = { git = "x" }\n'
    assert line_of(text, ("go", "version")) == 3
    assert line_of(text, ("sandbox", "memory")) == 6
    assert line_of(text, ("vendor", "deps", "a.b/c", "rev")) == 8
    assert line_of("sandbox.memory = 3\n", ("sandbox", "memory")) == 1


def test_defaults_and_values() -> None:
    c = parse_config('[sandbox]\nmemory = "256MiB"\nmounts = ["/data:/data:ro"]\n'
                     '[build]\nenv = { A = "1" }\n', "gobox.toml")
    assert c.sandbox.memory == 256 << 20
    assert c.sandbox.mounts[0].readonly and c.sandbox.mounts[0].target == "/data"
    assert c.build.packages == ("./...",) and c.build.output == "dist"
    assert dict(c.build.env) == {"A": "1"}
    assert c.go.base == "none" and c.go.cgo is False
    with pytest.raises(TypeError):
        c.build.env["B"] = "2"  # frozen all the way down


def _example_keys(text: str) -> set[tuple[str, str]]:
    """(table, key) of every key the example sets or shows commented out, and of every [table.key] header."""
    found, table = set(), ""
    for line in text.splitlines():
        header = re.match(r"^\[([a-z-]+)(?:\.([a-z-]+))?\]\s*$", line)
        if header:
            table = header.group(1)
            if header.group(2):
                found.add((table, header.group(2)))
            continue
        key = re.match(r"^(?:#\s*)?([a-z][a-z-]*)\s*=", line)
        if key:
            found.add((table, key.group(1)))
    return found


def test_example_file_is_valid_and_documents_every_key() -> None:
    from gobox.schema import SCHEMA

    text = (REPO / "gobox.toml.example").read_text()
    parse_config(text, "gobox.toml.example")
    shown = _example_keys(text)
    for table, keys in SCHEMA.items():
        assert f"[{table}]" in text, table
        for name in keys:
            # line_of alone would accept a key that is missing: it falls back to the table's line.
            assert (table, name) in shown, f"gobox.toml.example does not show {table}.{name}"


def test_gomod_lines() -> None:
    m = parse_gomod("module example.com/x // c\n\ngo 1.22.1\ntoolchain go1.22.10\nrequire (\n)\n",
                    Path("go.mod"))
    assert (m.module, m.go, m.toolchain) == ("example.com/x", "1.22.1", "go1.22.10")
    assert parse_gomod("module x\ntoolchain default\n", Path("go.mod")).toolchain is None


def test_version_precedence(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.21\ntoolchain go1.21.13\n")
    p = load_project(tmp_path)
    assert choose_version(p, None, {}).origin == "go.mod toolchain line"
    (tmp_path / ".go-version").write_text("1.22.9\n")
    assert choose_version(load_project(tmp_path), None, {}).text == "1.22.9"
    (tmp_path / "gobox.toml").write_text('[go]\nversion = "1.22"\n')
    p = load_project(tmp_path / ".")
    c = choose_version(p, None, {})
    assert (c.text, c.origin) == ("1.22", "gobox.toml [go].version")
    assert [o for _, o in c.shadowed] == [".go-version", "go.mod toolchain line", "go.mod go line"]
    assert choose_version(p, None, {"GOBOX_GO": "1.21.13"}).origin == "GOBOX_GO"
    assert choose_version(p, "1.20", {"GOBOX_GO": "1.21.13"}).origin == "--go"
    with pytest.raises(ConfigError, match="GOBOX_GO: not a Go version"):
        choose_version(p, None, {"GOBOX_GO": "newest"})


def test_project_discovery_prefers_gobox_toml_above_go_mod(tmp_path: Path) -> None:
    (tmp_path / "gobox.toml").write_text("")
    sub = tmp_path / "svc"
    (sub / "pkg").mkdir(parents=True)
    (sub / "go.mod").write_text("module svc\n")
    assert load_project(sub / "pkg").root == tmp_path
    (tmp_path / "gobox.toml").unlink()
    assert load_project(sub / "pkg").root == sub
    with pytest.raises(ConfigError, match="no gobox.toml or go.mod"):
        load_project(Path("/proc/self"))


def test_set_go_version_keeps_everything_else() -> None:
    text = '# my build\n[go]  # pinned\nversion = "1.21"   # old\ncgo = false\n\n[build]\ntags = []\n'
    new = set_go_version(text, "1.22.10")
    assert new == text.replace('"1.21"', '"1.22.10"')
    assert set_go_version("[build]\ntags = []\n", "1.22") == '[build]\ntags = []\n\n[go]\nversion = "1.22"\n'
    assert set_go_version("[go]\ncgo = true\n", "1.22") == '[go]\ncgo = true\nversion = "1.22"\n'
    assert set_go_version("", "1.22") == '[go]\nversion = "1.22"\n'


def test_lock_round_trip_and_errors() -> None:
    a = LockedArtifact("linux/amd64", "pypi", "f.whl", "https://x/f.whl", "a" * 64, 12)
    lock = Lock("1.22.10", (a,))
    assert parse_lock(render_lock(lock), "gobox.lock") == lock
    with pytest.raises(ConfigError, match=r"gobox.lock:\d+: go.artifacts.sha256"):
        parse_lock(render_lock(lock).replace("a" * 64, "xyz"), "gobox.lock")
    with pytest.raises(ConfigError, match="version: expected lock format 1"):
        parse_lock("version = 7\n", "gobox.lock")


def test_image_table_defaults_and_values() -> None:
    c = parse_config("", "gobox.toml").image
    assert (c.base, c.user, c.platforms, c.workdir, c.ca_certificates, c.ldflags) == ("scratch", 65532, (), "/",
                                                                                      False, None)
    c = parse_config('[image]\nbase = "gcr.io/distroless/static"\nplatforms = ["linux/arm64"]\n'
                     'files = { "/etc/app" = "conf" }\nports = ["8080", "53/udp"]\nca-certificates = true\n',
                     "gobox.toml").image
    assert c.platforms == ("linux/arm64",) and dict(c.files) == {"/etc/app": "conf"} and c.ca_certificates


def test_lock_pins_the_ca_bundle_and_keeps_it_through_toolchain_changes() -> None:
    from gobox.lock import LockedBundle

    bundle = LockedBundle("certifi", "2024.8.30", "b" * 64)
    lock = Lock("1.22.10", (), (), bundle)
    text = render_lock(lock)
    assert "[image.ca-certificates]" in text
    assert parse_lock(text, "gobox.lock") == lock
    with pytest.raises(ConfigError, match=r"gobox.lock:\d+: image.ca-certificates.sha256"):
        parse_lock(text.replace("b" * 64, "B" * 64), "gobox.lock")


def test_settings_from_file_and_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[toolchains]\nsources = ["pypi"]\npypi-url = "https://mirror.example/simple"\n')
    s = Settings.load({"GOBOX_CONFIG": str(cfg)})
    assert s.sources == ("pypi",) and s.pypi_url == "https://mirror.example/simple/"
    s = Settings.load({"GOBOX_CONFIG": str(cfg), "GOBOX_TOOLCHAIN_SOURCES": "go.dev, pypi"})
    assert s.sources == ("go.dev", "pypi")
    with pytest.raises(ConfigError, match="GOBOX_TOOLCHAIN_SOURCES: unknown toolchain source 'gh'"):
        Settings.load({"GOBOX_CONFIG": str(cfg), "GOBOX_TOOLCHAIN_SOURCES": "gh"})
    cfg.write_text('[toolchains]\nmirror = "x"\n')
    with pytest.raises(ConfigError, match=r"config.toml:2: toolchains.mirror: unknown key"):
        Settings.load({"GOBOX_CONFIG": str(cfg)})
    with pytest.raises(ConfigError, match="GOBOX_HTTP_TIMEOUT"):
        Settings.load({"GOBOX_CONFIG": str(cfg.with_name("none")), "GOBOX_HTTP_TIMEOUT": "-1"})


def test_lock_with_images_round_trips_and_checks_digests() -> None:
    from gobox.lock import Lock, LockedImage, parse_lock, render_lock

    image = LockedImage("127.0.0.1:5000/library/golang:1.22", "linux/amd64", "sha256:" + "a" * 64)
    lock = Lock("1.22.10", (), (image,))
    assert parse_lock(render_lock(lock), "gobox.lock") == lock
    assert lock.image_for("127.0.0.1:5000/library/golang:1.22", "linux/amd64") is not None
    assert lock.image_for("127.0.0.1:5000/library/golang:1.22", "linux/arm64") is None
    bad = render_lock(lock).replace("a" * 64, "a" * 63)
    with pytest.raises(ConfigError) as e:
        parse_lock(bad, "gobox.lock")
    assert e.value.message.startswith("gobox.lock:") and "go.images.digest" in e.value.message


def test_lock_with_vendor_deps_round_trips_and_checks_commits() -> None:
    from gobox.lock import Lock, LockedDep, LockedImage, parse_lock, render_lock

    image = LockedImage("127.0.0.1:5000/library/golang:1.22", "linux/amd64", "sha256:" + "a" * 64)
    dep = LockedDep("github.com/kr/pty", "git", "https://github.com/kr/pty", "98c7b80", "9" * 40, "sha256:" + "b" * 64)
    hg = LockedDep("code.google.com/p/go.net", "hg", "/srv/hg/go.net", "tip", "1" * 40)
    lock = Lock("1.22.10", (), (image,), deps=(hg, dep))
    text = render_lock(lock)
    back = parse_lock(text, "gobox.lock")
    assert back.images == lock.images and set(back.deps) == {dep, hg}
    assert back.dep_for("github.com/kr/pty") == dep and back.dep_for("nope") is None
    assert text.index("[[vendor.deps]]") > text.index("[[go.images]]")
    with pytest.raises(ConfigError, match=r"gobox.lock:\d+: vendor.deps.commit: expected a full commit id"):
        parse_lock(text.replace("9" * 40, "98c7b80"), "gobox.lock")
    with pytest.raises(ConfigError, match=r"vendor.deps.tree: expected \"sha256:\""):
        parse_lock(text.replace("b" * 64, "b" * 63), "gobox.lock")
    with pytest.raises(ConfigError, match='vendor.deps.vcs: expected "git" or "hg"'):
        parse_lock(text.replace('vcs = "hg"', 'vcs = "svn"'), "gobox.lock")
    # gobox vendor before any build: deps only, no empty [go] table left to puzzle a reader.
    only_deps = render_lock(Lock(deps=(dep,)))
    assert "[go]" not in only_deps and parse_lock(only_deps, "gobox.lock") == Lock(deps=(dep,))
