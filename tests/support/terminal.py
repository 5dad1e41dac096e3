"""A program on a pseudo-terminal, driven as a person at a keyboard would: type keys, wait for text."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from pathlib import Path


class Terminal:
    """`argv` started on a new pty; everything it has printed so far is in `seen`.

    Used as a context manager, so that a failed test still kills and reaps the program.
    """

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.seen = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            if cwd is not None:
                os.chdir(cwd)
            os.execve(argv[0], argv, env)
        self.status: int | None = None

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def expect(self, text: bytes, timeout: float = 60) -> None:
        """Read until `text` has been printed; fail, showing all that was, after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while text not in self.seen and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:  # EIO: the program has gone and the pty is closed
                    break
        assert text in self.seen, self.seen.decode(errors="replace")

    def wait(self) -> int:
        """The program's exit code, once it has ended by itself."""
        _, status = os.waitpid(self.pid, 0)
        self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
