"""HTTP/1.1 GETs on the standard library's http.client: connections kept alive per host, and every socket
operation of a fetch bounded by what is left of its deadline.

The fetch (feeds_etl.fetch) decides what to ask and what an answer means; this module only moves bytes. It
replaced httpx, whose connection pool polls every pooled connection on each request and each release: a
1,000-feed import spent 3.0-3.7 CPU s in the fetch with it, 1.0-1.3 s with this (benchmarks/README.md).
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import certifi

# An idle connection older than this is closed rather than reused: servers drop idle keep-alive connections
# after a few seconds, and a request on one of those would only be sent again.
KEEPALIVE_SECONDS = 5.0
CHUNK_BYTES = 64 * 1024
# What a request target may hold as it is; anything else (spaces, non-ASCII) is percent-encoded as UTF-8.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


class Deadline:
    """A fetch's total time budget. While active (see `active`), every socket operation the fetching thread
    makes through an `HttpPool` is bounded by what is left of it."""

    _local = threading.local()

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def error(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"deadline exceeded: no complete response within {self.seconds:g}s")

    def check(self) -> None:
        if self.expired:
            raise self.error()

    def bound(self, timeout: float | None) -> float | None:
        """`timeout` shortened to the time left; raises once nothing is left."""
        left = self.remaining()
        if left <= 0:
            raise self.error()
        return left if timeout is None else min(timeout, left)

    @contextmanager
    def active(self) -> Iterator[Deadline]:
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = self
        try:
            yield self
        finally:
            self._local.deadline = previous

    @classmethod
    def current(cls) -> Deadline | None:
        return getattr(cls._local, "deadline", None)


class FetchError(Exception):
    """A fetch failed for a reason worth showing to the user as is."""


class DeadlineExceeded(FetchError):
    """The fetch's total deadline ran out (whatever stage it was in)."""


class ConnectTimeout(TimeoutError):
    """No connection (or TLS handshake) within connect_timeout."""


class ReadTimeout(TimeoutError):
    """The server sent nothing (or took nothing we sent) within read_timeout."""


class BodyCutOff(http.client.HTTPException):
    """The connection closed before the body's declared length arrived."""


def _bounded(timeout: float | None) -> float | None:
    deadline = Deadline.current()
    return timeout if deadline is None else deadline.bound(timeout)


class _Bounded:
    """Socket methods whose every read and write waits at most `read_timeout`, and never past the deadline of
    the fetch under way: a server trickling a byte a second, in its headers or its body, cannot hold a fetch."""

    read_timeout: float | None = None

    def recv_into(self, *args: Any) -> int:
        self.settimeout(_bounded(self.read_timeout))  # type: ignore[attr-defined]
        try:
            return super().recv_into(*args)  # type: ignore[misc]
        except TimeoutError:
            raise ReadTimeout("server sent nothing within read_timeout") from None

    def sendall(self, *args: Any) -> None:
        self.settimeout(_bounded(self.read_timeout))  # type: ignore[attr-defined]
        try:
            super().sendall(*args)  # type: ignore[misc]
        except TimeoutError:
            raise ReadTimeout("could not send the request within read_timeout") from None


class _DeadlineSocket(_Bounded, socket.socket):
    """A TCP socket, bounded (http.client reads through `recv_into`, writes through `sendall`)."""


class _DeadlineSSLSocket(_Bounded, ssl.SSLSocket):
    """A TLS socket, bounded (the class the pool's SSL context makes its sockets of)."""


def _connect(address: tuple[str, int], connect_timeout: float | None, read_timeout: float | None) -> _DeadlineSocket:
    try:
        plain = socket.create_connection(address, _bounded(connect_timeout))
    except TimeoutError:
        raise ConnectTimeout("no connection within connect_timeout") from None
    sock = _DeadlineSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
    sock.read_timeout = read_timeout
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Connection(http.client.HTTPConnection):
    read_timeout: float | None = None

    def connect(self) -> None:
        self.sock = _connect((self.host, self.port), self.timeout, self.read_timeout)


class _TLSConnection(http.client.HTTPSConnection):
    read_timeout: float | None = None

    def connect(self) -> None:
        sock = _connect((self.host, self.port), self.timeout, self.read_timeout)
        sock.settimeout(_bounded(self.timeout))  # the handshake, like the connect, within connect_timeout
        try:
            tls = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
        except TimeoutError:
            sock.close()
            raise ConnectTimeout("no TLS handshake within connect_timeout") from None
        except BaseException:
            sock.close()
            raise
        tls.read_timeout = self.read_timeout
        self.sock = tls


