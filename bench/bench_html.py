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

from bench.synthetic_report import SEVERITIES, audit_report, cis_results  # noqa: E402

from dockguard.model import (  # noqa: E402
    Finding,
    FindingKind,
    PackageRef,
    Report,
    VulnerabilityInfo,
    VulnState,
)


def big_report(containers: int, findings: int) -> Report:
    """117 checks, per-container details on the runtime checks, `findings` vulnerabilities."""
    vulns = (
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
    return audit_report(cis_results(containers, daemon_details=16), vulns)


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
