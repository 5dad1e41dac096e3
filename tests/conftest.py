"""Fixtures shared by the unit and integration tests: the loopback mirror, a gobox runner, shared registries.

The helpers behind them live in tests/support (put on sys.path here, so tests import `support.*`).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from support.mirror import Mirror, full_mirror
from support.ocilayout import Written, sample_images, write_layout
from support.registry import TOOLS, Registry, RegistryFactory
from support.requires import debian_tools, missing, skipped_groups, tool_missing, tools_missing
from support.runner import Gobox, cache_dir, gobox_env

# Property tests are reproducible and leave nothing behind: the same examples in every run (a failure
# found once is kept as an explicit @example in its test), no example database in the checkout.
settings.register_profile("gobox", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("gobox")


@pytest.hookimpl(tryfirst=True)  # before any fixture of the test is set up, as skipif marks are
def pytest_runtest_setup(item: pytest.Item) -> None:
    why = missing(item)
    if why:
        pytest.skip(why)


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


# --- registries: one per configuration for the whole session, or a fresh one for a test ------------------------

def _registry_tools() -> None:
    why = tools_missing(tuple(TOOLS))
    if why:
        pytest.skip(why)


@pytest.fixture(scope="session")
def registries() -> Iterator[RegistryFactory]:
    """`registries("basic")`: the session's registry in that auth mode (`none`, `basic`, `token`; and
    `relative_urls=True`), started the first time it is asked for and shared from then on. Modules sharing one
    push what they need to repositories of their own (pushing the same image to the same tag again is harmless);
    a test whose assertions need an empty registry, or its own token-server hits, takes `fresh_registry`."""
    started: dict[tuple[str, bool], Registry] = {}

    def get(auth: str = "none", *, relative_urls: bool = False) -> Registry:
        _registry_tools()
        key = (auth, relative_urls)
        if key not in started:
            started[key] = Registry(auth, relative_urls=relative_urls).start()
        return started[key]

    yield get
    for reg in started.values():
        reg.stop()


@pytest.fixture(scope="session")
def sample_layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Written]]:
    """tests/support/ocilayout.py's sample images ("app", "multi"...) as one OCI layout, written once."""
    d = tmp_path_factory.mktemp("sample-layout")
    return d, write_layout(d, sample_images())


@pytest.fixture
def fresh_registry() -> Iterator[RegistryFactory]:
    """`fresh_registry("none")`: a registry of this test's own, empty, stopped when the test ends."""
    started: list[Registry] = []

    def get(auth: str = "none", **kw: object) -> Registry:
        _registry_tools()
        started.append(Registry(auth, **kw).start())
        return started[-1]

    yield get
    for reg in started:
        reg.stop()


# --- at the end of a run: what the skipped tests lack, and how to install it ---------------------------------


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reasons = [r.longrepr[2].removeprefix("Skipped: ") for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple)]
    if reasons:
        terminalreporter.write_sep("-", "skipped, and what they lack")
        for line in skipped_groups(reasons, [t for t in debian_tools() if tool_missing(t[0])]):
            terminalreporter.write_line(line)
