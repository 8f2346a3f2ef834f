"""The background worker's loops: run a unit of work again and again until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def until_stopped(
    run_once: Callable[[], Awaitable[int]],
    stop: asyncio.Event,
    *,
    log: logging.Logger,
    idle_seconds: float,
    error_pause: float = 1.0,
) -> None:
    """Call `run_once` while it finds work; when it finds none, wait `idle_seconds` (or until
    `stop`). An error is logged and waited out: a database hiccup must not end the worker."""
    while not stop.is_set():
        pause = idle_seconds
        try:
            done = await run_once()
        except Exception:
            log.exception("background work failed; retrying shortly")
            done, pause = 0, error_pause
        if not done:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
