"""The result store: scan runs, images, layers, inventories, findings, hosts (issue 14).

``--store URL`` selects it: an SQLite file by default (``$DOCKGUARD_STORE`` or the user cache
dir), ``postgresql://…`` for a store shared by many scanners.  `Store.open` connects and
migrates the schema (`dockguard.store.schema`); see docs/scale.md.
"""

from __future__ import annotations

from dockguard.store.backend import Dialect, StoreURL, default_store_path, parse_store_url
from dockguard.store.schema import SCHEMA_VERSION
from dockguard.store.store import (
    FindingChanges,
    FindingRow,
    HostIdentity,
    ImageOutcome,
    ImageRef,
    ImageRow,
    ImageStatus,
    LayerFailureKind,
    LayerRow,
    RunInfo,
    RunKind,
    RunStatus,
    Store,
    StoreStatus,
    finding_key,
)

__all__ = [
    "SCHEMA_VERSION",
    "Dialect",
    "FindingChanges",
    "FindingRow",
    "HostIdentity",
    "ImageOutcome",
    "ImageRef",
    "ImageRow",
    "ImageStatus",
    "LayerFailureKind",
    "LayerRow",
    "RunInfo",
    "RunKind",
    "RunStatus",
    "Store",
    "StoreStatus",
    "StoreURL",
    "default_store_path",
    "finding_key",
    "parse_store_url",
]
