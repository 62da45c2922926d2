"""DuckDB: schema, bulk writes, and publishing a consistent copy for readers."""

from feeds_etl.warehouse.store import Warehouse, WarehouseBusy

__all__ = ["Warehouse", "WarehouseBusy"]
