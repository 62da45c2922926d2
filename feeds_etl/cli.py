"""`make run` and `make backfill`: one Dagster run on the instance `make ui` shows, then a summary.
`make sql` and `make export`: the lake for readers. `make import-opml` / `make export-opml`: feed lists."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

# backfill_policy is marked beta in Dagster 1.13; the warning means nothing to someone typing `make run`.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from dagster._core.storage.tags import (  # noqa: E402
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from feeds_etl.feeds import FeedListError, load_feed_list  # noqa: E402
from feeds_etl.partitions import current_hour_key, hourly_partitions  # noqa: E402
from feeds_etl.warehouse import (  # noqa: E402
    LakeConfig,
    LakeError,
    Warehouse,
    readers,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feeds_etl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="materialize the hour under way (what the hourly schedule would run now)")
    backfill = commands.add_parser("backfill", help="re-derive an inclusive range of hours in one run")
    backfill.add_argument("--from", dest="first", required=True, help="first partition key, e.g. 2026-11-01-00:00")
    backfill.add_argument("--to", dest="last", required=True, help="last partition key, e.g. 2026-11-01-23:00")
    sql = commands.add_parser("sql", help="the DuckDB shell on the lake, read-only (or one query with --query)")
    sql.add_argument("--query", "-q", default="", help="run this one query, print the result and exit")
    export = commands.add_parser("export", help="write the whole lake into one standalone DuckDB file")
    export.add_argument("out", help="the DuckDB file to write, e.g. feeds.duckdb")
    import_opml = commands.add_parser("import-opml", help="add an OPML file's feeds to the YAML feed list")
    import_opml.add_argument("file", help="an OPML file exported from a feed reader")
    commands.add_parser("export-opml", help="print the feed list as OPML 2.0")
    worker = commands.add_parser("worker", help="one Celery worker in the foreground (FEEDS_ETL_EXECUTOR=celery)")
    worker.add_argument("--name", default=None, help="the worker's name in the UI (default feeds_etl-<pid>@host)")
    worker.add_argument("--concurrency", type=int, default=None, help="steps at once (FEEDS_ETL_WORKER_CONCURRENCY)")
    commands.add_parser("instance", help="write DAGSTER_HOME/dagster.yaml and migrate a PostgreSQL instance")
    args = parser.parse_args(argv)
    if args.command in {"worker", "instance"}:
        from feeds_etl import cluster

        try:
            if args.command == "instance":
                print(f"feeds_etl: Dagster instance in {cluster.prepare_home()} ({_storage_label()})")
                return 0
            return cluster.run_worker(args.name, args.concurrency)
        except ValueError as exc:
            print(f"feeds_etl: {exc}", file=sys.stderr)
            return 2
    if args.command == "sql":
        return sql_shell(args.query)
    if args.command == "export":
        return export_lake(args.out)
    if args.command in {"import-opml", "export-opml"}:
        from feeds_etl import opml

        return opml.import_command(args.file) if args.command == "import-opml" else opml.export_command()

    try:
        load_feed_list()  # a broken feed list is a clear message, not a stack trace, and writes nothing
    except FeedListError as exc:
        print(f"feeds_etl: {exc}", file=sys.stderr)
        return 2

    if args.command == "run":
        first = last = current_hour_key()
    else:
        try:
            first, last = validate_range(args.first, args.last)
        except ValueError as exc:
            print(f"feeds_etl: {exc}", file=sys.stderr)
            return 2
    return materialize(first, last)


def validate_range(first: str, last: str) -> tuple[str, str]:
    keys = set(hourly_partitions.get_partition_keys())
    for key in (first, last):
        if key not in keys:
            raise ValueError(
                f"{key!r} is not an hourly partition key (format YYYY-MM-DD-HH:00, "
                f"from {hourly_partitions.get_first_partition_key()} to the hour under way)"
            )
    if first > last:
        raise ValueError(f"FROM {first} is after TO {last}")
    return first, last


# Step-by-step DEBUG events belong in the UI; the terminal gets warnings and the summary.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _instance() -> dg.DagsterInstance:
    import fcntl

    from feeds_etl import cluster

    home = cluster.prepare_home()  # PostgreSQL storage when DAGSTER_POSTGRES_URL is set, migrated once
    # A fresh DAGSTER_HOME's SQLite storages are created by the first instance: two commands started together
    # (make run and make backfill) would both create their tables. One at a time.
    with (home / ".feeds_etl-instance.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance


def _storage_label() -> str:
    from feeds_etl import cluster

    url = cluster.postgres_url()
    return "PostgreSQL" if url else "SQLite files"


def _execute(instance: dg.DagsterInstance, partition_key: str | None, tags: dict[str, str]) -> Any:
    """In this process on one machine; on Celery, a real run whose steps the workers take, waited for here."""
    from feeds_etl import cluster
    from feeds_etl.definitions import defs

    if not cluster.on_celery():
        job = defs.resolve_job_def("feeds_hourly_job")
        return job.execute_in_process(
            run_config=QUIET_LOGS, instance=instance, partition_key=partition_key, tags=tags, raise_on_error=False
        )
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.storage.tags import PARTITION_NAME_TAG

    recon = ReconstructableRepository.for_module("feeds_etl.definitions", "defs").get_reconstructable_job(
        "feeds_hourly_job"
    )
    if partition_key is not None:
        tags = {**tags, PARTITION_NAME_TAG: partition_key}
    print(f"feeds_etl: steps go to the Celery workers on {cluster.broker_label()}", flush=True)
    return dg.execute_job(recon, instance=instance, run_config=QUIET_LOGS, tags=tags, raise_on_error=False)


def materialize(first: str, last: str) -> int:
    """One run over [first, last]; a single hour is a plain partition run, a range a single-run backfill."""
    tags = {}
    partition_key: str | None = first
    if first != last:
        partition_key = None
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    label = first if first == last else f"{first} .. {last}"
    print(f"feeds_etl: materializing {label} (DAGSTER_HOME={os.environ.get('DAGSTER_HOME', '')})")
    with _instance() as instance:
        try:
            result = _execute(instance, partition_key, tags)
        except ValueError as exc:  # FEEDS_ETL_EXECUTOR / FEEDS_ETL_BROKER / FEEDS_ETL_SHARDS not usable
            print(f"feeds_etl: {exc}", file=sys.stderr)
            return 2
        print_summary(result)
    return 0 if result.success else 1


def sql_shell(query: str) -> int:
    """The DuckDB CLI (from the duckdb-cli wheel) on the lake, read-only."""
    cli = Path(sys.executable).with_name("duckdb")
    try:
        command = readers.sql_shell_command(LakeConfig.from_env(), query or None, str(cli))
    except LakeError as exc:
        print(f"feeds_etl: {exc}", file=sys.stderr)
        return 2
    return subprocess.call(command)


def export_lake(out: str) -> int:
    target = Path(out).expanduser()
    try:
        counts = readers.export(target)
    except (LakeError, OSError, duckdb.Error) as exc:
        print(f"feeds_etl: export to {target} failed, nothing written: {exc}", file=sys.stderr)
        return 1
    rows = ", ".join(f"{table} {count:,}" for table, count in counts.items() if count and table != "_meta")
    print(f"feeds_etl: wrote {target} ({target.stat().st_size / 1e6:.1f} MB; DuckDB 1.2+ opens it, no extension)")
    print(f"  rows: {rows}")
    return 0


def _metadata(result: dg.ExecuteInProcessResult | dg.ExecutionResult, asset: str) -> dict[str, Any]:
    # By asset key, not node name: with shards, an asset's materialization comes from its final op.
    events = [
        event.step_materialization_data.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(asset)
    ]
    if not events:
        return {}
    return {key: getattr(value, "value", value) for key, value in events[-1].metadata.items()}


def print_summary(result: dg.ExecuteInProcessResult | dg.ExecutionResult) -> None:
    raw = _metadata(result, "raw_feed_xml")
    parsed = _metadata(result, "parsed_items")
    cleaned = _metadata(result, "cleaned_text")
    tagged = _metadata(result, "tag_aggregates")
    status = "succeeded" if result.success else "FAILED"
    print(f"run {result.run_id} {status}")
    if raw:
        print(
            f"  feeds: {raw.get('feeds_new_content', 0)} new content, {raw.get('feeds_unchanged', 0)} unchanged, "
            f"{raw.get('feeds_failed', 0)} failed, {raw.get('feeds_skipped', 0)} skipped"
        )
        if raw.get("note"):
            print(f"  archive: {raw['note']}")
    if parsed:
        print(
            f"  items: {parsed.get('new_items', 0)} new, {parsed.get('updated_items', 0)} updated, "
            f"{parsed.get('dagster/row_count', 0)} in total"
        )
    if cleaned:
        print(f"  text: {cleaned.get('items_cleaned', 0)} item(s) cleaned")
    config = LakeConfig.from_env()
    lake = Warehouse.opened(config)  # the run's own (in this process): no second DuckDB instance to start
    try:
        reading = lake.reading() if lake is not None else closing(readers.connect(read_only=True, config=config))
    except LakeError:
        reading = None
    if reading is not None:
        with reading as con:
            failing = con.execute(
                """SELECT feed_id, status, last_error FROM feed_health
                   WHERE in_feed_list AND last_error IS NOT NULL ORDER BY feed_id"""
            ).fetchall()
            for feed_id, feed_status, error in failing:
                print(f"  ! {feed_id} ({feed_status}): {error}")
            top = con.execute(
                "SELECT tag, sum(item_count) AS n FROM tag_counts GROUP BY tag ORDER BY n DESC, tag LIMIT 8"
            ).fetchall()
            if top:
                print("  top tags: " + ", ".join(f"{tag} ({n})" for tag, n in top))
            snapshot = con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]
    if tagged:
        print(f"  tags: {tagged.get('distinct_tags', 0)} distinct")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
                print(f"  step {event.step_key} failed: {_root_cause(event.step_failure_data.error)}")
    where = config.describe()
    if reading is not None:
        where += f", snapshot {snapshot}"
    print(f"  lake: {where}   (query: make sql)")


def _root_cause(error: Any) -> str:
    """The innermost error's message (Dagster wraps what the step raised in its own execution error)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip().splitlines()[-1] if error.message.strip() else "unknown error"


if __name__ == "__main__":
    raise SystemExit(main())
