"""Catalog and tag listings against a hostile registry on 127.0.0.1: paging that loops, pages
over the cap, invalid names, ``null`` tag lists — bounded, reported, never followed blindly."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from dockguard.errors import OperationalError
from dockguard.scale.catalog import MAX_PAGE_BYTES, CatalogClient
from tests.integration.scale_fixtures import build_db, dockguard


@pytest.fixture(scope="module")
def vulndb(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("vulndb")
    return str(build_db(d / "vuln.db", d / "osv", ("jinja2",)))


class Hostile(http.server.BaseHTTPRequestHandler):
    mode = "pages"
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Hostile.seen.append(self.path)
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        last = q.get("last", [""])[0]
        if url.path == "/v2/":
            return self._send({})
        if url.path == "/v2/_catalog":
            if self.mode == "loop":
                return self._send({"repositories": ["a"]}, '</v2/_catalog?last=a&n=1>; rel="next"')
            if self.mode == "big":
                return self._send({"repositories": ["a" * (MAX_PAGE_BYTES + 10)]})
            if self.mode == "elsewhere":
                # a next link to another host: only its `last` is used, the host is not contacted
                return self._send({"repositories": ["a"]} if not last else {"repositories": ["b"]},
                                  "" if last else '<http://192.0.2.1/v2/_catalog?last=a&n=1>; rel="next"')
            pages = {"": (["bad name", "team/a", 7, "Team/Upper"], "team/a"), "team/a": (["team/b"], "team/b"),
                     "team/b": (["team/c"], None)}
            names, following = pages[last]
            link = f'</v2/_catalog?last={following}&n=2>; rel="next"' if following else ""
            return self._send({"repositories": names}, link)
        if url.path.endswith("/tags/list"):
            return self._send({"name": "x", "tags": None if "team/a" in url.path else ["1", "-bad", "v2"]})
        self.send_error(404)

    def _send(self, doc: Any, link: str = "") -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def hostile() -> Iterator[str]:
    Hostile.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        Hostile.mode = "pages"


def test_paging_names_and_null_tags(hostile: str) -> None:
    client = CatalogClient(hostile)
    try:
        listing = client.list_repositories()
        assert listing.names == ["team/a", "team/b", "team/c"] and listing.invalid == 3 and listing.pages == 3
        assert client.list_tags("team/a").names == []
        tags = client.list_tags("team/b")
        assert tags.names == ["1", "v2"] and tags.invalid == 1
    finally:
        client.close()


@pytest.mark.parametrize(("mode", "message"), [("loop", "refusing to loop"), ("big", "larger than the")])
def test_hostile_catalogs_end_with_an_error(hostile: str, mode: str, message: str, vulndb: str,
                                            tmp_path: Any) -> None:
    Hostile.mode = mode
    client = CatalogClient(hostile)
    try:
        with pytest.raises(OperationalError, match=message):
            client.list_repositories()
    finally:
        client.close()
    assert len(Hostile.seen) < 10
    r = dockguard(["registry", "scan", hostile, "--store", str(tmp_path / "s.sqlite"), "--db", vulndb],
                  env={**os.environ, "DOCKER_CONFIG": "/nonexistent"})
    assert r.returncode == 2 and message in r.stderr and "internal error" not in r.stderr, r.stderr


def test_next_link_host_is_never_contacted(hostile: str) -> None:
    Hostile.mode = "elsewhere"
    client = CatalogClient(hostile)
    try:
        assert client.list_repositories().names == ["a", "b"]
    finally:
        client.close()
    assert Hostile.seen[-1].startswith("/v2/_catalog?n=1000&last=a")
