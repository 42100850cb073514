"""Linux distributions: the OSV ecosystem that publishes each one's advisories, and end of life.

`os_ecosystems` maps a detected OS (os-release ``ID`` and ``VERSION_ID``, as `OSInfo` holds
them) to the ecosystem keys its packages are looked up under, in the form
`db.normalise_ecosystem` stores them:

========================  =====================================  ===============================
os-release ID             OSV ecosystem as published             looked up as
========================  =====================================  ===============================
debian                    ``Debian:12``                          ``Debian:12`` (``Debian:sid``)
ubuntu                    ``Ubuntu:22.04:LTS``,                  ``Ubuntu:22.04``,
                          ``Ubuntu:Pro:18.04:LTS``               ``Ubuntu:Pro:22.04``
alpine                    ``Alpine:v3.19``                       ``Alpine:v3.19``
rhel, centos              ``Red Hat:enterprise_linux:9::baseos`` ``Red Hat:9``
rocky                     ``Rocky Linux:9``                      ``Rocky Linux:9``
almalinux                 ``AlmaLinux:9``                        ``AlmaLinux:9``
sles, sled, sles_sap      ``SUSE:Linux Enterprise Server 15 SP5``
                          ``SUSE:Linux Enterprise Module for     ``SUSE:Linux Enterprise 15 SP5``
                          Basesystem 15 SP5``
sle-micro                 ``SUSE:Linux Enterprise Micro 5.5``    as published
opensuse-leap             ``openSUSE:Leap 15.5``                 as published
opensuse-tumbleweed       ``openSUSE:Tumbleweed``                as published
wolfi / chainguard        ``Wolfi`` / ``Chainguard``             as published
mageia                    ``Mageia:9``                           as published
azurelinux, mariner       ``Azure Linux:3``                      ``Azure Linux:3``
========================  =====================================  ===============================

Ubuntu Pro (ESM) fixes are looked up too: a release past its standard support gets its fixes
there only, and "fixed in <version> (Ubuntu Pro)" is the truth about such an image.  SUSE files
a package of SLE 15 under the *module* that ships it, so every ``Linux Enterprise`` product of
one service pack is one key.  CentOS rebuilds RHEL with the same package versions, so it is
matched against Red Hat's data (as Trivy and Grype do).

Distributions with no public OSV data (`NO_DATA`: Amazon Linux, Oracle Linux, Fedora, Photon
OS) give `NoData`; a scan reports "vulnerabilities not checked: no data for this
distribution", never a clean result.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dockguard.image.packages import OSInfo
from dockguard.vuln.ecosystems import NoData, NoDataReason, PackageType

D = dt.date


@dataclass(frozen=True)
class Distribution:
    """What dockguard knows about one os-release ``ID``."""

    name: str
    package_type: PackageType
    #: End of the vendor's (free) security support per release; empty for rolling releases.
    eol: Mapping[str, dt.date]
    rolling: bool = False


_DEBIAN = {"7": D(2018, 5, 31), "8": D(2020, 6, 30), "9": D(2022, 6, 30), "10": D(2024, 6, 30),
           "11": D(2026, 8, 31), "12": D(2028, 6, 30), "13": D(2030, 6, 30)}
_UBUNTU = {"14.04": D(2019, 4, 30), "16.04": D(2021, 4, 30), "18.04": D(2023, 5, 31), "20.04": D(2025, 5, 31),
           "22.04": D(2027, 6, 1), "24.04": D(2029, 5, 31), "22.10": D(2023, 7, 20), "23.04": D(2024, 1, 25),
           "23.10": D(2024, 7, 11), "24.10": D(2025, 7, 10), "25.04": D(2026, 1, 15), "25.10": D(2026, 7, 9),
           "26.04": D(2031, 5, 31)}
_ALPINE = {"3.12": D(2022, 5, 1), "3.13": D(2022, 11, 1), "3.14": D(2023, 5, 1), "3.15": D(2023, 11, 1),
           "3.16": D(2024, 5, 23), "3.17": D(2024, 11, 22), "3.18": D(2025, 5, 9), "3.19": D(2025, 11, 1),
           "3.20": D(2026, 4, 1), "3.21": D(2026, 11, 1), "3.22": D(2027, 5, 1), "3.23": D(2027, 11, 1)}
_RHEL = {"6": D(2020, 11, 30), "7": D(2024, 6, 30), "8": D(2029, 5, 31), "9": D(2032, 5, 31), "10": D(2035, 5, 31)}
_SLES = {"12.5": D(2024, 10, 31), "15": D(2019, 12, 31), "15.1": D(2021, 1, 31), "15.2": D(2021, 12, 31),
         "15.3": D(2022, 12, 31), "15.4": D(2023, 12, 31), "15.5": D(2024, 12, 31), "15.6": D(2025, 12, 31),
         "15.7": D(2031, 7, 31)}

DISTRIBUTIONS: dict[str, Distribution] = {
    "debian": Distribution("Debian", PackageType.DEB, _DEBIAN),
    "ubuntu": Distribution("Ubuntu", PackageType.DEB, _UBUNTU),
    "alpine": Distribution("Alpine Linux", PackageType.APK, _ALPINE),
    "rhel": Distribution("Red Hat Enterprise Linux", PackageType.RPM, _RHEL),
    "centos": Distribution("CentOS", PackageType.RPM,
                           {"6": D(2020, 11, 30), "7": D(2024, 6, 30), "8": D(2024, 5, 31), "9": D(2027, 5, 31)}),
    "rocky": Distribution("Rocky Linux", PackageType.RPM,
                          {"8": D(2029, 5, 31), "9": D(2032, 5, 31), "10": D(2035, 5, 31)}),
    "almalinux": Distribution("AlmaLinux", PackageType.RPM,
                              {"8": D(2029, 3, 1), "9": D(2032, 5, 31), "10": D(2035, 5, 31)}),
    "sles": Distribution("SUSE Linux Enterprise Server", PackageType.RPM, _SLES),
    "sled": Distribution("SUSE Linux Enterprise Desktop", PackageType.RPM, _SLES),
    "sles_sap": Distribution("SUSE Linux Enterprise Server for SAP", PackageType.RPM, _SLES),
    "sle-micro": Distribution("SUSE Linux Enterprise Micro", PackageType.RPM,
                              {"5.1": D(2022, 10, 31), "5.2": D(2023, 4, 30), "5.3": D(2023, 10, 31),
                               "5.4": D(2024, 4, 30), "5.5": D(2024, 10, 31)}),
    "opensuse-leap": Distribution("openSUSE Leap", PackageType.RPM,
                                  {"15.3": D(2022, 12, 31), "15.4": D(2023, 12, 31), "15.5": D(2024, 12, 31),
                                   "15.6": D(2026, 4, 30)}),
    "opensuse-leap-micro": Distribution("openSUSE Leap Micro", PackageType.RPM, {}),
    "opensuse-tumbleweed": Distribution("openSUSE Tumbleweed", PackageType.RPM, {}, rolling=True),
    "wolfi": Distribution("Wolfi", PackageType.APK, {}, rolling=True),
    "chainguard": Distribution("Chainguard", PackageType.APK, {}, rolling=True),
    "mageia": Distribution("Mageia", PackageType.RPM, {"8": D(2023, 9, 30)}),
    "azurelinux": Distribution("Azure Linux", PackageType.RPM, {}),
    "mariner": Distribution("CBL-Mariner", PackageType.RPM, {"1.0": D(2023, 7, 31), "2.0": D(2025, 7, 31)}),
    # No public OSV data: matched against nothing, reported as not checked.
    "amzn": Distribution("Amazon Linux", PackageType.RPM,
                         {"2018.03": D(2023, 12, 31), "2": D(2026, 6, 30), "2023": D(2029, 6, 30)}),
    "ol": Distribution("Oracle Linux", PackageType.RPM,
                       {"7": D(2024, 12, 31), "8": D(2029, 7, 31), "9": D(2032, 6, 30)}),
    "fedora": Distribution("Fedora", PackageType.RPM,
                           {"37": D(2023, 12, 5), "38": D(2024, 5, 21), "39": D(2024, 11, 26), "40": D(2025, 5, 13),
                            "41": D(2025, 12, 15), "42": D(2026, 5, 13)}),
    "photon": Distribution("Photon OS", PackageType.RPM, {"3.0": D(2024, 3, 1), "4.0": D(2026, 3, 1)}),
}

#: Distributions with no public OSV advisory data, and what there is instead.
NO_DATA: dict[str, str] = {
    "amzn": "Amazon publishes ALAS advisories, not OSV records",
    "ol": "Oracle publishes ELSA advisories (OVAL), not OSV records",
    "fedora": "Fedora publishes no OSV records",
    "photon": "OSV lists a Photon OS ecosystem but publishes no records for it",
}


def _major(version: str) -> str:
    return version.strip().split(".")[0]


def _suse(version: str) -> str:
    major, _, sp = version.strip().partition(".")
    return f"SUSE:Linux Enterprise {major}" + (f" SP{sp}" if sp and sp != "0" else "")


def _display(os_info: OSInfo) -> str:
    dist = DISTRIBUTIONS.get(os_info.family.lower())
    name = dist.name if dist else (os_info.pretty_name or os_info.family)
    return f"{name} {os_info.version}".strip()


def os_ecosystems(os_info: OSInfo | None, package_type: str) -> tuple[str, ...] | NoData:
    """The ecosystem keys an OS package of `package_type` is looked up under on `os_info`.

    `NoData` when there is nothing to look up: no OS detected, a distribution without public
    OSV data (`NO_DATA`) or one dockguard does not map, a release it cannot place, or a
    package type foreign to the distribution.
    """
    if os_info is None:
        return NoData(NoDataReason.NO_OS, f"{package_type} packages",
                      "OS packages are matched per distribution release")
    family = os_info.family.lower()
    version = os_info.version.strip()
    subject = _display(os_info)
    dist = DISTRIBUTIONS.get(family)
    if family in NO_DATA:
        return NoData(NoDataReason.DISTRIBUTION, subject, NO_DATA[family])
    if dist is None:
        return NoData(NoDataReason.UNMAPPED, subject, f"dockguard maps no advisory feed to os-release ID {family!r}")
    if package_type != dist.package_type:
        return NoData(NoDataReason.PACKAGE_TYPE, f"{package_type} packages on {subject}",
                      f"{dist.name} advisories cover {dist.package_type} packages")
    keys = _keys(family, version, os_info.unstable)
    if not keys:
        return NoData(NoDataReason.DISTRIBUTION, subject, "the release could not be determined")
    return keys


def _keys(family: str, version: str, unstable: bool) -> tuple[str, ...]:
    if family == "debian":
        return ("Debian:sid",) if unstable or not version else (f"Debian:{_major(version)}",)
    if family in ("wolfi", "chainguard"):
        return (family.capitalize(),)
    if family == "opensuse-tumbleweed":
        return ("openSUSE:Tumbleweed",)
    if not version:
        return ()
    if family == "ubuntu":
        return (f"Ubuntu:{version}", f"Ubuntu:Pro:{version}")
    if family == "alpine":
        if version.startswith("edge"):
            return ("Alpine:edge",)
        return (f"Alpine:v{'.'.join(version.lstrip('v').split('.')[:2])}",)
    if family in ("rhel", "centos"):
        return (f"Red Hat:{_major(version)}",)
    if family == "rocky":
        return (f"Rocky Linux:{_major(version)}",)
    if family == "almalinux":
        return (f"AlmaLinux:{_major(version)}",)
    if family in ("sles", "sled", "sles_sap"):
        return (_suse(version),)
    if family == "sle-micro":
        return (f"SUSE:Linux Enterprise Micro {version}",)
    if family == "opensuse-leap":
        return (f"openSUSE:Leap {version}",)
    if family == "opensuse-leap-micro":
        return (f"openSUSE:Leap Micro {version}",)
    if family == "mageia":
        return (f"Mageia:{_major(version)}",)
    if family in ("azurelinux", "mariner"):
        return (f"Azure Linux:{_major(version)}",)
    return ()


_ALPINE_BRANCH = re.compile(r"v?([0-9]{1,4})\.([0-9]{1,4})", re.ASCII)


def eol_date(family: str, version: str) -> dt.date | None:
    """End of security support of a release (None: rolling, unknown, or not in the table)."""
    dist = DISTRIBUTIONS.get(family.lower())
    if dist is None:
        return None
    version = version.strip()
    if family.lower() in ("rhel", "centos", "rocky", "almalinux", "ol", "debian"):
        version = _major(version)
    elif family.lower() == "alpine":
        m = _ALPINE_BRANCH.match(version)
        version = f"{m.group(1)}.{m.group(2)}" if m else version
    return dist.eol.get(version)


def is_eol(family: str, version: str, today: dt.date | None = None) -> bool | None:
    """True when the release is past its end of support, False when not, None when unknown.

    Rolling distributions never are; Alpine branches older than the table (before 3.12) are.
    """
    dist = DISTRIBUTIONS.get(family.lower())
    if dist is None:
        return None
    if dist.rolling:
        return False
    end = eol_date(family, version)
    if end is None:
        m = _ALPINE_BRANCH.match(version.strip()) if family.lower() == "alpine" else None
        if m and (int(m.group(1)), int(m.group(2))) < (3, 12):
            return True
        return None
    return (today or dt.date.today()) > end
