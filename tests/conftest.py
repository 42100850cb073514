"""Shared test configuration: where the reference data lives."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """``../shared`` beside the checkout (as CI lays it out), or $DOCKGUARD_SHARED."""
    candidates = [os.environ.get("DOCKGUARD_SHARED", ""), str(REPO.parent / "shared"), "/work/shared"]
    for c in candidates:
        if c and (Path(c) / "reference").is_dir():
            return Path(c)
    return REPO.parent / "shared"


SHARED = _shared()
REFERENCE = SHARED / "reference"
