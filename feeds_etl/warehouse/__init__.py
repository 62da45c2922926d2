"""The lake: DuckLake on DuckDB (catalog + Parquet), its schema, bulk writes, readers and upkeep."""

from feeds_etl.warehouse.errors import LakeError, WarehouseBusy
from feeds_etl.warehouse.store import LakeConfig, Warehouse

__all__ = ["LakeConfig", "LakeError", "Warehouse", "WarehouseBusy"]
