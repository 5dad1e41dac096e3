"""Go version names: parsing, Go's own ordering, family resolution and the nearest-version hint."""

import pytest

from gobox.errors import NotFoundError, UsageError
from gobox.names.versions import GoVersion, VersionRequest, nearest, resolve

V = GoVersion.parse


@pytest.mark.parametrize("text, expected", [
    ("1.22", "1.22"), ("1.22.10", "1.22.10"), ("go1.22.10", "1.22.10"),
    ("1.23rc1", "1.23rc1"), ("go1.21beta2", "1.21beta2"), (" 1.21.0 ", "1.21.0"),
])
def test_parse_accepts_go_spellings(text: str, expected: str) -> None:
    assert str(V(text)) == expected


@pytest.mark.parametrize("text", ["", "1", "latest", "1.22.x", "v1.22", "1.22.10.1", "1.22rc", "go 1.22"])
def test_parse_refuses_what_go_would_not_name(text: str) -> None:
    with pytest.raises(UsageError, match="not a Go version"):
        V(text)


def test_ordering_follows_go() -> None:
    # go/version: 1.21 < 1.21beta1 < 1.21rc1 < 1.21rc2 < 1.21.0 < 1.21.1 < 1.22
    names = ["1.21.1", "1.21rc2", "1.22", "1.21", "1.21.0", "1.21beta1", "1.21rc1"]
    ordered = sorted((V(n) for n in names), key=GoVersion.sort_key)
    assert [str(v) for v in ordered] == ["1.21", "1.21beta1", "1.21rc1", "1.21rc2", "1.21.0",
                                         "1.21.1", "1.22"]
    assert V("1.21.0") > V("1.21rc2") > V("1.21")
    assert V("1.9.2") < V("1.10")


OFFERED = [V(n) for n in ["1.20", "1.20.14", "1.21.13", "1.22.9", "1.22.10", "1.23rc1", "1.23.0"]]


def test_family_means_newest_stable_patch() -> None:
    assert resolve(VersionRequest.parse("1.22"), OFFERED, "x") == V("1.22.10")
    # Before 1.21 the first release is named like its family, and still counts.
    assert resolve(VersionRequest.parse("1.20"), [V("1.20")], "x") == V("1.20")
    # A prerelease is never what a family means.
    with pytest.raises(NotFoundError):
        resolve(VersionRequest.parse("1.24"), [V("1.24rc1")], "x")


def test_exact_versions_match_only_themselves() -> None:
    assert resolve(VersionRequest.parse("go1.22.9"), OFFERED, "x") == V("1.22.9")
    assert resolve(VersionRequest.parse("1.23rc1"), OFFERED, "x") == V("1.23rc1")
    assert not VersionRequest.parse("1.22.10").matches(V("1.22.11"))


def test_unknown_version_lists_the_nearest() -> None:
    with pytest.raises(NotFoundError) as e:
        resolve(VersionRequest.parse("1.99"), OFFERED, "pypi")
    assert "Go 1.99 is not available from pypi" in e.value.message
    assert "nearest: 1.23.0, 1.22.10, 1.22.9" in e.value.message


def test_nearest_takes_both_sides() -> None:
    offered = [V(f"1.2{m}.{p}") for m in range(1, 6) for p in range(3)]
    near = nearest(V("1.23.5"), offered, count=4)
    assert near[0] > V("1.23.5") > near[-1]
