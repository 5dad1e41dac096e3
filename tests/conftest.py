"""Fixtures shared by the unit and integration tests: the loopback mirror and a gobox runner."""

from __future__ import annotations

import collections
import ctypes.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from mirror import Mirror, full_mirror

REPO = Path(__file__).resolve().parent.parent

# Property tests are reproducible and leave nothing behind: the same examples in every run (a failure
# found once is kept as an explicit @example in its test), no example database in the checkout.
settings.register_profile("gobox", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("gobox")


def cache_dir() -> Path:
    """Wheels and repacked tarballs, kept between runs (.ci/run fills it first)."""
    return Path(os.environ.get("GOBOX_TEST_CACHE", REPO / ".cache"))


@pytest.fixture(scope="session")
def mirror() -> Mirror:
    m = full_mirror(cache_dir())
    yield m
    m.stop()


@pytest.fixture
def clean_mirror(mirror: Mirror) -> Mirror:
    """The shared mirror with no faults and zeroed hit counts, restored after the test."""
    mirror.faults.clear()
    mirror.hits.clear()
    yield mirror
    mirror.faults.clear()


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Gobox:
    """Runs the real gobox program in a subprocess with a private store and the mirror."""

    env: dict[str, str]
    home: Path

    def __call__(self, *args: str, cwd: Path | None = None, timeout: float = 300,
                 env: dict[str, str] | None = None) -> Result:
        p = subprocess.run([sys.executable, "-m", "gobox", *args], cwd=cwd, capture_output=True,
                           text=True, env={**self.env, **(env or {})}, timeout=timeout)
        no_traceback(args, p.stderr)
        return Result(p.returncode, p.stdout, p.stderr)

    def popen(self, *args: str, cwd: Path | None = None, **kw: object) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "gobox", *args], cwd=cwd, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def no_traceback(args: tuple[str, ...], err: str) -> None:
    """Whatever a test makes gobox do, a user never sees a Python traceback without --debug."""
    if "Traceback (most recent call last)" in err and "--debug" not in args:
        pytest.fail(f"gobox {' '.join(args)} printed a traceback:\n{err[-3000:]}")


NOBODY = 65534


def as_nobody(args: tuple[str, ...], cwd: Path, env: dict[str, str], timeout: float = 600
              ) -> subprocess.CompletedProcess:
    """gobox run by the unprivileged user nobody: rootless mode, as a user without root meets it."""
    p = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                        "-m", "gobox", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    no_traceback(args, p.stderr)
    return p


def gobox_env(home: Path, mirror: Mirror, sources: str = "go.dev,pypi") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOBOX_")}
    env.update({
        "GOBOX_HOME": str(home),
        "GOBOX_CONFIG": str(home.parent / "no-user-config.toml"),
        "GOBOX_GO_DEV_URL": mirror.godev_url,
        "GOBOX_PYPI_URL": mirror.pypi_url,
        "GOBOX_TOOLCHAIN_SOURCES": sources,
        "GOBOX_HTTP_TIMEOUT": "5",
        "PYTHONPATH": str(REPO),
    })
    return env


@pytest.fixture
def gobox(tmp_path: Path, clean_mirror: Mirror) -> Gobox:
    """gobox with an empty store of its own."""
    home = tmp_path / "home"
    return Gobox(gobox_env(home, clean_mirror), home)


@pytest.fixture(scope="session")
def stocked_home(tmp_path_factory: pytest.TempPathFactory, mirror: Mirror) -> Path:
    """A store with go 1.21.13 and 1.22.10 installed once, for tests that only read it."""
    home = tmp_path_factory.mktemp("stocked") / "home"
    env = gobox_env(home, mirror, sources="pypi")
    subprocess.run([sys.executable, "-m", "gobox", "-q", "toolchain", "install", "1.21.13",
                    "1.22.10"], env=env, check=True, timeout=600)
    return home


@pytest.fixture
def stocked(tmp_path: Path, clean_mirror: Mirror, stocked_home: Path) -> Gobox:
    """gobox whose store already holds 1.21.13 and 1.22.10 (do not remove them)."""
    return Gobox(gobox_env(stocked_home, clean_mirror), stocked_home)


# --- at the end of a run: what the skipped tests lack, and how to install it ---------------------------------

SETUP = REPO / ".ci" / "setup"


def debian_tools() -> list[tuple[str, str]]:
    """(command, Debian package) of every tool the tests drive: .ci/setup's list, and libseccomp."""
    m = re.search(r"^for tool in (.*?); do$", SETUP.read_text(), re.M | re.S)
    words = m.group(1).replace("\\\n", " ").split() if m else []
    return [(w.split(":", 1)[0], w.split(":", 1)[1]) for w in words] + [("libseccomp", "libseccomp2")]


def _missing(command: str) -> bool:
    return ctypes.util.find_library("seccomp") is None if command == "libseccomp" else shutil.which(command) is None


def skipped_groups(reasons: list[str], missing: list[tuple[str, str]]) -> list[str]:
    """One line per group of skipped tests: those whose reasons name the same missing tools (by command or
    package), with the apt-get command that brings them; each other reason as it is. With their counts."""
    groups: collections.Counter[tuple[tuple[str, str], ...] | str] = collections.Counter()
    for reason, n in collections.Counter(reasons).items():
        named = tuple(t for t in missing
                      if re.search(rf"(?<![\w.-])(?:{re.escape(t[0])}|{re.escape(t[1])})(?![\w-])", reason))
        groups[named or reason] += n
    lines = []
    for key, n in groups.most_common():
        if isinstance(key, str):
            lines.append(f"{n} skipped: {key}")
            continue
        packages = " ".join(dict.fromkeys(package for _, package in key))
        lines.append(f"{n} skipped for lack of {', '.join(c for c, _ in key)}: "
                     f"sudo apt-get install -y {packages} (or run .ci/setup)")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reasons = [r.longrepr[2].removeprefix("Skipped: ") for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple)]
    if reasons:
        terminalreporter.write_sep("-", "skipped, and what they lack")
        for line in skipped_groups(reasons, [t for t in debian_tools() if _missing(t[0])]):
            terminalreporter.write_line(line)
