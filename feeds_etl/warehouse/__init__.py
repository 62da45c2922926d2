"""The lake: DuckLake on DuckDB (catalog + Parquet), its schema, bulk writes, readers and upkeep."""

from feeds_etl.warehouse.store import LakeConfig, LakeError, Warehouse, WarehouseBusy

__all__ = ["LakeConfig", "LakeError", "Warehouse", "WarehouseBusy"]
