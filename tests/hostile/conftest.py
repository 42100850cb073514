"""Hostile-input suite: the real CLI on crafted inputs (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/hostile" in str(item.fspath):
            item.add_marker(pytest.mark.hostile)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory for one CLI run (HOME, cache and TMPDIR of the child)."""
    d = tmp_path / "scratch"
    d.mkdir()
    yield d
