"""Runs queued import jobs (those uploaded through the API), one chunk per transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from vantage_contacts.config import Settings
from vantage_contacts.db import Database
from vantage_contacts.errors import Conflict
from vantage_contacts.imports.service import ImportRun, give_up
from vantage_contacts.kit import queue
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.loop import until_stopped
from vantage_contacts.models import contact_imports

log = logging.getLogger("vantage_contacts.imports")
LEASE = timedelta(minutes=2)
RETRY_AFTER = timedelta(minutes=1)  # after the first failure; longer after each next one
MAX_ATTEMPTS = 5


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
        run: ImportRun | None = None
        try:
            run = ImportRun(job, self.settings)
            while not run.done:
                await run.next_chunk(self.database)
                await self._extend_lease(job["workspace_id"], job["id"])
        except Conflict:
            # Another worker took the job over (this one's lease ran out): not a failure.
            log.warning("import %s is being run by another worker", job["id"])
        except Exception as error:
            await self._failed(job if run is None else run.job, error)
        return 1

    async def _failed(self, job: Mapping[Any, Any], error: Exception) -> None:
        """Retry later, waiting longer each time; after MAX_ATTEMPTS, end the job as failed
        so that it does not stay "processing" forever."""
        attempts = job["attempts"] + 1
        if attempts >= MAX_ATTEMPTS:
            log.exception("import %s failed %d times; giving up", job["id"], attempts)
            failure = (
                f"The import stopped after {attempts} failed attempts at row "
                f"{job['processed_rows'] + 1} of {job['total_rows']} ({type(error).__name__}); "
                "the rows before it were imported."
            )
            await give_up(self.database, job, failure)
            return
        log.exception("import %s failed; it will be retried", job["id"])
        await self._set(
            job["workspace_id"],
            job["id"],
            attempts=attempts,
            lease_until=None,
            next_attempt_at=self.clock() + RETRY_AFTER * attempts,
        )

    async def _extend_lease(self, workspace_id: str, job_id: str) -> None:
        await self._set(workspace_id, job_id, lease_until=self.clock() + LEASE)

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
