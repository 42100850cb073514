"""The one place the registry scan touches the image scanner's internals.

Everything `dockguard.scale` needs from ``dockguard.image`` and ``dockguard.vuln`` goes through
the functions here, which call the same code ``dockguard image scan REF`` runs:

* `resolve_image` — manifest (an index followed to the platform), verified config and layer
  list, through `dockguard.image.pull.RegistrySource`;
* `analyse_registry_layer` — one blob fetched through the registry client (digest verified
  while downloading), analysed and hashed to its diff_id in the same pass
  (`dockguard.image.sources.run_layer` / `verify_layer`, `dockguard.image.layers.analyse_layer`)
  under the scan's `ScanBudget`/`Limits`, and serialised for the store;
* `inventory_from_store` — the image scanner's `build_inventory` run over a source whose layer
  analyses come from the store (squash, OS detection, cataloguers, secrets, notable files);
* `match` / `findings_of` — `dockguard.vuln.match.check_packages` and the image findings, as
  store rows;
* `inventory_doc` / `packages_from_doc` — the inventory as a JSON document and back, every
  field type-checked (the store is data, not trusted code).

When the scanner's internals move (the ``Cataloguer`` interface, the typed ``Finding``), this
module is what changes; the store, the task engine and the commands do not.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from dockguard import __version__
from dockguard.channel.registry_api import Descriptor, RegistryClient
from dockguard.errors import OperationalError
from dockguard.image.digests import DigestMismatch, algorithm
from dockguard.image.inventory import CATALOGUERS
from dockguard.image.layers import ANALYSER_VERSION, LayerAnalysis, analyse_layer
from dockguard.image.limits import DEFAULT_LIMITS, BudgetExceeded, Limits, ScanBudget
from dockguard.image.packages import OSInfo, Package
from dockguard.image.pull import RegistrySource
from dockguard.image.scan import Inventory, build_inventory
from dockguard.image.sources import (
    Analyser,
    ImageMetadata,
    ImageSource,
    LayerRef,
    LayerResult,
    run_layer,
    verify_layer,
)
from dockguard.image.tarstream import LayerStream
from dockguard.inputs import InputError, expect, parse_json
from dockguard.jsontypes import Json, JsonObject, to_json_object
from dockguard.model import Finding, FindingKind
from dockguard.store import FindingRow, ImageRow, LayerFailureKind, LayerRow, Store, finding_key

if TYPE_CHECKING:
    from dockguard.vuln.database import VulnDB
    from dockguard.vuln.match import VulnMatch

ANALYSER_KEY = f"layers-v{ANALYSER_VERSION}+" + ",".join(f"{c.name}-v{c.version}" for c in CATALOGUERS)
"""Version key of a stored layer analysis: a new analyser never reads an old one."""
CATALOGUER_KEY = f"dockguard-{__version__}+layers-v{ANALYSER_VERSION}"
"""Version key of a stored inventory (cataloguers change with dockguard's version)."""
VULNERABILITY = "vulnerability"
"""The finding kind `match` recomputes; every other kind comes from the image itself."""

_MAX_SUMMARY = 4096
_MAX_RECORD_LINE = 32 * 1024 * 1024


# -- resolving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedImage:
    """An image found under a tag: its store row and the index it was picked from ('' if none)."""

    row: ImageRow
    index_digest: str


def check_platform(text: str | None) -> str:
    """``--platform`` checked (``os/arch[/variant]``), or this host's platform."""
    from dockguard.image.sources import host_platform, parse_platform

    if not text:
        return host_platform()
    parse_platform(text)
    return text


class PlatformMissing(OperationalError):
    """The tag names an index without an image for the requested platform."""


def resolve_image(client: RegistryClient, registry: str, repository: str, tag: str, platform: str,
                  limits: Limits = DEFAULT_LIMITS) -> ResolvedImage:
    """Manifest, config and layers of ``registry/repository:tag`` for `platform`, all verified.

    `PlatformMissing` when the tag is an index without that platform.
    """
    source = RegistrySource(client, f"{registry}/{repository}:{tag}", platform, limits)
    try:
        meta = source.metadata()  # the source is not closed: the client is the caller's
    except OperationalError as exc:
        if f" has no image for {platform} " in str(exc):
            raise PlatformMissing(str(exc)) from None
        raise
    pulled = source.pulled()
    layers = tuple(LayerRow(ref.diff_id, ref.digest, ref.size or 0, ref.media_type) for ref in meta.layers)
    row = ImageRow(pulled.manifest_digest, pulled.config_digest, pulled.manifest_media_type,
                   meta.platform or pulled.platform, layers, meta.config)
    return ResolvedImage(row, pulled.index_digest or "")


# -- one layer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerOutcome:
    """What analysing one blob gave: a payload to store, or a failure to remember."""

    payload: bytes = b""
    held: int = 0
    incomplete: tuple[str, ...] = ()
    failure: LayerFailureKind | None = None
    reason: str = ""


def _algos(digest: str) -> tuple[str, ...]:
    algo = algorithm(digest)
    return (algo,) if algo else ()


def analyse_registry_layer(client: RegistryClient, repository: str, layer: LayerRow,
                           limits: Limits = DEFAULT_LIMITS) -> LayerOutcome:
    """Fetch one blob (verified against its digest), analyse it and check its diff_id.

    Network and registry errors raise (`OperationalError`): the layer may be tried again.
    What depends only on the blob's bytes — not a layer, cut short, over a bound, content that
    does not hash to the claimed diff_id — is returned as a failure to be remembered.
    """
    desc = Descriptor(layer.media_type, layer.digest, layer.size)
    ref = LayerRef(diff_id=layer.diff_id, media_type=layer.media_type, digest=layer.digest,
                   size=layer.size, location=layer.digest)
    budget = ScanBudget(limits)
    raw = client.open_blob(repository, desc)

    def analyse(stream: LayerStream) -> LayerAnalysis:
        try:
            return analyse_layer(stream.stream, seekable=stream.seekable, limits=limits, budget=budget)
        finally:
            stream.stream.close()

    try:
        done = run_layer(raw, True, analyse, limits, budget, blob_algos=(), diff_algos=_algos(layer.diff_id),
                         what=f"layer {layer.diff_id}")
        result = verify_layer(ref, done)
    except DigestMismatch as exc:
        return LayerOutcome(failure=LayerFailureKind.MISMATCH, reason=str(exc))
    except OperationalError as exc:  # not a tar, nor gzip/zstd: a property of the blob
        return LayerOutcome(failure=LayerFailureKind.UNREADABLE, reason=str(exc))
    finally:
        raw.close()
    analysis = result.analysis
    if not result.verified:
        reasons = list(analysis.incomplete) or [result.note or "not read to its end"]
        return LayerOutcome(failure=LayerFailureKind.UNREADABLE, reason="; ".join(reasons)[:4000])
    return LayerOutcome(payload=encode_analysis(analysis), held=analysis.held,
                        incomplete=tuple(analysis.incomplete))


def encode_analysis(analysis: LayerAnalysis) -> bytes:
    """A layer analysis as one zstd stream: summary line, JSON records, ``["end"]``, bodies."""
    import zstandard

    parts = {name: [[path, len(data)] for path, data in files.items()] for name, files in analysis.parts.items()}
    blobs = analysis.bodies() + [data for files in analysis.parts.values() for data in files.values()]
    out = io.BytesIO()
    summary = {"held": analysis.held, "bodies": sum(len(b) for b in blobs), "parts": parts,
               "part_held": analysis.part_held}
    with zstandard.ZstdCompressor(level=3, write_checksum=True).stream_writer(out, closefd=False) as z:
        z.write(json.dumps(summary).encode() + b"\n")
        for record in analysis.records():
            z.write(json.dumps(record, separators=(",", ":"), ensure_ascii=True).encode() + b"\n")
        z.write(b'["end"]\n')
        for blob in blobs:
            z.write(blob)
    return out.getvalue()


def decode_analysis(payload: bytes, held: int, origin: str) -> LayerAnalysis:
    """Inverse of `encode_analysis`, bounded by `held` (already charged to a budget).

    `InputError` for anything that is not what `encode_analysis` wrote.
    """
    import zstandard

    records_cap = 6 * held + 1024 * 1024  # JSON escapes at most 6 bytes per character held
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(payload)) as z:
            f = io.BufferedReader(z, 1 << 20)
            summary = parse_json(f.readline(_MAX_SUMMARY), origin)
            if not isinstance(summary, dict):
                raise InputError(origin, "bad summary line")
            s_held, bodies = summary.get("held"), summary.get("bodies")
            if not (isinstance(s_held, int) and isinstance(bodies, int) and 0 <= bodies <= s_held == held):
                raise InputError(origin, "summary does not match the stored sizes")
            total = 0

            def records() -> Iterator[Json]:
                nonlocal total
                while True:
                    line = f.readline(_MAX_RECORD_LINE + 1)
                    total += len(line)
                    if not line.endswith(b"\n") or total > records_cap:
                        raise InputError(origin, "record cut short or too long")
                    record: Json = parse_json(line, origin)
                    if record == ["end"]:
                        return
                    yield record

            read = 0

            def read_body(size: int) -> bytes:
                nonlocal read
                read += size
                if size < 0 or read > bodies:
                    raise InputError(origin, "bodies larger than announced")
                return f.read(size)

            analysis = LayerAnalysis.from_records(records(), read_body)
            _read_parts(analysis, summary, read_body, origin)
            if read != bodies or f.read(1):
                raise InputError(origin, "bodies do not match the summary")
    except (zstandard.ZstdError, ValueError, KeyError, TypeError) as exc:
        raise InputError(origin, f"damaged layer analysis: {str(exc)[:200]}") from None
    analysis.held = held
    return analysis


