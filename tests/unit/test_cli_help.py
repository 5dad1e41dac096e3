"""Every command's --help ends with examples, and `gobox --help` reads as a guide."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from gobox.cli import cli


def commands(group: click.Group = cli, path: tuple[str, ...] = ("gobox",)) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def help_text(name: str, command: click.Command) -> str:
    with click.Context(command, info_name=name) as ctx:
        return command.get_help(ctx)


@pytest.mark.parametrize("name, command", list(commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_help_ends_with_examples(name: str, command: click.Command) -> None:
    text = help_text(name, command)
    assert "Example" in text, f"`{name} --help` has no Examples: block (end its docstring with one, after \\b)"
    block, after = text[text.index("Example"):].split("\n\n", 1)
    assert after.startswith("Options:"), f"`{name} --help`: the Examples: block should end the description"
    examples = block.splitlines()[1:]
    assert examples and all(line.startswith("    ") for line in examples), \
        f"`{name} --help`: put \\b before Examples: so click keeps one invocation a line"
    assert any("gobox" in line for line in examples), f"`{name} --help`: no example runs gobox"


def test_gobox_help_lists_every_command_in_a_section() -> None:
    from gobox.cli import SECTIONS

    placed = [name for _, names in SECTIONS for name in names]
    assert sorted(placed) == sorted(cli.commands), "add the new command to gobox.cli.SECTIONS"
    text = help_text("gobox", cli)
    assert "Other:" not in text and "docs/config.md" in text and "gobox doctor" in text
    assert text.index("build ") < text.index("toolchain ") < text.index("completion ")
