"""Bytes from a feed URL or path, politely and within limits -> a FetchResult.

libcurl (through pycurl) does the HTTP: conditional GET, a total deadline per feed, a connect timeout and a
stall limit, size caps on the wire and after decompression, connection reuse, HTTP/2, proxies from the
environment. On top of it: redirects followed by hand with their history, concurrency limits overall and per
host, and an address policy checked on every connection (see `addresses`). Nothing here touches storage.
"""

from feeds_etl.fetch.curl import FetchClient, FetchError
from feeds_etl.fetch.fetcher import fetch_all, fetch_each, fetch_one, make_client
from feeds_etl.fetch.model import (
    PROJECT_URL,
    USER_AGENT,
    FetchRequest,
    FetchResult,
    FetchSettings,
    MiB,
    parse_retry_after,
    sha256_hex,
)

__all__ = [
    "PROJECT_URL",
    "USER_AGENT",
    "FetchClient",
    "FetchError",
    "FetchRequest",
    "FetchResult",
    "FetchSettings",
    "MiB",
    "fetch_all",
    "fetch_each",
    "fetch_one",
    "make_client",
    "parse_retry_after",
    "sha256_hex",
]
