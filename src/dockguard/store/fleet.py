"""The fleet in the store: what ``audit --store`` / ``collect --store`` record per host, and
the queries ``dockguard fleet report`` reads.

A host is its daemon's ID from ``/info`` with its hostname (`HostIdentity`).  One audit is
one run: the report (JSON document), the snapshot, the containers, the images scanned and
one `HostItem` per failing check and per finding — the rows the fleet report aggregates
without decoding any document.  Recording a run again (a retried write) replaces what that
run recorded, so every write is idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dockguard.inputs import InputError
from dockguard.jsontypes import JsonObject
from dockguard.store import documents as docs
from dockguard.store.backend import Connection, Row
from dockguard.store.store import HostIdentity, Store

#: Runs per ``IN (…)`` query.
_RUN_BATCH = 200


@dataclass(frozen=True)
class HostItem:
    """A failing check (`kind` ``check``) or a finding of one host's audit.

    `ikey` identifies it across the host's audits (the same problem in two audits has the same
    key); `obj` is the report's object label; image, package and layer say where a
    vulnerability is (``image_id`` is the daemon's image ID, ``layer`` the layer that brought
    the package).
    """

    ikey: str
    kind: str
    id: str
    severity: str
    title: str
    obj: str
    image_id: str = ""
    image: str = ""
    package: str = ""
    version: str = ""
    fixed: str = ""
    state: str = ""
    ptype: str = ""
    purl: str = ""
    layer: str = ""
    path: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostContainer:
    """A container of a host at one run: id, name, the image it was created from."""

    container_id: str
    name: str
    image_ref: str
    image_id: str
    repo_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostImage:
    """An image an audit scanned on a host: read in full or not, packages, the error if it failed."""

    image_id: str
    name: str
    complete: bool
    packages: int
    error: str = ""


@dataclass(frozen=True)
class HostAudit:
    """Everything one ``audit --store`` records for its host."""

    host: HostIdentity
    run: str
    taken: float
    reachable: bool
    complete: bool
    worst: str
    report: JsonObject
    snapshot: JsonObject | None
    containers: tuple[HostContainer, ...]
    images: tuple[HostImage, ...]
    items: tuple[HostItem, ...]


@dataclass(frozen=True)
class HostRun:
    """One recorded audit of a host (without its documents)."""

    host: HostIdentity
    run: str
    taken: float
    reachable: bool
    complete: bool
    worst: str
    failed_checks: int
    findings: int


@dataclass(frozen=True)
class HostLatest:
    """A host with its latest and previous audits (None: no audit, only ``collect``), and
    when it was last seen."""

    host: HostIdentity
    last_seen: float
    latest: HostRun | None
    previous: HostRun | None


def _host_params(host: HostIdentity) -> tuple[str, str]:
    return docs.clean(host.daemon_id), docs.clean(host.hostname)


def _touch(c: Connection, host: HostIdentity, now: float) -> None:
    c.execute("INSERT INTO hosts (daemon_id, hostname, first_seen, last_seen) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (daemon_id, hostname) DO UPDATE SET last_seen = excluded.last_seen",
              (*_host_params(host), now, now))


def _replace_containers(c: Connection, host: HostIdentity, run: str, containers: Sequence[HostContainer]) -> None:
    hp = _host_params(host)
    c.execute("DELETE FROM host_containers WHERE daemon_id = ? AND hostname = ? AND run = ?", (*hp, run))
    unique = {x.container_id: x for x in containers}
    c.executemany(
        "INSERT INTO host_containers (daemon_id, hostname, run, container, name, image_ref, image_id, "
        "repo_digests) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(*hp, run, docs.clean(x.container_id), docs.clean(x.name), docs.clean(x.image_ref),
          docs.clean(x.image_id), docs.dumps([docs.clean(d) for d in x.repo_digests]))
         for _, x in sorted(unique.items())])


def _snapshot(c: Connection, host: HostIdentity, run: str, taken: float, doc: JsonObject) -> None:
    blob, size = docs.pack(doc)
    c.execute("INSERT INTO host_snapshots (daemon_id, hostname, run, taken, doc_size, doc) "
              "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (daemon_id, hostname, run) DO UPDATE SET "
              "taken = excluded.taken, doc_size = excluded.doc_size, doc = excluded.doc",
              (*_host_params(host), run, taken, size, blob))


def record_collect(store: Store, run: str, host: HostIdentity, taken: float, snapshot: JsonObject,
                   containers: Sequence[HostContainer]) -> None:
    """Store what ``collect --store`` gathered: the snapshot and the containers (one transaction)."""
    def write(c: Connection) -> None:
        _touch(c, host, time.time())
        _snapshot(c, host, run, taken, snapshot)
        _replace_containers(c, host, run, containers)

    store.conn.write(write, f"store the snapshot of {host.hostname}")


def record_audit(store: Store, audit: HostAudit) -> None:
    """Store one audit of a host in one transaction (replacing what the same run stored)."""
    host, run = audit.host, audit.run
    hp = _host_params(host)
    blob, size = docs.pack(audit.report)
    checks = sum(1 for i in audit.items if i.kind == "check")
    items = sorted({i.ikey: i for i in audit.items}.values(), key=lambda i: i.ikey)
    images = sorted({i.image_id: i for i in audit.images}.values(), key=lambda i: i.image_id)

    def write(c: Connection) -> None:
        _touch(c, host, time.time())
        c.execute("INSERT INTO audit_reports (daemon_id, hostname, run, taken, worst, failed_checks, findings, "
                  "doc_size, doc, reachable, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (daemon_id, hostname, run) DO UPDATE SET taken = excluded.taken, "
                  "worst = excluded.worst, failed_checks = excluded.failed_checks, findings = excluded.findings, "
                  "doc_size = excluded.doc_size, doc = excluded.doc, reachable = excluded.reachable, "
                  "complete = excluded.complete",
                  (*hp, run, audit.taken, docs.clean(audit.worst), checks, len(items) - checks, size, blob,
                   int(audit.reachable), int(audit.complete)))
        if audit.snapshot is not None:
            _snapshot(c, host, run, audit.taken, audit.snapshot)
        _replace_containers(c, host, run, audit.containers)
        c.execute("DELETE FROM host_images WHERE daemon_id = ? AND hostname = ? AND run = ?", (*hp, run))
        c.executemany(
            "INSERT INTO host_images (daemon_id, hostname, run, image_id, name, complete, packages, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(*hp, run, docs.clean(i.image_id), docs.clean(i.name), int(i.complete), i.packages,
              docs.clean(i.error)) for i in images])
        c.execute("DELETE FROM host_items WHERE daemon_id = ? AND hostname = ? AND run = ?", (*hp, run))
        c.executemany(
            "INSERT INTO host_items (daemon_id, hostname, run, ikey, kind, id, severity, title, obj, image_id, "
            "image, package, version, fixed, state, ptype, purl, layer, path, aliases) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*hp, run, i.ikey, *(docs.clean(v, 4096) for v in (
                i.kind, i.id, i.severity, i.title, i.obj, i.image_id, i.image, i.package, i.version, i.fixed,
                i.state, i.ptype, i.purl, i.layer, i.path)),
              " " + " ".join(docs.clean(a, 200) for a in i.aliases) + " ") for i in items])

    store.conn.write(write, f"store the audit of {host.hostname}")


# -- reading --------------------------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _number(value: object, origin: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(origin, f"not a number: {str(value)[:40]!r}")
    return float(value)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _run(store: Store, row: Row) -> HostRun:
    host = HostIdentity(_text(row[0]), _text(row[1]))
    origin = f"store {store.url.display()}: audit {_text(row[2])[:16]} of {host.hostname[:100]}"
    return HostRun(host, _text(row[2]), _number(row[3], origin), bool(row[4]), bool(row[5]), _text(row[6]),
                   _count(row[7]), _count(row[8]))


def fleet_hosts(store: Store) -> list[HostLatest]:
    """Every host with its latest two audits, ordered by hostname and daemon ID."""
    runs: dict[tuple[str, str], list[HostRun]] = {}
    for row in store.conn.iterate(
            "SELECT daemon_id, hostname, run, taken, reachable, complete, worst, failed_checks, findings "
            "FROM audit_reports ORDER BY daemon_id, hostname, taken DESC, run DESC"):
        key = (_text(row[0]), _text(row[1]))
        kept = runs.setdefault(key, [])
        if len(kept) < 2:
            kept.append(_run(store, row))
    out = []
    for d, h, seen in store.conn.execute("SELECT daemon_id, hostname, last_seen FROM hosts "
                                         "ORDER BY hostname, daemon_id"):
        key = (_text(d), _text(h))
        kept = runs.get(key, [])
        origin = f"store {store.url.display()}: host {key[1][:100]}"
        out.append(HostLatest(HostIdentity(*key), _number(seen, origin), kept[0] if kept else None,
                              kept[1] if len(kept) > 1 else None))
    return out


def _batches(runs: Sequence[str]) -> Iterator[Sequence[str]]:
    ordered = sorted(set(runs))
    for start in range(0, len(ordered), _RUN_BATCH):
        yield ordered[start:start + _RUN_BATCH]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def items_of_runs(store: Store, runs: Sequence[str]) -> dict[str, list[HostItem]]:
    """Run → its items (failing checks and findings), ordered by key."""
    out: dict[str, list[HostItem]] = {r: [] for r in runs}
    for part in _batches(runs):
        for row in store.conn.iterate(
                "SELECT run, ikey, kind, id, severity, title, obj, image_id, image, package, version, fixed, "
                f"state, ptype, purl, layer, path, aliases FROM host_items WHERE run IN ({_marks(len(part))}) "
                "ORDER BY run, ikey", part):
            t = [_text(v) for v in row]
            out.setdefault(t[0], []).append(HostItem(
                ikey=t[1], kind=t[2], id=t[3], severity=t[4], title=t[5], obj=t[6], image_id=t[7], image=t[8],
                package=t[9], version=t[10], fixed=t[11], state=t[12], ptype=t[13], purl=t[14], layer=t[15],
                path=t[16], aliases=tuple(t[17].split())))
    return out


def containers_of_runs(store: Store, runs: Sequence[str]) -> dict[str, list[HostContainer]]:
    """Run → the containers recorded by it, ordered by name."""
    out: dict[str, list[HostContainer]] = {r: [] for r in runs}
    for part in _batches(runs):
        for row in store.conn.iterate(
                "SELECT run, container, name, image_ref, image_id FROM host_containers "
                f"WHERE run IN ({_marks(len(part))}) ORDER BY run, name, container", part):
            t = [_text(v) for v in row]
            out.setdefault(t[0], []).append(HostContainer(t[1], t[2], t[3], t[4]))
    return out


def images_of_runs(store: Store, runs: Sequence[str]) -> dict[str, list[HostImage]]:
    """Run → the images its audit scanned, ordered by name."""
    out: dict[str, list[HostImage]] = {r: [] for r in runs}
    for part in _batches(runs):
        for row in store.conn.iterate(
                "SELECT run, image_id, name, complete, packages, error FROM host_images "
                f"WHERE run IN ({_marks(len(part))}) ORDER BY run, name, image_id", part):
            out.setdefault(_text(row[0]), []).append(
                HostImage(_text(row[1]), _text(row[2]), bool(row[3]), _count(row[4]), _text(row[5])))
    return out


def latest_collect(store: Store, host: HostIdentity) -> tuple[str, float] | None:
    """(run, taken) of the host's latest stored snapshot, or None."""
    row = store.conn.one("SELECT run, taken FROM host_snapshots WHERE daemon_id = ? AND hostname = ? "
                         "ORDER BY taken DESC LIMIT 1", (host.daemon_id, host.hostname))
    if row is None:
        return None
    return _text(row[0]), _number(row[1], f"store {store.url.display()}: snapshot of {host.hostname[:100]}")
