"""The delivery worker: claims due deliveries, sends them signed, records every attempt.

At least once: a delivery is only marked done after a 2xx; a worker that dies mid-batch
leaves its claimed rows to another worker once their lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts import __version__
from vantage_contacts.auth.subject import Tenant
from vantage_contacts.db import Database
from vantage_contacts.events import service as events
from vantage_contacts.events.types import payload
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.loop import until_stopped
from vantage_contacts.webhooks import repository, schedule, signing
from vantage_contacts.webhooks.schemas import endpoint_wire
from vantage_contacts.webhooks.sender import Sender

log = logging.getLogger("vantage_contacts.webhooks")

TIMEOUT = timedelta(seconds=15)
USER_AGENT = f"Vantage-Webhooks/{__version__}"


@dataclass(slots=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


# Not sent: the claim's lease ran out while the row waited for a free connection.
LEASE_EXPIRED = Outcome(None, 0, error="lease expired before sending")


class Deliverer:
    def __init__(
        self,
        database: Database,
        *,
        allow_private: bool,
        clock: Callable[[], datetime] = utcnow,
        timeout: timedelta = TIMEOUT,
        batch_size: int = 100,
        concurrency: int = 50,
        lease: timedelta = timedelta(seconds=60),
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.allow_private = allow_private
        self.clock = clock
        self.sender = Sender(allow_private, concurrency, timeout)
        self.batch_size = batch_size
        self.slots = asyncio.Semaphore(concurrency)
        self.lease = lease
        self.rng = rng or random.Random()

    async def close(self) -> None:
        await self.sender.close()

    async def run_once(self) -> int:
        """Claim one batch of due deliveries, send them, record the results; how many."""
        now = self.clock()
        lease_until = now + self.lease
        async with self.database.write() as conn:
            claimed = await repository.claim_due(conn, now, lease_until, self.batch_size)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(row, lease_until) for row in claimed))
        async with self.database.write() as conn:
            await self._record(conn, list(zip(claimed, outcomes, strict=True)), lease_until)
        return len(claimed)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.1) -> None:
        await until_stopped(
            self.run_once, stop, log=log, idle_seconds=idle_seconds, error_pause=1.0
        )

    # --- one attempt --------------------------------------------------------------------------

    async def _send(self, row: RowMapping, lease_until: datetime) -> Outcome | None:
        """None when the endpoint is gone or disabled: the delivery ends without an attempt."""
        if row["endpoint_deleted_at"] is not None or row["endpoint_status"] != "active":
            return None
        now = self.clock()
        body = orjson.dumps(
            payload(
                {
                    "id": row["event_id"],
                    "type": row["type"],
                    "created_at": row["event_created_at"],
                    "workspace_id": row["workspace_id"],
                    "data": row["data"],
                    "changed_fields": row["changed_fields"],
                }
            )
        )
        keys = [row["secret"]]
        expires = row["previous_secret_expires_at"]
        if row["previous_secret"] and expires is not None and expires > now:
            keys.append(row["previous_secret"])
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signing.headers(keys, row["message_id"], now, body),
        }
        async with self.slots:
            # Past the lease another worker may own the row: sending now could deliver twice.
            if self.clock() >= lease_until:
                return LEASE_EXPIRED
            return await self._post(row["url"], headers, body)

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        sent = await self.sender.post(url, headers, body)
        return Outcome(
            sent.status_code,
            sent.latency_ms,
            error=sent.error,
            excerpt=sent.excerpt,
            retry_after=schedule.parse_retry_after(sent.retry_after, self.clock()),
        )

    # --- results ------------------------------------------------------------------------------

    async def _record(
        self,
        conn: AsyncConnection,
        results: list[tuple[RowMapping, Outcome | None]],
        lease_until: datetime,
    ) -> None:
        now = self.clock()
        attempts: list[dict[str, Any]] = []
        finished: list[dict[str, Any]] = []
        endpoint_state: dict[tuple[str, str], tuple[RowMapping, str]] = {}
        for row, outcome in results:
            key = (row["workspace_id"], row["endpoint_id"])
            if outcome is LEASE_EXPIRED:
                finished.append(self._finished(row, {}))  # back to the queue, unsent
                continue
            if outcome is None:
                ended = {
                    "status": "failed",
                    "last_error": "endpoint disabled or deleted",
                    "next_attempt_at": None,
                }
                finished.append(self._finished(row, ended))
                continue
            attempt = row["attempt_count"] + 1
            attempts.append(
                {
                    "workspace_id": row["workspace_id"],
                    "id": new_id("att"),
                    "delivery_id": row["id"],
                    "attempt": attempt,
                    "attempted_at": now,
                    "status_code": outcome.status_code,
                    "latency_ms": outcome.latency_ms,
                    "error": outcome.error,
                    "response_excerpt": outcome.excerpt,
                }
            )
            values: dict[str, Any] = {
                "attempt_count": attempt,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error,
            }
            if outcome.succeeded:
                values |= {"status": "succeeded", "next_attempt_at": None}
                endpoint_state[key] = (row, "ok")
            elif outcome.gone:
                values |= {"status": "failed", "next_attempt_at": None}
                endpoint_state[key] = (row, "gone")
            else:
                retry_at = schedule.next_attempt_at(attempt, now, outcome.retry_after, self.rng)
                values |= {
                    "status": "pending" if retry_at else "failed",
                    "next_attempt_at": retry_at,
                }
                endpoint_state.setdefault(key, (row, "failing"))
            finished.append(self._finished(row, values))
        # One statement for the whole batch: a round trip per row would cost more than sending.
        await repository.finish_deliveries(conn, lease_until, finished)
        await repository.record_attempts(conn, attempts)
        for row, state in endpoint_state.values():
            await self._update_endpoint_health(conn, row, state, now)

    def _finished(self, row: RowMapping, values: dict[str, Any]) -> dict[str, Any]:
        """The row's result columns after this outcome (unchanged ones kept), keyed by row."""
        kept = {column: row[column] for column in repository.RESULT_COLUMNS}
        keys = {"key_workspace_id": row["workspace_id"], "key_id": row["id"]}
        return {**kept, **values, **keys, "updated_at": self.clock()}

    async def _update_endpoint_health(
        self, conn: AsyncConnection, row: RowMapping, state: str, now: datetime
    ) -> None:
        workspace_id, endpoint_id = row["workspace_id"], row["endpoint_id"]
        if state == "ok":
            if row["failing_since"] is not None:
                await repository.update_endpoint(
                    conn, workspace_id, endpoint_id, {"failing_since": None}
                )
            return
        if state == "gone":
            await self._disable(conn, row, "The endpoint answered 410 Gone.", now)
            return
        failing_since = row["failing_since"]
        if failing_since is None:
            await repository.update_endpoint(
                conn, workspace_id, endpoint_id, {"failing_since": now}
            )
        elif now - failing_since >= schedule.DISABLE_AFTER:
            days = schedule.DISABLE_AFTER.days
            await self._disable(conn, row, f"Every delivery failed for {days} days.", now)

    async def _disable(
        self, conn: AsyncConnection, row: RowMapping, reason: str, now: datetime
    ) -> None:
        tenant = Tenant(row["workspace_id"], row["mode"])
        endpoint = await repository.get_endpoint(conn, tenant, row["endpoint_id"], for_update=True)
        if endpoint is None or endpoint["status"] != "active":
            return
        values = {"status": "disabled", "disabled_reason": reason, "updated_at": now}
        await repository.update_endpoint(conn, row["workspace_id"], row["endpoint_id"], values)
        await events.record(conn, tenant, "webhook.disabled", endpoint_wire({**endpoint, **values}))
        log.warning("webhook endpoint %s disabled: %s", row["endpoint_id"], reason)
