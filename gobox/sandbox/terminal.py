"""gobox's terminal around a run: its settings kept and given back, and the sandbox's own pty relayed to it.

As `docker run -t`, conmon and sudo's use_pty do it: the command's terminal
is a pty of the sandbox's own devpts, whose master PID 1 hands to gobox; gobox
puts its own terminal in raw mode and copies bytes both ways, so Ctrl-C and
Ctrl-Z become signals of the inner terminal (for the inner foreground job,
and only it), window sizes follow SIGWINCH, and no ioctl of the command ever
touches the caller's terminal (TIOCSTI, CVE-2017-5226).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import termios
from contextlib import suppress

from gobox.values import dataclass

MAX_PENDING = 1 << 16  # bytes of typed input held for a command that does not read


def _foreground(fd: int) -> bool:
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


@dataclass
class Outer:
    """gobox's own terminal, if any: which of the command's fds get a pty, and the settings to give back."""

    tty_fds: tuple[int, ...]  # (): the command gets no pty
    saved_fd: int | None = None
    saved: list | None = None

    @classmethod
    def of(cls, want_pty: bool) -> Outer:
        """A pty for the command's fds that are gobox's terminal, when it asked for one and gobox's stdin is
        that terminal in the foreground (a background gobox must not read it)."""
        fds: tuple[int, ...] = ()
        if want_pty and _foreground(0):
            fds = (0, *(fd for fd in (1, 2) if os.isatty(fd)))
        saved_fd = next((fd for fd in (0, 1, 2) if os.isatty(fd)), None)
        saved = None
        if saved_fd is not None:
            try:
                saved = termios.tcgetattr(saved_fd)
            except termios.error:
                saved_fd = None
        return cls(fds, saved_fd, saved)

    def restore(self) -> None:
        """The caller's settings again (even if a command without a pty changed them through fd 1 or 2)."""
        if self.saved is None or self.saved_fd is None:
            return
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background gobox may still set them
        try:
            with suppress(termios.error, OSError):
                termios.tcsetattr(self.saved_fd, termios.TCSADRAIN, self.saved)
        finally:
            signal.signal(signal.SIGTTOU, old)

    def make_raw(self) -> None:
        """Raw mode, so every key reaches the inner terminal, whose own settings decide what it means."""
        if self.saved is None or not _foreground(0):
            return
        raw = list(self.saved)
        raw[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
        raw[1] &= ~termios.OPOST
        raw[2] = (raw[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
        raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
        raw[6] = list(raw[6])
        raw[6][termios.VMIN], raw[6][termios.VTIME] = 1, 0
        with suppress(termios.error, OSError):
            termios.tcsetattr(0, termios.TCSANOW, raw)


class Relay:
    """Bytes between gobox's terminal and the pty master, until the command's side is closed."""

    def __init__(self, master: int, outer: Outer) -> None:
        self.master, self.outer = master, outer
        os.set_blocking(master, False)
        out = [fd for fd in outer.tty_fds if fd != 0]
        self.out = out[0] if out else 0  # a terminal's fd is read-write: the echo goes back to it
        self.pending = b""
        self.stdin_open = True
        self.master_open = True
        outer.make_raw()
        self.resize()

    def readers(self) -> list[int]:
        fds = [self.master] if self.master_open else []
        if self.stdin_open and len(self.pending) < MAX_PENDING:
            fds.append(0)
        return fds

    def writers(self) -> list[int]:
        return [self.master] if self.pending and self.master_open else []

    def pump(self, ready_r: list[int], ready_w: list[int]) -> None:
        if self.master in ready_r:
            self._from_master()
        if 0 in ready_r:
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if data:
                self.pending += data
            else:
                self.stdin_open = False
        if self.master in ready_w and self.pending:
            try:
                n = os.write(self.master, self.pending)
                self.pending = self.pending[n:]
            except BlockingIOError:
                pass
            except OSError:
                self.pending = b""

    def _from_master(self) -> bool:
        """Copy what the command wrote; False when nothing more is there now."""
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: every slave is closed, the command is gone
                raise
            data = b""
        if not data:
            self.master_open = False
            return False
        _write_all(self.out, data)
        return True

    def drain(self) -> None:
        """What the command wrote last, still in the pty when it exited."""
        while self.master_open and self._from_master():
            pass

    def resize(self) -> None:
        with suppress(OSError):
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def suspend(self) -> None:
        self.outer.restore()

    def resume(self) -> None:
        self.outer.make_raw()
        self.resize()

    def close(self) -> None:
        with suppress(OSError):
            os.close(self.master)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            import select

            select.select([], [fd], [])
            continue
        except OSError:
            return  # the output is gone (a closed terminal): the command's bytes have nowhere to go
        data = data[n:]
