"""Which Go a project gets: go.mod's go line is a minimum (the newest stable release at or above it), a
toolchain line, .go-version or [go].version pins what it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from gobox.config import GoMod, Project, choose_version, parse_config
from gobox.errors import NotFoundError
from gobox.names.versions import GoVersion, VersionRequest, resolve

V = GoVersion.parse
OFFERED = [V(n) for n in ["1.13", "1.13.15", "1.21.13", "1.22.10", "1.23rc1", "1.27.3"]]


def project(go: str | None, toolchain: str | None = None, toml: str = "", go_version: str | None = None) -> Project:
    root = Path("/src/p")
    return Project(root, root / "gobox.toml", parse_config(toml, "gobox.toml"),
                   GoMod(root / "go.mod", "example.com/p", go, toolchain), go_version)


def test_the_go_line_is_a_minimum_and_everything_else_pins() -> None:
    c = choose_version(project("1.13"), None, {})
    assert (c.text, c.origin, c.minimum) == ("1.13", "go.mod go line", True)
    for p in (project("1.13", "go1.21.4"), project("1.13", toml='[go]\nversion = "1.21"\n'),
              project("1.13", go_version="1.21.13")):
        assert choose_version(p, None, {}).minimum is False
    assert choose_version(project("1.13"), "1.22", {}).minimum is False
    assert choose_version(project("1.13"), None, {"GOBOX_GO": "1.22"}).minimum is False


def test_a_minimum_means_the_newest_stable_release_at_or_above_it() -> None:
    at_least = VersionRequest.parse("1.13", minimum=True)
    assert resolve(at_least, OFFERED, "x") == V("1.27.3")
    assert resolve(VersionRequest.parse("1.22", minimum=True), OFFERED[:4], "x") == V("1.22.10")
    assert at_least.matches(V("1.13.15")) and not at_least.matches(V("1.23rc1")) and not at_least.matches(V("1.12.17"))
    # 1.21.0 and later name a first release 1.21.0: a go line of 1.21.0 takes it, and never 1.21rc2.
    assert VersionRequest.parse("1.21.0", minimum=True).matches(V("1.21.0"))
    assert not VersionRequest.parse("1.21.0", minimum=True).matches(V("1.21rc2"))
    assert not at_least.is_family and not at_least.is_exact and VersionRequest.parse("1.13").is_family
    with pytest.raises(NotFoundError, match=r"Go 1\.28 or newer is not available from x; nearest: 1\.27\.3"):
        resolve(VersionRequest.parse("1.28", minimum=True), OFFERED, "x")
