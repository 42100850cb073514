"""Benchmark: import the PyPA advisories plus synthetic records (~200k in all), then time matching.

Prints import time, database size and the median wall time of matching 200 packages
(Debian, Alpine, PyPI, npm, Go) over several runs.  Target: <= 50 ms per 200 packages.
Run: ``.venv/bin/python bench/bench_vuln.py [--records N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from dockguard.image.packages import OSInfo, Package
from dockguard.vuln import importers
from dockguard.vuln.database import Advisory, Affected, Import, VulnDB, write_imports
from dockguard.vuln.match import match_packages

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
ECOSYSTEMS = ("Debian:12", "Alpine:v3.19", "PyPI", "npm", "Go")


def _version(eco: str, rnd: random.Random) -> str:
    a, b, c = rnd.randint(0, 9), rnd.randint(0, 30), rnd.randint(0, 40)
    if eco.startswith("Debian"):
        return f"{a}.{b}.{c}-{rnd.randint(1, 9)}+deb12u{rnd.randint(1, 5)}"
    if eco.startswith("Alpine"):
        return f"{a}.{b}.{c}-r{rnd.randint(0, 9)}"
    if eco == "Go":
        return f"{a}.{b}.{c}"
    return f"{a}.{b}.{c}"


def synthetic(n: int, packages_per_eco: int, seed: int = 7) -> Iterator[Advisory]:
    """`n` OSV-like advisories over ECOSYSTEMS; a few packages get hundreds (like ``linux``)."""
    rnd = random.Random(seed)
    for i in range(n):
        eco = ECOSYSTEMS[i % len(ECOSYSTEMS)]
        pkg = f"pkg{int(packages_per_eco * rnd.random() ** 1.5)}"
        fixed = _version(eco, rnd)
        events = (("introduced", "0"), ("fixed", fixed))
        yield Advisory(
            id=f"SYN-{i}",
            upstream=(f"CVE-2099-{i}",),
            summary=f"synthetic advisory {i}",
            details="x" * 200,
            ratings=(("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),),
            references=(f"https://example.invalid/{i}",),
            modified="2024-01-01T00:00:00Z",
            affected=(Affected(eco, pkg, ranges=(("ECOSYSTEM", events),)),),
        )


def _packages(version: str, pypa_names: list[str]) -> list[Package]:
    """200 installed packages: 40 each of deb, apk, PyPI, npm and Go, all at `version`."""
    rnd = random.Random(1)
    pkgs: list[Package] = []
    for i in range(200):
        kind = i % 5
        if kind == 0:
            src = f"pkg{i * 13 % 3000}"
            pkgs.append(
                Package(
                    "deb",
                    f"lib{src}",
                    f"1:{version}-1",
                    source_name=src,
                    source_version=f"{version}-1",
                )
            )
        elif kind == 1:
            pkgs.append(Package("apk", f"pkg{i * 7 % 3000}", f"{version}-r0"))
        elif kind == 2:
            pkgs.append(Package("pypi", rnd.choice(pypa_names), version))
        elif kind == 3:
            pkgs.append(Package("npm", f"pkg{i * 11 % 3000}", version))
        else:
            pkgs.append(Package("golang", f"pkg{i * 5 % 3000}", f"v{version}"))
    return pkgs


def _time_matching(db: VulnDB, pkgs: list[Package], runs: int) -> tuple[list[float], int]:
    debian, alpine = OSInfo("debian", "12"), OSInfo("alpine", "3.19.1")
    times: list[float] = []
    found = 0
    for run in range(runs + 1):
        t = time.perf_counter()
        ms = match_packages(db, debian, [p for p in pkgs if p.type != "apk"])
        ms += match_packages(db, alpine, [p for p in pkgs if p.type == "apk"])
        if run:  # the first run warms SQLite's page cache
            times.append(time.perf_counter() - t)
        found = len(ms)
    return times, found


def main() -> int:
    """Run the benchmark and print figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "vuln.db"
        t0 = time.perf_counter()
        feeds = importers.load(REFERENCE / "osv-pypi")
        n_syn = max(args.records - 2651, 0)
        feeds.append(Import("synthetic", "osv", "bench", synthetic(n_syn, 3000)))
        written = write_imports(db_path, feeds)
        counts = [sum(r.records or 0 for r in written if r.key.source == s) for s in ("osv", "synthetic")]
        t_import = time.perf_counter() - t0
        size = db_path.stat().st_size / 1048576
        pypa_names = sorted({p.parent.name for p in (REFERENCE / "osv-pypi").rglob("*.yaml")})
        with VulnDB.open(db_path) as db:
            results = {
                label: _time_matching(db, _packages(version, pypa_names), args.runs)
                for label, version in (("typical", "7.20.30"), ("worst case", "0.0.1"))
            }
    print(f"records imported: {sum(counts)} ({counts[0]} PyPA + {counts[1]} synthetic)")
    print(f"import time:      {t_import:.1f} s, database {size:.1f} MiB")
    for label, (times, found) in results.items():
        med = statistics.median(times) * 1000
        print(
            f"match 200 packages, {label}: median {med:.1f} ms (min {min(times) * 1000:.1f}, "
            f"max {max(times) * 1000:.1f}, {args.runs} runs), {found} findings, "
            f"target <= 50 ms {'met' if med <= 50 else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
