"""The plugin protocol server on a real unix socket (in-process), and its decision log."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockguard.authz.decide import Decider
from dockguard.authz.log import DecisionLog
from dockguard.authz.policy import Policy
from dockguard.authz.server import CONTENT_TYPE, MAX_PLUGIN_REQUEST, PluginServer, ServeState, prepare_socket
from dockguard.errors import OperationalError


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, kept alive like dockerd's plugin client."""

    def __init__(self, path: str) -> None:
        super().__init__("plugin", timeout=10)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.path)
        self.sock = s


def call(conn: UnixConnection, path: str, payload: Any, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else json.dumps(payload).encode()
    conn.request("POST", path, body=data, headers={"Content-Type": CONTENT_TYPE})
    res = conn.getresponse()
    body = res.read()
    assert res.getheader("Content-Type") == CONTENT_TYPE
    return res.status, json.loads(body)


def authz_req(method: str, uri: str, body: dict[str, Any] | None = None, user: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"RequestMethod": method, "RequestUri": uri, "RequestHeaders": {}}
    if user:
        out.update(User=user, UserAuthNMethod="TLS")
    if body is not None:
        out["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
        out["RequestHeaders"] = {"Content-Type": "application/json"}
    return out


PRIV = authz_req("POST", "/v1.41/containers/create", {"Image": "x", "HostConfig": {"Privileged": True}})


def serve(tmp_path: Path, audit: bool) -> Iterator[tuple[str, Path]]:
    sock = str(tmp_path / "p.sock")
    log = tmp_path / "decisions.jsonl"
    server = PluginServer(sock, ServeState(Decider(Policy()), audit, DecisionLog(str(log))))
    server.start()
    try:
        yield sock, log
    finally:
        server.stop()


@pytest.fixture
def enforce(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from serve(tmp_path, audit=False)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    yield from serve(tmp_path, audit=True)


def lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in log.read_text().splitlines()]


def test_protocol(enforce: tuple[str, Path]) -> None:
    sock, log = enforce
    conn = UnixConnection(sock)
    assert call(conn, "/Plugin.Activate", {}) == (200, {"Implements": ["authz"]})
    assert call(conn, "/AuthZPlugin.AuthZReq", authz_req("GET", "/v1.41/info")) == (200, {"Allow": True})
    status, res = call(conn, "/AuthZPlugin.AuthZReq", PRIV)
    assert status == 200 and res == {"Allow": False,
                                      "Msg": "dockguard: refused: 5.5 privileged container (policy rule privileged)"}
    assert call(conn, "/AuthZPlugin.AuthZRes", {**PRIV, "ResponseStatusCode": 201}) == (200, {"Allow": True})
    status, res = call(conn, "/Nope", {})
    assert status == 404 and "unknown plugin call" in res["Err"]
    conn.close()
    entries = lines(log)
    assert [e["decision"] for e in entries] == ["allow", "refuse"]
    assert entries[1]["rules"] == ["privileged"] and entries[1]["endpoint"] == "POST /containers/create"
    assert (Path(sock).stat().st_mode & 0o777) == 0o600


def test_malformed_requests_fail_safe(enforce: tuple[str, Path]) -> None:
    sock, log = enforce
    conn = UnixConnection(sock)
    status, res = call(conn, "/AuthZPlugin.AuthZReq", None, raw=b"{not json")
    assert status == 200 and res["Allow"] is False and "malformed AuthZ request" in res["Msg"]
    status, res = call(conn, "/AuthZPlugin.AuthZReq", None, raw=b"[" * 100 + b"]" * 100)
    assert res["Allow"] is False
    body = base64.b64encode(b'{"Image": "x", "HostConfig": ' + b"[" * 50 + b"]" * 50 + b"}").decode()
    status, res = call(conn, "/AuthZPlugin.AuthZReq", {**PRIV, "RequestBody": body})
    assert res["Allow"] is False and "nested deeper" in res["Msg"] and "(fail-safe)" in res["Msg"]
    conn.close()
    # a request over the size cap is refused without being read, and the connection closed
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(f"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: p\r\nContent-Length: {MAX_PLUGIN_REQUEST + 1}\r\n\r\n"
              .encode())
    s.shutdown(socket.SHUT_WR)  # the body never comes
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    s.close()
    reply = b"".join(chunks).decode()
    assert '"Allow": false' in reply and "over" in reply
    assert all(e["decision"] == "refuse" for e in lines(log))


def exchange(sock: str, *chunks: bytes) -> list[tuple[int, bytes]]:
    """Send `chunks` on one connection (each its own write, a pause between), then read every answer."""
    import time

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    for chunk in chunks:
        s.sendall(chunk)
        time.sleep(0.05)  # the next chunk arrives in another read on the server's side
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        answers.append((int(head.split()[1]), rest[:length]))
        data = rest[length:]
    return answers


GET_INFO = json.dumps(authz_req("GET", "/v1.41/info")).encode()
REQ_PRIV = json.dumps(PRIV).encode()


def post(payload: bytes, *headers: str, eol: bytes = b"\r\n", path: str = "/AuthZPlugin.AuthZReq") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: plugin", *headers, f"Content-Length: {len(payload)}"]
    return eol.join(x.encode() for x in lines) + eol + eol + payload


def test_http_heads_whole_split_and_odd(enforce: tuple[str, Path]) -> None:
    """The same answers whether a head arrives in one read, across reads, or with odd line ends."""
    sock, log = enforce
    allow, refuse = b'{"Allow": true}', json.dumps(
        {"Allow": False, "Msg": "dockguard: refused: 5.5 privileged container (policy rule privileged)"}).encode()
    # two requests pipelined in one write: the first head must not swallow the second
    assert exchange(sock, post(GET_INFO) + post(REQ_PRIV)) == [(200, allow), (200, refuse)]
    # a head cut in the middle of a header, and between head and body
    whole = post(REQ_PRIV, "Content-Type: application/json")
    cut = whole.index(b"Content-Type") + 5
    assert exchange(sock, whole[:cut], whole[cut:]) == [(200, refuse)]
    assert exchange(sock, whole[: -len(REQ_PRIV)], whole[-len(REQ_PRIV):]) == [(200, refuse)]
    # bare LF line ends, blank lines before the request line, a header name in another case
    assert exchange(sock, post(REQ_PRIV, eol=b"\n")) == [(200, refuse)]
    assert exchange(sock, b"\r\n\r\n" + post(REQ_PRIV)) == [(200, refuse)]
    assert exchange(sock, post(REQ_PRIV).replace(b"Content-Length", b"CONTENT-length")) == [(200, refuse)]
    # AuthZRes is answered without reading its body, whatever the body holds
    assert exchange(sock, post(b"{not json", path="/AuthZPlugin.AuthZRes")) == [(200, allow)]
    # Connection: close is honoured: nothing after the first answer is read
    assert exchange(sock, post(REQ_PRIV, "Connection: close") + post(GET_INFO)) == [(200, refuse)]
    assert [e["decision"] for e in lines(log)] == ["allow", "refuse", "refuse", "refuse", "refuse", "refuse",
                                                   "refuse", "refuse"]


def test_http_limits_in_one_read_and_line_by_line(enforce: tuple[str, Path]) -> None:
    sock, log = enforce
    many = [f"X-H{i}: v" for i in range(97)]  # + Host and Content-Length: 99 headers, then 100, then 101
    for extra, want in (([], 200), (["X-Last: v"], 200), (["X-Last: v", "X-Over: v"], 431)):
        request = post(GET_INFO, *many, *extra)
        assert exchange(sock, request)[0][0] == want
        assert exchange(sock, request[:40], request[40:])[0][0] == want
    # a repeated header name counts each time
    request = post(GET_INFO, *(["X-Same: v"] * 99))
    assert exchange(sock, request)[0][0] == 431
    assert exchange(sock, request[:40], request[40:])[0][0] == 431
    status, body = exchange(sock, b"POST /AuthZPlugin.AuthZReq\r\n\r\n")[0]
    assert status == 400 and b"bad request line" in body
    status, body = exchange(sock, post(GET_INFO).replace(b"POST", b"GET", 1))[0]
    assert status == 405 and b"not a plugin call" in body
    status, body = exchange(sock, post(GET_INFO).replace(b"Content-Length", b"Transfer-Encoding: chunked\r\nX"))[0]
    assert status == 200 and json.loads(body)["Allow"] is False
    assert exchange(sock, b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nX: " + b"v" * 70_000 + b"\r\n\r\n") == []
    assert [e["decision"] for e in lines(log)] == ["allow"] * 4 + ["refuse"]


def test_audit_mode_allows_and_logs(audit: tuple[str, Path]) -> None:
    sock, log = audit
    conn = UnixConnection(sock)
    assert call(conn, "/AuthZPlugin.AuthZReq", PRIV) == (200, {"Allow": True})
    assert call(conn, "/AuthZPlugin.AuthZReq", None, raw=b"garbage") == (200, {"Allow": True})
    conn.close()
    entries = lines(log)
    assert [e["decision"] for e in entries] == ["would-refuse", "would-refuse"]
    assert entries[0]["mode"] == "audit" and entries[0]["reasons"] == [
        "5.5 privileged container (policy rule privileged)"]


def test_parallel_keep_alive_clients(enforce: tuple[str, Path]) -> None:
    sock, log = enforce
    errors: list[str] = []

    def client(i: int) -> None:
        conn = UnixConnection(sock)
        try:
            for j in range(40):
                if (i + j) % 2:
                    want, payload = True, authz_req("GET", f"/v1.41/containers/{i}-{j}/json", user=f"u{i}")
                else:
                    want, payload = False, PRIV
                status, res = call(conn, "/AuthZPlugin.AuthZReq", payload)
                if status != 200 or res["Allow"] is not want:
                    errors.append(f"{i}/{j}: {res}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = lines(log)  # every line whole: no interleaving under concurrency
    assert len(entries) == 320
    assert sum(e["decision"] == "refuse" for e in entries) == 160


def test_prepare_socket(tmp_path: Path) -> None:
    regular = tmp_path / "file.sock"
    regular.write_text("x")
    with pytest.raises(OperationalError, match="not a socket"):
        prepare_socket(str(regular))
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    prepare_socket(str(stale))
    assert not stale.exists()
    live = tmp_path / "live.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(live))
    s.listen(1)
    try:
        with pytest.raises(OperationalError, match="already serves"):
            prepare_socket(str(live))
    finally:
        s.close()
    prepare_socket(str(tmp_path / "new" / "dir" / "p.sock"))
    assert (tmp_path / "new" / "dir").is_dir()


def test_log_reopen_and_uri_cap(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = DecisionLog(str(path))
    log.write({"uri": "/x" * 5000, "decision": "allow"})
    path.rename(tmp_path / "log.1")
    log.reopen()
    log.write({"uri": "/y", "decision": "refuse"})
    log.close()
    first = json.loads((tmp_path / "log.1").read_text())
    assert len(first["uri"]) == 4096 + 3 and first["time"].endswith("Z")
    assert json.loads(path.read_text())["uri"] == "/y"
    assert (path.stat().st_mode & 0o777) == 0o600


def test_serve_notifies_systemd_and_stops_cleanly(tmp_path: Path) -> None:
    """The real CLI: READY=1 once the socket listens (Type=notify), SIGHUP reloads, SIGTERM removes the socket."""
    import os
    import signal
    import subprocess
    import sys

    notify = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify))
    listener.settimeout(30)
    sock = tmp_path / "p.sock"
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: {privileged: off}\n")
    env = dict(os.environ, NOTIFY_SOCKET=str(notify))
    proc = subprocess.Popen([sys.executable, "-m", "dockguard", "authz", "serve", "--socket", str(sock),
                             "--policy", str(policy), "--log", str(tmp_path / "log")],
                            env=env, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert listener.recv(64) == b"READY=1"
        conn = UnixConnection(str(sock))
        assert call(conn, "/AuthZPlugin.AuthZReq", PRIV)[1]["Allow"] is True
        policy.write_text("rules: {privileged: on}\n")
        os.kill(proc.pid, signal.SIGHUP)
        assert listener.recv(64) == b"READY=1"
        assert call(conn, "/AuthZPlugin.AuthZReq", PRIV)[1]["Allow"] is False
        policy.write_text("rules: {privileged: maybe}\n")  # a broken policy keeps the previous one
        os.kill(proc.pid, signal.SIGHUP)
        assert listener.recv(64) == b"READY=1"
        assert call(conn, "/AuthZPlugin.AuthZReq", PRIV)[1]["Allow"] is False
        conn.close()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        listener.close()
    assert proc.returncode == 0
    assert b"reload failed, keeping the previous policy" in err and b"Traceback" not in err
    assert not sock.exists()
