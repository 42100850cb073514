"""The cataloguers added for image coverage, each against real artifacts and the real tool.

* gems: every gemspec Debian's ruby packages installed on this host, against Ruby's own
  ``Gem::Specification.load``;
* Composer: an ``installed.json`` written by Debian's ``composer`` (2.x) from a path
  repository, and the same entries in Composer 1's array form;
* Java: Debian's jars (``/usr/share/java``), nested and shaded, and hostile archives;
* cargo-auditable: Debian does not package cargo-auditable, so its documented ``.dep-v0``
  section (zlib-compressed JSON) is added to a real ELF executable with ``objcopy``;
* .NET deps.json and conda-meta: records in the documented formats (neither tool is in Debian);
* the layer cache per cataloguer, and `check_inventory`'s "not checked" answers.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from dockguard.image.cache import LayerCache
from dockguard.image.inventory import CATALOGUERS, composer, gems, java
from dockguard.image.inventory.base import Blob, Extracted
from dockguard.image.limits import Limits
from dockguard.image.scan import build_inventory, check_inventory
from dockguard.image.sources import open_target
from dockguard.vuln import importers
from dockguard.vuln.database import VulnDB, write_imports
from dockguard.vuln.ecosystems import NoDataReason
from tests.unit.image_helpers import F, docker_save, layer_tar

JAVA = Path("/usr/share/java")
RUBY = shutil.which("ruby")
COMPOSER = shutil.which("composer")
OBJCOPY = shutil.which("objcopy")


def scan_root(root: Path, cache: LayerCache | None = None) -> object:
    return build_inventory(open_target(str(root)), cache)


def _pkgs(inv: object) -> dict[tuple[str, str, str], object]:
    return {(p.type, p.name, p.path): p for p in inv.packages}  # type: ignore[attr-defined]


# --- Ruby -------------------------------------------------------------------------------------

def _host_gemspecs() -> list[Path]:
    found = list(Path("/usr/share/rubygems-integration").glob("*/specifications/*.gemspec"))
    found += list(Path("/usr/lib/ruby/gems").glob("*/specifications/**/*.gemspec"))
    return sorted(found)


@pytest.mark.skipif(not RUBY or not _host_gemspecs(), reason="ruby and Debian's gemspecs needed")
def test_gemspecs_agree_with_rubygems(tmp_path: Path) -> None:
    specs = _host_gemspecs()
    assert RUBY is not None
    oracle = subprocess.run(
        [RUBY, "-e", 'ARGV.each { |f| s = Gem::Specification.load(f); puts "#{f}|#{s.name}|#{s.version}" if s }',
         *map(str, specs)], capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    assert len(oracle) >= 5
    for line in oracle:
        path, name, version = line.rsplit("|", 2)
        parsed = gems.parse_gemspec(Path(path).read_bytes())
        assert parsed is not None and parsed[:2] == (name, version), path
    # In an image: Debian's rubygems-integration path and a bundler-style path.
    root = tmp_path / "root"
    for dest in ("usr/share/rubygems-integration/all/specifications", "usr/local/bundle/specifications"):
        (root / dest).mkdir(parents=True)
        shutil.copy(specs[0], root / dest / specs[0].name)
    got = {(p.type, p.path) for p in scan_root(root).packages}  # type: ignore[attr-defined]
    assert got == {("gem", f"/{d}/{specs[0].name}") for d in ("usr/share/rubygems-integration/all/specifications",
                                                              "usr/local/bundle/specifications")}


# --- PHP Composer -----------------------------------------------------------------------------

@pytest.mark.skipif(not COMPOSER, reason="Debian's composer needed")
def test_installed_json_written_by_composer(tmp_path: Path) -> None:
    lib = tmp_path / "pkgs/acme-lib"
    lib.mkdir(parents=True)
    (lib / "composer.json").write_text(json.dumps({"name": "acme/lib", "version": "1.2.3", "license": "MIT"}))
    util = tmp_path / "pkgs/acme-util"
    util.mkdir(parents=True)
    (util / "composer.json").write_text(json.dumps({"name": "acme/util", "version": "v2.0.1"}))
    app = tmp_path / "app"
    app.mkdir()
    (app / "composer.json").write_text(json.dumps({
        "name": "acme/app", "require": {"acme/lib": "1.2.3", "acme/util": "^2.0"},
        "repositories": [{"packagist.org": False},
                         {"type": "path", "url": str(tmp_path / "pkgs/*"), "options": {"symlink": False}}]}))
    env = {**os.environ, "COMPOSER_HOME": str(tmp_path / "home"), "COMPOSER_DISABLE_NETWORK": "1",
           "COMPOSER_NO_INTERACTION": "1", "COMPOSER_ALLOW_SUPERUSER": "1"}
    assert COMPOSER is not None
    run = subprocess.run([COMPOSER, "install", "--no-progress", "-d", str(app)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    installed = (app / "vendor/composer/installed.json").read_bytes()
    doc = json.loads(installed)
    assert isinstance(doc, dict) and "packages" in doc  # Composer 2's format
    oracle = sorted((p["name"], p["version"]) for p in doc["packages"])
    assert oracle == [("acme/lib", "1.2.3"), ("acme/util", "v2.0.1")]
    v2 = composer.parse_installed(installed, "installed.json")
    assert sorted(n[:2] for n in v2) == oracle and ("acme/lib", "1.2.3", "MIT") in v2
    v1 = composer.parse_installed(json.dumps(doc["packages"]).encode(), "installed.json")  # Composer 1: the array
    assert v1 == v2
    root = tmp_path / "root/srv/app/vendor/composer"
    root.mkdir(parents=True)
    (root / "installed.json").write_bytes(installed)
    pkgs = _pkgs(scan_root(tmp_path / "root"))
    lib_pkg = pkgs[("composer", "acme/lib", "/srv/app/vendor/composer/installed.json")]
    assert lib_pkg.purl == "pkg:composer/acme/lib@1.2.3"  # type: ignore[attr-defined]


# --- Java ---------------------------------------------------------------------------------------

def _zip(entries: dict[str, bytes], stored: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _scan(data: bytes, limits: Limits | None = None) -> tuple[list[java.Artifact], list[str]]:
    return java.scan_archive(io.BytesIO(data), len(data), "/x.ear", limits or Limits())


@pytest.mark.skipif(not (JAVA / "log4j-core-2.19.0.jar").is_file(), reason="Debian's liblog4j2-java needed")
def test_nested_archives_to_the_depth_limit() -> None:
    core = (JAVA / "log4j-core-2.19.0.jar").read_bytes()
    war = _zip({"WEB-INF/lib/log4j-core-2.19.0.jar": core}, stored=True)
    ear = _zip({"app.war": war, "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n\r\n"})
    found, problems = _scan(ear)
    assert problems == []
    assert [(a.inner, a.group, a.artifact, a.version) for a in found if a.artifact == "log4j-core"] == [
        ("!/app.war!/WEB-INF/lib/log4j-core-2.19.0.jar", "org.apache.logging.log4j", "log4j-core", "2.19.0")]
    found, problems = _scan(ear, Limits(max_archive_depth=1))
    assert not any(a.artifact == "log4j-core" for a in found)
    assert any("nested deeper than 1" in p for p in problems)


def test_manifest_fallback_and_unidentified_archives() -> None:
    manifest = (b"Manifest-Version: 1.0\r\nImplementation-Title: widget\r\nImplementation-Version: 4.5.6\r\n"
                b"Implementation-Vendor-Id: com.example\r\nBundle-SymbolicName: com.example.wid\r\n get\r\n\r\n")
    found, _ = java.scan_archive(io.BytesIO(_zip({"META-INF/MANIFEST.MF": manifest})), 200_000, "/w.jar", Limits())
    data = _zip({"META-INF/MANIFEST.MF": manifest})
    found, problems = java.scan_archive(io.BytesIO(data), len(data), "/opt/widget-4.5.6.jar", Limits())
    assert problems == []
    assert [(a.group, a.artifact, a.version) for a in found] == [("com.example", "widget", "4.5.6")]
    assert found[0].evidence.startswith("META-INF/MANIFEST.MF (Implementation-Version")
    assert java.parse_manifest(manifest)["Bundle-SymbolicName"] == "com.example.widget"
    data = _zip({"a.txt": b"x"})
    found, _ = java.scan_archive(io.BytesIO(data), len(data), "/opt/mystery.jar", Limits())
    assert [(a.group, a.artifact, a.version, a.evidence) for a in found] == [
        ("", "mystery", "", "file name (no version found)")]


def test_hostile_archives_are_bounded() -> None:
    # Not a zip at all.
    found, problems = _scan(b"PK\x03\x04 not really a zip" * 10)
    assert found == [] and problems and "not a zip archive" in problems[0]
    # Too many central-directory entries: refused before zipfile parses them.
    many = _zip({f"f{i}": b"" for i in range(50)})
    found, problems = _scan(many, Limits(max_archive_entries=10))
    assert any("over the 10-entry cap" in p for p in problems)
    # Nested archives that deflate to little on disk: stopped by the inflated-bytes budget
    # (members nobody reads, like big.bin, are never inflated at all).
    stored = _zip({"big.bin": b"\0" * (4 << 20)}, stored=True)
    outer = _zip({f"lib/b{i}.jar": stored for i in range(4)})
    assert len(outer) < 100_000
    found, problems = _scan(outer, Limits(max_archive_inflated=6 << 20))
    assert any("inflated from one archive" in p for p in problems)
    assert _scan(outer, Limits(max_archive_inflated=64 << 20))[1] == []
    # A member that lies about its size is refused by its declared size.
    big_pom = _zip({"META-INF/maven/g/a/pom.properties": b"groupId=g\n" + b"#" * 5000})
    found, problems = _scan(big_pom, Limits(max_archive_member=1000))
    assert found == [] and any("over the 1000-byte cap" in p for p in problems)


@pytest.mark.skipif(not (JAVA / "log4j-core-2.19.0.jar").is_file(), reason="Debian's liblog4j2-java needed")
def test_debian_owned_jars_are_os_owned(tmp_path: Path) -> None:
    """Jars dpkg lists belong to their Debian package: matched against Debian's advisories only."""
    root = tmp_path / "root"
    (root / "usr/share/java").mkdir(parents=True)
    (root / "opt/app").mkdir(parents=True)
    shutil.copy(JAVA / "log4j-core-2.19.0.jar", root / "usr/share/java/log4j-core-2.19.0.jar")
    shutil.copy(JAVA / "log4j-core-2.19.0.jar", root / "opt/app/log4j-core-2.19.0.jar")
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/info/liblog4j2-java.list").write_text("/usr/share/java/log4j-core-2.19.0.jar\n")
    owned = {p.path: p.os_owned for p in scan_root(root).packages}  # type: ignore[attr-defined]
    assert owned == {"/usr/share/java/log4j-core-2.19.0.jar": True, "/opt/app/log4j-core-2.19.0.jar": False}


