"""Daily upkeep of the warehouse, as its own job and schedule (RUNNING by default, like the hourly one)."""

from datetime import UTC, datetime

import dagster as dg

from feeds_etl.resources import WarehouseResource


@dg.op(
    description=(
        "Compact the DuckDB file: merge the small row groups hourly runs append and drop deleted rows. Hourly "
        "checkpoints skip this so their cost follows what changed, not the size of the archive."
    )
)
def compact_warehouse(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> dg.Output[None]:
    compaction = warehouse.get().compact(datetime.now(UTC))
    if compaction is None:
        context.log.info("no database yet: nothing to compact")
        return dg.Output(None, metadata={"row_groups_before": 0, "row_groups_after": 0})
    before, after = sum(compaction.row_groups_before.values()), sum(compaction.row_groups_after.values())
    context.log.info(f"row groups {before} -> {after}")
    merged = {
        table: f"{count} -> {compaction.row_groups_after.get(table, 0)}"
        for table, count in compaction.row_groups_before.items()
        if count != compaction.row_groups_after.get(table, 0)
    }
    return dg.Output(
        None,
        metadata={
            "row_groups_before": before,
            "row_groups_after": after,
            "tables_compacted": dg.MetadataValue.json(merged),
            "file_mb": round(compaction.file_bytes / 1e6, 1),
        },
    )


@dg.job(description="Compact the warehouse (daily; safe to run any time: it waits for the writer lock).")
def compact_warehouse_job() -> None:
    compact_warehouse()


# 03:40 UTC, away from the hourly run at minute 5.
daily_compaction_schedule = dg.ScheduleDefinition(
    name="daily_compaction",
    job=compact_warehouse_job,
    cron_schedule="40 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Compact the warehouse once a day.",
)
