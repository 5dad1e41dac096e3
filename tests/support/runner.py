"""The real gobox program run in a subprocess, with a private store pointed at the loopback mirror."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .mirror import Mirror

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534


def cache_dir() -> Path:
    """Wheels and repacked tarballs, kept between runs (.ci/run fills it first)."""
    return Path(os.environ.get("GOBOX_TEST_CACHE", REPO / ".cache"))


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
