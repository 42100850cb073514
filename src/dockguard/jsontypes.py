"""The static type of decoded JSON.

`json.loads` (and so `dockguard.inputs.parse_json`) returns exactly these values: objects as
``dict`` with string keys, arrays as ``list``.  Callers narrow a `Json` with ``isinstance`` or
`dockguard.inputs.expect` before using it.  (``dockguard.snapshot.JsonValue`` is the frozen
variant, with tuples for arrays, that snapshots keep.)
"""

from __future__ import annotations

from typing import TypeAlias, Union

Json: TypeAlias = Union[bool, int, float, str, list["Json"], dict[str, "Json"], None]  # noqa: UP007
JsonObject: TypeAlias = dict[str, Json]
JsonArray: TypeAlias = list[Json]



def to_json(value: object) -> Json:
    """`value`, built of dicts with string keys, lists or tuples and scalars (what
    `dockguard.serial.to_jsonable` and the report builders make), as `Json` (tuples become
    lists).  Raises TypeError on anything else: a document that would not survive `json.dumps`
    is a bug, not an input."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        out: JsonObject = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object key {key!r} is not a string")
            out[key] = to_json(item)
        return out
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def to_json_object(value: object) -> JsonObject:
    """`to_json` of a value that must be an object."""
    doc = to_json(value)
    if not isinstance(doc, dict):
        raise TypeError(f"{type(value).__name__} is not a JSON object")
    return doc


__all__ = ["Json", "JsonArray", "JsonObject", "to_json", "to_json_object"]
