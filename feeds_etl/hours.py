"""Partition keys as plain strings: an ingestion hour (UTC). Free of Dagster, so the pipeline and its worker
processes do not import it (a second per worker)."""

from __future__ import annotations

from datetime import UTC, datetime


def hour_key(moment: datetime) -> str:
    """The partition key of the hour containing `moment`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d-%H:00")


def current_hour_key() -> str:
    return hour_key(datetime.now(UTC))
