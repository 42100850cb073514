"""OpenVEX: parsing with clear errors, matching by alias / purl / image, newest statement wins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockguard import vex
from dockguard.image.purl import make_purl
from dockguard.inputs import InputError
from dockguard.model import (
    Finding,
    FindingKind,
    PackageRef,
    Report,
    ReportSource,
    Severity,
    Surface,
    VulnerabilityInfo,
    VulnState,
)

SRC = ReportSource(Surface.BENCH)

CTX = "https://openvex.dev/ns/v0.2.0"
URLLIB3 = make_purl("pypi", "urllib3", "1.24.1")
JINJA = make_purl("pypi", "Jinja2", "2.10")
IMAGE_ID = "sha256:" + "ab" * 32


def finding(fid: str, purl: str, aliases: tuple[str, ...] = (), obj: str = "image:app:1.0") -> Finding:
    return Finding(
        id=fid, kind=FindingKind.VULNERABILITY, severity=Severity.HIGH, title=fid, obj=obj,
        package=PackageRef(name=purl.split("/")[1].split("@")[0], version="", type="pypi", purl=purl),
        vulnerability=VulnerabilityInfo(state=VulnState.AFFECTED, installed="", aliases=aliases),
    )


def doc(*statements: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"@context": CTX, "@id": "https://example.com/vex/1", "author": "sec team",
                       "timestamp": "2024-01-01T00:00:00Z", "version": 1,
                       "statements": list(statements), **extra})


def stmt(name: str, products: list[Any], status: str = "not_affected", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"vulnerability": {"name": name}, "products": products, "status": status}
    if status == "not_affected" and "impact_statement" not in extra:
        out["justification"] = "vulnerable_code_not_in_execute_path"
    out.update(extra)
    return out


def applied(text: str, *findings: Finding, refs: tuple[str, ...] = ()) -> list[str | None]:
    report = Report(tool_version="t", started=0, finished=0, source=SRC, findings=findings)
    return [f.suppressed for f in vex.apply(report, vex.parse(text, "v.json"), refs).findings]


def test_parse_v020_document() -> None:
    (s,) = vex.parse(doc(stmt("CVE-2019-11324", [
        {"@id": "pkg:oci/app@" + IMAGE_ID,
         "subcomponents": [{"@id": URLLIB3}, {"identifiers": {"purl": JINJA}}]},
    ], vulnerability={"@id": "https://nvd.nist.gov/vuln/detail/CVE-2019-11324", "name": "CVE-2019-11324",
                      "aliases": ["PYSEC-2019-133", "GHSA-mh33-7rrq-662w"]},
        timestamp="2024-03-05T10:00:00.123456789+01:00")))
    assert s.names == ("CVE-2019-11324", "PYSEC-2019-133", "GHSA-mh33-7rrq-662w")
    assert s.status == "not_affected" and s.reason == "VEX not_affected: vulnerable_code_not_in_execute_path"
    assert s.timestamp is not None and s.timestamp.isoformat() == "2024-03-05T10:00:00.123456+01:00"
    (product,) = s.products
    assert product.is_image and [c.ids for c in product.subcomponents] == [(URLLIB3,), (JINJA,)]


def test_old_context_string_forms_and_document_timestamp() -> None:
    text = json.dumps({"@context": "https://openvex.dev/ns", "timestamp": "2023-01-08T18:02:03-06:00",
                       "statements": [{"vulnerability": "CVE-1", "products": [URLLIB3], "status": "fixed"}]})
    (s,) = vex.parse(text)
    assert (s.vulnerability, s.reason) == ("CVE-1", "VEX fixed")
    assert s.timestamp is not None and s.timestamp.utcoffset() is not None
    assert s.timestamp.isoformat() == "2023-01-08T18:02:03-06:00"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "v.json: not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[]", "v.json: $: expected an OpenVEX document"),
        (json.dumps({"@context": "https://cyclonedx.org", "statements": []}), "not an OpenVEX document"),
        (json.dumps({"@context": CTX}), "'statements' must be a list"),
        (doc({"products": [URLLIB3], "status": "fixed"}), "statement #1: missing 'vulnerability'"),
        (doc(stmt("CVE-1", [URLLIB3], status="fixed"), stmt("CVE-2", [URLLIB3], status="gone")),
         "statement #2 (CVE-2): 'status' must be one of not_affected, affected, fixed, under_investigation"),
        (doc({"vulnerability": {"name": "CVE-3"}, "products": [URLLIB3], "status": "not_affected"}),
         "statement #1 (CVE-3): 'not_affected' needs a 'justification' or an 'impact_statement'"),
        (doc(stmt("CVE-4", [URLLIB3], justification="trust me")), "unknown justification 'trust me'"),
        (doc(stmt("CVE-5", [], status="fixed")), "statement #1 (CVE-5): 'products' must be a non-empty list"),
        (doc(stmt("CVE-6", [{"@id": "pkg:"}], status="fixed")), "product #1: invalid package URL 'pkg:'"),
        (doc(stmt("CVE-7", [{"@id": "app:1", "subcomponents": [{}]}], status="fixed")),
         "product #1, subcomponent #1: needs an '@id'"),
        (doc(stmt("CVE-8", [URLLIB3], status="fixed", timestamp="yesterday")), "invalid timestamp 'yesterday'"),
        (doc(stmt("", [URLLIB3], status="fixed")), "statement #1: 'vulnerability' needs a 'name'"),
    ],
)
def test_malformed_documents_are_one_line_usage_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        vex.parse(text, "v.json")
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith("v.json")


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.json: cannot read VEX file"):
        vex.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(doc(stmt("CVE-1", [URLLIB3], status="nope")))
    with pytest.raises(InputError, match=r"bad\.json: \$\.statements\[0\]\.status: statement #1"):
        vex.load_all([bad])


def test_matches_by_finding_alias_and_statement_alias() -> None:
    by_finding_alias = doc(stmt("PYSEC-2019-133", [URLLIB3]))
    by_statement_alias = doc(stmt("CVE-X", [URLLIB3], vulnerability={"name": "CVE-X", "aliases": ["CVE-2019-11324"]}))
    f = finding("CVE-2019-11324", URLLIB3, ("PYSEC-2019-133",))
    other = finding("CVE-2020-26137", URLLIB3)
    reason = "VEX not_affected: vulnerable_code_not_in_execute_path"
    assert applied(by_finding_alias, f, other) == [reason, None]
    assert applied(by_statement_alias, f, other) == [reason, None]


def test_purl_with_and_without_version() -> None:
    f = finding("CVE-1", URLLIB3)
    f_newer = finding("CVE-1", make_purl("pypi", "urllib3", "1.26.0"))
    jinja = finding("CVE-1", JINJA)
    # Version given: only that version; qualifiers and PyPI name case do not matter.
    assert applied(doc(stmt("CVE-1", ["pkg:pypi/URLLIB3@1.24.1?file=x"], status="fixed")),
                   f, f_newer, jinja) == ["VEX fixed", None, None]
    # No version: every version of the package.
    assert applied(doc(stmt("CVE-1", [{"@id": "pkg:pypi/urllib3"}], status="fixed")),
                   f, f_newer, jinja) == ["VEX fixed", "VEX fixed", None]
    # Same name, other type or namespace: no match.
    assert applied(doc(stmt("CVE-1", ["pkg:npm/urllib3", "pkg:deb/debian/urllib3"], status="fixed")),
                   f) == [None]


def test_image_product_with_and_without_subcomponents() -> None:
    f = finding("CVE-1", URLLIB3)
    j = finding("CVE-1", JINJA)
    elsewhere = finding("CVE-1", URLLIB3, obj="image:other:2")
    whole = doc(stmt("CVE-1", [{"@id": "docker.io/library/app:1.0"}], status="fixed"))
    assert applied(whole, f, j, elsewhere) == ["VEX fixed", "VEX fixed", None]
    narrowed = doc(stmt("CVE-1", [{"@id": "image:app:1.0", "subcomponents": [{"@id": "pkg:pypi/urllib3"}]}],
                        status="fixed"))
    assert applied(narrowed, f, j, elsewhere) == ["VEX fixed", None, None]
    # Both must match: the subcomponent alone does not suppress it in another image.
    other_image = doc(stmt("CVE-1", [{"@id": "other:9", "subcomponents": [{"@id": URLLIB3}]}], status="fixed"))
    assert applied(other_image, f, j) == [None, None]


def test_image_named_by_id_digest_and_oci_purl() -> None:
    f = finding("CVE-1", URLLIB3, obj="image:app:1.0")
    by_id = doc(stmt("CVE-1", [IMAGE_ID], status="fixed"))
    assert applied(by_id, f) == [None]  # the label alone does not know the id
    assert applied(by_id, f, refs=("app:1.0", IMAGE_ID)) == ["VEX fixed"]
    by_hash = doc(stmt("CVE-1", [{"hashes": {"sha-256": IMAGE_ID[7:]}}], status="fixed"))
    assert applied(by_hash, f, refs=(IMAGE_ID,)) == ["VEX fixed"]
    oci = doc(stmt("CVE-1", [f"pkg:oci/app@{IMAGE_ID.replace(':', '%3A')}"], status="fixed"))
    assert applied(oci, f, refs=(IMAGE_ID,)) == ["VEX fixed"]
    oci_tag = doc(stmt("CVE-1", ["pkg:oci/app?repository_url=docker.io/library/app&tag=1.0"], status="fixed"))
    assert applied(oci_tag, f) == ["VEX fixed"]
    oci_other_tag = doc(stmt("CVE-1", ["pkg:oci/app?tag=2.0"], status="fixed"))
    assert applied(oci_other_tag, f) == [None]
    bare = doc(stmt("CVE-1", ["busybox"], status="fixed"))
    assert applied(bare, finding("CVE-1", URLLIB3, obj="image:docker.io/library/busybox:latest")) == ["VEX fixed"]


def test_newest_statement_wins_document_order_breaks_ties() -> None:
    f = finding("CVE-1", URLLIB3)
    older_fixed = stmt("CVE-1", [URLLIB3], status="fixed", timestamp="2024-01-01T00:00:00Z")
    newer_affected = stmt("CVE-1", [URLLIB3], status="affected", timestamp="2024-06-01T00:00:00Z")
    assert applied(doc(newer_affected, older_fixed), f) == [None]
    assert applied(doc(older_fixed, newer_affected), f) == [None]
    # Timezones are compared as instants: 02:00+03:00 is before 00:00Z.
    later = stmt("CVE-1", [URLLIB3], status="fixed", timestamp="2024-06-01T00:00:00Z")
    earlier = stmt("CVE-1", [URLLIB3], status="affected", timestamp="2024-06-01T02:00:00+03:00")
    assert applied(doc(later, earlier), f) == ["VEX fixed"]
    # Same (document) timestamp: the later statement wins.
    a = stmt("CVE-1", [URLLIB3], status="under_investigation")
    b = stmt("CVE-1", [URLLIB3], impact_statement="the parser is never fed untrusted input")
    assert applied(doc(a, b), f) == ["VEX not_affected: the parser is never fed untrusted input"]
    assert applied(doc(b, a), f) == [None]
    # A statement about another package does not compete.
    assert applied(doc(b, stmt("CVE-1", [JINJA], status="affected")), f) == [
        "VEX not_affected: the parser is never fed untrusted input"]


def test_affected_and_under_investigation_change_nothing() -> None:
    f = finding("CVE-1", URLLIB3)
    report = Report(tool_version="t", started=0, finished=0, source=SRC, findings=(f,))
    for status in ("affected", "under_investigation"):
        out = vex.apply(report, vex.parse(doc(stmt("CVE-1", [URLLIB3], status=status))))
        assert out.findings == (f,)


def test_existing_suppressions_and_other_kinds_are_kept() -> None:
    import dataclasses

    ignored = dataclasses.replace(finding("CVE-1", URLLIB3), suppressed="accepted (SEC-1)")
    config = Finding(id="CVE-1", kind=FindingKind.IMAGE_CONFIG, severity=Severity.LOW, title="x",
                     obj="image:app:1.0", package=PackageRef(name="urllib3", version="", type="pypi", purl=URLLIB3))
    assert applied(doc(stmt("CVE-1", [URLLIB3], status="fixed")), ignored, config) == ["accepted (SEC-1)", None]


def test_statements_across_files_keep_command_line_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(doc(stmt("CVE-1", [URLLIB3], status="fixed")))
    second.write_text(doc(stmt("CVE-1", [URLLIB3], status="affected")))
    f = finding("CVE-1", URLLIB3)
    report = Report(tool_version="t", started=0, finished=0, source=SRC, findings=(f,))
    assert vex.apply(report, vex.load_all([second, first])).findings[0].suppressed == "VEX fixed"
    assert vex.apply(report, vex.load_all([first, second])).findings[0].suppressed is None