# --- Rust (cargo-auditable) ------------------------------------------------------------------

def _auditable_elf(tmp_path: Path, doc: dict[str, object] | bytes) -> Path:
    raw = doc if isinstance(doc, bytes) else zlib.compress(json.dumps(doc).encode())
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "dep.z").write_bytes(raw)
    out = tmp_path / "bin/app"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert OBJCOPY is not None
    subprocess.run([OBJCOPY, "--add-section", f".dep-v0={tmp_path / 'dep.z'}", "/bin/true", str(out)],
                   check=True, capture_output=True)
    out.chmod(0o755)
    return out


@pytest.mark.skipif(not OBJCOPY or not Path("/bin/true").is_file(), reason="binutils needed")
def test_cargo_auditable_section(tmp_path: Path) -> None:
    doc: dict[str, object] = {"packages": [
        {"name": "app", "version": "0.1.0", "source": "local", "dependencies": [1, 2], "root": True},
        {"name": "smallvec", "version": "1.6.0", "source": "crates.io"},
        {"name": "cc", "version": "1.0.79", "source": "crates.io", "kind": "build"},
    ]}
    binary = _auditable_elf(tmp_path / "a", doc)
    root = tmp_path / "root/usr/local/bin"
    root.mkdir(parents=True)
    shutil.copy(binary, root / "app")
    inv = scan_root(tmp_path / "root")
    crates = {(p.name, p.version, p.purl) for p in inv.packages if p.type == "cargo"}  # type: ignore[attr-defined]
    assert crates == {("app", "0.1.0", "pkg:cargo/app@0.1.0"), ("smallvec", "1.6.0", "pkg:cargo/smallvec@1.6.0")}
    # A section that inflates past the cap makes the scan incomplete instead of eating memory.
    bomb = _auditable_elf(tmp_path / "b", zlib.compress(b" " * (40 << 20)))
    shutil.copy(bomb, root / "app")
    inv = scan_root(tmp_path / "root")
    assert not inv.complete and any("inflates past" in r for r in inv.incomplete)  # type: ignore[attr-defined]


