"""The values a fetch takes and gives: its limits, what to ask for, and what came back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from feeds_etl import __version__

PROJECT_URL = "https://github.com/feeds-etl/feeds_etl"
USER_AGENT = f"feeds_etl/{__version__} (+{PROJECT_URL})"
MiB = 1024 * 1024


@dataclass(frozen=True)
class FetchSettings:
    """Limits for one fetch; defaults are documented in the README."""

    connect_timeout: float = 10.0  # TCP connect and TLS handshake
    read_timeout: float = 20.0  # the server may stall this long (under 1 byte a second) before we give up
    deadline: float = 45.0  # total seconds per feed (connect, redirects, headers, body), whatever the server does
    max_bytes: int = 15 * MiB  # on the wire and again after decompression, so gzip bombs stop here too
    max_redirects: int = 5
    concurrency: int = 32
    per_host: int = 8  # like a browser: busy hosts get a few parallel requests, never a flood
    user_agent: str = USER_AGENT
    # Loopback, private (RFC 1918, fc00::/7, 100.64/10) and unspecified addresses: an intranet feed needs them,
    # a worker next to internal services must not reach them by default. Link-local and metadata addresses
    # stay refused whatever this says.
    allow_private_networks: bool = False
    allow_local_files: bool = False  # file:// URLs (and paths, which the feed list turns into file:// URLs)


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
    """The hex SHA-256 of a body: how snapshots tell a changed feed from the same one served again."""
    return hashlib.sha256(body).hexdigest()


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
