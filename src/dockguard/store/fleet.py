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
class Suppressed:
    """A finding an audit's suppressions or VEX accepted: its item key, id and the reason."""

    ikey: str
    id: str
    reason: str


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
    suppressed: tuple[Suppressed, ...] = ()


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
        c.execute("DELETE FROM host_suppressed WHERE daemon_id = ? AND hostname = ? AND run = ?", (*hp, run))
        c.executemany(
            "INSERT INTO host_suppressed (daemon_id, hostname, run, ikey, id, reason) VALUES (?, ?, ?, ?, ?, ?)",
            [(*hp, run, s.ikey, docs.clean(s.id, 4096), docs.clean(s.reason, 4096))
             for s in sorted({s.ikey: s for s in audit.suppressed}.values(), key=lambda s: s.ikey)])

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


def suppressed_of_runs(store: Store, runs: Sequence[str]) -> dict[str, dict[str, Suppressed]]:
    """Run → item key → the finding its audit accepted (suppressions, VEX)."""
    out: dict[str, dict[str, Suppressed]] = {r: {} for r in runs}
    for part in _batches(runs):
        for row in store.conn.iterate(
                f"SELECT run, ikey, id, reason FROM host_suppressed WHERE run IN ({_marks(len(part))}) "
                "ORDER BY run, ikey", part):
            t = [_text(v) for v in row]
            out.setdefault(t[0], {})[t[1]] = Suppressed(t[1], t[2], t[3])
    return out


def containers_of_runs(store: Store, runs: Sequence[str]) -> dict[str, list[HostContainer]]:
    """Run → the containers recorded by it, ordered by name."""
    out: dict[str, list[HostContainer]] = {r: [] for r in runs}
    for part in _batches(runs):
        for row in store.conn.iterate(
                "SELECT run, container, name, image_ref, image_id, repo_digests FROM host_containers "
                f"WHERE run IN ({_marks(len(part))}) ORDER BY run, name, container", part):
            t = [_text(v) for v in row]
            digests = docs.load_text(t[5] or "[]", docs.MAX_FINDING_DOC,
                                     f"store {store.url.display()}: repo digests of container {t[1][:64]}")
            out.setdefault(t[0], []).append(HostContainer(
                t[1], t[2], t[3], t[4],
                tuple(d for d in digests if isinstance(d, str)) if isinstance(digests, list) else ()))
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


# -- an image's current vulnerability findings ----------------------------------------------


@dataclass(frozen=True)
class ImageVulns:
    """The current vulnerability findings of a daemon's image ID and the evaluation that left them.

    `source` is the stored image they belong to: the image ID itself (stored by ``audit
    --store``) or a registry-scanned manifest whose config digest is that ID, or whose digest is
    one of the image's repo digests.  `run` is the run that stored the source's inventory, or
    the latest complete ``store rematch`` when it began after that (it re-matched it); `at` is
    that run's start (the inventory's store time for the storing run).
    """

    image_id: str
    source: str
    run: str
    run_kind: str
    at: float
    vulns: tuple[HostItem, ...]
    """As items without their host's place (`ikey`, `obj`, `image_id`, `image` empty)."""


def _object(value: object) -> dict[str, object]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _stored_vuln(store: Store, image: str, row: Row) -> HostItem:
    t = [_text(v) for v in row[:5]]
    doc = docs.load_object(row[5], docs.MAX_FINDING_DOC, f"store {store.url.display()}: finding {t[0][:100]} "
                                                         f"of {image[:80]}")
    package, vuln = _object(doc.get("package")), _object(doc.get("vulnerability"))
    aliases = vuln.get("aliases")
    return HostItem(
        ikey="", kind="vulnerability", obj="",
        id=t[0], severity=t[1], title=_text(doc.get("title")) or t[0], package=t[2], version=t[3], fixed=t[4],
        state=_text(vuln.get("state")), ptype=_text(package.get("type")), purl=_text(package.get("purl")),
        layer=_text(package.get("layer")), path=_text(doc.get("path")),
        aliases=tuple(a for a in aliases if isinstance(a, str))[:200] if isinstance(aliases, list) else ())


