"""Where the data lives, and how writers and readers stay out of each other's way.

DuckDB lets one process write a file, and that process's lock also shuts out readers. So the pipeline
writes a private working database (`<dir>/.work/<name>`), one writer at a time under an OS file lock,
and after each successful run publishes a copy over the database users query, with an atomic rename.
A reader holding the old file keeps reading it undisturbed; new connections see the new one. Nothing the
pipeline does ever opens the published file, so an open SQL session can never make a run fail. The copy
is made incrementally into the generation before last (`.<name>.standby`) when nobody reads that any more.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from feeds_etl.warehouse.schema import (
    SCHEMA_VERSION,
    UPGRADES,
    UPGRADES_BEFORE_DDL,
    ddl_statements,
)

LOCK_TIMEOUT_SECONDS = 3600.0
# DuckDB would take up to 80% of RAM; a bound keeps the run's memory flat as the corpus grows (DuckDB
# spills to disk past it). Insertion order does not matter: every reader query orders what it needs.
#
# No vacuum on routine checkpoints: DuckDB's vacuum merges the small row group each hourly append creates into
# the one before it, rewriting both, so every hour would rewrite the archive's latest bodies (2.9 s of a
# 1,000-feed steady hour, growing with the archive). Wholly deleted row groups are still dropped without it;
# `Warehouse.compact` (the daily maintenance job) merges the small row groups and partly deleted ones.
WRITER_CONFIG = {"memory_limit": "640MB", "preserve_insertion_order": False, "max_vacuum_tasks": 0}
# A session (`Warehouse.session`) keeps what it read cached between batches; a smaller bound keeps that cache
# from adding the full writer's bound to a run's memory (256 MB was as fast as 640 MB on a 1,000-feed import,
# with 110 MB less RSS). Batches are bounded in size (32 MB), well within it.
SESSION_CONFIG = {**WRITER_CONFIG, "memory_limit": "256MB"}
COMPACT_CONFIG = {**WRITER_CONFIG, "max_vacuum_tasks": 10_000}
# The storage format of a new database file: the first with ZSTD-compressed strings (schema.TABLES), readable by
# DuckDB 1.2 and later. A file made by an earlier version keeps its format: attaching it with this option would
# convert it in place, and older DuckDB versions could then no longer read it.
NEW_FILE_STORAGE_VERSION = "v1.2.0"


class WarehouseBusy(RuntimeError):
    """Another writer held the lock for longer than we are prepared to wait."""


class Warehouse:
    """The published database users query plus the private working copy the pipeline writes."""

    def __init__(self, database: str | os.PathLike[str]) -> None:
        self.database = Path(database).resolve()
        self.work_dir = self.database.parent / ".work"
        self.work_database = self.work_dir / self.database.name
        self.lock_path = self.work_dir / f"{self.database.name}.lock"

    # -- sessions ---------------------------------------------------------------------------------

    @contextmanager
    def reading(self, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The working database under the writer lock, for reads that must see the latest state.
        `threads`: DuckDB's, when fewer than the cores (e.g. beside worker processes that use them)."""
        with self._locked(), self._connect(threads=threads) as con:
            yield con

    @contextmanager
    def writing(self, publish: bool = True, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on the working database; on success it is published for readers.

        A crash (even kill -9) before the checkpoint that follows COMMIT leaves the previous state (there is
        no WAL to replay, see `_connect`) and the published file was never touched.
        """
        with self._locked():
            with self._connect(threads=threads) as con, _transaction(con):
                yield con
            if publish:
                self._publish()

    @contextmanager
    def session(self, threads: int | None = None) -> Iterator[Session]:
        """The working database held open for many short reads and writes (a step's batches): one lock and one
        connection throughout. A connection per batch costs its opening and closing, and reads from a cold cache
        (reading a batch of HTML took twice as long). Nothing is published; other writers wait for the lock."""
        with self._locked(), self._connect(SESSION_CONFIG, threads=threads) as con:
            yield Session(con)

    def compact(self, now: datetime) -> Compaction | None:
        """Merge small and partly deleted row groups (a checkpoint with vacuum on), then publish.
        None before the first run: there is nothing to compact."""
        with self._locked():
            if not self.work_database.exists():
                return None
            with self._connect(COMPACT_CONFIG) as con:
                before = _row_groups(con)
                # Vacuum runs in a checkpoint that has something to write: the timestamp is that something.
                con.execute("INSERT OR REPLACE INTO _meta VALUES ('compacted_at', ?)", [now.isoformat()])
                con.execute("CHECKPOINT")
                after = _row_groups(con)
            self._publish()
            return Compaction(before, after, self.work_database.stat().st_size)

    def upgrade_storage(self) -> StorageUpgrade | None:
        """Rewrite a database made before NEW_FILE_STORAGE_VERSION in that format, then publish it: every row
        copied, the long texts ZSTD-compressed (a 1,000-feed archive takes a sixth of the space). Opt-in, because
        DuckDB before 1.2 cannot read the result. None before the first run; a file already in the format (or a
        newer one) is left as it is."""
        with self._locked():
            if not self.work_database.exists():
                return None
            size = self.work_database.stat().st_size
            with self._connect() as con:  # the schema brought up to date, as for any run
                before = storage_version(con)
            if _version(before) >= _version(NEW_FILE_STORAGE_VERSION):
                return StorageUpgrade(before, before, size, size)
            staging = self.work_database.with_name(f"{self.work_database.name}.upgrading")
            staging.unlink(missing_ok=True)
            try:
                self._copy_into_new_format(staging)
                os.replace(staging, self.work_database)  # only once every table was copied and counted
            finally:
                staging.unlink(missing_ok=True)
            with self._connect() as con:
                after = storage_version(con)
            self._publish()
            return StorageUpgrade(before, after, size, self.work_database.stat().st_size)

    def publish(self) -> None:
        """Publish the working database now (e.g. so a failing run's feed errors are visible in SQL)."""
        with self._locked():
            if self.work_database.exists():
                self._publish()

    @contextmanager
    def published(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection to what users see (None before the first publish); takes no lock."""
        if not self.database.exists():
            yield None
            return
        con = duckdb.connect(str(self.database), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    # -- internals --------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a+") as handle:
            deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseBusy(f"{self.lock_path}: another writer held the lock too long") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _connect(
        self, config: dict[str, Any] = WRITER_CONFIG, threads: int | None = None, database: Path | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The working database (or `database`, opened the same way), its schema up to date, as `work`."""
        path = database or self.work_database
        # Spills go beside the working database, as they did when it was the connection's own database.
        settings = {**config, "temp_directory": f"{self.work_database}.tmp"}
        if threads:
            settings["threads"] = threads
        con = duckdb.connect(config=settings)
        try:
            # No WAL: every write transaction is checkpointed as soon as it commits (`writing`), so the WAL would
            # only hold each batch a second time (2 s of a 1,000-feed first import). A kill before the
            # checkpoint completes leaves the previous checkpoint, as a kill before COMMIT always did.
            storage = "" if path.exists() else f", STORAGE_VERSION '{NEW_FILE_STORAGE_VERSION}'"
            con.execute(f"ATTACH {_sql_string(path)} AS work (RECOVERY_MODE no_wal_writes{storage})")
            con.execute("USE work")
            con.execute("SET TimeZone = 'UTC'")
            migrate(con)
            yield con
        finally:
            con.close()

    def _copy_into_new_format(self, target: Path) -> None:
        """Every table of the working database into a new file at `target`, made with the current schema (which
        declares the long texts' compression) in NEW_FILE_STORAGE_VERSION, in the same row order."""
        with self._connect({**COMPACT_CONFIG, "preserve_insertion_order": True}, database=target) as con:
            con.execute(f"ATTACH {_sql_string(self.work_database)} AS old (READ_ONLY)")
            made = _table_names(con, "work")
            for name in _table_names(con, "old"):
                table = _sql_name(name)
                if name in made:  # by column name: columns added by upgrades sit last in an old file
                    con.execute(f"DELETE FROM work.{table}")  # _meta's schema_version, written by migrate
                    con.execute(f"INSERT INTO work.{table} BY NAME SELECT * FROM old.{table}")
                else:  # not ours, but nothing in the file is left behind
                    con.execute(f"CREATE TABLE work.{table} AS SELECT * FROM old.{table}")
                stored = con.execute(f"SELECT count(*) FROM old.{table}").fetchone()[0]
                copied = con.execute(f"SELECT count(*) FROM work.{table}").fetchone()[0]
                if copied != stored:
                    raise RuntimeError(f"upgrade stopped: {name} has {stored} rows, the copy {copied}")
            con.execute("CHECKPOINT")

    def _publish(self) -> None:
        """Bring the standby file up to date with the working one, then rename it over the published one.

        The standby is the generation published before the current one. When nobody has it open (DuckDB holds
        a lock on every file it reads), only the chunks that differ from the working file are rewritten, a
        few MB after an hourly run instead of a copy of the whole file; otherwise a fresh copy takes its name
        and the reader keeps its file. The replaced generation becomes the next standby.
        """
        self.database.parent.mkdir(parents=True, exist_ok=True)
        standby = self.database.with_name(f".{self.database.name}.standby")
        leftovers = list(self.database.parent.glob(f".{self.database.name}.retired-*"))  # older versions, killed runs
        # No fsync: the rename is atomic for readers either way, and durability lives in the working
        # database; after a power cut the next successful run publishes again.
        if not _sync_unread(self.work_database, standby):
            self._copy_working_to(standby)
        previous = self.database.with_name(f".{self.database.name}.retired-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.link(self.database, previous)  # a second name, so the replaced generation lives on as the standby
        except OSError:  # no published file yet, or a filesystem without hard links
            previous = None
        os.replace(standby, self.database)
        # After the first publish there is no standby: the second publish copies, as with a busy standby. A copy
        # ahead would cost a 1,000-feed first import 0.4-1.5 s, and saves little: copying 750 MB takes about as
        # long as comparing the two files.
        if previous is not None:
            os.replace(previous, standby)
        # Freeing a GB-sized file's blocks takes ext4 about a second: do it beside the rest of the run.
        threading.Thread(target=_unlink_all, args=(leftovers,), name="feeds-etl-unlink").start()
        # A stale WAL beside the published file would be replayed into the new one by the next opener.
        Path(f"{self.database}.wal").unlink(missing_ok=True)

    def _copy_working_to(self, target: Path) -> None:
        """A full copy under a temporary name, renamed to `target`: a reader of the old `target` keeps its file."""
        staging = self.database.with_name(f".{self.database.name}.publishing-{os.getpid()}")
        try:
            shutil.copyfile(self.work_database, staging)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)


class Session:
    """One open connection to the working database, under the writer lock (`Warehouse.session`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self._con

    def as_writer(self) -> None:
        """From now on, a writer's bounds (all cores, WRITER_CONFIG's memory): for the set-based work that follows
        a step's batches, once the worker processes no longer need the cores."""
        self._con.execute(f"SET threads = {os.cpu_count() or 1}")
        self._con.execute(f"SET memory_limit = '{WRITER_CONFIG['memory_limit']}'")

    @contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction, checkpointed as soon as it commits (as `Warehouse.writing`, without publishing)."""
        with _transaction(self._con):
            yield self._con


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit and checkpoint at once (there is no WAL, see `Warehouse._connect`), or roll back."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()
    con.execute("CHECKPOINT")


# Big reads keep the Python loop short; writes are per DuckDB block.
SYNC_READ_BYTES = 8 * 1024 * 1024
SYNC_BLOCK_BYTES = 256 * 1024


def _sync_unread(source: Path, target: Path) -> bool:
    """Make `target` byte-identical to `source`, rewriting only the chunks that differ. Returns False, having
    written nothing, when `target` is missing or anyone has it open."""
    # Locks do not conflict within one process, and closing any descriptor of a file drops this process's
    # locks on it: a file this process has open is not even opened here.
    if not target.exists() or _open_in_this_process(target):
        return False
    fd = os.open(target, os.O_RDWR)
    try:
        try:  # DuckDB holds a shared lock on every database file it has open, in any process
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        with source.open("rb") as src:
            offset = 0
            while chunk := os.pread(src.fileno(), SYNC_READ_BYTES, offset):
                old = os.pread(fd, len(chunk), offset)
                if old != chunk:  # rewrite just the blocks that differ
                    for start in range(0, len(chunk), SYNC_BLOCK_BYTES):
                        block = chunk[start : start + SYNC_BLOCK_BYTES]
                        if old[start : start + SYNC_BLOCK_BYTES] != block:
                            os.pwrite(fd, block, offset + start)
                offset += len(chunk)
            os.ftruncate(fd, offset)
        return True
    finally:
        os.close(fd)  # and with it the lock


def _open_in_this_process(path: Path) -> bool:
    """Whether this process holds `path` open (e.g. a DuckDB reader in a notebook that also runs the
    pipeline). Where /proc is missing, assume it does."""
    target = path.stat()
    own = Path("/proc/self/fd")
    if not own.is_dir():
        return True
    for entry in own.iterdir():
        try:
            info = entry.stat()
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


@dataclass(frozen=True)
class Compaction:
    row_groups_before: dict[str, int]
    row_groups_after: dict[str, int]
    file_bytes: int


@dataclass(frozen=True)
class StorageUpgrade:
    format_before: str  # DuckDB's storage version tag, e.g. "v1.0.0+"
    format_after: str
    bytes_before: int
    bytes_after: int


def storage_version(con: duckdb.DuckDBPyConnection) -> str:
    """The storage format of the connection's current database, as DuckDB tags it ("v1.2.0+": that or later)."""
    return con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]


def _version(tag: str) -> tuple[int, ...]:
    """The oldest DuckDB version a storage version tag says can read the file ("v1.0.0+" -> (1, 0, 0))."""
    return tuple(int(part) for part in re.findall(r"\d+", tag.split("+")[0]))


def _sql_string(path: Path) -> str:
    """A path as a quoted SQL string literal (ATTACH takes no parameters; the paths are ours, from settings)."""
    return "'" + str(path).replace("'", "''") + "'"


def _table_names(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    query = "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name"
    return [name for (name,) in con.execute(query, [database]).fetchall()]


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _row_groups(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row groups per table (what compaction reduces)."""
    tables = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]
    return {
        table: con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info(?)", [table]).fetchone()[0]
        for table in sorted(tables)
    }


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Create or update the schema; cheap when it is already current."""
    try:
        row = con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        row = None
    if row and int(row[0]) == SCHEMA_VERSION:
        return
    for old_shape, statements in UPGRADES_BEFORE_DDL:
        if con.execute(old_shape).fetchone():
            for statement in statements:
                con.execute(statement)
    for statement in [*ddl_statements(), *UPGRADES]:
        con.execute(statement)
    con.execute(
        "INSERT OR REPLACE INTO _meta VALUES ('schema_version', ?)",
        [str(SCHEMA_VERSION)],
    )


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
    """A one-column Arrow table visible to SQL as `name`: the way to pass many ids. A list parameter
    (`IN (SELECT unnest(?::VARCHAR[]))`) costs ~0.1 ms per element to bind: 0.5 s for 4,000 ids."""
    with registered(con, name, pa.table({column: pa.array(list(values), pa.string())})):
        yield


def rows_at(con: duckdb.DuckDBPyConnection, table: str, columns: str, row_ids: pa.Array) -> list[tuple[Any, ...]]:
    """`columns` of the rows of `table` at `row_ids` (rowids found by an earlier, keys-only query), in storage
    order. The scan reads only the stretch between the first and the last of them: joining on keys instead reads
    every row's long columns (bodies, HTML), once per call. `table` and `columns` are ours, never user input."""
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
