"""Hypothesis strategies and checks shared by the parsers' property tests (tests/unit/test_*_fuzz.py).

`json_values` is any JSON value of any shape; `mutated(valid)` is a valid document with a few of its
values replaced by odd ones or dropped, so documents stay near the shape a parser expects and reach its
deeper checks, and its answers (not only its refusals) are checked.
`value_or_gobox_error` is the property itself: whatever the input, a value or a GoboxError, and within
a time bound (an alarm, not a timing assertion: it only catches a parser that hangs).
"""

from __future__ import annotations

import contextlib
import copy
import signal
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from hypothesis import strategies as st

from gobox.errors import GoboxError

T = TypeVar("T")

HANG = 10  # seconds one input may take before the parser counts as hung; far above any real parse

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
digests = hex64.map("sha256:".__add__)


# Values that go wrong in interesting ways where a name, digest or size is expected.
hostile = st.sampled_from(["../x", "a/b", "/etc/passwd", "..", ".", "li\x00nux", "\x1b[31m", "²", "sha256:" + "A" * 64,
                           "sha256:" + "a" * 63, 2**63, -1, 1.5, True, None, [], {}, "9" * 5000])


def _slots(value: object) -> list[tuple[list | dict, int | str]]:
    """Every (container, key) in a decoded document, depth first."""
    out: list[tuple[list | dict, int | str]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        out.append((value, key))
        out += _slots(child)
    return out


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid document with up to three of its values replaced by odd ones, or their keys dropped."""
    doc = copy.deepcopy(draw(valid))
    for _ in range(draw(st.integers(0, 3))):
        slots = _slots(doc)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(st.one_of(hostile, json_values))
    return doc


class Hung(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int = HANG) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hung(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def value_or_gobox_error(fn: Callable[..., T], *args: Any) -> T | GoboxError:
    """fn(*args), or the GoboxError it raised; anything else it raises (or a hang) fails the test."""
    with deadline():
        try:
            return fn(*args)
        except GoboxError as e:
            assert e.message and "\n" not in e.message, repr(e.message)  # one line, saying something
            return e
