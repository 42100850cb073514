"""The harness itself measures what it claims to (so the bounds asserted elsewhere mean something)."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.harness import MAX_RSS_MIB, run_cli


def test_clean_run_reports_exit_rss_and_writes(scratch: Path, tmp_path: Path) -> None:
    out = tmp_path / "snap-out.json"
    run = run_cli(["--version"], scratch=scratch, trace_writes=True)
    assert run.code == 0
    assert "dockguard" in run.stdout
    assert 5 < run.max_rss_mib < MAX_RSS_MIB
    assert run.writes_outside(tmp_path) == []
    assert not out.exists()


def test_writes_outside_are_seen(scratch: Path, tmp_path: Path) -> None:
    """Files a command writes outside the allowed roots are reported, and only those."""
    elsewhere = tmp_path / "elsewhere"
    run = run_cli(["daemon", "tls-init", "--out", str(elsewhere), "--host", "h.test"], scratch=scratch,
                  trace_writes=True)
    assert run.code == 0, run.stderr
    outside = run.writes_outside(scratch)
    assert outside and all(p.startswith(str(elsewhere)) for p in outside)
    assert any(p.endswith("ca.pem") for p in outside)
    assert run.writes_outside(scratch, elsewhere) == []
