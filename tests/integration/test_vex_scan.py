"""OpenVEX on a real scan: an image with urllib3 1.24.1 from its wheel, the PyPA advisories.

A VEX document declares one real finding ``not_affected`` for this image's urllib3; the scan
must keep it, marked suppressed with the justification, ignore it for ``--fail-on`` and leave
every other finding as it was without the document.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REFERENCE
from tests.image_json import vulnerabilities
from tests.integration.dockerd import PrivateDaemon, build_image, env_for

SITE = "usr/local/lib/python3.11/site-packages"
TAG = "dg-vex:1"
REASON = "VEX not_affected: vulnerable_code_not_in_execute_path"


@pytest.fixture(scope="module")
def image(dockerd: PrivateDaemon, busybox_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    wheels = tmp_path_factory.mktemp("vex-wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(wheels), "urllib3==1.24.1"],
        check=True, capture_output=True, timeout=300,
    )
    files: dict[str, bytes] = {}
    for whl in wheels.glob("*.whl"):
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                files[f"site/{name}"] = z.read(name)
    return build_image(dockerd.api, f"FROM {busybox_image}\nCOPY site /{SITE}/\n", TAG, files)


@pytest.fixture(scope="module")
def env(dockerd: PrivateDaemon, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("vex-dg")
    e = env_for(dockerd)
    e["DOCKGUARD_CACHE_DIR"] = str(base / "cache")
    e["DOCKGUARD_DB"] = str(base / "vuln.db")
    if not (REFERENCE / "osv-pypi").is_dir():
        pytest.fail(f"reference data missing: {REFERENCE / 'osv-pypi'}")
    r = dockguard(["db", "import", str(REFERENCE / "osv-pypi")], e)
    assert r.returncode == 0, r.stderr
    return e


def dockguard(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockguard", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def scan(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    r = dockguard(["image", "scan", "--format", "json", "--offline", *args, TAG], env)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, vulnerabilities(json.loads(r.stdout))


def write_vex(path: Path, statements: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/dg-vex-1",
        "author": "dockguard tests", "timestamp": "2024-05-01T12:00:00Z", "version": 1,
        "statements": statements,
    }))
    return path


def test_not_affected_statement_suppresses_one_real_finding(image: str, env: dict[str, str], tmp_path: Path) -> None:
    code, baseline = scan(env)
    assert code == 0
    assert len(baseline) >= 5 and not any(v["suppressed"] for v in baseline)
    assert {v["package"]["name"] for v in baseline} == {"urllib3"}
    # The one with the highest severity, so that --fail-on at its level has nothing else to see.
    top = max(baseline, key=lambda v: ["UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"].index(
        v["severity"]))
    assert top["severity"] in ("HIGH", "CRITICAL") and top["vulnerability"]["aliases"]
    alias = top["vulnerability"]["aliases"][0]
    others_at_level = [v for v in baseline if v["severity"] == top["severity"] and v is not top]
    # Named by an alias, the image by its tag, the package as a versionless purl subcomponent.
    document = write_vex(tmp_path / "vex.json", [{
        "vulnerability": {"name": alias},
        "products": [{"@id": f"docker.io/library/{TAG}", "subcomponents": [{"@id": "pkg:pypi/urllib3"}]}],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }])

    assert dockguard(["image", "scan", "--offline", "--fail-on", top["severity"], TAG], env).returncode == 1
    code, vulns = scan(env, "--vex", str(document), "--fail-on", top["severity"])
    assert code == (1 if others_at_level else 0)
    by_key = {(v["id"], v["package"]["purl"]): v for v in vulns}
    assert len(by_key) == len(vulns) == len(baseline)
    hit = by_key[(top["id"], top["package"]["purl"])]
    assert hit["suppressed"] == REASON
    untouched = [v for v in vulns if v is not hit]
    assert untouched == [v for v in baseline if (v["id"], v["package"]["purl"]) != (top["id"], top["package"]["purl"])]

    table = dockguard(["image", "scan", "--offline", "--vex", str(document), TAG], env)
    assert f"[suppressed: {REASON}]" in table.stdout and "suppressed 1" in table.stdout
    sarif = dockguard(["image", "scan", "--offline", "--format", "sarif", "--vex", str(document), TAG], env)
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert sum(1 for r in results if r.get("suppressions")) == 1


def test_newer_affected_statement_and_other_image(image: str, env: dict[str, str], tmp_path: Path) -> None:
    _, baseline = scan(env)
    target = baseline[0]
    purl = target["package"]["purl"]
    fixed = {"vulnerability": {"name": target["id"]}, "products": [{"@id": purl}], "status": "fixed",
             "timestamp": "2024-01-01T00:00:00Z"}
    affected = {"vulnerability": {"name": target["id"]}, "products": [{"@id": purl}], "status": "affected",
                "action_statement": "upgrade", "timestamp": "2024-02-01T00:00:00Z"}
    old = write_vex(tmp_path / "old.json", [fixed])
    new = write_vex(tmp_path / "new.json", [affected])
    _, vulns = scan(env, "--vex", str(old))
    assert [v["suppressed"] for v in vulns if v["id"] == target["id"]] == ["VEX fixed"]
    _, vulns = scan(env, "--vex", str(new), "--vex", str(old))
    assert vulns == baseline
    other = write_vex(tmp_path / "other.json", [{**fixed, "products": [{"@id": "some/other-image:1"}]}])
    _, vulns = scan(env, "--vex", str(other))
    assert vulns == baseline


def test_bad_vex_document_is_exit_2(image: str, env: dict[str, str], tmp_path: Path) -> None:
    bad = write_vex(tmp_path / "bad.json", [{"vulnerability": {"name": "CVE-1"}, "products": ["pkg:pypi/x"],
                                            "status": "not_affected"}])
    for cmd in (["image", "scan", "--vex", str(bad), TAG], ["audit", "-q", "--vex", str(bad)]):
        r = dockguard(cmd, env)
        assert r.returncode == 2
        assert r.stderr.strip().endswith(
            f"{bad}: $.statements[0]: statement #1 (CVE-1): "
            "'not_affected' needs a 'justification' or an 'impact_statement'"), r.stderr


def test_audit_honours_vex(image: str, env: dict[str, str], tmp_path: Path) -> None:
    _, baseline = scan(env)
    target = baseline[0]
    document = write_vex(tmp_path / "vex.json", [{
        "vulnerability": {"name": target["id"]}, "products": [{"@id": target["package"]["purl"]}],
        "status": "not_affected", "impact_statement": "TLS is terminated by the proxy",
    }])
    r = dockguard(["audit", "--format", "json", "-q", "--all-images", "--no-registries", "--vex", str(document)], env)
    assert r.returncode == 0, r.stderr
    findings = [f for f in json.loads(r.stdout)["findings"]
                if f["kind"] == "vulnerability" and f["obj"] == f"image:{TAG}"]
    assert len(findings) == len(baseline)
    assert [f["suppressed"] for f in findings if f["id"] == target["id"]] == [
        "VEX not_affected: TLS is terminated by the proxy"]
    assert sum(1 for f in findings if f["suppressed"]) == 1
