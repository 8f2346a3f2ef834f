"""Claiming rows of an outbox table (webhook deliveries, emails) for one worker, with a lease.

On PostgreSQL, FOR UPDATE SKIP LOCKED lets any number of workers claim at once without taking
the same row; a worker that dies leaves its rows to be claimed again when the lease runs out.
On SQLite the write transaction itself serialises workers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Table, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def claim(
    conn: AsyncConnection, table: Table, now: datetime, lease_until: datetime, limit: int
) -> ColumnElement[bool] | None:
    """Lease up to `limit` due rows (`status` pending, `next_attempt_at` passed, no live lease).

    Returns a condition selecting exactly the claimed rows, or None when nothing was due.
    """
    due = select(table.c.workspace_id, table.c.id).where(
        table.c.status == "pending",
        table.c.next_attempt_at <= now,
        or_(table.c.lease_until.is_(None), table.c.lease_until < now),
    )
    due = due.order_by(table.c.next_attempt_at).limit(limit)
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    keys = [(row[0], row[1]) for row in await conn.execute(due)]
    if not keys:
        return None
    claimed = tuple_(table.c.workspace_id, table.c.id).in_(keys)
    await conn.execute(update(table).where(claimed).values(lease_until=lease_until))
    return claimed


async def release(
    conn: AsyncConnection,
    table: Table,
    workspace_id: str,
    row_id: str,
    lease_until: datetime,
    values: dict[str, object],
) -> bool:
    """Record a result, only if this worker still holds the lease it claimed the row with."""
    result = await conn.execute(
        update(table)
        .where(
            table.c.workspace_id == workspace_id,
            table.c.id == row_id,
            table.c.lease_until == lease_until,
        )
        .values(lease_until=None, **values)
    )
    return result.rowcount == 1
