"""Every HTTP read is bounded: endless bodies (on redirects too), endless headers, crafted
challenges and JSON.  The real CLI against small hostile servers on 127.0.0.1: exit 2 with a
clear message (or, for the probe, a FAILED step), no traceback, peak RSS under the bound."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.hostile.net_servers import HostileHttp, Reply, Seen, endless

V2_OPEN = Reply(200, {"Content-Type": "application/json",
                      "Docker-Distribution-API-Version": "registry/2.0"}, b"{}")


def check(run: CliRun) -> None:
    assert not run.traceback, run.stderr
    assert "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB, run.max_rss_mib
    assert len(run.stderr.strip().splitlines()) <= 1, run.stderr


def scan(ref: str, scratch: Path) -> CliRun:
    run = run_cli(["image", "scan", ref, "--list-packages", "--no-cache"], scratch=scratch, timeout=120)
    check(run)
    return run


def bearer_to(realm: str) -> Callable[[Seen], Reply]:
    def route(seen: Seen) -> Reply:
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'}, b"")
    return route


def registry_with_manifest(manifest: Callable[[threading.Event], Reply]
                           ) -> Callable[[HostileHttp], Callable[[Seen], Reply]]:
    def make(server: HostileHttp) -> Callable[[Seen], Reply]:
        def route(seen: Seen) -> Reply:
            if seen.path == "/v2/":
                return V2_OPEN
            if "/manifests/" in seen.path:
                return manifest(server.stop)
            return Reply(404)
        return route
    return make


class Lazy:
    """A HostileHttp whose route needs the server itself (for its stop event)."""

    def __init__(self, make: Callable[[HostileHttp], Callable[[Seen], Reply]]) -> None:
        self.server = HostileHttp(lambda seen: self.route(seen))
        self.route = make(self.server)

    def __enter__(self) -> HostileHttp:
        return self.server.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(None, None, None)


@pytest.mark.parametrize("status", [302, 200])
def test_token_realm_with_an_endless_body(status: int, scratch: Path) -> None:
    """The reported case: a realm answering 302 (or 200) with gigabytes; it used to be read
    whole (15 GB RSS).  A redirect body is never read; a token body stops at 1 MiB."""
    def realm_route(server: HostileHttp) -> Callable[[Seen], Reply]:
        def route(seen: Seen) -> Reply:
            headers = {"Content-Type": "application/json"}
            if status == 302:
                headers["Location"] = "/token?again=1"
            return Reply(status, headers, endless(server.stop))
        return route

    with Lazy(realm_route) as realm, HostileHttp(bearer_to(f"{realm.url}/token")) as registry:
        t0 = time.monotonic()
        run = scan(f"{registry.host}/app:1", scratch)
        assert run.code == 2
        if status == 302:
            assert "more than 5 redirects" in run.stderr, run.stderr
            assert len(realm.seen) == 6
        else:
            assert "larger than the 1048576 bytes allowed" in run.stderr, run.stderr
        assert time.monotonic() - t0 < 60


def test_probe_token_realm_with_an_endless_redirect(scratch: Path) -> None:
    def realm_route(server: HostileHttp) -> Callable[[Seen], Reply]:
        return lambda seen: Reply(302, {"Location": "/elsewhere"}, endless(server.stop))

    with Lazy(realm_route) as realm, HostileHttp(bearer_to(f"{realm.url}/token")) as registry:
        run = run_cli(["registry", "probe", registry.host, "--format", "json"], scratch=scratch,
                      timeout=120)
        check(run)
        assert run.code == 0
        steps = {s["name"]: s["reason"] for s in json.loads(run.stdout)["steps"]}
        assert steps["anonymous-token"] == "refused: token service HTTP 302"


@pytest.mark.parametrize("status", [200, 302])
def test_manifest_with_an_endless_body(status: int, scratch: Path) -> None:
    def manifest(stop: threading.Event) -> Reply:
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        if status == 302:
            headers["Location"] = "/v2/app/manifests/2"
        return Reply(status, headers, endless(stop))

    with Lazy(registry_with_manifest(manifest)) as registry:
        run = scan(f"{registry.host}/app:1", scratch)
        assert run.code == 2
        expected = ("manifest: larger than the 4194304 bytes allowed" if status == 200
                    else "more than 5 redirects")
        assert expected in run.stderr, run.stderr


def test_probe_v2_with_an_endless_body(scratch: Path) -> None:
    def make(server: HostileHttp) -> Callable[[Seen], Reply]:
        return lambda seen: Reply(200, {}, endless(server.stop))

    with Lazy(make) as registry:
        run = run_cli(["registry", "probe", registry.host, "--format", "json"], scratch=scratch,
                      timeout=120)
        check(run)
        steps = {s["name"]: (s["status"], s["reason"]) for s in json.loads(run.stdout)["steps"]}
        status, reason = steps["api"]
        assert status == "FAILED"
        assert "larger than the 1048576 bytes allowed" in reason


def test_announced_huge_bodies_are_refused_before_reading(scratch: Path) -> None:
    def manifest(stop: threading.Event) -> Reply:
        return Reply(200, {"Content-Length": str(8 * 1024**3)}, endless(stop))

    with Lazy(registry_with_manifest(manifest)) as registry:
        run = scan(f"{registry.host}/app:1", scratch)
        assert run.code == 2
        assert "manifest: 8589934592 bytes is larger than the 4194304 allowed" in run.stderr


def test_endless_headers(scratch: Path) -> None:
    def make(server: HostileHttp) -> Callable[[Seen], Reply]:
        def headers() -> Iterator[bytes]:
            yield b"HTTP/1.1 200 OK\r\n"
            while not server.stop.is_set():
                yield b"X-Pad: " + b"a" * 1000 + b"\r\n"
        def route(seen: Seen) -> Reply:
            return Reply(raw_head=b"", body=headers())
        return route

    with Lazy(make) as registry:
        run = scan(f"{registry.host}/app:1", scratch)
        assert run.code == 2
        assert "got more than 100 headers" in run.stderr, run.stderr
        run = run_cli(["registry", "probe", registry.host], scratch=scratch / "probe",
                      timeout=120)
        check(run)
        assert "got more than 100 headers" in run.stdout


@pytest.mark.parametrize("challenge, message", [
    ("Bearer " + "a" * 60_000, "WWW-Authenticate header of 60007 characters (more than 8192)"),
    ("Bearer " + "a" * 100_000, "got more than 65536 bytes when reading header line"),
    # Quadratic for the old regex parser: a long run of name characters without "=".
    ("Bearer " + "a" * 8000, "unsupported auth challenge"),
    ('Bearer realm="https://127.0.0.1:1/t', "unterminated quote in realm"),
    ('Bearer realm="https://a/t",realm="https://b/t"', "realm given twice"),
    ('Bearer realm="https://user:pw@127.0.0.1:1/t"', "bad token realm"),
    ('Bearer realm="file:///etc/passwd"', "bad token realm"),
    ('Bearer realm="https://127.0.0.1:99999/t"', "bad token realm"),
    ('Bearer realm="https://127.0.0.1:1/\x1b]0;owned\x07"', "bad token realm"),
])
def test_crafted_challenges(challenge: str, message: str, scratch: Path) -> None:
    with HostileHttp(lambda seen: Reply(401, {"WWW-Authenticate": challenge})) as registry:
        t0 = time.monotonic()
        run = scan(f"{registry.host}/app:1", scratch)
        assert run.code == 2
        assert message in run.stderr, run.stderr
        assert "\x1b" not in run.stderr
        assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("body, message", [
    (b"[" * 100_000, "JSON nested deeper than 64 levels"),
    (b'{"schemaVersion": 2, "config": {"digest": "sha256:' + b"0" * 64 + b'", "size": true}}',
     "$.config.size: expected an integer, got a boolean"),
    (b'{"schemaVersion": 2, "manifests": 5}', "$.manifests: expected a list, got an integer"),
    (b'{"schemaVersion": 2, "manifests": [' + b"{}," * 2000 + b"{}]}", "more than the 1024"),
    (b'{"schemaVersion": 2, "config": {"digest": "sha256:' + b"0" * 64 + b'", "size": 2},'
     b' "layers": {"a": 1}}', "$.layers: expected a list, got an object"),
])
def test_crafted_manifests(body: bytes, message: str, scratch: Path) -> None:
    def manifest(stop: threading.Event) -> Reply:
        return Reply(200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body)

    with Lazy(registry_with_manifest(manifest)) as registry:
        run = scan(f"{registry.host}/app:1", scratch)
        assert run.code == 2
        assert message in run.stderr, run.stderr


def test_crafted_token_answers(scratch: Path) -> None:
    answers = iter([b"[" * 100_000, b'{"token": 5}', b'{"token": "a\\nb"}'])

    def realm_route(seen: Seen) -> Reply:
        return Reply(200, {"Content-Type": "application/json"}, next(answers, b"{}"))

    with HostileHttp(realm_route) as realm, \
            HostileHttp(bearer_to(f"{realm.url}/token")) as registry:
        for i in range(3):
            run = scan(f"{registry.host}/app:1", scratch / str(i))
            assert run.code == 2
            assert "no token in the answer" in run.stderr or "not a usable header value" in \
                run.stderr, run.stderr


def test_probe_output_escapes_control_characters(scratch: Path) -> None:
    evil = "registry/2.0\x1b]0;owned\x07\x1b[2J"
    catalog = json.dumps({"repositories": ["ok/repo", "bad\x1b[31m", "../../x", 5]}).encode()

    def route(seen: Seen) -> Reply:
        if seen.path.startswith("/v2/_catalog"):
            return Reply(200, {"Content-Type": "application/json"}, catalog)
        if seen.path == "/v2/":
            return Reply(200, {"Docker-Distribution-API-Version": evil}, b"{}")
        return Reply(404)

    with HostileHttp(route) as registry:
        run = run_cli(["registry", "probe", registry.host], scratch=scratch, timeout=120)
        check(run)
        assert run.code == 0
        assert "\x1b" not in run.stdout and "\x07" not in run.stdout
        assert "registry/2.0\\x1b]0;owned\\x07" in run.stdout
        assert "repositories: ok/repo" in run.stdout
        # Only the valid name is used in a URL.
        assert [s.path for s in registry.seen if "/tags/list" in s.path] == [
            "/v2/ok/repo/tags/list"]


@pytest.mark.parametrize("case", ["redirect-loop", "announced-huge", "redirect-to-file"])
def test_db_update_from_a_hostile_mirror(case: str, scratch: Path, tmp_path: Path) -> None:
    def make(server: HostileHttp) -> Callable[[Seen], Reply]:
        def route(seen: Seen) -> Reply:
            if case == "redirect-loop":
                return Reply(302, {"Location": seen.path}, endless(server.stop))
            if case == "redirect-to-file":
                return Reply(302, {"Location": "file:///etc/passwd"}, b"")
            if seen.path.endswith("/modified_id.csv"):
                return Reply(404, {}, b"")  # no incremental list: the update asks for all.zip
            return Reply(200, {"Content-Length": str(5 * 1024**3)}, endless(server.stop))
        return route

    db = tmp_path / "vuln.db"
    with Lazy(make) as mirror:
        run = run_cli(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--source",
                       mirror.url], scratch=scratch, timeout=120)
    check(run)
    assert run.code == 2
    expected = {
        "redirect-loop": "more than 5 redirects",
        "announced-huge": "refused: 5368709120 bytes, more than the 4294967296 allowed",
        "redirect-to-file": "refusing redirect to 'file:///etc/passwd'",
    }[case]
    assert expected in run.stderr, run.stderr
    assert "no database was written" in run.stderr and "left unchanged" not in run.stderr
    assert not db.exists()