def _read_parts(analysis: LayerAnalysis, summary: JsonObject, read_body: Callable[[int], bytes],
                origin: str) -> None:
    """The cataloguers' records (path → bytes) named by the summary, bodies after the base ones."""
    parts, part_held = summary.get("parts", {}), summary.get("part_held", {})
    if not isinstance(parts, dict) or not isinstance(part_held, dict):
        raise InputError(origin, "bad cataloguer parts")
    for name, files in parts.items():
        if not isinstance(files, list):
            raise InputError(origin, "bad cataloguer part")
        part = analysis.part(str(name))
        for item in files:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], int)):
                raise InputError(origin, "bad cataloguer record")
            data = read_body(item[1])
            if len(data) != item[1]:
                raise InputError(origin, "cataloguer record cut short")
            part[item[0]] = data
        held = part_held.get(name, 0)
        if not isinstance(held, int) or held < 0:
            raise InputError(origin, "bad cataloguer part size")
        analysis.part_held[str(name)] = held


# -- one image ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredLayer:
    """What the store holds for one layer of an image (see `LayerLoader`)."""

    analysis: LayerAnalysis | None = None
    failure: LayerFailureKind | None = None
    reason: str = ""
    incomplete: tuple[str, ...] = ()


#: (layer row, budget) → what the store has for it (analysis charged to the budget).
LayerLoader = Callable[[LayerRow, ScanBudget], StoredLayer]


