"""gobox.toml, gobox.lock, go.mod and user settings as frozen values; each bad input is one ConfigError."""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gobox import schema
from gobox.errors import ConfigError

if sys.version_info >= (3, 11):  # noqa: UP036 - tomli stays the fallback the package declares
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

CONFIG_NAME = "gobox.toml"
LOCK_NAME = "gobox.lock"
LOCK_FORMAT = 1


# --- gobox.toml ---------------------------------------------------------------


@dataclass(frozen=True)
class GoConfig:
    version: str | None = None
    image: str | None = None
    base: str = "none"
    cgo: bool = False


@dataclass(frozen=True)
class BuildConfig:
    packages: tuple[str, ...] = ("./...",)
    output: str = "dist"
    flags: tuple[str, ...] = ()
    ldflags: str = ""
    tags: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    buildvcs: bool = False


@dataclass(frozen=True)
class TestConfig:
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    readonly: bool = False

    @classmethod
    def parse(cls, text: str) -> Mount:
        problem = schema.mount_problem(text)
        if problem:
            raise ConfigError(f"--mount {text}: {problem}")
        parts = text.split(":")
        return cls(parts[0], parts[1], len(parts) == 3 and parts[2] == "ro")


@dataclass(frozen=True)
class SandboxConfig:
    network: str = "none"
    memory: int | None = None  # bytes
    pids: int | None = None
    cpus: float | None = None
    mounts: tuple[Mount, ...] = ()
    seccomp: str = "default"


@dataclass(frozen=True)
class CrossConfig:
    targets: tuple[str, ...] = ()
    jobs: int | None = None
    output: str = "{name}_{os}_{arch}{variant}"
    archive: bool = False
    cc: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Dependency:
    path: str
    vcs: str  # "git" or "hg"
    url: str
    rev: str
    subdir: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class VendorConfig:
    mode: str = "auto"
    deps: tuple[Dependency, ...] = ()
    import_path: str | None = None  # gopath mode; None: the project directory's name


@dataclass(frozen=True)
class ImageConfig:
    base: str = "scratch"
    name: str | None = None
    package: str | None = None
    path: str | None = None
    platforms: tuple[str, ...] = ()  # none: this machine's
    ldflags: str | None = None
    ca_certificates: bool = False
    tzdata: bool = False
    user: str | int = 65532
    files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    workdir: str = "/"
    ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source: str | None = None  # the source label when the origin gives none


@dataclass(frozen=True)
class CIConfig:
    test: bool = True
    cross: bool = False
    image: bool = False
    generate: bool = False


@dataclass(frozen=True)
class Config:
    go: GoConfig = GoConfig()
    build: BuildConfig = BuildConfig()
    test: TestConfig = TestConfig()
    sandbox: SandboxConfig = SandboxConfig()
    cross: CrossConfig = CrossConfig()
    vendor: VendorConfig = VendorConfig()
    image: ImageConfig = ImageConfig()
    ci: CIConfig = CIConfig()


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return MappingProxyType(dict(value))
    return value


def config_from_dict(doc: dict[str, Any]) -> Config:
    """A Config from an already validated document (see schema.validate)."""
    v = schema.with_defaults(doc)
    sandbox = dict(v["sandbox"])
    sandbox["memory"] = schema.parse_size(sandbox["memory"]) if sandbox["memory"] is not None else None
    sandbox["mounts"] = tuple(Mount.parse(m) for m in sandbox["mounts"])
    vendor = {k.replace("-", "_"): x for k, x in v["vendor"].items()}
    vendor["deps"] = tuple(
        Dependency(path, "git" if "git" in d else "hg", d.get("git") or d["hg"], d["rev"],
                   d.get("subdir"), d.get("version"))
        for path, d in vendor["deps"].items()
    )
    image = {k.replace("-", "_"): _frozen(x) for k, x in v["image"].items()}
    return Config(
        go=GoConfig(**v["go"]),
        build=BuildConfig(**{k: _frozen(x) for k, x in v["build"].items()}),
        test=TestConfig(**{k: _frozen(x) for k, x in v["test"].items()}),
        sandbox=SandboxConfig(**{k: _frozen(x) for k, x in sandbox.items()}),
        cross=CrossConfig(**{k: _frozen(x) for k, x in v["cross"].items()}),
        vendor=VendorConfig(**vendor),
        image=ImageConfig(**image),
        ci=CIConfig(**v["ci"]),
    )


