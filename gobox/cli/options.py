"""The CLI's shared options: values checked by gobox.schema's rules, -C hoisting, the sandbox and docker flags."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gobox.commands.session import Session
from gobox.values import dataclass

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = "Every gobox.toml key: docs/config.md in the source tree. A host problem: gobox doctor."


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


pass_app = click.make_pass_decorator(Session)


def _completer(values: Callable[[Any, str], list[str]]) -> Callable[..., list[str]]:
    """A click shell_complete callback; gobox.completion is imported only when Tab is pressed."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        from gobox import completion

        try:
            return values(completion, incomplete)
        except Exception:  # noqa: BLE001 - an unreadable store must not break the user's shell
            return []

    return complete


COMPLETE_TARGETS = _completer(lambda c, text: c.targets(text))


COMPLETE_TARGET_PATTERNS = _completer(lambda c, text: c.targets(text, patterns=True))


COMPLETE_PLATFORMS = _completer(lambda c, text: c.starting_with(c.IMAGE_PLATFORMS, text))


COMPLETE_VERSIONS = _completer(lambda c, text: c.toolchain_versions(c.store_root(), text))


COMPLETE_IMAGES = _completer(lambda c, text: c.image_references(c.store_root(), text))


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
        from gobox.commands.run import parse_publish

        if not isinstance(value, str):
            return value
        try:
            return parse_publish(value)
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


def complete_patterns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Targets, until a flag-looking word: from there on the words are go build's (split_dashdash)."""
    if any(a.startswith("-") for a in ctx.params.get(param.name or "") or ()):
        return []
    return COMPLETE_TARGET_PATTERNS(ctx, param, incomplete)


@dataclass(frozen=True)
class RunFlags:
    """The options every sandbox command takes, gathered by @sandbox_options."""

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
    # Docker's own (@docker_options, gobox run only): -w, -p; -i, -t and --rm are accepted and change nothing.
    workdir: str | None = None
    publish: tuple[Any, ...] = ()  # gobox.sandbox.spec.Publish
    interactive: bool = False
    allocate_tty: bool = False
    remove: bool = False

    def options(self) -> Any:  # gobox.build.Options
        # Each value was checked as click parsed it (the Checked types).
        from gobox.commands.run import options

        return options(go=self.go, image=self.image, env=env_pairs(self.env), mounts=self.mounts,
                       network=self.network, memory=size_bytes(self.memory), pids=self.pids, cpus=self.cpus,
                       no_limits=self.no_limits, seccomp=self.seccomp, locked=self.locked, workdir=self.workdir,
                       publish=self.publish)


def env_pairs(items: tuple[str | None, ...]) -> tuple[tuple[str, str], ...]:
    """-e's NAME=value items (checked by ENV) as pairs; a bare -e NAME the caller lacks is None, and dropped."""
    return tuple((name, value) for name, _, value in (item.partition("=") for item in items if item is not None))


def size_bytes(text: str | None) -> int | None:
    """--memory's size (checked by MEMORY) in bytes."""
    from gobox.schema import parse_size

    return parse_size(text) if text is not None else None


SECCOMP_OPTION = click.option("--seccomp", type=click.Choice(["default", "off"]),
                               help="The sandbox's seccomp filter (default [sandbox].seccomp, default); "
                               "off is warned on every run.")


def docker_options() -> list[Any]:
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


def sandbox_options(f=None, *, docker: bool = False):  # noqa: ANN001, ANN201 - a click decorator
    """Add the sandbox options to a command, passed to it as one `flags: RunFlags`; with `docker`, docker
    run's flags too, and -v is --volume (docker's) rather than --verbose."""
    import functools

    if f is None:
        return functools.partial(sandbox_options, docker=docker)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags = RunFlags(**{name: kwargs.pop(name) for name in RunFlags.__dataclass_fields__ if name in kwargs})
        return f(*args, flags=flags, **kwargs)

    opts = [
        click.option("--go", "go", metavar="VERSION", shell_complete=COMPLETE_VERSIONS,
                     help="Go version, overriding the project's."),
        click.option("--image", "image", metavar="REF", shell_complete=COMPLETE_IMAGES,
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
        SECCOMP_OPTION,
        click.option("--locked", is_flag=True, help="Fail if gobox.lock would change."),
        click.option("--dry-run", is_flag=True, help="Print the sandbox plan; run nothing."),
        click.option(*(() if docker else ("-v",)), "--verbose", "verbose", is_flag=True,
                     help="Report peak memory and CPU time at the end."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
        *(docker_options() if docker else ()),
    ]
    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper


def split_dashdash(args: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """click drops the first `--`; what follows a flag-looking word is for go itself."""
    for i, a in enumerate(args):
        if a.startswith("-"):
            return args[:i], args[i:]
    return args, ()


def split_platforms(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


def with_options(options: list[Any]) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        for opt in reversed(options):
            f = opt(f)
        return f

    return decorate
