"""How a vendored project builds: -mod=vendor in GOFLAGS for modules, GO111MODULE=off and GOPATH for gopath mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from gobox.build import Options, Paths, check_vendored, environment, go_build_argv, go_test_argv, mod_vendor, plan
from gobox.config import GoMod, Project, parse_config, vendor_mode
from gobox.errors import ConfigError

DEPS = '[vendor.deps]\n"example.org/a" = { git = "https://example.org/a.git", rev = "v1.0.0" }\n'


def project(toml: str, gomod: bool) -> Project:
    root = Path("/src/p")
    return Project(root, root / "gobox.toml", parse_config(toml, "gobox.toml"),
                   GoMod(root / "go.mod", "example.com/p", "1.21", None) if gomod else None, None)


def test_mode_follows_go_mod_unless_set() -> None:
    assert vendor_mode(project("", True)) is None
    assert vendor_mode(project(DEPS, True)) == "modules"
    assert vendor_mode(project(DEPS, False)) == "gopath"
    assert vendor_mode(project('[vendor]\nmode = "gopath"\n' + DEPS, True)) == "gopath"


def test_module_project_builds_tests_and_runs_with_mod_vendor_in_goflags() -> None:
    # In GOFLAGS, not on gobox's own go command: `gobox run -- go build`, a shell and the go commands tests
    # start take vendor/ too.
    p = project(DEPS, True)
    env = dict(environment(p, Options(), 1000, None))
    assert env["GOFLAGS"].split() == ["-buildvcs=false", "-mod=vendor"]
    assert "GO111MODULE" not in env and env["GOPATH"] == "/go"
    assert "-mod=vendor" not in go_build_argv(p, (), ()) + go_test_argv(p, (), ())
    assert "-mod=vendor" not in dict(environment(project("", True), Options(), 1000, None))["GOFLAGS"]


@pytest.mark.parametrize(("go", "says"), [("1.12", "below 1.14"), ("1.21", None), (None, None)])
def test_a_project_that_ships_its_own_vendor_dir_builds_with_mod_vendor(tmp_path: Path, go: str | None,
                                                                         says: str | None) -> None:
    # Go itself takes vendor/ only from go 1.14 on; with the network off, gobox takes it whatever the go line.
    p = Project(tmp_path, None, parse_config("", "gobox.toml"), GoMod(tmp_path / "go.mod", "example.com/p", go, None),
                None)
    assert mod_vendor(p) is None
    (tmp_path / "vendor").mkdir()
    assert mod_vendor(p) is None  # a vendor/ with no modules.txt is no module vendor tree
    (tmp_path / "vendor" / "modules.txt").write_text("# example.org/a v1.0.0\nexample.org/a\n")
    assert "-mod=vendor" in dict(environment(p, Options(), 1000, None))["GOFLAGS"].split()
    assert "own vendor/modules.txt" in mod_vendor(p)
    assert (says in mod_vendor(p)) if says else "1.14" not in mod_vendor(p)


def test_gopath_project_has_vendor_first_in_gopath_and_modules_off() -> None:
    p = project(DEPS, False)
    env = dict(environment(p, Options(), 1000, None))
    assert env["GO111MODULE"] == "off" and env["GOPATH"] == "/src/p/vendor:/go"
    assert "-mod=vendor" not in dict(env)["GOFLAGS"]


@pytest.mark.parametrize(("toml", "home"), [
    ("", "/go/src/p"),
    ('[vendor]\nimport-path = "github.com/you/tool"\n', "/go/src/github.com/you/tool"),
])
def test_a_gopath_project_builds_at_its_import_path_under_gopath(toml: str, home: str) -> None:
    # Built from "_/src/p" the binary would carry the checkout's path; from $GOPATH/src it carries the import path.
    paths = Paths((), "/layers/minimal", "/c", "/m", "/run", "/src/p/cmd", 1000, 1000, None, None)
    spec = plan(project(toml + DEPS, False), paths, ("go", "build"), Options())
    assert (str(Path("/src/p")), home, False) in {(b.source, b.target, b.readonly) for b in spec.binds}
    assert spec.cwd == home + "/cmd"
    assert plan(project(DEPS, True), paths, ("go", "build"), Options()).cwd == "/src/p/cmd"


@pytest.mark.parametrize("bad", ["/abs/path", "a/../b", "", "a//b", "sp ace"])
def test_a_bad_import_path_is_refused_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError, match="vendor.import-path"):
        project(f'[vendor]\nimport-path = "{bad}"\n' + DEPS, False)


def test_a_vendored_project_without_vendor_dir_says_run_gobox_vendor(tmp_path: Path) -> None:
    p = Project(tmp_path, tmp_path / "gobox.toml", parse_config(DEPS, "gobox.toml"), None, None)
    with pytest.raises(ConfigError, match=r"there is none yet") as e:
        check_vendored(p)
    assert "run gobox vendor" in e.value.hint
    (tmp_path / "vendor").mkdir()
    check_vendored(p)
    check_vendored(Project(tmp_path / "x", None, parse_config("", "gobox.toml"), None, None))


def test_remotes_relative_paths_are_from_the_project_root_and_urls_are_kept() -> None:
    from gobox.config import Dependency
    from gobox.deps.tree import remote_for

    p = project(DEPS, True)
    for url, want in (("../mirrors/a", "/src/mirrors/a"), ("/srv/a", "/srv/a"), ("file:///srv/a", "file:///srv/a"),
                      ("git@git.lan:tools.git", "git@git.lan:tools.git"), ("ssh://h/a", "ssh://h/a"),
                      ("https://h/a", "https://h/a")):
        assert remote_for(p, Dependency("example.org/a", "git", url, "v1")).url == want
