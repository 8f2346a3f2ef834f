"""Scores the pairs of recently changed contacts and stores them (the duplicates listing)."""

from __future__ import annotations

import asyncio
import logging

from vantage_contacts.db import Database
from vantage_contacts.duplicates import service
from vantage_contacts.kit.loop import until_stopped

log = logging.getLogger("vantage_contacts.duplicates")


class DuplicateChecker:
    def __init__(self, database: Database, batch_size: int = 200) -> None:
        self.database = database
        self.batch_size = batch_size

    async def run_once(self) -> int:
        async with self.database.write() as conn:
            return await service.run_checks(conn, self.batch_size)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        await until_stopped(
            self.run_once, stop, log=log, idle_seconds=idle_seconds, error_pause=1.0
        )