def parse_toml(text: str, filename: str) -> dict[str, Any]:
    """A TOML document; anything tomllib cannot read, or reads only by exhausting Python, is one ConfigError."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        where = f"{filename}:{m.group(1)}" if m else filename
        raise ConfigError(f"{where}: invalid TOML: {re.sub(r' *[(]at .*[)]$', '', msg)}") from None
    except RecursionError:
        # tomllib reads arrays and inline tables in one another by recursion: a few hundred deep exhaust
        # Python's stack (gobox's own files need four). Python unwinds cleanly, so catching it is the limit.
        raise ConfigError(f"{filename}: invalid TOML: arrays or inline tables nested too deep to read") from None
    except ValueError as e:
        if "digits" not in str(e):
            raise
        # An integer of more digits than Python converts (sys.get_int_max_str_digits): no setting takes one.
        raise ConfigError(f"{filename}: invalid TOML: an integer of more than 4300 digits") from None


def parse_config(text: str, filename: str) -> Config:
    """Parse and validate the text of a gobox.toml; `filename` is used in error messages."""
    doc = parse_toml(text, filename)
    invalid = schema.validate(doc)
    if invalid:
        line = line_of(text, invalid.path)
        where = f"{filename}:{line}" if line else filename
        raise ConfigError(f"{where}: {schema.key_text(invalid.path)}: {invalid.problem}")
    return config_from_dict(doc)


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", text)
    return tuple(a or b or c for a, b, c in parts)


def line_of(text: str, path: tuple[str, ...]) -> int | None:
    """The 1-based line where a key path is defined, or where its nearest enclosing key is.

    tomllib gives no positions, so this reads headers and `key =` lines itself;
    good enough to point a user at the right place.
    """
    table: tuple[str, ...] = ()
    best, best_len = None, 0
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            full = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            full = table + _split_key(key.group(1))
        if full == path:
            return number
        if path[: len(full)] == full and len(full) > best_len:
            best, best_len = number, len(full)
    return best


# --- go.mod and .go-version ---------------------------------------------------


@dataclass(frozen=True)
class GoMod:
    path: Path
    module: str | None
    go: str | None
    toolchain: str | None


def parse_gomod(text: str, path: Path) -> GoMod:
    module = go = toolchain = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        words = line.split()
        if len(words) != 2:
            continue
        if words[0] == "module":
            module = words[1].strip('"')
        elif words[0] == "go":
            go = words[1]
        elif words[0] == "toolchain" and words[1] != "default":
            toolchain = words[1]
    return GoMod(path, module, go, toolchain)


# --- the project --------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """A Go project gobox works on: its root and everything read from it."""

    root: Path
    config_path: Path | None
    config: Config
    gomod: GoMod | None
    go_version_file: str | None
    # A directory that is no project (`gobox run --go 1.22 -- ...` anywhere): the Go
    # version comes from --go or GOBOX_GO, and no gobox.lock is written.
    ephemeral: bool = False

    @classmethod
    def bare(cls, directory: Path) -> Project:
        return cls(directory.absolute(), None, Config(), None, None, ephemeral=True)

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)


def vendor_mode(project: Project) -> str | None:
    """How the project's [vendor.deps] are vendored and built: "modules", "gopath", or None without deps."""
    v = project.config.vendor
    if not v.deps:
        return None
    if v.mode != "auto":
        return v.mode
    return "modules" if project.gomod is not None else "gopath"


