"""Runs queued import jobs (those uploaded through the API), one chunk per transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Mode, Tenant
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
MAX_ATTEMPTS = 5  # runs in a row that make no progress


@dataclass(frozen=True, slots=True)
class _Held:
    """A job this worker runs, and the lease it holds it with."""

    workspace_id: str
    mode: Mode
    import_id: str
    lease_until: datetime

    def where(self) -> ColumnElement[bool]:
        """The job, while it is pending and still held with this lease."""
        return and_(
            contact_imports.c.workspace_id == self.workspace_id,
            contact_imports.c.id == self.import_id,
            contact_imports.c.status == "pending",
            contact_imports.c.lease_until == self.lease_until,
        )


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
        lease_until = now + LEASE
        async with self.database.write() as conn:
            claimed = await queue.claim(conn, contact_imports, now, lease_until, limit=1)
            if claimed is None:
                return 0
            # Counted as a run starts, so that a run whose process dies counts too; a chunk
            # committed sets it back to 0.
            attempts = contact_imports.c.attempts + 1
            await conn.execute(update(contact_imports).where(claimed).values(attempts=attempts))
            job = (await conn.execute(select(contact_imports).where(claimed))).mappings().one()
        held = _Held(job["workspace_id"], job["mode"], job["id"], lease_until)
        if job["attempts"] > MAX_ATTEMPTS:  # the runs before this one died
            async with self.database.write() as conn:
                await self._give_up(conn, held, job["attempts"] - 1, None)
            return 1
        try:
            run = ImportRun(job, self.settings)
            while not run.done:
                await run.next_chunk(self.database)
                held = await self._extend(held)
        except Conflict:
            # Another worker took the job over (this one's lease ran out): not a failure.
            log.warning("import %s is being run by another worker", job["id"])
        except Exception as error:
            log.exception("import %s failed", job["id"])
            await self._failed(held, error)
        return 1

    async def _failed(self, held: _Held, error: Exception) -> None:
        """Retry later, waiting longer after each failure in a row; after MAX_ATTEMPTS runs
        with no progress, end the job as failed rather than leave it "processing" forever."""
        async with self.database.write() as conn:
            attempts = await conn.scalar(select(contact_imports.c.attempts).where(held.where()))
            if attempts is None:  # no longer this worker's
                return
            if attempts >= MAX_ATTEMPTS:
                await self._give_up(conn, held, attempts, error)
                return
            await conn.execute(
                update(contact_imports)
                .where(held.where())
                .values(
                    lease_until=None,
                    next_attempt_at=self.clock() + RETRY_AFTER * max(attempts, 1),
                )
            )

    async def _give_up(
        self, conn: AsyncConnection, held: _Held, attempts: int, error: Exception | None
    ) -> None:
        cause = f" (last error: {type(error).__name__})" if error is not None else ""
        failure = (
            f"The import stopped after {attempts} runs in a row that made no progress"
            f"{cause}; the rows it had processed keep their results."
        )
        log.error("import %s given up after %d runs", held.import_id, attempts)
        tenant = Tenant(held.workspace_id, held.mode)
        await give_up(conn, tenant, held.import_id, held.lease_until, failure)

    async def _extend(self, held: _Held) -> _Held:
        """Keep the lease for another LEASE; the same one if the job ended or was taken."""
        longer = replace(held, lease_until=self.clock() + LEASE)
        async with self.database.write() as conn:
            moved = await conn.execute(
                update(contact_imports).where(held.where()).values(lease_until=longer.lease_until)
            )
        return longer if moved.rowcount == 1 else held

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        await until_stopped(
            self.run_once, stop, log=log, idle_seconds=idle_seconds, error_pause=1.0
        )
