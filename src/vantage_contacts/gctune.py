"""Garbage-collector settings for this service's processes.

A bulk write allocates tens of thousands of short-lived dictionaries and tuples, and the
matching engine keeps hundreds of thousands of normal forms in its caches. With CPython's
default thresholds (700, 10, 10) a collection ran every few hundred allocations and a full
one, which walks every cached object, every hundred young ones: 12% of a bulk create's CPU
(bench/bulk_create.py, 364 -> 320 µs of server CPU per contact). Young collections every
20,000 allocations and full ones 50 times rarer still free every cycle, a little later.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 50, 50)


def tune_garbage_collector() -> None:
    gc.set_threshold(*THRESHOLDS)