def find_root(start: Path) -> tuple[Path, Path | None] | None:
    """The project root above `start`: the nearest gobox.toml, else the nearest go.mod."""
    start = start.absolute()
    for name in (CONFIG_NAME, "go.mod"):
        for d in (start, *start.parents):
            if (d / name).is_file():
                return d, (d / CONFIG_NAME if name == CONFIG_NAME else None)
    return None


def load_project(start: Path) -> Project:
    found = find_root(start)
    if found is None:
        raise ConfigError(
            f"no gobox.toml or go.mod in {start} or any directory above it",
            hint="run gobox in a Go module, or create gobox.toml (see gobox.toml.example)",
        )
    root, config_path = found
    config = Config()
    if config_path is not None:
        config = parse_config(_read(config_path), _display(config_path))
    gomod = None
    if (root / "go.mod").is_file():
        gomod = parse_gomod(_read(root / "go.mod"), root / "go.mod")
    go_version = None
    gv = root / ".go-version"
    if gv.is_file():
        lines = _read(gv).split()
        go_version = lines[0] if lines else None
    return Project(root, config_path, config, gomod, go_version)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{_display(path)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{_display(path)}: cannot read: {e.strerror}") from None


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- which Go version, and why -------------------------------------------------


GO_LINE = "go.mod go line"


@dataclass(frozen=True)
class VersionChoice:
    """The Go version wanted and where that came from; `shadowed` are lower-ranked sources.

    `minimum`: the version is go.mod's `go` line, which Go reads as the oldest language version the
    module needs, not as a toolchain to fetch; any stable Go at or above it will do."""

    text: str
    origin: str
    shadowed: tuple[tuple[str, str], ...] = ()
    minimum: bool = False


def choose_version(
    project: Project | None, flag: str | None, environ: Mapping[str, str]
) -> VersionChoice:
    """Pick the wanted version by the documented order: --go, GOBOX_GO, [go].version,
    .go-version, go.mod's toolchain line, go.mod's go line. The first present wins; each pins
    what it names (a family or an exact version) but the go line, which is a minimum."""
    from gobox.names.versions import is_version

    candidates: list[tuple[str, str]] = []
    if flag:
        candidates.append((flag, "--go"))
    if environ.get("GOBOX_GO"):
        candidates.append((environ["GOBOX_GO"], "GOBOX_GO"))
    if project is not None:
        if project.config.go.version:
            candidates.append((project.config.go.version, f"{CONFIG_NAME} [go].version"))
        if project.go_version_file:
            candidates.append((project.go_version_file, ".go-version"))
        if project.gomod and project.gomod.toolchain:
            candidates.append((project.gomod.toolchain, "go.mod toolchain line"))
        if project.gomod and project.gomod.go:
            candidates.append((project.gomod.go, GO_LINE))
    if not candidates:
        raise ConfigError(
            "no Go version asked for",
            hint="give one (gobox toolchain which 1.22), set [go].version in gobox.toml, "
            "or run in a module whose go.mod has a go line",
        )
    text, origin = candidates[0]
    if not is_version(text):
        raise ConfigError(
            f"{origin}: not a Go version: {text!r}",
            hint="use 1.22 (newest 1.22.x), 1.22.10, go1.22.10 or 1.23rc1",
        )
    return VersionChoice(text, origin, tuple(candidates[1:]), minimum=origin == GO_LINE)


# --- gobox.lock ---------------------------------------------------------------


@dataclass(frozen=True)
class LockedArtifact:
    platform: str
    source: str
    filename: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class LockedImage:
    """An image toolchain ([go].image) pinned by the digest its reference resolved to, per platform."""

    reference: str  # canonical: 127.0.0.1:5000/golang:1.22
    platform: str
    digest: str


@dataclass(frozen=True)
class LockedBundle:
    """The CA bundle `gobox image` puts in images ([image].ca-certificates), pinned by its sha256."""

    source: str  # "certifi"
    version: str  # of the package it came from
    sha256: str


@dataclass(frozen=True)
class LockedDep:
    """A vendored dependency ([vendor.deps]) pinned at the full commit id its rev resolved to."""

    path: str  # the import path, the key in [vendor.deps]
    vcs: str  # "git" or "hg"
    url: str
    rev: str  # as gobox.toml wrote it: a tag, a branch or a (short) commit
    commit: str  # full: 40 hex digits for git and hg
    tree: str | None = None  # "sha256:..." of what was vendored from it (fetch.tree_digest), for --check


@dataclass(frozen=True)
class Lock:
    go_version: str | None = None
    artifacts: tuple[LockedArtifact, ...] = ()
    images: tuple[LockedImage, ...] = ()  # image toolchains ([go].image) and image bases ([image].base)
    ca_certificates: LockedBundle | None = None
    deps: tuple[LockedDep, ...] = ()

    def dep_for(self, path: str) -> LockedDep | None:
        return next((d for d in self.deps if d.path == path), None)

    def artifact_for(self, platform: str) -> LockedArtifact | None:
        return next((a for a in self.artifacts if a.platform == platform), None)

    def image_for(self, reference: str, platform: str) -> LockedImage | None:
        return next((i for i in self.images if (i.reference, i.platform) == (reference, platform)), None)


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def parse_lock(text: str, filename: str) -> Lock:
    doc = parse_toml(text, filename)

    def bad(path: tuple[str, ...], problem: str) -> ConfigError:
        line = line_of(text, path)
        where = f"{filename}:{line}" if line else filename
        return ConfigError(f"{where}: {schema.key_text(path)}: {problem}",
                           hint="delete gobox.lock and run gobox again to recreate it")

    def tables(parent: dict[str, Any], path: tuple[str, ...]) -> list[dict[str, Any]]:
        """The array of tables at `path` ([[go.artifacts]] ...), each checked to be a table."""
        value = parent.get(path[-1], [])
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            raise bad(path, "expected an array of tables")
        return value

    version_field = doc.get("version")
    if type(version_field) is not int or version_field != LOCK_FORMAT:
        raise bad(("version",), f"expected lock format {LOCK_FORMAT}, got {schema.describe(version_field)}")
    problem = schema.nul_in(doc)
    if problem is not None:
        raise bad(problem, schema.NUL_PROBLEM)
    go = doc.get("go", {})
    if not isinstance(go, dict):
        raise bad(("go",), "expected a table")
    version = go.get("version")
    if version is not None and not isinstance(version, str):
        raise bad(("go", "version"), "expected a string")
    artifacts = []
    for entry in tables(go, ("go", "artifacts")):
        fields = {"platform": str, "source": str, "filename": str, "url": str, "sha256": str,
                  "size": int}
        for name, kind in fields.items():
            if not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool):
                raise bad(("go", "artifacts", name), f"expected a {kind.__name__}")
        if entry["size"] < 0:
            raise bad(("go", "artifacts", "size"), "expected a size of 0 or more bytes")
        if not _HEX64.match(entry["sha256"]):
            raise bad(("go", "artifacts", "sha256"), "expected 64 lowercase hex digits")
        artifacts.append(LockedArtifact(**{k: entry[k] for k in fields}))
    images = []
    for entry in tables(go, ("go", "images")):
        for name in ("reference", "platform", "digest"):
            if not isinstance(entry.get(name), str):
                raise bad(("go", "images", name), "expected a string")
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", entry["digest"]):
            raise bad(("go", "images", "digest"), 'expected "sha256:" and 64 lowercase hex digits')
        images.append(LockedImage(entry["reference"], entry["platform"], entry["digest"]))
    bundle = None
    image = doc.get("image", {})
    if not isinstance(image, dict):
        raise bad(("image",), "expected a table")
    if "ca-certificates" in image:
        entry = image["ca-certificates"]
        if not isinstance(entry, dict):
            raise bad(("image", "ca-certificates"), "expected a table")
        for name in ("source", "version", "sha256"):
            if not isinstance(entry.get(name), str):
                raise bad(("image", "ca-certificates", name), "expected a string")
        if not _HEX64.match(entry["sha256"]):
            raise bad(("image", "ca-certificates", "sha256"), "expected 64 lowercase hex digits")
        bundle = LockedBundle(entry["source"], entry["version"], entry["sha256"])
    vendor = doc.get("vendor", {})
    if not isinstance(vendor, dict):
        raise bad(("vendor",), "expected a table")
    deps = []
    for entry in tables(vendor, ("vendor", "deps")):
        for name in ("path", "vcs", "url", "rev", "commit"):
            if not isinstance(entry.get(name), str):
                raise bad(("vendor", "deps", name), "expected a string")
        if entry["vcs"] not in ("git", "hg"):
            raise bad(("vendor", "deps", "vcs"), f'expected "git" or "hg", got {entry["vcs"]!r}')
        if not re.fullmatch(r"[0-9a-f]{40}", entry["commit"]):
            raise bad(("vendor", "deps", "commit"), "expected a full commit id: 40 lowercase hex digits")
        tree = entry.get("tree")
        if tree is not None and not (isinstance(tree, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", tree)):
            raise bad(("vendor", "deps", "tree"), 'expected "sha256:" and 64 lowercase hex digits')
        deps.append(LockedDep(entry["path"], entry["vcs"], entry["url"], entry["rev"], entry["commit"], tree))
    return Lock(version, tuple(artifacts), tuple(images), bundle, tuple(deps))


def read_lock(path: Path) -> Lock | None:
    if not path.is_file():
        return None
    return parse_lock(_read(path), _display(path))


def _q(text: str) -> str:
    """A TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def render_lock(lock: Lock) -> str:
    lines = [
        "# gobox.lock: what gobox.toml resolved to, exactly. Written by gobox; commit it.",
        f"version = {LOCK_FORMAT}",
    ]
    if lock.go_version:  # gobox vendor may lock deps before any build has resolved the Go version
        lines += ["", "[go]", f"version = {_q(lock.go_version)}"]
    for a in sorted(lock.artifacts, key=lambda a: a.platform):
        lines += [
            "",
            "[[go.artifacts]]",
            f"platform = {_q(a.platform)}",
            f"source = {_q(a.source)}",
            f"filename = {_q(a.filename)}",
            f"url = {_q(a.url)}",
            f"sha256 = {_q(a.sha256)}",
            f"size = {a.size}",
        ]
    for i in sorted(lock.images, key=lambda i: (i.reference, i.platform)):
        lines += ["", "[[go.images]]", f"reference = {_q(i.reference)}", f"platform = {_q(i.platform)}",
                  f"digest = {_q(i.digest)}"]
    if lock.ca_certificates:
        b = lock.ca_certificates
        lines += ["", "[image.ca-certificates]", f"source = {_q(b.source)}", f"version = {_q(b.version)}",
                  f"sha256 = {_q(b.sha256)}"]
    for d in sorted(lock.deps, key=lambda d: d.path):
        lines += ["", "[[vendor.deps]]", f"path = {_q(d.path)}", f"vcs = {_q(d.vcs)}", f"url = {_q(d.url)}",
                  f"rev = {_q(d.rev)}", f"commit = {_q(d.commit)}"]
        if d.tree:
            lines.append(f"tree = {_q(d.tree)}")
    return "\n".join(lines) + "\n"


# --- editing gobox.toml in place ---------------------------------------------


def set_go_version(text: str, version: str, filename: str = CONFIG_NAME) -> str:
    """`text` with [go].version set to `version`, every other byte as the user wrote it.

    tomlkit edits the document it parsed, keeping comments, order, quoting and the form the user chose
    for [go] (a table, dotted keys `go.version = ...`, an inline table): anything TOML allows, where a
    writer of our own knew only `[go]` headers and appended a second [go] to a file of dotted keys.
    """
    import tomlkit  # only `toolchain pin` edits gobox.toml: `gobox run` does not pay for the import
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(text)
        go = doc.get("go")
        if go is None:
            doc["go"] = {"version": version}
        elif isinstance(go, Mapping):
            go["version"] = version
        else:
            raise ConfigError(f"{filename}: go: expected a table ([go] or go.version = ...), "
                              f"got {type(go).__name__}")
        return tomlkit.dumps(doc)
    except TOMLKitError as e:
        raise ConfigError(f"{filename}: cannot set [go].version: {e}",
                          hint=f'set it by hand: version = "{version}" in [go]') from None


# --- user settings ------------------------------------------------------------

SOURCE_NAMES = ("go.dev", "pypi")


@dataclass(frozen=True)
class Settings:
    """The user's own configuration: config.toml in the user config dir, then GOBOX_* variables."""

    sources: tuple[str, ...] = SOURCE_NAMES
    go_dev_url: str = "https://go.dev/dl/"
    pypi_url: str = "https://pypi.org/simple/"
    timeout: float = 30.0  # seconds without a byte before a download is abandoned
    # Registries reached over plain HTTP besides localhost and 127.0.0.1 (which always may be).
    insecure_registries: tuple[str, ...] = ()
    # Bytes of a manifest, index, image config or toolchain index read at most (what registries commonly allow).
    max_metadata_size: int = 4 << 20
    # A layer may unpack to layer_ratio times its compressed size (at least 256 MiB), and never past layer_size.
    layer_ratio: float = 100.0
    layer_size: int = 64 << 30

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        path = Path(env["GOBOX_CONFIG"]) if env.get("GOBOX_CONFIG") else _user_config_path()
        values: dict[str, Any] = {}
        try:
            exists = path.is_file()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the user config: {e.strerror}",
                              hint="set GOBOX_CONFIG to a readable file, or HOME to your own directory") from None
        if exists:
            values.update(_settings_from_file(path))
        if env.get("GOBOX_TOOLCHAIN_SOURCES"):
            values["sources"] = _check_sources(
                [s.strip() for s in env["GOBOX_TOOLCHAIN_SOURCES"].split(",") if s.strip()],
                "GOBOX_TOOLCHAIN_SOURCES")
        for var, key in (("GOBOX_GO_DEV_URL", "go_dev_url"), ("GOBOX_PYPI_URL", "pypi_url")):
            if env.get(var):
                values[key] = _check_url(env[var], var)
        if env.get("GOBOX_INSECURE_REGISTRIES"):
            values["insecure_registries"] = _check_hosts(env["GOBOX_INSECURE_REGISTRIES"].split(","),
                                                         "GOBOX_INSECURE_REGISTRIES")
        if env.get("GOBOX_MAX_METADATA_SIZE"):
            values["max_metadata_size"] = _check_size(env["GOBOX_MAX_METADATA_SIZE"], "GOBOX_MAX_METADATA_SIZE")
        if env.get("GOBOX_HTTP_TIMEOUT"):
            try:
                values["timeout"] = float(env["GOBOX_HTTP_TIMEOUT"])
                if not 0 < values["timeout"] < math.inf:  # nan too
                    raise ValueError
            except ValueError:
                raise ConfigError(f"GOBOX_HTTP_TIMEOUT: expected seconds above 0, got "
                                  f"{env['GOBOX_HTTP_TIMEOUT']!r}") from None
        for var, key in (("GOBOX_LAYER_RATIO", "layer_ratio"), ("GOBOX_LAYER_SIZE", "layer_size")):
            if env.get(var):
                values[key] = _check_limit(key, env[var], var)
        return cls(**values)


def _user_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("gobox", appauthor=False)) / "config.toml"


