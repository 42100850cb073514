"""Benchmark ``dockguard diff`` and ``seccomp lint`` through the real CLI, in every format.

Usage: python bench/bench_diff.py [--containers 100] [--findings 5000] [--runs 3] [--cli PATH]

Writes two synthetic JSON reports (117 checks, per-container details on the runtime checks,
`--findings` vulnerabilities over 20 images; the later one with a tenth of the findings fixed
and as many new), then times ``dockguard diff OLD NEW --format F`` for each format and
``dockguard seccomp lint`` of Docker's default profile (median of --runs, wall clock of the
child, start-up included) and prints the output sizes.  `--cli` times another dockguard (an
older checkout) on the same files.  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.synthetic_report import SEVERITIES, audit_report, cis_results  # noqa: E402
from tests.conftest import REFERENCE  # noqa: E402

from dockguard.model import (  # noqa: E402
    Finding,
    FindingKind,
    Outcome,
    PackageRef,
    Report,
    VulnerabilityInfo,
    VulnState,
)
from dockguard.report import json as json_report  # noqa: E402


def _finding(i: int) -> Finding:
    pkg = f"pkg{i % 300}"
    return Finding(
        id=f"CVE-2024-{i:05d}", kind=FindingKind.VULNERABILITY, severity=SEVERITIES[i % len(SEVERITIES)],
        title=f"package {pkg} has a flaw number {i}", obj=f"image:registry.example/app{i % 20}:1.{i % 7}",
        description="A description of the flaw, one sentence long.",
        references=(f"https://security-tracker.debian.org/tracker/CVE-2024-{i:05d}",),
        remediation=f"Upgrade {pkg} to 2.{i}.", path="/var/lib/dpkg/status",
        package=PackageRef(pkg, f"1.{i}", "deb", purl=f"pkg:deb/debian/{pkg}@1.{i}"),
        vulnerability=VulnerabilityInfo(VulnState.FIXED if i % 2 else VulnState.AFFECTED, f"1.{i}",
                                        fixed=f"2.{i}" if i % 2 else None),
    )


def big_report(containers: int, findings: range) -> Report:
    """117 checks with per-container details on sections 2, 4 and 5, and the given findings."""
    return audit_report(cis_results(containers, daemon_details=16,
                                    outcomes=(Outcome.WARN, Outcome.PASS, Outcome.PASS)),
                        (_finding(i) for i in findings))


def _time(cmd: list[str], runs: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.decode()[:300]}")
        size = len(proc.stdout)
    return statistics.median(times), size


def main() -> None:
    """Print the median time and output size of each run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cli", default=str(Path(sys.executable).parent / "dockguard"))
    parser.add_argument("--formats", default="text,json,sarif,junit,html")
    args = parser.parse_args()
    tenth = args.findings // 10
    with tempfile.TemporaryDirectory() as tmp:
        old, new = Path(tmp, "old.json"), Path(tmp, "new.json")
        old_report = big_report(args.containers, range(args.findings))
        old.write_text(json_report.render(old_report))
        later = big_report(args.containers, range(tenth, args.findings + tenth))
        new.write_text(json_report.render(dataclasses.replace(later, started=1_767_830_400.0)))
        details = sum(len(r.details) for r in old_report.results)
        print(f"reports: {len(old_report.results)} checks, {details} details, {args.findings} findings; "
              f"{old.stat().st_size / 1e6:.1f} MB each; {tenth} fixed and {tenth} new findings")
        for fmt in args.formats.split(","):
            seconds, size = _time([args.cli, "diff", str(old), str(new), "--format", fmt], args.runs)
            print(f"  diff --format {fmt:<6} {seconds:6.2f} s  {size / 1e6:6.2f} MB")
        profile = str(REFERENCE / "seccomp" / "labs-default.json")
        for fmt in args.formats.split(","):
            seconds, size = _time([args.cli, "seccomp", "lint", profile, "--format", fmt], args.runs)
            print(f"  seccomp lint --format {fmt:<6} {seconds:6.2f} s  {size / 1e3:6.1f} kB")


if __name__ == "__main__":
    main()
