"""Operating-system detection from release files (end-of-life dates come from `vuln.distros`)."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from dockguard.image.packages import OSInfo
from dockguard.vuln.distros import is_eol

_DEBIAN_CODENAMES = {
    "wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11",
    "bookworm": "12", "trixie": "13",
}


@dataclass(frozen=True)
class Detection:
    """The detected OS (None when unknown) and warnings for the user."""

    os: OSInfo | None
    warnings: tuple[str, ...] = ()


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of an os-release file (shell quoting honoured)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
            out[key.strip()] = parts[0] if parts else ""
        except ValueError:
            out[key.strip()] = value.strip("\"'")
    return out


def detect(read: Callable[[str], str | None], today: dt.date | None = None) -> Detection:
    """Detect the OS; `read(path)` returns a file's text (path without leading slash) or None."""
    warnings: list[str] = []
    rel = read("etc/os-release") or read("usr/lib/os-release")
    fields = parse_os_release(rel) if rel else {}
    family = fields.get("ID", "").lower()
    version = fields.get("VERSION_ID", "")
    codename = fields.get("VERSION_CODENAME", "")
    pretty = fields.get("PRETTY_NAME", "")
    unstable = False

    debian_version = (read("etc/debian_version") or "").strip()
    alpine_release = (read("etc/alpine-release") or "").strip()
    if not family:
        if debian_version:
            family = "debian"
        elif alpine_release:
            family = "alpine"
        elif (rh := read("etc/redhat-release")):
            pretty = rh.strip()
            m = re.search(r"release (\d+)", rh)
            family, version = "rhel", m.group(1) if m else ""
        else:
            return Detection(None, ("operating system not detected",))

    if family == "debian":
        if not version and debian_version:
            m = re.match(r"(\d+)", debian_version)
            if m:
                version = m.group(1)
        if not version and codename in _DEBIAN_CODENAMES and "sid" not in pretty:
            version = _DEBIAN_CODENAMES[codename]
        if not version:
            unstable = True
            version = "unstable"
            warnings.append(
                f"Debian testing/unstable ({debian_version or pretty or 'no VERSION_ID'}): "
                "matched as Debian unstable; results are less reliable"
            )
        else:
            version = version.split(".")[0]
    elif family == "alpine":
        branch = ""
        for line in (read("etc/apk/repositories") or "").splitlines():
            m = re.search(r"/alpine/(v\d+\.\d+|edge)/", line.strip())
            if m and not line.strip().startswith("#"):
                branch = m.group(1)
                break
        if branch == "edge":
            unstable = True
            version = "edge"
            warnings.append("Alpine edge: matched as edge; results are less reliable")
        elif branch:
            version = branch[1:]
        else:
            base = version or alpine_release
            version = ".".join(base.split(".")[:2])
    elif family in ("rhel", "centos", "rocky", "almalinux", "fedora", "amzn", "ol"):
        version = version.split(".")[0] if family != "amzn" else version

    eol = None if unstable else is_eol(family, version, today)
    if eol:
        warnings.append(f"{pretty or family + ' ' + version} is end-of-life: no more security fixes")
    return Detection(
        OSInfo(family=family, version=version, codename=codename, pretty_name=pretty, eol=eol,
               unstable=unstable),
        tuple(warnings),
    )