_SETTINGS_KEYS = {
    ("toolchains", "sources"): "sources",
    ("toolchains", "go-dev-url"): "go_dev_url",
    ("toolchains", "pypi-url"): "pypi_url",
    ("network", "timeout"): "timeout",
    ("registries", "insecure"): "insecure_registries",
    ("network", "max-metadata-size"): "max_metadata_size",
    ("limits", "layer-ratio"): "layer_ratio",
    ("limits", "layer-size"): "layer_size",
}


def _settings_from_file(path: Path) -> dict[str, Any]:
    name = _display(path)
    text = _read(path)
    doc = parse_toml(text, name)
    out: dict[str, Any] = {}
    for table, body in doc.items():
        for key, value in (body.items() if isinstance(body, dict) else [(None, body)]):
            where = f"{name}:{line_of(text, (table, key) if key else (table,)) or '?'}"
            attr = _SETTINGS_KEYS.get((table, key))
            allowed = ", ".join(f"{t}.{k}" for t, k in _SETTINGS_KEYS)
            if attr is None:
                raise ConfigError(f"{where}: {table}.{key}: unknown key (allowed: {allowed})")
            label = f"{where}: {table}.{key}"
            if attr == "sources":
                if not isinstance(value, list):
                    raise ConfigError(f"{label}: expected a list such as [\"go.dev\", \"pypi\"]")
                out[attr] = _check_sources(value, label)
            elif attr == "insecure_registries":
                if not isinstance(value, list):
                    raise ConfigError(f"{label}: expected a list such as [\"registry.lan:5000\"]")
                out[attr] = _check_hosts(value, label)
            elif attr == "max_metadata_size":
                out[attr] = _check_size(value, label)
            elif attr == "timeout":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                    raise ConfigError(f"{label}: expected seconds above 0")
                out[attr] = float(value)
            elif attr in ("layer_ratio", "layer_size"):
                out[attr] = _check_limit(attr, value, label)
            else:
                out[attr] = _check_url(value, label)
    return out


