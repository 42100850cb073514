"""The image pipeline's one Report: every format renders it, CycloneDX follows the consumers'
rules (strict schema, CVSS ratings, alias references, SPDX licences, deterministic refs), and
a scan without a database still gives the inventory and the configuration findings.

Images are docker-save tars written here; advisories are OSV records written here and
imported into a real database.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from dockguard.cli import main
from dockguard.image import sbom
from dockguard.model import Finding, FindingKind, NoteStatus, Report, Severity, Surface, VulnerabilityInfo, VulnState
from dockguard.pipeline.image_scan import ImageRequest, ScanSettings, image_summary, read_image, scan_image
from dockguard.report.formats import SURFACE_FORMATS, render
from dockguard.report.load import loads
from dockguard.vuln import importers
from dockguard.vuln.database import write_imports
from tests.unit.image_helpers import OS_RELEASE_DEBIAN, F, docker_save, layer_tar

SITE = "usr/local/lib/python3.11/site-packages"
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"
DPKG_STATUS = (b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
               b"Architecture: amd64\nSource: zlib\n\n")
#: (name, version, declared licence)
DISTS = [("urllib3", "1.24.1", "MIT"), ("oldlib", "0.1", "BSD"), ("apachelib", "2.0", "Apache 2.0"),
         ("duallib", "1.0", "MIT OR Apache-2.0")]
RECORDS: list[dict[str, Any]] = [
    {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001", "GHSA-aaaa-bbbb-cccc"], "modified": "2024-01-01T00:00:00Z",
     "summary": "urllib3 leaks things", "severity": [{"type": "CVSS_V3", "score": V31},
                                                      {"type": "CVSS_V2", "score": V2}],
     "references": [{"type": "WEB", "url": "https://example.org/advisory/1"}],
     "affected": [{"package": {"ecosystem": "PyPI", "name": "urllib3"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.17"}]}]}]},
    {"id": "PYSEC-2099-2", "modified": "2024-01-01T00:00:00Z", "summary": "oldlib without a rating",
     "affected": [{"package": {"ecosystem": "PyPI", "name": "oldlib"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.2"}]}]}]},
]


def _metadata(name: str, version: str, licence: str) -> F:
    return F(f"{SITE}/{name}-{version}.dist-info/METADATA",
             f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: {licence}\n".encode())


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img.tar"
    members = [F("etc/os-release", OS_RELEASE_DEBIAN), F("var/lib/dpkg/status", DPKG_STATUS)]
    members += [_metadata(*d) for d in DISTS]
    docker_save(path, [layer_tar(members)], tags=("shop/api:1.4",),
                config={"ExposedPorts": {"80/tcp": {}}})
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    src = tmp_path / "osv"
    src.mkdir()
    for rec in RECORDS:
        (src / f"{rec['id']}.json").write_text(json.dumps(rec))
    write_imports(tmp_path / "v.db", importers.load(src))
    return tmp_path / "v.db"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKGUARD_CACHE_DIR", str(tmp_path / "cache"))


def _scan(image: Path, db: Path) -> Report:
    return scan_image(ImageRequest(str(image)), ScanSettings(db_path=db))


def _finding(report: Report, fid: str) -> Finding:
    return next(f for f in report.findings if f.id == fid)


def test_pipeline_report(image: Path, db: Path) -> None:
    report = _scan(image, db)
    assert report.surface is Surface.IMAGE_SCAN
    [subject] = report.source.images
    assert (subject.label, subject.os_family, subject.package_count) == ("image:shop/api:1.4", "debian", 5)
    assert {p.name for p in report.packages} == {"zlib1g", *(d[0] for d in DISTS)}
    vuln = _finding(report, "CVE-2099-0001")
    assert vuln.obj == "image:shop/api:1.4" and vuln.vulnerability is not None
    assert {(c.method, c.vector, c.score) for c in vuln.vulnerability.cvss} == {
        ("CVSSv31", V31, 9.8), ("CVSSv2", V2, 7.5)}
    assert all(c.source == "PYSEC-2099-1" for c in vuln.vulnerability.cvss)
    assert _finding(report, "PYSEC-2099-2").severity is Severity.UNKNOWN
    assert {f.id for f in report.findings if f.kind is FindingKind.IMAGE_CONFIG} >= {"IMG-ROOT-USER",
                                                                                     "IMG-PRIVILEGED-PORT"}
    # The database holds no Debian feed: the deb package is named as not checked, not called clean.
    [not_checked] = [n for n in report.notes if n.status is NoteStatus.NOT_CHECKED]
    assert "Debian:12" in not_checked.reason and "(1 package)" in not_checked.reason
    # The JSON report reads back to the same findings, packages and notes.
    back = loads(render(report, "json"))
    assert back.findings == report.findings and back.packages == report.packages and back.notes == report.notes


@pytest.mark.parametrize("fmt", SURFACE_FORMATS[Surface.IMAGE_SCAN])
def test_every_format_renders_an_image_scan(fmt: str, image: Path, db: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"out.{fmt}"
    assert main(["image", "scan", "--db", str(db), "--format", fmt, "-o", str(out), str(image)]) == 0
    text = out.read_text()
    assert "CVE-2099-0001" in text
    if fmt in ("json", "sarif", "cyclonedx"):
        doc = json.loads(text)
        if fmt == "json":
            assert doc["source"]["surface"] == "image-scan" and len(doc["packages"]) == 5
        if fmt == "sarif":
            notes = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
            assert any("NOT CHECKED" in n["message"]["text"] and "Debian:12" in n["message"]["text"]
                       for n in notes)
        if fmt == "cyclonedx":
            assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    elif fmt == "junit":
        assert ET.fromstring(text).tag == "testsuites"
    elif fmt in ("table", "text"):
        assert "urllib3 1.24.1 (pypi)" in text and "Not checked:" in text and "IMG-ROOT-USER" in text


def test_cyclonedx_ratings_references_advisories_licences(image: Path, db: Path) -> None:
    report = _scan(image, db)
    for spec, version in (("1.5", SchemaVersion.V1_5), ("1.6", SchemaVersion.V1_6)):
        text = sbom.render_report(report, spec)
        assert JsonStrictValidator(version).validate_str(text) is None, spec
    bom = json.loads(sbom.render_report(report))
    assert bom["metadata"]["tools"] == {"components": [
        {"type": "application", "publisher": "dockguard", "name": "dockguard", "version": report.tool_version}]}
    vulns = {v["id"]: v for v in bom["vulnerabilities"]}
    v = vulns["CVE-2099-0001"]
    cvss = {r["method"]: r for r in v["ratings"] if r["method"] != "other"}
    assert cvss["CVSSv31"]["score"] == 9.8 and cvss["CVSSv31"]["vector"] == V31
    assert cvss["CVSSv31"]["severity"] == "critical"
    assert cvss["CVSSv2"]["score"] == 7.5 and cvss["CVSSv2"]["vector"] == V2
    assert cvss["CVSSv31"]["source"]["name"] == "PyPA Advisory Database"
    assert {(r["id"], r["source"]["name"]) for r in v["references"]} == {
        ("GHSA-aaaa-bbbb-cccc", "GitHub Advisory Database"), ("PYSEC-2099-1", "PyPA Advisory Database")}
    assert {"url": "https://example.org/advisory/1"} in v["advisories"]
    assert not any(p["name"] == "dockguard:alias" for p in v.get("properties", []))
    assert v["affects"][0]["ref"] == "pkg:pypi/urllib3@1.24.1"
    # UNKNOWN stays unknown (the mapping shared with SARIF and JSON).
    assert {r["severity"] for r in vulns["PYSEC-2099-2"]["ratings"]} == {"unknown"}
    lic = {c["name"]: c.get("licenses") for c in bom["components"]}
    assert lic["urllib3"] == [{"license": {"id": "MIT"}}]
    assert lic["duallib"] == [{"expression": "MIT OR Apache-2.0"}]
    assert lic["oldlib"] == [{"license": {"name": "BSD"}}]
    assert lic["apachelib"] == [{"license": {"name": "Apache 2.0"}}]
    refs = [c["bom-ref"] for c in bom["components"]] + [v["bom-ref"] for v in bom["vulnerabilities"]]
    assert len(refs) == len(set(refs))


def test_licence_expressions() -> None:
    assert sbom.licences(["GPL-2.0+"]) == [{"license": {"id": "GPL-2.0-or-later"}}]
    assert sbom.licences(["MIT", "BSD"]) == [{"license": {"id": "MIT"}}, {"license": {"name": "BSD"}}]
    assert sbom.licences(["MIT/X11"]) == [{"license": {"name": "MIT/X11"}}]
    assert sbom.licences(["", "  "]) == []
    long = "Permission is hereby granted " * 100
    [entry] = sbom.licences([long])
    licence = entry["license"]
    assert isinstance(licence, dict)
    assert licence["name"].endswith("…") and len(licence["name"]) <= 1024


def test_two_scans_of_one_image_differ_only_in_serial_and_timestamp(image: Path, db: Path) -> None:
    first = json.loads(sbom.render_report(_scan(image, db)))    # cold cache
    second = json.loads(sbom.render_report(_scan(image, db)))   # warm cache
    assert first["serialNumber"] != second["serialNumber"]
    for doc in (first, second):
        del doc["serialNumber"], doc["metadata"]["timestamp"]
    assert first == second


def test_no_database(image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11: the inventory and the configuration findings, vulnerabilities NOT CHECKED in
    every format; exit 0 without a gate, 2 when a gate on vulnerabilities cannot be decided."""
    missing = tmp_path / "none.db"
    base = ["image", "scan", "--db", str(missing), str(image)]
    assert main(base) == 0
    table = capsys.readouterr().out
    assert f"Vulnerabilities: NOT CHECKED: no database at {missing}" in table
    assert "Packages: 5 (deb 1, pypi 4)" in table and "IMG-ROOT-USER" in table
    assert "No vulnerabilities found" not in table
    assert main([*base, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"part": "vulnerabilities", "status": "NOT CHECKED",
            "reason": f"vulnerabilities not checked: no database at {missing} "
                      "(run `dockguard db update` or `dockguard db import PATH`)"} in doc["notes"]
    assert len(doc["packages"]) == 5
    assert {f["kind"] for f in doc["findings"]} == {"image-config"}
    assert main([*base, "--format", "sarif"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any("vulnerabilities: NOT CHECKED" in n["message"]["text"] for n in notes)
    assert main([*base, "--format", "cyclonedx"]) == 0
    bom = json.loads(capsys.readouterr().out)
    assert "vulnerabilities" not in bom  # an empty list would read as "none found"
    assert any(p["name"] == "dockguard:vulnerabilities:not-checked" and "no database" in p["value"]
               for p in bom["metadata"]["component"]["properties"])
    # No config finding is HIGH: the gate on HIGH depends on the vulnerabilities alone.
    assert main([*base, "--fail-on", "HIGH"]) == 2
    err = capsys.readouterr().err
    assert "--fail-on HIGH cannot be decided: vulnerabilities: NOT CHECKED" in err


def test_summary_from_typed_findings(image: Path) -> None:
    inv = read_image(ImageRequest(str(image), use_cache=False))

    def vuln(fid: str, sev: Severity, suppressed: str | None = None) -> Finding:
        return Finding(fid, FindingKind.VULNERABILITY, sev, fid, "image:x",
                       vulnerability=VulnerabilityInfo(VulnState.AFFECTED, "1"), suppressed=suppressed)

    findings = [vuln("CVE-1", Severity.HIGH), vuln("CVE-2", Severity.HIGH), vuln("CVE-3", Severity.LOW, "VEX fixed"),
                Finding("IMG-SETUID", FindingKind.IMAGE_CONFIG, Severity.LOW, "setuid", "image:x", path="/bin/su"),
                Finding("IMG-SECRET", FindingKind.IMAGE_CONFIG, Severity.MEDIUM, "secret", "image:x",
                        evidence=(("location", "env:API_KEY"), ("redacted", "API_KEY=***")))]
    s = image_summary("x", "sha256:1", inv, findings, True)
    assert s.vulnerabilities == {"HIGH": 2} and s.setuid_files == ("/bin/su",)
    assert s.secrets == ("env:API_KEY: API_KEY=***",) and s.complete
    assert image_summary("x", "", inv, findings, False).vulnerabilities is None
