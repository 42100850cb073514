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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, BinaryIO, cast

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
from dockguard.image.tarstream import Region
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


@dataclass(frozen=True, slots=True)
class _Member:
    """One central-directory entry: the few fields the cataloguer uses, offsets not yet resolved."""

    filename: str
    raw_name: bytes
    flags: int
    compress_type: int
    crc: int
    compress_size: int
    file_size: int
    header_offset: int
    extra: bytes

    def is_dir(self) -> bool:
        return self.filename.endswith("/")


_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")   # 46 bytes, as APPNOTE lays a directory entry out
_LOCAL = struct.Struct("<4s2B4HL2L2H")       # 30 bytes of a local header
_FULL = 0xFFFFFFFF
_CHUNK = 1 << 18
_UNREAD_FLAGS = 0x1 | 0x20 | 0x40   # encrypted, patched data, strong encryption


def _end_record(f: IO[bytes], size: int) -> tuple[int, int, int, int]:
    """(declared entries, central directory start in the stream, its length, shift); zip64 aware.

    Data prepended to an archive (a launch script before a Spring Boot jar) shifts every offset
    the archive records; the shift is where the directory really ends minus where the archive
    says it starts plus its length, as ``zipfile`` computes it.
    """
    tail_len = min(size, 65535 + 22)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        raise ArchiveError("not a zip archive (no end of central directory)")
    count, cd_size, cd_offset = struct.unpack_from("<HLL", tail, at + 10)
    end = size - tail_len + at  # where the directory ends: the end record
    if at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        end -= 20 + 56  # the zip64 end record sits right before its locator
        if end < 0:
            raise ArchiveError("zip64 end record outside the archive")
        f.seek(end)
        rec = f.read(56)
        if len(rec) != 56 or rec[:4] != b"PK\x06\x06":
            raise ArchiveError("zip64 end record missing")
        count, cd_size, cd_offset = struct.unpack_from("<QQQ", rec, 32)
    shift = end - cd_size - cd_offset
    if shift < 0:
        raise ArchiveError("central directory outside the archive")
    return int(count), int(cd_offset + shift), int(cd_size), int(shift)


@dataclass
class _Directory:
    """The entries of a central directory the cataloguer reads, in directory order."""

    poms: list[_Member] = field(default_factory=list)
    manifest: _Member | None = None
    nested: list[_Member] = field(default_factory=list)


_SUFFIX_BYTES = tuple(s.encode() for s in SUFFIXES)


def _central_directory(f: IO[bytes], start: int, length: int, limit: int) -> _Directory:
    """The pom.properties, first MANIFEST.MF and nested archives of a central directory.

    One pass over the directory bytes (at most `limit` entries): ``zipfile`` builds a full
    `ZipInfo` for each of a jar's thousands of classes.  Names are decoded as ``zipfile``
    decodes them (UTF-8 when flagged, else cp437; cut at NUL); a plain ASCII name is tested
    on its bytes, which gives the same answers without decoding it.
    """
    f.seek(start)
    cd = f.read(length)
    if len(cd) != length:
        raise ArchiveError("central directory outside the archive")
    out = _Directory()
    unpack = _CENTRAL.unpack_from
    pos = 0
    count = 0
    while pos < length:
        if pos + 46 > length:
            raise ArchiveError("truncated central directory")
        (sig, _cv, _cs, _ev, _r, flags, method, _t, _d, crc, csize, usize, nlen, elen, clen,
         _disk, _ia, _ea, offset) = unpack(cd, pos)
        if sig != b"PK\x01\x02":
            raise ArchiveError("bad magic number for central directory")
        count += 1
        if count > limit:
            raise ArchiveError(f"more than {limit} entries in the central directory")
        end = pos + 46 + nlen
        raw = cd[pos + 46 : end]
        pos = end + elen + clen
        if raw.isascii() and b"\0" not in raw:
            pom = b"pom.properties" in raw
            manifest = out.manifest is None and nlen == 20 and raw.upper() == b"META-INF/MANIFEST.MF"
            archive = raw.lower().endswith(_SUFFIX_BYTES)
            if not (pom or manifest or archive):
                continue
            name = raw.decode("ascii")
        else:
            name = raw.decode("utf-8") if flags & 0x800 else raw.decode("cp437")
            cut = name.find("\0")
            if cut >= 0:
                name = name[:cut]
            pom = "pom.properties" in name
            manifest = out.manifest is None and name.upper() == "META-INF/MANIFEST.MF"
            archive = name.lower().endswith(SUFFIXES) and not name.endswith("/")
        pom = pom and _POM.match(name) is not None
        if not (pom or manifest or archive):
            continue
        member = _Member(name, raw, flags, method, crc, csize, usize, offset, cd[end : end + elen])
        if pom:
            out.poms.append(member)
        if manifest:
            out.manifest = member
        if archive:
            out.nested.append(member)
    return out


def _resolved(m: _Member, shift: int) -> _Member:
    """`m` with its zip64 sizes and offset (the fields set to 0xFFFFFFFF) and the shift applied."""
    sizes = [m.file_size, m.compress_size, m.header_offset]
    if _FULL in sizes:
        extra, pos = m.extra, 0
        while pos + 4 <= len(extra):
            tag, ln = struct.unpack_from("<HH", extra, pos)
            if pos + 4 + ln > len(extra):
                raise ArchiveError(f"{m.filename}: corrupt extra field {tag:04x}")
            if tag == 1:
                at = pos + 4
                for i in range(3):
                    if sizes[i] == _FULL:
                        if at + 8 > pos + 4 + ln:
                            raise ArchiveError(f"{m.filename}: corrupt zip64 extra field")
                        sizes[i] = struct.unpack_from("<Q", extra, at)[0]
                        at += 8
                break
            pos += 4 + ln
    return _Member(m.filename, m.raw_name, m.flags, m.compress_type, m.crc, sizes[1], sizes[0],
                   sizes[2] + shift, m.extra)