def _digest_of(repo_digest: str) -> str:
    return repo_digest.rpartition("@")[2]


def current_vulnerabilities(store: Store, wanted: dict[str, tuple[str, ...]],
                            cataloguer: str) -> dict[str, ImageVulns]:
    """Image ID → its current vulnerability findings, for every image ID of `wanted` (ID →
    its repo digests, ``name@sha256:…``) the store has evaluated (see `ImageVulns`): an ID
    with no stored inventory — of its own or of a matching registry-scanned image — is left
    out (the caller keeps what the audit found).

    Of several evaluated candidates the most recently evaluated wins (the ID itself on a tie).
    `cataloguer` is the inventory version ``store rematch`` re-matches.
    """
    ids = sorted(wanted)
    candidates: dict[str, list[str]] = {i: [i] for i in ids}
    for part in _batches(ids):
        for digest, config in store.conn.iterate(
                f"SELECT digest, config_digest FROM images WHERE config_digest IN ({_marks(len(part))}) "
                "ORDER BY digest", part):
            candidates[_text(config)].append(_text(digest))
    asked = sorted({_digest_of(d) for i in ids for d in wanted[i] if "@" in d})
    manifests: set[str] = set()
    for part in _batches(asked):
        manifests.update(_text(r[0]) for r in store.conn.iterate(
            f"SELECT digest FROM images WHERE digest IN ({_marks(len(part))})", part))
    for i in ids:
        for d in wanted[i]:
            if _digest_of(d) in manifests:
                candidates[i].append(_digest_of(d))
        candidates[i] = list(dict.fromkeys(candidates[i]))
    stored: dict[str, tuple[float, str, bool]] = {}  # image → (stored, run, current cataloguer)
    for part in _batches([c for cs in candidates.values() for c in cs]):
        for image, cat, when, run in store.conn.iterate(
                f"SELECT image, cataloguer, stored, run FROM inventories WHERE image IN ({_marks(len(part))})",
                part):
            at = _number(when, f"store {store.url.display()}: inventory of {_text(image)[:80]}")
            known = stored.get(_text(image))
            if known is None or at > known[0]:
                stored[_text(image)] = (at, _text(run), _text(cat) == cataloguer)
    rematch = store.conn.one("SELECT id, started FROM runs WHERE kind = ? AND status = ? "
                             "ORDER BY started DESC LIMIT 1", ("rematch", "complete"))
    chosen: dict[str, tuple[str, float, str]] = {}  # image ID → (source, at, run)
    for i in ids:
        best: tuple[float, bool, str, str] | None = None
        for c in candidates[i]:
            if c not in stored:
                continue
            at, run, current = stored[c]
            if rematch is not None and current:
                began = _number(rematch[1], f"store {store.url.display()}: run {_text(rematch[0])[:16]}")
                if began > at:
                    at, run = began, _text(rematch[0])
            mine = (at, c == i, c, run)
            if best is None or mine[:2] > best[:2]:
                best = mine
        if best is not None:
            chosen[i] = (best[2], best[0], best[3])
    kinds: dict[str, str] = {}
    for part in _batches([run for _, _, run in chosen.values()]):
        kinds.update((_text(r), _text(k)) for r, k in store.conn.iterate(
            f"SELECT id, kind FROM runs WHERE id IN ({_marks(len(part))})", part))
    found: dict[str, list[HostItem]] = {}
    for part in _batches([source for source, _, _ in chosen.values()]):
        for row in store.conn.iterate(
                "SELECT image, id, severity, package, version, fixed, doc FROM findings WHERE kind = ? "
                f"AND image IN ({_marks(len(part))}) ORDER BY image, fkey", ("vulnerability", *part)):
            found.setdefault(_text(row[0]), []).append(_stored_vuln(store, _text(row[0]), row[1:]))
    return {i: ImageVulns(i, source, run, kinds.get(run, ""), at, tuple(found.get(source, ())))
            for i, (source, at, run) in chosen.items()}
