"""What the steps share: timings for the UI, batches that keep memory flat, and the worker processes that
do a batch's CPU work while the step stores the one before."""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb

from feeds_etl import parallel
from feeds_etl.warehouse.bulk import concat_fieldwise
from feeds_etl.warehouse.store import Session

B = TypeVar("B")
R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S", bound=tuple)

# Batches handed to the workers ahead of the one being stored (see `overlapped`).
IN_FLIGHT_BATCHES = 2
# DuckDB threads for the batch reads and writes done beside the workers (or the fetch): these bulk appends gain
# nothing from a second thread, which only takes CPU from the workers.
BESIDE_WORKERS = 1


@dataclass
class Timings:
    """Seconds per phase, shown in the UI. Batch writes are timed around `warehouse.writing`, so their commit
    and checkpoint count too."""

    seconds: dict[str, float] = field(default_factory=dict)

    def measure(self, name: str) -> _Timer:
        return _Timer(self, name)


class _Timer:
    def __init__(self, timings: Timings, name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_exc: object) -> None:
        spent = time.perf_counter() - self.start
        self.timings.seconds[self.name] = round(self.timings.seconds.get(self.name, 0.0) + spent, 3)


def in_workers(
    session: Session,
    batches: Sequence[B],
    load: Callable[[duckdb.DuckDBPyConnection, B], Sequence[T]],
    work: Callable[[Sequence[T]], R],
    workers: int,
    timings: Timings,
    waiting: str,
) -> Iterator[R]:
    """Each batch's input loaded through `session`, `work` done on it by the workers (slice by slice, concatenated
    field by field). Two batches are with the workers while the caller stores one (`overlapped`)."""
    session.use_threads(BESIDE_WORKERS)  # the step's reads before this had every core; now the workers need them

    def start(batch: B) -> parallel.InFlight[R]:
        with session.reading() as con, timings.measure("read"):
            loaded = load(con, batch)
        return parallel.start_slices(work, loaded, workers)

    for slices in overlapped(batches, start, timings, waiting):
        yield concat_fieldwise(slices)


def overlapped(
    batches: Sequence[B], start: Callable[[B], parallel.InFlight[R]], timings: Timings, waiting: str
) -> Iterator[list[R]]:
    """Each batch's results in turn. IN_FLIGHT_BATCHES (two) batches are with the workers at any time: while
    the caller stores one batch and reads the input of the one after next, the workers already compute the
    next, so they never wait for the (mostly single-threaded) database work. `waiting`: the timing that counts
    the time spent waiting for the workers."""
    in_flight: deque[parallel.InFlight[R]] = deque()
    pending = iter(batches)
    for batch in itertools.islice(pending, IN_FLIGHT_BATCHES):
        in_flight.append(start(batch))
    while in_flight:
        with timings.measure(waiting):
            done = in_flight.popleft().result()
        following = next(pending, None)
        if following is not None:
            in_flight.append(start(following))
        yield done


def batches_by_size(pending: list[S], limit: int, max_count: int | None = None) -> Iterator[list[S]]:
    """Consecutive batches of at most `limit` in size (each entry's last field; a bigger entry alone) and at
    most `max_count` entries."""
    batch: list[S] = []
    size = 0
    for entry in pending:
        if batch and (size + (entry[-1] or 0) > limit or len(batch) == max_count):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry[-1] or 0
    if batch:
        yield batch


def first_and_last(keys: Iterable[str]) -> tuple[str, str]:
    ordered = sorted(keys)
    return ordered[0], ordered[-1]
