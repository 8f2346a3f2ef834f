"""The helper process of an import: it checks and normalises the rows of the next chunk, and
scores the create-time guard's candidates, while the import writes.

One process for the life of this one (an import command, or the worker that runs import jobs),
started on first use: one, so the normal forms it keeps of the contacts it compared are found
again for the next chunk (two helpers measured no faster on two cores). Spawned, not forked:
the parent holds database connections and threads that a forked child would inherit
half-copied. A helper that dies is replaced, and the work it had is done in this process; a
helper whose parent is killed ends too.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache, partial
from typing import TypeVar

from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.gctune import tune_garbage_collector

T = TypeVar("T")


@cache
def pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_helper,
    )


def _start_helper() -> None:
    tune_garbage_collector()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True).start()


def _end_with(parent_sentinel: int) -> None:
    """End the helper once the process that started it is gone. A parent that exits cleanly
    stops its helper itself; one that is killed (SIGKILL, the OOM killer) cannot, and its
    helper would otherwise live on, orphaned, holding its memory."""
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(0)


async def run(work: Callable[[], T]) -> T:
    """`work` (picklable) in the helper; here if the helper broke."""
    try:
        return await asyncio.get_running_loop().run_in_executor(pool(), work)
    except BrokenProcessPool:
        pool.cache_clear()  # the next call starts a new helper
        return work()


async def score(gathered: duplicates.Candidates, min_confidence: float) -> duplicates.Found:
    """A `duplicates.Scorer` that scores in the helper."""
    return await run(partial(gathered.score, gathered.people, min_confidence))
