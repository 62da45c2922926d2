"""Bulk reads and writes through Arrow: tables registered for SQL, rows appended in one statement."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc


def _sql_string(text: str) -> str:
    """A quoted SQL string literal (ATTACH and CREATE SECRET take no parameters; values come from settings)."""
    return "'" + text.replace("'", "''") + "'"


sql_string = _sql_string


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """An Arrow table visible to SQL as `name` for the duration of the block."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


@contextmanager
def registered_ids(con: duckdb.DuckDBPyConnection, name: str, column: str, values: Iterable[str]) -> Iterator[None]:
    """A one-column Arrow table visible to SQL as `name`: the way to pass many ids (a list parameter costs
    about 0.1 ms per element to bind)."""
    with registered(con, name, pa.table({column: pa.array(list(values), pa.string())})):
        yield


def rows_at(con: duckdb.DuckDBPyConnection, table: str, columns: str, row_ids: pa.Array) -> list[tuple[Any, ...]]:
    """`columns` of the rows of `table` at `row_ids` (the lake's stable row ids, found by an earlier keys-only
    query), in row-id order. The scan reads only the files holding that stretch of rows: joining on keys instead
    would read every row's long columns (bodies, HTML). `table` and `columns` are ours, never user input."""
    if len(row_ids) == 0:
        return []
    with registered(con, "_rows_wanted", pa.table({"wanted_row": row_ids})):
        return con.execute(
            f"""SELECT {columns} FROM {table} SEMI JOIN _rows_wanted ON rowid = wanted_row
                WHERE rowid BETWEEN $first AND $last ORDER BY rowid""",
            {"first": pc.min(row_ids).as_py(), "last": pc.max(row_ids).as_py()},
        ).fetchall()


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]], schema: pa.Schema) -> int:
    """Bulk-load rows through Arrow (one INSERT ... SELECT), never row by row."""
    if not rows:
        return 0
    batch = pa.Table.from_pylist(list(rows), schema=schema)
    return insert_table(con, table, batch)


Tables = TypeVar("Tables")


def concat_fieldwise(batches: Sequence[Tables]) -> Tables:
    """One dataclass of Arrow tables from several (what workers hand back per slice): field by field."""
    first = batches[0]
    return type(first)(**{f.name: pa.concat_tables([getattr(b, f.name) for b in batches]) for f in fields(first)})


def insert_table(con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table) -> int:
    if batch.num_rows == 0:
        return 0
    view = f"_incoming_{table}"
    with registered(con, view, batch):
        columns = ", ".join(batch.column_names)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {view}")
    return batch.num_rows
