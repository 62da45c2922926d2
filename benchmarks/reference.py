"""Near-limit reference: what a lean script doing the core work costs on this machine.

Threaded fetch (http.client, a keep-alive connection per thread and host) feeding a pool of processes that
parse and extract text; one Arrow load into DuckDB at the end. No archive, no change detection, no language,
links, tags or search index: a floor for the product's cold import, not a competitor. Two ways to parse:

- `--parser lxml` (default, the issue's near-limit pipeline): lxml for the feed XML (RSS 2.0, RSS 1.0,
  Atom) and for the item HTML, text as BeautifulSoup's get_text("\n\n", strip=True) would give it.
- `--parser libraries`: feedparser (sanitize_html=False, resolve_relative_uris=False) and BeautifulSoup
  with the lxml builder, the libraries the product is built on.

    python benchmarks/reference.py --feeds-file feeds.yaml --database out.duckdb [--workers 2] [--parser lxml]
Prints one JSON line with counts and phase timings.
"""

from __future__ import annotations

import argparse
import calendar
import http.client
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import feedparser
import pyarrow as pa
import yaml
from bs4 import BeautifulSoup
from lxml import etree

SCHEMA = pa.schema(
    [
        ("feed_id", pa.string()),
        ("guid", pa.string()),
        ("link", pa.string()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("content_html", pa.string()),
        ("categories", pa.list_(pa.string())),
        ("text", pa.string()),
        ("word_count", pa.int32()),
    ]
)
_DROP = ("script", "style", "noscript", "iframe", "form", "nav", "svg")


def extract_text(html: str) -> str:
    soup = BeautifulSoup(html, "lxml")
    for tag in soup.find_all(_DROP):
        tag.decompose()
    return soup.get_text("\n\n", strip=True)


def parse_with_libraries(job: tuple[str, bytes]) -> dict[str, list[Any]]:
    """One feed body -> column lists (columns travel back to the parent cheaper than row dicts)."""
    feed_id, body = job
    document = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for entry in document.entries:
        content = entry.get("content")
        html = content[0].get("value") if content else entry.get("summary")
        published = entry.get("published_parsed")
        text = extract_text(html) if html else ""
        columns["feed_id"].append(feed_id)
        columns["guid"].append(entry.get("id"))
        columns["link"].append(entry.get("link"))
        columns["title"].append(entry.get("title"))
        columns["author"].append(entry.get("author"))
        columns["published_at"].append(datetime.fromtimestamp(calendar.timegm(published), UTC) if published else None)
        columns["content_html"].append(html)
        columns["categories"].append([t.get("term") for t in entry.get("tags") or [] if t.get("term")])
        columns["text"].append(text)
        columns["word_count"].append(len(text.split()))
    return columns


_ATOM = "{http://www.w3.org/2005/Atom}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC = "{http://purl.org/dc/elements/1.1/}"
_XML = etree.XMLParser(resolve_entities=False, no_network=True)


def lxml_entries(body: bytes) -> Iterator[dict[str, Any]]:
    root = etree.fromstring(body, _XML)
    if root.tag == f"{_ATOM}feed":
        for entry in root.iterchildren(f"{_ATOM}entry"):
            links = [link for link in entry.iterchildren(f"{_ATOM}link") if link.get("rel", "alternate") == "alternate"]
            published = entry.findtext(f"{_ATOM}published") or entry.findtext(f"{_ATOM}updated")
            yield {
                "guid": entry.findtext(f"{_ATOM}id"),
                "link": links[0].get("href") if links else None,
                "title": entry.findtext(f"{_ATOM}title"),
                "author": entry.findtext(f"{_ATOM}author/{_ATOM}name"),
                "published_at": datetime.fromisoformat(published) if published else None,
                "content_html": entry.findtext(f"{_ATOM}content") or entry.findtext(f"{_ATOM}summary"),
                "categories": [c.get("term") for c in entry.iterchildren(f"{_ATOM}category") if c.get("term")],
            }
        return
    for item in root.iter("item", f"{_RSS1}item"):
        ns = _RSS1 if item.tag == f"{_RSS1}item" else ""
        published = item.findtext("pubDate") or item.findtext(f"{_DC}date")
        yield {
            "guid": item.findtext("guid") or item.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"),
            "link": item.findtext(f"{ns}link"),
            "title": item.findtext(f"{ns}title"),
            "author": item.findtext(f"{_DC}creator") or item.findtext("author"),
            "published_at": _date(published),
            "content_html": item.findtext(_CONTENT) or item.findtext(f"{ns}description"),
            "categories": [c.text for c in item.iterchildren("category", f"{_DC}subject") if c.text],
        }


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None


def lxml_text(html: str) -> str:
    """BeautifulSoup's get_text("\n\n", strip=True) after dropping _DROP, straight from libxml2's tree."""
    root = etree.fromstring(html, etree.HTMLParser())
    if root is None:
        return ""
    etree.strip_elements(root, *_DROP, with_tail=False)
    return "\n\n".join(text for text in (piece.strip() for piece in root.itertext()) if text)


def parse_with_lxml(job: tuple[str, bytes]) -> dict[str, list[Any]]:
    feed_id, body = job
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    try:
        entries = list(lxml_entries(body))
    except etree.XMLSyntaxError:
        return columns
    for entry in entries:
        html = entry["content_html"]
        text = lxml_text(html) if html and html.strip() else ""
        columns["feed_id"].append(feed_id)
        for name, value in entry.items():
            columns[name].append(value)
        columns["text"].append(text)
        columns["word_count"].append(len(text.split()))
    return columns


PARSERS = {"lxml": parse_with_lxml, "libraries": parse_with_libraries}


_connections = threading.local()


def http_get(url: str) -> bytes:
    """The body of a 200 answer, over this thread's keep-alive connection to the URL's host."""
    parts = urlsplit(url)
    known: dict[tuple[str, str], http.client.HTTPConnection] = _connections.__dict__.setdefault("known", {})
    connection = known.get((parts.scheme, parts.netloc))
    if connection is None:
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = known[parts.scheme, parts.netloc] = kind(parts.netloc, timeout=30)
    try:
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        connection.close()
        del known[parts.scheme, parts.netloc]
        raise
    if response.status != 200:
        raise http.client.HTTPException(f"HTTP {response.status}")
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds-file", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--parser", choices=sorted(PARSERS), default="lxml")
    args = parser.parse_args()
    feeds = [(f["name"], f["url"]) for f in yaml.safe_load(args.feeds_file.read_text())["feeds"]]
    parse_one = PARSERS[args.parser]

    started = time.perf_counter()
    fetched_bytes = 0
    failed = 0
    counting = threading.Lock()
    futures: list[Future[dict[str, list[Any]]]] = []
    context = multiprocessing.get_context("forkserver")
    with (
        ProcessPoolExecutor(args.workers, mp_context=context) as pool,
        ThreadPoolExecutor(args.concurrency) as fetchers,
    ):

        def fetch(feed: tuple[str, str]) -> None:
            nonlocal fetched_bytes, failed
            try:
                body = http_get(feed[1])
            except (OSError, http.client.HTTPException):
                with counting:
                    failed += 1
                return
            with counting:
                fetched_bytes += len(body)
            futures.append(pool.submit(parse_one, (feed[0], body)))  # parse while others download

        list(fetchers.map(fetch, feeds))
        fetch_done = time.perf_counter()
        results = [f.result() for f in futures]
    parse_done = time.perf_counter()

    merged = {name: [v for r in results for v in r[name]] for name in SCHEMA.names}
    table = pa.Table.from_pydict(merged, schema=SCHEMA)
    args.database.unlink(missing_ok=True)
    with duckdb.connect(str(args.database)) as con:
        con.register("incoming", table)
        con.execute("CREATE TABLE items AS SELECT * FROM incoming")
        con.execute("CHECKPOINT")
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "parser": args.parser,
                "feeds": len(feeds),
                "failed": failed,
                "items": table.num_rows,
                "bytes": fetched_bytes,
                "fetch_s": round(fetch_done - started, 3),
                "parse_wait_s": round(parse_done - fetch_done, 3),
                "load_s": round(finished - parse_done, 3),
                "total_s": round(finished - started, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
