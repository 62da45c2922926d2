"""Where the data lives: a DuckLake (a catalog database plus Parquet files), read and written with DuckDB.

The same code serves a laptop and a cluster; only the catalog and the data path change (`LakeConfig`):
- a SQLite catalog and a local directory (the default, no server to start): writers take turns under an OS
  file lock beside the catalog, readers never wait (the catalog runs in WAL mode);
- a PostgreSQL catalog and S3 (or a local directory): writers take turns only around their short write
  transactions (a PostgreSQL advisory lock), so several machines can run steps at once.

Every write transaction is one lake snapshot. A reader's transaction sees one snapshot throughout, so an open
SQL session never makes a run wait or fail, and a run never makes a reader's query fail. A process killed in
the middle of a write leaves the last committed snapshot as it was; the Parquet files it had written belong
to no snapshot and are deleted by the daily maintenance.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from feeds_etl.warehouse.bulk import _sql_string
from feeds_etl.warehouse.errors import LakeError, scrubbed
from feeds_etl.warehouse.locks import FileLock, PostgresLock, writer_lock
from feeds_etl.warehouse.schema import SCHEMA_VERSION, SORTED_BY, TABLES, ddl_statements

LOCK_TIMEOUT_SECONDS = 3600.0
# An S3 endpoint that stops answering fails a request after (retries + 1) x timeout instead of DuckDB's default
# 4 x 30 s; the timeout bounds each socket operation, so a slow upload that keeps moving is not cut short.
S3_HTTP_TIMEOUT_SECONDS = 20
S3_HTTP_RETRIES = 2
# libpq waits on an unanswered connect as long as the OS does (minutes): a PostgreSQL catalog gets a bound unless
# its connection string sets one.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
# DuckDB would take up to 80% of RAM; a bound keeps the run's memory flat as the corpus grows (DuckDB spills to
# disk past it). Insertion order does not matter: every reader query orders what it needs.
ENGINE_CONFIG = {
    "memory_limit": "640MB",
    "preserve_insertion_order": False,
    # Nothing is ever downloaded: the extensions come from the duckdb-extension-* wheels (`load_extensions`).
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
# Long texts (feed bodies, HTML, cleaned text) are most of the lake: zstd Parquet keeps them small.
PARQUET_COMPRESSION = "zstd"
# Writes of fewer rows than this are kept in the catalog until the daily maintenance flushes them into Parquet:
# a steady hour's small writes then leave no tiny files behind (`maintenance` merges the rest). Never for the
# tables of long texts: the catalog would hold feed bodies and HTML uncompressed.
DATA_INLINING_ROW_LIMIT = 100
NOT_INLINED = ("feed_snapshots", "item_versions", "item_text", "article_pages")
DEFAULT_CATALOG = "data/feeds.sqlite"
DEFAULT_DATA_PATH = "data/lake/"
LAKE = "lake"  # the alias the lake is attached under in every connection


@dataclass(frozen=True)
class LakeConfig:
    """Where the lake lives: `catalog` is a SQLite path or `postgres:<libpq string>`; `data_path` a local
    directory or `s3://bucket/prefix/`."""

    catalog: str
    data_path: str

    @property
    def on_postgres(self) -> bool:
        return self.catalog.startswith("postgres:")

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    @property
    def catalog_path(self) -> Path | None:
        return None if self.on_postgres else Path(self.catalog)

    @property
    def postgres_conninfo(self) -> str:
        """The libpq string of a PostgreSQL catalog, with a connect timeout unless it names one."""
        conninfo = self.catalog.removeprefix("postgres:").strip()
        if "connect_timeout" not in conninfo and "://" not in conninfo:
            conninfo = f"{conninfo} connect_timeout={POSTGRES_CONNECT_TIMEOUT_SECONDS}".strip()
        return conninfo

    def describe(self) -> str:
        catalog = "PostgreSQL catalog " + _without_password(self.catalog) if self.on_postgres else self.catalog
        return f"{catalog}, data in {self.data_path}"

    @classmethod
    def from_env(cls) -> LakeConfig:
        """FEEDS_ETL_CATALOG and FEEDS_ETL_DATA_PATH; relative paths are relative to the repository."""
        from feeds_etl.feeds import resolve_repo_path

        catalog = os.environ.get("FEEDS_ETL_CATALOG") or DEFAULT_CATALOG
        if not catalog.startswith("postgres:"):
            catalog = str(resolve_repo_path(catalog))
        data_path = os.environ.get("FEEDS_ETL_DATA_PATH") or DEFAULT_DATA_PATH
        if not data_path.startswith("s3://"):
            data_path = str(resolve_repo_path(data_path)).rstrip("/") + "/"
        return cls(catalog, data_path)

    def attach_sql(self, read_only: bool) -> str:
        options = [f"DATA_PATH {_sql_string(self.data_path)}"]
        if not self.on_postgres:
            # WAL: a reader holding a transaction open never makes a writer's commit fail ("database is locked").
            options.append("META_JOURNAL_MODE 'WAL'")
        if read_only:
            options.append("READ_ONLY")
        target = f"postgres:{self.postgres_conninfo}" if self.on_postgres else f"sqlite:{self.catalog}"
        return f"ATTACH {_sql_string('ducklake:' + target)} AS {LAKE} ({', '.join(options)})"


def _without_password(catalog: str) -> str:
    return " ".join("password=***" if part.lower().startswith("password=") else part for part in catalog.split())


# -- extensions, offline ----------------------------------------------------------------------------------

# name -> (module of its duckdb-extension-* wheel, file inside it)
EXTENSIONS = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
    "sqlite": ("duckdb_extension_sqlite", "sqlite"),
    "postgres": ("duckdb_extension_postgres", "postgres"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
    "fts": ("duckdb_extension_fts", "fts"),
}


def extension_file(name: str) -> Path:
    """The extension's file inside its PyPI wheel, for the running DuckDB version."""
    import importlib

    module_name, file_name = EXTENSIONS[name]
    module = importlib.import_module(module_name)
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{file_name}.duckdb_extension"
    if not path.exists():
        raise LakeError(f"DuckDB extension {name} for duckdb {duckdb.__version__} not found at {path}; reinstall")
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """LOAD each extension, installing it from its wheel first when DuckDB does not have it yet (offline)."""
    for name in names:
        try:
            con.execute(f"LOAD {name}")
        except duckdb.Error:
            # Loading by path fails for sqlite (its entry point is sqlite_scanner): install, then load by name.
            con.execute(f"INSTALL {_sql_string(str(extension_file(name)))}")
            con.execute(f"LOAD {name}")


