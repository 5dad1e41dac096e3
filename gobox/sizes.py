"""Byte sizes as gobox.toml, config.toml and the command line write them: 268435456, "256MiB", "2GiB"."""

from __future__ import annotations

import re

# At most 30 digits each side of the point: a size any larger is no size, and its digits cost nothing to read.
_SIZE = r"(?i)^\s*(\d{1,30}(?:\.\d{1,30})?)\s*([KMGT]i?B?|B)?\s*$"  # compiled on first use, not at start-up
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "ki": 1 << 10,
               "m": 1000**2, "mb": 1000**2, "mib": 1 << 20, "mi": 1 << 20,
               "g": 1000**3, "gb": 1000**3, "gib": 1 << 30, "gi": 1 << 30,
               "t": 1000**4, "tb": 1000**4, "tib": 1 << 40, "ti": 1 << 40}


def parse_size(value: int | str) -> int | None:
    """Bytes from 268435456, "256MiB", "2GiB" or "512M"; None when it is not a size."""
    from fractions import Fraction

    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    m = re.match(_SIZE, value)
    if not m:
        return None
    number, unit = m.groups()
    size = int(Fraction(number) * _SIZE_UNITS[(unit or "").lower()])  # exact: a float would round 2**63 - 1
    return size if size > 0 else None


def show_size(n: int) -> str:
    """A byte count as a size string when it is a whole number of MiB, GiB or TiB, else the number."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20)):
        if n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)
