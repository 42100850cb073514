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

__all__ = ["Json", "JsonArray", "JsonObject"]
