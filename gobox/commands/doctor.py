"""gobox doctor: what this host supports, checked for real, and how to fix what it lacks."""

from __future__ import annotations

from typing import Any

from gobox.commands.session import Session


def checks(session: Session, network: bool) -> list[Any]:
    """Each check (gobox.doctor.Check) of the sandbox, the store and, with `network`, the toolchain sources."""
    from gobox.doctor import run_checks
    from gobox.names.platform import host_platform

    return run_checks(session.store, session.settings, host_platform(), network=network)
