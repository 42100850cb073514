"""The store's versioned schema: ordered migration steps and the ``schema_version`` table.

Each `Migration` has a number (1, 2, 3, … with no gaps), a description and its steps: SQL
written once for both engines (``{BLOB}``, ``{FLOAT}``, ``{BIGINT}``, ``{TEXT}`` become each
engine's type) or a Python function for data changes.  `migrate` applies, in one transaction
that holds the store-wide lock, every migration above the store's version and records each in
``schema_version`` — two processes opening a fresh store at once cannot both migrate it, and a
migration that fails leaves the store at its old version.  A store whose version is newer than
this dockguard knows is refused (its data would be misread).

Documents (image configs, inventories, host snapshots, audit reports) are zstd-compressed
JSON in BLOB columns with their uncompressed size beside them; findings are rows with their
JSON document as text, so that they can be queried.

Version 1 — registry scans: ``runs``, ``run_errors``, ``images`` (by manifest digest),
``image_refs`` (every registry/repository:tag an image was seen under), ``layers`` (diff_id,
compressed digest, size, and whether that blob was verified to decompress to that diff_id),
``image_layers``, ``layer_results`` (one analysis per diff_id and
analyser version), ``layer_failures`` (blobs that could not be analysed, by compressed digest,
claimed diff_id and analyser version), ``inventories`` (per image and cataloguer version),
``findings`` (per image), ``run_images`` (what each run did with each image).  An inventory's
``match_key`` is a digest of what matching reads from it (OS and packages): images with equal
keys are matched once.

Version 2 — re-matching: ``findings.first_seen``; ``finding_changes`` (new/fixed findings of
each image per run).

Version 3 — the fleet: ``hosts`` (daemon ID from ``/info`` with the hostname),
``host_snapshots`` and ``audit_reports`` (the JSON documents ``dockguard collect`` and
``--format json`` write), ``host_containers`` (container → image, for "where does CVE-X run").

Version 4 — the fleet report: ``audit_reports.reachable``/``complete``; ``host_items`` (every
failing check and every finding of a host's audit, one row each with the image, package and
layer it is in, so that "where does CVE-X run" and the difference between two audits of a
host are queries); ``host_images`` (the images an audit scanned).

Version 5 — current findings in the fleet: ``host_suppressed`` (the findings an audit's
``--suppressions``/``--vex`` accepted, by item key, so that the fleet report keeps them out
when a ``store rematch`` finds them again in the image's stored findings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dockguard.errors import OperationalError
from dockguard.store.backend import Connection

Step = str | Callable[[Connection], None]


@dataclass(frozen=True)
class Migration:
    """One schema version: what it adds and how."""

    version: int
    description: str
    steps: tuple[Step, ...]


_V1: tuple[Step, ...] = (
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        options TEXT NOT NULL,
        tool_version TEXT NOT NULL,
        started {FLOAT} NOT NULL,
        finished {FLOAT},
        status TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '{{}}'
    )""",
    """CREATE TABLE run_errors (
        run TEXT NOT NULL,
        subject TEXT NOT NULL,
        error TEXT NOT NULL,
        stored {FLOAT} NOT NULL,
        PRIMARY KEY (run, subject)
    )""",
    """CREATE TABLE images (
        digest TEXT PRIMARY KEY,
        config_digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        platform TEXT NOT NULL,
        layer_count INTEGER NOT NULL,
        size {BIGINT} NOT NULL,
        config_size {BIGINT} NOT NULL,
        config {BLOB} NOT NULL,
        first_seen {FLOAT} NOT NULL,
        last_seen {FLOAT} NOT NULL
    )""",
    """CREATE TABLE image_refs (
        registry TEXT NOT NULL,
        repository TEXT NOT NULL,
        tag TEXT NOT NULL,
        image TEXT NOT NULL,
        index_digest TEXT NOT NULL,
        first_seen {FLOAT} NOT NULL,
        last_seen {FLOAT} NOT NULL,
        last_run TEXT NOT NULL,
        PRIMARY KEY (registry, repository, tag, image)
    )""",
    "CREATE INDEX image_refs_image ON image_refs (image)",
    """CREATE TABLE layers (
        diff_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        size {BIGINT} NOT NULL,
        media_type TEXT NOT NULL,
        verified INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (diff_id, digest)
    )""",
    """CREATE TABLE image_layers (
        image TEXT NOT NULL,
        position INTEGER NOT NULL,
        diff_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (image, position)
    )""",
    "CREATE INDEX image_layers_diff_id ON image_layers (diff_id)",
    """CREATE TABLE layer_results (
        diff_id TEXT NOT NULL,
        analyser TEXT NOT NULL,
        complete INTEGER NOT NULL,
        incomplete TEXT NOT NULL,
        held {BIGINT} NOT NULL,
        payload_size {BIGINT} NOT NULL,
        payload {BLOB} NOT NULL,
        run TEXT NOT NULL,
        stored {FLOAT} NOT NULL,
        PRIMARY KEY (diff_id, analyser)
    )""",
    """CREATE TABLE layer_failures (
        digest TEXT NOT NULL,
        diff_id TEXT NOT NULL,
        analyser TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        run TEXT NOT NULL,
        stored {FLOAT} NOT NULL,
        PRIMARY KEY (digest, diff_id, analyser)
    )""",
    """CREATE TABLE inventories (
        image TEXT NOT NULL,
        cataloguer TEXT NOT NULL,
        complete INTEGER NOT NULL,
        packages INTEGER NOT NULL,
        match_key TEXT NOT NULL,
        doc_size {BIGINT} NOT NULL,
        doc {BLOB} NOT NULL,
        run TEXT NOT NULL,
        stored {FLOAT} NOT NULL,
        PRIMARY KEY (image, cataloguer)
    )""",
    """CREATE TABLE findings (
        image TEXT NOT NULL,
        fkey TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        severity TEXT NOT NULL,
        package TEXT NOT NULL,
        version TEXT NOT NULL,
        fixed TEXT NOT NULL,
        doc TEXT NOT NULL,
        run TEXT NOT NULL,
        stored {FLOAT} NOT NULL,
        PRIMARY KEY (image, fkey)
    )""",
    "CREATE INDEX findings_id ON findings (id)",
    """CREATE TABLE run_images (
        run TEXT NOT NULL,
        image TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT NOT NULL,
        summary TEXT NOT NULL,
        stored {FLOAT} NOT NULL,
        PRIMARY KEY (run, image)
    )""",
)