# --- .NET, conda, runtimes ----------------------------------------------------------------------

def test_deps_json_conda_meta_and_runtimes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "app").mkdir(parents=True)
    (root / "app/Web.deps.json").write_text(json.dumps({
        "runtimeTarget": {"name": ".NETCoreApp,Version=v8.0"},
        "targets": {".NETCoreApp,Version=v8.0": {"Web/1.0.0": {"dependencies": {"Newtonsoft.Json": "13.0.1"}}}},
        "libraries": {"Web/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
                      "Newtonsoft.Json/13.0.1": {"type": "package", "serviceable": True, "sha512": "sha512-x",
                                                 "path": "newtonsoft.json/13.0.1"}}}))
    (root / "opt/conda/conda-meta").mkdir(parents=True)
    (root / "opt/conda/conda-meta/openssl-3.0.13-h7f8727e_0.json").write_text(json.dumps({
        "name": "openssl", "version": "3.0.13", "build": "h7f8727e_0", "channel": "https://repo.anaconda.com/pkgs/main",
        "files": [f"lib/f{i}" for i in range(1000)]}))
    (root / "opt/conda/conda-meta/history").write_text("==> 2024 <==\n")
    (root / "usr/local/include/node").mkdir(parents=True)
    (root / "usr/local/include/node/node_version.h").write_text(
        "#define NODE_MAJOR_VERSION 20\n#define NODE_MINOR_VERSION 11\n#define NODE_PATCH_VERSION 1\n")
    inv = scan_root(root)
    got = {(p.type, p.name, p.version) for p in inv.packages}  # type: ignore[attr-defined]
    assert got == {("nuget", "Newtonsoft.Json", "13.0.1"), ("conda", "openssl", "3.0.13"),
                   ("generic", "node", "20.11.1")}
    conda = next(p for p in inv.packages if p.type == "conda")  # type: ignore[attr-defined]
    assert conda.purl == "pkg:conda/openssl@3.0.13?build=h7f8727e_0"


