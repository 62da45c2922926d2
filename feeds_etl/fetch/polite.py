"""Web pages (not feeds) fetched the way a polite crawler does: robots.txt obeyed and cached per host for the
run, at most a few connections and a minimum delay between requests per host. Each request goes through
`fetch_one`: the same client, limits and address policy as feeds."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from queue import Empty, SimpleQueue
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from feeds_etl.fetch.curl import FetchClient
from feeds_etl.fetch.fetcher import fetch_one
from feeds_etl.fetch.model import FetchRequest, FetchResult, FetchSettings

# A robots.txt Crawl-delay is honoured up to this many seconds: a larger one would stall the run.
MAX_CRAWL_DELAY = 10.0


@dataclass(frozen=True)
class Politeness:
    """Per-host limits for page fetches, on top of FetchSettings (see README "Full text")."""

    per_host: int = 2  # connections at once to one host
    min_delay: float = 1.0  # seconds between the starts of two requests to one host


@dataclass(frozen=True)
class PageFetch:
    """One page's fetch; `disallowed` says why robots.txt kept us from requesting it (result.error says it too)."""

    result: FetchResult
    disallowed: str | None = None


class Robots:
    """One host's robots.txt rules, as urllib.robotparser reads them (RFC 9309)."""

    def __init__(self, parser: RobotFileParser | None, refusal: str | None = None) -> None:
        self.parser, self.refusal = parser, refusal

    @classmethod
    def from_fetch(cls, result: FetchResult) -> Robots:
        """4xx: no rules, everything allowed; 5xx, 429 or no answer: the whole host disallowed for this run."""
        status = result.http_status
        if result.ok and status is not None and 200 <= status < 300:
            parser = RobotFileParser()
            parser.parse((result.body or b"").decode("utf-8", errors="replace").splitlines())
            return cls(parser)
        if status is not None and 400 <= status < 500 and status != 429:
            return cls(None)
        return cls(None, f"robots.txt unavailable ({result.error or f'HTTP {status}'}): host skipped this run")

    def refusal_for(self, url: str, user_agent: str) -> str | None:
        if self.refusal is not None:
            return self.refusal
        if self.parser is not None and not self.parser.can_fetch(user_agent, url):
            return "disallowed by robots.txt"
        return None

    def crawl_delay(self, user_agent: str) -> float:
        delay = self.parser.crawl_delay(user_agent) if self.parser is not None else None
        return min(float(delay or 0), MAX_CRAWL_DELAY)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def fetch_pages(
    requests: Sequence[FetchRequest],
    settings: FetchSettings,
    client: FetchClient,
    politeness: Politeness = Politeness(),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[tuple[int, PageFetch]]:
    """Fetch http(s) pages, yielding (request index, PageFetch) as each completes.

    A host's robots.txt is fetched before its first page (once per call); a disallowed page is never
    requested. At most `settings.concurrency` requests run at once, `politeness.per_host` of them to one host,
    and requests to one host start at least `politeness.min_delay` seconds apart (longer if robots.txt asks,
    up to MAX_CRAWL_DELAY)."""
    if not requests:
        return
    queues: dict[str, deque[int]] = {}
    for index, request in enumerate(requests):
        queues.setdefault(origin_of(request.url), deque()).append(index)
    robots: dict[str, Robots | None] = {}  # None while its robots.txt is being fetched
    busy: Counter[str] = Counter()
    next_start: dict[str, float] = {}
    workers = max(1, min(settings.concurrency, len(requests) + len(queues)))
    per_host = max(1, politeness.per_host)
    user_agent = settings.user_agent

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="page") as pool:
        running: dict[Future[FetchResult], tuple[str, int | None]] = {}  # -> (origin, index or None for robots)
        finished: SimpleQueue[Future[FetchResult]] = SimpleQueue()

        def submit(origin: str, request: FetchRequest, index: int | None) -> None:
            busy[origin] += 1
            rules = robots.get(origin)
            delay = max(politeness.min_delay, rules.crawl_delay(user_agent) if rules else 0.0)
            next_start[origin] = time.monotonic() + delay
            future = pool.submit(fetch_one, request, settings, client, now)
            running[future] = (origin, index)
            future.add_done_callback(finished.put)

        def start_more() -> list[tuple[int, PageFetch]]:
            """Start what the limits allow; pages robots.txt disallows come back at once, never requested."""
            refused: list[tuple[int, PageFetch]] = []
            clock = time.monotonic()
            for origin in list(queues):
                if origin in robots and robots[origin] is None:
                    continue  # its robots.txt is on the way
                queue = queues[origin]
                rules = robots.get(origin)
                while rules is not None and queue:
                    request = requests[queue[0]]
                    reason = rules.refusal_for(request.url, user_agent)
                    if reason is None:
                        break
                    refused.append((queue.popleft(), _refused(request, reason, now)))
                free = len(running) < workers and busy[origin] < per_host
                if queue and free and clock >= next_start.get(origin, 0.0):
                    if origin not in robots:
                        robots[origin] = None
                        submit(origin, FetchRequest("robots.txt", f"{origin}/robots.txt"), None)
                    else:
                        index = queue.popleft()
                        submit(origin, requests[index], index)
                if not queue:
                    del queues[origin]
            return refused

        def wait_for() -> float | None:
            """Seconds until a host's delay allows its next request (None: only running fetches can help)."""
            waiting = [
                next_start.get(origin, 0.0)
                for origin, queue in queues.items()
                if queue and robots.get(origin, True) is not None and busy[origin] < per_host
            ]
            if not waiting or len(running) >= workers:
                return None
            return max(0.0, min(waiting) - time.monotonic())

        while True:
            yield from start_more()
            if not running and not queues:
                return
            try:
                future = finished.get(timeout=wait_for())
            except Empty:
                continue
            origin, index = running.pop(future)
            busy[origin] -= 1
            if index is None:
                robots[origin] = Robots.from_fetch(future.result())
            else:
                yield index, PageFetch(future.result())


def _refused(request: FetchRequest, reason: str, now: Callable[[], datetime]) -> PageFetch:
    result = FetchResult(feed_id=request.feed_id, url=request.url, fetched_at=now(), error=reason)
    return PageFetch(result, disallowed=reason)
