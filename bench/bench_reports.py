"""Benchmark the SARIF, JUnit and docker-bench JSON formatters on a large synthetic report.

Usage: python bench/bench_reports.py [--containers 100] [--findings 5000] [--runs 3]

Builds 117 checks (the CIS catalogue's count), the runtime checks with one detail per
container (two thirds of them failing), and `--findings` vulnerabilities over 20 images, half of
them in the shared dpkg database (so several packages share a rule and a place), then times
each formatter in process (median of --runs) and prints the output sizes (and gzip size for
SARIF, what GitHub's 10 MB upload limit counts). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.report_sample import meta  # noqa: E402

from dockguard.model import (  # noqa: E402
    CheckResult,
    Detail,
    Finding,
    FindingKind,
    Outcome,
    PackageRef,
    Report,
    ReportSource,
    Severity,
    Surface,
    VulnerabilityInfo,
    VulnState,
)

SECTION_SIZES = {"1": 13, "2": 18, "3": 24, "4": 11, "5": 31, "6": 2, "7": 18}
OUTCOMES = (Outcome.PASS, Outcome.WARN, Outcome.WARN, Outcome.INFO, Outcome.NA, Outcome.NOTE)
SEVERITIES = tuple(Severity)


def big_report(containers: int, findings: int) -> Report:
    """117 checks, per-container details on the runtime checks, `findings` vulnerabilities."""
    results: list[CheckResult] = []
    names = [f"container:app-{i:03d}" for i in range(containers)]
    for n, (section, k) in enumerate((s, k) for s, size in SECTION_SIZES.items() for k in range(1, size + 1)):
        cis = f"{section}.{k}"
        details: tuple[Detail, ...] = ()
        outcome = OUTCOMES[n % len(OUTCOMES)]
        if section in ("4", "5"):
            details = tuple(Detail(name, f"setting {k} is {'bad' if i % 3 else 'fine'}",
                                   Outcome.WARN if i % 3 else Outcome.PASS, value=str(i))
                            for i, name in enumerate(names))
            outcome = Outcome.WARN
        results.append(CheckResult(meta(cis, f"Ensure that check {cis} holds for every object", SEVERITIES[n % 4]),
                                   outcome, details, reason=f"reason for {cis}"))
    vulns = []
    for i in range(findings):
        path = "/var/lib/dpkg/status" if i % 2 else f"/usr/lib/python3/pkg{i}.dist-info/METADATA"
        vulns.append(Finding(
            id=f"CVE-2024-{i % 2000:05d}", kind=FindingKind.VULNERABILITY, severity=SEVERITIES[i % len(SEVERITIES)],
            title=f"package flaw number {i % 2000}", obj=f"image:registry.example/app{i % 20}:1.{i % 7}", path=path,
            description="A description of the flaw, one sentence long.",
            references=(f"https://security-tracker.debian.org/tracker/CVE-2024-{i % 2000:05d}",),
            remediation=f"Upgrade pkg{i} to 2.{i}.",
            package=PackageRef(name=f"pkg{i}", version=f"1.{i}", type="deb", purl=f"pkg:deb/debian/pkg{i}@1.{i}",
                               path=path),
            vulnerability=VulnerabilityInfo(state=VulnState.FIXED, installed=f"1.{i}", fixed=f"2.{i}"),
        ))
    return Report(tool_version="0.1.0", started=1_767_225_600.0, finished=1_767_225_660.0,
                  source=ReportSource(Surface.AUDIT, hostname="bench"), results=tuple(results), findings=tuple(vulns))


def _time(render: Callable[[], str], runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        out = render()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    """Print the median render time and the size of each format."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from dockguard.report import dockerbench_json, junit, sarif

    report = big_report(args.containers, args.findings)
    details = sum(len(r.details) for r in report.results)
    print(f"report: {len(report.results)} checks, {details} details, {len(report.findings)} findings")
    for name, render in (("sarif", lambda: sarif.render(report)), ("junit", lambda: junit.render(report)),
                         ("docker-bench-json", lambda: dockerbench_json.render(report))):
        seconds, out = _time(render, args.runs)
        size = len(out.encode("utf-8"))
        extra = ""
        if name == "sarif":
            import json

            results = len(json.loads(out)["runs"][0]["results"])
            extra = f", gzip {len(gzip.compress(out.encode('utf-8'))) / 1e6:.1f} MB, {results} results"
        print(f"{name:18} {seconds:6.2f} s  {size / 1e6:5.1f} MB{extra}")


if __name__ == "__main__":
    main()
