"""Whole-registry scanning on a result store, in-process or on Dask (issue 14; docs/scale.md).

* `dockguard.scale.catalog` — catalog and tag listings, paged and bounded;
* `dockguard.scale.registry_scan` — the client: walk, plan, dependency bookkeeping, run;
* `dockguard.scale.tasks` — the layer and image tasks (idempotent; they write to the store);
* `dockguard.scale.engine` — in-process, local Dask cluster or remote scheduler;
* `dockguard.scale.rematch` — stored inventories against the current database;
* `dockguard.scale.image_adapter` — the only module that calls the image scanner's internals;
* `dockguard.scale.progress`, `dockguard.scale.report` — stderr progress, text/JSON output.
"""
