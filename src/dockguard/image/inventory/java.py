"""Java archives: jar, war, ear, par, jpi, hpi — and the archives nested in them.

Each ``META-INF/maven/<group>/<artifact>/pom.properties`` of an archive is one package (a
shaded jar yields every artifact it embeds).  An archive without one falls back to its
``META-INF/MANIFEST.MF`` (``Implementation-*``, ``Bundle-*`` fields), then to its file name;
each package records which file gave its name and version (`Package.evidence`).  An archive
whose group cannot be known is a ``generic`` package: no Maven advisory can be matched to it,
and the scan says it was not checked.

Archives inside archives (Spring Boot ``BOOT-INF/lib``, ``WEB-INF/lib``, jars in ears) are
opened to `Limits.max_archive_depth`; their location is the outer path and the inner one,
``/app/app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar``.

An archive is attacker-controlled: the end-of-central-directory record is checked before
``zipfile`` parses anything (at most `Limits.max_archive_entries` entries), only stored and
deflated members are read, every member is read to at most its declared size (which must be
under the member cap), and the bytes inflated from one archive and everything nested in it
are counted against `Limits.max_archive_inflated`.
"""

from __future__ import annotations

import io
import json
import re
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO

from dockguard.image.inventory.base import (
    Blob,
    Catalogue,
    CatalogueInput,
    Cataloguer,
    Extracted,
    Triggers,
    Want,
    truncate,
)
from dockguard.image.limits import Limits
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.vuln.ecosystems import PackageType

SUFFIXES = (".jar", ".war", ".ear", ".par", ".jpi", ".hpi")
_IN_MEMORY = 8 * 1024 * 1024
_POM = re.compile(r"^META-INF/maven/([^/]+)/([^/]+)/pom\.properties$")
_FILE_VERSION = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+?)-(?P<version>\d[\w.\-+]*?)$")


class ArchiveError(ValueError):
    """An archive that cannot be read (or that a bound stops)."""


@dataclass(frozen=True)
class Artifact:
    """One package found in an archive: where (`inner`, '' for the archive itself), what, why."""

    inner: str
    group: str
    artifact: str
    version: str
    evidence: str


@dataclass
class _Budget:
    limits: Limits
    entries: int = 0
    inflated: int = 0
    problems: list[str] = field(default_factory=list)

    def inflate(self, n: int) -> None:
        self.inflated += n
        if self.inflated > self.limits.max_archive_inflated:
            raise ArchiveError(f"more than {self.limits.max_archive_inflated} bytes inflated from one archive")


def parse_properties(data: bytes) -> dict[str, str]:
    """``key=value`` / ``key: value`` lines of a Java properties file (no escapes needed here)."""
    out: dict[str, str] = {}
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
    return out


def parse_manifest(data: bytes) -> dict[str, str]:
    """The main section of a MANIFEST.MF (continuation lines joined)."""
    out: dict[str, str] = {}
    key = ""
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            break  # the main section ends at the first blank line
        if raw.startswith(" ") and key:
            out[key] += raw[1:]
            continue
        name, sep, value = raw.partition(":")
        if sep:
            key = name.strip()
            out.setdefault(key, value.strip())
    return out


def _eocd_count(f: IO[bytes], size: int) -> int:
    """Entries the central directory declares (zip64 aware); ArchiveError when there is none."""
    tail_len = min(size, 65535 + 22)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        raise ArchiveError("not a zip archive (no end of central directory)")
    count = struct.unpack_from("<H", tail, at + 10)[0]
    if count == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", tail, at - 20 + 8)[0]
        if offset + 56 > size:
            raise ArchiveError("zip64 end record outside the archive")
        f.seek(offset)
        rec = f.read(56)
        if rec[:4] != b"PK\x06\x06":
            raise ArchiveError("zip64 end record missing")
        count = struct.unpack_from("<Q", rec, 32)[0]
    return int(count)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, budget: _Budget) -> bytes:
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(f"{info.filename}: compression method {info.compress_type} is not read")
    if info.file_size > cap:
        raise ArchiveError(f"{info.filename}: {info.file_size} bytes is over the {cap}-byte cap")
    budget.inflate(info.file_size)
    with zf.open(info) as member:
        data = member.read(cap + 1)
    if len(data) > cap:
        raise ArchiveError(f"{info.filename}: more bytes than declared")
    return data


def _spool_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> IO[bytes]:
    """A nested archive as a seekable file: in memory when small, else an anonymous temp file."""
    limits = budget.limits
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(f"{info.filename}: compression method {info.compress_type} is not read")
    if info.file_size > limits.max_nested_archive:
        raise ArchiveError(f"{info.filename}: {info.file_size} bytes is over the "
                           f"{limits.max_nested_archive}-byte cap for a nested archive")
    budget.inflate(info.file_size)
    out: IO[bytes] = (io.BytesIO() if info.file_size <= _IN_MEMORY
                      else tempfile.TemporaryFile(prefix="dockguard-jar-"))  # noqa: SIM115 - returned
    try:
        written = 0
        with zf.open(info) as member:
            while chunk := member.read(1 << 20):
                written += len(chunk)
                if written > info.file_size:
                    raise ArchiveError(f"{info.filename}: more bytes than declared")
                out.write(chunk)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


