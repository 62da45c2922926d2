"""Naive baseline: how a first script would do the job. Sequential fetch (a new connection per feed),
feedparser defaults (sanitising, resolving relative URIs), BeautifulSoup's html.parser, and row-by-row
`executemany` into DuckDB.

By default it writes the layers the product's schema promises, each the naive way: the raw body of each feed
(`feed_snapshots`), one row per item (`items`), its text (`item_text`) and one row per tag (`item_tags`).
`--items-only` writes one wide row per item instead (text and comma-joined tags beside the HTML), a smaller job
than the product's: the baseline earlier versions of this benchmark used.

    python benchmarks/naive.py --feeds-file feeds.yaml --database out.duckdb [--items-only]
Prints one JSON line with counts and phase timings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import feedparser
import yaml
from bs4 import BeautifulSoup

LAYERS = {
    "feed_snapshots": "feed_id VARCHAR, fetched_at TIMESTAMPTZ, url VARCHAR, http_status INTEGER, etag VARCHAR,"
    " content_sha256 VARCHAR, body BLOB",
    "items": "feed_id VARCHAR, guid VARCHAR, link VARCHAR, title VARCHAR, author VARCHAR, published VARCHAR,"
    " summary_html VARCHAR, content_html VARCHAR, categories VARCHAR[]",
    "item_text": "feed_id VARCHAR, guid VARCHAR, text VARCHAR, word_count INTEGER",
    "item_tags": "feed_id VARCHAR, guid VARCHAR, tag VARCHAR, tag_raw VARCHAR",
}
ITEMS_ONLY = {
    "items": "feed_id VARCHAR, guid VARCHAR, link VARCHAR, title VARCHAR, published VARCHAR, content_html VARCHAR,"
    " categories VARCHAR, text VARCHAR, word_count INTEGER",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds-file", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--items-only", action="store_true", help="one wide table instead of the four layers")
    args = parser.parse_args()
    feeds = [(f["name"], f["url"]) for f in yaml.safe_load(args.feeds_file.read_text())["feeds"]]
    tables = ITEMS_ONLY if args.items_only else LAYERS

    started = time.perf_counter()
    timings = {"fetch_s": 0.0, "parse_s": 0.0, "clean_s": 0.0}
    rows: dict[str, list[tuple]] = {name: [] for name in tables}
    for feed_id, url in feeds:
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            status, etag = response.status, response.headers.get("ETag")
        t1 = time.perf_counter()
        document = feedparser.parse(body)
        t2 = time.perf_counter()
        if not args.items_only:
            sha = hashlib.sha256(body).hexdigest()
            rows["feed_snapshots"].append((feed_id, datetime.now(UTC), url, status, etag, sha, body))
        for entry in document.entries:
            html = entry.content[0].value if entry.get("content") else entry.get("summary", "")
            text = BeautifulSoup(html, "html.parser").get_text("\n\n", strip=True)
            tags = [t.term for t in entry.get("tags", []) if t.get("term")]
            guid = entry.get("id")
            if args.items_only:
                rows["items"].append((feed_id, guid, entry.get("link"), entry.get("title"), entry.get("published"),
                                      html, ",".join(tags), text, len(text.split())))  # fmt: skip
                continue
            rows["items"].append((feed_id, guid, entry.get("link"), entry.get("title"), entry.get("author"),
                                  entry.get("published"), entry.get("summary"), html, tags))  # fmt: skip
            rows["item_text"].append((feed_id, guid, text, len(text.split())))
            rows["item_tags"] += [(feed_id, guid, tag.strip().lower(), tag) for tag in tags]
        t3 = time.perf_counter()
        timings["fetch_s"] += t1 - t0
        timings["parse_s"] += t2 - t1
        timings["clean_s"] += t3 - t2

    t4 = time.perf_counter()
    args.database.unlink(missing_ok=True)
    con = duckdb.connect(str(args.database))
    for name, columns in tables.items():
        con.execute(f"CREATE TABLE {name} ({columns})")
        placeholders = ", ".join("?" * (columns.count(",") + 1))
        con.executemany(f"INSERT INTO {name} VALUES ({placeholders})", rows[name])
    con.close()
    finished = time.perf_counter()
    timings["load_s"] = finished - t4
    print(
        json.dumps(
            {
                "feeds": len(feeds),
                "items": len(rows["items"]),
                "rows": {name: len(table_rows) for name, table_rows in rows.items()},
                **{k: round(v, 3) for k, v in timings.items()},
                "total_s": round(finished - started, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
