"""Runs queued import jobs (those uploaded through the API), one chunk per transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from vantage_contacts.config import Settings
from vantage_contacts.db import Database
from vantage_contacts.imports.service import ImportRun
from vantage_contacts.kit import queue
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.loop import until_stopped
from vantage_contacts.models import contact_imports

log = logging.getLogger("vantage_contacts.imports")
LEASE = timedelta(minutes=2)
RETRY_AFTER = timedelta(minutes=1)


class ImportWorker:
    def __init__(
        self, database: Database, settings: Settings, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock

    async def run_once(self) -> int:
        """Claim one due job and run it to its end; how many jobs were run (0 or 1)."""
        now = self.clock()
        async with self.database.write() as conn:
            claimed = await queue.claim(conn, contact_imports, now, now + LEASE, limit=1)
            if claimed is None:
                return 0
            job = (await conn.execute(select(contact_imports).where(claimed))).mappings().one()
        try:
            run = ImportRun(job, self.settings)
            while not run.done:
                await run.next_chunk(self.database)
                await self._extend_lease(job["workspace_id"], job["id"])
        except Exception:
            log.exception("import %s failed; it will be retried", job["id"])
            await self._release(job["workspace_id"], job["id"], self.clock() + RETRY_AFTER)
        return 1

    async def _extend_lease(self, workspace_id: str, job_id: str) -> None:
        await self._set(workspace_id, job_id, lease_until=self.clock() + LEASE)

    async def _release(self, workspace_id: str, job_id: str, retry_at: datetime) -> None:
        await self._set(workspace_id, job_id, lease_until=None, next_attempt_at=retry_at)

    async def _set(self, workspace_id: str, job_id: str, **values: object) -> None:
        """Change a job still pending (a completed one keeps its state)."""
        async with self.database.write() as conn:
            await conn.execute(
                update(contact_imports)
                .where(
                    contact_imports.c.workspace_id == workspace_id,
                    contact_imports.c.id == job_id,
                    contact_imports.c.status == "pending",
                )
                .values(values)
            )

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        await until_stopped(
            self.run_once, stop, log=log, idle_seconds=idle_seconds, error_pause=1.0
        )
