"""GETs through libcurl (pycurl): the HTTP itself, kept by people who do only that.

libcurl keeps connections alive, speaks HTTP/2 over TLS, goes through proxies, and enforces the total deadline
(CURLOPT_TIMEOUT_MS), the connect timeout and a stall limit (LOW_SPEED_*). This module adds what a feed fetcher
needs on top: every connection's address vetted after DNS (OPENSOCKETFUNCTION), the body capped on the wire and
after decompression, small error pages drained so their connection serves the next feed, and one more try on a
fresh connection when a server hangs up before answering.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import certifi
import pycurl

from feeds_etl.fetch.addresses import ip_literal, refusal
from feeds_etl.fetch.model import FetchSettings, MiB

# What a request target may hold as it is; anything else (spaces, non-ASCII) is percent-encoded as UTF-8.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
# An error page or redirect body this small is read to its end so the connection can serve the next feed; a
# bigger one is dropped unread, and its connection with it.
_DRAIN_LIMIT = 64 * 1024
_ACCEPT = (
    "Accept: application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# Decoded here with zlib rather than by libcurl, which refuses multi-member gzip and padding after the stream.
# A stack of encodings multiplies a bomb's ratio, so it is refused.
_ACCEPT_ENCODING = "Accept-Encoding: gzip, deflate"
_DECODED = {"gzip", "x-gzip", "deflate"}
# Decompressed output is produced at most this much at a time, so a bomb never inflates in one go.
_INFLATE_STEP = 256 * 1024
# Failures where the server hung up before any of the response came: a GET is safe to send once more.
_HUNG_UP = {pycurl.E_GOT_NOTHING, pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR}


class FetchError(Exception):
    """A fetch failed for a reason worth showing to the user as is."""


class DeadlineExceeded(FetchError):
    """The fetch's total deadline ran out (whatever stage it was in)."""