def _data_start(f: IO[bytes], m: _Member) -> int:
    """Where `m`'s data begins, after checking its local header as ``zipfile`` does."""
    if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(f"{m.filename}: compression method {m.compress_type} is not read")
    if m.flags & _UNREAD_FLAGS:
        raise ArchiveError(f"{m.filename}: encrypted or patched data is not read")
    f.seek(m.header_offset)
    head = f.read(30)
    if len(head) != 30:
        raise ArchiveError(f"{m.filename}: local header outside the archive")
    sig, _v, _s, _flags, _method, _t, _d, _crc, _cs, _us, nlen, elen = _LOCAL.unpack(head)
    if sig != b"PK\x03\x04":
        raise ArchiveError(f"{m.filename}: bad magic number for file header")
    if f.read(nlen) != m.raw_name:
        raise ArchiveError(f"{m.filename}: file name in directory and header differ")
    return m.header_offset + 30 + int(nlen) + int(elen)


def _inflate(f: IO[bytes], m: _Member, sink: Callable[[bytes], object]) -> None:
    """Feed `m`'s bytes to `sink` in chunks: exactly its declared size, CRC-32 checked."""
    f.seek(_data_start(f, m))
    crc = 0
    done = 0
    if m.compress_type == zipfile.ZIP_STORED:
        while done < m.file_size:
            data = f.read(min(_CHUNK, m.file_size - done))
            if not data:
                raise ArchiveError(f"{m.filename}: cut short")
            done += len(data)
            crc = zlib.crc32(data, crc)
            sink(data)
    else:
        d = zlib.decompressobj(-15)
        left = m.compress_size
        buf = b""
        while not d.eof:
            if not buf:
                if left <= 0:
                    break
                buf = f.read(min(_CHUNK, left))
                if not buf:
                    break
                left -= len(buf)
            data = d.decompress(buf, m.file_size - done + 1)
            buf = d.unconsumed_tail
            done += len(data)
            if done > m.file_size:
                raise ArchiveError(f"{m.filename}: more bytes than declared")
            crc = zlib.crc32(data, crc)
            sink(data)
        if done != m.file_size:
            raise ArchiveError(f"{m.filename}: cut short")
    if crc != m.crc:
        raise ArchiveError(f"{m.filename}: bad CRC-32")


def _read_member(f: IO[bytes], m: _Member, cap: int, budget: _Budget) -> bytes:
    if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(f"{m.filename}: compression method {m.compress_type} is not read")
    if m.file_size > cap:
        raise ArchiveError(f"{m.filename}: {m.file_size} bytes is over the {cap}-byte cap")
    budget.inflate(m.file_size)
    parts: list[bytes] = []
    _inflate(f, m, parts.append)
    return b"".join(parts)


def _open_nested(f: IO[bytes], m: _Member, outer_size: int, budget: _Budget) -> IO[bytes]:
    """A nested archive as a seekable file.

    A stored one is a window of the outer archive (no copy); a deflated one is inflated in
    memory when small, else to an anonymous temp file.  Either way its declared size counts
    against the archive's inflated-bytes budget.
    """
    limits = budget.limits
    if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(f"{m.filename}: compression method {m.compress_type} is not read")
    if m.file_size > limits.max_nested_archive:
        raise ArchiveError(f"{m.filename}: {m.file_size} bytes is over the "
                           f"{limits.max_nested_archive}-byte cap for a nested archive")
    budget.inflate(m.file_size)
    if m.compress_type == zipfile.ZIP_STORED:
        start = _data_start(f, m)
        if m.compress_size < m.file_size or start + m.file_size > outer_size:
            raise ArchiveError(f"{m.filename}: cut short")
        return cast("IO[bytes]", Region(cast("BinaryIO", f), start, m.file_size))
    out: IO[bytes] = (io.BytesIO() if m.file_size <= _IN_MEMORY
                      else tempfile.TemporaryFile(prefix="dockguard-jar-"))  # noqa: SIM115 - returned
    try:
        _inflate(f, m, out.write)
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
        count, cd_start, cd_length, shift = _end_record(f, size)
        if count > limits.max_archive_entries:
            raise ArchiveError(f"{count} entries, over the {limits.max_archive_entries}-entry cap")
        budget.entries += count
        if budget.entries > limits.max_archive_scan_entries:
            raise ArchiveError(f"more than {limits.max_archive_scan_entries} entries with its nested archives")
        if cd_start + cd_length > size:
            raise ArchiveError("central directory outside the archive")
        directory = _central_directory(f, cd_start, cd_length, limits.max_archive_entries)
        poms = [_resolved(i, shift) for i in directory.poms]
        manifest_info = _resolved(directory.manifest, shift) if directory.manifest is not None else None
        nested = directory.nested
        for info in poms:
            props = parse_properties(_read_member(f, info, limits.max_archive_member, budget))
            group, artifact, version = props.get("groupId"), props.get("artifactId"), props.get("version")
            if group and artifact and version:
                found.append(Artifact(inner, group, artifact, version, info.filename))
        if not poms:
            stem = where.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            manifest = (parse_manifest(_read_member(f, manifest_info, limits.max_archive_member, budget))
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
                member = _resolved(info, shift)
                with _open_nested(f, member, size, budget) as sub:
                    _scan(sub, member.file_size, name, path, depth + 1, budget, found)
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
    version = "2"
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
