"""Scores the pairs of recently changed contacts and stores them (the duplicates listing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vantage_contacts.db import Database
from vantage_contacts.duplicates import service

log = logging.getLogger("vantage_contacts.duplicates")


class DuplicateChecker:
    def __init__(self, database: Database, batch_size: int = 200) -> None:
        self.database = database
        self.batch_size = batch_size

    async def run_once(self) -> int:
        async with self.database.write() as conn:
            return await service.run_checks(conn, self.batch_size)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        while not stop.is_set():
            try:
                checked = await self.run_once()
            except Exception:  # keep the worker alive through database hiccups
                log.exception("duplicate checks failed; retrying shortly")
                checked = 0
            if not checked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
