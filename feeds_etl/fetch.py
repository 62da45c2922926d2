"""Bytes from a feed URL or path, politely and within limits -> a FetchResult.

HTTP details stay here: conditional GET, timeouts and a total deadline, size caps on the wire and after
decompression, bounded redirects, concurrency limits overall and per host. Nothing here touches storage.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from feeds_etl import __version__

PROJECT_URL = "https://github.com/feeds-etl/feeds_etl"
USER_AGENT = f"feeds_etl/{__version__} (+{PROJECT_URL})"
MiB = 1024 * 1024


@dataclass(frozen=True)
class FetchSettings:
    """Limits for one fetch; defaults are documented in the README."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 45.0  # total seconds per feed, whatever the server does
    max_bytes: int = 15 * MiB  # after decompression, so gzip bombs stop here too
    max_redirects: int = 5
    concurrency: int = 32
    per_host: int = 4
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


class FetchError(Exception):
    """A fetch failed for a reason worth showing to the user as is."""


class _Deadline:
    """Closes a response from a timer thread, so a trickling server cannot hold a fetch forever."""

    def __init__(self, seconds: float) -> None:
        self.expires = time.monotonic() + seconds
        self.seconds = seconds
        self.fired = False
        self._timer: threading.Timer | None = None

    def watch(self, response: httpx.Response) -> None:
        def fire() -> None:
            self.fired = True
            response.close()

        self._timer = threading.Timer(max(0.0, self.expires - time.monotonic()), fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def check(self) -> None:
        if self.fired or time.monotonic() > self.expires:
            raise FetchError(f"deadline exceeded: no complete response within {self.seconds:g}s")


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def fetch_all(
    requests: Iterable[FetchRequest],
    settings: FetchSettings = FetchSettings(),
    client: httpx.Client | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[FetchResult]:
    """Fetch many feeds in parallel (overall and per-host limits); results come back in request order."""
    requests = list(requests)
    if not requests:
        return []
    host_locks: dict[str, threading.Semaphore] = {}
    guard = threading.Lock()

    def host_slot(url: str) -> threading.Semaphore:
        host = urlsplit(url).hostname or ""
        with guard:
            return host_locks.setdefault(host, threading.Semaphore(settings.per_host))

    owns_client = client is None
    client = client or make_client(settings)
    try:

        def one(request: FetchRequest) -> FetchResult:
            with host_slot(request.url):
                return fetch_one(request, settings, client, now)

        with ThreadPoolExecutor(max_workers=max(1, min(settings.concurrency, len(requests)))) as pool:
            return list(pool.map(one, requests))
    finally:
        if owns_client:
            client.close()


def make_client(settings: FetchSettings) -> httpx.Client:
    """One pooled client for a whole run; redirects are followed by hand to keep their history."""
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency)
    return httpx.Client(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent, "Accept": _ACCEPT},
        trust_env=False,
    )


_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


def fetch_one(
    request: FetchRequest,
    settings: FetchSettings,
    client: httpx.Client,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FetchResult:
    """Fetch one feed; never raises: every failure becomes a FetchResult with `error` set."""
    started = time.monotonic()
    fetched_at = now()
    base = FetchResult(feed_id=request.feed_id, url=request.url, fetched_at=fetched_at)
    try:
        if request.url.lower().startswith("file://"):
            result = _fetch_file(base, settings)
        else:
            result = _fetch_http(base, request, settings, client)
    except FetchError as exc:
        result = replace(base, error=str(exc))
    except httpx.TimeoutException as exc:
        result = replace(base, error=f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        result = replace(base, error=f"network error: {type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug or an exotic failure must not take the run down
        result = replace(base, error=f"unexpected {type(exc).__name__}: {exc}")
    return replace(result, elapsed_ms=round((time.monotonic() - started) * 1000, 1))


def _fetch_file(base: FetchResult, settings: FetchSettings) -> FetchResult:
    parts = urlsplit(base.url)
    path = Path(url2pathname(unquote(parts.path)))
    try:
        with path.open("rb") as handle:
            body = handle.read(settings.max_bytes + 1)
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > settings.max_bytes:
        raise FetchError(f"body larger than the {settings.max_bytes // MiB} MiB cap")
    return replace(
        base,
        final_url=base.url,
        http_status=200,
        body=body,
        content_sha256=sha256_hex(body),
    )


def _fetch_http(base: FetchResult, request: FetchRequest, settings: FetchSettings, client: httpx.Client) -> FetchResult:
    headers: dict[str, str] = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified

    deadline = _Deadline(settings.deadline)
    url = request.url
    seen: list[str] = []
    all_permanent = True
    for _hop in range(settings.max_redirects + 1):
        if url in seen:
            raise FetchError(f"redirect loop: {' -> '.join([*seen, url])}")
        seen.append(url)
        deadline.check()
        with client.stream("GET", url, headers=headers) as response:
            deadline.watch(response)
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {response.status_code} redirect without a Location header")
                    all_permanent = all_permanent and response.status_code in (301, 308)
                    url = str(response.url.join(location))
                    continue
                return _read_response(base, response, settings, deadline, seen, all_permanent)
            except httpx.StreamClosed:
                deadline.check()
                raise
            finally:
                deadline.cancel()
    raise FetchError(f"too many redirects (more than {settings.max_redirects}): {' -> '.join(seen)}")


def _read_response(
    base: FetchResult,
    response: httpx.Response,
    settings: FetchSettings,
    deadline: _Deadline,
    chain: list[str],
    all_permanent: bool,
) -> FetchResult:
    status = response.status_code
    result = replace(
        base,
        final_url=str(response.url),
        http_status=status,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        content_type=response.headers.get("content-type"),
        permanent_redirect=str(response.url) if len(chain) > 1 and all_permanent else None,
        headers={k.lower(): v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS},
    )
    if status == 304:
        return result
    if status >= 400:
        retry_after = parse_retry_after(response.headers.get("retry-after"), base.fetched_at)
        reason = response.reason_phrase or ""
        return replace(result, error=f"HTTP {status} {reason}".strip(), retry_after=retry_after)
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_bytes and not _is_encoded(response):
        raise FetchError(f"body larger than the {settings.max_bytes // MiB} MiB cap ({declared} bytes declared)")
    body = b"".join(_capped(response.iter_bytes(), settings.max_bytes, deadline))
    return replace(result, body=body, content_sha256=sha256_hex(body))


_KEPT_HEADERS = {"content-type", "content-location", "content-language", "etag", "last-modified"}


def _is_encoded(response: httpx.Response) -> bool:
    return bool(response.headers.get("content-encoding"))


def _capped(chunks: Iterator[bytes], limit: int, deadline: _Deadline) -> Iterator[bytes]:
    """Yield decoded chunks until the cap; counting decoded bytes stops decompression bombs early."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise FetchError(f"body larger than the {limit // MiB} MiB cap (after decompression)")
        deadline.check()
        yield chunk


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
