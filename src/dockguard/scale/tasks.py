"""The two tasks of a registry scan, run in-process or on Dask workers.

* `run_layer_task` — one distinct layer: skip it when the store already has its analysis (or
  remembers that its blob cannot be analysed), else fetch it, analyse it and store the result.
* `run_image_task` — one image: build its inventory from the stored layer analyses, match it
  against the vulnerability database, store inventory and findings, record the outcome.

Both are idempotent: everything they write is an upsert keyed by content or by (run, image),
and they look in the store before they work, so a task run twice — its worker died after
writing, the run was resumed — changes nothing the first run did not.  Results go from the
worker to the store directly; what travels back to the client is a few numbers
(`LayerTaskResult`, `ImageTaskResult`).

Each worker process keeps one store connection, one registry client and one vulnerability
database handle per thread (`_cached`), so a task does not reconnect.

``DOCKGUARD_TEST_TASK_DELAY`` (seconds, at most 60) makes every task sleep first: the tests use
it to kill a worker while tasks run.  It is read by the task, on the worker.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar, cast

from dockguard import __version__
from dockguard.channel.registry_api import Credentials, credentials_from_config
from dockguard.errors import DockguardError
from dockguard.store import ImageStatus, LayerRow, Store, StoreURL

if TYPE_CHECKING:
    from dockguard.scale.catalog import CatalogClient

DELAY_ENV = "DOCKGUARD_TEST_TASK_DELAY"

T = TypeVar("T")


@dataclass(frozen=True)
class RegistryAccess:
    """How a task reaches the registry (credentials are sent only where the client allows)."""

    registry: str
    insecure: bool = False
    ca_pem: bytes | None = None
    allow_plain_http_credentials: bool = False
    credentials: Credentials | None = field(default=None, repr=False)
    docker_config: bool = True
    """Without `credentials`: look them up in the worker's own ``~/.docker/config.json``."""
    deadline: float | None = None


class LayerStatus(StrEnum):
    """What a layer task did."""

    ANALYSED = "analysed"       # fetched, analysed and stored now
    REUSED = "reused"           # the store already had it
    UNUSABLE = "unusable"       # fetched, but its bytes cannot be analysed (remembered)
    ERROR = "error"             # could not be fetched or stored now (not remembered)


@dataclass(frozen=True)
class LayerTask:
    """Analyse one distinct layer, fetched from `repository`."""

    run: str
    store: StoreURL
    access: RegistryAccess
    repository: str
    layer: LayerRow
    tool_version: str = __version__


@dataclass(frozen=True)
class LayerTaskResult:
    """What came back from a layer task."""

    diff_id: str
    status: LayerStatus
    fetched: int = 0
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ImageTask:
    """Inventory, match and store one image."""

    run: str
    store: StoreURL
    image: str
    db: str | None
    tool_version: str = __version__


@dataclass(frozen=True)
class ImageTaskResult:
    """What came back from an image task."""

    image: str
    status: ImageStatus
    error: str = ""
    packages: int = 0
    severities: dict[str, int] = field(default_factory=dict)
    incomplete: tuple[str, ...] = ()
    not_checked: tuple[str, ...] = ()
    seconds: float = 0.0


_local = threading.local()


def _cache() -> dict[tuple[str, object], object]:
    cache: dict[tuple[str, object], object] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = {}
        _local.cache = cache
    return cache


def _cached(kind: str, key: object, make: Callable[[], T]) -> T:
    cache = _cache()
    if (kind, key) not in cache:
        cache[(kind, key)] = make()
    return cast(T, cache[(kind, key)])  # stored by this function under the same kind


