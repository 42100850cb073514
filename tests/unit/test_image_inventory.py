"""Cataloguers against real data and real tools: dpkg-query, rpm, Go binaries on this host."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dockguard.image.gobuildinfo import MAGIC, read_buildinfo
from dockguard.image.inventory import InventoryInput, collect
from dockguard.image.inventory.rpm import parse_header, read_sqlite, split_source_rpm
from dockguard.image.layers import analyse_directory, squash
from dockguard.image.packages import OSInfo
from dockguard.image.scan import build_inventory
from dockguard.image.sources import open_target
from tests.unit.image_helpers import OS_RELEASE_DEBIAN, F, docker_save, layer_tar

DEBIAN12 = OSInfo("debian", "12", "bookworm")


def scan_dir(root: Path, os_info: OSInfo | None = DEBIAN12) -> list:  # type: ignore[type-arg]
    a = analyse_directory(str(root))
    packages, _warnings = collect(InventoryInput(squash([a]), (a,), ("",), os_info))
    return packages


def test_dpkg_matches_dpkg_query_on_the_host_status(tmp_path: Path) -> None:
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", tmp_path / "var/lib/dpkg/status")
    fmt = "${db:Status-Abbrev}|${Package}|${Version}|${Architecture}|${source:Package}|${source:Version}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True).stdout
    expected = set()
    for line in out.splitlines():
        status, name, version, arch, src, srcver = line.split("|")
        if status.strip() in ("ii", "hi", "iF", "iW", "iT"):
            expected.add((name, version, arch, src, srcver))
    got = {(p.name, p.version, p.arch, p.source_name, p.source_version) for p in scan_dir(tmp_path) if p.type == "deb"}
    assert got == expected and len(got) > 50


def test_dpkg_source_and_purl_for_epoch_and_binnmu(tmp_path: Path) -> None:
    (tmp_path / "var/lib/dpkg/status.d").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status.d/bsdutils").write_text(
        "Package: bsdutils\nVersion: 1:2.38.1-5+deb12u3\nArchitecture: amd64\nSource: util-linux (2.38.1-5+deb12u3)\n"
    )
    (tmp_path / "var/lib/dpkg/status.d/bsdutils.md5sums").write_text("abc  usr/bin/x\n")
    (tmp_path / "var/lib/dpkg/status.d/libssl3").write_text(
        "Package: libssl3\nVersion: 3.0.11-1~deb12u2+b1\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u2)\n"
    )
    pkgs = {p.name: p for p in scan_dir(tmp_path)}
    assert set(pkgs) == {"bsdutils", "libssl3"}
    b = pkgs["bsdutils"]
    assert (b.source_name, b.source_version) == ("util-linux", "2.38.1-5+deb12u3")
    assert b.purl == ("pkg:deb/debian/bsdutils@2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&epoch=1")
    assert pkgs["libssl3"].source_version == "3.0.11-1~deb12u2"
    assert pkgs["libssl3"].path == "/var/lib/dpkg/status.d/libssl3"


def test_dpkg_introducing_layer_and_deleted_files(tmp_path: Path) -> None:
    s1 = b"Package: a\nStatus: install ok installed\nVersion: 1\n\n"
    s2 = s1 + b"Package: b\nStatus: install ok installed\nVersion: 2\n\n"
    layers = [
        layer_tar([F("etc/os-release", OS_RELEASE_DEBIAN), F("var/lib/dpkg/status", s1), F("bin/gzip", b"x")]),
        layer_tar([F("var/lib/dpkg/status", s2)]),
        layer_tar([F("bin/.wh.gzip")]),
    ]
    cfg = docker_save(tmp_path / "i.tar", layers)
    inv = build_inventory(open_target(str(tmp_path / "i.tar")))
    diff = cfg["rootfs"]["diff_ids"]
    assert {(p.name, p.layer) for p in inv.packages} == {("a", diff[0]), ("b", diff[1])}


def test_apk_with_origin(tmp_path: Path) -> None:
    (tmp_path / "lib/apk/db").mkdir(parents=True)
    (tmp_path / "lib/apk/db/installed").write_text(
        "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\nL:Apache-2.0\no:openssl\n\n"
        "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n"
    )
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text("ID=alpine\nVERSION_ID=3.19.1\n")
    (tmp_path / "etc/apk").mkdir()
    (tmp_path / "etc/apk/repositories").write_text("https://dl-cdn.alpinelinux.org/alpine/v3.19/main\n")
    inv = build_inventory(open_target(str(tmp_path)))
    assert inv.os is not None and inv.os.version == "3.19"
    p = {p.name: p for p in inv.packages}["libcrypto3"]
    assert (p.source_name, p.version, p.arch) == ("openssl", "3.1.4-r5", "x86_64")
    assert p.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19"


def test_python_egg_info_and_npm(tmp_path: Path) -> None:
    sp = tmp_path / "usr/lib/python3/dist-packages"
    (sp / "PyYAML-6.0.dist-info").mkdir(parents=True)
    (sp / "PyYAML-6.0.dist-info/METADATA").write_text("Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\n")
    (sp / "Zope.Interface-5.0.egg-info").mkdir()
    (sp / "Zope.Interface-5.0.egg-info/PKG-INFO").write_text("Name: zope.interface\nVersion: 5.0\n")
    (sp / "crit-3.17.1.egg-info").write_text("Metadata-Version: 1.0\nName: crit\nVersion: 3.17.1\n")
    nm = tmp_path / "app/node_modules"
    (nm / "lodash").mkdir(parents=True)
    (nm / "lodash/package.json").write_text('{"name": "lodash", "version": "4.17.20"}')
    (nm / "@types/node").mkdir(parents=True)
    (nm / "@types/node/package.json").write_text('{"name": "@types/node", "version": "20.1.0"}')
    (nm / "lodash/fp").mkdir()
    (nm / "lodash/fp/package.json").write_text('{"main": "x"}')
    # dpkg owns PyYAML (Debian's python3-yaml) → os_owned.
    (tmp_path / "var/lib/dpkg/info").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/info/python3-yaml.list").write_text(
        "/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info\n"
        "/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA\n"
    )
    got = {(p.type, p.name, p.version, p.purl, p.os_owned) for p in scan_dir(tmp_path)}
    assert got == {
        ("pypi", "pyyaml", "6.0", "pkg:pypi/pyyaml@6.0", True),
        ("pypi", "zope-interface", "5.0", "pkg:pypi/zope-interface@5.0", False),
        ("pypi", "crit", "3.17.1", "pkg:pypi/crit@3.17.1", False),
        ("npm", "lodash", "4.17.20", "pkg:npm/lodash@4.17.20", False),
        ("npm", "@types/node", "20.1.0", "pkg:npm/%40types/node@20.1.0", False),
    }


GO_BINARIES = [p for p in ("/usr/bin/docker-registry", "/usr/bin/containerd", "/usr/sbin/dockerd") if Path(p).is_file()]


def test_go_buildinfo_of_real_binary_inline_format(tmp_path: Path) -> None:
    binary = GO_BINARIES[0]
    data = Path(binary).read_bytes()
    at = data.find(MAGIC)
    assert at >= 0 and data[at + 15] & 0x2, "expected the Go ≥ 1.18 inline format"
    info = read_buildinfo(lambda off, n: data[off : off + n], len(data))
    assert info is not None and info.go_version.startswith("go1.")
    assert info.modinfo.startswith("path\t")
    # Cross-check with the binary's own strings: the version text appears verbatim.
    assert info.go_version.encode() in data
    (tmp_path / "usr/bin").mkdir(parents=True)
    shutil.copy(binary, tmp_path / "usr/bin/tool")
    pkgs = [p for p in scan_dir(tmp_path) if p.type == "golang"]
    assert ("stdlib", "v" + info.go_version[2:]) in {(p.name, p.version) for p in pkgs}
    assert all(p.path == "/usr/bin/tool" for p in pkgs)


def _old_format_elf() -> bytes:
    """A minimal ELF64 with a pre-1.18 (pointer) .go.buildinfo section, built per the format."""
    vaddr = 0x400000
    mod_text = (
        "path\texample.com/app\nmod\texample.com/app\tv1.2.3\th1:x=\n"
        "dep\tgolang.org/x/text\tv0.3.7\th1:y=\n"
        "dep\tgithub.com/old/lib\tv1.0.0\th1:z=\n=>\tgithub.com/new/lib\tv1.1.0\th1:w=\n"
    )
    sentinel_a = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
    sentinel_b = bytes.fromhex("f932433186182072008242104116d8f2")
    version = b"go1.16.15"
    modinfo = sentinel_a + mod_text.encode() + sentinel_b
    # Layout: [ehdr 64][phdr 56][buildinfo 32][strhdr v 16][strhdr m 16][version][modinfo]
    #         [shstrtab][shdrs 3*64]
    bi_off = 64 + 56
    hv_off = bi_off + 32
    hm_off = hv_off + 16
    v_off = hm_off + 16
    m_off = v_off + len(version)
    shstr = b"\0.go.buildinfo\0.shstrtab\0"
    shstr_off = m_off + len(modinfo)
    sh_off = shstr_off + len(shstr)
    total = sh_off + 3 * 64
    buf = bytearray(total)
    struct.pack_into(
        "<4sBBBB8xHHIQQQIHHHHHH", buf, 0, b"\x7fELF", 2, 1, 1, 0, 2, 62, 1, vaddr, 64, sh_off, 0, 64, 56, 1, 64, 3, 2
    )
    struct.pack_into("<IIQQQQQQ", buf, 64, 1, 6, 0, vaddr, vaddr, total, total, 0x1000)
    blob = MAGIC + bytes([8, 0]) + struct.pack("<QQ", vaddr + hv_off, vaddr + hm_off)
    buf[bi_off : bi_off + 32] = blob
    struct.pack_into("<QQ", buf, hv_off, vaddr + v_off, len(version))
    struct.pack_into("<QQ", buf, hm_off, vaddr + m_off, len(modinfo))
    buf[v_off : v_off + len(version)] = version
    buf[m_off : m_off + len(modinfo)] = modinfo
    buf[shstr_off : shstr_off + len(shstr)] = shstr
    # section 1: .go.buildinfo, section 2: .shstrtab
    struct.pack_into("<IIQQQQIIQQ", buf, sh_off + 64, 1, 1, 3, vaddr + bi_off, bi_off, 32, 0, 0, 16, 0)
    struct.pack_into("<IIQQQQIIQQ", buf, sh_off + 128, 15, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    return bytes(buf)


def test_go_buildinfo_old_pointer_format_constructed() -> None:
    from dockguard.image.inventory.golang import packages

    data = _old_format_elf()
    info = read_buildinfo(lambda off, n: data[off : off + n], len(data))
    assert info is not None and info.go_version == "go1.16.15"
    got = {(p.name, p.version, p.purl) for p in packages(info, "/app", "", False)}
    assert got == {
        ("example.com/app", "v1.2.3", "pkg:golang/example.com/app@v1.2.3"),
        ("golang.org/x/text", "v0.3.7", "pkg:golang/golang.org/x/text@v0.3.7"),
        ("github.com/new/lib", "v1.1.0", "pkg:golang/github.com/new/lib@v1.1.0"),
        ("stdlib", "v1.16.15", "pkg:golang/stdlib@v1.16.15"),
    }


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_go_binary_then_more_files_in_one_layer(tmp_path: Path, compression: str) -> None:
    """Reading an ELF with random access must not disturb the walk of the rest of the layer."""
    data = _old_format_elf() + b"\0" * (300 * 1024)
    meta = b"Name: after\nVersion: 1.0\n\n"
    docker_save(
        tmp_path / "g.tar",
        [
            layer_tar(
                [
                    F("usr/bin/app", data, mode=0o755),
                    F("usr/bin/app2", data, mode=0o755),
                    F("usr/lib/python3/site-packages/after-1.0.dist-info/METADATA", meta),
                ]
            )
        ],
        compression=compression,
    )
    inv = build_inventory(open_target(str(tmp_path / "g.tar")))
    assert not inv.errors
    assert {(p.name, p.path) for p in inv.packages if p.name in ("after", "stdlib")} == {
        ("after", "/usr/lib/python3/site-packages/after-1.0.dist-info/METADATA"),
        ("stdlib", "/usr/bin/app"),
        ("stdlib", "/usr/bin/app2"),
    }


def test_go_in_compressed_layer_uses_streaming_path(tmp_path: Path) -> None:
    data = _old_format_elf() + b"\0" * (300 * 1024)  # above the candidate size threshold
    docker_save(tmp_path / "g.tar", [layer_tar([F("app", data, mode=0o755)])], compression="gzip")
    inv = build_inventory(open_target(str(tmp_path / "g.tar")))
    assert {p.name for p in inv.packages} == {"example.com/app", "golang.org/x/text", "github.com/new/lib", "stdlib"}


RPM = shutil.which("rpm")
RPMBUILD = shutil.which("rpmbuild")


def _tool(path: str | None) -> str:
    """A tool found by `shutil.which` (the tests that use it are skipped without it)."""
    assert path is not None
    return path


def _build_rpmdb(tmp: Path) -> Path:
    """A real sqlite rpmdb with two packages installed by rpm itself (--justdb)."""
    top = tmp / "rpmbuild"
    for sub in ("SPECS", "RPMS", "SOURCES", "BUILD", "SRPMS"):
        (top / sub).mkdir(parents=True)
    specs = {
        "hello": ("2.10", "3.el9", "", "GPLv3+"),
        "epochy": ("1.0", "1", "Epoch: 2\n", "MIT"),
    }
    for name, (ver, rel, epoch, lic) in specs.items():
        (top / "SPECS" / f"{name}.spec").write_text(
            f"Name: {name}\nVersion: {ver}\nRelease: {rel}\n{epoch}Summary: test\n"
            f"License: {lic}\nBuildArch: noarch\n\n%description\ntest\n\n%files\n"
        )
        # _dbpath keeps rpmbuild from creating ~/.rpmdb
        subprocess.run(
            [
                _tool(RPMBUILD),
                "-bb",
                "--quiet",
                "--define",
                f"_topdir {top}",
                "--define",
                f"_dbpath {tmp / 'builddb'}",
                str(top / "SPECS" / f"{name}.spec"),
            ],
            check=True,
            capture_output=True,
        )
    dbpath = tmp / "root/var/lib/rpm"
    dbpath.mkdir(parents=True)
    rpms = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
    subprocess.run(
        [_tool(RPM), "--dbpath", str(dbpath), "-i", "--justdb", "--nodeps", "--noscripts", *rpms],
        check=True,
        capture_output=True,
    )
    return dbpath


def test_rpm_sqlite_db_built_by_rpm(tmp_path: Path) -> None:
    dbpath = _build_rpmdb(tmp_path)
    oracle = subprocess.run(
        [
            _tool(RPM),
            "--dbpath",
            str(dbpath),
            "-qa",
            "--qf",
            "%{NAME}|%{EPOCHNUM}|%{VERSION}-%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    db = dbpath / "rpmdb.sqlite"
    wal = dbpath / "rpmdb.sqlite-wal"
    headers = read_sqlite(db.read_bytes(), wal.read_bytes() if wal.exists() else None)
    got = sorted(
        f"{h.name}|{h.epoch or 0}|{h.version}-{h.release}|{h.arch}|{h.source_rpm}|{h.license}" for h in headers
    )
    assert got == sorted(oracle) and len(got) == 2
    (tmp_path / "root/etc").mkdir()
    (tmp_path / "root/etc/os-release").write_text('ID="rhel"\nVERSION_ID="9.3"\n')
    inv = build_inventory(open_target(str(tmp_path / "root")))
    pkgs = {p.name: p for p in inv.packages}
    assert pkgs["epochy"].version == "2:1.0-1"
    assert pkgs["epochy"].purl == "pkg:rpm/redhat/epochy@1.0-1?arch=noarch&distro=rhel-9&epoch=2"
    assert (pkgs["hello"].source_name, pkgs["hello"].source_version) == ("hello", "2.10-3.el9")


def test_rpm_header_rejects_malformed_blobs() -> None:
    with pytest.raises(ValueError):
        parse_header(b"\0\0\0\x05\0\0\0\x10")
    with pytest.raises(ValueError):
        parse_header(struct.pack(">ii", 1, 4) + struct.pack(">iiii", 1000, 6, 99, 1) + b"abc\0")
    assert split_source_rpm("openssl-3.0.7-24.el9.src.rpm") == ("openssl", "3.0.7-24.el9")
