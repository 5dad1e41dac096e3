"""`dataclass` as the standard library's, with the methods made without `exec`: cheap to define at start-up.

The standard library's decorator writes `__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__` and
`__delattr__` as source text and compiles each with `exec`: about 0.6 ms a class on this project's 2-CPU
machine, and a `.pyc` does not keep the result. With ~50 classes on `gobox run`'s path that was a third of its
own start-up. This one lets the standard library build the fields (so `dataclasses.fields`, `replace`,
`asdict` and `is_dataclass` work as ever) and gives the class the same methods as closures over the
field names: about 45 µs a class, and instances that behave alike (frozen assignment raises
`dataclasses.FrozenInstanceError`, equality and hashing over the compared fields, ordering with `order`).
Instances cost what the standard library's cost (one Python-level `__init__` either way).

Supported: `frozen`, `order`, `eq`, `repr`, `init`, and fields with `default`, `default_factory`,
`init=False`, `compare=False` and `repr=False`. Not supported (refused at definition): `slots`,
`kw_only`, `InitVar`, `unsafe_hash`, `match_args=False`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")
_MISSING: Any = dataclasses.MISSING


@overload
def dataclass(cls: type[_T], /) -> type[_T]: ...


@overload
def dataclass(*, init: bool = True, repr: bool = True, eq: bool = True, order: bool = False,
              frozen: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: type[_T] | None = None, /, *, init: bool = True, repr: bool = True,
              eq: bool = True, order: bool = False, frozen: bool = False) -> Any:
    """`dataclasses.dataclass(cls, init=, repr=, eq=, order=, frozen=)`, without compiling source."""

    def wrap(c: type[_T]) -> type[_T]:
        return _process(c, init=init, repr_=repr, eq=eq, order=order, frozen=frozen)

    return wrap if cls is None else wrap(cls)


def _process(cls: type[_T], *, init: bool, repr_: bool, eq: bool, order: bool, frozen: bool) -> type[_T]:
    if order and not eq:
        raise ValueError("eq must be true if order is true")
    for name in ("__setattr__", "__delattr__") if frozen else ():
        if name in cls.__dict__:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    # Whether the class writes its own __hash__, by the standard library's rule, read before any method is set.
    own_hash = cls.__dict__.get("__hash__", _MISSING)
    explicit_hash = not (own_hash is _MISSING or (own_hash is None and "__eq__" in cls.__dict__))
    # The standard library makes the fields (and __match_args__); every method is left to us. A class with no
    # docstring would get one from inspect.signature (~0.4 ms); it gets the same text from the fields instead.
    undocumented = not cls.__doc__
    if undocumented:
        cls.__doc__ = "-"
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False, order=False, frozen=False)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if undocumented:
        cls.__doc__ = f"{cls.__name__}({', '.join(f'{f.name}: {f.type}' for f in fields if f.init)})"
    own = cls.__dataclass_fields__  # type: ignore[attr-defined]
    for f in own.values():
        if "InitVar" in str(f.type):
            raise TypeError(f"{cls.__qualname__}.{f.name}: InitVar is not supported by gobox.values.dataclass")
        if f.kw_only is True:
            raise TypeError(f"{cls.__qualname__}.{f.name}: kw_only is not supported by gobox.values.dataclass")
    qualname = cls.__qualname__
    methods: dict[str, Any] = {}
    if init:
        methods["__init__"] = _init(cls, fields, frozen)
    if repr_:
        shown = tuple(f.name for f in fields if f.repr)

        def __repr__(self: Any) -> str:
            return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

        methods["__repr__"] = __repr__
    key = _key([f.name for f in fields if f.compare])
    if eq:
        def __eq__(self: Any, other: Any) -> Any:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return key(self) == key(other)

        methods["__eq__"] = __eq__
    if order:
        for name, compare in (("__lt__", tuple.__lt__), ("__le__", tuple.__le__), ("__gt__", tuple.__gt__),
                              ("__ge__", tuple.__ge__)):
            if name in cls.__dict__:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}. "
                                "Consider using functools.total_ordering")
            methods[name] = _ordering(name, compare, key)
    if frozen:
        names = frozenset(own)

        def __setattr__(self: Any, name: str, value: Any) -> None:
            if type(self) is cls or name in names:
                raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
            super(cls, self).__setattr__(name, value)

        def __delattr__(self: Any, name: str) -> None:
            if type(self) is cls or name in names:
                raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
            super(cls, self).__delattr__(name)

        methods["__setattr__"], methods["__delattr__"] = __setattr__, __delattr__
    for name, method in methods.items():
        if name in ("__init__", "__repr__", "__eq__") and name in cls.__dict__:
            continue  # the class's own, as the standard library keeps it
        method.__qualname__ = f"{qualname}.{name}"
        setattr(cls, name, method)
    # __hash__ as the standard library decides it (unsafe_hash=False): kept when the class writes its own,
    # over the compared fields when frozen, None (unhashable) when only eq.
    if eq and not explicit_hash:
        if frozen:
            def __hash__(self: Any) -> int:
                return hash(key(self))

            __hash__.__qualname__ = f"{qualname}.__hash__"
            cls.__hash__ = __hash__  # type: ignore[method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]
    return cls


def _key(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of an instance's compared fields, in order."""
    if not names:
        return lambda self: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return attrgetter(*names)


def _ordering(name: str, compare: Callable[[tuple[Any, ...], tuple[Any, ...]], bool],
              key: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def method(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compare(key(self), key(other))

    method.__name__ = name
    return method


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...], frozen: bool) -> Callable[..., None]:
    """__init__(self, *args, **kwargs) binding the init fields in order, then defaults and factories."""
    params = [f for f in fields if f.init]
    names = tuple(f.name for f in params)
    accepted = frozenset(names)
    defaults = {f.name: f.default for f in params if f.default is not _MISSING}
    factories: dict[str, Any] = {f.name: f.default_factory for f in params if f.default_factory is not _MISSING}
    for f in params:  # the standard library's rule: no required field after one with a default
        if f.name not in defaults and f.name not in factories and any(
                p.name in defaults or p.name in factories for p in params[:params.index(f)]):
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    rest: list[tuple[str, Any, Any]] = [(f.name, f.default, f.default_factory) for f in fields if not f.init
            and (f.default is not _MISSING or f.default_factory is not _MISSING)]
    post_init = hasattr(cls, "__post_init__")
    put = object.__setattr__ if frozen else setattr
    title = f"{cls.__qualname__}.__init__()"

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{title} takes {len(names) + 1} positional arguments but {len(args) + 1} were given")
        for name, value in zip(names, args, strict=False):
            put(self, name, value)
        for name in kwargs:
            if name not in accepted:
                raise TypeError(f"{title} got an unexpected keyword argument {name!r}")
            if names.index(name) < len(args):
                raise TypeError(f"{title} got multiple values for argument {name!r}")
        missing = []
        for name in names[len(args):]:
            if name in kwargs:
                put(self, name, kwargs[name])
            elif name in defaults:
                put(self, name, defaults[name])
            elif name in factories:
                put(self, name, factories[name]())
            else:
                missing.append(name)
        if missing:
            raise TypeError(f"{title} missing {len(missing)} required argument{'s' if len(missing) > 1 else ''}: "
                            + ", ".join(map(repr, missing)))
        for name, default, factory in rest:
            put(self, name, factory() if default is _MISSING else default)
        if post_init:
            self.__post_init__()

    return __init__
