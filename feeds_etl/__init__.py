"""feeds_etl: RSS, Atom and JSON feeds to clean, queryable tables in a DuckLake, orchestrated by Dagster."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

__version__ = "0.1.0"


def connect(read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection on the lake (FEEDS_ETL_CATALOG, FEEDS_ETL_DATA_PATH), every table, view and macro
    in use; see README "Querying"."""
    from feeds_etl.warehouse.readers import connect as connect_lake

    return connect_lake(read_only=read_only)
