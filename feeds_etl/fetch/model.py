"""A fetch's limits and its helpers; what it asks for and gives back are `feeds_etl.model` values."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from feeds_etl import __version__
from feeds_etl.model import FetchRequest, FetchResult

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


__all__ = ["USER_AGENT", "FetchRequest", "FetchResult", "FetchSettings", "parse_retry_after", "sha256_hex"]
