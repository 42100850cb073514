"""Reading the JSON report of ``daemon probe`` / ``registry probe`` in tests."""

from __future__ import annotations

from typing import Any


def step_facts(result: dict[str, Any]) -> dict[str, str]:
    """The evidence of every step, by name (what the text layout lists under "Facts:")."""
    return {name: value for s in result["steps"] for name, value in s["evidence"].items()}
