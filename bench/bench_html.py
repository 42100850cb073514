"""Benchmark the HTML report on a large synthetic report.

Usage: python bench/bench_html.py [--containers 100] [--findings 5000] [--runs 3]

Builds 117 checks (the CIS catalogue's count), 58 of them (sections 4, 5 and part of 2) with
one detail per container (5,800 details), and `--findings` vulnerabilities spread over 20 images, then times
`report.html.render` in process (median of --runs) and prints the page size.  Prints figures;
asserts nothing (performance goals are read, not enforced by tests).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
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

# Checks per CIS section in the catalogue (117 in all).
SECTION_SIZES = {"1": 13, "2": 18, "3": 24, "4": 11, "5": 31, "6": 2, "7": 18}
OUTCOMES = (Outcome.PASS, Outcome.WARN, Outcome.WARN, Outcome.INFO, Outcome.NA, Outcome.NOTE)
SEVERITIES = tuple(Severity)


def big_report(containers: int, findings: int) -> Report:
    """117 checks, per-container details on the runtime checks, `findings` vulnerabilities."""
    results: list[CheckResult] = []
    names = [f"container:app-{i:03d}" for i in range(containers)]
    n = 0
    for section, size in SECTION_SIZES.items():
        for k in range(1, size + 1):
            cis = f"{section}.{k}"
            sev = SEVERITIES[n % 4]
            outcome = OUTCOMES[n % len(OUTCOMES)]
            details: tuple[Detail, ...] = ()
            if section in ("4", "5") or (section == "2" and k <= 16):
                details = tuple(
                    Detail(name, f"setting {k} of {name} is {'bad' if i % 3 else 'fine'}",
                           Outcome.WARN if i % 3 else Outcome.PASS, value=str(i))
                    for i, name in enumerate(names)
                )
                outcome = Outcome.WARN
            results.append(CheckResult(meta(cis, f"Ensure that check {cis} holds for every object", sev),
                                       outcome, details, reason=f"reason for {cis}"))
            n += 1
    vulns = tuple(
        Finding(
            id=f"CVE-2024-{i:05d}",
            kind=FindingKind.VULNERABILITY,
            severity=SEVERITIES[i % len(SEVERITIES)],
            title=f"package pkg{i % 300} has a flaw number {i}",
            obj=f"image:registry.example/app{i % 20}:1.{i % 7}",
            description="A description of the flaw, one sentence long.",
            references=(f"https://security-tracker.debian.org/tracker/CVE-2024-{i:05d}",),
            remediation=f"Upgrade pkg{i % 300} to 2.{i}.",
            path="/var/lib/dpkg/status",
            package=PackageRef(name=f"pkg{i % 300}", version=f"1.{i}", type="deb",
                               purl=f"pkg:deb/debian/pkg{i % 300}@1.{i}", path="/var/lib/dpkg/status"),
            vulnerability=VulnerabilityInfo(state=VulnState.FIXED if i % 2 else VulnState.AFFECTED,
                                            installed=f"1.{i}", fixed=f"2.{i}" if i % 2 else None),
        )
        for i in range(findings)
    )
    return Report(tool_version="0.1.0", started=1_767_225_600.0, finished=1_767_225_660.0,
                  source=ReportSource(Surface.AUDIT, hostname="bench"), results=tuple(results), findings=vulns)


def main() -> None:
    """Print the median render time and the page size."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from dockguard.report import html

    report = big_report(args.containers, args.findings)
    details = sum(len(r.details) for r in report.results)
    times = []
    page = ""
    for _ in range(args.runs):
        t0 = time.perf_counter()
        page = html.render(report)
        times.append(time.perf_counter() - t0)
    print(f"checks {len(report.results)}, details {details}, findings {len(report.findings)}")
    print(f"html render: median {statistics.median(times):.2f} s over {args.runs} runs "
          f"(min {min(times):.2f} s), {len(page.encode()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
