"""gobox/cli/ only parses, calls and renders: it imports the commands layer, never the modules that do the work."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "gobox" / "cli"
# What a CLI module may import from gobox: itself, the commands it calls, the errors it renders, the progress
# it reports on, the config and schema that check option values, completion (Tab), the version, and the
# dataclass decorator its option values are made with.
ALLOWED = ("gobox.cli", "gobox.commands", "gobox.errors", "gobox.progress", "gobox.config", "gobox.schema",
           "gobox.completion", "gobox.values")


def gobox_imports(path: Path) -> list[tuple[int, str]]:
    """Every gobox module `path` imports, at the top or inside a function, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gobox":  # from gobox import x: x is the module
                found += [(node.lineno, f"gobox.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "gobox" or name.startswith("gobox.")]


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_cli_imports_only_the_commands_layer(path: Path) -> None:
    wrong = [f"{path.name}:{line}: {name}" for line, name in gobox_imports(path)
             if name != "gobox.__version__" and not name.startswith(ALLOWED)]
    assert not wrong, "gobox/cli/ calls gobox.commands instead of: " + ", ".join(wrong)


def test_the_cli_is_a_package_of_small_modules() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in CLI.glob("*.py")}
    assert len(sizes) > 5 and max(sizes.values()) <= 600, sizes
