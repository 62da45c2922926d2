"""Fetch benchmarks over loopback.

    .venv/bin/python benchmarks/fetch_bench.py [--feeds 500] [--delay 0.1]
    .venv/bin/python benchmarks/fetch_bench.py --cpu [--feeds 1000] [--rounds 5]

The default run measures throughput: feeds served from one host (127.0.0.1), each answering after `--delay`,
so the per-host limit sets the pace; it is repeated with the default settings and with a per-host limit as
wide as the overall concurrency.

`--cpu` measures what the fetch costs this process: the server runs in a child process, so the CPU seconds
counted (user+sys of every thread here) are the client's alone. One cold round fetches every feed (200s with
bodies), then each conditional round fetches them all again with their ETags (304s), each with a new client as
a run would.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing.connection import Connection

from feeds_etl.fetch import FetchRequest, FetchResult, FetchSettings, fetch_all
from feeds_etl_tests.feed_server import good_feed, running_feed_server

LOOPBACK = FetchSettings(allow_private_networks=True)


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


def _serve(feeds: int, channel: Connection) -> None:
    with running_feed_server() as server:
        urls = [server.add_feed(f"/bench/{n}", good_feed(f"b{n}", 10)) for n in range(feeds)]
        channel.send(urls)
        channel.recv()  # until the parent is done


@contextmanager
def served_elsewhere(feeds: int) -> Iterator[list[str]]:
    """`feeds` good feeds served by a child process: its CPU is not this process's."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(feeds, child), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("done")
        process.join(10)


def _timed(requests: list[FetchRequest], settings: FetchSettings) -> tuple[list[FetchResult], float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    results = fetch_all(requests, settings)
    return results, time.process_time() - cpu, time.perf_counter() - wall


def cpu_bench(feeds: int, rounds: int, settings: FetchSettings) -> None:
    with served_elsewhere(feeds) as urls:
        requests = [FetchRequest(f"feed-{n}", url) for n, url in enumerate(urls)]
        first, cpu, wall = _timed(requests, settings)
        assert all(r.ok and r.http_status == 200 for r in first), {r.error for r in first}
        print(f"cold: {feeds} feeds (200, {len(first[0].body or b''):,} bytes each): {cpu:.2f} CPU s, {wall:.2f} s")
        again = [replace(r, etag=f.etag, last_modified=f.last_modified) for r, f in zip(requests, first, strict=True)]
        cpus, walls = [], []
        for _ in range(rounds):
            results, cpu, wall = _timed(again, settings)
            assert all(r.not_modified for r in results), {r.error for r in results}
            cpus.append(cpu)
            walls.append(wall)
    print(
        f"conditional: {feeds} feeds (304) x {rounds} rounds: CPU s median {statistics.median(cpus):.2f} "
        f"(min {min(cpus):.2f}, max {max(cpus):.2f}), wall s median {statistics.median(walls):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None, help="500 for throughput, 1000 with --cpu")
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--cpu", action="store_true", help="client CPU for a cold and conditional rounds")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.cpu:
        cpu_bench(args.feeds or 1000, args.rounds, LOOPBACK)
        return
    feeds = args.feeds or 500
    bench(feeds, args.delay, LOOPBACK, "defaults, one host")
    bench(feeds, args.delay, replace(LOOPBACK, per_host=32), "per_host=32 (= concurrency), one host")
    bench(feeds, args.delay, replace(LOOPBACK, concurrency=64, per_host=64), "concurrency=per_host=64, one host")


if __name__ == "__main__":
    main()