_V2: tuple[Step, ...] = (
    "ALTER TABLE findings ADD COLUMN first_seen {FLOAT}",
    "UPDATE findings SET first_seen = stored",
    """CREATE TABLE finding_changes (
        run TEXT NOT NULL,
        image TEXT NOT NULL,
        fkey TEXT NOT NULL,
        change TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        severity TEXT NOT NULL,
        package TEXT NOT NULL,
        version TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (run, image, fkey)
    )""",
    "CREATE INDEX finding_changes_image ON finding_changes (image)",
)


_V3: tuple[Step, ...] = (
    """CREATE TABLE hosts (
        daemon_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        first_seen {FLOAT} NOT NULL,
        last_seen {FLOAT} NOT NULL,
        PRIMARY KEY (daemon_id, hostname)
    )""",
    """CREATE TABLE host_snapshots (
        daemon_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        run TEXT NOT NULL,
        taken {FLOAT} NOT NULL,
        doc_size {BIGINT} NOT NULL,
        doc {BLOB} NOT NULL,
        PRIMARY KEY (daemon_id, hostname, run)
    )""",
    """CREATE TABLE audit_reports (
        daemon_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        run TEXT NOT NULL,
        taken {FLOAT} NOT NULL,
        worst TEXT NOT NULL,
        failed_checks INTEGER NOT NULL,
        findings INTEGER NOT NULL,
        doc_size {BIGINT} NOT NULL,
        doc {BLOB} NOT NULL,
        PRIMARY KEY (daemon_id, hostname, run)
    )""",
    """CREATE TABLE host_containers (
        daemon_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        run TEXT NOT NULL,
        container TEXT NOT NULL,
        name TEXT NOT NULL,
        image_ref TEXT NOT NULL,
        image_id TEXT NOT NULL,
        repo_digests TEXT NOT NULL,
        PRIMARY KEY (daemon_id, hostname, run, container)
    )""",
    "CREATE INDEX host_containers_image_id ON host_containers (image_id)",
    "CREATE INDEX images_config_digest ON images (config_digest)",
)


