"""``dockguard db update|import|status``: manage the local vulnerability database."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from dockguard.commands.common import Subparsers
    from dockguard.vuln.database import FeedInfo, WriteResult


class _SourceRow(TypedDict):
    source: str
    feeds: int
    records: int
    age_days: float
    stale: bool


def _db_path(args: argparse.Namespace) -> Path:
    from dockguard.vuln.database import default_db_path

    return Path(args.db).expanduser() if getattr(args, "db", None) else default_db_path()


def _add_db_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=default,
        help="database file (default: $DOCKGUARD_DB, else the user cache dir)",
    )


def _default_ecosystems() -> tuple[str, ...]:
    from dockguard.vuln.download import DEFAULT_ECOSYSTEMS

    return DEFAULT_ECOSYSTEMS


def register(subparsers: Subparsers) -> None:
    """Add the ``db`` command and its subcommands."""
    parser = subparsers.add_parser(
        "db",
        help="update, import or inspect the vulnerability database",
        description="Manage the local vulnerability database used by `dockguard image scan`.",
    )
    _add_db_option(parser, None)
    sub = parser.add_subparsers(dest="db_command", metavar="SUBCOMMAND")

    up = sub.add_parser(
        "update",
        help="download OSV data, the Debian tracker and Alpine secdb (public sources or a mirror)",
        description="Download advisory data. An OSV ecosystem updated before is brought up to date from its "
        "modified_id.csv (only the records changed since); the first time, or with --full, its all.zip is "
        "downloaded. The Debian security tracker comes with Debian, Alpine's secdb (supported branches) with "
        "Alpine. The database is replaced only when everything was downloaded and read.",
    )
    _add_db_option(up, argparse.SUPPRESS)
    up.add_argument(
        "--ecosystem",
        action="append",
        metavar="NAME",
        help="OSV ecosystem to download (repeatable; e.g. Debian, Alpine, Red Hat, Maven, PyPI); default: "
        + ", ".join(_default_ecosystems()),
    )
    up.add_argument(
        "--source",
        metavar="URL",
        help="mirror base URL laid out like the OSV bucket (<URL>/<Ecosystem>/all.zip, modified_id.csv, "
        "<ID>.json; with <URL>/debian-tracker/json and <URL>/alpine-secdb/<branch>/<repo>.json), file:// URL, "
        "directory, or the URL of one .zip (default: the OSV public bucket)",
    )
    up.add_argument("--full", action="store_true", help="download every all.zip again instead of the changes")
    up.add_argument(
        "--without",
        action="append",
        choices=("debian-tracker", "alpine-secdb"),
        default=[],
        help="skip the Debian security tracker or Alpine secdb download (repeatable)",
    )
    up.add_argument("--tracker-url", metavar="URL", help="Debian security tracker JSON export to download")
    up.add_argument("--secdb-url", metavar="URL", help="Alpine secdb base URL (<URL>/<branch>/<repo>.json)")
    up.add_argument(
        "--alpine-branch",
        action="append",
        metavar="vX.Y",
        help="Alpine secdb branch to download (repeatable; default: the supported branches)",
    )
    up.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    up.set_defaults(handler=_update)

    imp = sub.add_parser(
        "import",
        help="load an OSV zip or directory, Debian tracker JSON or Alpine secdb file",
    )
    _add_db_option(imp, argparse.SUPPRESS)
    imp.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    imp.add_argument(
        "--kind",
        default="auto",
        choices=("auto", "osv", "debian-tracker", "alpine-secdb"),
        help="format of PATH (default: detect)",
    )
    imp.add_argument(
        "--name",
        help="source name for OSV data (default: osv); feeds are <source>/<ecosystem>, and an import "
        "replaces only the feeds it brings data for",
    )
    imp.set_defaults(handler=_import)

    st = sub.add_parser("status", help="show feeds, record counts, build time and staleness")
    _add_db_option(st, argparse.SUPPRESS)
    st.add_argument("--format", choices=("text", "json"), default="text")
    st.add_argument(
        "--max-age",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="feeds older than this are reported stale (default 7)",
    )
    st.set_defaults(handler=_status)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)


def _update(args: argparse.Namespace) -> int:
    from dockguard.errors import UsageError
    from dockguard.vuln import download

    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    path = _db_path(args)
    result = download.update(
        path,
        ecosystems=tuple(args.ecosystem or download.DEFAULT_ECOSYSTEMS),
        source=args.source or download.DEFAULT_SOURCE,
        stream=sys.stderr,
        timeout=args.timeout,
        full=args.full,
        extras=tuple(e for e in download.EXTRA_FEEDS if e not in args.without),
        tracker_url=args.tracker_url,
        secdb_url=args.secdb_url,
        alpine_branches=tuple(args.alpine_branch) if args.alpine_branch else None,
    )
    for d in result.downloads:
        print(f"downloaded {d.url} ({d.size / 1048576:.1f} MiB)")
    for s in result.syncs:
        if s.mode == "incremental":
            since = s.since.isoformat() if s.since else "?"
            print(f"osv {s.ecosystem}: incremental, {s.changed} records changed since {since} ({s.requests} requests)")
        else:
            print(f"osv {s.ecosystem}: full download ({s.requests} requests)" + (f": {s.note}" if s.note else ""))
    for note in result.notes:
        print(f"dockguard: note: {note}", file=sys.stderr)
    _print_results(result.feeds)
    print(f"requests: {result.requests}")
    print(f"database: {path}")
    return 0


def _print_results(results: Sequence[WriteResult]) -> None:
    if not results:
        print("no advisories found in the input: no feed was added or replaced")
    for r in results:
        name = r.key.name
        if r.records is None:
            print(f"{name}: removed ({r.replaced} records; the new data has none for it)")
        elif r.patched:
            print(f"{name}: {r.records} records (was {r.replaced}; changed records from {r.origin})")
        elif r.replaced is None:
            print(f"{name}: {r.records} records from {r.origin} (new feed)")
        else:
            print(f"{name}: {r.records} records from {r.origin} (replaced {r.replaced} records of {name})")


def _import(args: argparse.Namespace) -> int:
    from dockguard.vuln import importers
    from dockguard.vuln.database import write_imports
    from dockguard.vuln.importers.bounded_decode import ImportBudget

    path = _db_path(args)
    budget = ImportBudget()
    imports = []
    for p in args.paths:
        imports.extend(importers.load(p, kind=args.kind, name=args.name, budget=budget))
    _print_results(write_imports(path, imports))
    print(f"database: {path}")
    return 0


def _status(args: argparse.Namespace) -> int:

    from dockguard.errors import UsageError
    from dockguard.vuln.database import SCHEMA_VERSION, VulnDB

    if args.max_age <= 0:
        raise UsageError("--max-age must be positive")
    max_age = dt.timedelta(days=args.max_age)
    now = dt.datetime.now(dt.UTC)
    path = _db_path(args)
    if not path.exists() and not path.is_symlink():
        # Not an error in the input: there is simply no database yet (exit 1, like a failed check).
        print(f"dockguard: no vulnerability database at {path}: run `dockguard db update` or "
              "`dockguard db import PATH`", file=sys.stderr)
        return 1
    with VulnDB.open(path) as db:
        feeds = db.feeds()
        built = db.built_at()
        ecosystems = db.ecosystems()
        schema = db.schema
        syncs = db.sync_states()
    sources = _sources(feeds, now, max_age)
    size = _db_path(args).stat().st_size
    stale = [f.name for f in feeds if f.age(now) > max_age]
    if args.format == "json":
        doc = {
            "path": str(_db_path(args)),
            "size": size,
            "built_at": built.isoformat() if built else None,
            "schema": schema,
            "feeds": [
                {
                    "name": f.name,
                    "source": f.source,
                    "ecosystem": f.ecosystem,
                    "kind": f.kind,
                    "origin": f.origin,
                    "records": f.records,
                    "imported_at": f.imported_at.isoformat(),
                    "newest_modified": f.newest_modified or None,
                    "age_days": round(f.age(now).total_seconds() / 86400, 2),
                    "stale": f.name in stale,
                }
                for f in feeds
            ],
            "ecosystems": dict(ecosystems),
            "sources": sources,
            "incremental": {
                f"{st.source}/{st.ecosystem}": {
                    "base": st.base,
                    "cursor": st.cursor.isoformat(),
                    "synced_at": st.synced_at.isoformat() if st.synced_at else None,
                }
                for st in syncs.values()
            },
        }
        print(json.dumps(doc, indent=2))
    else:
        print(f"database: {_db_path(args)} ({size / 1048576:.1f} MiB)")
        print(f"built:    {built.isoformat() if built else 'unknown'}")
        rows = [("SOURCE", "ECOSYSTEM", "RECORDS", "IMPORTED", "AGE", "FROM")]
        for f in feeds:
            age = _age_text(f.age(now)) + (" STALE" if f.name in stale else "")
            imported = f.imported_at.strftime("%Y-%m-%d %H:%M")
            rows.append((f.source, f.ecosystem, str(f.records), imported, age, f.origin))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[5])
        print("ecosystems: " + ", ".join(f"{e} ({n})" for e, n in ecosystems))
        print("sources:")
        for src in sources:
            mark = " STALE" if src["stale"] else ""
            print(f"  {src['source']}: {src['records']} records in {src['feeds']} feeds, oldest "
                  f"{_age_text(dt.timedelta(days=src['age_days']))} old{mark}")
        for st in syncs.values():
            print(f"  incremental {st.source}/{st.ecosystem}: complete up to {st.cursor.isoformat()} from {st.base}")
    if schema != SCHEMA_VERSION:
        print(
            f"dockguard: note: {_db_path(args)} has the layout of an older dockguard (schema {schema}): its feeds "
            "are not split by ecosystem; the next `dockguard db import` or `db update` migrates it",
            file=sys.stderr,
        )
    for name in stale:
        print(
            f"dockguard: warning: feed {name} is older than {args.max_age:g} days; run `dockguard db update`",
            file=sys.stderr,
        )
    return 0


def _age_text(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _sources(feeds: Sequence[FeedInfo], now: dt.datetime, max_age: dt.timedelta) -> list[_SourceRow]:
    """Per source (``osv``, ``debian-tracker``, ``alpine-secdb:main``): feeds, records, oldest age."""
    by: dict[str, list[FeedInfo]] = {}
    for f in feeds:
        by.setdefault(f.source, []).append(f)
    out: list[_SourceRow] = []
    for source, group in sorted(by.items()):
        oldest = max(f.age(now) for f in group)
        out.append({
            "source": source,
            "feeds": len(group),
            "records": sum(f.records for f in group),
            "age_days": round(oldest.total_seconds() / 86400, 2),
            "stale": oldest > max_age,
        })
    return out
