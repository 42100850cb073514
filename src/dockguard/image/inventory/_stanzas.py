"""Helpers shared by the OS package cataloguers: streaming stanza parsing over bytes.

Package databases come from the image and may be tens of megabytes: they are never decoded
or split as a whole.  A compiled pattern picks out only the lines of the wanted fields and the
blank lines between stanzas, so memory stays proportional to the packages kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from dockguard.image.inventory.base import Catalogue

__all__ = ["MAX_FIELD", "Catalogue", "StanzaStats", "field_pattern", "introduced", "stanzas"]

#: Longer field values are refused (they are not package names or versions).
MAX_FIELD = 4096


@dataclass
class StanzaStats:
    """What a stanza parse skipped: stanzas with over-long fields, stanzas beyond the limit."""

    too_long: int = 0
    truncated_at: int = 0  # the stanza limit when it was reached, else 0

    def problems(self, what: str) -> list[str]:
        """Incompleteness messages for the scan report."""
        out = []
        if self.too_long:
            out.append(f"{what}: {self.too_long} package entries refused (a field longer than {MAX_FIELD} bytes)")
        if self.truncated_at:
            out.append(f"{what}: package limit of the scan ({self.truncated_at}) reached, the rest not read")
        return out


def field_pattern(names: Iterable[str], separator: str = r":[ \t]*") -> re.Pattern[bytes]:
    """Lines ``NAME<sep>value`` for `names`, and blank lines (stanza ends), in multiline mode."""
    alternatives = b"|".join(re.escape(n.encode()) for n in names)
    return re.compile(rb"^(?:(" + alternatives + rb")" + separator.encode() + rb"([^\n]*)|[ \t\r]*$)", re.M)


def stanzas(data: bytes, pattern: re.Pattern[bytes], limit: int,
            stats: StanzaStats | None = None) -> Iterator[dict[str, str]]:
    """Stanzas of the fields `pattern` selects; the first occurrence of a field wins."""
    stats = stats if stats is not None else StanzaStats()
    fields: dict[str, str] = {}
    bad = False
    count = 0
    for m in pattern.finditer(data):
        key = m.group(1)
        if key is not None:
            value = m.group(2).rstrip(b" \t\r")
            if len(value) > MAX_FIELD:
                bad = True
                continue
            fields.setdefault(key.decode("ascii"), value.decode("utf-8", "replace"))
            continue
        if fields or bad:
            if bad:
                stats.too_long += 1
            else:
                count += 1
                if count > limit:
                    stats.truncated_at = limit
                    return
                yield fields
            fields = {}
            bad = False
    if bad:
        stats.too_long += 1
    elif fields:
        if count + 1 > limit:
            stats.truncated_at = limit
            return
        yield fields


def introduced(
    layers: Sequence[Mapping[str, bytes]], path: str, keys: Callable[[bytes], Iterable[tuple[str, str]]]
) -> dict[tuple[str, str], int]:
    """First layer index whose own copy of the database at `path` lists each (name, version)."""
    first: dict[tuple[str, str], int] = {}
    if sum(1 for layer in layers if path in layer) < 2:
        return first  # callers fall back to the layer of the final copy
    seen: set[int] = set()
    for index, layer in enumerate(layers):
        data = layer.get(path)
        if data is None or id(data) in seen:
            continue
        seen.add(id(data))
        for key in keys(data):
            first.setdefault(key, index)
    return first
