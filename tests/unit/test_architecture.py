"""The import rules of docs/architecture.md hold: each module imports only from lower floors, and no packages cycle."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from support.runner import REPO

DOC = REPO / "docs" / "architecture.md"


def floors(text: str) -> dict[str, int]:
    """The floor of every unit, read from the `layers` block of an architecture document."""
    block = re.search(r"^```layers\n(.*?)^```", text, re.M | re.S)
    assert block, "docs/architecture.md has no ```layers block"
    table = {}
    for line in block.group(1).splitlines():
        floor, *units = line.split()
        table.update(dict.fromkeys(units, int(floor)))
    return table


def unit_of(module: str) -> str:
    """`gobox.oci.layer` -> `oci`; `gobox` (the package's __init__ or `from gobox import __version__`) -> `gobox`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "gobox"


def imports(root: Path) -> dict[str, set[tuple[str, str]]]:
    """unit -> {(importing file, imported unit)} over every import in root/gobox/, lazy and TYPE_CHECKING ones too."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    package_dir = root / "gobox"
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(root)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        own = unit_of(module)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).rstrip(".")
                targets = [base]
                if base == "gobox":  # `from gobox import oci` names a unit; `from gobox import __version__` does not
                    targets = [f"gobox.{a.name}" if any((package_dir / (a.name + x)).exists() for x in ("", ".py"))
                               else "gobox" for a in node.names]
            for target in targets:
                if target == "gobox" or target.startswith("gobox."):
                    other = unit_of(target)
                    if other != own:
                        found[own].add((str(rel), other))
    return found


def units(root: Path) -> set[str]:
    return {unit_of(".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"))
            for p in (root / "gobox").rglob("*.py")}


def upward(root: Path, table: dict[str, int]) -> list[str]:
    """Every import of a unit on the same floor or above, as `file: unit (floor) imports other (floor)`."""
    return sorted(f"{where}: {unit} (floor {table[unit]}) imports {other} (floor {table[other]})"
                  for unit, edges in imports(root).items() for where, other in edges if table[other] >= table[unit])


def cycles(root: Path) -> list[str]:
    graph = {unit: {other for _, other in edges} for unit, edges in imports(root).items()}
    found = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    found.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


def test_every_unit_has_a_floor() -> None:
    table = floors(DOC.read_text())
    assert sorted(units(REPO) - set(table)) == [], "add these to the layers block of docs/architecture.md"
    assert sorted(set(table) - units(REPO)) == [], "the layers block names units gobox no longer has"


def test_imports_go_only_downwards() -> None:
    assert upward(REPO, floors(DOC.read_text())) == []


def test_no_packages_import_each_other_in_a_circle() -> None:
    assert cycles(REPO) == []


def test_the_checks_see_an_upward_import_a_lazy_one_and_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "gobox"
    (pkg / "sandbox").mkdir(parents=True)
    (pkg / "__init__.py").write_text("__version__ = '0'\n")
    (pkg / "errors.py").write_text("")
    (pkg / "sandbox" / "__init__.py").write_text("")
    (pkg / "sandbox" / "run.py").write_text("from gobox.store import Store\nfrom gobox import errors\n")
    (pkg / "store.py").write_text("def f():\n    from .sandbox import run\n")  # lazy and relative
    table = floors("```layers\n1 sandbox\n0 store\n-1 errors gobox\n```\n")
    assert units(tmp_path) == {"gobox", "errors", "sandbox", "store"}
    assert upward(tmp_path, table) == ["gobox/store.py: store (floor 0) imports sandbox (floor 1)"]
    assert cycles(tmp_path) == ["sandbox -> store -> sandbox", "store -> sandbox -> store"]
