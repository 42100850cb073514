"""Generic JSON (de)serialisation of frozen dataclasses, driven by their type hints.

Supported field types: dataclasses, ``tuple[X, ...]``, ``dict[str, X]``, ``X | None``, enums,
``str``/``int``/``float``/``bool``, ``Any`` (kept as plain JSON) and recursive aliases named by
a forward reference that `register_alias` knows (``dockguard.snapshot.JsonValue``: JSON arrays
become tuples). Unknown keys in the input are rejected so that a corrupt or foreign file is
reported instead of half-loaded.

Decoding is typed all the way down: an integer must fit in 64 bits (`INT_MIN`..`INT_MAX`), a
number must be finite (``1e999`` parses as infinity), a boolean is not an integer.  Every
mismatch is a `DecodeError` carrying the JSON path, so that callers can report it as an
`dockguard.inputs.InputError` naming the file and the path.  Decoding recurses only along the
dataclass types, never along the data, so nesting depth is bounded by the types, except for a
recursive alias, whose depth `dockguard.inputs.parse_json` has already capped (64 levels).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


#: Integers in decoded documents fit in 64 bits (signed or unsigned).
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


class DecodeError(ValueError):
    """Raised when JSON data does not fit the dataclass it should describe.

    `where` is the JSON path (``$.containers[3].mode``), `problem` what is wrong there.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


def to_jsonable(value: object) -> object:
    """Convert a dataclass tree into JSON-compatible values (dicts, lists, scalars)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


#: Recursive type aliases by the name their own forward references use.
_ALIASES: dict[str, object] = {}


def register_alias(name: str, alias: object) -> None:
    """Let forward references called `name` (inside `alias` itself) decode as `alias`."""
    _ALIASES[name] = alias


def check_type(tp: object, data: object, path: str = "$") -> None:
    """Raise `DecodeError` unless `data` (already decoded) fits type `tp`."""
    if tp is Any:
        return
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                check_type(arg, data, path)
                return
            except DecodeError as exc:
                errors.append(exc)
        raise errors[0]
    if tp is type(None):
        if data is not None:
            raise DecodeError(path, f"expected null, got {type(data).__name__}")
        return
    if origin is tuple:
        if not isinstance(data, tuple):
            raise DecodeError(path, f"expected a list, got {type(data).__name__}")
        item = typing.get_args(tp)[0]
        for i, v in enumerate(data):
            check_type(item, v, f"{path}[{i}]")
        return
    if origin is dict:
        if not isinstance(data, dict):
            raise DecodeError(path, f"expected an object, got {type(data).__name__}")
        val_t = typing.get_args(tp)[1]
        for k, v in data.items():
            check_type(val_t, v, f"{path}.{k}")
        return
    if isinstance(tp, typing.ForwardRef | str):
        check_type(_alias(tp, path), data, path)
        return
    if isinstance(tp, type) and type(data) is not tp and not (tp is float and type(data) is int):
        raise DecodeError(path, f"expected {tp.__name__}, got {type(data).__name__}")


def _alias(tp: typing.ForwardRef | str, path: str) -> object:
    name = tp.__forward_arg__ if isinstance(tp, typing.ForwardRef) else tp
    if name not in _ALIASES:
        raise DecodeError(path, f"unsupported type {name!r}")
    return _ALIASES[name]


def from_jsonable(cls: type[T], data: object, path: str = "$", *, max_objects: int | None = None) -> T:
    """Build an instance of `cls` from JSON data, checking types along the way.

    `max_objects` caps the number of dataclass instances built (a `DecodeError` beyond), so
    that a small document cannot expand into more objects than the caller can afford.
    """
    budget = _Budget(max_objects)
    return typing.cast(T, _decode(cls, data, path, budget))


class _Budget:
    """Dataclass instances left to build (None: unlimited)."""

    def __init__(self, left: int | None) -> None:
        self.limit = left
        self.left = left

    def take(self, path: str) -> None:
        if self.left is None:
            return
        self.left -= 1
        if self.left < 0:
            raise DecodeError(path, f"more than {self.limit} objects: larger than this dockguard accepts")


def _decode(tp: object, data: object, path: str, budget: _Budget) -> object:
    if tp is Any:
        return data
    if isinstance(tp, typing.ForwardRef | str):
        tp = _alias(tp, path)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors: list[DecodeError] = []
        for arg in non_none:
            try:
                return _decode(arg, data, path, budget)
            except DecodeError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        raise DecodeError(path, "unexpected null")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(data, list):
            raise DecodeError(path, f"expected a list, got {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{path}[{i}]", budget) for i, v in enumerate(data))
        if len(args) != len(data):
            raise DecodeError(path, f"expected {len(args)} items")
        return tuple(_decode(a, v, f"{path}[{i}]", budget) for i, (a, v) in enumerate(zip(args, data, strict=True)))
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        if not isinstance(data, dict):
            raise DecodeError(path, f"expected an object, got {type(data).__name__}")
        return {_decode(key_t, k, path, budget): _decode(val_t, v, f"{path}.{k}", budget) for k, v in data.items()}
    if origin is typing.Literal:
        if data not in typing.get_args(tp):
            raise DecodeError(path, f"{_short(data)} is not one of {typing.get_args(tp)}")
        return data
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            budget.take(path)
            return _decode_dataclass(tp, data, path, budget)
        if issubclass(tp, enum.Enum):
            try:
                return tp(data)
            except (ValueError, TypeError):
                raise DecodeError(path, f"{_short(data)} is not a valid {tp.__name__}") from None
        if tp is float:
            if isinstance(data, int | float) and not isinstance(data, bool):
                if isinstance(data, int) and not INT_MIN <= data <= INT_MAX:
                    raise DecodeError(path, "number out of range")
                if not math.isfinite(data):
                    raise DecodeError(path, "number is not finite")
                return float(data)
            raise DecodeError(path, f"expected a number, got {type(data).__name__}")
        if tp is int:
            if isinstance(data, int) and not isinstance(data, bool):
                if not INT_MIN <= data <= INT_MAX:
                    raise DecodeError(path, "integer out of the 64-bit range")
                return data
            raise DecodeError(path, f"expected an integer, got {type(data).__name__}")
        if tp in (str, bool):
            if type(data) is tp:
                return data
            raise DecodeError(path, f"expected {tp.__name__}, got {type(data).__name__}")
    raise DecodeError(path, f"unsupported type {tp!r}")


def _short(value: object, limit: int = 60) -> str:
    """`repr` of a value from the input, cut so that an error message stays one short line."""
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode_dataclass(cls: type, data: object, path: str, budget: _Budget) -> object:
    if not isinstance(data, dict):
        raise DecodeError(path, f"expected an object, got {type(data).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - set(fields)
    if unknown:
        names = sorted(unknown)
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        raise DecodeError(path, f"unknown key(s) {', '.join(_short(n) for n in names[:5])}{more}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _decode(hints[name], data[name], f"{path}.{name}", budget)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DecodeError(path, f"missing key {name}")
    return cls(**kwargs)
