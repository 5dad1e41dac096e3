"""The gobox command line: parse arguments, call one command of gobox.commands, render its result."""
# ruff: noqa: E402 - the collector is told about start-up before the imports below

from __future__ import annotations

import gc

# What the interpreter, site, click and gobox.cli make at start-up lives as long as the process: moved to the
# collector's permanent generation (here, and again once this module is made), it is not walked again by each
# collection while gobox starts (~7% of `gobox run --dry-run`'s instructions), and the sandbox's forks share
# its pages. Once a process: what main() leaves behind is collected as usual.
gc.freeze()

import importlib
import os
import signal
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, NoReturn

import click

from gobox import __version__
from gobox.cli.options import hoist_directory
from gobox.cli.render import Json, emit_json, watch_json
from gobox.commands.session import Session
from gobox.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE, GoboxError

# `gobox --help` lists commands by what they are for, in the order a new user meets them.
SECTIONS = (
    ("Build", ("build", "test", "cross", "run", "shell", "vendor")),
    ("Go toolchains", ("toolchain",)),
    ("CI", ("ci", "verify")),
    ("Images", ("image", "pull", "push", "images", "rmi", "login", "logout")),
    ("The host and the store", ("doctor", "gc", "completion")),
)


# Each command's module under gobox/cli/ and its name there.
COMMANDS = {
    "build": ("run", "build_cmd"), "test": ("run", "test_cmd"), "cross": ("cross", "cross_cmd"),
    "run": ("run", "run_cmd"), "shell": ("run", "shell_cmd"), "vendor": ("vendor", "vendor_cmd"),
    "toolchain": ("toolchain", "toolchain"), "ci": ("ci", "ci_cmd"), "verify": ("ci", "verify_cmd"),
    "image": ("image", "image_cmd"), "pull": ("registry", "pull_cmd"), "push": ("registry", "push_cmd"),
    "images": ("registry", "images_cmd"), "rmi": ("registry", "rmi_cmd"), "login": ("registry", "login_cmd"),
    "logout": ("registry", "logout_cmd"), "doctor": ("doctor", "doctor_cmd"), "gc": ("registry", "gc_cmd"),
    "completion": ("doctor", "completion_cmd"),
}


class _LazyCommands(MutableMapping[str, click.Command]):
    """The root group's commands, each module imported when its command is first looked up, so that
    `gobox run` imports gobox/cli/run.py and not the image, registry and ci commands (start-up time)."""

    def __init__(self, table: dict[str, tuple[str, str]]) -> None:
        self._table = dict(table)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, attr = self._table[name]
            command = getattr(importlib.import_module(f"gobox.cli.{module}"), attr)
            watch_json(command)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._table and name not in self._loaded:
            raise KeyError(name)
        self._table.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._table), **dict.fromkeys(self._loaded)})

    def __len__(self) -> int:
        return len(self._table.keys() | self._loaded.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._table or name in self._loaded


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


ROOT_EPILOG = ("Every gobox.toml key: docs/config.md in the source tree, and gobox.toml.example as a commented "
               "file. A new host: `gobox doctor` checks what the sandbox needs. Tab completion: "
               "`gobox completion --help`.")


@click.group(cls=_SectionedGroup, commands=_LazyCommands(COMMANDS), epilog=ROOT_EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = Session(debug=debug, quiet=quiet)


gc.freeze()  # and click's and gobox.cli's own, made since


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
    Json.requested = Json.emitted = False  # main() may run more than once in a process (tests)
    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        returned = cli.main(args=argv, prog_name="gobox", standalone_mode=False)
        code = returned if isinstance(returned, int) else 0
    except GoboxError as e:
        if debug:
            import traceback

            traceback.print_exc()
        if Json.requested and not Json.emitted:
            emit_json({"ok": False, "exit_code": e.exit_code, "error": e.message, "hint": e.hint})
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
