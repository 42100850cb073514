"""Bounded network I/O: every request has a total deadline, every body a byte cap.

A hostile server controls three things a client usually trusts: how long it takes, how much it
sends and where it redirects.  This module is the one place the channel code talks HTTP
through (`BoundedSession`) and the place raw probe sockets get their deadline (`Deadline`):

* **Deadline.**  A per-operation timeout does not stop a server that drips one byte every few
  seconds.  `Deadline` is a total budget for one request (connect, TLS handshake, headers and
  body): a watchdog timer shuts the request's sockets down when it expires, which wakes any
  blocked read, and the request then fails with a message naming the deadline.  The budget is
  `DEFAULT_DEADLINE` seconds, or ``$DOCKGUARD_HTTP_DEADLINE``; a blob of N announced bytes gets
  ``N / MIN_RATE`` seconds more.
* **Byte caps.**  `read_capped` reads at most a given number of bytes of a body, never
  decoding transport compression (digests are over the stored bytes, and a gzip bomb stays a
  small body).
* **No automatic redirects.**  `BoundedSession.open` never follows a redirect and never reads
  its body; the callers follow redirects by hand with their own rules (``Authorization`` only to
  the same origin, never from HTTPS to HTTP).
* **No ambient credentials.**  ``~/.netrc`` and ``REQUESTS_CA_BUNDLE`` are ignored (requests
  would add netrc credentials to any host, verified or not); ``HTTP(S)_PROXY`` / ``NO_PROXY``
  are honoured for http(s) proxies unless the session says otherwise (probes talk to their
  target directly).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils
import urllib3
import urllib3.connection
import urllib3.connectionpool

from dockguard.errors import OperationalError, UsageError

DEADLINE_ENV = "DOCKGUARD_HTTP_DEADLINE"
DEFAULT_DEADLINE = 60.0
"""Seconds for one request: connect, TLS handshake, headers and a bounded body."""
MIN_RATE = 64 * 1024
"""Bytes per second a long transfer must sustain: a blob's deadline grows by size / MIN_RATE,
a download of unknown size earns 1 / MIN_RATE seconds per byte received (`Deadline.earn`)."""
MAX_DEADLINE = 24 * 3600.0
CHUNK = 1 << 16
MAX_SHOWN = 200
"""Characters of a server-chosen string (URL, header) quoted in an error message."""


def deadline_seconds(env: Mapping[str, str] | None = None) -> float:
    """The per-request deadline: ``$DOCKGUARD_HTTP_DEADLINE`` seconds, else DEFAULT_DEADLINE."""
    env = os.environ if env is None else env
    raw = env.get(DEADLINE_ENV, "").strip()
    if not raw:
        return DEFAULT_DEADLINE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_DEADLINE:
        raise UsageError(
            f"{DEADLINE_ENV}={shown(raw)}: expected seconds between 0 and {MAX_DEADLINE:.0f}"
        )
    return value


def shown(text: str) -> str:
    """A server-chosen string made safe for a one-line message: no control characters, short."""
    out = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:MAX_SHOWN])
    return out + ("..." if len(text) > MAX_SHOWN else "")


_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "dockguard_deadline", default=None
)


class DeadlineExceeded(OperationalError):
    """A request did not complete within its total deadline."""


class Deadline:
    """A total time budget for one request; a context manager.

    Sockets opened inside the ``with`` block by a `BoundedSession` (or handed to `watch`) are
    shut down when the budget runs out; leaving the block then raises `DeadlineExceeded` in
    place of whatever the cut-off caused (unless `raise_on_expiry` is False: the caller checks
    `expired`).  A duplicate of each socket's descriptor is kept, so
    the shutdown reaches the connection even after TLS wrapping took the original socket
    object over, and never hits a descriptor that was closed and reused meanwhile.
    """

    def __init__(self, seconds: float, what: str, *, raise_on_expiry: bool = True) -> None:
        self.seconds = seconds
        self.what = what
        self.raise_on_expiry = raise_on_expiry
        self.expires = 0.0
        self.expired = False
        self._lock = threading.Lock()
        self._dups: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._token: contextvars.Token[Deadline | None] | None = None
        self._closed = False

    def __enter__(self) -> Deadline:
        self.expires = time.monotonic() + self.seconds
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()
        self._token = _CURRENT.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._closed = True  # a timer that fires from now on does nothing
            timer = self._timer
        if timer is not None:
            timer.cancel()
        if self._token is not None:
            _CURRENT.reset(self._token)
        with self._lock:
            dups, self._dups = self._dups, []
        for d in dups:
            d.close()
        if exc is not None and self.over():
            # A socket timeout capped at the time left (`timeout`) went off with the deadline.
            self.expired = True
        if self.raise_on_expiry and self.expired and (exc is None or isinstance(exc, Exception)):
            # Whatever failed (or seemed to end early: a shut-down socket reads as EOF) did so
            # because the watchdog cut it off.
            raise self.error() from None

    def error(self) -> DeadlineExceeded:
        """The exception that says this deadline ran out."""
        return DeadlineExceeded(
            f"{self.what}: no complete answer within {self.seconds:g} s "
            f"(the per-request deadline; {DEADLINE_ENV} sets it)"
        )

    def earn(self, nbytes: int) -> None:
        """Extend the deadline by ``nbytes / MIN_RATE``: for bodies whose size is not known
        up front, so that only a transfer at MIN_RATE or faster can outlast the base budget."""
        with self._lock:
            self.expires += nbytes / MIN_RATE

    def over(self) -> bool:
        """True once the deadline has passed (whether or not the watchdog fired yet)."""
        return self.expired or time.monotonic() >= self.expires

    def remaining(self) -> float:
        """Seconds left (at least a millisecond, so it can serve as a socket timeout)."""
        return max(self.expires - time.monotonic(), 0.001)

    def timeout(self, per_read: float) -> float:
        """A socket timeout that does not outlive the deadline."""
        return min(per_read, self.remaining())

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock`'s connection down when the deadline expires (at once if it has)."""
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return
        with self._lock:
            if not self.expired:
                self._dups.append(dup)
                return
        _shutdown(dup)
        dup.close()

    def _fire(self) -> None:
        with self._lock:
            if self._closed:
                return
            left = self.expires - time.monotonic()
            if left > 0:  # earned more time meanwhile
                self._timer = threading.Timer(left, self._fire)
                self._timer.daemon = True
                self._timer.start()
                return
            self.expired = True
            dups = list(self._dups)
        for d in dups:
            _shutdown(d)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watch_current(sock: socket.socket | None) -> None:
    deadline = _CURRENT.get()
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A pooled connection reused by a later request joins that request's deadline.
        _watch_current(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_current(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


class BoundedSession:
    """A requests session that sends one request at a time, never follows redirects itself and
    whose connections are watched by the current `Deadline`."""

    def __init__(self, user_agent: str, timeout: float, *, use_proxies: bool = True) -> None:
        self.timeout = timeout
        self.use_proxies = use_proxies
        self.session = requests.Session()
        self.session.trust_env = False
        self.adapter = _Adapter(max_retries=0)
        self.session.mount("http://", self.adapter)
        self.session.mount("https://", self.adapter)
        self.session.headers["User-Agent"] = user_agent
        # Bodies are read raw: digests are over the stored bytes, and nothing is inflated.
        self.session.headers["Accept-Encoding"] = "identity"

    def open(
        self,
        method: str,
        url: str,
        deadline: Deadline,
        *,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> requests.Response:
        """Send one request and return the streamed response (headers read, body not).

        The request goes straight to the transport adapter: `requests.Session.send` reads a
        redirect's whole body even with ``allow_redirects=False`` (to prepare ``.next``).
        Raises requests' exceptions; the caller turns them into its own messages.
        """
        proxies = _proxies(url) if self.use_proxies else {}
        timeout = deadline.timeout(self.timeout)
        prepared = self.session.prepare_request(
            requests.Request(method, url, headers=dict(headers or {}))
        )
        with warnings.catch_warnings():
            if verify is False:
                # Asked for (--insecure, or a probe step that judges the certificate itself);
                # urllib3 would otherwise print a warning per request.
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return self.adapter.send(
                prepared, stream=True, timeout=(timeout, timeout), verify=verify, cert=None,
                proxies=proxies,
            )

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


def _proxies(url: str) -> dict[str, str]:
    proxies = requests.utils.get_environ_proxies(url)
    for proxy in proxies.values():
        if urlsplit(proxy).scheme.lower() not in ("http", "https"):
            raise OperationalError(f"unsupported proxy {shown(proxy)}: only http(s) proxies")
    return proxies


class BodyTooLarge(OperationalError):
    """A response body was larger than its cap."""


def raw_chunks(response: requests.Response, what: str) -> Iterator[bytes]:
    """The body as it came over the wire (no content decoding), in chunks of at most CHUNK."""
    try:
        while True:
            chunk = response.raw.read1(CHUNK, decode_content=False)
            if not chunk:
                return
            yield chunk
    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
        raise OperationalError(f"{what}: reading the answer failed: {short(exc)}") from None


def read_capped(response: requests.Response, limit: int, what: str) -> bytes:
    """The whole body, at most `limit` bytes (BodyTooLarge beyond; Content-Length checked first)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"{what}: {int(length)} bytes is larger than the {limit} allowed")
    chunks: list[bytes] = []
    total = 0
    for chunk in raw_chunks(response, what):
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(f"{what}: larger than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def short(exc: BaseException) -> str:
    """A one-line reason from a requests/urllib3/ssl exception."""
    import re

    text = str(exc)
    m = re.search(r"\[SSL: [A-Z_0-9]+\][^(']*", text)
    if m:
        return shown(m.group(0).strip())
    for pattern in (
        r"got more than \d+ (?:headers|bytes when reading [a-z ]+)",
        r"Tunnel connection failed: \d+|Unable to connect to proxy",
        r"Connection refused|Name or service not known|Connection reset by peer",
        r"timed out|Connection aborted",
    ):
        m = re.search(pattern, text)
        if m:
            return m.group(0)
    return shown(text)
