"""Naive baseline: how a first script would do it. Sequential fetch (a new connection per feed),
feedparser defaults (sanitising, resolving relative URIs), BeautifulSoup's html.parser, and row-by-row
`executemany` into DuckDB.

    python benchmarks/naive.py --feeds-file feeds.yaml --database out.duckdb
Prints one JSON line with counts and phase timings.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path

import duckdb
import feedparser
import yaml
from bs4 import BeautifulSoup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds-file", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    args = parser.parse_args()
    feeds = [(f["name"], f["url"]) for f in yaml.safe_load(args.feeds_file.read_text())["feeds"]]

    started = time.perf_counter()
    timings = {"fetch_s": 0.0, "parse_s": 0.0, "clean_s": 0.0}
    rows = []
    for feed_id, url in feeds:
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
        t1 = time.perf_counter()
        document = feedparser.parse(body)
        t2 = time.perf_counter()
        for entry in document.entries:
            html = entry.content[0].value if entry.get("content") else entry.get("summary", "")
            text = BeautifulSoup(html, "html.parser").get_text("\n\n", strip=True)
            tags = [t.term for t in entry.get("tags", [])]
            rows.append((feed_id, entry.get("id"), entry.get("link"), entry.get("title"), entry.get("published"),
                         html, ",".join(tags), text, len(text.split())))  # fmt: skip
        t3 = time.perf_counter()
        timings["fetch_s"] += t1 - t0
        timings["parse_s"] += t2 - t1
        timings["clean_s"] += t3 - t2

    t4 = time.perf_counter()
    args.database.unlink(missing_ok=True)
    con = duckdb.connect(str(args.database))
    con.execute(
        """CREATE TABLE items (feed_id VARCHAR, guid VARCHAR, link VARCHAR, title VARCHAR, published VARCHAR,
           content_html VARCHAR, categories VARCHAR, text VARCHAR, word_count INTEGER)"""
    )
    con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()
    finished = time.perf_counter()
    timings["load_s"] = finished - t4
    print(
        json.dumps(
            {
                "feeds": len(feeds),
                "items": len(rows),
                **{k: round(v, 3) for k, v in timings.items()},
                "total_s": round(finished - started, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
