"""The store owns its layout: no module but gobox/store.py joins a directory name onto the store's root."""

from __future__ import annotations

import ast
from pathlib import Path

GOBOX = Path(__file__).resolve().parents[2] / "gobox"


def _is_store(node: ast.expr) -> bool:
    """`store`, `self.store`, `session.store`: an expression naming a Store."""
    return (isinstance(node, ast.Name) and node.id == "store") or (
        isinstance(node, ast.Attribute) and node.attr == "store")


def root_joins(source: str, name: str) -> list[str]:
    """Every `<store>.root / x` in source, as `name:line`."""
    return [f"{name}:{node.lineno}" for node in ast.walk(ast.parse(source, name))
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
            and isinstance(node.left, ast.Attribute) and node.left.attr == "root" and _is_store(node.left.value)]


def test_only_the_store_spells_its_top_level_directories() -> None:
    found = [hit for path in sorted(GOBOX.rglob("*.py")) if path != GOBOX / "store.py"
             for hit in root_joins(path.read_text(), str(path.relative_to(GOBOX.parent)))]
    assert found == [], "ask the Store for the area (store.images, store.layers, ...), or add one to gobox/store.py"


def test_the_check_sees_each_way_of_naming_the_store() -> None:
    source = ('a = store.root / "images"\nb = session.store.root / "run"\nc = self.store.root / "cache"\n'
              'd = project.root / "go.mod"\ne = store.images / "x"\nf = f"{store.root}"\n')
    assert root_joins(source, "m.py") == ["m.py:1", "m.py:2", "m.py:3"]


def test_each_area_of_the_store_is_in_its_documented_layout() -> None:
    """Store's docstring is the layout's one description: every directory a property names is listed there."""
    from gobox.store import Store

    root = Path("/store")
    store = Store(root)
    layout = [line.split()[0] for line in (Store.__doc__ or "").splitlines() if line.startswith("      ")
              and not line.startswith("       ")]
    areas = {name: getattr(store, name) for name, value in vars(Store).items() if isinstance(value, property)}
    assert areas["listings"] == root / "cache" / "list"
    for name, path in areas.items():
        rel = path.relative_to(root).as_posix() + "/"
        assert any(entry.startswith(rel) for entry in layout), f"Store.{name} ({rel}) is not in the layout"