def needed_extensions(config: LakeConfig) -> list[str]:
    return ["ducklake", "postgres" if config.on_postgres else "sqlite", *(["httpfs"] if config.on_s3 else [])]


def s3_secret_sql(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """An S3 secret from the standard AWS variables (an http:// endpoint means no TLS and path-style URLs)."""
    options = ["TYPE s3"]
    for variable, option in (
        ("AWS_ACCESS_KEY_ID", "KEY_ID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_SESSION_TOKEN", "SESSION_TOKEN"),
        ("AWS_REGION", "REGION"),
    ):
        if environ.get(variable):
            options.append(f"{option} {_sql_string(environ[variable])}")
    endpoint = environ.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        plain = endpoint.startswith("http://")
        host = endpoint.split("://", 1)[-1].rstrip("/")
        options += [f"ENDPOINT {_sql_string(host)}", f"USE_SSL {'false' if plain else 'true'}"]
        if plain:
            options.append("URL_STYLE 'path'")
    return f"CREATE OR REPLACE SECRET feeds_etl_s3 ({', '.join(options)})"


def open_lake(config: LakeConfig, read_only: bool, engine: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A new DuckDB instance with the lake attached as `lake` and in use; errors name what failed."""
    con = duckdb.connect(config={**ENGINE_CONFIG, **(engine or {})})
    try:
        load_extensions(con, needed_extensions(config))
        if config.on_s3:
            con.execute(s3_secret_sql())
            # GLOBAL: a plain SET holds for this connection only, not for the cursors steps work through.
            con.execute(f"SET GLOBAL http_timeout = {S3_HTTP_TIMEOUT_SECONDS}")
            con.execute(f"SET GLOBAL http_retries = {S3_HTTP_RETRIES}")
            _check_s3_data_path(con, config)
        path = config.catalog_path
        if path is not None and read_only and not path.exists():
            raise LakeError(f"no lake at {path} yet: run `make run` first (FEEDS_ETL_CATALOG)")
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            if not config.on_s3 and not read_only:
                Path(config.data_path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LakeError(f"cannot create the lake ({config.describe()}): {exc}") from None
        try:
            con.execute(config.attach_sql(read_only))
        except duckdb.Error as exc:
            if not (config.on_postgres and _missing_database(exc)):
                raise LakeError(f"cannot open the lake catalog ({config.describe()}): {_catalog_reason(exc)}") from None
            if read_only:
                raise LakeError(f"no lake yet ({config.describe()}): run `make run` first") from None
            create_postgres_database(config)
            try:
                con.execute(config.attach_sql(read_only))
            except duckdb.Error as retry_exc:
                raise LakeError(
                    f"cannot open the lake catalog ({config.describe()}): {_catalog_reason(retry_exc)}"
                ) from None
        con.execute(f"USE {LAKE}")
        con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: the cursors the steps use share it
        return con
    except BaseException:
        con.close()
        raise


def _check_s3_data_path(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> None:
    """One listing under the data path (a prefix no file has: cheap at any lake size), so that a wrong endpoint,
    bucket or key is an error naming them before anything is written."""
    try:
        con.execute("SELECT count(*) FROM glob(?)", [config.data_path.rstrip("/") + "/.feeds_etl_probe*"]).fetchall()
    except duckdb.Error as exc:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS"
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = "; ".join(line for line in lines[:3] if not line.startswith(("LINE ", "^", "Authentication Failure")))
        raise LakeError(f"cannot use the S3 data path {config.data_path} (endpoint {endpoint}): {reason}") from None


def _catalog_reason(exc: duckdb.Error) -> str:
    """What libpq or SQLite said, without DuckDB's framing and without a password."""
    message = scrubbed(str(exc))
    found = re.search(r'Unable to connect to Postgres at ".*?": (.*)', message, re.DOTALL)
    if found:
        return " ".join(found.group(1).split())
    return _first_line(Exception(message))


def _missing_database(exc: duckdb.Error) -> bool:
    return bool(re.search(r'FATAL:\s+database ".*" does not exist', str(exc)))


def create_postgres_database(config: LakeConfig) -> None:
    """The catalog's database, created on the first write as a SQLite catalog's file is: through the server's
    `postgres` database, with the catalog's own credentials (which need CREATEDB)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    conninfo = config.postgres_conninfo
    name = conninfo_to_dict(conninfo).get("dbname")
    if not name:
        raise LakeError(f"the {config.describe()} names no database (dbname=...)")
    try:
        with psycopg.connect(make_conninfo(conninfo, dbname="postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        pass  # another writer created it first
    except psycopg.Error as exc:
        raise LakeError(
            f"the database {name} of the {config.describe()} does not exist and could not be created "
            f"({scrubbed(_first_line(exc))}): create it, e.g. `createdb {name}`"
        ) from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- the writer ------------------------------------------------------------------------------------------


class Warehouse:
    """The lake as the pipeline sees it: one DuckDB instance per process, connections handed out per step."""

    _instances: ClassVar[dict[LakeConfig, Warehouse]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls, config: LakeConfig) -> Warehouse:
        # One DuckDB instance per lake and process: attaching costs a fraction of a second, and a step's
        # reads, batches and metadata queries all go through it.
        with cls._instances_lock:
            existing = cls._instances.get(config)
            if existing is None or existing._pid != os.getpid():
                existing = super().__new__(cls)
                existing._init(config)
                cls._instances[config] = existing
            return existing

    def _init(self, config: LakeConfig) -> None:
        self.config = config
        self._pid = os.getpid()
        self._engine: duckdb.DuckDBPyConnection | None = None
        self._engine_lock = threading.Lock()
        self._lock = writer_lock(config)

    def _base(self) -> duckdb.DuckDBPyConnection:
        if self._engine is not None:
            return self._engine
        # Opening creates the catalog and the schema of a new lake: processes starting at once take turns (on
        # PostgreSQL, two DuckLake initialisations at once collide on the catalog's tables). The writer lock
        # (re-entrant) is always taken before the engine lock, never after.
        with self._lock.held(), self._engine_lock:
            if self._engine is None:
                engine = open_lake(self.config, read_only=False)
                try:
                    migrate(engine)
                except duckdb.Error as exc:
                    engine.close()
                    raise LakeError(f"cannot prepare the lake ({self.config.describe()}): {_first_line(exc)}") from None
                self._engine = engine
            return self._engine

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        con = self._base().cursor()
        con.execute(f"USE {LAKE}")
        return con

    @classmethod
    def opened(cls, config: LakeConfig) -> Warehouse | None:
        """This process's open instance of the lake, if it has one (None: opening it is the caller's choice)."""
        with cls._instances_lock:
            existing = cls._instances.get(config)
        if existing is None or existing._pid != os.getpid() or existing._engine is None:
            return None
        return existing

    @classmethod
    def close_all(cls) -> None:
        """Close every lake this process opened (tests, and a process about to exit)."""
        with cls._instances_lock:
            instances = list(cls._instances.values())
            cls._instances.clear()
        for warehouse in instances:
            warehouse.close()

    def close(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    # -- sessions ---------------------------------------------------------------------------------

    @contextmanager
    def _connection(self, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._cursor()
        try:
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            yield con
        finally:
            con.close()

    @contextmanager
    def reading(self, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for reads, in one transaction: every read sees the same committed snapshot (no lock:
        readers never wait). See `Session.reading` for what one transaction saves."""
        with self._connection(threads) as con, transaction(con):
            yield con

    @contextmanager
    def writing(self, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction, committed as one lake snapshot, under the writer lock."""
        with self._lock.held(), self._connection(threads) as con, transaction(con):
            yield con

    @contextmanager
    def session(self, threads: int | None = None) -> Iterator[Session]:
        """A step's batches on one connection: reads take no lock, each write transaction takes the writer lock
        (so steps on other machines, or another run, read and compute at the same time and take turns only to
        commit; every write re-reads what it depends on inside its transaction)."""
        with self._connection(threads) as con:
            yield Session(con, self._lock)

    def import_legacy(self, database: Path) -> dict[str, int] | None:
        """A warehouse of the first design imported once, in one transaction (see `legacy`)."""
        from feeds_etl.warehouse import legacy

        if not database.is_file():
            return None
        with self._lock.held(), self._connection() as con:
            return legacy.import_once(con, database)

    def maintain(self, retention: str) -> Maintenance:
        """DuckLake's own upkeep, under the writer lock (so no write is under way whose files are not yet in the
        catalog): inlined rows flushed to Parquet, adjacent small files merged, snapshots older than `retention`
        (an interval, e.g. '30 days') expired, then the files nothing refers to any more deleted."""
        with self._lock.held(), self._connection() as con:
            before = _storage_usage(con, self.config)
            steps = [
                f"CALL ducklake_flush_inlined_data('{LAKE}')",
                f"CALL ducklake_merge_adjacent_files('{LAKE}')",
                f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now() - CAST(? AS INTERVAL))",
                f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)",
                f"CALL ducklake_delete_orphaned_files('{LAKE}', cleanup_all => true)",
            ]
            for step in steps:
                con.execute(step, [retention] if "?" in step else [])
            after = _storage_usage(con, self.config)
            snapshots = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE}')").fetchone()[0]
        return Maintenance(before, after, snapshots)

    def snapshot_id(self) -> int | None:
        """The latest committed snapshot: what the tables look like after a run."""
        with self.reading() as con:
            row = con.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots('{LAKE}')").fetchone()
        return row[0] if row else None


@dataclass(frozen=True)
class StorageUsage:
    files: int  # data and delete files the catalog lists, plus any others in a local data path
    bytes: int


@dataclass(frozen=True)
class Maintenance:
    before: StorageUsage
    after: StorageUsage
    snapshots_kept: int


def _storage_usage(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> StorageUsage:
    files, size = con.execute(
        f"""SELECT coalesce(sum(file_count + delete_file_count), 0),
                   coalesce(sum(file_size_bytes + delete_file_size_bytes), 0)
            FROM ducklake_table_info('{LAKE}')"""
    ).fetchone()
    if not config.on_s3:  # on local disk, files no snapshot refers to (a killed run's) count too
        paths = [Path(root) / name for root, _, names in os.walk(config.data_path) for name in names]
        files, size = len(paths), sum(path.stat().st_size for path in paths if path.exists())
    return StorageUsage(int(files), int(size))


class Session:
    """One connection for a step's reads and writes (`Warehouse.session`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, lock: FileLock | PostgresLock) -> None:
        self._con, self._lock = con, lock

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Reads in one transaction. Outside one, every statement (registering an Arrow table included) is a
        transaction of its own that first reads the lake's snapshot and schema from the catalog again."""
        with transaction(self._con):
            yield self._con

    def as_writer(self) -> None:
        """All cores from now on: for the set-based work that follows a step's batches, once the worker
        processes no longer need them."""
        self.use_threads(os.cpu_count() or 1)

    def use_threads(self, threads: int) -> None:
        self._con.execute(f"SET threads = {int(threads)}")

    @contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction under the writer lock, committed as one lake snapshot."""
        with self._lock.held(), transaction(self._con):
            yield self._con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT (one lake snapshot), or roll back. A commit that fails leaves nothing visible."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    try:
        con.commit()
    except duckdb.Error as exc:
        # DuckLake retries its own commit conflicts; what reaches us failed for good, and nothing of the
        # transaction is visible.
        raise LakeError(f"commit to the lake failed: {_first_line(exc)}") from exc


# -- schema --------------------------------------------------------------------------------------------


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Create or update the schema; cheap when it is already current."""
    try:
        row = con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        row = None
    if row and int(row[0]) == SCHEMA_VERSION:
        return
    with transaction(con):
        con.execute(f"CALL {LAKE}.set_option('parquet_compression', '{PARQUET_COMPRESSION}')")
        if row is None:  # a new lake only: on a lake holding data, DuckLake 1.5.5 crashes (segfault) setting it again
            con.execute(f"CALL {LAKE}.set_option('data_inlining_row_limit', {DATA_INLINING_ROW_LIMIT})")
        statements = ddl_statements()
        tables = [statement for statement in statements if statement.startswith("CREATE TABLE")]
        for statement in tables:
            con.execute(statement)
        _add_new_columns(con)  # before the views, which may read the new columns
        for table, keys in SORTED_BY.items():
            con.execute(f"ALTER TABLE {table} SET SORTED BY ({keys})")
        for statement in statements[len(tables) :]:
            con.execute(statement)
        set_meta(con, "schema_version", str(SCHEMA_VERSION))
    with transaction(con):  # per-table options need the tables committed first
        for table in NOT_INLINED:
            con.execute(f"CALL {LAKE}.set_option('data_inlining_row_limit', 0, table_name => '{table}')")
        for table in SORTED_BY:  # sorted when the daily maintenance merges files: a run's writes stay cheap
            con.execute(f"CALL {LAKE}.set_option('sort_on_insert', false, table_name => '{table}')")


def _add_new_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Columns added to a table's DDL after the table was created (such columns are nullable: ADD COLUMN takes
    a DEFAULT but no NOT NULL)."""
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ?", [LAKE]
    ).fetchall():
        existing.setdefault(table, set()).add(column)
    for table, columns in TABLES.items():
        for line in columns.strip().splitlines():
            definition = line.strip().rstrip(",")
            if definition.split()[0] not in existing.get(table, set()):
                con.execute(f"ALTER TABLE {table} ADD COLUMN {definition}")


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM _meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """An upsert into `_meta` (DuckLake has no primary keys)."""
    con.execute("DELETE FROM _meta WHERE key = ?", [key])
    con.execute("INSERT INTO _meta VALUES (?, ?)", [key, value])
