"""What a test needs from this machine (user namespaces, cgroups, a tool), and what the skipped ones lacked.

Tests say it with marks, `@requires_tool("hg")`, `pytestmark = requires_userns`; tests/conftest.py's
`pytest_runtest_setup` asks `missing()` for each test's marks and skips with the reason. Each probe runs
once a session, and only when a test that needs it is about to run.
"""

from __future__ import annotations

import collections
import ctypes.util
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / ".ci" / "setup"

requires_userns = pytest.mark.requires_userns
requires_cgroups = pytest.mark.requires_cgroups


def requires_tool(*commands: str) -> pytest.MarkDecorator:
    """The test runs these commands (or, for `libseccomp`, loads the library); it is skipped without them."""
    return pytest.mark.requires_tool(*commands)


def debian_tools() -> list[tuple[str, str]]:
    """(command, Debian package) of every tool the tests drive: .ci/setup's list, and libseccomp."""
    m = re.search(r"^for tool in (.*?); do$", SETUP.read_text(), re.M | re.S)
    words = m.group(1).replace("\\\n", " ").split() if m else []
    return [(w.split(":", 1)[0], w.split(":", 1)[1]) for w in words] + [("libseccomp", "libseccomp2")]


def tool_missing(command: str) -> bool:
    return ctypes.util.find_library("seccomp") is None if command == "libseccomp" else shutil.which(command) is None


@functools.cache
def userns_missing() -> str | None:
    """Why this machine cannot make a user namespace, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "needs Linux with user namespaces"
    if shutil.which("unshare") is None:
        return "needs Linux with user namespaces and unshare (apt-get install util-linux)"
    p = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, text=True)
    return None if p.returncode == 0 else f"needs Linux with user namespaces: unshare -Ur: {p.stderr.strip()}"


@functools.cache
def cgroups_missing() -> str | None:
    """Why gobox cannot set limits here, or None: it needs root and the v1 memory and pids controllers."""
    if os.geteuid() != 0 or not all(Path("/sys/fs/cgroup", c).is_dir() for c in ("memory", "pids")):
        return "needs root and the cgroup v1 memory and pids controllers"
    return None


def tools_missing(commands: tuple[str, ...]) -> str | None:
    """`needs hg: apt-get install -y mercurial` for the commands missing here, or None when all are there."""
    lacking = [c for c in commands if tool_missing(c)]
    if not lacking:
        return None
    known = dict(debian_tools())
    packages = dict.fromkeys(known.get(c, c) for c in lacking)
    return f"needs {', '.join(lacking)}: apt-get install -y {' '.join(packages)}"


def missing(item: pytest.Item) -> str | None:
    """The first thing a test's requires_* marks ask for that this machine lacks, as the skip's reason."""
    for mark in item.iter_markers():
        if mark.name == "requires_userns":
            why = userns_missing()
        elif mark.name == "requires_cgroups":
            why = cgroups_missing()
        elif mark.name == "requires_tool":
            why = tools_missing(tuple(mark.args))
        else:
            continue
        if why:
            return why
    return None


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
