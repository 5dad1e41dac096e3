"""gobox.values.dataclass behaves as the standard library's: the same class under both decorators gives
instances that compare, hash, order, print, refuse assignment, replace and convert alike."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import field
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gobox.values import dataclass as fast


def shapes(decorate: Any) -> dict[str, Any]:
    """The same classes, made by `decorate` (the standard library's dataclass or gobox.values')."""

    @decorate(frozen=True, order=True)
    class Point:
        """A frozen, ordered value with a default, a factory, an uncompared and an unshown field."""

        x: int
        y: str = "y"
        tags: tuple[str, ...] = field(default_factory=tuple)
        note: str = field(default="", compare=False)
        secret: str = field(default="s", repr=False)
        kind: ClassVar[str] = "point"

    @decorate(frozen=True)
    class Sub(Point):
        z: float = 0.0

    @decorate
    class Mutable:
        items: list[int] = field(default_factory=list)
        made: int = field(default=7, init=False)

    return {"Point": Point, "Sub": Sub, "Mutable": Mutable}


STD, FAST = shapes(dataclasses.dataclass), shapes(fast)
texts = st.text(alphabet="ab", max_size=2)
points = st.tuples(st.integers(-2, 2), texts, st.lists(texts, max_size=2).map(tuple), texts, texts)


@given(points, points)
def test_equality_hash_order_and_repr_match_the_standard_library(a: tuple, b: tuple) -> None:
    std_a, std_b = STD["Point"](*a), STD["Point"](*b)
    fast_a, fast_b = FAST["Point"](*a), FAST["Point"](*b)
    assert (fast_a == fast_b) == (std_a == std_b)
    assert (fast_a != fast_b) == (std_a != std_b)
    assert hash(fast_a) == hash(std_a) and hash(fast_b) == hash(std_b)
    for op in ("__lt__", "__le__", "__gt__", "__ge__"):
        assert getattr(fast_a, op)(fast_b) == getattr(std_a, op)(std_b), op
    assert repr(fast_a) == repr(std_a)
    assert dataclasses.asdict(fast_a) == dataclasses.asdict(std_a)
    assert dataclasses.astuple(fast_a) == dataclasses.astuple(std_a)


def test_frozen_instances_refuse_assignment_and_deletion() -> None:
    p = FAST["Point"](1)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        p.x = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.other = 2
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'y'"):
        del p.y
    assert p.x == 1


def test_fields_replace_and_defaults_work_as_the_standard_librarys() -> None:
    Point, Sub = FAST["Point"], FAST["Sub"]
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags", "note", "secret"]
    assert [f.name for f in dataclasses.fields(Sub)] == ["x", "y", "tags", "note", "secret", "z"]
    assert dataclasses.is_dataclass(Point) and Point.__match_args__ == ("x", "y", "tags", "note", "secret")
    p = Point(1, note="n")
    assert (p.y, p.tags, p.note, p.secret) == ("y", (), "n", "s")
    assert dataclasses.replace(p, y="z") == Point(1, "z")
    assert Point(1, note="a") == Point(1, note="b") and hash(Point(1, note="a")) == hash(Point(1, note="b"))
    assert Sub(1, z=2.5) == Sub(1, "y", (), "", "s", 2.5) and Sub(1) != Point(1)
    assert repr(Sub(1)) == repr(STD["Sub"](1)) == "shapes.<locals>.Sub(x=1, y='y', tags=(), note='', z=0.0)"


@fast(frozen=True)
class Pickled:
    a: int
    b: tuple[str, ...] = ()


def test_instances_pickle_and_copy() -> None:
    value = Pickled(3, ("q",))
    assert pickle.loads(pickle.dumps(value)) == value and copy.deepcopy(value) == value


def test_mutable_classes_are_mutable_unhashable_and_get_fresh_factories() -> None:
    Mutable = FAST["Mutable"]
    a, b = Mutable(), Mutable()
    a.items.append(1)
    assert b.items == [] and a.made == 7
    a.made = 8
    assert a.made == 8 and a != b and Mutable([1]) == Mutable([1])
    with pytest.raises(TypeError):
        hash(a)


@pytest.mark.parametrize("call, message", [
    (lambda P: P(), r"missing 1 required argument: 'x'"),
    (lambda P: P(1, "a", (), "", "s", "extra"), r"takes 6 positional arguments but 7 were given"),
    (lambda P: P(1, x=2), r"got multiple values for argument 'x'"),
    (lambda P: P(1, colour="red"), r"got an unexpected keyword argument 'colour'"),
])
def test_wrong_calls_raise_type_errors_as_the_standard_librarys(call: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        call(FAST["Point"])
    with pytest.raises(TypeError):
        call(STD["Point"])


def test_a_class_keeps_its_own_methods() -> None:
    @fast(frozen=True)
    class Own:
        a: int

        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return 42

        def __repr__(self) -> str:
            return "own"

    assert Own(1) == Own(2) and hash(Own(1)) == 42 and repr(Own(1)) == "own"


def test_unsupported_forms_are_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="kw_only"):
        @fast(frozen=True)
        class KwOnly:
            a: int = field(kw_only=True)

    with pytest.raises(TypeError, match="non-default argument 'b'"):
        @fast(frozen=True)
        class Order:
            a: int = 1
            b: int  # type: ignore[misc]

    with pytest.raises(TypeError, match="__setattr__"):
        @fast(frozen=True)
        class Sets:
            a: int

            def __setattr__(self, name: str, value: Any) -> None:
                pass
