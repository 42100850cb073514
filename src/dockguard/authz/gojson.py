"""Read an Engine API request body the way dockerd's Go decoder reads it.

A plugin that reads the body with ordinary JSON semantics can be walked around, because Go's
``encoding/json`` (checked against dockerd 20.10) differs in ways an attacker can choose:

- struct field names match **case-insensitively**, with Unicode simple folding: ``privileged``
  and ``Bindſ`` (long s) set ``Privileged`` and ``Binds``;
- a key given twice is decoded twice: the last scalar or list wins, but two objects for the same
  struct field or map are **merged** (``{"HostConfig":{"Privileged":true},"HostConfig":{}}`` is
  privileged);
- ``null`` for a struct or a scalar leaves the earlier value in place.

`GoObject` keeps every pair of an object in order; `field` looks a struct field up with Go's
rules and `map_items` reads a JSON object decoded into a Go map (exact keys).  ``null`` is
treated as "no change" everywhere, which is what Go does for structs and scalars and errs on
the side of seeing more for slices and maps.  Typed accessors raise `BodyError` with the JSON
path, which the decision turns into a refusal (Go would have refused the type too).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Final

from dockguard.inputs import InputError, json_path, parse_json
from dockguard.jsontypes import Json

#: Nesting allowed in a request body.  Engine API bodies stay below 10 levels; a deeper body
#: (legal for Go, which ignores unknown keys) is refused rather than walked.
MAX_BODY_DEPTH = 32

class _Missing(enum.Enum):
    MISSING = enum.auto()


#: What `raw_field` returns for a field the body does not set (distinct from JSON null).
_MISSING: Final = _Missing.MISSING


class BodyError(InputError):
    """A request body dockerd would read differently from us, or not at all."""


class GoObject(dict[str, Json]):
    """A JSON object that remembers every (key, value) pair in order, duplicates included.

    As a dict it holds the last value per exact key (so generic code still works); `pairs` is
    what Go sees.
    """

    __slots__ = ("_folded", "_single", "pairs")

    def __init__(self, pairs: list[tuple[str, Json]] | tuple[tuple[str, Json], ...] = ()) -> None:
        super().__init__(pairs)
        self.pairs: tuple[tuple[str, Json], ...] = tuple(pairs)
        self._folded: dict[str, list[Json]] | None = None
        self._single: dict[str, Json] | None = None

    def folded(self) -> dict[str, list[Json]]:
        """Values by folded key, in document order (built once)."""
        index = self._folded
        if index is None:
            index = {}
            for k, v in self.pairs:
                key = k.lower() if k.isascii() else fold(k)  # fold's ASCII case, without the call
                values = index.get(key)
                if values is None:
                    index[key] = [v]
                else:
                    values.append(v)
            self._folded = index
        return index

    def field(self, name: str) -> Json | _Missing:
        """What Go decodes into struct field `name` (an ASCII name), or `_MISSING`."""
        single = self._single
        if single is None:
            single = self._single = self._single_index()
        if single:
            v = single.get(name.lower(), _MISSING)
            return _MISSING if v is None else v
        values = self.folded().get(name.lower())
        if values is None:
            return _MISSING
        return _combine(values)

    def _single_index(self) -> dict[str, Json]:
        """Folded key → value when every key is ASCII and no two fold alike (the usual body), else {}.

        Built with C-level loops: the dict part holds one entry per exact key, so when it is as
        long as `pairs` there are no exact duplicates, and its keys and values are the pairs.
        """
        if len(self) != len(self.pairs) or not "".join(self).isascii():
            return {}
        index = dict(zip(map(str.lower, self), self.values(), strict=True))
        return index if len(index) == len(self) else {}

    def merged(self, other: GoObject) -> GoObject:
        """Go decoding `other` into the value `self` already filled."""
        return GoObject(self.pairs + other.pairs)


def parse_body(data: bytes | str, origin: str = "request body") -> Json:
    """Parse a body, keeping duplicate keys; any problem is a `BodyError`."""
    try:
        return parse_json(data, origin, max_depth=MAX_BODY_DEPTH, object_pairs_hook=GoObject)
    except BodyError:
        raise
    except InputError as exc:
        raise BodyError(origin, exc.problem, exc.where) from None


def fold(name: str) -> str:
    """Go's case folding of a JSON key for matching an ASCII field name.

    ASCII letters fold to lower case; U+017F (long s) and U+212A (Kelvin sign) are the only
    non-ASCII runes whose fold orbit holds an ASCII letter, so they fold to ``s`` and ``k``.
    """
    if name.isascii():
        return name.lower()
    return "".join("s" if c == "\u017f" else "k" if c == "\u212a" else c.lower() if c.isascii() else c for c in name)


def _combine(values: Iterable[Json]) -> Json | _Missing:
    out: Json | _Missing = _MISSING
    for v in values:
        if v is None:
            continue
        if isinstance(out, GoObject) and isinstance(v, GoObject):
            out = out.merged(v)
        else:
            out = v
    return out


def raw_field(obj: Json, name: str) -> Json | _Missing:
    """The value Go decodes into struct field `name` of `obj`, or `_MISSING`."""
    if not isinstance(obj, GoObject):
        return _MISSING
    return obj.field(name)


def has_field(obj: Json, name: str) -> bool:
    """True when `obj` sets struct field `name` to something other than null."""
    return raw_field(obj, name) is not _MISSING


def map_items(obj: Json) -> dict[str, Json]:
    """A JSON object decoded into a Go map: exact keys, last value wins, nested objects merge."""
    if not isinstance(obj, GoObject):
        return {}
    grouped: dict[str, list[Json]] = {}
    for k, v in obj.pairs:
        grouped.setdefault(k, []).append(v)
    out: dict[str, Json] = {}
    for k, vs in grouped.items():
        combined = _combine(vs)
        if combined is not _MISSING:
            out[k] = combined
    return out


class Reader:
    """Typed, path-aware access to one decoded body (``$.HostConfig.Binds[2]`` in errors)."""

    def __init__(self, origin: str = "request body") -> None:
        self.origin = origin

    def fail(self, path: tuple[str | int, ...], problem: str) -> BodyError:
        """A `BodyError` at `path`."""
        return BodyError(self.origin, problem, json_path(path))

    def obj(self, value: Json | _Missing, path: tuple[str | int, ...]) -> GoObject | None:
        """`value` as an object (None when absent)."""
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, GoObject):
            raise self.fail(path, f"expected an object, got {_kind(value)}")
        return value

    def field(self, obj: GoObject | None, name: str) -> Json:
        """The raw value of struct field `name` (None when absent)."""
        v = raw_field(obj, name)
        return None if v is _MISSING else v

    def sub(self, obj: GoObject | None, name: str, path: tuple[str | int, ...]) -> GoObject | None:
        """Struct field `name` holding an object."""
        return self.obj(raw_field(obj, name), (*path, name))

    def text(self, obj: GoObject | None, name: str, path: tuple[str | int, ...], default: str = "") -> str:
        """Struct field `name` holding a string."""
        v = raw_field(obj, name)
        if v is _MISSING:
            return default
        if not isinstance(v, str):
            raise self.fail((*path, name), f"expected a string, got {_kind(v)}")
        return v

    def flag(self, obj: GoObject | None, name: str, path: tuple[str | int, ...]) -> bool:
        """Struct field `name` holding a boolean (False when absent)."""
        v = raw_field(obj, name)
        if v is _MISSING:
            return False
        if not isinstance(v, bool):
            raise self.fail((*path, name), f"expected a boolean, got {_kind(v)}")
        return v

    def integer(self, obj: GoObject | None, name: str, path: tuple[str | int, ...]) -> int | None:
        """Struct field `name` holding an integer (None when absent)."""
        v = raw_field(obj, name)
        if v is _MISSING:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail((*path, name), f"expected an integer, got {_kind(v)}")
        if not -(2**63) <= v < 2**63:
            raise self.fail((*path, name), "integer out of the 64-bit range")
        return v

    def items(self, obj: GoObject | None, name: str, path: tuple[str | int, ...]) -> list[Json]:
        """Struct field `name` holding a list ([] when absent)."""
        v = raw_field(obj, name)
        if v is _MISSING:
            return []
        if not isinstance(v, list):
            raise self.fail((*path, name), f"expected a list, got {_kind(v)}")
        return v

    def strings(self, obj: GoObject | None, name: str, path: tuple[str | int, ...]) -> list[str]:
        """Struct field `name` holding a list of strings."""
        out = []
        for i, item in enumerate(self.items(obj, name, path)):
            if not isinstance(item, str):
                raise self.fail((*path, name, i), f"expected a string, got {_kind(item)}")
            out.append(item)
        return out

    def mapping(self, obj: GoObject | None, name: str, path: tuple[str | int, ...]) -> dict[str, str]:
        """Struct field `name` holding a map of strings (labels, driver options)."""
        m = self.sub(obj, name, path)
        out = {}
        for k, v in map_items(m).items():
            if not isinstance(v, str):
                raise self.fail((*path, name, k), f"expected a string, got {_kind(v)}")
            out[k] = v
        return out


def _kind(v: Json | _Missing) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return "null"