class Deadline:
    """A fetch's total time budget, shared by its redirect hops."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def error(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"deadline exceeded: no complete response within {self.seconds:g}s")

    def check(self) -> None:
        if self.remaining() <= 0:
            raise self.error()


@dataclass
class Response:
    """One HTTP answer. `body` is kept for 2xx answers only (decoded, within the cap)."""

    url: str
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; the first of repeated headers
    body: bytes | None


def size_text(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n:,} bytes"


class _Transfer:
    """What one perform collects through libcurl's callbacks, and why it stopped early, if it did."""

    def __init__(self) -> None:
        self.reset("", False, FetchSettings())

    def reset(self, host: str, proxied: bool, settings: FetchSettings) -> None:
        self.host, self.proxied = host, proxied
        self.max_bytes, self.allow_private_networks = settings.max_bytes, settings.allow_private_networks
        self.status: int | None = None
        self.stopped: str | None = None  # why we aborted the transfer (a cap, an encoding)
        self.refused: str | None = None  # why an address was not connected to
        self.requests_sent = 0
        self._new_response(None, "")

    def release(self) -> None:
        """Let go of the body: an idle handle must not hold a feed's bytes until its next request."""
        self.chunks = []

    def _new_response(self, status: int | None, reason: str) -> None:
        self.status, self.reason = status, reason
        self.headers: dict[str, str] = {}
        self.headers_done = False
        self.keep = False
        self.limit = _DRAIN_LIMIT
        self.chunks: list[bytes] = []
        self.size = 0  # bytes on the wire
        self.decoded = 0
        self.inflater: _Inflater | None = None

    def header(self, line: bytes) -> int | None:
        # A status line starts a new response: after a 1xx, a proxy's "200 Connection established", or a retry.
        if line.startswith(b"HTTP/"):
            parts = line.decode("latin-1").split(None, 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self._new_response(status, parts[2].strip() if len(parts) > 2 else "")
        elif line in (b"\r\n", b"\n"):
            if self.status is not None and self.status >= 200:
                self.headers_done = True
                return self._body_starts()
        else:
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                self.headers.setdefault(name.strip().lower(), value.strip())
        return None

    def _body_starts(self) -> int | None:
        """Decide, from the headers, whether the body is kept (a feed) or drained (anything else)."""
        status = self.status or 0
        if not 200 <= status < 300 or status == 304:
            return None
        self.keep, self.limit = True, self.max_bytes
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return self._stop(f"body larger than the {size_text(self.max_bytes)} cap ({declared} bytes declared)")
        encoding = self.headers.get("content-encoding", "")
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in _DECODED):
            return self._stop(f"unsupported Content-Encoding: {encoding[:100]}")
        if codings:
            self.inflater = _Inflater(codings[0])
        return None

    def _stop(self, reason: str) -> int:
        """Abort the transfer: a callback that does not take the whole chunk stops libcurl."""
        self.stopped = reason
        return 0

    def write(self, chunk: bytes) -> int | None:
        self.size += len(chunk)
        if self.size > self.limit:
            if not self.keep:
                return 0  # an error page too big to drain: its connection is closed instead
            return self._stop(f"body larger than the {size_text(self.max_bytes)} cap (on the wire)")
        if not self.keep:
            return None
        if self.inflater is None:
            self.chunks.append(chunk)
            return None
        try:
            for data in self.inflater.feed(chunk):
                if self._keep_decoded(data) is not None:
                    return 0
        except zlib.error as exc:
            return self._stop(f"corrupt {self.inflater.coding} body: {exc}")
        return None

    def _keep_decoded(self, data: bytes) -> int | None:
        self.decoded += len(data)
        if self.decoded > self.max_bytes:
            return self._stop(f"body larger than the {size_text(self.max_bytes)} cap (after decompression)")
        self.chunks.append(data)
        return None

    def body(self) -> bytes | None:
        """The kept body once the transfer completed: a stream cut short gives what it decoded to."""
        if not self.keep:
            return None
        if self.inflater is not None and self._keep_decoded(self.inflater.flush()) is not None:
            raise FetchError(self.stopped or "")
        return b"".join(self.chunks)

    def prereq(self, *_args: Any) -> int:
        self.requests_sent += 1
        return pycurl.PREREQFUNC_OK

    def open_socket(self, _purpose: int, address: Any) -> Any:
        """Every connection's address, after DNS, before connecting: a refused one never gets a socket."""
        if not self.proxied:  # through a proxy, the only connection is to the proxy the operator chose
            ip = address.addr[0]
            reason = refusal(ip, self.allow_private_networks)
            if reason is not None:
                if self.refused is None:
                    self.refused = f"refused: {self.host} resolves to {ip}, {reason}"
                return pycurl.SOCKET_BAD
        return new_socket(address)


def new_socket(address: Any) -> socket.socket | int:
    """The socket libcurl connects to `address`, a CurlSockAddr (tests replace it to see what is connected)."""
    return socket.socket(address.family, address.socktype, address.protocol)


