"""How users read the lake: `feeds_etl.connect()`, `make sql` and `make export`."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from feeds_etl.warehouse.bulk import sql_string
from feeds_etl.warehouse.errors import LakeError
from feeds_etl.warehouse.schema import TABLES, ddl_statements
from feeds_etl.warehouse.store import LAKE, LakeConfig, needed_extensions, open_lake, s3_secret_sql

# The storage format of an export: readable by DuckDB 1.2 and later.
EXPORT_STORAGE_VERSION = "v1.2.0"


def connect(read_only: bool = True, config: LakeConfig | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached and in use: every table, view and macro of the schema, the
    extensions loaded from their wheels (offline). Each transaction sees one snapshot; the next sees the latest
    commit. Writers use the pipeline; `read_only=False` is for maintenance by hand."""
    return open_lake(config or LakeConfig.from_env(), read_only=read_only)


def shell_init_sql(config: LakeConfig, read_only: bool = True) -> str:
    """What the DuckDB CLI runs first for `make sql`: the extensions (installed from the wheels if need be)
    and the lake attached read-only and in use."""
    from feeds_etl.warehouse.store import extension_file

    lines = [f"INSTALL {sql_string(str(extension_file(name)))};" for name in needed_extensions(config)]
    lines += [f"LOAD {name};" for name in needed_extensions(config)]
    if config.on_s3:
        lines.append(s3_secret_sql() + ";")
    lines += [config.attach_sql(read_only) + ";", f"USE {LAKE};", "SET TimeZone = 'UTC';"]
    return "\n".join(lines) + "\n"


def sql_shell_command(config: LakeConfig, query: str | None, duckdb_cli: str) -> list[str]:
    """The DuckDB CLI on the lake, read-only: interactive, or one query printed (`make sql Q=...`)."""
    if config.catalog_path is not None and not config.catalog_path.exists():
        raise LakeError(f"no lake at {config.catalog_path} yet: run `make run` first (FEEDS_ETL_CATALOG)")
    command = [duckdb_cli]
    for statement in shell_init_sql(config).splitlines():
        command += ["-cmd", statement]
    if query:
        command += ["-c", query]
    return command


def export(out: Path, config: LakeConfig | None = None) -> dict[str, int]:
    """Every table, view and macro into one standalone DuckDB file that DuckDB 1.2+ opens with no extension.
    Written under a temporary name and renamed when complete; returns rows per table."""
    config = config or LakeConfig.from_env()
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    con = open_lake(config, read_only=True)
    counts: dict[str, int] = {}
    try:
        con.execute(f"ATTACH {sql_string(str(partial))} AS export (STORAGE_VERSION '{EXPORT_STORAGE_VERSION}')")
        con.execute("BEGIN")  # one snapshot of the lake for every table
        for table in [*TABLES, "_meta"]:
            con.execute(f"CREATE TABLE export.{table} AS SELECT * FROM {LAKE}.{table}")
            counts[table] = con.execute(f"SELECT count(*) FROM export.{table}").fetchone()[0]
        con.execute("COMMIT")
        con.execute("USE export")
        # Views and macros name their tables unqualified: created here, they read the export's own tables.
        for statement in ddl_statements():
            if statement.startswith("CREATE OR REPLACE"):
                con.execute(statement)
        con.execute(f"USE {LAKE}")
        con.execute("DETACH export")
    except BaseException:
        con.close()
        partial.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(partial, out)
    return counts
