"""The hourly partitions every asset shares: a partition is an ingestion hour (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
PARTITIONS_START = "2026-01-01-00:00"

# end_offset=1: the hour under way is a partition, so `make run` and the schedule ingest "now".
hourly_partitions = dg.HourlyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=1)
single_run_backfill = dg.BackfillPolicy.single_run()


def hour_key(moment: datetime) -> str:
    """The partition key of the hour containing `moment`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d-%H:00")


def current_hour_key() -> str:
    return hour_key(datetime.now(UTC))
