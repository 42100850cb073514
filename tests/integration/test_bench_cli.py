"""The bench/collect CLI end to end: exit codes, docker-bench log shape, snapshots, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.dockerd import PrivateDaemon, env_for

DG = [sys.executable, "-m", "dockguard"]


def run(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DG, *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_text_output_layout_and_summary(dockerd: PrivateDaemon) -> None:
    p = run(env_for(dockerd), "bench", "-b", "-c", "2,5.5")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert any(
        line.startswith("[PASS] 2.18 - Ensure that experimental features are not implemented in production (Automated)")
        for line in lines
    )
    assert "[INFO] Checks: 19" in lines
    assert any(line.startswith("[INFO] Score: ") for line in lines)
    assert "\033[" not in p.stdout  # -b and not a TTY: no colour


def test_fail_on_warn_exit_code(dockerd: PrivateDaemon) -> None:
    env = env_for(dockerd)
    assert run(env, "bench", "-c", "2.18", "--fail-on", "WARN").returncode == 0
    assert run(env, "bench", "-c", "2.14", "--fail-on", "WARN").returncode == 1
    assert run(env, "bench", "-c", "2.14").returncode == 0


def test_docker_bench_log_shape(dockerd: PrivateDaemon, tmp_path: Path) -> None:
    log = tmp_path / "out"
    p = run(env_for(dockerd), "bench", "-l", str(log), "-p", "-c", "1.1.1,2.14,4.6")
    assert p.returncode == 0, p.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    assert set(data) == {"dockerbenchsecurity", "start", "tests", "checks", "score", "end"}
    assert data["dockerbenchsecurity"] == "1.6.0" and data["checks"] == 3
    assert isinstance(data["start"], int) and isinstance(data["end"], int)
    sections = {t["id"]: t for t in data["tests"]}
    assert sections["2"]["desc"] == "Docker daemon configuration"
    r = sections["2"]["results"][0]
    assert r["id"] == "2.14" and r["result"] == "WARN" and r["desc"].endswith("(Automated)")
    assert "remediation" in r and "remediation-impact" in r
    assert log.read_text().count("[WARN] 2.14") == 1


def test_unknown_check_is_usage_error(dockerd: PrivateDaemon) -> None:
    p = run(env_for(dockerd), "bench", "-c", "9.99")
    assert p.returncode == 2
    assert p.stderr.strip() == "dockguard: error: unknown check id or group: '9.99'"


def test_unreachable_daemon_is_operational_error(tmp_path: Path) -> None:
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock")
    p = run(env, "bench")
    assert p.returncode == 2
    assert p.stderr.startswith("dockguard: error: cannot ")
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_collect_then_bench_offline(dockerd: PrivateDaemon, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    p = run(env_for(dockerd), "collect", "-o", str(snap))
    assert p.returncode == 0, p.stderr
    live = json.loads(run(env_for(dockerd), "bench", "--format", "json").stdout)
    # No daemon at all for the offline evaluation.
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock")
    offline = json.loads(run(env, "bench", "--snapshot", str(snap), "--format", "json").stdout)
    def strip(rep: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
        return {r["id"]: (r["outcome"], [d["obj"] for d in r["details"]]) for r in rep["results"]}

    live_r, off_r = strip(live), strip(offline)
    # 1.2.2 depends on the date of evaluation only; everything else must match exactly
    assert {k: v for k, v in live_r.items()} == {k: v for k, v in off_r.items()}


def test_bad_snapshot_is_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "containers": "nope"}')
    p = run(dict(os.environ), "bench", "--snapshot", str(bad))
    assert p.returncode == 2
    assert "snapshot is malformed" in p.stderr


def test_output_file_and_nothing_else_written(dockerd: PrivateDaemon, tmp_path: Path) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    out = tmp_path / "report.json"
    p = run(env_for(dockerd), "bench", "--format", "json", "-o", str(out), cwd=work)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert json.loads(out.read_text())["schema_version"] == 2
    assert list(work.iterdir()) == []
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cwd", "report.json"]