def _artifact_from_manifest(manifest: dict[str, str], stem: str) -> tuple[str, str, str, str] | None:
    """(group, artifact, version, fields used) from manifest fields and the file name."""
    version = manifest.get("Implementation-Version") or manifest.get("Bundle-Version") or ""
    used = ["Implementation-Version" if manifest.get("Implementation-Version") else "Bundle-Version"]
    m = _FILE_VERSION.match(stem)
    artifact = ""
    if m and (not version or m.group("version") == version):
        artifact = m.group("name")
        version = version or m.group("version")
    title = manifest.get("Implementation-Title") or ""
    if not artifact and title and " " not in title:
        artifact = title
        used.append("Implementation-Title")
    if not artifact:
        artifact = stem
    if not version:
        return None
    group = manifest.get("Implementation-Vendor-Id") or ""
    if group:
        used.append("Implementation-Vendor-Id")
    else:
        bsn = manifest.get("Bundle-SymbolicName", "").split(";")[0].strip()
        if bsn.endswith("." + artifact):
            group = bsn[: -len(artifact) - 1]
            used.append("Bundle-SymbolicName")
    return group, artifact, version, ", ".join(used)


def scan_archive(f: IO[bytes], size: int, name: str, limits: Limits) -> tuple[list[Artifact], list[str]]:
    """Every artifact of one archive (and its nested archives), and the problems met."""
    budget = _Budget(limits)
    found: list[Artifact] = []
    _scan(f, size, name, "", 0, budget, found)
    return found, budget.problems


def _scan(f: IO[bytes], size: int, name: str, inner: str, depth: int, budget: _Budget,
          found: list[Artifact]) -> None:
    limits = budget.limits
    where = inner or name
    if size == 0:
        return
    try:
        count = _eocd_count(f, size)
        if count > limits.max_archive_entries:
            raise ArchiveError(f"{count} entries, over the {limits.max_archive_entries}-entry cap")
        budget.entries += count
        if budget.entries > limits.max_archive_scan_entries:
            raise ArchiveError(f"more than {limits.max_archive_scan_entries} entries with its nested archives")
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
            poms = [i for i in infos if _POM.match(i.filename)]
            manifest_info = next((i for i in infos if i.filename.upper() == "META-INF/MANIFEST.MF"), None)
            nested = [i for i in infos if i.filename.lower().endswith(SUFFIXES) and not i.is_dir()]
            for info in poms:
                props = parse_properties(_read_member(zf, info, limits.max_archive_member, budget))
                group, artifact, version = props.get("groupId"), props.get("artifactId"), props.get("version")
                if group and artifact and version:
                    found.append(Artifact(inner, group, artifact, version, info.filename))
            if not poms:
                stem = where.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                manifest = (parse_manifest(_read_member(zf, manifest_info, limits.max_archive_member, budget))
                            if manifest_info is not None else {})
                guess = _artifact_from_manifest(manifest, stem)
                if guess is not None:
                    group, artifact, version, used = guess
                    evidence = f"META-INF/MANIFEST.MF ({used})" if manifest else "file name"
                    found.append(Artifact(inner, group, artifact, version, evidence))
                else:  # listed, so that the scan says it was not checked
                    found.append(Artifact(inner, "", stem, "", "file name (no version found)"))
            for info in nested:
                path = f"{inner}!/{info.filename}" if inner else f"!/{info.filename}"
                if depth + 1 > limits.max_archive_depth:
                    budget.problems.append(f"{name}{path}: nested deeper than {limits.max_archive_depth} "
                                           "archives, not opened")
                    continue
                try:
                    with _spool_member(zf, info, budget) as sub:
                        _scan(sub, info.file_size, name, path, depth + 1, budget, found)
                except ArchiveError as exc:
                    if "inflated from one archive" in str(exc):
                        raise
                    budget.problems.append(f"{name}{path}: {exc}")
    except ArchiveError as exc:
        if inner:
            raise
        budget.problems.append(f"{name}: {exc}")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError,
            struct.error, zlib.error, OSError, ValueError, KeyError) as exc:
        message = f"not a readable archive ({type(exc).__name__}: {str(exc)[:200]})"
        if inner:
            raise ArchiveError(message) from None
        budget.problems.append(f"{name}: {message}")


class JavaCataloguer(Cataloguer):
    """Maven artifacts of Java archives (nested ones included)."""

    name = "java"
    version = "1"
    triggers = Triggers(suffixes=SUFFIXES)

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(1 << 62)  # any size: archives are read through a region or a spool file

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        found, problems = scan_archive(blob.open(), blob.size, "/" + path, limits)
        record = [[a.inner, a.group, a.artifact, a.version, a.evidence] for a in found]
        return Extracted(json.dumps(record, separators=(",", ":")).encode(), tuple(problems))

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        seen: set[tuple[str, str, str]] = set()
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            try:
                items = json.loads(data)
                rows = [(str(i), str(g), str(a), str(v), str(e)) for i, g, a, v, e in items]
            except (ValueError, TypeError):
                out.incomplete.append(f"/{path}: damaged archive record")
                continue
            for inner, group, artifact, version, evidence in rows:
                location = "/" + path + inner
                name = f"{group}:{artifact}" if group else artifact
                if (location, name, version) in seen:
                    continue
                seen.add((location, name, version))
                if group:
                    ptype, purl = PackageType.MAVEN, make_purl("maven", artifact, version, namespace=group)
                else:
                    ptype, purl = PackageType.GENERIC, make_purl("generic", artifact, version)
                found.append(Package(
                    type=ptype, name=name, version=version, source_name=name, source_version=version,
                    purl=purl, layer=inp.layer_id(index), path=location, evidence=evidence,
                ))
        out.packages = truncate(found, limit, out, "Java archives")
        return out
