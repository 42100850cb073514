"""`dockguard audit`: one run over a real daemon, a real registry and a real vulnerability database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import REFERENCE
from tests.integration.dockerd import PrivateDaemon, build_image, cleanup_root, env_for, import_busybox, start_daemon
from tests.integration.registry import Registry, start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("audit-reg"))
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Iterator[PrivateDaemon]:
    root = tmp_path_factory.mktemp("auditd")
    d = start_daemon(root, daemon_json={"insecure-registries": [registry.host]})
    try:
        yield d
    finally:
        d.stop()
        cleanup_root(root)


@pytest.fixture(scope="module")
def app(daemon: PrivateDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    wheels = tmp_path_factory.mktemp("audit-wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(wheels),
            "jinja2==2.10",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    files: dict[str, bytes] = {}
    for whl in wheels.glob("*.whl"):
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                files[f"site/{name}"] = z.read(name)
    base = import_busybox(daemon.api)
    tag = build_image(
        daemon.api, f"FROM {base}\nCOPY site /usr/local/lib/python3.11/site-packages/\n", "dg-audit:1", files
    )
    c = daemon.api.create_container(tag, ["sleep", "3600"], name="web")
    daemon.api.start(c)
    try:
        yield tag
    finally:
        daemon.api.remove_container(c, force=True)


@pytest.fixture(scope="module")
def env(daemon: PrivateDaemon, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("audit-dg")
    e = env_for(daemon)
    e["DOCKGUARD_CACHE_DIR"] = str(base / "cache")
    e["DOCKGUARD_DB"] = str(base / "vuln.db")
    r = run(e, "db", "import", str(REFERENCE / "osv-pypi"))
    assert r.returncode == 0, r.stderr
    return e


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockguard", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def audit(env: dict[str, str], app: str) -> dict[str, Any]:
    r = run(env, "audit", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert "scanning image 1/1: dg-audit:1" in r.stderr  # progress on stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def test_every_surface_is_in_one_report(audit: dict[str, Any], registry: Registry) -> None:
    assert audit["summary"]["checks"] == 117
    kinds = {f["kind"] for f in audit["findings"]}
    assert {"vulnerability", "registry"} <= kinds
    jinja = [f for f in audit["findings"] if f["kind"] == "vulnerability" and f["package"]["name"] == "jinja2"]
    assert jinja and all(f["obj"] == "image:dg-audit:1" for f in jinja)
    assert any(f["vulnerability"]["fixed"] == "2.10.1" for f in jinja)
    reg = [f for f in audit["findings"] if f["kind"] == "registry"]
    assert any(registry.host in f["obj"] and f["severity"] == "HIGH" for f in reg), reg
    assert [n for n in audit["notes"] if n["part"] == "vulnerabilities"] == []


def test_bench_checks_use_the_image_scan(audit: dict[str, Any]) -> None:
    r44 = next(r for r in audit["results"] if r["id"] == "4.4")
    vulns = [f for f in audit["findings"] if f["kind"] == "vulnerability" and f["obj"] == "image:dg-audit:1"]
    detail = next(d for d in r44["details"] if d["obj"] == "image:dg-audit:1")
    assert detail["message"].startswith(f"{len(vulns)} vulnerabilities"), r44
    assert r44["reason"] == "vulnerabilities found in 1 scanned image(s) (dg-audit:1)"
    # issue 11: the reason is the outcome's own, not "from dockguard image scan (...)".
    r48 = next(r for r in audit["results"] if r["id"] == "4.8")
    assert r48["reason"] == "no setuid/setgid file found in 1 scanned image(s) (dg-audit:1)", r48
    assert r48["outcome"] == "NOTE" and [d["outcome"] for d in r48["details"]] == ["PASS"]


def test_missing_database_is_a_stated_section(env: dict[str, str], app: str, tmp_path: Path) -> None:
    e = dict(env, DOCKGUARD_DB=str(tmp_path / "none.db"))
    r = run(e, "audit", "--format", "json", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    data = json.loads(r.stdout)
    sec = [n for n in data["notes"] if n["part"] == "vulnerabilities"]
    assert sec and sec[0]["status"] == "NOT CHECKED" and "db update" in sec[0]["reason"]
    assert not [f for f in data["findings"] if f["kind"] == "vulnerability"]


def test_unreachable_daemon_is_a_stated_section(tmp_path: Path) -> None:
    e = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/nothing.sock", DOCKGUARD_DB=str(tmp_path / "no.db"))
    r = run(e, "audit", "--format", "json", "-q")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    names = {n["part"]: n["status"] for n in data["notes"]}
    assert names["daemon"] == "NOT CHECKED" and names["images"] == "NOT CHECKED"
    outcomes = {r["id"]: r["outcome"] for r in data["results"]}
    assert outcomes["2.14"] == "N/A" and outcomes["5.4"] == "N/A"
    # issue 11: no score when the CIS part could not run, and what to do instead.
    summary = data["summary"]
    assert summary["score"] is None and summary["grade"] is None
    for hint in ("start Docker", "DOCKER_HOST", "--snapshot"):
        assert hint in summary["score_withheld"]
    text = run(e, "audit", "-q")
    assert text.returncode == 0, text.stderr
    assert "/100" not in text.stdout
    assert "dockguard score: none: the CIS checks that need the Docker daemon could not run" in text.stdout


def test_audit_sarif_is_valid_and_fail_on(env: dict[str, str], app: str) -> None:
    r = run(env, "audit", "--format", "sarif", "-q", "--fail-on", "CRITICAL")
    schema = json.loads((REFERENCE / "sarif" / "sarif-schema-2.1.0.json").read_text())
    log = json.loads(r.stdout)
    jsonschema.validate(log, schema)
    rules = {rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert "4.1" in rules and "registry.plain-http" in rules, sorted(rules)
    # nothing here is CRITICAL; the plain-http registry is HIGH
    assert r.returncode == 0, r.stderr
    assert run(env, "audit", "--format", "json", "-q", "--fail-on", "HIGH").returncode == 1
