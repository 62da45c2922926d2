"""Cleaner throughput: items/second on a few thousand items made from the bundled samples.

    .venv/bin/python benchmarks/clean_speed.py [--items 3000]

Every entry of every sample (the two long Novastan articles and the synthetic items) is replicated
round-robin up to --items, then cleaned in one process, the way one pipeline worker cleans its chunk.
The language model is loaded before timing starts (a one-off cost of a few seconds per process).
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import cycle, islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clean_quality import SAMPLES, sample_entries

from feeds_etl.clean import clean_item, detect_language


def workload(count: int) -> list[tuple[str, str | None, str | None]]:
    entries = [entry for path in sorted(SAMPLES.glob("*.*")) if path.suffix != ".py" for entry in _entries(path)]
    return list(islice(cycle(entries), count))


def _entries(path: Path) -> list[tuple[str, str | None, str | None]]:
    return sample_entries(path.name.split(".")[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    args = parser.parse_args()
    items = workload(args.items)
    megabytes = sum(len(html) for html, _, _ in items) / 1e6
    detect_language("warm up the language model once")
    start, start_cpu = time.perf_counter(), time.process_time()
    words = sum(clean_item(html, title, link).word_count for html, title, link in items)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"{len(items)} items, {megabytes:.1f} MB of HTML, {words} words out")
    print(f"wall {elapsed:.2f} s: {len(items) / elapsed:.0f} items/s, {megabytes / elapsed:.2f} MB/s (one process)")
    # CPU time is the steadier figure on a shared machine: wall time counts other processes' turns too.
    print(f"cpu  {cpu:.2f} s: {len(items) / cpu:.0f} items/s, {megabytes / cpu:.2f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