def close_cached() -> None:
    """Close this thread's store connections, registry clients and databases."""
    cache = _cache()
    for value in cache.values():
        close = getattr(value, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # closing is best effort
                close()
    cache.clear()


def _delay() -> None:
    raw = os.environ.get(DELAY_ENV, "")
    try:
        seconds = float(raw) if raw else 0.0
    except ValueError:
        seconds = 0.0
    if 0 < seconds <= 60:
        time.sleep(seconds)


def _version_problem(tool_version: str) -> str:
    if tool_version != __version__:
        return f"the worker runs dockguard {__version__}, the client {tool_version}: install the same version"
    return ""


def _store(url: StoreURL) -> Store:
    return _cached("store", url, lambda: Store.open(url))


def _ca_file(pem: bytes) -> str:
    def write() -> str:
        fd, path = tempfile.mkstemp(prefix="dockguard-ca-", suffix=".pem")
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return path

    return _cached("ca", pem, write)


def _client(access: RegistryAccess) -> CatalogClient:
    from dockguard.scale.catalog import CatalogClient

    def make() -> CatalogClient:
        credentials = access.credentials
        if credentials is None and access.docker_config:
            credentials = credentials_from_config(access.registry, os.environ)
        return CatalogClient(access.registry, credentials=credentials, insecure=access.insecure,
                             ca_cert=_ca_file(access.ca_pem) if access.ca_pem else None,
                             allow_plain_http_credentials=access.allow_plain_http_credentials,
                             deadline=access.deadline)

    return _cached("client", access, make)


def run_layer_task(task: LayerTask) -> LayerTaskResult:
    """See the module docstring; never raises a `DockguardError` (it becomes an ERROR result)."""
    from dockguard.scale import image_adapter as adapter

    started = time.monotonic()
    _delay()
    layer = task.layer
    problem = _version_problem(task.tool_version)
    if problem:
        return LayerTaskResult(layer.diff_id, LayerStatus.ERROR, reason=problem)
    try:
        store = _store(task.store)
        if (store.reusable_layers(adapter.ANALYSER_KEY, [(layer.diff_id, layer.digest)])
                or (layer.digest, layer.diff_id) in store.failed_layers(adapter.ANALYSER_KEY, [layer.digest])):
            return LayerTaskResult(layer.diff_id, LayerStatus.REUSED, seconds=time.monotonic() - started)
        outcome = adapter.analyse_registry_layer(_client(task.access), task.repository, layer)
        if outcome.failure is not None:
            store.put_layer_failure(task.run, layer.digest, layer.diff_id, adapter.ANALYSER_KEY,
                                    outcome.failure, outcome.reason)
            return LayerTaskResult(layer.diff_id, LayerStatus.UNUSABLE, layer.size, outcome.reason,
                                   time.monotonic() - started)
        store.put_layer_result(task.run, layer.diff_id, adapter.ANALYSER_KEY, outcome.payload,
                               outcome.held, outcome.incomplete, digest=layer.digest, size=layer.size,
                               media_type=layer.media_type)
    except DockguardError as exc:
        return LayerTaskResult(layer.diff_id, LayerStatus.ERROR, reason=str(exc),
                               seconds=time.monotonic() - started)
    return LayerTaskResult(layer.diff_id, LayerStatus.ANALYSED, layer.size, seconds=time.monotonic() - started)


def run_image_task(task: ImageTask) -> ImageTaskResult:
    """See the module docstring; never raises a `DockguardError` (it becomes a FAILED result)."""
    from dockguard.image.digests import DigestMismatch
    from dockguard.scale import image_adapter as adapter

    started = time.monotonic()
    _delay()
    problem = _version_problem(task.tool_version)
    if problem:
        return ImageTaskResult(task.image, ImageStatus.FAILED, problem)
    try:
        store = _store(task.store)
        image = store.image(task.image)
        if image is None:
            return ImageTaskResult(task.image, ImageStatus.FAILED, "the image is not in the store")
        names = store.image_names(task.image)
        label = f"image:{names[0] if names else task.image}"
        seen_before = store.has_findings(task.image)
        try:
            inv = adapter.inventory_from_store(
                image, names, lambda row, budget: adapter.load_stored_layer(store, row, budget))
        except DigestMismatch as exc:
            store.mark_image(task.run, task.image, ImageStatus.FAILED, str(exc))
            return ImageTaskResult(task.image, ImageStatus.FAILED, str(exc), seconds=time.monotonic() - started)
        doc = adapter.inventory_doc(inv)
        store.put_inventory(task.run, task.image, adapter.CATALOGUER_KEY, doc, complete=inv.complete,
                            packages=len(inv.packages), match_key=adapter.inventory_key(doc))
        db = _cached("db", task.db, lambda: adapter.open_vuln_db(task.db))
        matched = adapter.match(db, inv.os, inv.packages)
        rows = adapter.vulnerability_rows(matched, label) + adapter.config_findings(inv, label)
        store.replace_findings(task.run, task.image, rows, None, record_changes=seen_before)
        severities: dict[str, int] = {}
        for r in rows:
            severities[r.severity] = severities.get(r.severity, 0) + 1
        status = ImageStatus.STORED if inv.complete else ImageStatus.INCOMPLETE
        summary = {"packages": len(inv.packages), "severities": severities,
                   "incomplete": list(inv.incomplete[:50]), "not_checked": list(matched.not_checked)}
        store.mark_image(task.run, task.image, status, "", summary)
    except DockguardError as exc:
        return ImageTaskResult(task.image, ImageStatus.FAILED, str(exc), seconds=time.monotonic() - started)
    return ImageTaskResult(task.image, status, "", len(inv.packages), severities, tuple(inv.incomplete[:50]),
                           matched.not_checked, time.monotonic() - started)
