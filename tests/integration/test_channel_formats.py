"""Every report format of ``daemon probe`` and ``registry probe``, rendered from real probes.

A plain docker-registry with an image (open: four findings), a TLS registry with a trustme
certificate (the certificate facts) and a TCP port nothing listens on (nothing reached: exit
2) are probed through the CLI with each format written by ``-o``; each output is read back with
a parser for its format (the JSON report loader, the SARIF 2.1.0 schema, ElementTree, the page
text) and checked for the steps, their facts and the findings.
"""

from __future__ import annotations

import json
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import trustme

from dockguard.channel.registry_probe import STEPS as REGISTRY_STEPS
from dockguard.cli import main
from dockguard.model import StepStatus, Surface
from dockguard.report.formats import SURFACE_FORMATS
from dockguard.report.load import load
from tests.conftest import REFERENCE
from tests.integration.dockerd import free_port
from tests.integration.registry import Registry, push_image, start_registry, tar_of

OPEN_FINDINGS = {"registry.plain-http", "registry.anonymous-catalog", "registry.anonymous-pull",
                 "registry.anonymous-push"}
SKIPPED_ON_PLAIN = {"tls-versions", "certificate", "certificate-chain", "credentials", "anonymous-token"}


@pytest.fixture(scope="module")
def open_registry() -> Iterator[Registry]:
    reg = start_registry(Path(tempfile.mkdtemp(prefix="dg-registry-fmt-")))
    s = requests.Session()
    s.trust_env = False
    push_image(s, reg.url, "fmt/app", "1", [tar_of({"a": b"A"})])
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    d = tmp_path_factory.mktemp("fmt-pki")
    crt, key, ca_pem = d / "leaf.crt", d / "leaf.key", d / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(crt))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    reg = start_registry(Path(tempfile.mkdtemp(prefix="dg-registry-fmt-tls-")), tls=(crt, key))
    yield reg, ca_pem
    reg.stop()


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((REFERENCE / "sarif" / "sarif-schema-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema)


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, *argv: str) -> tuple[int, str, str]:
    """The probe with `--format fmt -o FILE`: exit code, the file's text, stderr."""
    out = tmp_path / f"report.{fmt}"
    code = main([*argv, "--format", fmt, "-o", str(out)])
    captured = capsys.readouterr()
    assert captured.out == ""  # everything went to -o
    assert "internal error" not in captured.err
    return code, out.read_text(), captured.err


def junit_cases(text: str, suite: str) -> dict[str, str]:
    """Test case name → ``pass``/``error``/``skipped``/``failure`` in testsuite `suite`."""
    root = ET.fromstring(text)
    found = root.find(f"testsuite[@name='{suite}']")
    assert found is not None, [s.get("name") for s in root]
    out = {}
    for case in found.findall("testcase"):
        child = next((c.tag for c in case if c.tag in ("error", "failure", "skipped")), "pass")
        out[case.get("name", "")] = child
    return out


def test_daemon_and_registry_probe_offer_every_format() -> None:
    assert SURFACE_FORMATS[Surface.DAEMON_PROBE] == ("text", "json", "sarif", "junit", "html")
    assert SURFACE_FORMATS[Surface.REGISTRY_PROBE] == ("text", "json", "sarif", "junit", "html")


@pytest.mark.parametrize("fmt", SURFACE_FORMATS[Surface.REGISTRY_PROBE])
def test_open_registry_in_every_format(
    fmt: str, open_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    sarif_validator: jsonschema.Draft4Validator,
) -> None:
    code, text, err = run(tmp_path, capsys, fmt, "registry", "probe", open_registry.host, "--try-push",
                          "--fail-on", "high")
    assert code == 1, err
    assert "2 finding(s) at or above --fail-on HIGH" in err
    if fmt == "text":
        lines = text.splitlines()
        assert lines[0] == f"registry probe: {open_registry.host}"
        assert lines[2] == "Steps:"
        assert "  anonymous-push     COMPLETED  allowed (anonymous); upload cancelled (HTTP 204)" in lines
        assert "  tls-versions       SKIPPED    plain HTTP" in lines
        facts = lines[lines.index("Facts:") + 1: lines.index("Findings:") - 1]
        assert facts == ["  api_version_header: registry/2.0", "  auth: none", "  pull_repository: fmt/app",
                         "  repositories: fmt/app", "  scheme: http", "  v2_status: 200"]
        assert "  CRITICAL registry.anonymous-push  anyone can push to dockguard-probe/push-test (anonymous)" \
            in lines
        assert "           fix: Require authentication for push." in lines
    elif fmt == "json":
        path = tmp_path / "report.json"
        report = load(path)
        assert report.surface is Surface.REGISTRY_PROBE
        assert report.source.target == open_registry.host
        assert tuple(s.name for s in report.steps) == REGISTRY_STEPS
        assert {s.name for s in report.steps if s.status is StepStatus.SKIPPED} == SKIPPED_ON_PLAIN
        assert report.steps[0].evidence == (("scheme", "http"),)
        assert dict(report.steps[4].evidence) == {"v2_status": "200", "api_version_header": "registry/2.0",
                                                  "auth": "none"}
        assert {f.id for f in report.findings} == OPEN_FINDINGS
        assert report.reachable
    elif fmt == "sarif":
        log = json.loads(text)
        sarif_validator.validate(log)
        runs = log["runs"][0]
        assert {r["ruleId"] for r in runs["results"]} == OPEN_FINDINGS
        invocation = runs["invocations"][0]
        assert invocation["executionSuccessful"] is True
        assert "toolExecutionNotifications" not in invocation  # no step failed
        assert runs["properties"]["source"]["surface"] == "registry-probe"
    elif fmt == "junit":
        steps = junit_cases(text, "probe steps")
        assert list(steps) == list(REGISTRY_STEPS)
        assert {n for n, status in steps.items() if status == "skipped"} == SKIPPED_ON_PLAIN
        assert {n for n, status in steps.items() if status == "pass"} == set(REGISTRY_STEPS) - SKIPPED_ON_PLAIN
        assert set(junit_cases(text, "registry").values()) == {"failure"}
        assert set(junit_cases(text, "registry")) == {f"{i} [http://{open_registry.host}]" for i in OPEN_FINDINGS}
    else:
        assert '<section id="steps">' in text
        start = text.index('<section id="steps">')
        section = text[start:text.index("</section>", start)]
        assert section.count('<tr data-status="COMPLETED">') == 5
        assert section.count('<tr data-status="SKIPPED">') == 5
        assert "<code>repositories</code>: fmt/app" in section
        assert 'id="checks"' not in text  # a probe has no checks to list
        for finding in OPEN_FINDINGS:
            assert f"<td>{finding}</td>" in text


@pytest.mark.parametrize("fmt", SURFACE_FORMATS[Surface.DAEMON_PROBE])
def test_nothing_reached_in_every_format(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], sarif_validator: jsonschema.Draft4Validator,
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    code, text, err = run(tmp_path, capsys, fmt, "daemon", "probe", endpoint, "--fail-on", "low")
    assert code == 2
    assert "nothing could be probed" in err
    if fmt == "text":
        assert text.startswith(f"endpoint probe: {endpoint}\n\nSteps:\n  plain-http               FAILED     "
                               "cannot connect to")
        assert "  tls-versions             SKIPPED    target unreachable" in text
        assert "Facts:" not in text
        assert text.endswith("Findings:\n  none: nothing could be probed (see the steps above)\n")
    elif fmt == "json":
        report = load(tmp_path / "report.json")
        assert not report.reachable
        assert [s.status for s in report.steps] == [StepStatus.FAILED] + [StepStatus.SKIPPED] * 6
        assert "Connection refused" in report.steps[0].reason
    elif fmt == "sarif":
        log = json.loads(text)
        sarif_validator.validate(log)
        invocation = log["runs"][0]["invocations"][0]
        assert invocation["executionSuccessful"] is False
        notes = [n for n in invocation["toolExecutionNotifications"] if "properties" in n]
        assert [(n["level"], n["properties"]["step"]) for n in notes] == [("error", "plain-http")]
        assert notes[0]["message"]["text"].startswith("probe step plain-http failed: cannot connect to")
    elif fmt == "junit":
        steps = junit_cases(text, "probe steps")
        assert steps["plain-http"] == "error"
        assert set(list(steps.values())[1:]) == {"skipped"}
        root = ET.fromstring(text)
        assert (root.get("errors"), root.get("failures")) == ("1", "0")  # junit-10.xsd: no skipped here
        suite = root.find("testsuite[@name='probe steps']")
        assert suite is not None and suite.get("skipped") == "6"
    else:
        assert '<tr data-status="FAILED">' in text
        assert '<span class="badge o-error">FAILED</span>' in text
        assert text.count('<tr data-status="SKIPPED">') == 6


def test_tls_registry_certificate_facts(
    tls_registry: tuple[Registry, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, ca = tls_registry
    code, text, _ = run(tmp_path, capsys, "text", "registry", "probe", reg.url, "--ca-cert", str(ca))
    assert code == 0
    facts = dict(line.strip().split(": ", 1) for line in
                 text[text.index("Facts:\n") + 7:text.index("\n\nFindings:")].splitlines())
    assert facts["scheme"] == "https"
    assert facts["certificate.san"] == "127.0.0.1, localhost" or facts["certificate.san"] == "localhost, 127.0.0.1"
    assert facts["certificate.key"].startswith(("EC ", "RSA "))
    assert int(facts["certificate.days_left"]) > 30
    assert facts["tls_versions.TLSv1.2"] == "accepted" and facts["tls_versions.TLSv1.0"] == "refused"
    code, html, _ = run(tmp_path, capsys, "html", "registry", "probe", reg.url, "--ca-cert", str(ca))
    assert f"verifies against {ca}" in html
    assert "<code>certificate.subject</code>" in html
    code, xml, _ = run(tmp_path, capsys, "junit", "registry", "probe", reg.url, "--ca-cert", str(ca))
    root = ET.fromstring(xml)
    out = root.find("testsuite[@name='probe steps']/testcase[@name='certificate']/system-out")
    assert out is not None and out.text is not None
    assert "certificate.days_left: " in out.text


def test_suppressions_apply_to_probe_findings(
    open_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "accepted.yaml"
    rules.write_text("version: 1\nsuppressions:\n  - id: registry.anonymous-push\n"
                     "    reason: a scratch registry (TICKET-1)\n")
    argv = ("registry", "probe", open_registry.host, "--try-push", "--fail-on", "critical")
    code, _, _ = run(tmp_path, capsys, "text", *argv)
    assert code == 1
    code, text, err = run(tmp_path, capsys, "text", *argv, "--suppressions", str(rules))
    assert code == 0, err
    assert ("  CRITICAL registry.anonymous-push  anyone can push to dockguard-probe/push-test (anonymous)"
            "  (suppressed: a scratch registry (TICKET-1))") in text
    code, doc, _ = run(tmp_path, capsys, "json", *argv, "--ignore-file", str(rules))
    suppressed: dict[str, Any] = {f["id"]: f["suppressed"] for f in json.loads(doc)["findings"]}
    assert suppressed["registry.anonymous-push"] == "a scratch registry (TICKET-1)"
    assert suppressed["registry.plain-http"] is None
