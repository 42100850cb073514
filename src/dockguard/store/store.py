"""`Store`: scan runs, images, layers, per-layer results, inventories, findings, hosts.

Every write is an idempotent upsert keyed by content (manifest digest, diff_id plus analyser
version, image plus cataloguer version, image plus finding key) or by run, so a task that runs
twice — a worker that died after writing, a resumed run, two scans of one registry at once —
leaves exactly what one run would have.  Multi-row writes touch rows in key order inside one
transaction (`Connection.write` retries lock conflicts).

The store knows nothing about images beyond these rows: the scanner's own types are turned
into rows and documents by `dockguard.scale.image_adapter`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from dockguard.errors import OperationalError, UsageError
from dockguard.inputs import InputError
from dockguard.jsontypes import JsonObject
from dockguard.store import documents as docs
from dockguard.store.backend import (
    Connection,
    Dialect,
    Row,
    SqlValue,
    StoreURL,
    as_float,
    as_int,
    as_str,
    parse_store_url,
)
from dockguard.store.schema import SCHEMA_VERSION, migrate

#: diff_ids per ``IN (…)`` query (SQLite allows 32,766 parameters; keep statements small).
IN_BATCH = 500

T = TypeVar("T")


class RunKind(StrEnum):
    """What a run did."""

    REGISTRY_SCAN = "registry-scan"
    REMATCH = "rematch"
    AUDIT = "audit"
    COLLECT = "collect"


class RunStatus(StrEnum):
    """Where a run stands: ``partial`` = finished, but some images failed or were incomplete."""

    RUNNING = "running"
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"


class ImageStatus(StrEnum):
    """What a run did with one image."""

    STORED = "stored"           # inventory and findings stored, every part read
    INCOMPLETE = "incomplete"   # stored, but parts of the image were not read (reasons stored)
    FAILED = "failed"           # nothing stored for it in this run (error stored)


class LayerFailureKind(StrEnum):
    """Why a blob has no analysis."""

    UNREADABLE = "unreadable"   # the stream ended early or went over a bound: the image is incomplete
    MISMATCH = "mismatch"       # its content does not match the diff_id claimed: the image fails


@dataclass(frozen=True)
class LayerRow:
    """One layer of an image: uncompressed digest, blob digest, blob size, media type."""

    diff_id: str
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class ImageRow:
    """An image by manifest digest (`layers` in order)."""

    digest: str
    config_digest: str
    media_type: str
    platform: str
    layers: tuple[LayerRow, ...]
    config: JsonObject = field(default_factory=dict, hash=False, compare=False)

    @property
    def size(self) -> int:
        """Compressed bytes of its layers."""
        return sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class ImageRef:
    """A name an image was seen under."""

    registry: str
    repository: str
    tag: str
    index_digest: str = ""

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class LayerResultInfo:
    """A stored layer analysis without its payload."""

    held: int
    payload_size: int
    complete: bool
    incomplete: tuple[str, ...]


@dataclass(frozen=True)
class FindingRow:
    """One finding of one image: `fkey` identifies it across runs (kind, id, package, …)."""

    fkey: str
    kind: str
    id: str
    severity: str
    package: str
    version: str
    fixed: str
    doc: JsonObject = field(hash=False, compare=False)


@dataclass(frozen=True)
class FindingChanges:
    """What replacing an image's findings changed."""

    new: tuple[FindingRow, ...]
    fixed: tuple[FindingRow, ...]


@dataclass(frozen=True)
class RunInfo:
    """One run's row."""

    id: str
    kind: RunKind
    target: str
    options: JsonObject
    tool_version: str
    started: float
    finished: float | None
    status: RunStatus
    summary: JsonObject


@dataclass(frozen=True)
class ImageOutcome:
    """What a run recorded for one image."""

    status: ImageStatus
    error: str
    summary: JsonObject


@dataclass(frozen=True)
class HostIdentity:
    """A Docker host: the daemon's ID from ``/info`` and its hostname (two daemons on one
    machine are two hosts).  `daemon_id` is ``""`` when the daemon could not be reached: the
    host is then known by its hostname only."""

    daemon_id: str
    hostname: str

    def __post_init__(self) -> None:
        if not self.hostname:
            raise UsageError("a host identity needs the hostname")