# --- not checked, and the cache per cataloguer ---------------------------------------------------

def test_no_data_distribution_and_runtimes_are_not_checked(tmp_path: Path) -> None:
    src = tmp_path / "osv"
    src.mkdir()
    (src / "PYSEC-1.json").write_text(json.dumps({"id": "PYSEC-1", "affected": [
        {"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1"]}]}))
    write_imports(tmp_path / "v.db", importers.load(src))
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('NAME="Amazon Linux"\nID="amzn"\nVERSION_ID="2"\n')
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "opt/java/openjdk").mkdir(parents=True)
    (root / "opt/java/openjdk/release").write_text('IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="17.0.10"\n')
    (root / "var/lib/rpm").mkdir(parents=True)
    from tests.unit.test_image_rpmdb import write_ndb

    header = _one_rpm_header()
    (root / "var/lib/rpm/Packages.db").write_bytes(write_ndb([(1, header)]))
    inv = scan_root(root)
    assert inv.complete, inv.incomplete  # type: ignore[attr-defined]
    db = VulnDB.open(tmp_path / "v.db")
    try:
        result = check_inventory(inv, db)  # type: ignore[arg-type]
    finally:
        db.close()
    reasons = {n.why.reason: n for n in result.not_checked}
    assert reasons[NoDataReason.DISTRIBUTION].packages[0].type == "rpm"
    assert "vulnerabilities not checked: no data for this distribution (Amazon Linux 2)" in \
        reasons[NoDataReason.DISTRIBUTION].message()
    assert reasons[NoDataReason.RUNTIME].packages[0].name == "openjdk"
    assert result.matches == () and len(result.warnings) == 2


