"""The email worker: claims due outbox rows, renders and sends them, records each result.

The API only writes the outbox row in its own transaction; this worker does the slow part.
Each result is recorded as soon as its message is handed over, so a worker that dies
mid-batch resends at most the messages it had not yet recorded (at least once).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from vantage_contacts.db import Database
from vantage_contacts.email import templates
from vantage_contacts.email.senders import PermanentFailure, Sender, mail_domain
from vantage_contacts.kit import queue
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.loop import until_stopped
from vantage_contacts.models import emails

log = logging.getLogger("vantage_contacts.email")

# After attempt n fails, wait DELAYS[n - 1]: about two days in all, then give up.
DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(DELAYS) + 1
JITTER = 0.1  # ±10 %, so messages that failed together are not retried together
ERROR_CHARS = 500


def next_attempt_at(attempts_made: int, now: datetime, rng: random.Random) -> datetime | None:
    """When to try again after `attempts_made` failed attempts; None once they are used up."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    return now + DELAYS[attempts_made - 1] * (1 + rng.uniform(-JITTER, JITTER))


class EmailWorker:
    def __init__(
        self,
        database: Database,
        sender: Sender,
        *,
        mail_from: str = "Vantage <no-reply@localhost>",
        clock: Callable[[], datetime] = utcnow,
        batch_size: int = 20,
        concurrency: int = 4,
        lease: timedelta = timedelta(minutes=10),
        rng: random.Random | None = None,
    ) -> None:
        mail_domain(mail_from)  # a bad From address fails at start, not at every email
        self.database = database
        self.sender = sender
        self.mail_from = mail_from
        self.clock = clock
        self.batch_size = batch_size
        self.slots = asyncio.Semaphore(concurrency)
        # Longer than a batch can take (SMTP timeouts included), or another worker resends.
        self.lease = lease
        self.rng = rng or random.Random()

    async def run_once(self) -> int:
        """Claim one batch of due emails and send them; how many were claimed."""
        now = self.clock()
        lease_until = now + self.lease
        async with self.database.write() as conn:
            claimed = await queue.claim(conn, emails, now, lease_until, self.batch_size)
            if claimed is None:
                return 0
            rows = list((await conn.execute(select(emails).where(claimed))).mappings())
        await asyncio.gather(*(self._deliver(row, lease_until) for row in rows))
        return len(rows)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        await until_stopped(
            self.run_once, stop, log=log, idle_seconds=idle_seconds, error_pause=5.0
        )

    # --- one email ------------------------------------------------------------------------------

    async def _deliver(self, row: RowMapping, lease_until: datetime) -> None:
        try:
            message = self._compose(row)
            async with self.slots:
                await self.sender.send(message)
        except (PermanentFailure, templates.UnknownTemplate) as error:
            values = self._failed(row, error, retry=False)
        except Exception as error:  # SMTP down, refused, timed out: try again later
            values = self._failed(row, error, retry=True)
        else:
            values = {
                "status": "sent",
                "sent_at": self.clock(),
                "attempt_count": row["attempt_count"] + 1,
                "next_attempt_at": None,
                "last_error": None,
                "secret_link": None,  # sent: the database no longer needs the link
            }
        values["updated_at"] = self.clock()
        async with self.database.write() as conn:
            kept = await queue.release(
                conn, emails, row["workspace_id"], row["id"], lease_until, values
            )
        if not kept:
            log.warning("email %s: lease expired before its result was recorded", row["id"])

    def _compose(self, row: RowMapping) -> EmailMessage:
        if row["secret_link"] is None:
            raise PermanentFailure("the one-time link is gone; the email cannot be rebuilt")
        rendered = templates.render(row["template"], row["context"], row["secret_link"])
        return templates.build_message(
            rendered,
            to=row["to_address"],
            sender=self.mail_from,
            message_id=templates.message_id(row["id"], self.mail_from),
            date=self.clock(),
        )

    def _failed(self, row: RowMapping, error: Exception, *, retry: bool) -> dict[str, Any]:
        attempt = row["attempt_count"] + 1
        retry_at = next_attempt_at(attempt, self.clock(), self.rng) if retry else None
        reason = f"{type(error).__name__}: {error}"[:ERROR_CHARS]
        values: dict[str, Any] = {
            "attempt_count": attempt,
            "last_error": reason,
            "next_attempt_at": retry_at,
        }
        if retry_at is None:  # given up: the link must not outlive the attempt to send it
            values |= {"status": "failed", "secret_link": None}
            log.warning(
                "email %s failed for good after %d attempts: %s", row["id"], attempt, reason
            )
        else:
            log.info(
                "email %s attempt %d failed, next at %s: %s", row["id"], attempt, retry_at, reason
            )
        return values
