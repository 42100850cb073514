"""Session fixtures for integration tests: one private dockerd and a busybox base image."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.dockerd import PrivateDaemon, cleanup_root, import_busybox, start_daemon
from tests.integration.scale_fixtures import PostgresServer, start_postgres


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[PrivateDaemon]:
    """A private dockerd for the whole test session, stopped (by pid) at the end."""
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed: run `make test`, which installs docker.io")
    root = Path(tempfile.mkdtemp(prefix="dg-dockerd-"))
    daemon = start_daemon(root)
    try:
        yield daemon
    finally:
        daemon.stop()
        cleanup_root(root)


@pytest.fixture(scope="session")
def busybox_image(dockerd: PrivateDaemon) -> str:
    """``dg-busybox:1``: a static busybox imported from a local tar."""
    return import_busybox(dockerd.api)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One private PostgreSQL cluster (initdb in a temp dir, its own port and socket, an
    unprivileged user) for the whole session; each test takes databases of its own."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each engine."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"dg_store_{next(_databases)}")
