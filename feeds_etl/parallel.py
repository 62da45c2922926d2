"""CPU-bound work (parsing, cleaning) spread over processes when there is enough of it to pay off."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    configured = os.environ.get("FEEDS_ETL_WORKERS")
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)))


def workers_for(work: float, minimum: float, workers: int | None = None) -> int:
    """Processes for a whole range of work (in the caller's unit: bytes, items): 1, in-process, below `minimum`,
    where starting the worker pool (about half a second) would cost more than it saves, and inside a daemonic
    process (a Celery worker's pool process), which may not start processes of its own: there the worker's
    slots and the shards spread the work."""
    if work < minimum or multiprocessing.current_process().daemon:
        return 1
    return workers or default_workers()


class InFlight(Generic[R]):
    """Work handed to the pool; `result()` waits for it. In-process work runs when `result()` is called."""

    def __init__(self, collect: Callable[[], list[R]], futures: Sequence[Future[R]] = ()) -> None:
        self._collect = collect
        self._futures = futures

    def done(self) -> bool:
        """Whether `result()` would return without waiting for the workers."""
        return all(future.done() for future in self._futures)

    def result(self) -> list[R]:
        try:
            return self._collect()
        except BrokenProcessPool:  # a worker died (e.g. killed by the OOM killer): a new pool for the next call
            _shutdown()
            raise


def start_slices(
    fn: Callable[[Sequence[T]], R], items: Sequence[T], workers: int, most_per_slice: int = 64
) -> InFlight[R]:
    """`fn` over consecutive slices of `items`, one result per slice, in order, on `workers` processes
    (in-process, as one slice, if 1). Returns at once, so the caller can store one batch while the workers do
    the next (`.result()` waits). A result per slice travels back cheaper than one per item (e.g. one Arrow
    table per slice); `most_per_slice` bounds what a worker holds at a time.

    `fn` must be a module-level function (it is pickled). Workers come from a forkserver, so they
    never inherit the threads and locks of the Dagster process that calls us.
    """
    if workers <= 1:
        return InFlight(lambda: [fn(items)])
    size = max(1, min(most_per_slice, len(items) // (workers * 8) or 1))
    slices = [items[first : first + size] for first in range(0, len(items), size)]
    try:
        pool = _pool(workers)
        futures = [pool.submit(fn, piece) for piece in slices]  # every slice now
    except BrokenProcessPool:
        _shutdown()
        raise
    return InFlight(lambda: [future.result() for future in futures], futures)


def prestart(workers: int) -> threading.Thread | None:
    """Start `workers` processes in the background (the thread returned), for work known to come: the first
    task otherwise waits about a second for the forkserver to import the parsers and load the language model.
    Nothing to do (None) in-process or once the pool exists."""
    if workers <= 1 or workers in _pools:
        return None
    thread = threading.Thread(target=_start_all, args=(workers,), name="feeds-etl-prestart", daemon=True)
    thread.start()
    return thread


def _start_all(workers: int) -> None:
    pool = _pool(workers)
    for _ in range(workers):  # a forkserver pool starts a process per task submitted, up to `workers`
        pool.submit(int)


_pools: dict[int, ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per process, kept across batches and steps (a run parses, then cleans, batch after batch)."""
    with _pools_lock:
        if workers not in _pools:
            context = multiprocessing.get_context("forkserver")
            # Workers fork from a server that already imported the parsers and loaded the language model.
            context.set_forkserver_preload(["feeds_etl._preload"])
            _pools[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        return _pools[workers]


@atexit.register
def _shutdown() -> None:
    while _pools:
        _pools.popitem()[1].shutdown(cancel_futures=True)