def _check_limit(attr: str, value: Any, where: str) -> float | int:
    """limits.layer-ratio (a finite number, at least 1) or limits.layer-size (a size), from the file or a variable."""
    if attr == "layer_ratio":
        try:
            ratio = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
        except (ValueError, OverflowError):
            ratio = None
        if ratio is None or not math.isfinite(ratio) or ratio < 1:
            raise ConfigError(f"{where}: expected how many times its compressed size a layer may unpack to, "
                              f"a number of at least 1 such as 100, got {value!r}")
        return ratio
    return _check_size(value, where, example="64GiB")


def _check_sources(names: list[Any], where: str) -> tuple[str, ...]:
    for n in names:
        if n not in SOURCE_NAMES:
            raise ConfigError(f"{where}: unknown toolchain source {n!r} "
                              f"(allowed: {', '.join(SOURCE_NAMES)})")
    if not names:
        raise ConfigError(f"{where}: needs at least one toolchain source")
    return tuple(names)


def _check_hosts(values: list[Any], where: str) -> tuple[str, ...]:
    hosts = []
    for v in values:
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?", v.strip()):
            raise ConfigError(f"{where}: expected registry hosts such as \"registry.lan:5000\", got {v!r}")
        hosts.append(v.strip())
    return tuple(hosts)


def _check_size(value: Any, where: str, example: str = "4MiB") -> int:
    size = schema.parse_size(value) if isinstance(value, (int, str)) else None
    if size is None:
        raise ConfigError(f"{where}: expected a size such as \"{example}\" or {schema.parse_size(example)}, "
                          f"got {value!r}")
    return size


def _check_url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://", value):
        raise ConfigError(f"{where}: expected an http(s):// URL, got {value!r}")
    return value if value.endswith("/") else value + "/"

