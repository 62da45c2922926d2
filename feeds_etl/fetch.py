"""Bytes from a feed URL or path, politely and within limits -> a FetchResult.

HTTP details stay here: conditional GET, timeouts and a total deadline, size caps on the wire and after
decompression, bounded redirects, concurrency limits overall and per host. Nothing here touches storage.

The total deadline is enforced inside the socket layer: every connect, read and write made for a fetch gets
a timeout no longer than what is left of that fetch's deadline, so neither a server that never answers nor
one that trickles a byte a second (in its headers or its body) can hold a fetch past the deadline.
"""

from __future__ import annotations

import hashlib
import http.client
import ssl
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from feeds_etl import __version__
from feeds_etl.http_pool import ConnectTimeout, Deadline, FetchError, HttpPool, ReadTimeout, Response

PROJECT_URL = "https://github.com/feeds-etl/feeds_etl"
USER_AGENT = f"feeds_etl/{__version__} (+{PROJECT_URL})"
MiB = 1024 * 1024
# Decompressed output is produced at most this much at a time, so a bomb never inflates in one go.
_INFLATE_STEP = 256 * 1024


@dataclass(frozen=True)
class FetchSettings:
    """Limits for one fetch; defaults are documented in the README."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 45.0  # total seconds per feed (connect, redirects, headers, body), whatever the server does
    max_bytes: int = 15 * MiB  # on the wire and again after decompression, so gzip bombs stop here too
    max_redirects: int = 5
    concurrency: int = 32
    per_host: int = 8  # like a browser: busy hosts get a few parallel requests, never a flood
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class FetchRequest:
    """What to fetch and what we know from last time (for conditional GET)."""

    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """One fetch attempt. `body` is None for 304s and failures."""

    feed_id: str
    url: str
    fetched_at: datetime
    final_url: str | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    body: bytes | None = None
    content_sha256: str | None = None
    error: str | None = None
    retry_after: datetime | None = None
    permanent_redirect: str | None = None  # where a 301/308 chain pointed, if any
    elapsed_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_modified(self) -> bool:
        return self.http_status == 304


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _host_key(url: str) -> str | None:
    """Requests to one host share its per-host slots; local files have no host to be polite to."""
    if url.lower().startswith("file://"):
        return None
    return (urlsplit(url).hostname or "").lower()


def fetch_all(
    requests: Iterable[FetchRequest],
    settings: FetchSettings = FetchSettings(),
    client: HttpPool | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[FetchResult]:
    """Fetch many feeds in parallel; results come back in request order (see fetch_each)."""
    requests = list(requests)
    results: list[FetchResult | None] = [None] * len(requests)
    for index, result in fetch_each(requests, settings, client, now):
        results[index] = result
    return [result for result in results if result is not None]


def fetch_each(
    requests: Sequence[FetchRequest],
    settings: FetchSettings = FetchSettings(),
    client: HttpPool | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[tuple[int, FetchResult]]:
    """Fetch many feeds in parallel, yielding (request index, result) as each completes, so a caller can
    store bodies as they arrive instead of holding every feed in memory.

    At most `concurrency` fetches run at once and at most `per_host` of them against one host. A fetch only
    starts when its host has a free slot, so a host with many feeds never ties up workers other hosts could
    use, and time spent waiting for a slot does not count against a feed's deadline.
    """
    if not requests:
        return
    workers = max(1, min(settings.concurrency, len(requests)))
    per_host = max(1, settings.per_host)
    queues: dict[str | None, deque[int]] = {}
    for index, request in enumerate(requests):
        queues.setdefault(_host_key(request.url), deque()).append(index)
    busy: Counter[str | None] = Counter()

    owns_client = client is None
    client = client or make_client(settings)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            running: dict[Future[FetchResult], tuple[int, str | None]] = {}
            # Finished fetches queue up here: waiting on one queue stays cheap however many fetches run
            # (`concurrent.futures.wait` locks every running future on each call).
            finished_queue: SimpleQueue[Future[FetchResult]] = SimpleQueue()

            def start_more() -> None:
                started = True
                while started and len(running) < workers:
                    started = False
                    for host in list(queues):  # one per host per round: hosts take turns
                        if len(running) >= workers:
                            break
                        if host is not None and busy[host] >= per_host:
                            continue
                        index = queues[host].popleft()
                        if not queues[host]:
                            del queues[host]
                        busy[host] += 1
                        future = pool.submit(fetch_one, requests[index], settings, client, now)
                        running[future] = (index, host)
                        future.add_done_callback(finished_queue.put)
                        started = True

            start_more()
            while running:
                finished = []
                future = finished_queue.get()
                while True:
                    index, host = running.pop(future)
                    busy[host] -= 1
                    finished.append((index, future.result()))
                    try:
                        future = finished_queue.get_nowait()
                    except Empty:
                        break
                start_more()  # before handing results over: the next fetches run while the caller works
                yield from finished
    finally:
        if owns_client:
            client.close()


def make_client(settings: FetchSettings, ssl_context: ssl.SSLContext | None = None) -> HttpPool:
    """One pool of keep-alive connections for a whole run; redirects are followed by hand to keep their history.
    Every socket operation of a fetch through it is bounded by the fetch's deadline. TLS trusts certifi's CA
    bundle unless given another `ssl_context`."""
    return HttpPool(
        settings.connect_timeout,
        settings.read_timeout,
        {"User-Agent": settings.user_agent, "Accept": _ACCEPT, "Accept-Encoding": _ACCEPT_ENCODING},
        max_idle_per_origin=max(1, settings.per_host),
        ssl_context=ssl_context,
    )


_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# Only what we decode ourselves, with a cap on the decoded size.
_ACCEPT_ENCODING = "gzip, deflate"


def fetch_one(
    request: FetchRequest,
    settings: FetchSettings,
    client: HttpPool,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FetchResult:
    """Fetch one feed; never raises: every failure becomes a FetchResult with `error` set."""
    started = time.monotonic()
    fetched_at = now()
    base = FetchResult(feed_id=request.feed_id, url=request.url, fetched_at=fetched_at)
    deadline = Deadline(settings.deadline)
    try:
        if request.url.lower().startswith("file://"):
            result = _fetch_file(base, settings)
        else:
            with deadline.active():
                result = _fetch_http(base, request, settings, client, deadline)
    except FetchError as exc:
        result = replace(base, error=str(exc))
    except TimeoutError as exc:
        message = str(deadline.error()) if deadline.expired else f"timeout: {_timeout_kind(exc)}"
        result = replace(base, error=message)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, DNS, TLS, a broken response...
        if deadline.expired:
            result = replace(base, error=str(deadline.error()))
        else:
            result = replace(base, error=f"network error: {type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug or an exotic failure must not take the run down
        result = replace(base, error=f"unexpected {type(exc).__name__}: {exc}")
    return replace(result, elapsed_ms=round((time.monotonic() - started) * 1000, 1))


def _timeout_kind(exc: TimeoutError) -> str:
    return str(exc) if isinstance(exc, ConnectTimeout | ReadTimeout) else f"{type(exc).__name__}: {exc}"


def _fetch_file(base: FetchResult, settings: FetchSettings) -> FetchResult:
    parts = urlsplit(base.url)
    path = Path(url2pathname(unquote(parts.path)))
    try:
        with path.open("rb") as handle:
            body = handle.read(settings.max_bytes + 1)
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > settings.max_bytes:
        raise FetchError(f"body larger than the {_size(settings.max_bytes)} cap")
    return replace(
        base,
        final_url=base.url,
        http_status=200,
        body=body,
        content_sha256=sha256_hex(body),
    )


def _fetch_http(
    base: FetchResult,
    request: FetchRequest,
    settings: FetchSettings,
    client: HttpPool,
    deadline: Deadline,
) -> FetchResult:
    headers: dict[str, str] = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified

    url = request.url
    seen: list[str] = []
    all_permanent = True
    for _hop in range(settings.max_redirects + 1):
        if url in seen:
            raise FetchError(f"redirect loop: {' -> '.join([*seen, url])}")
        seen.append(url)
        deadline.check()
        with ExitStack() as stack:
            response = _response(stack, client, url, headers, deadline)
            status = response.status
            if 300 <= status < 400 and status != 304:
                location = response.headers.get("location", "").strip()
                if not location:
                    raise FetchError(f"HTTP {status} redirect without a Location header")
                target = _redirect_target(response.url, location, status)
                all_permanent = all_permanent and status in (301, 308)
                url = target
                continue
            return _read_response(base, response, settings, deadline, seen, all_permanent)
    raise FetchError(f"too many redirects (more than {settings.max_redirects}): {' -> '.join(seen)}")


# A connection can break before any of the response arrives: a keep-alive connection the server closed as the
# request went out. A GET is safe to repeat: one more try, on a new connection, as browsers do. Not after the
# response has started, nor for connection failures (a dead host is not tried twice).
_BROKEN_BEFORE_RESPONSE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)  # RemoteDisconnected too


def _response(stack: ExitStack, client: HttpPool, url: str, headers: dict[str, str], deadline: Deadline) -> Response:
    try:
        return stack.enter_context(client.get(url, headers))
    except _BROKEN_BEFORE_RESPONSE:
        deadline.check()
        return stack.enter_context(client.get(url, headers, fresh=True))


def _redirect_target(url: str, location: str, status: int) -> str:
    try:
        target = urljoin(url, location)
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:  # "http://[", a bad port...
        raise FetchError(f"HTTP {status} redirect to an invalid URL {location[:200]!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError(f"HTTP {status} redirect to a non-HTTP URL refused: {location[:200]}")
    return target


def _read_response(
    base: FetchResult,
    response: Response,
    settings: FetchSettings,
    deadline: Deadline,
    chain: list[str],
    all_permanent: bool,
) -> FetchResult:
    status = response.status
    result = replace(
        base,
        final_url=response.url,
        http_status=status,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        content_type=response.headers.get("content-type"),
        permanent_redirect=response.url if len(chain) > 1 and all_permanent else None,
        headers={k.lower(): v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS},
    )
    if status == 304:
        response.read()  # nothing to read, but an unread response closes its connection instead of reusing it
        return result
    if status >= 400:
        _drain(response, deadline)
        retry_after = parse_retry_after(response.headers.get("retry-after"), base.fetched_at)
        reason = response.reason or ""
        return replace(result, error=f"HTTP {status} {reason}".strip(), retry_after=retry_after)
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > settings.max_bytes:
        raise FetchError(f"body larger than the {_size(settings.max_bytes)} cap ({declared} bytes declared)")
    encoding = response.headers.get("content-encoding", "")
    raw = _capped(response.iter_raw(), settings.max_bytes, deadline, "on the wire")
    body = b"".join(_capped(_decoded(raw, encoding), settings.max_bytes, deadline, "after decompression"))
    return replace(result, body=body, content_sha256=sha256_hex(body))


# An error page this small is read to its end so the connection can serve the next feed; a bigger one is
# dropped unread, and its connection with it.
_DRAIN_LIMIT = 64 * 1024


def _drain(response: Response, deadline: Deadline) -> None:
    with suppress(FetchError, OSError, http.client.HTTPException):  # the status already says what went wrong
        for _chunk in _capped(response.iter_raw(), _DRAIN_LIMIT, deadline, "error page"):
            pass


_KEPT_HEADERS = {"content-type", "content-location", "content-language", "content-encoding", "etag", "last-modified"}


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n:,} bytes"


def _capped(chunks: Iterator[bytes], limit: int, deadline: Deadline, where: str) -> Iterator[bytes]:
    """Pass chunks through until `limit` bytes; the body is never held beyond the cap."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise FetchError(f"body larger than the {_size(limit)} cap ({where})")
        deadline.check()
        yield chunk


def _decoded(raw: Iterator[bytes], content_encoding: str) -> Iterator[bytes]:
    """Undo one gzip or deflate layer incrementally, a bounded step at a time (bombs stop at the cap)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        yield from raw
        return
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding: {content_encoding[:100]}")
    gzip = codings[0] != "deflate"
    inflater: Any = None
    for chunk in raw:
        data = chunk
        while data:
            if inflater is None:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else _deflate_wbits(data))
            try:
                out = inflater.decompress(data, _INFLATE_STEP)
            except zlib.error as exc:
                raise FetchError(f"corrupt {codings[0]} body: {exc}") from None
            if out:
                yield out
            if inflater.eof:
                data = inflater.unused_data
                if not gzip or not data.strip(b"\0"):
                    return  # trailing garbage (or padding) after the stream is ignored
                inflater = None  # another gzip member follows
            else:
                data = inflater.unconsumed_tail
    if inflater is not None and not inflater.eof:
        tail = inflater.flush()
        if tail:
            yield tail


def _deflate_wbits(data: bytes) -> int:
    """'deflate' is meant to be zlib-wrapped, but many servers send raw deflate."""
    if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Retry-After is either delta-seconds or an HTTP date; anything else is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(now.timestamp() + int(value), UTC)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
