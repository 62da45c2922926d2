"""The values the steps hand each other: what a fetch asked for and got back, and what the archive made of it.
Plain data, free of the HTTP layer and of storage, so both sides (and `health`) import them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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


@dataclass(frozen=True)
class Snapshot:
    """One archived attempt: a FetchResult plus what the archive made of it."""

    result: FetchResult
    partition_key: str
    outcome: str  # one of OUTCOMES
    store_body: bool