class _StoredLayersSource(ImageSource):
    """An image whose layer analyses come from the store, never from a registry."""

    blob_digests_verified = True

    def __init__(self, meta: ImageMetadata, rows: Sequence[LayerRow], load: LayerLoader, limits: Limits) -> None:
        self._meta = meta
        self._rows = {r.diff_id: r for r in rows}
        self._load = load
        self.limits = limits

    def metadata(self) -> ImageMetadata:
        return self._meta

    def open_blob(self, ref: LayerRef) -> tuple[IO[bytes], bool]:
        raise OperationalError(f"layer {ref.diff_id}: a stored image has no blobs to open")

    def analyse_layers(self, refs: Collection[LayerRef], fn: Analyser) -> dict[LayerRef, LayerResult]:
        out: dict[LayerRef, LayerResult] = {}
        for ref in refs:
            got = self._load(self._rows[ref.diff_id], self.budget)
            if got.failure is LayerFailureKind.MISMATCH:
                raise DigestMismatch(got.reason)
            if got.analysis is not None:
                for reason in got.incomplete:
                    if reason not in got.analysis.incomplete:
                        got.analysis.not_read(reason)
                out[ref] = LayerResult(got.analysis, True)  # verified when it was stored
                continue
            placeholder = LayerAnalysis()
            placeholder.stopped = got.reason or "no stored analysis"
            if got.failure is LayerFailureKind.UNREADABLE:
                placeholder.not_read(f"layer not read to its end: {got.reason}")
            else:
                placeholder.not_read(f"layer not analysed: {got.reason or 'no stored analysis'}")
            out[ref] = LayerResult(placeholder, False, placeholder.stopped)
        return out


