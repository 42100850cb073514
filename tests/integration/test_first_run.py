"""What a new user sees on a fresh machine, through the real CLI: no database, no daemon, offline.

Offline is real: ``db update`` runs in a network namespace of its own (``unshare --net``) with
no interface up, so the default public source is unreachable and nothing leaves the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REFERENCE
from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli

HINT = "run `dockguard db update` or `dockguard db import PATH`"


def _sane(run: CliRun) -> None:
    assert not run.traceback, run.stderr
    assert "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    d = tmp_path / "scratch"
    d.mkdir()
    return d


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_db_status_without_a_database_exits_1_with_the_hint(fmt: str, tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "none" / "vuln.db"
    run = run_cli(["db", "status", "--db", str(db), "--format", fmt], scratch=scratch, trace_writes=True)
    _sane(run)
    assert run.code == 1
    assert run.stderr == f"dockguard: no vulnerability database at {db}: {HINT}\n"
    assert run.stdout == ""
    assert not db.parent.exists()
    assert run.writes_outside(scratch) == []


def test_db_status_of_a_file_that_is_not_a_database_is_still_an_error(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "vuln.db"
    db.write_text("not sqlite\n" * 100)
    run = run_cli(["db", "status", "--db", str(db)], scratch=scratch)
    _sane(run)
    assert run.code == 2
    assert run.stderr.startswith(f"dockguard: error: {db} is not a dockguard vulnerability database")


def test_db_status_with_a_database_exits_0(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "vuln.db"
    assert run_cli(["db", "import", "--db", str(db), str(REFERENCE / "alpine-secdb" / "v3.11" / "main.yaml")],
                   scratch=scratch / "1").code == 0
    run = run_cli(["db", "status", "--db", str(db), "--format", "json"], scratch=scratch / "2")
    _sane(run)
    assert run.code == 0, run.stderr
    assert [(f["name"], f["records"]) for f in json.loads(run.stdout)["feeds"]] == [
        ("alpine-secdb:main/Alpine:v3.11", 1124)]


def test_db_update_offline_without_a_database_says_none_was_written(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "cache" / "vuln.db"
    run = run_cli(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--without", "debian-tracker",
                   "--timeout", "5"], scratch=scratch, offline=True)
    _sane(run)
    assert run.code == 2
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("dockguard: error: "), run.stderr
    assert last.endswith("; no database was written"), last
    assert "left unchanged" not in run.stderr
    assert not db.exists()
    assert sorted(p.name for p in db.parent.iterdir()) == []  # no temporary download left


def test_db_update_offline_with_a_database_leaves_it_unchanged(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "vuln.db"
    assert run_cli(["db", "import", "--db", str(db), str(REFERENCE / "alpine-secdb" / "v3.11" / "main.yaml")],
                   scratch=scratch / "1").code == 0
    before = db.read_bytes()
    run = run_cli(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--without", "debian-tracker",
                   "--timeout", "5"], scratch=scratch / "2", offline=True)
    _sane(run)
    assert run.code == 2
    assert run.stderr.strip().splitlines()[-1].endswith(f"; the database at {db} was left unchanged")
    assert "no database was written" not in run.stderr
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch", "vuln.db"]


def test_audit_without_a_daemon_says_what_to_do(tmp_path: Path, scratch: Path) -> None:
    sock = tmp_path / "nothing.sock"
    run = run_cli(["audit", "--format", "json", "-q", "--db", str(tmp_path / "no.db")], scratch=scratch,
                  env={"DOCKER_HOST": f"unix://{sock}"})
    _sane(run)
    assert run.code == 0
    # -q silences progress, not this warning: the report is mostly N/A and the user must act.
    assert run.stderr == (
        f"dockguard: warning: the Docker daemon at unix://{sock} could not be reached: no such socket; "
        "the checks that need it are N/A. Start Docker, pass -H/--docker-host or set DOCKER_HOST, "
        "or evaluate a saved snapshot with `dockguard bench --snapshot FILE`\n"
    )
    sections = {n["part"]: n for n in json.loads(run.stdout)["notes"]}
    assert sections["daemon"]["status"] == "NOT CHECKED"
    assert sections["vulnerabilities"] == {
        "part": "vulnerabilities",
        "status": "NOT CHECKED",
        "reason": f"not checked: no database at {tmp_path / 'no.db'} ({HINT})",
    }


def test_audit_over_tcp_that_refuses_says_what_to_do(tmp_path: Path, scratch: Path) -> None:
    from tests.integration.dockerd import free_port

    url = f"tcp://127.0.0.1:{free_port()}"
    run = run_cli(["audit", "-q", "-H", url, "--no-images"], scratch=scratch)
    _sane(run)
    assert run.code == 0
    assert f"dockguard: warning: the Docker daemon at {url} could not be reached: " in run.stderr
    assert "set DOCKER_HOST" in run.stderr and "--snapshot FILE" in run.stderr
    # --no-images: the vulnerability part is not run, so no database is asked for.
    assert "vulnerabilities: not checked" not in run.stdout
