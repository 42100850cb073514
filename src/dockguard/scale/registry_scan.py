"""``dockguard registry scan``: a whole registry, each distinct layer analysed once.

1. **Walk** (here, in the client): catalog → tags (both paged, bounded: `dockguard.scale.catalog`)
   → each tag's manifest, an index followed to the platform, the config verified
   (`image_adapter.resolve_image`, a few threads) → every image recorded in the store with the
   names it was seen under.
2. **Plan**: the distinct diff_ids of all images; those whose analysis the store already has
   (from any earlier run, for this analyser version) or whose blob it remembers as unusable are
   not fetched again.
3. **Run** (`dockguard.scale.engine`): one layer task per missing layer; an image task as soon
   as the last missing layer of the image is stored; at most ``2 × workers`` tasks in flight.
   Workers write their results to the store themselves (see docs/scale.md for why).
4. **Finish**: the run's summary in the store; the outcome of every image (stored, incomplete,
   failed) is in ``run_images``; ``--resume RUN`` walks again and skips the images the run
   already stored.

Nothing here reads a layer: layer and image work happens in `dockguard.scale.tasks`.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockguard.errors import DockguardError, OperationalError, UsageError
from dockguard.scale.catalog import CatalogClient
from dockguard.scale.engine import Engine, open_engine
from dockguard.scale.progress import ScanProgress
from dockguard.scale.tasks import (
    ImageTask,
    ImageTaskResult,
    LayerStatus,
    LayerTask,
    LayerTaskResult,
    RegistryAccess,
    run_image_task,
    run_layer_task,
)
from dockguard.store import ImageOutcome, ImageRef, ImageStatus, LayerRow, RunKind, RunStatus, Store, StoreURL

if TYPE_CHECKING:
    from dockguard.jsontypes import Json
    from dockguard.scale.image_adapter import ResolvedImage

WALK_THREADS = 4
"""Manifests resolved at once by the client (each thread has its own connection)."""
WINDOW_PER_WORKER = 8
"""Tasks in flight per worker."""


@dataclass(frozen=True)
class ScanRequest:
    """Everything ``registry scan`` was asked to do."""

    registry: str
    platform: str
    store: StoreURL
    access: RegistryAccess
    task_access: RegistryAccess
    db: str | None = None
    repo_globs: tuple[str, ...] = ()
    tag_globs: tuple[str, ...] = ()
    scheduler: str | None = None
    workers: int | None = None
    resume: str | None = None


@dataclass
class ImageResult:
    """One image of the run, for the report."""

    digest: str
    names: list[str]
    status: ImageStatus
    error: str = ""
    packages: int = 0
    severities: dict[str, int] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    from_earlier_attempt: bool = False


@dataclass
class ScanResult:
    """What a registry scan did (the report and the run's stored summary)."""

    run: str
    registry: str
    platform: str
    store: str
    engine: str = ""
    workers: int = 1
    status: RunStatus = RunStatus.RUNNING
    started: float = 0.0
    finished: float = 0.0
    repositories: int = 0
    tags: int = 0
    images: list[ImageResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layers_referenced: int = 0
    layers_distinct: int = 0
    layers_analysed: int = 0
    layers_reused: int = 0
    layers_unusable: int = 0
    layers_failed: int = 0
    bytes_fetched: int = 0

    @property
    def dedupe_factor(self) -> float:
        """Layers referenced by the images / distinct layers."""
        return self.layers_referenced / self.layers_distinct if self.layers_distinct else 1.0

    def summary(self) -> dict[str, object]:
        """The run's summary as stored (counts only; per-image outcomes are rows)."""
        return {
            "registry": self.registry, "platform": self.platform, "engine": self.engine,
            "workers": self.workers, "repositories": self.repositories, "tags": self.tags,
            "images": len(self.images),
            "images_by_status": {s.value: sum(1 for i in self.images if i.status is s) for s in ImageStatus},
            "skipped": len(self.skipped), "errors": len(self.errors),
            "layers_referenced": self.layers_referenced, "layers_distinct": self.layers_distinct,
            "layers_analysed": self.layers_analysed, "layers_reused": self.layers_reused,
            "layers_unusable": self.layers_unusable, "layers_failed": self.layers_failed,
            "bytes_fetched": self.bytes_fetched, "dedupe_factor": round(self.dedupe_factor, 3),
            "seconds": round(self.finished - self.started, 3),
        }


@dataclass
class _Planned:
    layers: tuple[LayerRow, ...]
    repository: str
    names: list[str]


def _matches(name: str, globs: Sequence[str]) -> bool:
    return not globs or any(fnmatch.fnmatchcase(name, g) for g in globs)


def _client(access: RegistryAccess) -> CatalogClient:
    from dockguard.scale.tasks import _ca_file

    return CatalogClient(access.registry, credentials=access.credentials, insecure=access.insecure,
                         ca_cert=_ca_file(access.ca_pem) if access.ca_pem else None,
                         allow_plain_http_credentials=access.allow_plain_http_credentials,
                         deadline=access.deadline)


class _Walk:
    """Step 1: list, resolve and record every image (see the module docstring)."""

    def __init__(self, req: ScanRequest, store: Store, run: str, result: ScanResult, progress: ScanProgress):
        self.req, self.store, self.run, self.result, self.progress = req, store, run, result, progress
        self.images: dict[str, _Planned] = {}
        self._local = threading.local()
        self._clients: list[CatalogClient] = []
        self._lock = threading.Lock()

    def _thread_client(self) -> CatalogClient:
        client: CatalogClient | None = getattr(self._local, "client", None)
        if client is None:
            client = _client(self.req.access)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def walk(self) -> None:
        req, result = self.req, self.result
        main = self._thread_client()
        try:
            listing = main.list_repositories()
            if listing.invalid:
                result.warnings.append(f"the catalog listed {listing.invalid} invalid repository names (skipped)")
            repos = [r for r in listing.names if _matches(r, req.repo_globs)]
            result.repositories = len(repos)
            pairs: list[tuple[str, str]] = []
            for repo in repos:
                try:
                    tags = main.list_tags(repo)
                except DockguardError as exc:
                    result.errors.append((f"{req.registry}/{repo}", str(exc)))
                    continue
                if tags.invalid:
                    result.warnings.append(f"{req.registry}/{repo}: {tags.invalid} invalid tags (skipped)")
                pairs += [(repo, t) for t in tags.names if _matches(t, req.tag_globs)]
            result.tags = len(pairs)
            self.progress.note(f"{req.registry}: {len(repos)} repositories, {len(pairs)} tags; "
                               "reading manifests")
            with ThreadPoolExecutor(WALK_THREADS, thread_name_prefix="dockguard-walk") as pool:
                for (repo, tag), outcome in zip(pairs, pool.map(self._resolve, pairs), strict=True):
                    self._record(repo, tag, outcome)
        finally:
            for client in self._clients:
                client.close()

    def _resolve(self, pair: tuple[str, str]) -> ResolvedImage | DockguardError:
        from dockguard.scale.image_adapter import resolve_image

        try:
            return resolve_image(self._thread_client(), self.req.registry, pair[0], pair[1], self.req.platform)
        except DockguardError as exc:
            return exc

    def _record(self, repo: str, tag: str, outcome: ResolvedImage | DockguardError) -> None:
        from dockguard.scale.image_adapter import PlatformMissing

        subject = f"{self.req.registry}/{repo}:{tag}"
        if isinstance(outcome, PlatformMissing):
            self.result.skipped.append((subject, str(outcome)))
            return
        if isinstance(outcome, DockguardError):
            self.result.errors.append((subject, str(outcome)))
            return
        row = outcome.row
        self.store.record_image(self.run, row, [ImageRef(self.req.registry, repo, tag, outcome.index_digest)])
        planned = self.images.get(row.digest)
        if planned is None:
            self.images[row.digest] = _Planned(row.layers, repo, [subject])
        else:
            planned.names.append(subject)


def scan_registry(req: ScanRequest, progress: ScanProgress) -> ScanResult:
    """Run (or resume) a registry scan; see the module docstring.

    `OperationalError` when the registry cannot be listed at all; otherwise the result says
    what was stored, what is incomplete and what failed.
    """
    from dockguard.scale import image_adapter as adapter

    db = adapter.open_vuln_db(req.db)  # refuse a missing database before any work
    try:
        stale = adapter.stale_feeds(db)
    finally:
        db.close()
    store = Store.open(req.store)
    try:
        earlier: dict[str, ImageOutcome] = {}
        if req.resume:
            info = store.run(req.resume)
            if info is None:
                raise UsageError(f"--resume: no run {req.resume} in store {req.store.display()}")
            if info.kind is not RunKind.REGISTRY_SCAN or info.target != req.registry:
                raise UsageError(f"--resume: run {info.id} is a {info.kind.value} of {info.target}, "
                                 f"not a registry scan of {req.registry}")
            run = info.id
            store.reopen_run(run)
            store.clear_errors(run)
            earlier = store.run_images(run)
        else:
            run = store.start_run(RunKind.REGISTRY_SCAN, req.registry, {
                "platform": req.platform, "repo": list(req.repo_globs), "tag": list(req.tag_globs),
                "scheduler": req.scheduler, "workers": req.workers})
        result = ScanResult(run, req.registry, req.platform, req.store.display(), started=time.time())
        if stale:
            result.warnings.append(f"stale vulnerability data ({', '.join(stale)}): refresh with "
                                   "`dockguard db update`")
        progress.note(f"registry scan run {run}{' (resumed)' if req.resume else ''}: listing {req.registry}")
        walk = _Walk(req, store, run, result, progress)
        try:
            walk.walk()
        except DockguardError as exc:
            result.finished = time.time()
            store.finish_run(run, RunStatus.FAILED, {**result.summary(), "error": str(exc)})
            raise OperationalError(f"registry scan of {req.registry} (run {run}): {exc}") from None
        _execute(req, store, run, walk.images, earlier, result, progress)
        for subject, error in result.errors:
            store.record_error(run, subject, error)
        result.finished = time.time()
        problems = result.errors or any(i.status is not ImageStatus.STORED for i in result.images)
        result.status = RunStatus.PARTIAL if problems else RunStatus.COMPLETE
        store.finish_run(run, result.status, result.summary())
        return result
    finally:
        store.close()


def _execute(req: ScanRequest, store: Store, run: str, images: dict[str, _Planned], earlier: dict[str, ImageOutcome],
             result: ScanResult, progress: ScanProgress) -> None:
    from dockguard.scale.image_adapter import ANALYSER_KEY

    done_before = {d for d, o in earlier.items() if o.status is not ImageStatus.FAILED and d in images}
    for digest in sorted(done_before):
        o = earlier[digest]
        result.images.append(ImageResult(
            digest, images[digest].names, o.status, o.error, _int(o.summary.get("packages")),
            _counts(o.summary.get("severities")), _texts(o.summary.get("incomplete")),
            _texts(o.summary.get("not_checked")), from_earlier_attempt=True))
    todo = sorted((d for d in images if d not in done_before), key=lambda d: images[d].names[0])
    distinct = {layer.diff_id for p in images.values() for layer in p.layers}
    result.layers_referenced = sum(len(p.layers) for p in images.values())
    result.layers_distinct = len(distinct)

    # Work is keyed by (diff_id, blob digest): an analysis is reused only through a blob verified
    # to decompress to that diff_id (`Store.reusable_layers`).
    wanted: dict[tuple[str, str], tuple[LayerRow, str]] = {}
    for digest in todo:
        for layer in images[digest].layers:
            wanted.setdefault((layer.diff_id, layer.digest), (layer, images[digest].repository))
    reusable = store.reusable_layers(ANALYSER_KEY, wanted)
    failed = store.failed_layers(ANALYSER_KEY, [row.digest for row, _ in wanted.values()])
    fetch = [p for p in wanted if p not in reusable and (p[1], p[0]) not in failed]
    result.layers_reused = len(wanted) - len(fetch)
    to_fetch = set(fetch)
    waiting = {d: {(layer.diff_id, layer.digest) for layer in images[d].layers} & to_fetch for d in todo}
    users: dict[tuple[str, str], list[str]] = {}
    for digest, need in waiting.items():
        for pair in need:
            users.setdefault(pair, []).append(digest)

    progress.images_total = len(images)
    progress.images_done = len(done_before)
    progress.layers_total = len(wanted)
    progress.layers_done = progress.layers_reused = result.layers_reused
    progress.bytes_total = sum(wanted[d][0].size for d in fetch)
    engine: Engine = open_engine(req.scheduler, req.workers)
    result.engine, result.workers = engine.name, engine.workers
    progress.note(f"{len(todo)} images to scan ({len(done_before)} done earlier in this run), "
                  f"{len(wanted)} distinct layers ({result.layers_reused} already in the store), "
                  f"on {engine.name}")
    ready = deque(d for d in todo if not waiting[d])
    layers = deque(fetch)
    window = max(2, engine.workers * WINDOW_PER_WORKER)
    image_tasks: dict[str, str] = {}
    layer_tasks: dict[str, tuple[str, str]] = {}
    try:
        while ready or layers or image_tasks or layer_tasks:
            while len(image_tasks) + len(layer_tasks) < window and (ready or layers):
                if ready:
                    digest = ready.popleft()
                    key = f"dg-image-{run}-{digest}"
                    image_tasks[key] = digest
                    engine.submit(key, run_image_task, ImageTask(run, req.store, digest, req.db), priority=10)
                else:
                    pair = layers.popleft()
                    row, repo = wanted[pair]
                    key = f"dg-layer-{run}-{pair[0]}-{pair[1]}"
                    layer_tasks[key] = pair
                    engine.submit(key, run_layer_task, LayerTask(run, req.store, req.task_access, repo, row))
            key, value = engine.next_done()
            if key in layer_tasks:
                subject = layer_tasks.pop(key)
                _layer_done(subject[0], value, wanted[subject][0], result, progress)
                for digest in users.get(subject, ()):
                    waiting[digest].discard(subject)
                    if not waiting[digest]:
                        ready.append(digest)
            else:
                digest = image_tasks.pop(key)
                _image_done(store, run, digest, images[digest].names, value, result)
                progress.images_done += 1
            progress.show()
    finally:
        engine.close()
    progress.finish()


def _layer_done(diff_id: str, value: object, row: LayerRow, result: ScanResult, progress: ScanProgress) -> None:
    if not isinstance(value, LayerTaskResult):
        value = LayerTaskResult(diff_id, LayerStatus.ERROR, reason=f"the task failed: {_describe(value)}")
    progress.layers_done += 1
    progress.bytes_done += row.size
    if value.status is LayerStatus.ANALYSED:
        result.layers_analysed += 1
        result.bytes_fetched += value.fetched
    elif value.status is LayerStatus.REUSED:
        result.layers_reused += 1
        progress.layers_reused += 1
    elif value.status is LayerStatus.UNUSABLE:
        result.layers_unusable += 1
        result.bytes_fetched += value.fetched
    else:
        result.layers_failed += 1
        result.errors.append((f"layer {row.digest}", value.reason))


def _image_done(store: Store, run: str, digest: str, names: list[str], value: object, result: ScanResult) -> None:
    if not isinstance(value, ImageTaskResult):
        value = ImageTaskResult(digest, ImageStatus.FAILED, f"the task failed: {_describe(value)}")
    if value.status is ImageStatus.FAILED:
        try:
            store.mark_image(run, digest, ImageStatus.FAILED, value.error)
        except DockguardError as exc:
            result.warnings.append(f"could not record the failure of {digest}: {exc}")
        result.errors.append((f"image {digest}", value.error))
    result.images.append(ImageResult(digest, names, value.status, value.error, value.packages,
                                     dict(value.severities), list(value.incomplete), list(value.not_checked)))


def _int(value: Json) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _counts(value: Json) -> dict[str, int]:
    return {k: _int(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _texts(value: Json) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _describe(value: object) -> str:
    if isinstance(value, BaseException):
        text = " ".join(str(value).split())[:300]
        return f"{type(value).__name__}: {text}" if text else type(value).__name__
    return f"unexpected result {type(value).__name__}"
