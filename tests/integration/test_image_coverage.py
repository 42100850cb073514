"""Image coverage end to end: a Java service image built on the private dockerd, scanned by the CLI.

The image holds only real artifacts as Debian ships them: Debian's log4j-core and log4j-api jars
(``liblog4j2-java``, Maven Central builds with their own ``pom.properties``) inside a Spring
Boot style fat jar (``BOOT-INF/lib``, stored) and merged class by class into a shaded jar with
commons-lang3; Debian's shaded ``wagon-http-shaded.jar``; the gemspec Debian's ``rake``
package installs; the JDK ``release`` file and Python's ``patchlevel.h`` of the host's own
runtimes, placed where official images put a runtime built from source.

Advisories are OSV records written here from public facts: CVE-2021-44228 (Log4Shell) for
``org.apache.logging.log4j:log4j-core``, introduced 2.0-beta9, fixed 2.15.0 (GHSA-jfh8-c2jp-5v3q
also lists the 2.12.2 and 2.3.1 backports), CVSS 3.1 10.0.  Debian ships log4j 2.19.0, which
that advisory does not cover: the test checks that it is *not* reported, and adds a record
labelled as a test fixture (``DGTEST-LOG4J-2-19``, same CVSS vector) whose range covers 2.19.0,
which must be reported CRITICAL at the outer and the inner jar.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.image_json import complete, incomplete, notes, vulnerabilities
from tests.integration.dockerd import PrivateDaemon, build_image, env_for

JAVA = Path("/usr/share/java")
LOG4J_CORE = JAVA / "log4j-core-2.19.0.jar"
LOG4J_API = JAVA / "log4j-api-2.19.0.jar"
LANG3 = JAVA / "commons-lang3-3.12.0.jar"
WAGON_SHADED = JAVA / "wagon-http-shaded.jar"
RAKE = Path("/usr/share/rubygems-integration/all/specifications/rake-13.0.6.gemspec")
JDK_RELEASE = Path("/usr/lib/jvm/java-17-openjdk-amd64/release")
#: Debian's own interpreter and its headers (python3-dev): the oracle is the interpreter itself.
SYSTEM_PYTHON = Path("/usr/bin/python3")
PY_VERSION = (subprocess.run([str(SYSTEM_PYTHON), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip() if SYSTEM_PYTHON.exists() else "")
PY_XY = ".".join(PY_VERSION.split(".")[:2])
PATCHLEVEL = Path(f"/usr/include/python{PY_XY}/patchlevel.h")
CORE = "org.apache.logging.log4j:log4j-core"
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"

LOG4SHELL = {
    "id": "GHSA-jfh8-c2jp-5v3q",
    "aliases": ["CVE-2021-44228"],
    "summary": "Remote code injection in Log4j",
    "severity": [{"type": "CVSS_V3", "score": VECTOR}],
    "affected": [{"package": {"ecosystem": "Maven", "name": CORE},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "2.13.0"}, {"fixed": "2.15.0"},
                      {"introduced": "2.0-beta9"}, {"fixed": "2.12.2"},
                      {"introduced": "2.3.1"}, {"fixed": "2.3.2"}]}]}],
}
FIXTURE = {
    "id": "DGTEST-LOG4J-2-19",
    "summary": "Test fixture: a critical log4j-core advisory whose range covers Debian's 2.19.0",
    "severity": [{"type": "CVSS_V3", "score": VECTOR}],
    "affected": [{"package": {"ecosystem": "Maven", "name": CORE},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.20.0"}]}]}],
}

pytestmark = pytest.mark.skipif(not (LOG4J_CORE.is_file() and LANG3.is_file() and WAGON_SHADED.is_file()),
                                reason="liblog4j2-java, libcommons-lang3-java and libwagon-http-shaded-java needed")


def _zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in entries:
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def fat_jar() -> bytes:
    """A Spring Boot executable jar: the application's classes and its libraries, stored."""
    return _zip([
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: org.springframework.boot.loader.JarLauncher\r\n"
         b"Start-Class: com.example.App\r\nSpring-Boot-Lib: BOOT-INF/lib/\r\n\r\n", zipfile.ZIP_DEFLATED),
        ("META-INF/maven/com.example/app/pom.properties",
         b"artifactId=app\ngroupId=com.example\nversion=1.0.0\n", zipfile.ZIP_DEFLATED),
        ("BOOT-INF/classes/application.properties", b"server.port=8080\n", zipfile.ZIP_DEFLATED),
        ("BOOT-INF/lib/log4j-core-2.19.0.jar", LOG4J_CORE.read_bytes(), zipfile.ZIP_STORED),
        ("BOOT-INF/lib/log4j-api-2.19.0.jar", LOG4J_API.read_bytes(), zipfile.ZIP_STORED),
    ])


def shaded_jar() -> bytes:
    """log4j-core and commons-lang3 merged into one jar, as the shade plugin does (first wins)."""
    seen: set[str] = set()
    entries: list[tuple[str, bytes, int]] = []
    for jar in (LOG4J_CORE, LANG3):
        with zipfile.ZipFile(jar) as z:
            for info in z.infolist():
                if info.filename in seen or info.is_dir():
                    continue
                seen.add(info.filename)
                entries.append((info.filename, z.read(info), zipfile.ZIP_DEFLATED))
    return _zip(entries)


