"""gobox vendor: [vendor.deps] fetched at their pinned revisions into vendor/, pinned in gobox.lock, or checked."""

from __future__ import annotations

from typing import Any

from gobox.commands.session import Session
from gobox.values import dataclass


@dataclass(frozen=True)
class Checked:
    """vendor --check: with no [vendor.deps], nothing to compare (`own`: why builds take vendor/ anyway);
    else each line that differs from what gobox.lock pins."""

    deps: bool
    own: str | None = None
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vendored:
    """gobox vendor: each dependency's pin (gobox.deps.tree.Pin), the files written, and whether gobox.lock
    changed."""

    pins: tuple[Any, ...]
    files: int
    lock_written: bool


def check(session: Session, project: Any) -> Checked:
    """Compare vendor/ with what gobox.lock pins, byte for byte, offline."""
    from gobox.deps import tree

    if not project.config.vendor.deps:
        # Nothing gobox vendors, so nothing can differ from what it would write.
        from gobox.build import mod_vendor

        return Checked(False, mod_vendor(project) or None)
    return Checked(True, differences=tuple(tree.check(project, session.store)))


def vendor(session: Session, project: Any, locked: bool, update: tuple[str, ...]) -> Vendored:
    """Fetch the dependencies into vendor/ and pin them (gobox.deps.tree's result); `update` names those
    whose rev is resolved again ("*": every one)."""
    from gobox import lock
    from gobox.deps import tree
    from gobox.errors import UsageError

    if locked and update:
        raise UsageError("--locked forbids changing gobox.lock, which --update does")
    renew = () if "*" in update else (update or None)
    done = tree.vendor(project, session.store, session.progress(), locked, renew)
    written = lock.record(project.lock_path, (done.lock_pin,)) is not None
    return Vendored(tuple(done.pins), done.files, written)
