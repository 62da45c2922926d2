"""Fetch throughput: 500 feeds served from loopback, each answering after 100 ms, fetched with fetch_all.

    .venv/bin/python benchmarks/fetch_bench.py [--feeds 500] [--delay 0.1]

All feeds live on one host (127.0.0.1), so the per-host limit sets the pace; the run is repeated with the
default settings and with a per-host limit as wide as the overall concurrency.
"""

from __future__ import annotations

import argparse
import time

from feeds_etl.fetch import FetchRequest, FetchSettings, fetch_all
from feeds_etl_tests.feed_server import good_feed, running_feed_server


def bench(feeds: int, delay: float, settings: FetchSettings, label: str) -> None:
    with running_feed_server() as server:
        requests = [
            FetchRequest(f"feed-{n}", server.add_feed(f"/bench/{n}", good_feed(f"b{n}", 10), delay=delay))
            for n in range(feeds)
        ]
        started = time.perf_counter()
        results = fetch_all(requests, settings)
        wall = time.perf_counter() - started
    ok = sum(r.ok for r in results)
    ideal = feeds * delay / min(settings.concurrency, settings.per_host)
    print(
        f"{label:<38} {feeds} feeds, {ok} ok in {wall:6.2f}s = {feeds / wall:6.1f} feeds/s "
        f"(concurrency={settings.concurrency}, per_host={settings.per_host}; floor {ideal:.2f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    bench(args.feeds, args.delay, FetchSettings(), "defaults, one host")
    bench(args.feeds, args.delay, FetchSettings(per_host=32), "per_host=32 (= concurrency), one host")
    bench(args.feeds, args.delay, FetchSettings(concurrency=64, per_host=64), "concurrency=per_host=64, one host")


if __name__ == "__main__":
    main()
