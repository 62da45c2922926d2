"""feeds_etl: RSS/Atom feeds to clean, queryable DuckDB tables, orchestrated by Dagster."""

__version__ = "0.1.0"
