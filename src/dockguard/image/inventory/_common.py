"""Helpers shared by the OS package cataloguers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dockguard.image.layers import LayerAnalysis


def paragraphs(text: str) -> Iterable[dict[str, str]]:
    """RFC-822-like stanzas separated by blank lines; continuation lines are dropped."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line[0] in " \t#":
                continue
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
        if fields:
            yield fields


def introduced(
    analyses: Iterable[LayerAnalysis], path: str, keys: Callable[[bytes], Iterable[tuple[str, str]]]
) -> dict[tuple[str, str], int]:
    """First layer index whose own copy of the database at `path` lists each (name, version)."""
    first: dict[tuple[str, str], int] = {}
    layers = [layer for layer in analyses if path in layer.files]
    if len(layers) < 2:
        return first  # callers fall back to the layer of the final copy
    for index, layer in enumerate(analyses):
        data = layer.files.get(path)
        if data is None:
            continue
        for key in keys(data):
            first.setdefault(key, index)
    return first
