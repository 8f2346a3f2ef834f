"""Drops idempotency records once they are past their 24 hours, so the table (which holds each
answer's whole body) keeps about one day of keys instead of growing forever."""

from __future__ import annotations

import asyncio
import logging

from vantage_contacts.db import Database
from vantage_contacts.idempotency import store
from vantage_contacts.kit.loop import until_stopped

log = logging.getLogger("vantage_contacts.idempotency")
SWEEP_EVERY = 600  # seconds between sweeps once the backlog is gone


class ExpiredKeySweeper:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def run_once(self) -> int:
        """One batch of expired records deleted; how many (0 when none is left)."""
        async with self.database.write() as conn:
            return await store.purge_expired(conn)

    async def run(self, stop: asyncio.Event, idle_seconds: float = SWEEP_EVERY) -> None:
        await until_stopped(self.run_once, stop, log=log, idle_seconds=idle_seconds)