@pytest.fixture(scope="module")
def javaapp(dockerd: PrivateDaemon, busybox_image: str) -> str:
    files = {"app/app.jar": fat_jar(), "app/shaded.jar": shaded_jar(),
             "app/lib/wagon-http-shaded.jar": WAGON_SHADED.read_bytes()}
    lines = [f"FROM {busybox_image}", "COPY app /app/"]
    if RAKE.is_file():
        files["gems/rake-13.0.6.gemspec"] = RAKE.read_bytes()
        lines.append("COPY gems /usr/local/bundle/specifications/")
    if JDK_RELEASE.is_file():
        files["jdk/release"] = JDK_RELEASE.read_bytes()
        lines.append("COPY jdk /opt/java/openjdk/")
    if PATCHLEVEL.is_file():
        files["py/patchlevel.h"] = PATCHLEVEL.read_bytes()
        lines.append(f"COPY py /usr/local/include/python{PY_XY}/")
    return build_image(dockerd.api, "\n".join(lines) + "\n", "dg-javaapp:1", files)


def dockguard(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockguard", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def env(dockerd: PrivateDaemon, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = env_for(dockerd)
    base = tmp_path_factory.mktemp("dg-coverage")
    e["DOCKGUARD_CACHE_DIR"] = str(base / "cache")
    e["DOCKGUARD_DB"] = str(base / "vuln.db")
    feed = base / "feed"
    feed.mkdir()
    for rec in (LOG4SHELL, FIXTURE):
        (feed / f"{rec['id']}.json").write_text(json.dumps(rec))
    r = dockguard(["db", "import", str(feed)], e)
    assert r.returncode == 0, r.stderr
    return e


def test_inventory_of_a_java_service_image(javaapp: str, env: dict[str, str]) -> None:
    r = dockguard(["image", "scan", "--list-packages", "--format", "json", javaapp], env)
    assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert complete(doc), incomplete(doc)
    found = {(p["type"], p["name"], p["version"], p["path"]): p for p in doc["packages"]}
    fat = "/app/app.jar!/BOOT-INF/lib/"
    assert ("maven", CORE, "2.19.0", fat + "log4j-core-2.19.0.jar") in found
    assert ("maven", "org.apache.logging.log4j:log4j-api", "2.19.0", fat + "log4j-api-2.19.0.jar") in found
    assert ("maven", "com.example:app", "1.0.0", "/app/app.jar") in found
    # The shaded jar yields each artifact it embeds, with the pom.properties as evidence.
    shaded = found[("maven", CORE, "2.19.0", "/app/shaded.jar")]
    assert shaded["evidence"] == "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties"
    assert ("maven", "org.apache.commons:commons-lang3", "3.12.0", "/app/shaded.jar") in found
    wagon = {(name, version) for (t, name, version, path) in found if path == "/app/lib/wagon-http-shaded.jar"}
    with zipfile.ZipFile(WAGON_SHADED) as z:  # the oracle: every pom.properties in Debian's jar
        poms = [z.read(n).decode() for n in z.namelist() if n.endswith("/pom.properties")]
    expected = set()
    for text in poms:
        props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
        expected.add((f"{props['groupId']}:{props['artifactId']}", props["version"]))
    assert wagon == expected and len(expected) >= 3
    purls = {p["purl"] for p in doc["packages"]}
    assert "pkg:maven/org.apache.logging.log4j/log4j-core@2.19.0" in purls
    if RAKE.is_file():
        assert ("gem", "rake", "13.0.6", "/usr/local/bundle/specifications/rake-13.0.6.gemspec") in found
    if JDK_RELEASE.is_file():
        java_version = next(line.split("=", 1)[1].strip('"') for line in JDK_RELEASE.read_text().splitlines()
                            if line.startswith("JAVA_VERSION="))
        assert ("generic", "openjdk", java_version, "/opt/java/openjdk/release") in found
    if PATCHLEVEL.is_file():
        py = [p for (t, n, v, path), p in found.items() if t == "generic" and n == "python"]
        assert [p["version"] for p in py] == [PY_VERSION]


def test_log4j_in_fat_and_shaded_jars_is_critical_with_both_paths(javaapp: str, env: dict[str, str]) -> None:
    r = dockguard(["image", "scan", "--format", "json", javaapp], env)
    assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    vulns: list[dict[str, Any]] = vulnerabilities(doc)
    hits = {(v["id"], v["path"]): v for v in vulns if v["package"]["name"] == CORE}
    inner = "/app/app.jar!/BOOT-INF/lib/log4j-core-2.19.0.jar"
    for path in (inner, "/app/shaded.jar"):
        v = hits.get(("DGTEST-LOG4J-2-19", path))
        assert v is not None, sorted(hits)
        assert v["severity"] == "CRITICAL" and v["vulnerability"]["fixed"] == "2.20.0"
    # Log4Shell itself was fixed long before Debian's 2.19.0: it must not be reported.
    assert not any(v["id"] in ("CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q") for v in vulns)
    # Packages nobody publishes advisories for (runtimes built from source), or for which the
    # database holds no feed (RubyGems here), are named as not checked, never called clean.
    unchecked = notes(doc, "NOT CHECKED")
    if JDK_RELEASE.is_file():
        assert any("runtimes built from source" in n and "openjdk" in n for n in unchecked), unchecked
    if RAKE.is_file():
        assert any("no data for this ecosystem" in n and "RubyGems" in n for n in unchecked), unchecked
    # --fail-on gates on it: 1, or 2 when some packages could not be checked (the gate is then
    # undecided, see exit_policy), the finding shown either way.
    r = dockguard(["image", "scan", "--fail-on", "CRITICAL", javaapp], env)
    assert r.returncode == (2 if unchecked else 1), r.stderr
    assert inner in r.stdout
    assert ("Not checked:" in r.stdout) == bool(unchecked)
