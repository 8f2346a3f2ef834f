"""The portal's background chores: answer "forgot password" requests, drop expired sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vantage_contacts.db import Database
from vantage_contacts.portal import service, sessions

log = logging.getLogger("vantage_contacts.portal")
PURGE_EVERY = 600  # seconds


class PortalHousekeeper:
    def __init__(self, database: Database, public_url: str) -> None:
        self.database = database
        self.public_url = public_url

    async def run_once(self) -> int:
        async with self.database.write() as conn:
            return await service.process_reset_requests(conn, self.public_url)

    async def purge(self) -> None:
        async with self.database.write() as conn:
            await sessions.purge_expired(conn)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        since_purge = float(PURGE_EVERY)
        while not stop.is_set():
            try:
                handled = await self.run_once()
                since_purge += idle_seconds
                if since_purge >= PURGE_EVERY:
                    await self.purge()
                    since_purge = 0.0
            except Exception:  # keep the worker alive through database hiccups
                log.exception("portal housekeeping failed; retrying shortly")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
