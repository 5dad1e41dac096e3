"""The TOML files users write, read into one ConfigError per problem: the text, the document, a key's line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from gobox.errors import ConfigError


def read_text(path: Path, base: Path | None = None) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{display(path, base)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{display(path, base)}: cannot read: {e.strerror}") from None


def display(path: Path, base: Path | None = None) -> str:
    """`path` as a message names it: relative to `base` (default the current directory) when under it."""
    try:
        return str(path.relative_to(base or Path.cwd()))
    except ValueError:
        return str(path)


def parse_toml(text: str, filename: str) -> dict[str, Any]:
    """A TOML document; anything tomllib cannot read, or reads only by exhausting Python, is one ConfigError."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        where = f"{filename}:{m.group(1)}" if m else filename
        raise ConfigError(f"{where}: invalid TOML: {re.sub(r' *[(]at .*[)]$', '', msg)}") from None
    except RecursionError:
        # tomllib reads arrays and inline tables in one another by recursion: a few hundred deep exhaust
        # Python's stack (gobox's own files need four). Python unwinds cleanly, so catching it is the limit.
        raise ConfigError(f"{filename}: invalid TOML: arrays or inline tables nested too deep to read") from None
    except ValueError as e:
        if "digits" not in str(e):
            raise
        # An integer of more digits than Python converts (sys.get_int_max_str_digits): no setting takes one.
        raise ConfigError(f"{filename}: invalid TOML: an integer of more than 4300 digits") from None


# Patterns compiled on first use (re caches them): only an error message needs them, not start-up.
_HEADER = r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$"
_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_KEY = rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*="


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", text)
    return tuple(a or b or c for a, b, c in parts)


def line_of(text: str, path: tuple[str, ...]) -> int | None:
    """The 1-based line where a key path is defined, or where its nearest enclosing key is.

    tomllib gives no positions, so this reads headers and `key =` lines itself;
    good enough to point a user at the right place.
    """
    table: tuple[str, ...] = ()
    best, best_len = None, 0
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(_HEADER, line)
        if header:
            table = _split_key(header.group(1))
            full = table
        else:
            key = re.match(_KEY, line)
            if not key:
                continue
            full = table + _split_key(key.group(1))
        if full == path:
            return number
        if path[: len(full)] == full and len(full) > best_len:
            best, best_len = number, len(full)
    return best
