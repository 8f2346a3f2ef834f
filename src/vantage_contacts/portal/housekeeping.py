"""The portal's background chores: answer "forgot password" requests, drop expired sessions."""

from __future__ import annotations

import asyncio
import logging
import time

from vantage_contacts.db import Database
from vantage_contacts.kit.loop import until_stopped
from vantage_contacts.portal import service, sessions

log = logging.getLogger("vantage_contacts.portal")
PURGE_EVERY = 600  # seconds


class PortalHousekeeper:
    def __init__(self, database: Database, public_url: str) -> None:
        self.database = database
        self.public_url = public_url
        self._last_purge = float("-inf")

    async def run_once(self) -> int:
        async with self.database.write() as conn:
            return await service.process_reset_requests(conn, self.public_url)

    async def purge(self) -> None:
        async with self.database.write() as conn:
            await sessions.purge_expired(conn)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        await until_stopped(self._work, stop, log=log, idle_seconds=idle_seconds)

    async def _work(self) -> int:
        """Answer pending reset requests; every PURGE_EVERY seconds, drop expired sessions."""
        now = time.monotonic()
        if now - self._last_purge >= PURGE_EVERY:
            await self.purge()
            self._last_purge = now
        return await self.run_once()
