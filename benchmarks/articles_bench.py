"""Full text over loopback: teaser feeds whose article pages answer after a latency, through the real assets.

    .venv/bin/python benchmarks/articles_bench.py [--hosts 50] [--items 20] [--latency-ms 250]
        [--per-host 2] [--min-delay 1.0]

Each host (127.0.0.2, 127.0.0.3, ...: loopback addresses, one site each) serves a teaser feed of `--items`
items, its robots.txt and the article pages, every page answering after `--latency-ms`. The servers run in a
child process, so their CPU is not the pipeline's. One Dagster run of the four assets imports everything
(fetching and extracting every article), then the same hour runs again (nothing changed: no page is asked for).
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path

WORDS = ["river", "harbour", "lantern", "orchard", "meadow", "quarry", "summit", "canyon", "glacier", "prairie",
         "tundra", "estuary", "delta", "lagoon", "plateau", "valley", "ridge", "basin", "fjord", "marsh", "council",
         "market", "railway", "library", "bridge", "school", "clinic", "festival", "harvest", "archive"]  # fmt: skip


def sentence(seed: int, n: int) -> str:
    words = [WORDS[(seed * 31 + k * 7 + k * k) % len(WORDS)] for k in range(n)]
    return " ".join(words).capitalize() + "."


def page(host: int, post: int) -> bytes:
    """A ~20 KB article page: the story amid navigation, a cookie banner, share widgets, related posts, a footer."""
    seed = host * 1000 + post
    paragraphs = "".join(f"<p>{' '.join(sentence(seed + p * 13 + s, 14) for s in range(5))}</p>" for p in range(12))
    related = "".join(f'<li><a href="/post/{k}">{sentence(seed + k, 8)}</a></li>' for k in range(8))
    nav = "".join(f'<li><a href="/section/{k}">{WORDS[k].title()}</a></li>' for k in range(20))
    return (
        f"<!DOCTYPE html><html><head><title>Post {post}</title><style>{'.c{margin:0}' * 200}</style></head><body>"
        f'<header><nav><ul>{nav}</ul></nav></header><div class="cookie-banner">We use cookies. '
        f"<button>Accept all</button></div><main><article><h1>Post {post} on host {host}</h1>{paragraphs}"
        f'<div class="share">Share on Twitter Share on Facebook</div></article><aside class="related">'
        f"<h2>Related posts</h2><ul>{related}</ul></aside></main><footer><p>Copyright 2026 Site {host}.</p>"
        "</footer></body></html>"
    ).encode()


def feed(host: int, items: int, base: str) -> bytes:
    entries = "".join(
        f'<item><guid isPermaLink="false">h{host}-p{n}</guid><title>Post {n}</title><link>{base}/post/{n}</link>'
        f"<description>&lt;p&gt;{sentence(host * 1000 + n, 30)} [&amp;#8230;]&lt;/p&gt;</description>"
        "<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>"
        for n in range(items)
    )
    channel = f"<channel><title>Site {host}</title>{entries}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def _serve(hosts: int, items: int, latency: float, channel: Connection) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.2", 0))
    port = probe.getsockname()[1]
    probe.close()
    requests = {"pages": 0, "conditional": 0, "robots": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            host = int(self.server.server_address[0].rsplit(".", 1)[1]) - 2
            if self.path == "/robots.txt":
                body, kind = b"User-agent: *\nDisallow: /private/\n", "text/plain"
                with lock:
                    requests["robots"] += 1
            elif self.path == "/feed.xml":
                body, kind = feed(host, items, f"http://127.0.0.{host + 2}:{port}"), "application/rss+xml"
            else:
                time.sleep(latency)
                body, kind = page(host, int(self.path.rsplit("/", 1)[1])), "text/html; charset=utf-8"
                with lock:
                    requests["pages"] += 1
                    requests["conditional"] += bool(self.headers.get("If-None-Match"))
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = [ThreadingHTTPServer((f"127.0.0.{n + 2}", port), Handler) for n in range(hosts)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    channel.send([f"http://127.0.0.{n + 2}:{port}/feed.xml" for n in range(hosts)])
    while channel.recv() == "count":
        channel.send(dict(requests))


def run(args: argparse.Namespace) -> None:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(args.hosts, args.items, args.latency_ms / 1000, child))
    server.start()
    feed_urls = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lines = ["allow_private_networks: true", "feeds:"]
        lines += [f"  - name: site-{n}\n    url: {url}" for n, url in enumerate(feed_urls)]
        (root / "feeds.yaml").write_text("\n".join(lines) + "\n")
        os.environ.update(
            FEEDS_ETL_FEEDS=str(root / "feeds.yaml"),
            FEEDS_ETL_CATALOG=str(root / "feeds.sqlite"),
            FEEDS_ETL_DATA_PATH=f"{root / 'lake'}/",
        )
        import dagster as dg

        from feeds_etl.assets import feed_assets
        from feeds_etl.partitions import current_hour_key
        from feeds_etl.resources import FeedListResource, FetcherResource, WarehouseResource
        from feeds_etl.warehouse.readers import connect
        from feeds_etl.warehouse.store import LakeConfig

        lake = LakeConfig(str(root / "feeds.sqlite"), f"{root / 'lake'}/")
        resources = {
            "warehouse": WarehouseResource(catalog=lake.catalog, data_path=lake.data_path),
            "feed_list": FeedListResource(path=str(root / "feeds.yaml")),
            "fetcher": FetcherResource(article_per_host=args.per_host, article_min_delay=args.min_delay),
        }
        teasers = args.hosts * args.items
        print(
            f"{teasers} teaser items on {args.hosts} hosts, pages answer after {args.latency_ms:g} ms; "
            f"per host {args.per_host} connections, {args.min_delay:g} s apart"
        )
        for label in ("first run (fetch + extract)", "same hour again (no change)"):
            started = time.perf_counter()
            result = dg.materialize(feed_assets, partition_key=current_hour_key(), resources=resources)
            wall = time.perf_counter() - started
            meta = result.asset_materializations_for_node("cleaned_text")[0].metadata
            durations = meta["durations_s"].value
            parent.send("count")
            served = parent.recv()
            print(
                f"  {label:<30} run {wall:6.1f} s = {teasers / wall:6.1f} items/s; cleaned_text: article fetch "
                f"{durations.get('articles', 0):.1f} s, clean {durations.get('clean', 0):.1f} s; "
                f"pages requested {meta['article_pages_fetched'].value}, with article "
                f"{meta['items_with_article'].value}, failed {meta['articles_failed'].value}; "
                f"server so far {served}"
            )
        with connect(read_only=True, config=lake) as con:
            row = con.execute("SELECT sum(with_article), sum(teasers) FROM feed_articles").fetchone()
            print(f"  feed_articles: {row[0]} of {row[1]} teasers have their article")
    parent.send("stop")
    server.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--items", type=int, default=20, help="teaser items per host")
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--min-delay", type=float, default=1.0)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
