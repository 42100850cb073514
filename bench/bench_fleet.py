"""Benchmark: ``dockguard fleet report`` over a store of N hosts (default 200), two audits each.

The audits are synthetic recorded facts (no daemon): each host runs 10 containers of 5 images
picked from 40, each image with 20 vulnerabilities out of 200, and fails 30 of 60 checks; its
second audit upgrades one image and fixes one check.  They are recorded through the same code
as ``audit --store`` (`dockguard.pipeline.fleet.record_audit`) into a fresh SQLite store, then
the real CLI runs as a subprocess (wall time, peak RSS from ``wait4``):

* ``fleet report`` as text, JSON, HTML and SARIF;
* ``fleet report --cve ID`` (where one vulnerability runs).

Prints the store size, the recording time per audit and each report's time and size.

Usage: ``python bench/bench_fleet.py [--hosts 200] [--store postgresql://…]``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from dockguard.model import (  # noqa: E402
    CheckMeta,
    CheckResult,
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
from dockguard.pipeline.fleet import FleetRecorder, record_audit  # noqa: E402
from dockguard.snapshot import ContainerFacts, DaemonFacts, ImageFacts, ImageScanSummary, Snapshot  # noqa: E402
from dockguard.store import parse_store_url  # noqa: E402

BIN = Path(sys.executable).parent
SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN)


def _meta(i: int) -> CheckMeta:
    return CheckMeta(f"9.{i}", f"synthetic check {i}", "9", 1, True, True, SEVERITIES[i % 5], "fix it")


def _image_findings(image: int, name: str, version: int) -> list[Finding]:
    rng = random.Random(image * 1000 + version)
    out = []
    for cve in rng.sample(range(200), 20):
        pkg = f"pkg{cve % 50}"
        out.append(Finding(
            id=f"CVE-2025-{cve:05d}", kind=FindingKind.VULNERABILITY, severity=SEVERITIES[cve % 5],
            title=f"{pkg}: synthetic flaw {cve}", obj=f"image:{name}",
            package=PackageRef(pkg, f"1.{version}", "deb", f"pkg:deb/debian/{pkg}@1.{version}",
                               "var/lib/dpkg/status", f"sha256:{image:04d}{'0' * 60}"),
            vulnerability=VulnerabilityInfo(VulnState.FIXED, f"1.{version}", "9.9")))
    return out


def _audit(host: int, second: bool, at: float) -> tuple[Report, FleetRecorder]:
    rng = random.Random(host)
    images = rng.sample(range(40), 5)
    names = {i: f"registry.example/app{i}:1" for i in images}
    ids = {i: f"sha256:{i:064d}" for i in images}
    version = {i: 1 + int(second and i == images[0]) for i in images}
    findings = [f for i in images for f in _image_findings(i, names[i], version[i])]
    failing = rng.sample(range(60), 30)[: 29 if second else 30]
    results = tuple(CheckResult(_meta(c), Outcome.WARN) for c in failing)
    snapshot = Snapshot(
        hostname=f"node-{host:04d}", daemon=DaemonFacts(id=f"DAEMON-{host:04d}", name=f"node-{host:04d}"),
        containers=tuple(ContainerFacts(id=f"c{host}-{k}", name=f"svc-{k}", image=names[images[k % 5]],
                                        image_id=ids[images[k % 5]]) for k in range(10)),
        images=tuple(ImageFacts(id=ids[i]) for i in images),
        image_scans=tuple(ImageScanSummary(image=names[i], image_id=ids[i]) for i in images))
    report = Report("bench", at - 5, at, ReportSource(Surface.AUDIT, docker_host="unix:///run/docker.sock"),
                    results=results, findings=tuple(findings))
    recorder = FleetRecorder()
    recorder.snapshot(snapshot)
    return report, recorder


def _run(args: list[str], out: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, bytes of stdout) of the real CLI."""
    start = time.perf_counter()
    with open(out, "wb") as sink:
        proc = subprocess.Popen([str(BIN / "dockguard"), *args], stdout=sink, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"dockguard {' '.join(args)} failed ({proc.returncode})")
    return seconds, usage.ru_maxrss / 1024, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--store", help="a store URL (default: a new SQLite file in a temp dir)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dg-bench-fleet-") as tmp:
        store = opts.store or str(Path(tmp) / "fleet.sqlite")
        url = parse_store_url(store)
        start = time.perf_counter()
        for host in range(opts.hosts):
            for second in (False, True):
                record_audit(url, *_audit(host, second, 1_800_000_000.0 + host + (3600 if second else 0)))
        recorded = time.perf_counter() - start
        audits = 2 * opts.hosts
        print(f"recorded {audits} audits of {opts.hosts} hosts in {recorded:.1f} s "
              f"({1000 * recorded / audits:.0f} ms per audit)")
        if url.path is not None:
            size = sum(p.stat().st_size for p in Path(tmp).glob("fleet.sqlite*"))
            print(f"store: {size / 1048576:.1f} MiB ({size / audits / 1024:.0f} KiB per audit)")
        for fmt in ("text", "json", "html", "sarif"):
            seconds, rss, size = _run(["fleet", "report", "--store", store, "--format", fmt], Path(tmp) / "out")
            print(f"fleet report --format {fmt:<5}: {seconds:6.2f} s, peak RSS {rss:6.1f} MiB, "
                  f"{size / 1048576:6.1f} MiB of output")
        seconds, rss, size = _run(["fleet", "report", "--store", store, "--cve", "CVE-2025-00007"],
                                   Path(tmp) / "out")
        print(f"fleet report --cve CVE-2025-00007: {seconds:6.2f} s, peak RSS {rss:6.1f} MiB, {size} bytes")


if __name__ == "__main__":
    main()
