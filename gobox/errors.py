"""The one exception family of gobox and the exit codes it maps to."""

from __future__ import annotations

# Exit codes CI can trust. A build that ran and failed exits with go's own code.
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTEGRITY = 3
EXIT_NETWORK = 4
EXIT_TESTS = 5  # gobox ci: the build passed and its tests failed
EXIT_MISMATCH = 6  # gobox verify: two clean-room builds gave different bytes
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class GoboxError(Exception):
    """An error a user can act on: a one-line message and an optional hint."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(GoboxError):
    """Invalid gobox.toml, gobox.lock, go.mod, user config or environment."""

    exit_code = EXIT_USAGE


class UsageError(GoboxError):
    """A bad command-line argument that click itself cannot catch."""

    exit_code = EXIT_USAGE


class InvalidName(UsageError):
    """A Go version, image reference, cross target or platform that does not parse (gobox.names).

    A UsageError, so that a bad name on the command line or in gobox.toml exits 2 and is caught
    where a bad argument always was.
    """


class IntegrityError(GoboxError):
    """Downloaded or stored content does not match its digest, or is hostile."""

    exit_code = EXIT_INTEGRITY


class NetworkError(GoboxError):
    """A source or registry could not be reached or answered with an error."""

    exit_code = EXIT_NETWORK


class NotFoundError(GoboxError):
    """A version, toolchain or file that was asked for does not exist."""

    exit_code = EXIT_USAGE


class LockError(GoboxError):
    """--locked was given and resolution would change gobox.lock."""

    exit_code = EXIT_USAGE


class SandboxError(GoboxError):
    """The sandbox could not be set up, or the command could not be started in it."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


class LimitReached(GoboxError):
    """A limit (memory, processes) killed the sandboxed command: gobox exits with the command's own status."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


class BuildFailed(GoboxError):
    """gobox ci: go build (or a cross target, or the image's build) ran and failed."""

    exit_code = EXIT_FAILURE


class TestsFailed(GoboxError):
    """gobox ci: the build succeeded and go test failed."""

    exit_code = EXIT_TESTS


class Mismatch(GoboxError):
    """gobox verify: the outputs of two clean-room builds differ."""

    exit_code = EXIT_MISMATCH


def stopped(exit_code: int, during: str) -> SandboxError | None:
    """The error for a sandboxed step that ended because gobox was interrupted or terminated and passed the
    signal on (not a failure of the step); None for any other status."""
    if exit_code not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        return None
    how = "interrupted" if exit_code == EXIT_INTERRUPTED else "terminated"
    return SandboxError(f"gobox ci was {how} during {during}", exit_code=exit_code)
