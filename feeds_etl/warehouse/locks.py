"""Writers take turns: an OS file lock beside a SQLite catalog (one machine), a PostgreSQL advisory lock on a
PostgreSQL catalog (any number of machines). Both are freed by the kernel or the server if the holder dies."""

from __future__ import annotations

import fcntl
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feeds_etl.warehouse.errors import LakeError, WarehouseBusy, scrubbed

if TYPE_CHECKING:
    from feeds_etl.warehouse.store import LakeConfig

LOCK_TIMEOUT_SECONDS = 3600.0


class _ReentrantLock:
    """Held once per thread: a step holding the lock may write again inside (nested `held` blocks)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def held(self) -> Iterator[None]:
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._acquired():
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0

    def _acquired(self) -> AbstractContextManager[None]:
        raise NotImplementedError


class FileLock(_ReentrantLock):
    """Writers on a SQLite catalog take turns (one machine): an OS lock that the kernel frees if a run dies."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    @contextmanager
    def _acquired(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+")
        except OSError as exc:
            raise LakeError(f"cannot create the lake (writer lock {self.path}): {exc}") from None
        with handle:
            deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseBusy(f"{self.path}: another writer held the lock too long") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class PostgresLock(_ReentrantLock):
    """Writers on a PostgreSQL catalog, on any machine, take turns through an advisory lock of that database:
    the server frees it when the holder's connection dies."""

    def __init__(self, config: LakeConfig, key: str) -> None:
        super().__init__()
        self.config = config
        self.key = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)

    @contextmanager
    def _acquired(self) -> Iterator[None]:
        import psycopg

        try:
            conn = self._connect()
        except psycopg.Error as exc:
            reason = " ".join(scrubbed(str(exc)).split())
            raise LakeError(
                f"cannot reach the PostgreSQL catalog for the writer lock ({self.config.describe()}): {reason}"
            ) from None
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise WarehouseBusy("another writer held the lake's advisory lock too long")
                time.sleep(0.05)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
        finally:
            conn.close()

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.config.postgres_conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            if not re.search(r'database ".*" does not exist', str(exc)):
                raise
        from feeds_etl.warehouse.store import create_postgres_database  # the store imports this module

        create_postgres_database(self.config)  # the first writer of a new lake, as open_lake would
        return psycopg.connect(self.config.postgres_conninfo, autocommit=True)


def writer_lock(config: LakeConfig) -> FileLock | PostgresLock:
    if config.on_postgres:
        return PostgresLock(config, f"feeds_etl:{config.data_path}")
    path = Path(config.catalog)
    return FileLock(path.with_name(path.name + ".lock"))
