"""Daily upkeep of the lake, as its own job and schedule (RUNNING by default, like the hourly one)."""

import os

import dagster as dg

from feeds_etl.resources import WarehouseResource

DEFAULT_RETENTION = "30 days"


def snapshot_retention() -> str:
    """FEEDS_ETL_SNAPSHOT_RETENTION: how long past snapshots stay readable (`AT (VERSION => n)`)."""
    return os.environ.get("FEEDS_ETL_SNAPSHOT_RETENTION") or DEFAULT_RETENTION


@dg.op(
    description=(
        "DuckLake's upkeep: flush rows inlined in the catalog into Parquet, merge adjacent small files, expire "
        "snapshots older than FEEDS_ETL_SNAPSHOT_RETENTION, delete files nothing refers to (a killed run's too)."
    )
)
def maintain_lake(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> dg.Output[None]:
    retention = snapshot_retention()
    done = warehouse.get().maintain(retention)
    before, after = done.before, done.after
    context.log.info(f"files {before.files} -> {after.files}, {before.bytes:,} -> {after.bytes:,} bytes")
    return dg.Output(
        None,
        metadata={
            "files_before": before.files,
            "files_after": after.files,
            "mb_before": round(before.bytes / 1e6, 2),
            "mb_after": round(after.bytes / 1e6, 2),
            "snapshots_kept": done.snapshots_kept,
            "snapshot_retention": retention,
        },
    )


@dg.job(description="Lake upkeep (daily; safe any time: it waits for the writer lock).")
def maintain_lake_job() -> None:
    maintain_lake()


# 03:40 UTC, away from the hourly run at minute 5.
daily_maintenance_schedule = dg.ScheduleDefinition(
    name="daily_lake_maintenance",
    job=maintain_lake_job,
    cron_schedule="40 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Merge small files, expire old snapshots and delete unreferenced files once a day.",
)
