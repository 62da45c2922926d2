"""Small hourly writes on the lake: data inlining in the catalog against a Parquet file per write.

    .venv/bin/python benchmarks/lake_inlining.py [--feeds 200] [--hours 6]

Builds a lake from a generated corpus (file feeds, no HTTP), then runs the steps for `--hours` steady hours, each
after 5% of the feeds changed, once with DuckLake's data inlining (the product's setting: writes under 100 rows
stay in the catalog until the daily maintenance) and once with it off. Prints, per setting: the data files the
steady hours added, their mean wall and CPU time, the catalog's size, and the files left after maintenance.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Corpus


def data_files(root: Path) -> int:
    return sum(1 for path in (root / "lake").rglob("*.parquet"))


def run_setting(root: Path, corpus: Corpus, hours: int, inline: bool) -> dict[str, float]:
    from feeds_etl.feeds import load_feed_list
    from feeds_etl.fetch import FetchSettings
    from feeds_etl.hours import current_hour_key
    from feeds_etl.steps import archive, clean, parse, tags
    from feeds_etl.warehouse import LakeConfig, Warehouse, store

    store.DATA_INLINING_ROW_LIMIT = store.DATA_INLINING_ROW_LIMIT if inline else 0
    feeds = root / "feeds"
    feeds.mkdir(parents=True)

    def write_feeds() -> None:
        for i in range(len(corpus.feeds)):
            (feeds / f"f{i}.xml").write_bytes(corpus.body(i))

    write_feeds()
    listing = ["allow_local_files: true", "feeds:"]
    for i in range(len(corpus.feeds)):
        listing += [f"  - name: f{i}", f"    url: {feeds / f'f{i}.xml'}"]
    (root / "feeds.yaml").write_text("\n".join(listing) + "\n")
    warehouse = Warehouse(LakeConfig(str(root / "feeds.sqlite"), f"{root / 'lake'}/"))
    feed_list, hour = load_feed_list(root / "feeds.yaml"), current_hour_key()

    def one_run() -> None:
        archive.archive_feeds(warehouse, feed_list, [hour], FetchSettings(allow_local_files=True))
        parse.parse_range(warehouse, hour, hour)
        clean.clean_range(warehouse, feed_list, hour, hour)
        tags.tag_range(warehouse, feed_list, hour, hour)

    one_run()  # the cold import
    files_before = data_files(root)
    walls, cpus = [], []
    for _ in range(hours):
        corpus.mutate(0.05)
        write_feeds()
        wall, cpu = time.perf_counter(), time.process_time()
        one_run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    added = data_files(root) - files_before
    catalog_mb = (root / "feeds.sqlite").stat().st_size / 1e6
    warehouse.maintain("0 seconds")
    result = {
        "files_added": added,
        "files_per_hour": added / hours,
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "catalog_mb": catalog_mb,
        "files_after_maintenance": data_files(root),
    }
    warehouse.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--hours", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feeds_etl_inlining_") as tmp:
        results = {}
        for inline in (True, False):
            root = Path(tmp) / ("inlined" if inline else "parquet")
            results[inline] = run_setting(root, Corpus(args.feeds, 25, seed=11), args.hours, inline)
            shutil.rmtree(root)
    print(f"{args.feeds} feeds x 25 items, {args.hours} steady hours (5% of the feeds changed each)")
    print("| setting | data files added | per hour | median wall s | median CPU s | catalog MB | files after upkeep |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for inline, r in results.items():
        name = "inlining (< 100 rows in the catalog)" if inline else "no inlining (a file per write)"
        print(
            f"| {name} | {r['files_added']:.0f} | {r['files_per_hour']:.1f} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['catalog_mb']:.1f} | {r['files_after_maintenance']:.0f} |"
        )


if __name__ == "__main__":
    main()
