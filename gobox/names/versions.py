"""Go version names: parsing, Go's own ordering, and resolving a request to a release."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from gobox.errors import InvalidName, NotFoundError
from gobox.values import dataclass

_VERSION = re.compile(r"^(?:go)?(\d+)\.(\d+)(?:\.(\d+)|(beta|rc)(\d+))?$")

# Go orders a language version below its prereleases, and those below its
# releases: 1.21 < 1.21beta1 < 1.21rc2 < 1.21.0 < 1.21.1 (go/version.Compare).
_KIND_LANG, _KIND_BETA, _KIND_RC, _KIND_RELEASE = 0, 1, 2, 3


def is_version(text: str) -> bool:
    return bool(_VERSION.match(text.strip()))


@dataclass(frozen=True, order=False)
class GoVersion:
    """One Go version name, as Go spells it without the "go" prefix."""

    major: int
    minor: int
    patch: int | None = None
    pre: str = ""  # "beta" or "rc"
    pre_num: int = 0

    @classmethod
    def parse(cls, text: str) -> GoVersion:
        m = _VERSION.match(text.strip())
        if not m:
            raise InvalidName(
                f"not a Go version: {text!r}",
                hint="use 1.22 (newest 1.22.x), 1.22.10, go1.22.10 or 1.23rc1",
            )
        major, minor, patch, pre, pre_num = m.groups()
        return cls(
            int(major),
            int(minor),
            int(patch) if patch is not None else None,
            pre or "",
            int(pre_num) if pre_num else 0,
        )

    @property
    def family(self) -> tuple[int, int]:
        return (self.major, self.minor)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.pre)

    def sort_key(self) -> tuple[int, int, int, int]:
        if self.patch is not None:
            return (self.major, self.minor, _KIND_RELEASE, self.patch)
        if self.pre == "beta":
            return (self.major, self.minor, _KIND_BETA, self.pre_num)
        if self.pre == "rc":
            return (self.major, self.minor, _KIND_RC, self.pre_num)
        return (self.major, self.minor, _KIND_LANG, 0)

    def __lt__(self, other: GoVersion) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: GoVersion) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: GoVersion) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: GoVersion) -> bool:
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        if self.patch is not None:
            return f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            return f"{self.major}.{self.minor}{self.pre}{self.pre_num}"
        return f"{self.major}.{self.minor}"

    @property
    def tag(self) -> str:
        """The name Go gives its release: go1.22.10."""
        return f"go{self}"


@dataclass(frozen=True)
class VersionRequest:
    """What a user asked for: an exact version, a family meaning its newest stable patch, or a minimum.

    `1.22` is a family; `1.22.10`, `1.23rc1` and `go1.22.10` are exact. Before
    Go 1.21 a family's first release was named like the family (go1.20), so a
    family request also accepts that release. A minimum (go.mod's `go` line, which
    Go reads as the oldest language version the module needs) is met by every
    stable release at or above it: `go 1.13` by 1.13.0, 1.22.10 or 1.27.3 alike.
    """

    version: GoVersion
    minimum: bool = False

    @classmethod
    def parse(cls, text: str, minimum: bool = False) -> VersionRequest:
        return cls(GoVersion.parse(text), minimum)

    @property
    def is_family(self) -> bool:
        return not self.minimum and self.version.patch is None and not self.version.pre

    @property
    def is_exact(self) -> bool:
        """Whether exactly one version meets the request (so the store alone can answer it)."""
        return not self.minimum and not self.is_family

    def matches(self, candidate: GoVersion) -> bool:
        if self.minimum:
            return not candidate.is_prerelease and candidate >= self.version
        if self.is_family:
            return candidate.family == self.version.family and not candidate.is_prerelease
        return candidate == self.version

    def __str__(self) -> str:
        return f"{self.version} or newer" if self.minimum else str(self.version)


def newest(versions: Iterable[GoVersion]) -> GoVersion | None:
    return max(versions, default=None, key=GoVersion.sort_key)


def resolve(request: VersionRequest, available: Iterable[GoVersion], where: str) -> GoVersion:
    """The version a request means among those a source offers; NotFoundError lists the nearest."""
    offered = sorted(set(available), key=GoVersion.sort_key)
    found = newest(v for v in offered if request.matches(v))
    if found is not None:
        return found
    near = nearest(request.version, offered)
    listing = ", ".join(str(v) for v in near) if near else "none"
    raise NotFoundError(
        f"Go {request} is not available from {where}; nearest: {listing}",
        hint="`gobox toolchain list --available` shows every version offered",
    )


def nearest(wanted: GoVersion, offered: Sequence[GoVersion], count: int = 5) -> list[GoVersion]:
    """Up to `count` stable versions closest to `wanted` in Go's order, newest first."""
    stable = [v for v in offered if not v.is_prerelease] or list(offered)
    ordered = sorted(stable, key=GoVersion.sort_key)
    keys = [v.sort_key() for v in ordered]
    at = sum(1 for k in keys if k < wanted.sort_key())
    # Take from both sides of where `wanted` would stand, weighting neither.
    lo, hi = at, at
    while hi - lo < count and (lo > 0 or hi < len(ordered)):
        if hi < len(ordered):
            hi += 1
        if hi - lo < count and lo > 0:
            lo -= 1
    return sorted(ordered[lo:hi], key=GoVersion.sort_key, reverse=True)
