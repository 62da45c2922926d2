"""Near-limit reference: what a lean script doing the core work costs on this machine.

Threaded fetch (httpx, one pooled client) feeding a pool of processes that parse with feedparser
(sanitize_html=False, resolve_relative_uris=False) and extract text with BeautifulSoup + lxml; one Arrow
load into DuckDB at the end. No archive, no change detection, no language, links, tags or search index:
a floor for the product's cold import, not a competitor.

    python benchmarks/reference.py --feeds-file feeds.yaml --database out.duckdb [--workers 2]
Prints one JSON line with counts and phase timings.
"""

from __future__ import annotations

import argparse
import calendar
import json
import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import feedparser
import httpx
import pyarrow as pa
import yaml
from bs4 import BeautifulSoup

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


def parse_one(job: tuple[str, bytes]) -> dict[str, list[Any]]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds-file", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    feeds = [(f["name"], f["url"]) for f in yaml.safe_load(args.feeds_file.read_text())["feeds"]]

    started = time.perf_counter()
    fetched_bytes = 0
    failed = 0
    counting = threading.Lock()
    futures: list[Future[dict[str, list[Any]]]] = []
    context = multiprocessing.get_context("forkserver")
    with (
        ProcessPoolExecutor(args.workers, mp_context=context) as pool,
        httpx.Client(timeout=30, limits=httpx.Limits(max_connections=args.concurrency)) as client,
        ThreadPoolExecutor(args.concurrency) as fetchers,
    ):

        def fetch(feed: tuple[str, str]) -> None:
            nonlocal fetched_bytes, failed
            try:
                response = client.get(feed[1])
                response.raise_for_status()
            except httpx.HTTPError:
                with counting:
                    failed += 1
                return
            with counting:
                fetched_bytes += len(response.content)
            futures.append(pool.submit(parse_one, (feed[0], response.content)))  # parse while others download

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
