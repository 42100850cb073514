"""What readers of JUnit XML expect, as checks over a document.

- Jenkins' xUnit plugin validates the file against ``junit-10.xsd`` (reference data, from
  jenkinsci/xunit-plugin) and refuses it when invalid; validated here with lxml.
- GitLab's unit test report parser (``lib/gitlab/ci/parsers/test/junit.rb`` and the "Unit test
  reports" docs): ``testsuites`` (one, at the top) or ``testsuite`` roots; per ``testcase`` it
  reads ``classname`` (shown as the suite), ``name``, ``file``, ``time`` and the status from the
  first of ``failure``, ``error``, ``skipped`` present, showing that element's *text* (its
  ``message`` attribute is not shown); of test cases with the same name only the first is used.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lxml import etree

from tests.conftest import REFERENCE

XSD = REFERENCE / "junit" / "junit-10.xsd"
STATUS_TAGS = ("failure", "error", "skipped")


def xsd_problems(xml: bytes, xsd: Path = XSD) -> list[str]:
    """Errors of Jenkins' xUnit schema validation (empty: valid)."""
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = etree.fromstring(xml)
    if schema.validate(doc):
        return []
    return str(schema.error_log).splitlines() or ["invalid"]


def gitlab_problems(xml: bytes) -> list[str]:
    """What GitLab's parser would lose or show empty."""
    root = etree.fromstring(xml)
    out: list[str] = []
    if root.tag not in ("testsuites", "testsuite"):
        return [f"root element {root.tag!r}: GitLab reads testsuites or testsuite"]
    if root.tag == "testsuites" and root.find(".//testsuites") is not None:
        out.append("nested testsuites: GitLab allows one at the top")
    names: Counter[str] = Counter()
    for case in root.iter("testcase"):
        name = case.get("name") or ""
        if not name:
            out.append("testcase without name")
        if not case.get("classname"):
            out.append(f"testcase {name!r} without classname (GitLab shows it as the suite)")
        names[name] += 1
        statuses = [tag for tag in STATUS_TAGS if case.find(tag) is not None]
        if len(statuses) > 1:
            out.append(f"testcase {name!r} has {statuses}: GitLab reads only the first")
        for tag in statuses:
            element = case.find(tag)
            if element is not None and not (element.text or "").strip():
                out.append(f"testcase {name!r}: <{tag}> has no text (GitLab shows the text, not the message)")
    out.extend(f"{n} test cases named {name!r}: GitLab keeps the first" for name, n in names.items() if n > 1)
    return out


def count_problems(xml: bytes) -> list[str]:
    """Suite and total counts that do not match the test cases (Jenkins and GitLab show them)."""
    root = etree.fromstring(xml)
    out = []
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals: Counter[str] = Counter()
    for suite in suites:
        cases = suite.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        for key, value in counts.items():
            totals[key] += value
            if suite.get(key) is not None and int(suite.get(key, "0")) != value:
                out.append(f"testsuite {suite.get('name')!r}: {key}={suite.get(key)} but {value} cases")
    if root.tag == "testsuites":
        for key in ("tests", "failures", "errors"):
            if root.get(key) is not None and int(root.get(key, "0")) != totals[key]:
                out.append(f"testsuites {key}={root.get(key)} but {totals[key]} cases")
    return out


def all_problems(xml: bytes) -> list[str]:
    """Every reader's problems with `xml`."""
    return ([f"xUnit: {p}" for p in xsd_problems(xml)] + [f"GitLab: {p}" for p in gitlab_problems(xml)]
            + [f"counts: {p}" for p in count_problems(xml)])
