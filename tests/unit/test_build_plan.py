"""What `gobox run/build/test` hands the sandbox for a project: binds, network, limits, and the environment.

`gobox.build.plan` and `environment` are pure: a gobox.toml, the command line's options and the host paths
`prepare` found become one SandboxSpec. These tests read the spec as a user's build meets it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from support.requires import requires_tool

from gobox.build import (
    GOCACHE,
    GOMODCACHE,
    GOROOT,
    HOST_DIRS,
    Listing,
    Options,
    Paths,
    build_plans,
    environment,
    plan,
    source_date_epoch,
)
from gobox.config import Mount, Project, parse_config, parse_gomod
from gobox.errors import ConfigError
from gobox.sandbox.cgroups import Limits
from gobox.sandbox.spec import SandboxSpec

ROOT = Path("/src/app")
PATHS = Paths(("/store/go1.22.10/layer",), "/store/minimal", "/store/cache/go-build", "/store/cache/mod",
              "/store/run/1", str(ROOT / "cmd"), 1000, 1000)


def project(toml: str = "") -> Project:
    return Project(ROOT, ROOT / "gobox.toml", parse_config(toml, "gobox.toml"), None, None)


def binds(spec: SandboxSpec) -> dict[str, tuple[str, bool]]:
    """target -> (source, readonly)"""
    return {b.target: (b.source, b.readonly) for b in spec.binds}


# --- plan: what is bound, where the command runs, which layers ------------------------------------------------


def test_the_project_is_bound_writable_at_its_own_path_with_the_stores_caches() -> None:
    spec = plan(project(), PATHS, ("go", "build", "./..."), Options())
    b = binds(spec)
    assert b[str(ROOT)] == (str(ROOT), False)
    assert b[GOCACHE] == ("/store/cache/go-build", False) and b[GOMODCACHE] == ("/store/cache/mod", False)
    assert spec.argv == ("go", "build", "./...") and spec.cwd == str(ROOT / "cmd") and not spec.make_cwd
    # gobox's minimal layer under the toolchain's: the toolchain's /usr/local/go wins.
    assert spec.layers == ("/store/minimal", "/store/go1.22.10/layer")
    assert (spec.uid, spec.gid, spec.scratch) == (1000, 1000, "/store/run/1")
    assert "/tmp" in spec.tmpfs and "/home/gobox" in spec.tmpfs
    assert spec.umask is None  # the caller's umask, outside the clean room


def test_a_store_toolchains_goroot_is_bound_read_only_past_the_overlay_and_an_images_is_not() -> None:
    # The bind lets go's lookups in GOROOT hit the host's dentry cache, not a fresh overlay's.
    assert binds(plan(project(), PATHS, ("go", "build"), Options()))[GOROOT] == (
        "/store/go1.22.10/layer/usr/local/go", True)
    image = dataclasses.replace(PATHS, toolchain_layers=("/store/blobs/top", "/store/blobs/base"),
                                image_env=(("PATH", "/usr/bin"),))
    assert GOROOT not in binds(plan(project(), image, ("go", "build"), Options()))


def test_the_clean_room_has_the_source_read_only_and_empty_caches_on_tmpfs() -> None:
    spec = plan(project(), PATHS, ("go", "build"), Options(clean_room=True))
    b = binds(spec)
    assert b[str(ROOT)] == (str(ROOT), True)
    # No cache of earlier builds reaches a clean build: nothing of the store's is bound there.
    assert GOCACHE not in b and GOMODCACHE not in b
    assert {GOCACHE, GOMODCACHE} <= set(spec.tmpfs)
    assert spec.umask == 0o022


def test_mounts_from_gobox_toml_and_the_command_line_relative_to_the_project() -> None:
    p = project('[sandbox]\nmounts = ["testdata:/data:ro", "/srv/shared:/shared"]\n')
    spec = plan(p, PATHS, ("true",), Options(mounts=(Mount("out", "/out"),)))
    b = binds(spec)
    assert b["/data"] == (str(ROOT / "testdata"), True)
    assert b["/shared"] == ("/srv/shared", False)
    assert b["/out"] == (str(ROOT / "out"), False)


def test_an_absolute_output_outside_the_project_is_bound_so_the_build_can_write_there() -> None:
    assert "/var/dist" in binds(plan(project('[build]\noutput = "/var/dist"\n'), PATHS, ("true",), Options()))
    assert "dist" not in binds(plan(project(), PATHS, ("true",), Options()))


def test_workdir_from_the_command_line_is_made_when_missing() -> None:
    spec = plan(project(), PATHS, ("pwd",), Options(workdir="/work/here"))
    assert spec.cwd == "/work/here" and spec.make_cwd


@pytest.mark.parametrize(("toml", "flag", "net", "resolv"), [
    ("", None, "none", False),  # the default: no network at all
    ('[sandbox]\nnetwork = "host"\n', None, "host", True),
    ('[sandbox]\nnetwork = "host"\n', "none", "none", False),  # --network wins over gobox.toml
    ("", "private", "private", True),
])
def test_network_comes_from_gobox_toml_unless_the_command_line_says_and_dns_only_with_one(
        toml: str, flag: str | None, net: str, resolv: bool) -> None:
    spec = plan(project(toml), PATHS, ("true",), Options(network=flag))
    assert spec.network == net
    env = dict(spec.env)
    # Without a network, module lookups fail at once with Go's own message, not after a DNS timeout.
    assert (env.get("GOPROXY") == "off") == (net == "none")
    if os.path.isfile("/etc/resolv.conf"):
        assert ("/etc/resolv.conf" in binds(spec)) == resolv


def test_limits_come_from_gobox_toml_and_the_command_line_overrides_each() -> None:
    p = project('[sandbox]\nmemory = "1GiB"\npids = 300\ncpus = 2\n')
    assert plan(p, PATHS, ("true",), Options()).limits == Limits(memory=1 << 30, pids=300, cpus=2)
    assert plan(p, PATHS, ("true",), Options(memory=256 << 20, cpus=0.5)).limits == \
        Limits(memory=256 << 20, pids=300, cpus=0.5)
    assert plan(project(), PATHS, ("true",), Options()).limits == Limits(memory=None, pids=None, cpus=None)


def test_seccomp_is_on_unless_gobox_toml_or_the_command_line_turns_it_off() -> None:
    assert plan(project(), PATHS, ("true",), Options()).seccomp == "default"
    assert plan(project('[sandbox]\nseccomp = "off"\n'), PATHS, ("true",), Options()).seccomp == "off"
    assert plan(project('[sandbox]\nseccomp = "off"\n'), PATHS, ("true",), Options(seccomp="default")).seccomp \
        == "default"


def test_cgo_without_a_compiler_in_the_sandbox_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r'\[go\].base = "none" has none') as e:
        plan(project("[go]\ncgo = true\n"), PATHS, ("go", "build"), Options())
    assert "[go].base = \"host\"" in (e.value.hint or "")
    # A CC of the user's own (zig cc, say) is a compiler: no refusal.
    plan(project('[go]\ncgo = true\n[build]\nenv = { CC = "zig cc" }\n'), PATHS, ("go", "build"), Options())


def test_base_host_lends_the_hosts_tool_directories_read_only() -> None:
    spec = plan(project('[go]\nbase = "host"\n'), PATHS, ("gcc", "--version"), Options())
    b = binds(spec)
    lent = [d for d in HOST_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    assert lent and all(b[d] == (d, True) for d in lent)
    # Never /usr/local: /usr/local/go must stay the pinned toolchain's.
    assert "/usr/local" not in b and b[GOROOT] == ("/store/go1.22.10/layer/usr/local/go", True)
    assert not set(HOST_DIRS) & set(binds(plan(project(), PATHS, ("true",), Options())))


# --- the environment a build gets -------------------------------------------------------------------------


def test_the_environment_pins_the_toolchain_and_the_stores_caches() -> None:
    env = dict(environment(project(), Options(), 1000, None))
    assert env["GOTOOLCHAIN"] == "local"  # never a download of another Go
    assert env["GOROOT"] == GOROOT and env["PATH"].startswith(f"{GOROOT}/bin:")
    assert (env["GOPATH"], env["GOCACHE"], env["GOMODCACHE"]) == ("/go", GOCACHE, GOMODCACHE)
    assert env["GOFLAGS"] == "-buildvcs=false"  # the same binary from a checkout and from a tarball
    assert env["CGO_ENABLED"] == "0" and env["HOME"] == "/home/gobox"
    assert dict(environment(project(), Options(), 0, None))["HOME"] == "/root"
    assert "TERM" not in env and dict(environment(project(), Options(), 1000, "xterm"))["TERM"] == "xterm"


def test_gobox_toml_turns_cgo_and_buildvcs_on() -> None:
    env = dict(environment(project('[go]\ncgo = true\nbase = "host"\n[build]\nbuildvcs = true\n'), Options(),
                           1000, None))
    assert env["CGO_ENABLED"] == "1" and env["GOFLAGS"] == "-buildvcs=true"


def test_nothing_of_the_callers_environment_reaches_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"GOFLAGS": "-mod=mod", "GOPROXY": "https://evil.example", "CGO_ENABLED": "1",
                        "SOURCE_DATE_EPOCH": "1", "AWS_SECRET_ACCESS_KEY": "x", "GOTOOLCHAIN": "auto"}.items():
        monkeypatch.setenv(name, value)
    env = dict(environment(project(), Options(), 1000, None))
    assert env["GOFLAGS"] == "-buildvcs=false" and env["GOPROXY"] == "off" and env["CGO_ENABLED"] == "0"
    assert env["GOTOOLCHAIN"] == "local"
    assert "SOURCE_DATE_EPOCH" not in env and "AWS_SECRET_ACCESS_KEY" not in env


def test_build_env_then_env_flags_override_what_gobox_sets_in_that_order() -> None:
    p = project('[build]\nenv = { GOFLAGS = "-trimpath", GOAMD64 = "v3", SOURCE_DATE_EPOCH = "100" }\n')
    env = dict(environment(p, Options(), 1000, None))
    assert env["GOFLAGS"] == "-trimpath" and env["GOAMD64"] == "v3" and env["SOURCE_DATE_EPOCH"] == "100"
    # --env (and gobox ci's SOURCE_DATE_EPOCH, given the same way) comes last and wins.
    env = dict(environment(p, Options(env=(("SOURCE_DATE_EPOCH", "1714564800"), ("GOAMD64", "v1"))), 1000, None))
    assert env["SOURCE_DATE_EPOCH"] == "1714564800" and env["GOAMD64"] == "v1" and env["GOFLAGS"] == "-trimpath"


def test_the_clean_room_fixes_time_zone_locale_and_home_whoever_runs_it() -> None:
    for uid in (0, 1000):
        env = dict(environment(project(), Options(clean_room=True), uid, None))
        assert (env["TZ"], env["LANG"], env["HOME"]) == ("UTC", "C.UTF-8", "/home/gobox")


def test_an_image_toolchain_keeps_its_path_and_gopath_and_finds_its_own_goroot() -> None:
    image = (("PATH", "/opt/go/bin:/usr/bin"), ("GOPATH", "/gopath"), ("LANG", "de_DE.UTF-8"))
    env = dict(environment(project(), Options(), 1000, None, image_env=image))
    assert env["PATH"] == "/opt/go/bin:/usr/bin" and env["GOPATH"] == "/gopath" and "GOROOT" not in env
    assert env["LANG"] == "de_DE.UTF-8" and env["GOTOOLCHAIN"] == "local" and env["GOCACHE"] == GOCACHE


def test_a_base_image_keeps_its_path_after_the_pinned_gos() -> None:
    env = dict(environment(project(), Options(), 1000, None, base_env=(("PATH", "/usr/bin:/bin"), ("X", "1"))))
    assert env["PATH"] == f"{GOROOT}/bin:/go/bin:/usr/bin:/bin" and env["GOROOT"] == GOROOT and env["X"] == "1"


# --- SOURCE_DATE_EPOCH: the time of reproducible outputs -------------------------------------------------------


@requires_tool("git")
def test_source_date_epoch_from_the_environment_then_the_last_commit_then_zero(tmp_path: Path) -> None:
    assert source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "1714564800"}) == 1714564800
    assert source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": " 42 "}) == 42
    assert source_date_epoch(tmp_path, {}) == 0  # no history here
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_COMMITTER_DATE": "@1600000000 +0000",
           "GIT_AUTHOR_DATE": "@1500000000 +0000", "PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=git)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"], check=True, env=git)
    assert source_date_epoch(tmp_path, {}) == 1600000000  # the committer's time, not the author's
    # Not a number: ignored, not trusted into an archive's mtime.
    assert source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "yesterday"}) == 1600000000
    assert source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "-5"}) == 1600000000


# --- build_plans: the go commands of a build, each in its sandbox ------------------------------------------------


def module(toml: str = "") -> Project:
    return Project(ROOT, ROOT / "gobox.toml", parse_config(toml, "gobox.toml"),
                   parse_gomod("module example.com/app\n\ngo 1.22\n", ROOT / "go.mod"), None)


WHOLE = Listing(("example.com/app/cmd/app",), ("example.com/app/lib", "example.com/app/unused"),
                ("example.com/app/unused",))


def test_commands_and_a_library_no_command_imports_are_one_go_install_into_the_output() -> None:
    """One sandbox, where `go build -o dist/` and `go build` of the rest were two: go install's bin directory is
    the output directory, bound at $GOPATH/bin."""
    specs = build_plans(module(), PATHS, Options(), (), (), WHOLE)
    assert [s.argv[:2] for s in specs] == [("go", "install")]
    assert specs[0].argv[-1] == "./..." and "-trimpath" in specs[0].argv
    assert binds(specs[0])["/go/bin"] == (str(ROOT / "dist"), False)


def test_commands_alone_stay_one_go_build_into_the_output() -> None:
    specs = build_plans(module(), PATHS, Options(), (), (), Listing(WHOLE.commands, ("example.com/app/lib",), ()))
    assert [s.argv[:2] for s in specs] == [("go", "build")] and "-o" in specs[0].argv
    assert "/go/bin" not in binds(specs[0])


@pytest.mark.parametrize("toml, gomod", [
    ('[build]\nenv = { GOBIN = "/somewhere" }\n', True),  # the user's own bin directory
    ('[build]\nenv = { GO111MODULE = "off" }\n', True),
    ("", False),  # no go.mod: GOPATH mode, where go install writes elsewhere
])
def test_gopath_mode_or_a_users_gobin_keeps_the_two_go_builds(toml: str, gomod: bool) -> None:
    p = module(toml) if gomod else project(toml)
    specs = build_plans(p, PATHS, Options(), (), (), WHOLE)
    assert [s.argv[:2] for s in specs] == [("go", "build"), ("go", "build")]
    assert specs[1].argv[-1] == "example.com/app/unused"  # exactly the library no command imports
