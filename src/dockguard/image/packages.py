"""Shared value types of the image scanner: the contract between inventory and matching."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OSInfo:
    """The operating system of an image or rootfs.

    `family` is the os-release ID (``debian``, ``ubuntu``, ``alpine``, ``rhel``...);
    `version` the release used for matching (``12``, ``3.19``, ``22.04``); `codename` e.g.
    ``bookworm``; `eol` True when the release is past its end of life.
    """

    family: str
    version: str = ""
    codename: str = ""
    pretty_name: str = ""
    eol: bool | None = None
    unstable: bool = False


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package found in an image.

    `type` is the purl type (`dockguard.vuln.ecosystems.PackageType`): ``deb``, ``apk``,
    ``rpm``, ``pypi``, ``npm``, ``golang``, ``maven``, ``gem``, ``composer``, ``cargo``,
    ``nuget``, ``conda``, ``generic`` (a runtime built from source, an unidentified archive).
    For OS packages `source_name` / `source_version` are what vendors key advisories on
    (Debian source package, Alpine origin, RPM source rpm); for others they equal name/version.
    `layer` is the digest (or diff id) of the layer that introduced the package; `path` the
    file it was read from (``/app/app.jar!/BOOT-INF/lib/x.jar`` inside an archive);
    `os_owned` is True for language packages whose files belong to an OS package (matched only
    against the OS vendor's advisories); `evidence` names what gave the name and version when
    the file alone does not say (``META-INF/maven/g/a/pom.properties``, a manifest's fields).
    """

    type: str
    name: str
    version: str
    source_name: str = ""
    source_version: str = ""
    arch: str = ""
    purl: str = ""
    layer: str = ""
    path: str = ""
    os_owned: bool = False
    licenses: tuple[str, ...] = ()
    evidence: str = ""
