"""Readers of an ``image scan`` Report JSON (schema 2) shared by the image tests."""

from __future__ import annotations

from typing import Any


def vulnerabilities(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings of kind ``vulnerability``."""
    return [f for f in doc["findings"] if f["kind"] == "vulnerability"]


def config(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings of kind ``image-config``."""
    return [f for f in doc["findings"] if f["kind"] == "image-config"]


def image(doc: dict[str, Any]) -> dict[str, Any]:
    """The scanned image (``source.images[0]``)."""
    images: list[dict[str, Any]] = doc["source"]["images"]
    assert len(images) == 1, images
    return images[0]


def complete(doc: dict[str, Any]) -> bool:
    """True when every part of the image was read."""
    return bool(image(doc)["complete"])


def incomplete(doc: dict[str, Any]) -> list[str]:
    """The reasons of the INCOMPLETE notes: what was not read and why."""
    return [n["reason"] for n in doc["notes"] if n["status"] == "INCOMPLETE"]


def notes(doc: dict[str, Any], status: str) -> list[str]:
    """The reasons of the notes with `status` (``NOT CHECKED``, ``WARNING``...)."""
    return [n["reason"] for n in doc["notes"] if n["status"] == status]
