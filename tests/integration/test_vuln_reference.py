"""Real advisories imported through the CLI and matched: PyPA, Alpine secdb, Debian util-linux."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockguard.cli import main
from dockguard.image.packages import OSInfo, Package
from dockguard.vuln.database import VulnDB
from dockguard.vuln.match import MatchOptions, match_packages
from dockguard.vuln.versions import compare_apk, compare_pep440
from tests.conftest import REFERENCE

PYPA = REFERENCE / "osv-pypi"
SECDB = REFERENCE / "alpine-secdb"


@pytest.fixture(scope="module")
def ref_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vulndb") / "vuln.db"
    assert main(["db", "import", "--db", str(path), str(PYPA)]) == 0
    assert main(["db", "import", "--db", str(path), str(SECDB / "v3.10" / "main.yaml")]) == 0
    return path


def _pypa_records() -> list[dict[str, Any]]:
    out = []
    for f in sorted(PYPA.rglob("*.yaml")):
        rec = yaml.load(f.read_text(), Loader=yaml.BaseLoader)
        if not rec.get("withdrawn"):
            out.append(rec)
    return out


def test_every_listed_pypa_version_is_matched(ref_db: Path) -> None:
    records = _pypa_records()
    assert len(records) > 2500
    wanted: dict[tuple[str, str], set[str]] = {}
    for rec in records:
        for aff in rec.get("affected", []):
            versions = aff.get("versions") or []
            for v in versions[:1] + versions[-1:]:
                wanted.setdefault((aff["package"]["name"], v), set()).add(rec["id"])
    pkgs = [Package("pypi", name, v) for name, v in wanted]
    with VulnDB.open(ref_db) as db:
        matches = match_packages(db, None, pkgs, MatchOptions(include_negligible=True))
    got: dict[tuple[str, str], set[str]] = {}
    for m in matches:
        got.setdefault((m.package.name, m.package.version), set()).update({m.id, *m.aliases})
    missing = [(k, ids - got.get(k, set())) for k, ids in wanted.items() if ids - got.get(k, set())]
    assert not missing, missing[:5]


def test_fixed_versions_come_from_the_records(ref_db: Path) -> None:
    rec = yaml.load((PYPA / "vulns/jinja2/PYSEC-2019-217.yaml").read_text(), Loader=yaml.BaseLoader)
    fixed = [e["fixed"] for r in rec["affected"][0]["ranges"] for e in r["events"] if "fixed" in e]
    cve = next(a for a in rec["aliases"] if a.startswith("CVE-"))
    below = rec["affected"][0]["versions"][-1]
    with VulnDB.open(ref_db) as db:
        ms = match_packages(db, None, [Package("pypi", "Jinja2", below)])
        at_fix = match_packages(db, None, [Package("pypi", "jinja2", fixed[0])])
    m = next(m for m in ms if m.id == cve)
    assert m.fixed_version == fixed[0]
    assert m.state == "fixed"
    assert "PYSEC-2019-217" in m.aliases
    assert m.sources == ("osv/PyPI",)
    assert cve not in {x.id for x in at_fix}
    # Every finding's fix is newer than what is installed.
    assert all(compare_pep440(x.fixed_version or "999", below) > 0 for x in ms)


def test_alpine_secdb_matches_by_origin(ref_db: Path) -> None:
    doc = yaml.load((SECDB / "v3.10/main.yaml").read_text(), Loader=yaml.BaseLoader)
    pkg = next(p["pkg"] for p in doc["packages"] if p["pkg"]["name"] == "openssl")
    fixes = {entry.split()[0]: fixed for fixed, entries in pkg["secfixes"].items() for entry in entries}
    apk = [
        Package("apk", "libssl1.1", "1.0.0-r0", source_name="openssl", source_version="1.0.0-r0"),
    ]
    with VulnDB.open(ref_db) as db:
        old = match_packages(db, OSInfo("alpine", "3.10.9"), apk)
        other_branch = match_packages(db, OSInfo("alpine", "3.11.0"), apk)
        newest = max(fixes.values(), key=functools.cmp_to_key(compare_apk))
        current = [Package("apk", "openssl", newest, source_name="openssl")]
        none_left = match_packages(db, OSInfo("alpine", "3.10"), current)
    assert {m.id: m.fixed_version for m in old} == fixes
    assert all(m.sources == ("alpine-secdb:main/Alpine:v3.10",) for m in old)
    assert other_branch == []  # v3.11 data was not imported
    assert none_left == []  # the newest fix covers every earlier one


# Debian data, written in OSV form after DSA-5650-1 (util-linux, CVE-2024-28085: fixed in
# bookworm 2.38.1-5+deb12u1, bullseye 2.36.1-8+deb11u2), plus tracker-format entries for other
# util-linux CVEs in each state the tracker distinguishes (states chosen to cover the mapping).
DSA_5650 = {
    "id": "DSA-5650-1",
    "modified": "2024-03-31T00:00:00Z",
    "summary": "util-linux - security update",
    "upstream": ["CVE-2024-28085"],
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "util-linux"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.38.1-5+deb12u1"}]}],
        },
        {
            "package": {"ecosystem": "Debian:11", "name": "util-linux"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36.1-8+deb11u2"}]}],
        },
    ],
    "references": [{"type": "ADVISORY", "url": "https://www.debian.org/security/2024/dsa-5650"}],
}


def _tracker(status: str, **extra: str) -> dict[str, object]:
    return {"status": status, "repositories": {"bookworm": "2.38.1-5+deb12u3"}, **extra}


TRACKER = {
    "util-linux": {
        "CVE-2024-28085": {
            "description": "wall in util-linux through 2.40 ... escape sequences",
            "releases": {"bookworm": _tracker("resolved", fixed_version="2.38.1-5+deb12u1", urgency="medium")},
        },
        "CVE-2022-0563": {
            "description": "chfn and chsh readline INPUTRC",
            "releases": {"bookworm": _tracker("open", urgency="low", nodsa="Minor issue", nodsa_reason="ignored")},
        },
        "CVE-2021-37600": {
            "description": "integer overflow in ipcutils.c (disputed)",
            "releases": {"bookworm": _tracker("open", urgency="unimportant")},
        },
        "CVE-2025-0001": {
            "description": "postponed example",
            "releases": {"bookworm": _tracker("open", urgency="low", nodsa="Minor issue", nodsa_reason="postponed")},
        },
        "CVE-2025-0002": {
            "description": "open, no fix yet",
            "releases": {"bookworm": _tracker("open", urgency="not yet assigned")},
        },
        "CVE-2021-3995": {
            "description": "unauthorized unmount of FUSE filesystems",
            "releases": {"bookworm": _tracker("resolved", fixed_version="0", urgency="low")},
        },
        "CVE-2025-0003": {
            "description": "undetermined example",
            "releases": {"bookworm": _tracker("undetermined")},
        },
        "CVE-2025-0004": {
            "description": "end-of-life example",
            "releases": {
                "buster": {"status": "open", "urgency": "end-of-life", "repositories": {"buster": "2.33.1-0.1"}}
            },
        },
    }
}


def _host_packages() -> list[Package]:
    from debian.deb822 import Packages

    out = []
    with open("/var/lib/dpkg/status", encoding="utf-8") as fh:
        for para in Packages.iter_paragraphs(fh, use_apt_pkg=False):
            if "install ok installed" not in para.get("Status", ""):
                continue
            src = para.get("Source", para["Package"])
            src_name, _, src_ver = src.partition(" ")
            out.append(
                Package(
                    "deb",
                    para["Package"],
                    para["Version"],
                    source_name=src_name,
                    source_version=src_ver.strip("()") or para["Version"],
                )
            )
    return out


@pytest.fixture(scope="module")
def debian_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("debian")
    (d / "osv").mkdir()
    (d / "osv" / "DSA-5650-1.json").write_text(json.dumps(DSA_5650))
    (d / "tracker.json").write_text(json.dumps(TRACKER))
    db = d / "vuln.db"
    assert main(["db", "import", "--db", str(db), str(d / "osv"), str(d / "tracker.json")]) == 0
    return db


def test_binary_epoch_does_not_hide_the_fix(debian_db: Path) -> None:
    old = [
        Package("deb", "bsdutils", "1:2.38.1-5", source_name="util-linux", source_version="2.38.1-5"),
        Package("deb", "libblkid1", "2.38.1-5", source_name="util-linux", source_version="2.38.1-5"),
    ]
    with VulnDB.open(debian_db) as db:
        ms = match_packages(db, OSInfo("debian", "12"), old)
        wrong = match_packages(
            db,
            OSInfo("debian", "12"),
            [Package("deb", "bsdutils", "1:2.38.1-5", source_name="util-linux", source_version="1:2.38.1-5")],
        )
    by = {(m.package.name, m.id): m for m in ms}
    m = by[("bsdutils", "CVE-2024-28085")]
    assert m.fixed_version == "2.38.1-5+deb12u1"
    assert m.installed_version == "2.38.1-5"
    assert m.state == "fixed"
    assert m.aliases == ("DSA-5650-1",)
    assert "https://security-tracker.debian.org/tracker/DSA-5650-1" in m.references
    assert m.sources == ("debian-tracker/Debian:12", "osv/Debian:12")
    assert m.severity.value == "MEDIUM"  # Debian's urgency
    assert ("libblkid1", "CVE-2024-28085") in by
    # Comparing the binary version (epoch 1) instead would hide the fix.
    assert "CVE-2024-28085" not in {x.id for x in wrong}


def test_tracker_states_on_the_host_rootfs(debian_db: Path) -> None:
    host = _host_packages()
    util = [p for p in host if p.source_name == "util-linux"]
    assert util, "the host has util-linux"
    with VulnDB.open(debian_db) as db:
        default = match_packages(db, OSInfo("debian", "12"), util)
        everything = match_packages(
            db,
            OSInfo("debian", "12"),
            util,
            MatchOptions(include_negligible=True, include_not_affected=True),
        )
        unfixed_hidden = match_packages(db, OSInfo("debian", "12"), util, MatchOptions(ignore_unfixed=True))
        eol = match_packages(
            db,
            OSInfo("debian", "10"),
            [Package("deb", "mount", "2.33.1-0.1", source_name="util-linux")],
        )
    states = {m.id: m.state for m in everything if m.package.name == util[0].name}
    host_version = util[0].source_version
    from dockguard.vuln.versions import compare_dpkg

    if compare_dpkg(host_version, "2.38.1-5+deb12u1") >= 0:
        assert "CVE-2024-28085" not in states
    assert states["CVE-2022-0563"] == "will_not_fix"
    assert states["CVE-2025-0001"] == "fix_deferred"
    assert states["CVE-2025-0002"] == "affected"
    assert states["CVE-2021-3995"] == "not_affected"
    assert states["CVE-2021-37600"] == "affected"
    assert "CVE-2025-0003" not in states  # under investigation: hidden
    default_ids = {m.id for m in default}
    assert "CVE-2021-37600" not in default_ids  # NEGLIGIBLE hidden by default
    assert "CVE-2021-3995" not in default_ids  # not affected hidden by default
    assert {m.id for m in unfixed_hidden} & {"CVE-2022-0563", "CVE-2025-0001", "CVE-2025-0002"} == set()
    assert [(m.id, m.state) for m in eol] == [("CVE-2025-0004", "end_of_life")]