def load_stored_layer(store: Store, layer: LayerRow, budget: ScanBudget) -> StoredLayer:
    """What `store` (a `dockguard.store.Store`) holds for `layer`, its memory charged to `budget`."""
    info = None
    if store.reusable_layers(ANALYSER_KEY, [(layer.diff_id, layer.digest)]):
        info = store.layer_result_info(layer.diff_id, ANALYSER_KEY)
    if info is None:
        failure = store.failed_layers(ANALYSER_KEY, [layer.digest]).get((layer.digest, layer.diff_id))
        if failure is None:
            return StoredLayer(reason="no stored analysis (the layer task failed: see the run's errors)")
        return StoredLayer(failure=LayerFailureKind(failure[0]), reason=failure[1])
    if info.held > budget.limits.max_held or not budget.hold(info.held):
        return StoredLayer(reason=f"its analysis needs {info.held} bytes of the scan's memory budget")
    origin = f"store {store.url.display()}: layer {layer.diff_id}"
    try:
        payload = store.layer_payload(layer.diff_id, ANALYSER_KEY)
        if payload is None or len(payload) != info.payload_size:
            raise InputError(origin, "stored payload missing or of the wrong size")
        analysis = decode_analysis(payload, info.held, origin)
    except InputError as exc:
        budget.release(info.held)
        return StoredLayer(reason=f"stored analysis unreadable: {exc}")
    except BudgetExceeded as exc:
        budget.release(info.held)
        return StoredLayer(reason=str(exc))
    return StoredLayer(analysis=analysis, incomplete=info.incomplete)


def inventory_from_store(image: ImageRow, names: Sequence[str], load: LayerLoader,
                         limits: Limits = DEFAULT_LIMITS) -> Inventory:
    """The image scanner's inventory of a stored image (`DigestMismatch` for a forged layer)."""
    refs = tuple(LayerRef(diff_id=r.diff_id, media_type=r.media_type, digest=r.digest, size=r.size,
                          location=r.digest) for r in image.layers)
    meta = ImageMetadata(name=names[0] if names else image.digest, config=image.config, layers=refs,
                         kind="registry", repo_tags=tuple(names), image_id=image.config_digest,
                         platform=image.platform)
    return build_inventory(_StoredLayersSource(meta, image.layers, load, limits), None)


def _package_doc(p: Package) -> JsonObject:
    return {"type": p.type, "name": p.name, "version": p.version, "source_name": p.source_name,
            "source_version": p.source_version, "arch": p.arch, "purl": p.purl, "layer": p.layer,
            "path": p.path, "os_owned": p.os_owned, "licenses": list(p.licenses)}


def inventory_doc(inv: Inventory) -> JsonObject:
    """The parts of an inventory a later re-match or report needs, as a JSON document."""
    return {
        "os": dataclasses.asdict(inv.os) if inv.os else None,
        "packages": [_package_doc(p) for p in inv.packages],
        "complete": inv.complete,
        "incomplete": list(inv.incomplete),
        "warnings": list(inv.warnings),
        "errors": list(inv.errors),
        "name": inv.metadata.name,
    }


_PKG_STR = ("type", "name", "version", "source_name", "source_version", "arch", "purl", "layer", "path")
_OS_STR = ("family", "version", "codename", "pretty_name")


