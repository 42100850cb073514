"""OSV semantics, states, merging, noise rules and severity, on databases built in the test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from dockguard.errors import OperationalError
from dockguard.image.packages import OSInfo, Package
from dockguard.model import Severity
from dockguard.vuln import importers
from dockguard.vuln.database import VulnDB, default_db_path, write_imports
from dockguard.vuln.match import MatchOptions, ecosystems_for, match_packages
from dockguard.vuln.severity import assess

CVSS_98 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _db(tmp_path: Path, records: list[dict[str, object]]) -> VulnDB:
    src = tmp_path / "osv"
    src.mkdir(exist_ok=True)
    for r in records:
        (src / f"{r['id']}.json").write_text(json.dumps(r))
    write_imports(tmp_path / "v.db", importers.load(src))
    return VulnDB.open(tmp_path / "v.db")


def _rec(
    rid: str,
    eco: str,
    name: str,
    ranges: Sequence[tuple[str, list[dict[str, str]]]] = (),
    versions: Sequence[str] = (),
    **extra: object,
) -> dict[str, object]:
    return {
        "id": rid,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name},
                "ranges": [{"type": t, "events": ev} for t, ev in ranges],
                "versions": list(versions),
            }
        ],
        **extra,
    }


def _ids(db: VulnDB, pkg: Package, os_info: OSInfo | None = None, **opts) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {m.id: m.fixed_version for m in match_packages(db, os_info, [pkg], MatchOptions(**opts))}


def test_range_events(tmp_path: Path) -> None:
    db = _db(
        tmp_path,
        [
            _rec("A-1", "PyPI", "pkg", [("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "1.5"}])]),
            _rec(
                "A-2",
                "PyPI",
                "pkg",
                [("ECOSYSTEM", [{"introduced": "1.0"}, {"last_affected": "1.2"}])],
            ),
            _rec(
                "A-3",
                "PyPI",
                "pkg",
                [
                    ("ECOSYSTEM", [{"introduced": "1.0"}, {"fixed": "1.1"}]),
                    ("ECOSYSTEM", [{"introduced": "2.0"}, {"fixed": "2.3"}]),
                ],
            ),
            _rec("A-4", "PyPI", "pkg", [("ECOSYSTEM", [{"introduced": "1.4"}, {"limit": "1.6"}])]),
            _rec("A-5", "PyPI", "pkg", versions=["1.4.1"]),
            _rec("A-6", "npm", "pkg", [("SEMVER", [{"introduced": "0"}, {"fixed": "1.0.0"}])]),
            _rec(
                "A-7",
                "PyPI",
                "pkg",
                [("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "9"}])],
                withdrawn="2024-02-01T00:00:00Z",
            ),
        ],
    )
    def pypi(v: str) -> dict[str, str | None]:
        return _ids(db, Package("pypi", "PKG", v))  # PEP 503 name folding
    assert pypi("0.9") == {"A-1": "1.5"}
    assert pypi("1.0") == {"A-1": "1.5", "A-2": None, "A-3": "1.1"}
    assert pypi("1.2") == {"A-1": "1.5", "A-2": None}
    assert pypi("1.2.1") == {"A-1": "1.5"}  # beyond last_affected
    assert pypi("1.4.1") == {"A-1": "1.5", "A-4": None, "A-5": None}
    assert pypi("1.5") == {"A-4": None}
    assert pypi("1.6") == {}  # at the limit
    assert pypi("2.2") == {"A-3": "2.3"}
    assert pypi("2.3") == {}
    assert pypi("1.0rc1") == {"A-1": "1.5"}  # PEP 440: a pre-release sorts before 1.0
    assert _ids(db, Package("npm", "pkg", "0.9.9")) == {"A-6": "1.0.0"}
    assert _ids(db, Package("npm", "pkg", "1.0.0")) == {}


def test_aliases_merge_into_one_cve_finding(tmp_path: Path) -> None:
    rng = [("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "2.0"}])]
    db = _db(
        tmp_path,
        [
            _rec("PYSEC-1", "PyPI", "p", rng, aliases=["CVE-2020-1", "GHSA-aaaa-bbbb-cccc"]),
            _rec(
                "GHSA-aaaa-bbbb-cccc",
                "PyPI",
                "p",
                [("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "2.1"}])],
                aliases=["PYSEC-1"],
                severity=[{"type": "CVSS_V3", "score": CVSS_98}],
            ),
            _rec("PYSEC-2", "PyPI", "p", rng, aliases=["GHSA-dddd-eeee-ffff"]),
        ],
    )
    ms = match_packages(db, None, [Package("pypi", "p", "1.0")])
    assert [m.id for m in ms] == ["CVE-2020-1", "GHSA-dddd-eeee-ffff"]
    cve = ms[0]
    assert cve.aliases == ("GHSA-aaaa-bbbb-cccc", "PYSEC-1")
    assert cve.fixed_version == "2.1"  # the later fix of the two feeds
    assert cve.severity is Severity.CRITICAL
    assert cve.severity_sources["cvss_v3.1"].startswith("9.8 ")
    assert "https://github.com/advisories/GHSA-aaaa-bbbb-cccc" in cve.references
    assert "https://osv.dev/vulnerability/PYSEC-1" in cve.references
    assert ms[1].aliases == ("PYSEC-2",)


def test_distro_records_use_source_package_and_ecosystem(tmp_path: Path) -> None:
    rng = [("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "2.38.1-5+deb12u1"}])]
    db = _db(
        tmp_path,
        [
            _rec("DSA-1-1", "Debian:12", "util-linux", rng, upstream=["CVE-2024-1"]),
            _rec("USN-1-1", "Ubuntu:22.04:LTS", "util-linux", rng, upstream=["CVE-2024-2"]),
        ],
    )
    pkg = Package("deb", "bsdutils", "1:2.38.1-5", source_name="util-linux", source_version="2.38.1-5")
    assert _ids(db, pkg, OSInfo("debian", "12")) == {"CVE-2024-1": "2.38.1-5+deb12u1"}
    assert _ids(db, pkg, OSInfo("debian", "11")) == {}
    assert _ids(db, pkg, OSInfo("ubuntu", "22.04")) == {"CVE-2024-2": "2.38.1-5+deb12u1"}
    assert _ids(db, pkg, None) == {}


def test_ecosystem_mapping() -> None:
    deb = Package("deb", "a", "1")
    assert ecosystems_for(deb, OSInfo("debian", "12")) == ("Debian:12",)
    assert ecosystems_for(deb, OSInfo("ubuntu", "22.04")) == ("Ubuntu:22.04", "Ubuntu:Pro:22.04")
    assert ecosystems_for(Package("apk", "a", "1"), OSInfo("alpine", "3.19.1")) == ("Alpine:v3.19",)
    assert ecosystems_for(Package("rpm", "a", "1"), OSInfo("rocky", "9.3")) == ("Rocky Linux:9",)
    assert ecosystems_for(Package("golang", "a", "v1"), None) == ("Go",)


def test_noise_rules(tmp_path: Path) -> None:
    rng = [("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "9"}])]
    db = _db(
        tmp_path,
        [
            _rec("CVE-2024-9", "Debian:12", "linux", rng),
            _rec("CVE-2024-8", "PyPI", "pyyaml", rng),
        ],
    )
    deb12 = OSInfo("debian", "12")
    libc_dev = Package("deb", "linux-libc-dev", "6.1", source_name="linux", source_version="6.1")
    assert _ids(db, libc_dev, deb12) == {}
    assert _ids(db, libc_dev, deb12, kernel_noise=False) == {"CVE-2024-9": "9"}
    owned = Package("pypi", "PyYAML", "6.0", os_owned=True)
    assert _ids(db, owned) == {}
    assert _ids(db, owned, os_owned_noise=False) == {"CVE-2024-8": "9"}


def test_severity_vendor_first_then_cvss() -> None:
    assert assess([("debian", "unimportant"), ("CVSS_V3", CVSS_98)])[0] is Severity.NEGLIGIBLE
    assert assess([("ubuntu", "medium")])[0] is Severity.MEDIUM
    assert assess([("redhat", "important")])[0] is Severity.HIGH
    assert assess([("debian", "not yet assigned"), ("CVSS_V3", CVSS_98)])[0] is Severity.CRITICAL
    v31 = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:L/A:N"
    v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    sev, sources = assess([("CVSS_V3", v31), ("CVSS_V4", v4)])
    assert sev is Severity.CRITICAL  # v4 preferred over v3.1
    assert set(sources) == {"cvss_v3.1", "cvss_v4.0"}
    assert assess([("CVSS_V3", v31)])[0] is Severity.LOW
    assert assess([("ghsa", "MODERATE")])[0] is Severity.MEDIUM
    assert assess([])[0] is Severity.UNKNOWN


def test_missing_and_bad_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKGUARD_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    with pytest.raises(OperationalError, match="dockguard db update"):
        VulnDB.open()
    (tmp_path / "x.db").write_text("not sqlite")
    with pytest.raises(OperationalError, match="not a dockguard vulnerability database"):
        VulnDB.open()
