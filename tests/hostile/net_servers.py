"""Hostile servers for the network tests: they listen on 127.0.0.1 only and record every request.

`HostileHttp` is a threaded HTTP(S) server whose answers are plain functions of the request
(``route(path) -> Reply``); a Reply can stream an endless body, drip its bytes, or send any
headers.  `DripServer` is a bare TCP server that sends its bytes one at a time (a TLS record
header that never completes, or an HTTP answer that never ends).  Each stops itself at the end
of the test (context managers), and every streaming loop ends when the client goes away or the
server stops.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

CHUNK = b"\0" * 65536


@dataclass(frozen=True)
class Seen:
    """One request a server received (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Reply:
    """What to answer: status, headers and a body (bytes, or an iterator of chunks)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterator[bytes] = b""
    raw_head: bytes | None = None
    """Sent instead of the status line and headers (for malformed heads)."""


def endless(stop: threading.Event) -> Iterator[bytes]:
    """Zero bytes until the server stops (the client hanging up ends it earlier)."""
    while not stop.is_set():
        yield CHUNK


def drip(data: bytes, every: float, stop: threading.Event) -> Iterator[bytes]:
    """`data` one byte at a time, `every` seconds apart."""
    for i in range(len(data)):
        if stop.wait(every):
            return
        yield data[i : i + 1]


class HostileHttp:
    """An HTTP or HTTPS server on 127.0.0.1 answering from `route`; records what it gets."""

    def __init__(self, route: Callable[[Seen], Reply], tls: ssl.SSLContext | None = None) -> None:
        self.route = route
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                req = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                server.seen.append(req)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                reply = server.route(req)
                try:
                    if reply.raw_head is not None:
                        self.wfile.write(reply.raw_head)
                    else:
                        self.send_response(reply.status)
                        for k, v in reply.headers.items():
                            self.send_header(k, v)
                        if isinstance(reply.body, bytes):
                            if "Content-Length" not in reply.headers:
                                self.send_header("Content-Length", str(len(reply.body)))
                            self.end_headers()
                            self.wfile.write(reply.body)
                            return
                        if "Content-Length" not in reply.headers:
                            self.send_header("Connection", "close")
                        self.end_headers()
                    self.wfile.flush()
                    body = reply.body if not isinstance(reply.body, bytes) else iter([reply.body])
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    self.close_connection = True
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    self.close_connection = True

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.scheme = "https" if tls is not None else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``scheme://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.host}"

    def authorizations(self) -> list[str]:
        """Every Authorization header this server received."""
        return [s.headers["authorization"] for s in self.seen if "authorization" in s.headers]

    def __enter__(self) -> HostileHttp:
        self.thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class DripServer:
    """Accepts connections on 127.0.0.1 and sends `data` one byte every `every` seconds."""

    def __init__(self, data: bytes, every: float = 1.0) -> None:
        self.data = data
        self.every = every
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            for i in range(len(self.data)):
                if self.stop.wait(self.every):
                    return
                try:
                    conn.sendall(self.data[i : i + 1])
                except OSError:
                    return

    def __enter__(self) -> DripServer:
        self.thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass(frozen=True)
class Pki:
    """A CA file and server contexts for 127.0.0.1 from it."""

    ca_file: Path
    ca: trustme.CA

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context with a certificate for 127.0.0.1 and localhost."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        return ctx


def make_pki(directory: Path) -> Pki:
    """A fresh trustme CA (trusted by nothing unless given as --ca-cert)."""
    ca = trustme.CA()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return Pki(path, ca)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until true or `timeout` passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