@dataclass(frozen=True)
class StoreStatus:
    """Counts for ``dockguard store status``."""

    url: str
    schema_version: int
    runs: int
    images: int
    refs: int
    layers_referenced: int
    layers_distinct: int
    layer_results: int
    layer_failures: int
    layer_bytes: int
    inventories: int
    findings: dict[str, int]
    hosts: int
    size_bytes: int | None
    last_runs: tuple[RunInfo, ...]

    @property
    def dedupe_factor(self) -> float:
        """Layers referenced by images / distinct layers (1.0 for an empty store)."""
        return self.layers_referenced / self.layers_distinct if self.layers_distinct else 1.0


def finding_key(*parts: str) -> str:
    """A stable key of a finding's identity (hash of its parts, NUL separated)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "backslashreplace")).hexdigest()[:40]


def _ints(rows: list[Row]) -> int:
    return as_int(rows[0][0] if rows and rows[0] else 0)


def _finding_columns(r: FindingRow) -> tuple[str, ...]:
    return (docs.clean(r.kind), docs.clean(r.id), docs.clean(r.severity), docs.clean(r.package),
            docs.clean(r.version), docs.clean(r.fixed))


def _chunks(items: Sequence[T], n: int = IN_BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), n):
        yield items[start : start + n]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class Store:
    """A connection to one store; see the module docstring.  Not shared between threads."""

    def __init__(self, url: StoreURL, conn: Connection) -> None:
        self.url = url
        self.conn = conn

    @classmethod
    def open(cls, url: str | StoreURL | None = None, *, upgrade: bool = True) -> Store:
        """Connect and bring the schema to the current version (unless `upgrade` is False)."""
        from dockguard import __version__

        parsed = url if isinstance(url, StoreURL) else parse_store_url(url)
        conn = Connection(parsed)
        try:
            if upgrade:
                migrate(conn, tool_version=__version__)
        except BaseException:
            conn.close()
            raise
        return cls(parsed, conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, kind: RunKind, target: str, options: Mapping[str, object]) -> str:
        """A new run in state ``running``; returns its id (16 hex digits)."""
        from dockguard import __version__

        run_id = secrets.token_hex(8)
        self.conn.write(lambda c: c.execute(
            "INSERT INTO runs (id, kind, target, options, tool_version, started, status, summary) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, kind.value, docs.clean(target), docs.dumps(options), __version__, time.time(),
             RunStatus.RUNNING.value, "{}")), "start a run")
        return run_id

    def run(self, run_id: str) -> RunInfo | None:
        """The run with this id (a unique prefix of at least 6 digits is enough), or None."""
        text = run_id.strip().lower()
        if not 6 <= len(text) <= 16 or any(c not in "0123456789abcdef" for c in text):
            raise UsageError(f"invalid run id {run_id[:40]!r} (6 to 16 hex digits)")
        rows = self.conn.execute(
            "SELECT id, kind, target, options, tool_version, started, finished, status, summary "
            "FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2", (text, text + "g"))
        if len(rows) > 1:
            raise UsageError(f"run id {text} is ambiguous: give more digits")
        return self._run_info(rows[0]) if rows else None

    def runs(self, limit: int = 20) -> list[RunInfo]:
        """The most recent runs, newest first."""
        rows = self.conn.execute(
            "SELECT id, kind, target, options, tool_version, started, finished, status, summary "
            "FROM runs ORDER BY started DESC LIMIT ?", (limit,))
        return [self._run_info(r) for r in rows]

    def _run_info(self, row: Row) -> RunInfo:
        origin = f"store {self.url.display()}: run {as_str(row[0])[:16]}"
        options = docs.load_object(row[3], docs.MAX_FINDING_DOC, origin + " options")
        summary = docs.load_object(row[8], docs.MAX_FINDING_DOC, origin + " summary")
        try:
            kind, status = RunKind(as_str(row[1])), RunStatus(as_str(row[7]))
        except ValueError as exc:
            raise InputError(origin, f"unknown value: {exc}") from None
        return RunInfo(as_str(row[0]), kind, as_str(row[2]), options, as_str(row[4]), as_float(row[5]),
                       as_float(row[6]) if row[6] is not None else None, status, summary)

    def reopen_run(self, run_id: str) -> None:
        """Mark a finished run as running again (``--resume``)."""
        self.conn.write(lambda c: c.execute(
            "UPDATE runs SET status = ?, finished = NULL WHERE id = ?",
            (RunStatus.RUNNING.value, run_id)), "resume a run")

    def finish_run(self, run_id: str, status: RunStatus, summary: Mapping[str, object]) -> None:
        """Record the end of a run and its summary."""
        self.conn.write(lambda c: c.execute(
            "UPDATE runs SET status = ?, finished = ?, summary = ? WHERE id = ?",
            (status.value, time.time(), docs.dumps(summary), run_id)), "finish a run")

    def record_error(self, run_id: str, subject: str, error: str) -> None:
        """Remember that `subject` (an image reference, a repository) failed in this run."""
        self.conn.write(lambda c: c.execute(
            "INSERT INTO run_errors (run, subject, error, stored) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run, subject) DO UPDATE SET error = excluded.error, stored = excluded.stored",
            (run_id, docs.clean(subject, 4096), docs.clean(error), time.time())), "record an error")

    def clear_errors(self, run_id: str) -> None:
        """Forget the errors of this run (it is resumed: what still fails is recorded again)."""
        self.conn.write(lambda c: c.execute("DELETE FROM run_errors WHERE run = ?", (run_id,)),
                        "clear the errors of a run")

    def run_errors(self, run_id: str) -> list[tuple[str, str]]:
        """(subject, error) of every failure recorded for this run."""
        return [(as_str(s), as_str(e)) for s, e in self.conn.execute(
            "SELECT subject, error FROM run_errors WHERE run = ? ORDER BY subject", (run_id,))]

    # -- images --------------------------------------------------------------------------

    def record_image(self, run_id: str, image: ImageRow, refs: Sequence[ImageRef]) -> None:
        """Upsert an image, its layers and the names it was seen under in this run."""
        now = time.time()
        config, config_size = docs.pack(image.config)

        def write(c: Connection) -> None:
            c.execute(
                "INSERT INTO images (digest, config_digest, media_type, platform, layer_count, size, "
                "config_size, config, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET last_seen = excluded.last_seen",
                (image.digest, image.config_digest, docs.clean(image.media_type), docs.clean(image.platform),
                 len(image.layers), image.size, config_size, config, now, now))
            layers = sorted({(r.diff_id, r.digest): r for r in image.layers}.values(),
                            key=lambda r: (r.diff_id, r.digest))
            c.executemany(
                "INSERT INTO layers (diff_id, digest, size, media_type) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (diff_id, digest) DO NOTHING",
                [(r.diff_id, r.digest, r.size, docs.clean(r.media_type)) for r in layers])
            c.executemany(
                "INSERT INTO image_layers (image, position, diff_id, digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (image, position) DO NOTHING",
                [(image.digest, i, r.diff_id, r.digest) for i, r in enumerate(image.layers)])
            c.executemany(
                "INSERT INTO image_refs (registry, repository, tag, image, index_digest, first_seen, "
                "last_seen, last_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (registry, repository, tag, image) DO UPDATE SET "
                "last_seen = excluded.last_seen, last_run = excluded.last_run, "
                "index_digest = excluded.index_digest",
                [(docs.clean(r.registry), docs.clean(r.repository), docs.clean(r.tag), image.digest,
                  r.index_digest, now, now, run_id)
                 for r in sorted(set(refs), key=lambda r: (r.registry, r.repository, r.tag))])

        self.conn.write(write, f"record image {image.digest}")

    def image(self, digest: str) -> ImageRow | None:
        """The stored image with its layers and config (decoded with bounds), or None."""
        row = self.conn.one(
            "SELECT config_digest, media_type, platform, config_size, config FROM images WHERE digest = ?",
            (digest,))
        if row is None:
            return None
        origin = f"store {self.url.display()}: image {digest}"
        config = docs.unpack(row[4], row[3], docs.MAX_CONFIG_DOC, origin + " config")
        if not isinstance(config, dict):
            raise InputError(origin, "the stored config is not an object", "$")
        layers = tuple(
            LayerRow(as_str(d), as_str(g), as_int(s), as_str(m)) for d, g, s, m in self.conn.execute(
                "SELECT l.diff_id, l.digest, y.size, y.media_type FROM image_layers l "
                "JOIN layers y ON y.diff_id = l.diff_id AND y.digest = l.digest "
                "WHERE l.image = ? ORDER BY l.position", (digest,)))
        return ImageRow(digest, as_str(row[0]), as_str(row[1]), as_str(row[2]), layers, config)

    def image_names(self, digest: str) -> list[str]:
        """Every ``registry/repository:tag`` the image was seen under, most recent first."""
        return [f"{r}/{p}:{t}" for r, p, t in self.conn.execute(
            "SELECT registry, repository, tag FROM image_refs WHERE image = ? "
            "ORDER BY last_seen DESC, registry, repository, tag", (digest,))]

    def images_seen(self, run_id: str) -> list[str]:
        """Digests of the images a run saw (by their refs)."""
        return [as_str(r[0]) for r in self.conn.execute(
            "SELECT DISTINCT image FROM image_refs WHERE last_run = ? ORDER BY image", (run_id,))]

    # -- layers --------------------------------------------------------------------------

    def stored_layers(self, analyser: str, diff_ids: Iterable[str]) -> set[str]:
        """Which of `diff_ids` have a stored analysis for this analyser version."""
        wanted = sorted(set(diff_ids))
        found: set[str] = set()
        for part in _chunks(wanted):
            found.update(as_str(r[0]) for r in self.conn.execute(
                f"SELECT diff_id FROM layer_results WHERE analyser = ? AND diff_id IN ({_marks(len(part))})",
                (analyser, *part)))
        return found

    def failed_layers(self, analyser: str, digests: Iterable[str]) -> dict[tuple[str, str], tuple[str, str]]:
        """(blob digest, claimed diff_id) → (kind, reason) for failures among `digests`."""
        wanted = sorted(set(digests))
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for part in _chunks(wanted):
            for g, d, k, r in self.conn.execute(
                    f"SELECT digest, diff_id, kind, reason FROM layer_failures WHERE analyser = ? "
                    f"AND digest IN ({_marks(len(part))})", (analyser, *part)):
                found[(as_str(g), as_str(d))] = (as_str(k), as_str(r))
        return found

    def reusable_layers(self, analyser: str, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (diff_id, blob digest) pairs have a stored analysis *and* a blob verified to
        decompress to that diff_id.

        A stored analysis is reused for a layer only through a blob that was verified against
        its diff_id: an image whose config claims another image's diff_id for bytes of its own
        gets its own blob fetched (and fails on the mismatch), never the other's analysis.
        """
        wanted = sorted(set(pairs))
        found: set[tuple[str, str]] = set()
        for part in _chunks(sorted({d for d, _ in wanted})):
            for d, g in self.conn.execute(
                    f"SELECT l.diff_id, l.digest FROM layers l JOIN layer_results r ON r.diff_id = l.diff_id "
                    f"AND r.analyser = ? WHERE l.verified = 1 AND l.diff_id IN ({_marks(len(part))})",
                    (analyser, *part)):
                found.add((as_str(d), as_str(g)))
        return found & set(wanted)

    def put_layer_result(self, run_id: str, diff_id: str, analyser: str, payload: bytes, held: int,
                         incomplete: Sequence[str], *, digest: str, size: int, media_type: str) -> None:
        """Store the analysis of a layer whose blob `digest` was verified against `diff_id`
        (the first analysis stored for a diff_id stays; the blob is marked verified)."""
        def write(c: Connection) -> None:
            c.execute(
                "INSERT INTO layer_results (diff_id, analyser, complete, incomplete, held, payload_size, "
                "payload, run, stored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (diff_id, analyser) DO NOTHING",
                (diff_id, analyser, int(not incomplete), docs.dumps([docs.clean(i) for i in incomplete]),
                 held, len(payload), payload, run_id, time.time()))
            c.execute(
                "INSERT INTO layers (diff_id, digest, size, media_type, verified) VALUES (?, ?, ?, ?, 1) "
                "ON CONFLICT (diff_id, digest) DO UPDATE SET verified = 1",
                (diff_id, digest, size, docs.clean(media_type)))

        self.conn.write(write, f"store layer {diff_id}")

    def layer_result_info(self, diff_id: str, analyser: str) -> LayerResultInfo | None:
        """The stored analysis' size and completeness (its payload is not read)."""
        row = self.conn.one(
            "SELECT held, payload_size, complete, incomplete FROM layer_results "
            "WHERE diff_id = ? AND analyser = ?", (diff_id, analyser))
        if row is None:
            return None
        origin = f"store {self.url.display()}: layer {diff_id}"
        reasons = docs.load_text(row[3], docs.MAX_FINDING_DOC, origin)
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise InputError(origin, "incomplete is not a list of strings", "$")
        if not all(isinstance(v, int) and v >= 0 for v in (row[0], row[1])):
            raise InputError(origin, "held and payload_size must be non-negative integers")
        return LayerResultInfo(as_int(row[0]), as_int(row[1]), bool(row[2]), tuple(str(r) for r in reasons))

    def layer_payload(self, diff_id: str, analyser: str) -> bytes | None:
        """The stored analysis payload (the caller has charged its size to a budget)."""
        row = self.conn.one("SELECT payload FROM layer_results WHERE diff_id = ? AND analyser = ?",
                            (diff_id, analyser))
        if row is None:
            return None
        value = row[0]
        if not isinstance(value, bytes | bytearray | memoryview):
            raise InputError(f"store {self.url.display()}: layer {diff_id}", "the stored payload is not bytes")
        return bytes(value)

    def put_layer_failure(self, run_id: str, digest: str, diff_id: str, analyser: str,
                          kind: LayerFailureKind, reason: str) -> None:
        """Remember that a verified blob could not be analysed (so it is not fetched again)."""
        self.conn.write(lambda c: c.execute(
            "INSERT INTO layer_failures (digest, diff_id, analyser, kind, reason, run, stored) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest, diff_id, analyser) DO NOTHING",
            (digest, diff_id, analyser, kind.value, docs.clean(reason), run_id, time.time())),
            f"record layer failure {digest}")

    # -- inventories ---------------------------------------------------------------------

    def put_inventory(self, run_id: str, image: str, cataloguer: str, doc: Mapping[str, object],
                      *, complete: bool, packages: int, match_key: str) -> None:
        """Store (replace) an image's inventory for this cataloguer version.

        `match_key` identifies what matching reads from it: inventories with equal keys give
        equal matches (`inventory_groups`).
        """
        blob, size = docs.pack(doc)
        self.conn.write(lambda c: c.execute(
            "INSERT INTO inventories (image, cataloguer, complete, packages, match_key, doc_size, doc, run, stored) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (image, cataloguer) DO UPDATE SET "
            "complete = excluded.complete, packages = excluded.packages, match_key = excluded.match_key, "
            "doc_size = excluded.doc_size, doc = excluded.doc, run = excluded.run, stored = excluded.stored",
            (image, cataloguer, int(complete), packages, docs.clean(match_key, 200), size, blob, run_id,
             time.time())), f"store the inventory of {image}")

    def inventory_groups(self, cataloguer: str) -> list[tuple[str, list[str]]]:
        """(match key, images) for every group of images whose inventories match alike."""
        groups: dict[str, list[str]] = {}
        for image, key in self.conn.iterate(
                "SELECT image, match_key FROM inventories WHERE cataloguer = ? ORDER BY match_key, image",
                (cataloguer,)):
            groups.setdefault(as_str(key), []).append(as_str(image))
        return sorted(groups.items())

    def inventory(self, image: str, cataloguer: str) -> JsonObject | None:
        """The stored inventory document, decoded with bounds, or None."""
        row = self.conn.one("SELECT doc_size, doc FROM inventories WHERE image = ? AND cataloguer = ?",
                            (image, cataloguer))
        if row is None:
            return None
        return self._inventory_doc(image, row[0], row[1])

    def _inventory_doc(self, image: str, size: object, blob: object) -> JsonObject:
        origin = f"store {self.url.display()}: inventory of {image}"
        return docs.unpack_object(blob, size, docs.MAX_INVENTORY_DOC, origin)

    def inventories(self, cataloguer: str) -> Iterator[tuple[str, JsonObject]]:
        """(image digest, inventory document) of every image, one at a time."""
        images = [as_str(r[0]) for r in self.conn.execute(
            "SELECT image FROM inventories WHERE cataloguer = ? ORDER BY image", (cataloguer,))]
        for part in _chunks(images, 50):
            rows = self.conn.execute(
                f"SELECT image, doc_size, doc FROM inventories WHERE cataloguer = ? "
                f"AND image IN ({_marks(len(part))}) ORDER BY image", (cataloguer, *part))
            for image, size, blob in rows:
                yield as_str(image), self._inventory_doc(as_str(image), size, blob)

    def images_without_inventory(self, cataloguer: str) -> int:
        """Images with inventories only from other cataloguer versions (older dockguards)."""
        return _ints(self.conn.execute(
            "SELECT COUNT(DISTINCT image) FROM inventories WHERE image NOT IN "
            "(SELECT image FROM inventories WHERE cataloguer = ?)", (cataloguer,)))

    def count_inventories(self, cataloguer: str) -> int:
        """How many images have an inventory for this cataloguer version."""
        return _ints(self.conn.execute("SELECT COUNT(*) FROM inventories WHERE cataloguer = ?", (cataloguer,)))

    # -- findings ------------------------------------------------------------------------

    def replace_findings(self, run_id: str, image: str, rows: Sequence[FindingRow],
                         kinds: Collection[str] | None, *, record_changes: bool = False) -> FindingChanges:
        """Make `rows` the image's findings of `kinds` (None: of every kind); returns what is
        new and what is gone.

        With `record_changes` the differences are also kept under the run (``finding_changes``).
        """
        wanted = sorted({r.fkey: r for r in rows}.values(), key=lambda r: r.fkey)
        kind_list = sorted(set(kinds)) if kinds is not None else None
        now = time.time()

        def write(c: Connection) -> FindingChanges:
            old: dict[str, Row] = {}
            select = "SELECT fkey, kind, id, severity, package, version, fixed, doc FROM findings WHERE image = ?"
            if kind_list is None:
                found = c.execute(select, (image,))
            else:
                found = []
                for part in _chunks(kind_list):
                    found += c.execute(f"{select} AND kind IN ({_marks(len(part))})", (image, *part))
            for row in found:
                old[as_str(row[0])] = row
            new_keys = {r.fkey for r in wanted}
            gone = sorted(k for k in old if k not in new_keys)
            for part in _chunks(gone):
                c.execute(f"DELETE FROM findings WHERE image = ? AND fkey IN ({_marks(len(part))})",
                          (image, *part))
            texts = {r.fkey: docs.dumps(r.doc) for r in wanted}
            changed = [r for r in wanted if r.fkey not in old or old[r.fkey][7] != texts[r.fkey]
                       or tuple(old[r.fkey][1:7]) != _finding_columns(r)]
            c.executemany(
                "INSERT INTO findings (image, fkey, kind, id, severity, package, version, fixed, doc, run, "
                "stored, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (image, fkey) DO UPDATE SET kind = excluded.kind, id = excluded.id, "
                "severity = excluded.severity, package = excluded.package, version = excluded.version, "
                "fixed = excluded.fixed, doc = excluded.doc, run = excluded.run, stored = excluded.stored",
                [(image, r.fkey, *_finding_columns(r), texts[r.fkey], run_id, now, now) for r in changed])
            added = tuple(r for r in wanted if r.fkey not in old)
            fixed = tuple(self._finding_row(image, old[k]) for k in gone)
            if record_changes:
                changes = [(r, "new") for r in added] + [(r, "fixed") for r in fixed]
                c.executemany(
                    "INSERT INTO finding_changes (run, image, fkey, change, kind, id, severity, package, "
                    "version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (run, image, fkey) DO UPDATE SET change = excluded.change",
                    [(run_id, image, r.fkey, change, docs.clean(r.kind), docs.clean(r.id),
                      docs.clean(r.severity), docs.clean(r.package), docs.clean(r.version), docs.dumps(r.doc))
                     for r, change in sorted(changes, key=lambda x: x[0].fkey)])
            return FindingChanges(added, fixed)

        return self.conn.write(write, f"store the findings of {image}")

    def _finding_row(self, image: str, row: Row) -> FindingRow:
        origin = f"store {self.url.display()}: finding {as_str(row[0])[:40]} of {image}"
        doc = docs.load_object(row[7], docs.MAX_FINDING_DOC, origin)
        t = [as_str(v) for v in row[:7]]
        return FindingRow(t[0], t[1], t[2], t[3], t[4], t[5], t[6], doc)

    def findings(self, image: str, kinds: Collection[str] | None = None) -> list[FindingRow]:
        """The image's stored findings (of `kinds`, or all), ordered by key."""
        sql = "SELECT fkey, kind, id, severity, package, version, fixed, doc FROM findings WHERE image = ?"
        params: list[SqlValue] = [image]
        if kinds is not None:
            kinds = sorted(set(kinds))
            sql += f" AND kind IN ({_marks(len(kinds))})"
            params += kinds
        return [self._finding_row(image, r) for r in self.conn.execute(sql + " ORDER BY fkey", params)]

    def finding_changes(self, run_id: str) -> list[tuple[str, str, FindingRow]]:
        """(image, 'new' | 'fixed', finding) recorded by a run."""
        out = []
        for row in self.conn.execute(
                "SELECT image, change, fkey, kind, id, severity, package, version, '', doc "
                "FROM finding_changes WHERE run = ? ORDER BY image, change, fkey", (run_id,)):
            out.append((as_str(row[0]), as_str(row[1]), self._finding_row(as_str(row[0]), row[2:])))
        return out

    def has_findings(self, image: str) -> bool:
        """True when the image was evaluated before (it has an inventory or findings)."""
        return (self.conn.one("SELECT 1 FROM inventories WHERE image = ? LIMIT 1", (image,)) is not None
                or self.conn.one("SELECT 1 FROM findings WHERE image = ? LIMIT 1", (image,)) is not None)

    def severity_counts(self, image: str) -> dict[str, int]:
        """Findings of the image by severity."""
        return {as_str(s): as_int(n) for s, n in self.conn.execute(
            "SELECT severity, COUNT(*) FROM findings WHERE image = ? GROUP BY severity", (image,))}

    # -- what a run did with each image ---------------------------------------------------

    def mark_image(self, run_id: str, image: str, status: ImageStatus, error: str = "",
                   summary: Mapping[str, object] | None = None) -> None:
        """Record (replace) the outcome of `image` in this run."""
        self.conn.write(lambda c: c.execute(
            "INSERT INTO run_images (run, image, status, error, summary, stored) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run, image) DO UPDATE SET status = excluded.status, error = excluded.error, "
            "summary = excluded.summary, stored = excluded.stored",
            (run_id, image, status.value, docs.clean(error), docs.dumps(summary or {}), time.time())),
            f"record the outcome of {image}")

    def run_images(self, run_id: str) -> dict[str, ImageOutcome]:
        """Image digest → outcome, for every image the run recorded."""
        out: dict[str, ImageOutcome] = {}
        for image, status, error, summary in self.conn.execute(
                "SELECT image, status, error, summary FROM run_images WHERE run = ?", (run_id,)):
            origin = f"store {self.url.display()}: run {run_id} image {as_str(image)}"
            doc = docs.load_text(summary, docs.MAX_FINDING_DOC, origin)
            try:
                st = ImageStatus(as_str(status))
            except ValueError:
                raise InputError(origin, f"unknown status {as_str(status)[:40]!r}") from None
            out[as_str(image)] = ImageOutcome(st, as_str(error), doc if isinstance(doc, dict) else {})
        return out

    # -- the fleet (filled by `audit --store` / `collect --store`) ------------------------

    def _touch_host(self, c: Connection, host: HostIdentity, now: float) -> None:
        c.execute("INSERT INTO hosts (daemon_id, hostname, first_seen, last_seen) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (daemon_id, hostname) DO UPDATE SET last_seen = excluded.last_seen",
                  (docs.clean(host.daemon_id), docs.clean(host.hostname), now, now))

    def record_host_snapshot(self, run_id: str, host: HostIdentity, taken: float, doc: Mapping[str, object]) -> None:
        """Store the snapshot document ``dockguard collect`` wrote for `host` in this run."""
        blob, size = docs.pack(doc)

        def write(c: Connection) -> None:
            self._touch_host(c, host, time.time())
            c.execute("INSERT INTO host_snapshots (daemon_id, hostname, run, taken, doc_size, doc) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (daemon_id, hostname, run) DO UPDATE SET "
                      "taken = excluded.taken, doc_size = excluded.doc_size, doc = excluded.doc",
                      (docs.clean(host.daemon_id), docs.clean(host.hostname), run_id, taken, size, blob))

        self.conn.write(write, f"store the snapshot of {host.hostname}")

    def record_audit_report(self, run_id: str, host: HostIdentity, taken: float, doc: Mapping[str, object], *,
                            worst: str, failed_checks: int, findings: int) -> None:
        """Store the JSON report ``--format json`` wrote for `host` in this run."""
        blob, size = docs.pack(doc)

        def write(c: Connection) -> None:
            self._touch_host(c, host, time.time())
            c.execute("INSERT INTO audit_reports (daemon_id, hostname, run, taken, worst, failed_checks, "
                      "findings, doc_size, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (daemon_id, hostname, run) DO UPDATE SET taken = excluded.taken, "
                      "worst = excluded.worst, failed_checks = excluded.failed_checks, "
                      "findings = excluded.findings, doc_size = excluded.doc_size, doc = excluded.doc",
                      (docs.clean(host.daemon_id), docs.clean(host.hostname), run_id, taken,
                       docs.clean(worst), failed_checks, findings, size, blob))

        self.conn.write(write, f"store the audit report of {host.hostname}")

    def record_host_containers(self, run_id: str, host: HostIdentity,
                               containers: Sequence[tuple[str, str, str, str, Sequence[str]]]) -> None:
        """(container id, name, image reference, image id, repo digests) of the host's containers."""
        def write(c: Connection) -> None:
            self._touch_host(c, host, time.time())
            c.executemany(
                "INSERT INTO host_containers (daemon_id, hostname, run, container, name, image_ref, image_id, "
                "repo_digests) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (daemon_id, hostname, run, "
                "container) DO UPDATE SET name = excluded.name, image_ref = excluded.image_ref, "
                "image_id = excluded.image_id, repo_digests = excluded.repo_digests",
                [(docs.clean(host.daemon_id), docs.clean(host.hostname), run_id, docs.clean(cid),
                  docs.clean(name), docs.clean(ref), docs.clean(iid), docs.dumps([docs.clean(d) for d in rd]))
                 for cid, name, ref, iid, rd in sorted(containers)])

        self.conn.write(write, f"store the containers of {host.hostname}")

    def hosts(self) -> list[HostIdentity]:
        """Every host the store has seen."""
        return [HostIdentity(as_str(d), as_str(h)) for d, h in self.conn.execute(
            "SELECT daemon_id, hostname FROM hosts ORDER BY hostname, daemon_id")]

    def host_documents(self, host: HostIdentity, table: str) -> list[tuple[str, float, JsonObject]]:
        """(run, taken, document) of a host's ``snapshots`` or ``reports``, newest first."""
        name = {"snapshots": "host_snapshots", "reports": "audit_reports"}.get(table)
        if name is None:
            raise UsageError(f"unknown host document table {table!r}")
        out = []
        for run, taken, size, blob in self.conn.execute(
                f"SELECT run, taken, doc_size, doc FROM {name} WHERE daemon_id = ? AND hostname = ? "
                "ORDER BY taken DESC", (host.daemon_id, host.hostname)):
            origin = f"store {self.url.display()}: {table} of {host.hostname} run {as_str(run)}"
            out.append((as_str(run), as_float(taken), docs.unpack_object(blob, size, docs.MAX_HOST_DOC, origin)))
        return out

    # -- status --------------------------------------------------------------------------

    def status(self) -> StoreStatus:
        """Counts of everything in the store (cheap: counting queries only)."""
        c = self.conn
        findings = {as_str(s): as_int(n)
                    for s, n in c.execute("SELECT severity, COUNT(*) FROM findings GROUP BY severity")}
        from dockguard.store.schema import current_version

        size: int | None = None
        if self.url.dialect is Dialect.SQLITE and self.url.path is not None:
            try:
                size = sum(os.stat(f"{self.url.path}{s}").st_size for s in ("", "-wal")
                           if os.path.exists(f"{self.url.path}{s}"))
            except OSError:
                size = None
        else:
            size = _ints(c.execute("SELECT pg_database_size(current_database())"))
        return StoreStatus(
            url=self.url.display(),
            schema_version=current_version(c),
            runs=_ints(c.execute("SELECT COUNT(*) FROM runs")),
            images=_ints(c.execute("SELECT COUNT(*) FROM images")),
            refs=_ints(c.execute("SELECT COUNT(*) FROM image_refs")),
            layers_referenced=_ints(c.execute("SELECT COUNT(*) FROM image_layers")),
            layers_distinct=_ints(c.execute("SELECT COUNT(DISTINCT diff_id) FROM image_layers")),
            layer_results=_ints(c.execute("SELECT COUNT(*) FROM layer_results")),
            layer_failures=_ints(c.execute("SELECT COUNT(*) FROM layer_failures")),
            layer_bytes=_ints(c.execute("SELECT COALESCE(SUM(payload_size), 0) FROM layer_results")),
            inventories=_ints(c.execute("SELECT COUNT(*) FROM inventories")),
            findings=findings,
            hosts=_ints(c.execute("SELECT COUNT(*) FROM hosts")),
            size_bytes=size,
            last_runs=tuple(self.runs(5)),
        )


def check_schema_current(store: Store) -> None:
    """Refuse a store that is not at this dockguard's schema version (opened without upgrade)."""
    from dockguard.store.schema import current_version

    version = current_version(store.conn)
    if version != SCHEMA_VERSION:
        raise OperationalError(f"store {store.url.display()} is at schema version {version}, "
                               f"this dockguard needs {SCHEMA_VERSION}")
