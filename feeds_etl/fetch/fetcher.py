"""One feed's fetch, and many at once: conditional GET, redirects followed by hand, local files, and limits
overall and per host. What an answer means is decided here; moving the bytes is curl.py's job."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty, SimpleQueue
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from feeds_etl.fetch.curl import Deadline, FetchClient, FetchError, Response, size_text
from feeds_etl.fetch.model import FetchRequest, FetchResult, FetchSettings, parse_retry_after, sha256_hex

DEFAULT_SETTINGS = FetchSettings()
_KEPT_HEADERS = {"content-type", "content-location", "content-language", "content-encoding", "etag", "last-modified"}


def make_client(settings: FetchSettings, ca_file: str | Path | None = None) -> FetchClient:
    """One client for a whole run: its connections are kept alive from one feed to the next. TLS trusts
    certifi's CA bundle unless given another `ca_file`."""
    return FetchClient(settings, ca_file)


def _host_key(url: str) -> str | None:
    """Requests to one host share its per-host slots; local files have no host to be polite to."""
    if url.lower().startswith("file:"):
        return None
    return (urlsplit(url).hostname or "").lower()


def fetch_all(
    requests: Iterable[FetchRequest],
    settings: FetchSettings = DEFAULT_SETTINGS,
    client: FetchClient | None = None,
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
    settings: FetchSettings = DEFAULT_SETTINGS,
    client: FetchClient | None = None,
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


def fetch_one(
    request: FetchRequest,
    settings: FetchSettings,
    client: FetchClient,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FetchResult:
    """Fetch one feed; never raises: every failure becomes a FetchResult with `error` set."""
    started = time.monotonic()
    base = FetchResult(feed_id=request.feed_id, url=request.url, fetched_at=now())
    try:
        if request.url[:5].lower() == "file:":
            if not settings.allow_local_files:
                raise FetchError("refused: file: URLs are not allowed; allow_local_files is off")
            result = _fetch_file(base, settings)
        else:
            result = _fetch_http(base, request, settings, client, Deadline(settings.deadline))
    except FetchError as exc:
        result = replace(base, error=str(exc))
    except Exception as exc:  # a bug or an exotic failure must not take the run down
        result = replace(base, error=f"unexpected {type(exc).__name__}: {exc}")
    return replace(result, elapsed_ms=round((time.monotonic() - started) * 1000, 1))


def _fetch_file(base: FetchResult, settings: FetchSettings) -> FetchResult:
    path = Path(url2pathname(unquote(urlsplit(base.url).path)))
    try:
        with path.open("rb") as handle:
            body = handle.read(settings.max_bytes + 1)
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > settings.max_bytes:
        raise FetchError(f"body larger than the {size_text(settings.max_bytes)} cap")
    return replace(base, final_url=base.url, http_status=200, body=body, content_sha256=sha256_hex(body))


def _fetch_http(
    base: FetchResult, request: FetchRequest, settings: FetchSettings, client: FetchClient, deadline: Deadline
) -> FetchResult:
    headers: list[str] = []
    if request.etag:
        headers.append(f"If-None-Match: {_header_value(request.etag)}")
    if request.last_modified:
        headers.append(f"If-Modified-Since: {_header_value(request.last_modified)}")

    url = _checked_url(request.url)
    seen: list[str] = []
    all_permanent = True
    for _hop in range(settings.max_redirects + 1):
        if url in seen:
            raise FetchError(f"redirect loop: {' -> '.join([*seen, url])}")
        seen.append(url)
        deadline.check()
        response = client.get(url, headers, settings, deadline)
        status = response.status
        if 300 <= status < 400 and status != 304:
            location = response.headers.get("location", "").strip()
            if not location:
                raise FetchError(f"HTTP {status} redirect without a Location header")
            url = _redirect_target(response.url, location, status)
            all_permanent = all_permanent and status in (301, 308)
            continue
        return _result(base, response, seen, all_permanent)
    raise FetchError(f"too many redirects (more than {settings.max_redirects}): {' -> '.join(seen)}")


def _header_value(value: str) -> str:
    """A stored validator as a header value: no line breaks can smuggle in another header."""
    return " ".join(value.split())


def _checked_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise FetchError(f"invalid URL {url[:200]!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url[:200]}")
    return url


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


def _result(base: FetchResult, response: Response, chain: list[str], all_permanent: bool) -> FetchResult:
    status, headers = response.status, response.headers
    result = replace(
        base,
        final_url=response.url,
        http_status=status,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        content_type=headers.get("content-type"),
        permanent_redirect=response.url if len(chain) > 1 and all_permanent else None,
        headers={name: value for name, value in headers.items() if name in _KEPT_HEADERS},
    )
    if status == 304:
        return result
    if status >= 400:
        retry_after = parse_retry_after(headers.get("retry-after"), base.fetched_at)
        return replace(result, error=f"HTTP {status} {response.reason}".strip(), retry_after=retry_after)
    body = response.body or b""
    return replace(result, body=body, content_sha256=sha256_hex(body))
