"""What every command shares: the global options and the store, settings and progress, made when first asked."""

from __future__ import annotations

import os
import sys
from dataclasses import field
from pathlib import Path
from typing import Any

from gobox.values import dataclass


@dataclass
class Session:
    """The services of one gobox invocation, made lazily so that `gobox run -- true` opens only what it uses."""

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

    def record(self, project: Any, pins: Any) -> bool:
        """Write what a command's features resolved (gobox.lock.LockPin values) into the project's gobox.lock,
        in one update, and say so; False when the lock already said it all. Commands, not features, write."""
        from gobox.lock import record

        pins = tuple(p for p in pins if p is not None)
        if project.ephemeral or record(project.lock_path, pins) is None:
            return False
        progress = self.progress()
        for p in pins:
            progress.step(f"wrote {project.relative(project.lock_path)}: {p.said}")
        return True


class stdout_to_stderr:
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
