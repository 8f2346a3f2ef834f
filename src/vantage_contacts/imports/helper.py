"""The helper process of an import: it checks and normalises the rows of the next chunk, and
scores the create-time guard's candidates, while the import writes.

One process for the life of this one (an import command, or the worker that runs import jobs),
started on first use: one, so the normal forms it keeps of the contacts it compared are found
again for the next chunk (two helpers measured no faster on two cores). Spawned, not forked:
the parent holds database connections and threads that a forked child would inherit
half-copied. A helper that dies is replaced, and the work it had is done in this process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
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
        initializer=tune_garbage_collector,
    )


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
