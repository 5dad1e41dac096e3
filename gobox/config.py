"""The project: gobox.toml, go.mod and .go-version as frozen values, and the Go version they ask for; each bad
input is one ConfigError. gobox.lock is gobox.lock's (gobox/lock.py), the user's settings gobox/settings.py's."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gobox import schema
from gobox.errors import ConfigError
from gobox.lock import LOCK_NAME
from gobox.tomlfile import display as _display
from gobox.tomlfile import line_of, parse_toml
from gobox.tomlfile import read_text as _read
from gobox.values import dataclass

CONFIG_NAME = "gobox.toml"


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


def parse_config(text: str, filename: str) -> Config:
    """Parse and validate the text of a gobox.toml; `filename` is used in error messages."""
    doc = parse_toml(text, filename)
    invalid = schema.validate(doc)
    if invalid:
        line = line_of(text, invalid.path)
        where = f"{filename}:{line}" if line else filename
        raise ConfigError(f"{where}: {schema.key_text(invalid.path)}: {invalid.problem}")
    return config_from_dict(doc)


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
    # What messages name files relative to: None is the current directory; gobox ci's copy of a checkout
    # gives its own root, so a message names gobox.lock as it would in the checkout.
    display_base: Path | None = None

    @classmethod
    def bare(cls, directory: Path) -> Project:
        return cls(directory.absolute(), None, Config(), None, None, ephemeral=True)

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    def relative(self, path: Path) -> str:
        return _display(path, self.display_base)


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


def load_project(start: Path, display_base: Path | None = None) -> Project:
    """The project whose root is at or above `start`; messages name its files relative to `display_base`
    (default the current directory)."""
    found = find_root(start)
    if found is None:
        raise ConfigError(
            f"no gobox.toml or go.mod in {start} or any directory above it",
            hint="run gobox in a Go module, or create gobox.toml (see gobox.toml.example)",
        )
    root, config_path = found
    config = Config()
    if config_path is not None:
        config = parse_config(_read(config_path, display_base), _display(config_path, display_base))
    gomod = None
    if (root / "go.mod").is_file():
        gomod = parse_gomod(_read(root / "go.mod", display_base), root / "go.mod")
    go_version = None
    gv = root / ".go-version"
    if gv.is_file():
        lines = _read(gv, display_base).split()
        go_version = lines[0] if lines else None
    return Project(root, config_path, config, gomod, go_version, display_base=display_base)


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
        elif isinstance(go, MutableMapping):  # tomlkit's Table
            go["version"] = version
        else:
            raise ConfigError(f"{filename}: go: expected a table ([go] or go.version = ...), "
                              f"got {type(go).__name__}")
        return tomlkit.dumps(doc)
    except TOMLKitError as e:
        raise ConfigError(f"{filename}: cannot set [go].version: {e}",
                          hint=f'set it by hand: version = "{version}" in [go]') from None
