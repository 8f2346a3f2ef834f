"""The helper process that prepares an import's rows while the import writes.

One process for the life of this one (an import command, or the worker that runs import jobs),
started on first use. Spawned, not forked: the parent holds database connections and threads
that a forked child would inherit half-copied.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import cache


@cache
def pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
