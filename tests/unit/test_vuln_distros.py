"""OS families and language ecosystems matched through records in the shapes OSV publishes.

Each record below is written in the exact form its publisher exports to OSV (ecosystem
strings, purls, ``ecosystem_specific``, id schemes), with the affected ranges and fixed
versions of the real advisory it is named after.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from dockguard.image.packages import OSInfo, Package
from dockguard.model import Severity, VulnState
from dockguard.vuln import distros, importers
from dockguard.vuln.database import VulnDB, write_imports
from dockguard.vuln.ecosystems import NoDataReason, PackageType, Runtime
from dockguard.vuln.match import check_packages, coverage, match_packages

CVSS_10 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"


def _affected(eco: str, name: str, fixed: str, purl: str = "", introduced: str = "0", **extra: Any) -> dict[str, Any]:
    pkg = {"ecosystem": eco, "name": name, **({"purl": purl} if purl else {})}
    events = [{"introduced": introduced}, {"fixed": fixed}]
    return {"package": pkg, "ranges": [{"type": "ECOSYSTEM", "events": events}], **extra}


def _record(rid: str, affected: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"schema_version": "1.6.0", "id": rid, "modified": "2024-05-01T10:00:00Z",
            "published": "2024-04-30T10:00:00Z", "affected": affected, **extra}


RECORDS = [
    # Ubuntu (ubuntu-security-notices): LTS releases carry ":LTS"; Pro (ESM) fixes ":Pro:".
    _record("UBUNTU-CVE-2023-5678", [
        _affected("Ubuntu:22.04:LTS", "openssl", "3.0.2-0ubuntu1.12",
                  "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.12?arch=source&distro=jammy",
                  ecosystem_specific={"ubuntu_priority": "low", "binaries": [
                      {"binary_name": "libssl3", "binary_version": "3.0.2-0ubuntu1.12"}]}),
        _affected("Ubuntu:Pro:18.04:LTS", "openssl1.0", "1.0.2n-1ubuntu5.13+esm1",
                  "pkg:deb/ubuntu/openssl1.0@1.0.2n-1ubuntu5.13+esm1?arch=source&distro=esm-infra/bionic",
                  ecosystem_specific={"availability": "Available with Ubuntu Pro: https://ubuntu.com/pro"}),
    ], upstream=["CVE-2023-5678"]),
    # Red Hat (CSAF to OSV): the ecosystem is the product stream's CPE; versions carry the epoch.
    _record("RHSA-2024:2447", [
        _affected("Red Hat:enterprise_linux:9::baseos", "openssl", "1:3.0.7-27.el9",
                  "pkg:rpm/redhat/openssl@3.0.7-27.el9?arch=src&epoch=1"),
        _affected("Red Hat:rhel_eus:9.2::baseos", "openssl", "1:3.0.7-18.el9_2.2",
                  "pkg:rpm/redhat/openssl@3.0.7-18.el9_2.2?arch=src&epoch=1"),
    ], upstream=["CVE-2023-5678"], summary="Moderate: openssl security and bug fix update",
        database_specific={"severity": "Moderate"}),
    _record("RLSA-2024:2447", [_affected("Rocky Linux:9", "openssl", "1:3.0.7-27.el9",
                                         "pkg:rpm/rocky-linux/openssl?distro=rocky-linux-9&epoch=1")],
            aliases=["CVE-2023-5678"]),
    _record("ALSA-2024:2447", [_affected("AlmaLinux:9", "openssl", "1:3.0.7-27.el9")], aliases=["CVE-2023-5678"]),
    # SUSE files SLE 15 packages under the module that ships them.
    _record("SUSE-SU-2024:0131-1", [
        _affected("SUSE:Linux Enterprise Module for Basesystem 15 SP5", "openssl-3", "3.0.8-150500.5.20.1",
                  "pkg:rpm/suse/openssl-3&distro=SUSE%20Linux%20Enterprise%20Module%20for%20Basesystem%2015%20SP5",
                  ecosystem_specific={"binaries": [{"libopenssl3": "3.0.8-150500.5.20.1"}]}),
        _affected("SUSE:Linux Enterprise Micro 5.5", "openssl-3", "3.0.8-150500.5.20.1"),
    ], related=["CVE-2023-5678"]),
    _record("openSUSE-SU-2024:13543-1", [
        _affected("openSUSE:Tumbleweed", "openssl-3", "3.1.4-2.1",
                  "pkg:rpm/opensuse/openssl-3&distro=opensuse-tumbleweed"),
    ], related=["CVE-2023-5678"]),
    _record("openSUSE-SU-2024:0131-1", [
        _affected("openSUSE:Leap 15.5", "openssl-3", "3.0.8-150500.5.20.1",
                  "pkg:rpm/opensuse/openssl-3&distro=openSUSE%20Leap%2015.5"),
    ], related=["CVE-2023-5678"]),
    # Wolfi and Chainguard: one release, apk versions.
    _record("CGA-3xp4-hq8m-7f4c", [_affected("Wolfi", "openssl", "3.1.4-r1")], aliases=["CVE-2023-5678"]),
    _record("CGA-9q2v-wx5h-m7pp", [_affected("Chainguard", "openssl", "3.1.4-r2")], aliases=["CVE-2023-5678"]),
    # Language ecosystems (GitHub advisories as OSV exports them).
    _record("GHSA-jfh8-c2jp-5v3q", [{
        "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core",
                    "purl": "pkg:maven/org.apache.logging.log4j/log4j-core"},
        "ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "2.0-beta9"}, {"fixed": "2.3.1"}, {"introduced": "2.4"}, {"fixed": "2.12.2"},
            {"introduced": "2.13.0"}, {"fixed": "2.15.0"}]}],
    }], aliases=["CVE-2021-44228"], severity=[{"type": "CVSS_V3", "score": CVSS_10}],
        database_specific={"severity": "CRITICAL"}, summary="Remote code injection in Log4j"),
    _record("GHSA-5crp-9r3c-p9vr", [_affected("NuGet", "Newtonsoft.Json", "13.0.1")], aliases=["CVE-2024-21907"]),
    _record("GHSA-qm58-cvvm-c5qr", [_affected("Packagist", "symfony/http-kernel", "4.4.50", introduced="2.0.0")],
            aliases=["CVE-2022-24894"]),
    _record("GHSA-wh98-p28r-vrc9", [_affected("RubyGems", "actionpack", "7.0.8.1", introduced="7.0.0")],
            aliases=["CVE-2024-26143"]),
    _record("RUSTSEC-2023-0044", [{
        "package": {"ecosystem": "crates.io", "name": "openssl", "purl": "pkg:cargo/openssl"},
        "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.10.8"}, {"fixed": "0.10.55"}]}],
    }], aliases=["GHSA-xcf7-rvmh-g6q4"]),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("distros")
    src = root / "osv"
    src.mkdir()
    for r in RECORDS:
        (src / f"{r['id'].replace(':', '_')}.json").write_text(json.dumps(r))
    write_imports(root / "v.db", importers.load(src))
    with VulnDB.open(root / "v.db") as handle:
        yield handle


def _found(db: VulnDB, pkg: Package, os_info: OSInfo | None) -> dict[str, tuple[VulnState, str | None]]:
    return {m.id: (m.state, m.fixed_version) for m in match_packages(db, os_info, [pkg])}


def _rpm(name: str, version: str, source: str) -> Package:
    return Package("rpm", name, version, source_name=source, source_version=version)


@pytest.mark.parametrize(
    ("os_info", "pkg", "fixed", "patched"),
    [
        (OSInfo("ubuntu", "22.04"), Package("deb", "libssl3", "3.0.2-0ubuntu1.10", source_name="openssl",
                                             source_version="3.0.2-0ubuntu1.10"),
         "3.0.2-0ubuntu1.12", "3.0.2-0ubuntu1.12"),
        (OSInfo("ubuntu", "18.04"), Package("deb", "libssl1.0.0", "1.0.2n-1ubuntu5.13", source_name="openssl1.0",
                                             source_version="1.0.2n-1ubuntu5.13"), "1.0.2n-1ubuntu5.13+esm1",
         "1.0.2n-1ubuntu5.13+esm1"),
        (OSInfo("rhel", "9"), _rpm("openssl-libs", "1:3.0.7-24.el9", "openssl"), "1:3.0.7-27.el9", "1:3.0.7-27.el9"),
        (OSInfo("centos", "9"), _rpm("openssl-libs", "1:3.0.7-24.el9", "openssl"), "1:3.0.7-27.el9", "1:3.0.7-28.el9"),
        (OSInfo("rocky", "9.3"), _rpm("openssl-libs", "1:3.0.7-24.el9", "openssl"), "1:3.0.7-27.el9", "1:3.0.7-27.el9"),
        (OSInfo("almalinux", "9.3"), _rpm("openssl", "1:3.0.7-24.el9", "openssl"), "1:3.0.7-27.el9", "1:3.0.7-27.el9"),
        (OSInfo("sles", "15.5", pretty_name="SUSE Linux Enterprise Server 15 SP5"),
         _rpm("libopenssl3", "3.0.8-150500.5.8.1", "openssl-3"), "3.0.8-150500.5.20.1", "3.0.8-150500.5.20.1"),
        (OSInfo("sle-micro", "5.5"), _rpm("libopenssl3", "3.0.8-150500.5.8.1", "openssl-3"), "3.0.8-150500.5.20.1",
         "3.0.8-150500.5.20.1"),
        (OSInfo("opensuse-leap", "15.5"), _rpm("libopenssl3", "3.0.8-150500.5.8.1", "openssl-3"),
         "3.0.8-150500.5.20.1", "3.0.8-150500.5.20.1"),
        (OSInfo("opensuse-tumbleweed", "20240101"), _rpm("libopenssl3", "3.1.4-1.1", "openssl-3"), "3.1.4-2.1",
         "3.1.4-2.1"),
        (OSInfo("wolfi", "20230201"), Package("apk", "libcrypto3", "3.1.4-r0", source_name="openssl",
                                              source_version="3.1.4-r0"), "3.1.4-r1", "3.1.4-r1"),
        (OSInfo("chainguard", "20230214"), Package("apk", "libssl3", "3.1.4-r1", source_name="openssl",
                                                   source_version="3.1.4-r1"), "3.1.4-r2", "3.1.4-r2"),
    ],
)
def test_os_families_match_their_published_records(db: VulnDB, os_info: OSInfo, pkg: Package, fixed: str,
                                                    patched: str) -> None:
    found = _found(db, pkg, os_info)
    assert found == {"CVE-2023-5678": (VulnState.FIXED, fixed)}
    names = (pkg.name, pkg.source_name)
    assert _found(db, Package(pkg.type, *names[:1], patched, source_name=pkg.source_name,
                              source_version=patched), os_info) == {}


def test_releases_and_streams_stay_apart(db: VulnDB) -> None:
    libssl = Package("deb", "libssl3", "3.0.2-0ubuntu1.10", source_name="openssl", source_version="3.0.2-0ubuntu1.10")
    assert _found(db, libssl, OSInfo("ubuntu", "24.04")) == {}
    # RHEL 8 and the 9.2 EUS stream are other product streams than enterprise_linux:9.
    assert _found(db, _rpm("openssl", "1:3.0.7-24.el9", "openssl"), OSInfo("rhel", "8")) == {}
    # SLE Micro is its own product; SLES 15 SP4 another service pack.
    assert _found(db, _rpm("libopenssl3", "3.0.8-1", "openssl-3"), OSInfo("sles", "15.4")) == {}
    # Wolfi data does not apply to Chainguard images and the other way round.
    wolfi_fixed = Package("apk", "libssl3", "3.1.4-r1", source_name="openssl", source_version="3.1.4-r1")
    assert _found(db, wolfi_fixed, OSInfo("wolfi", "")) == {}
    assert _found(db, wolfi_fixed, OSInfo("chainguard", ""))["CVE-2023-5678"] == (VulnState.FIXED, "3.1.4-r2")


def test_language_ecosystems(db: VulnDB) -> None:
    log4j = Package("maven", "org.apache.logging.log4j:log4j-core", "2.14.1")
    [m] = match_packages(db, None, [log4j])
    assert (m.id, m.severity, m.fixed_version, m.aliases) == ("CVE-2021-44228", Severity.CRITICAL, "2.15.0",
                                                              ("GHSA-jfh8-c2jp-5v3q",))
    for safe in ("2.15.0", "2.12.2", "2.3.1", "2.0-beta8", "1.2.17"):
        assert match_packages(db, None, [Package("maven", log4j.name, safe)]) == [], safe
    assert _found(db, Package("maven", log4j.name, "2.0-rc1"), None)["CVE-2021-44228"][1] == "2.3.1"
    # NuGet ids and Composer names are case-free.
    assert _found(db, Package("nuget", "newtonsoft.json", "12.0.3"), None) == {"CVE-2024-21907": (VulnState.FIXED,
                                                                                                   "13.0.1")}
    assert _found(db, Package("nuget", "Newtonsoft.Json", "13.0.1"), None) == {}
    assert _found(db, Package("composer", "Symfony/HTTP-Kernel", "v4.4.49"), None) == {
        "CVE-2022-24894": (VulnState.FIXED, "4.4.50")}
    assert _found(db, Package("gem", "actionpack", "7.0.8"), None)["CVE-2024-26143"] == (VulnState.FIXED, "7.0.8.1")
    assert _found(db, Package("gem", "actionpack", "7.0.8.1"), None) == {}
    assert _found(db, Package("gem", "actionpack", "7.0.0.rc1"), None) == {}  # a pre-release of 7.0.0 is below it
    # No CVE: the GHSA id is preferred over the RustSec one it aliases.
    assert _found(db, Package("cargo", "openssl", "0.10.54"), None) == {"GHSA-xcf7-rvmh-g6q4": (VulnState.FIXED,
                                                                                                "0.10.55")}
    assert _found(db, Package("cargo", "openssl", "0.10.55-alpha.1"), None) != {}


def test_what_cannot_be_checked_is_reported_not_clean(db: VulnDB) -> None:
    amzn = OSInfo("amzn", "2")
    packages = [
        _rpm("openssl-libs", "1:1.0.2k-24.amzn2.0.6", "openssl"),
        _rpm("glibc", "2.26-63.amzn2", "glibc"),
        Package("conda", "numpy", "1.26.4"),
        Package(PackageType.GENERIC, Runtime.PYTHON, "3.12.1"),
        Package(PackageType.GENERIC, Runtime.NODE, "20.11.0"),
        Package("pypi", "requests", "2.31.0"),  # PyPI: no feed in this database
        Package("maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
    ]
    result = check_packages(db, amzn, packages)
    assert [m.id for m in result.matches] == ["CVE-2021-44228"]
    reasons = {(n.why.reason, n.why.subject): len(n.packages) for n in result.not_checked}
    assert reasons == {
        (NoDataReason.DISTRIBUTION, "Amazon Linux 2"): 2,
        (NoDataReason.PACKAGE_TYPE, "conda"): 1,
        (NoDataReason.RUNTIME, "python 3.12.1"): 1,
        (NoDataReason.RUNTIME, "node 20.11.0"): 1,
        (NoDataReason.NOT_LOADED, "PyPI"): 1,
    }
    amzn_msg = next(n for n in result.not_checked if n.why.reason is NoDataReason.DISTRIBUTION).message()
    assert amzn_msg.startswith("vulnerabilities not checked: no data for this distribution (Amazon Linux 2)")
    assert amzn_msg.endswith("(2 packages)")
    for family in ("ol", "fedora", "photon"):
        why = check_packages(db, OSInfo(family, "9"), packages[:1]).not_checked[0].why
        assert why.reason is NoDataReason.DISTRIBUTION
    unknown = check_packages(db, OSInfo("plan9", "4"), packages[:1]).not_checked[0].why
    assert unknown.reason is NoDataReason.UNMAPPED and "plan9" in unknown.detail
    assert coverage(Package("deb", "a", "1"), None).reason is NoDataReason.NO_OS  # type: ignore[union-attr]
    # An rpm database inside a Debian image is not Debian's to answer for.
    assert coverage(_rpm("a", "1", "a"), OSInfo("debian", "12")).reason is NoDataReason.PACKAGE_TYPE  # type: ignore[union-attr]


def test_os_ecosystem_strings() -> None:
    def keys(family: str, version: str, **kw: Any) -> Any:
        return distros.os_ecosystems(OSInfo(family, version, **kw), distros.DISTRIBUTIONS[family].package_type)

    assert keys("ubuntu", "20.04") == ("Ubuntu:20.04", "Ubuntu:Pro:20.04")
    assert keys("rhel", "9.4") == ("Red Hat:9",)
    assert keys("sles", "15.5") == ("SUSE:Linux Enterprise 15 SP5",)
    assert keys("sles", "15") == ("SUSE:Linux Enterprise 15",)
    assert keys("opensuse-leap", "15.6") == ("openSUSE:Leap 15.6",)
    assert keys("opensuse-leap-micro", "5.5") == ("openSUSE:Leap Micro 5.5",)
    assert keys("mageia", "9") == ("Mageia:9",)
    assert keys("azurelinux", "3.0") == ("Azure Linux:3",)
    assert keys("debian", "", unstable=True) == ("Debian:sid",)
    assert keys("alpine", "3.19.1") == ("Alpine:v3.19",)
    assert keys("alpine", "edge") == ("Alpine:edge",)
    assert keys("rocky", "").reason is NoDataReason.DISTRIBUTION


def test_end_of_life_table() -> None:
    day = dt.date(2026, 12, 2)
    assert distros.is_eol("debian", "10", day) is True
    assert distros.is_eol("debian", "12", day) is False
    assert distros.is_eol("ubuntu", "18.04", day) is True
    assert distros.is_eol("alpine", "3.9", day) is True  # older than the table
    assert distros.is_eol("alpine", "v3.22.1", day) is False
    assert distros.is_eol("rhel", "7.9", day) is True
    assert distros.is_eol("rocky", "9.3", day) is False
    assert distros.is_eol("centos", "8", day) is True
    assert distros.is_eol("amzn", "2", day) is True
    assert distros.is_eol("amzn", "2023", day) is False
    assert distros.is_eol("sles", "15.5", day) is True
    assert distros.is_eol("opensuse-leap", "15.6", day) is True
    assert distros.is_eol("wolfi", "", day) is False  # rolling
    assert distros.is_eol("opensuse-tumbleweed", "20240101", day) is False
    assert distros.is_eol("debian", "99", day) is None
    assert distros.is_eol("plan9", "4", day) is None
    assert distros.eol_date("ubuntu", "22.04") == dt.date(2027, 6, 1)
    assert distros.is_eol("alpine", "1" + "9" * 5000 + ".1", day) is None  # no int() on hostile text
