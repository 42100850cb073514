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
    return audit_report(cis_results(containers), vulns)


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
