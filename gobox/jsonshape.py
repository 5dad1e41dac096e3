"""Declarative checks of JSON from outside (indexes, token answers): types and required keys, one path per problem.

A shape is data: `Obj({"files": ListOf(FILE)}, optional={"meta": Obj({})})`. `check` walks a decoded
value against it and raises ShapeError naming the first wrong value's path (`[3].files[0].sha256`) and
what was expected; each caller turns that into its own GoboxError naming the source. Written here
rather than taken from jsonschema: the shapes gobox checks are a handful of small documents, and
jsonschema would bring four packages (one compiled) and messages that quote whole sub-documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import field

from gobox.values import dataclass


class ShapeError(Exception):
    """`path`: `problem`; never shown as is, always wrapped by the caller with the document's name."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def show(value: object, width: int = 60) -> str:
    """A value for a one-line message: JSON, cut to `width` characters, control characters escaped."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):  # not JSON, an int past Python's digit limit, too deep
        text = type(value).__name__
    return text if len(text) <= width else text[: width - 1] + "…"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True)
class Str:
    """A string, matching `pattern` (fullmatch) when one is given; `expected` says in words what it should be."""

    pattern: str | None = None
    expected: str = "a string"
    max_length: int = 1 << 16

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, str):
            raise ShapeError(path, f"expected {self.expected}, got {_kind(value)}")
        if len(value) > self.max_length or (self.pattern is not None and not re.fullmatch(self.pattern, value)):
            raise ShapeError(path, f"expected {self.expected}, got {show(value)}")


@dataclass(frozen=True)
class Int:
    """An integer (not a boolean, not a float) in [minimum, maximum]."""

    minimum: int = 0
    maximum: int = 2**63 - 1

    def check(self, value: object, path: str) -> None:
        if type(value) is not int or not self.minimum <= value <= self.maximum:
            raise ShapeError(path, f"expected an integer from {self.minimum} to {self.maximum}, got {show(value)}")


@dataclass(frozen=True)
class Bool:
    def check(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            raise ShapeError(path, f"expected true or false, got {show(value)}")


@dataclass(frozen=True)
class Anything:
    def check(self, value: object, path: str) -> None:
        pass


@dataclass(frozen=True)
class Either:
    """Any one of `options` (say, PEP 691's `yanked`: a boolean or a reason)."""

    options: tuple[Shape, ...]
    expected: str

    def check(self, value: object, path: str) -> None:
        for option in self.options:
            try:
                option.check(value, path)
                return
            except ShapeError:
                continue
        raise ShapeError(path, f"expected {self.expected}, got {show(value)}")


@dataclass(frozen=True)
class ListOf:
    item: Shape

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, list):
            raise ShapeError(path, f"expected an array, got {_kind(value)}")
        for i, x in enumerate(value):
            self.item.check(x, f"{path}[{i}]")


@dataclass(frozen=True)
class MapOf:
    """An object with any keys, each value of shape `value`."""

    value: Shape

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise ShapeError(path, f"expected an object, got {_kind(value)}")
        for k, v in value.items():
            self.value.check(v, _key_path(path, k))


@dataclass(frozen=True)
class Obj:
    """An object with `required` keys and `optional` ones (null counts as absent); other keys are allowed."""

    required: Mapping[str, Shape]
    optional: Mapping[str, Shape] = field(default_factory=dict)

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise ShapeError(path, f"expected an object, got {_kind(value)}")
        for key, shape in self.required.items():
            if key not in value:
                raise ShapeError(_key_path(path, key), "missing")
            shape.check(value[key], _key_path(path, key))
        for key, shape in self.optional.items():
            if value.get(key) is not None:
                shape.check(value[key], _key_path(path, key))


Shape = Str | Int | Bool | Anything | Either | ListOf | MapOf | Obj


def _key_path(base: str, key: object) -> str:
    if isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{base}.{key}" if base else key
    return f"{base}[{show(key)}]"


def check(value: object, shape: Shape) -> None:
    """Raise ShapeError unless `value` (decoded JSON) has `shape`."""
    shape.check(value, "")
