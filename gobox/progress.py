"""Progress of long work: a redrawn bar on a terminal, one plain line per step in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} GB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Reports steps and byte counts. Quiet (no output at all) when `quiet` is set."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self._label = ""
        self._total = 0
        self._done = 0
        self._start = 0.0
        self._drawn = 0.0

    def step(self, message: str) -> None:
        """One line saying what happens now (both on terminals and in logs)."""
        if not self.quiet:
            self._clear()
            print(f"gobox: {message}", file=self.stream, flush=True)

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done = label, total, 0
        self._start = self._drawn = time.monotonic()
        if not self.quiet and not self.tty:
            print(f"gobox: {label} ({_size(total)})", file=self.stream, flush=True)

    def advance(self, n: int) -> None:
        self._done += n
        if self.quiet or not self.tty:
            return
        now = time.monotonic()
        if now - self._drawn >= 0.1 or self._done >= self._total:
            self._drawn = now
            self._draw(now)

    def finish(self) -> None:
        if not self.quiet and self.tty:
            self._clear()
        self._total = 0

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-6)
        rate = self._done / elapsed
        total = max(self._total, 1)
        frac = min(self._done / total, 1.0)
        left = (self._total - self._done) / rate if rate > 0 else 0
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        line = (f"\r{self._label} [{bar}] {_size(self._done)}/{_size(self._total)} "
                f"{_size(rate)}/s {_duration(left)} left")
        self.stream.write(line[:200] + "\x1b[K")
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self._total:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
