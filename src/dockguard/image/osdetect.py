"""Operating-system detection from release files, with an end-of-life table."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from dockguard.image.packages import OSInfo

# End of (extended / LTS) support, the date after which no security fixes come.
EOL: dict[str, dict[str, dt.date]] = {
    "debian": {
        "7": dt.date(2018, 5, 31), "8": dt.date(2020, 6, 30), "9": dt.date(2022, 6, 30),
        "10": dt.date(2024, 6, 30), "11": dt.date(2026, 8, 31), "12": dt.date(2028, 6, 30),
        "13": dt.date(2030, 6, 30),
    },
    "ubuntu": {
        "14.04": dt.date(2019, 4, 30), "16.04": dt.date(2021, 4, 30),
        "18.04": dt.date(2023, 5, 31), "20.04": dt.date(2025, 5, 31),
        "22.04": dt.date(2027, 6, 1), "24.04": dt.date(2029, 5, 31),
        "22.10": dt.date(2023, 7, 20), "23.04": dt.date(2024, 1, 25),
        "23.10": dt.date(2024, 7, 11), "24.10": dt.date(2025, 7, 10),
        "25.04": dt.date(2026, 1, 15),
    },
    "alpine": {
        "3.12": dt.date(2022, 5, 1), "3.13": dt.date(2022, 11, 1), "3.14": dt.date(2023, 5, 1),
        "3.15": dt.date(2023, 11, 1), "3.16": dt.date(2024, 5, 23), "3.17": dt.date(2024, 11, 22),
        "3.18": dt.date(2025, 5, 9), "3.19": dt.date(2025, 11, 1), "3.20": dt.date(2026, 4, 1),
        "3.21": dt.date(2026, 11, 1), "3.22": dt.date(2027, 5, 1),
    },
}

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


def is_eol(family: str, version: str, today: dt.date | None = None) -> bool | None:
    """True/False from the table; None when the release is not in it."""
    table = EOL.get(family)
    if table is None:
        return None
    if family == "alpine":
        major_minor = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
        if version not in table and len(major_minor) == 2 and major_minor < (3, 12):
            return True
    end = table.get(version)
    if end is None:
        return None
    return (today or dt.date.today()) > end


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