def _one_rpm_header() -> bytes:
    """A minimal header blob (name, version, release) in rpm's header layout."""
    import struct

    strings = b"amzn-pkg\x001.0\x001\x00"
    index = [(1000, 6, 0, 1), (1001, 6, 9, 1), (1002, 6, 13, 1)]
    body = b"".join(struct.pack(">iiii", *e) for e in index)
    return struct.pack(">ii", len(index), len(strings)) + body + strings


class _Counting(java.JavaCataloguer):
    """The Java cataloguer at another version, counting the files it extracts."""

    version = "999"
    calls = 0

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        type(self).calls += 1
        return super().extract(path, blob, limits)


@pytest.mark.skipif(not (JAVA / "log4j-api-2.19.0.jar").is_file(), reason="Debian's liblog4j2-java needed")
def test_a_changed_cataloguer_leaves_the_others_cached(tmp_path: Path) -> None:
    layers = [layer_tar([F("var/lib/dpkg/status", b"Package: a\nVersion: 1\nStatus: install ok installed\n\n"),
                         F("app/log4j-api.jar", (JAVA / "log4j-api-2.19.0.jar").read_bytes())])]
    docker_save(tmp_path / "img.tar", layers)
    cache = LayerCache(tmp_path / "cache")
    cold = build_inventory(open_target(str(tmp_path / "img.tar")), cache)
    others = sorted(p for p in (tmp_path / "cache/layers").rglob("*.zst") if "java" not in p.parent.name)
    stamps = {p: p.stat().st_mtime_ns for p in others}
    changed = tuple(_Counting() if c.name == "java" else c for c in CATALOGUERS)
    warm = open_target(str(tmp_path / "img.tar"))
    inv = build_inventory(warm, cache, changed)
    assert _Counting.calls == 1 and warm.layer_opens == 1  # read again, for the changed cataloguer only
    assert {p: p.stat().st_mtime_ns for p in others} == stamps
    assert (tmp_path / "cache/layers/java-v999").is_dir()
    assert sorted((p.type, p.name) for p in inv.packages) == sorted((p.type, p.name) for p in cold.packages)
    again = open_target(str(tmp_path / "img.tar"))
    build_inventory(again, cache, changed)
    assert again.layer_opens == 0 and _Counting.calls == 1


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_large_archive_through_a_region_or_a_spool_file(tmp_path: Path, compression: str) -> None:
    """Over 8 MiB: read through a region of a seekable layer, or spooled from a compressed one."""
    jar = _zip({"pad.bin": os.urandom(9 << 20), "META-INF/maven/g/big/pom.properties":
                b"groupId=g\nartifactId=big\nversion=1.0\n"})
    docker_save(tmp_path / "img.tar", [layer_tar([F("app/big-1.0.jar", jar)])], compression=compression)
    inv = build_inventory(open_target(str(tmp_path / "img.tar")))
    assert inv.complete and [(p.name, p.path) for p in inv.packages] == [("g:big", "/app/big-1.0.jar")]
