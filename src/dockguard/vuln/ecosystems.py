"""Package types, the advisory ecosystems they are matched in, and the typed "no data" answer.

`PackageType` is the one list of ``Package.type`` values (purl types) that matching knows;
cataloguers set them, `match` reads them.  A package whose vulnerabilities cannot be looked up
(a conda package, a language runtime built from source, an OS package of a distribution
without public advisory data) is never reported clean: `NoData` says why it was not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PackageType(StrEnum):
    """``Package.type``: the purl type of a package as the cataloguers report it."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    GOLANG = "golang"
    #: ``name`` is ``groupId:artifactId`` (the OSV Maven name).
    MAVEN = "maven"
    GEM = "gem"
    #: ``name`` is ``vendor/package``.
    COMPOSER = "composer"
    CARGO = "cargo"
    NUGET = "nuget"
    CONDA = "conda"
    HEX = "hex"
    PUB = "pub"
    #: A language runtime built from source (``pkg:generic/python@3.12.1``): ``name`` is a `Runtime`.
    GENERIC = "generic"


class Runtime(StrEnum):
    """``Package.name`` of a `PackageType.GENERIC` runtime that official images build from source."""

    PYTHON = "python"
    NODE = "node"
    OPENJDK = "openjdk"


#: OS package types: matched in the ecosystem of the image's distribution (`distros`).
OS_PACKAGE_TYPES = frozenset({PackageType.DEB, PackageType.APK, PackageType.RPM})

#: Language package types and the OSV ecosystem that publishes their advisories.
LANGUAGE_ECOSYSTEMS: dict[str, str] = {
    PackageType.PYPI: "PyPI",
    PackageType.NPM: "npm",
    PackageType.GOLANG: "Go",
    PackageType.CARGO: "crates.io",
    PackageType.GEM: "RubyGems",
    PackageType.MAVEN: "Maven",
    PackageType.COMPOSER: "Packagist",
    PackageType.NUGET: "NuGet",
    PackageType.HEX: "Hex",
    PackageType.PUB: "Pub",
}

#: Package types nobody publishes OSV advisories for, and why.
UNPUBLISHED: dict[str, str] = {
    PackageType.CONDA: "OSV has no conda ecosystem (conda packages are not PyPI packages: names and builds differ)",
}

#: Runtimes built from source: their own CVEs are published against the project (NVD CPEs,
#: the project's security pages), not in any OSV ecosystem; distribution advisories cover only
#: the distribution's builds of them.
RUNTIME_SOURCES: dict[str, str] = {
    Runtime.PYTHON: "CPython",
    Runtime.NODE: "Node.js",
    Runtime.OPENJDK: "OpenJDK",
}


class NoDataReason(StrEnum):
    """Why a package's vulnerabilities were not checked (values are the report's words)."""

    DISTRIBUTION = "no data for this distribution"
    UNMAPPED = "no advisory data known for this distribution"
    PACKAGE_TYPE = "no data for this package type"
    RUNTIME = "no data for language runtimes built from source"
    NOT_LOADED = "the vulnerability database holds no data for this ecosystem"
    NO_OS = "the operating system was not detected"


@dataclass(frozen=True)
class NoData:
    """The typed answer "not checked": the reason, what it is about, and a sentence of detail."""

    reason: NoDataReason
    subject: str
    detail: str = ""

    def message(self) -> str:
        """``vulnerabilities not checked: no data for this distribution (Amazon Linux 2): ...``."""
        text = f"vulnerabilities not checked: {self.reason.value} ({self.subject})"
        return f"{text}: {self.detail}" if self.detail else text


def language_coverage(pkg_type: str, name: str, version: str = "") -> str | NoData | None:
    """The OSV ecosystem of a non-OS package, `NoData` when nobody publishes one, None: not a language type."""
    eco = LANGUAGE_ECOSYSTEMS.get(pkg_type)
    if eco is not None:
        return eco
    if pkg_type in UNPUBLISHED:
        return NoData(NoDataReason.PACKAGE_TYPE, pkg_type, UNPUBLISHED[pkg_type])
    if pkg_type == PackageType.GENERIC and name in RUNTIME_SOURCES:
        project = RUNTIME_SOURCES[name]
        return NoData(
            NoDataReason.RUNTIME,
            f"{name} {version}".strip(),
            f"{project} built from source is in no OSV ecosystem; check {project}'s own security advisories",
        )
    if pkg_type not in OS_PACKAGE_TYPES:
        return NoData(NoDataReason.PACKAGE_TYPE, pkg_type or "unknown", "dockguard has no advisory source for it")
    return None