@dataclass
class Response:
    """A response whose body has not been read yet (`iter_raw`)."""

    url: str
    status: int
    reason: str
    headers: Message  # case-insensitive `get`; the first of repeated headers
    _raw: http.client.HTTPResponse

    def iter_raw(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The body as it came on the wire (still compressed, if it was)."""
        read = self._raw.read
        while chunk := read(chunk_bytes):
            yield chunk
        missing = self._raw.length
        if missing:  # http.client ends a short Content-Length body quietly
            raise BodyCutOff(f"the server closed the connection {missing:,} bytes before the end of the body")

    def read(self) -> bytes:
        return b"".join(self.iter_raw())

    @property
    def reusable(self) -> bool:
        """Whether the connection can serve another request: the body was read to its end, and the server keeps
        the connection open."""
        return not self._raw.will_close and self._raw.isclosed() and not self._raw.length


Origin = tuple[str, str, int]


class HttpPool:
    """GETs over keep-alive connections, shared by the fetching threads. A connection serves one request at a
    time; idle ones wait per origin for the next request to that host. How many run at once is the caller's
    business (fetch_each's limits overall and per host)."""

    def __init__(
        self,
        connect_timeout: float | None,
        read_timeout: float | None,
        headers: Mapping[str, str],
        max_idle_per_origin: int = 8,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.headers = dict(headers)
        self.max_idle_per_origin = max_idle_per_origin
        # certifi's CA bundle: the same trust on every machine, whatever the system's store holds
        self._ssl = ssl_context or ssl.create_default_context(cafile=certifi.where())
        self._ssl.sslsocket_class = _DeadlineSSLSocket
        self._idle: dict[Origin, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def get(self, url: str, headers: Mapping[str, str] = {}, fresh: bool = False) -> Iterator[Response]:
        """GET `url` (on a new connection if `fresh`); the response's connection goes back to the pool when the
        body was read to its end, and is closed otherwise."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"not an http(s) URL: {url[:200]}")
        try:
            origin = (scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))
        except ValueError as exc:  # a port that is not a number
            raise FetchError(f"invalid URL {url[:200]!r}: {exc}") from None
        target = quote(parts.path or "/", safe=_TARGET_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_TARGET_SAFE)
        connection = None if fresh else self._take(origin)
        if connection is None:
            connection = self._new(origin)
        response = None
        try:
            connection.putrequest("GET", target, skip_accept_encoding=True)
            for name, value in {**self.headers, **_credentials(parts.username, parts.password), **headers}.items():
                connection.putheader(name, value)
            connection.endheaders()
            raw = connection.getresponse()
            response = Response(url, raw.status, raw.reason, raw.headers, raw)
            yield response
        finally:
            if response is not None and response.reusable:
                self._give_back(origin, connection)
            else:
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for _, connection in connections:
                connection.close()

    def __enter__(self) -> HttpPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _new(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = _TLSConnection(host, port, timeout=self.connect_timeout, context=self._ssl)
        else:
            connection = _Connection(host, port, timeout=self.connect_timeout)
        connection.read_timeout = self.read_timeout  # type: ignore[attr-defined]
        return connection

    def _take(self, origin: Origin) -> http.client.HTTPConnection | None:
        """The most recently used idle connection to `origin` still worth using."""
        stale = []
        found = None
        with self._lock:
            idle = self._idle.get(origin)
            while idle and found is None:
                since, connection = idle.pop()
                if time.monotonic() - since > KEEPALIVE_SECONDS or _dropped(connection):
                    stale.append(connection)
                else:
                    found = connection
        for connection in stale:
            connection.close()
        return found

    def _give_back(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < self.max_idle_per_origin:
                idle.append((time.monotonic(), connection))
                return
        connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle connection is readable only when the server closed it (or sent what it should not have)."""
    sock = connection.sock
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _credentials(username: str | None, password: str | None) -> dict[str, str]:
    """Basic auth from a URL's user info (http://user:secret@host/feed)."""
    if not username:
        return {}
    token = base64.b64encode(f"{unquote(username)}:{unquote(password or '')}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
