"""Where the tasks run: in this process (default), on a local Dask cluster, or on a remote one.

`Engine` is the whole interface the registry scan uses: `submit` a task under a unique key,
take the next finished one with `next_done`.  The scan keeps the dependency bookkeeping
itself (an image is submitted when its last missing layer is stored) and a bounded number of
tasks in flight, so no task graph of a whole registry is ever built — 100,000 images are
100,000 small submissions, never a 100,000-node graph held by the scheduler at once.

* `InProcessEngine` runs each task when it is submitted; Dask is not imported.
* `DaskEngine` with ``--workers N`` starts a `distributed.LocalCluster` of N worker processes
  with one thread each (each task's memory is bounded by its scan budget, so a worker's is
  too) on 127.0.0.1, with TLS and temporary certificates (`Security.temporary`), so that no
  other local user can submit code to it; with ``--scheduler ADDRESS`` it connects to an
  existing scheduler.  Tasks are submitted with ``retries``: a task whose worker dies is
  rescheduled by Dask elsewhere, one that raises is retried; both are idempotent.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from dockguard.errors import OperationalError

RETRIES = 3
"""Automatic retries of a task that raised (a task whose worker died is rescheduled anyway)."""
CONNECT_TIMEOUT = 30
"""Seconds to reach a Dask scheduler."""

A = TypeVar("A")


class _Future(Protocol):
    """What the engine uses of a ``distributed.Future``."""

    @property
    def key(self) -> object: ...

    def result(self) -> object: ...

    def release(self) -> None: ...


class _AsCompleted(Protocol, Iterator[_Future]):
    """What the engine uses of ``distributed.as_completed``."""

    def add(self, future: _Future) -> None: ...


class _Closable(Protocol):
    def close(self, timeout: float) -> object: ...


class _Client(_Closable, Protocol):
    """What the engine uses of a ``distributed.Client``."""

    @property
    def loop(self) -> object: ...

    def scheduler_info(self) -> dict[str, dict[str, object]]: ...

    def submit(self, fn: Callable[[A], object], arg: A, *, key: str, pure: bool, retries: int,
               priority: int) -> _Future: ...


class Engine:
    """Runs tasks; see the module docstring."""

    workers: int = 1
    name: str = "in-process"

    def submit(self, key: str, fn: Callable[[A], object], arg: A, *, priority: int = 0) -> None:
        """Start ``fn(arg)`` under `key` (unique within a run)."""
        raise NotImplementedError

    def next_done(self) -> tuple[str, object]:
        """(key, result) of a finished task; the result is the exception when it failed."""
        raise NotImplementedError

    def pending(self) -> int:
        """Tasks submitted and not yet returned by `next_done`."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop what the engine started."""


class InProcessEngine(Engine):
    """Each task runs when submitted, in this thread."""

    def __init__(self) -> None:
        self._done: deque[tuple[str, object]] = deque()

    def submit(self, key: str, fn: Callable[[A], object], arg: A, *, priority: int = 0) -> None:
        try:
            result = fn(arg)
        except Exception as exc:  # handed to the caller like a remote failure
            result = exc
        self._done.append((key, result))

    def next_done(self) -> tuple[str, object]:
        return self._done.popleft()

    def pending(self) -> int:
        return len(self._done)

    def close(self) -> None:
        from dockguard.scale.tasks import close_cached

        close_cached()


class DaskEngine(Engine):
    """Tasks on a Dask distributed cluster (started here with `workers`, or at `scheduler`)."""

    def __init__(self, *, scheduler: str | None = None, workers: int | None = None) -> None:
        import importlib

        try:
            distributed = importlib.import_module("distributed")
        except ImportError:
            raise OperationalError(
                "--scheduler and --workers need Dask: pip install 'dockguard[scale]'") from None
        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._cluster: _Closable | None = None
        try:
            if scheduler is not None:
                self.name = f"Dask scheduler {scheduler}"
                self._client: _Client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT,
                                                           set_as_default=False)
            else:
                n = workers or 1
                self.name = f"local Dask cluster of {n} worker process{'es' if n != 1 else ''}"
                cluster = distributed.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, security=True, silence_logs=logging.CRITICAL)
                self._cluster = cluster
                self._client = distributed.Client(cluster, security=cluster.security, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            where = scheduler or "a local cluster"
            raise OperationalError(f"cannot reach {where}: {' '.join(str(exc).split())[:300]}") from None
        info = self._client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})))
        self._as_completed: Callable[..., _AsCompleted] = distributed.as_completed
        self._futures: _AsCompleted | None = None  # made with the first future
        self._count = 0

    def submit(self, key: str, fn: Callable[[A], object], arg: A, *, priority: int = 0) -> None:
        future: _Future = self._client.submit(fn, arg, key=key, pure=False, retries=RETRIES, priority=priority)
        if self._futures is None:
            self._futures = self._as_completed([future], loop=self._client.loop, with_results=False)
        else:
            self._futures.add(future)
        self._count += 1

    def next_done(self) -> tuple[str, object]:
        if self._futures is None:
            raise AssertionError("next_done before any submit")
        future = next(self._futures)
        self._count -= 1
        try:
            result = future.result()
        except Exception as exc:  # the task raised (after its retries) or its workers kept dying
            result = exc
        key = str(future.key)
        future.release()
        return key, result

    def pending(self) -> int:
        return self._count

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            with contextlib.suppress(Exception):  # best effort on the way out
                client.close(timeout=10)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=30)
            self._cluster = None


def open_engine(scheduler: str | None, workers: int | None) -> Engine:
    """The engine for ``--scheduler`` / ``--workers`` (neither: in-process)."""
    if scheduler is None and workers is None:
        return InProcessEngine()
    return DaskEngine(scheduler=scheduler, workers=workers)
