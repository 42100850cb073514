"""`image scan --offline` refuses anything that would touch the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockguard.cli import main


def test_offline_refuses_registry_pulls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKGUARD_DB", str(tmp_path / "none.db"))
    monkeypatch.setenv("DOCKGUARD_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["image", "scan", "--offline", "--list-packages", "registry.example:5000/app:1.0"]) == 2
    err = capsys.readouterr().err
    assert "--offline" in err and "registry.example:5000/app:1.0" in err
