"""Imported once by the forkserver, so every parse/clean worker forks with libraries and models loaded."""

import ctypes
import gc

import bs4  # noqa: F401
import feedparser  # noqa: F401
import lxml.html  # noqa: F401
import pyarrow

import feeds_etl.clean
import feeds_etl.parse
import feeds_etl.parse_fast
import feeds_etl.steps.clean  # where the worker functions live; the steps import no Dagster
import feeds_etl.steps.parse

# The language model loads on first use; do it here, once, instead of in every worker.
feeds_etl.clean.detect_language("warm up the language model")

# Everything loaded so far lives as long as the worker: keep the cyclic garbage collector from re-scanning it
# on every collection (cleaning allocates many small objects).
gc.freeze()


def _keep_freed_memory() -> None:
    """glibc hands freed memory back to the kernel at once (trimming the heap, unmapping big blocks), and each
    task's bodies, trees and tables then fault fresh pages in: a worker spent 0.7-0.9 s of a 1,000-feed import
    in the kernel, 0.2-0.5 s with these. Workers are few and their tasks small, so what they keep stays small."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # not glibc (macOS, musl): nothing to tune
        return
    trim_threshold, top_pad, mmap_threshold = -1, -2, -3  # M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD
    mallopt(trim_threshold, 1 << 30)
    mallopt(top_pad, 64 << 20)
    mallopt(mmap_threshold, 32 << 20)  # glibc's largest: blocks up to 32 MB come from the reused heap


_keep_freed_memory()
# Arrow's own allocator (mimalloc) hands the pages of freed tables back to the kernel within milliseconds, and
# every task's tables then fault them in afresh.
# glibc's, tuned as above, keeps them.
pyarrow.set_memory_pool(pyarrow.system_memory_pool())