_V4: tuple[Step, ...] = (
    "ALTER TABLE audit_reports ADD COLUMN reachable INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE audit_reports ADD COLUMN complete INTEGER NOT NULL DEFAULT 1",
    "CREATE INDEX audit_reports_taken ON audit_reports (daemon_id, hostname, taken)",
    """CREATE TABLE host_items (
        daemon_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        run TEXT NOT NULL,
        ikey TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        severity TEXT NOT NULL,
        title TEXT NOT NULL,
        obj TEXT NOT NULL,
        image_id TEXT NOT NULL,
        image TEXT NOT NULL,
        package TEXT NOT NULL,
        version TEXT NOT NULL,
        fixed TEXT NOT NULL,
        state TEXT NOT NULL,
        ptype TEXT NOT NULL,
        purl TEXT NOT NULL,
        layer TEXT NOT NULL,
        path TEXT NOT NULL,
        aliases TEXT NOT NULL,
        PRIMARY KEY (daemon_id, hostname, run, ikey)
    )""",
    "CREATE INDEX host_items_run ON host_items (run)",
    "CREATE INDEX host_items_id ON host_items (id)",
    """CREATE TABLE host_images (
        daemon_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        run TEXT NOT NULL,
        image_id TEXT NOT NULL,
        name TEXT NOT NULL,
        complete INTEGER NOT NULL,
        packages INTEGER NOT NULL,
        error TEXT NOT NULL,
        PRIMARY KEY (daemon_id, hostname, run, image_id)
    )""",
    "CREATE INDEX host_containers_run ON host_containers (run)",
)


_V5: tuple[Step, ...] = (
    """CREATE TABLE host_suppressed (
        daemon_id TEXT NOT NULL,
        hostname TEXT NOT NULL,
        run TEXT NOT NULL,
        ikey TEXT NOT NULL,
        id TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (daemon_id, hostname, run, ikey)
    )""",
    "CREATE INDEX host_suppressed_run ON host_suppressed (run)",
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "registry scans: runs, images, refs, layers, layer results, inventories, findings", _V1),
    Migration(2, "re-matching: findings.first_seen, finding_changes", _V2),
    Migration(3, "the fleet: hosts, host snapshots, audit reports, host containers", _V3),
    Migration(4, "the fleet report: host items (failing checks, findings), host images", _V4),
    Migration(5, "current findings in the fleet: host suppressed (findings an audit accepted)", _V5),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The store's schema version (0 for an empty store)."""
    if not _has_version_table(conn):
        return 0
    row = conn.one("SELECT MAX(version) FROM schema_version")
    value = row[0] if row else None
    return int(value) if isinstance(value, int) else 0


def _has_version_table(conn: Connection) -> bool:
    if conn.dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    else:
        sql = ("SELECT 1 FROM information_schema.tables "
               "WHERE table_schema = current_schema() AND table_name = 'schema_version'")
    return conn.one(sql) is not None


def migrate(conn: Connection, target: int = SCHEMA_VERSION, *, tool_version: str = "",
            migrations: Sequence[Migration] = MIGRATIONS) -> tuple[int, int]:
    """Bring the store to `target`; returns (version before, version after).

    Refuses a store newer than the migrations known here.
    """
    known = [m.version for m in migrations]
    if known != list(range(1, len(known) + 1)):
        raise AssertionError(f"migrations must be numbered 1..n without gaps: {known}")
    before = current_version(conn)
    if before > known[-1]:
        raise OperationalError(_newer(conn, before, known[-1]))
    if before >= target:
        return before, before
    with conn.locked("schema migration"):
        conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied {FLOAT} NOT NULL,
            tool_version TEXT NOT NULL
        )""".format(FLOAT="REAL" if conn.dialect == "sqlite" else "DOUBLE PRECISION"))
        now = current_version(conn)  # another process may have migrated meanwhile
        if now > known[-1]:
            raise OperationalError(_newer(conn, now, known[-1]))
        for m in migrations:
            if now < m.version <= target:
                for step in m.steps:
                    if isinstance(step, str):
                        conn.execute(conn.ddl(step))
                    else:
                        step(conn)
                conn.execute("INSERT INTO schema_version (version, description, applied, tool_version) "
                             "VALUES (?, ?, ?, ?)", (m.version, m.description, time.time(), tool_version))
    return before, max(current_version(conn), before)


def _newer(conn: Connection, found: int, known: int) -> str:
    return (f"store {conn.url.display()} has schema version {found}, newer than the {known} this "
            "dockguard knows: update dockguard")