def packages_from_doc(doc: JsonObject, origin: str) -> tuple[OSInfo | None, list[Package]]:
    """OS and packages of a stored inventory document, every field type-checked."""
    os_doc = doc.get("os")
    os_info = None
    if os_doc is not None:
        os_obj: JsonObject = expect(os_doc, dict, origin, ["os"])
        fields: dict[str, str] = {k: expect(os_obj.get(k, ""), str, origin, ["os", k]) for k in _OS_STR}
        eol: bool | None = None
        if os_obj.get("eol") is not None:
            eol = expect(os_obj.get("eol"), bool, origin, ["os", "eol"])
        unstable: bool = expect(os_obj.get("unstable", False), bool, origin, ["os", "unstable"])
        os_info = OSInfo(eol=eol, unstable=unstable, **fields)
    items: list[Json] = expect(doc.get("packages", []), list, origin, ["packages"])
    packages = []
    for i, item in enumerate(items):
        obj: JsonObject = expect(item, dict, origin, ["packages", i])
        fields = {k: expect(obj.get(k, ""), str, origin, ["packages", i, k]) for k in _PKG_STR}
        owned: bool = expect(obj.get("os_owned", False), bool, origin, ["packages", i, "os_owned"])
        licence_items: list[Json] = expect(obj.get("licenses", []), list, origin, ["packages", i, "licenses"])
        licences = [expect(lic, str, origin, ["packages", i, "licenses", j]) for j, lic in enumerate(licence_items)]
        packages.append(Package(os_owned=owned, licenses=tuple(licences), **fields))
    return os_info, packages


# -- matching and findings ------------------------------------------------------------------


@dataclass(frozen=True)
class Matched:
    """The vulnerabilities of one inventory (unlabelled: several images may share them)."""

    matches: tuple[VulnMatch, ...]
    not_checked: tuple[str, ...]


def match(db: VulnDB, os_info: OSInfo | None, packages: Sequence[Package]) -> Matched:
    """Match `packages` against `db` (a `VulnDB`) as ``image scan`` does."""
    from dockguard.vuln.match import MatchOptions, check_packages

    result = check_packages(db, os_info, packages, MatchOptions())
    return Matched(result.matches, tuple(n.message() for n in result.not_checked))


def vulnerability_rows(matched: Matched, label: str) -> list[FindingRow]:
    """The matches as finding rows of the image labelled `label`."""
    from dockguard.pipeline.image_scan import vuln_finding

    return [finding_row(vuln_finding(m, label)) for m in matched.matches]


def inventory_key(doc: JsonObject) -> str:
    """A digest of what matching reads from an inventory document (OS and packages)."""
    import hashlib

    text = json.dumps([doc.get("os"), doc.get("packages")], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


def config_findings(inv: Inventory, label: str) -> list[FindingRow]:
    """The image's own findings (configuration, secrets, setuid files) as rows."""
    from dockguard.image import config_rules

    return [finding_row(f) for f in config_rules.check_image(inv, label)]


def finding_row(f: Finding) -> FindingRow:
    """A `dockguard.model.Finding` as a store row (its document is the report JSON of the finding)."""
    from dockguard.report.json import finding_dict

    doc = to_json_object(finding_dict(f))
    package = f.package.name if f.package else ""
    version = f.package.version if f.package else ""
    fixed = (f.vulnerability.fixed or "") if f.vulnerability else ""
    if f.kind is FindingKind.VULNERABILITY:
        fkey = finding_key(f.kind.value, f.id, package, version, f.path)
    else:
        fkey = finding_key(f.kind.value, f.id, f.title, json.dumps([f.path, list(f.evidence)], sort_keys=True))
    return FindingRow(fkey, f.kind.value, f.id, f.severity.value, package, version, fixed, doc)


def open_vuln_db(path: str | None) -> VulnDB:
    """The vulnerability database at `path` (default: ``$DOCKGUARD_DB`` or the user cache dir)."""
    from pathlib import Path

    from dockguard.vuln.database import VulnDB

    return VulnDB.open(Path(path).expanduser() if path else None)


def stale_feeds(db: VulnDB) -> list[str]:
    """Names of the database's feeds older than the staleness threshold."""
    return [f.name for f in db.stale_feeds()]