class _Inflater:
    """One gzip or deflate layer undone incrementally, a bounded step at a time (bombs stop at the cap)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.gzip = coding != "deflate"
        self.stream: Any = None
        self.members = 0
        self.done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self.done:
            if self.stream is None:
                if self.members:
                    data = data.lstrip(b"\0")  # padding after a gzip member
                    if not data:
                        return
                wbits = 16 + zlib.MAX_WBITS if self.gzip else _deflate_wbits(data)
                self.stream = zlib.decompressobj(wbits)
            out = self.stream.decompress(data, _INFLATE_STEP)
            if out:
                yield out
            if self.stream.eof:
                data, self.stream = self.stream.unused_data, None
                self.members += 1
                self.done = not self.gzip  # another gzip member may follow; nothing after a deflate stream counts
            else:
                data = self.stream.unconsumed_tail

    def flush(self) -> bytes:
        return self.stream.flush() if self.stream is not None else b""


def _deflate_wbits(data: bytes) -> int:
    """'deflate' is meant to be zlib-wrapped, but many servers send raw deflate."""
    if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


class _Handle:
    """A libcurl easy handle with its own connection cache, and the transfer state its callbacks fill."""

    def __init__(self, settings: FetchSettings, ca_file: str, share: pycurl.CurlShare) -> None:
        self.transfer = _Transfer()
        curl = self.curl = pycurl.Curl()
        for option, value in (
            (pycurl.NOSIGNAL, 1),  # timeouts without SIGALRM: handles run in worker threads
            (pycurl.SHARE, share),
            (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
            (pycurl.FOLLOWLOCATION, 0),  # hops are followed by the fetch, which keeps their history
            (pycurl.CAINFO, ca_file),
            (pycurl.USERAGENT, settings.user_agent),
            (pycurl.HTTP_CONTENT_DECODING, 0),
            (pycurl.CONNECTTIMEOUT_MS, max(1, int(settings.connect_timeout * 1000))),
            (pycurl.LOW_SPEED_LIMIT, 1),
            (pycurl.LOW_SPEED_TIME, max(1, round(settings.read_timeout))),
            (pycurl.MAXCONNECTS, 4),
            (pycurl.NOPROXY, ""),  # the proxy for each URL is decided in Python, from the environment
            (pycurl.HEADERFUNCTION, self.transfer.header),
            (pycurl.WRITEFUNCTION, self.transfer.write),
            (pycurl.PREREQFUNCTION, self.transfer.prereq),
            (pycurl.OPENSOCKETFUNCTION, self.transfer.open_socket),
        ):
            curl.setopt(option, value)

    def close(self) -> None:
        self.curl.close()


class FetchClient:
    """GETs over libcurl handles shared by the fetching threads, each handle used by one thread at a time and
    kept with the host it last talked to, so its open connection serves that host's next feed. Proxies come
    from HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY (either case) as they were when the client was made."""

    def __init__(self, settings: FetchSettings, ca_file: str | Path | None = None) -> None:
        self.settings = settings
        self._ca_file = str(ca_file) if ca_file else certifi.where()  # the same trust on every machine
        self._share = pycurl.CurlShare()
        self._share.setopt(pycurl.SH_SHARE, pycurl.LOCK_DATA_DNS)
        self._share.setopt(pycurl.SH_SHARE, pycurl.LOCK_DATA_SSL_SESSION)
        self._proxies = getproxies_environment()
        self._idle: dict[str, list[_Handle]] = {}
        self._idle_count = 0
        self._max_idle = max(8, settings.concurrency)
        self._lock = threading.Lock()
        self._closed = False

    def proxy_for(self, url: str) -> str:
        """The proxy URL a request to `url` goes through, or '' for a direct connection."""
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme.lower()) or self._proxies.get("all") or ""
        if proxy and self._proxies.get("no"):
            host = parts.hostname or ""
            if proxy_bypass_environment(f"{host}:{parts.port}" if parts.port else host, self._proxies):
                return ""
        return proxy

    def get(self, url: str, headers: Iterable[str], settings: FetchSettings, deadline: Deadline) -> Response:
        """GET `url` (an http(s) URL) within what is left of `deadline`, with the body cap and address policy
        of `settings`; raises FetchError with a message for the user (DeadlineExceeded when time ran out)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        target = _curl_url(url)
        proxy = self.proxy_for(url)
        literal = ip_literal(host)
        if literal is not None:  # checked here too, so a proxied request to an address is refused as well
            reason = refusal(literal, settings.allow_private_networks)
            if reason is not None:
                raise FetchError(f"refused: {literal} is {reason}")
        request_headers = [_ACCEPT, _ACCEPT_ENCODING, *headers]
        origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        handle = self._take(origin)
        try:
            request = (target, url, host, proxy, request_headers, settings, deadline)
            response = self._perform(handle, *request, fresh=False)
            if response is None:  # the server hung up before answering: once more, on a new connection
                response = self._perform(handle, *request, fresh=True)
            assert response is not None
            return response
        finally:
            handle.transfer.release()
            self._give_back(origin, handle)

    def _perform(
        self,
        handle: _Handle,
        target: str,
        url: str,
        host: str,
        proxy: str,
        headers: list[str],
        settings: FetchSettings,
        deadline: Deadline,
        fresh: bool,
    ) -> Response | None:
        curl, transfer = handle.curl, handle.transfer
        left = deadline.remaining()
        if left <= 0:
            raise deadline.error()
        transfer.reset(host, bool(proxy), settings)
        curl.setopt(pycurl.URL, target)
        curl.setopt(pycurl.HTTPHEADER, headers)
        curl.setopt(pycurl.PROXY, proxy)
        curl.setopt(pycurl.TIMEOUT_MS, max(1, int(left * 1000)))
        curl.setopt(pycurl.FRESH_CONNECT, 1 if fresh else 0)
        try:
            curl.perform()
        except pycurl.error as exc:
            code, message = exc.args[0], str(exc.args[1])
            if transfer.stopped is not None:
                raise FetchError(transfer.stopped) from None
            if code == pycurl.E_COULDNT_CONNECT and transfer.refused is not None:
                raise FetchError(transfer.refused) from None
            if transfer.headers_done and not transfer.keep:
                pass  # an error page or redirect that broke off while draining: its status says enough
            elif code == pycurl.E_OPERATION_TIMEDOUT:
                raise self._timeout(curl, url, deadline) from None
            elif code in _HUNG_UP and transfer.status is None and transfer.requests_sent <= 1 and not fresh:
                return None  # libcurl already sent it twice when a reused connection had died
            elif code == pycurl.E_PARTIAL_FILE:
                raise FetchError(_cut_off(curl)) from None
            else:
                raise FetchError(f"network error: {message}") from None
        status = transfer.status or curl.getinfo(pycurl.RESPONSE_CODE)
        return Response(url, status, transfer.reason, transfer.headers, transfer.body())

    def _timeout(self, curl: pycurl.Curl, url: str, deadline: Deadline) -> FetchError:
        """libcurl reports every timeout alike; which limit it was follows from the clock and the stage."""
        if deadline.remaining() <= 0.02:
            return deadline.error()
        if curl.getinfo(pycurl.CONNECT_TIME) == 0:
            return FetchError("timeout: no connection within connect_timeout")
        if url[:6].lower() == "https:" and curl.getinfo(pycurl.APPCONNECT_TIME) == 0:
            return FetchError("timeout: no TLS handshake within connect_timeout")
        return FetchError("timeout: the server stalled (under 1 byte a second for read_timeout)")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle, self._idle_count = self._idle, {}, 0
        for handles in idle.values():
            for handle in handles:
                handle.close()

    def __enter__(self) -> FetchClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _take(self, origin: str) -> _Handle:
        """The handle that last talked to `origin` (its connection may still be open), else any idle one."""
        with self._lock:
            handles = self._idle.get(origin)
            if not handles:
                handles = next((h for h in self._idle.values() if h), None)
            if handles:
                self._idle_count -= 1
                return handles.pop()
        return _Handle(self.settings, self._ca_file, self._share)

    def _give_back(self, origin: str, handle: _Handle) -> None:
        with self._lock:
            if not self._closed and self._idle_count < self._max_idle:
                self._idle.setdefault(origin, []).append(handle)
                self._idle_count += 1
                return
        handle.close()


def _curl_url(url: str) -> str:
    """`url` as libcurl takes it: path and query percent-encoded as UTF-8, the host in IDNA form, no fragment."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():  # libcurl is built without IDN support
        userinfo, _, _ = netloc.rpartition("@")
        host = (parts.hostname or "").encode("idna").decode("ascii")
        netloc = (userinfo + "@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    path = quote(parts.path or "/", safe=_TARGET_SAFE)
    query = quote(parts.query, safe=_TARGET_SAFE)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _cut_off(curl: pycurl.Curl) -> str:
    declared = curl.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T)
    received = curl.getinfo(pycurl.SIZE_DOWNLOAD_T)
    if declared > received >= 0:
        missing = declared - received
        return f"network error: the server closed the connection {missing:,} bytes before the end of the body"
    return "network error: the server closed the connection before the end of the body"
