"""All SQL about webhook endpoints, deliveries and attempts (the worker's queue included)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, tuple_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.bulk_insert import insert_rows
from vantage_contacts.kit.listing import fetch_page
from vantage_contacts.kit.pagination import PageRequest
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import events, webhook_attempts, webhook_deliveries, webhook_endpoints

endpoints_t = webhook_endpoints
deliveries_t = webhook_deliveries
attempts_t = webhook_attempts


# --- endpoints ----------------------------------------------------------------------------------


async def get_endpoint(
    conn: AsyncConnection, tenant: Tenant, endpoint_id: str, *, for_update: bool = False
) -> RowMapping | None:
    query = select(endpoints_t).where(
        in_tenant(endpoints_t, tenant),
        endpoints_t.c.id == endpoint_id,
        endpoints_t.c.deleted_at.is_(None),
    )
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def active_endpoints(conn: AsyncConnection, tenant: Tenant) -> list[RowMapping]:
    query = select(endpoints_t.c.id, endpoints_t.c.events).where(
        in_tenant(endpoints_t, tenant),
        endpoints_t.c.status == "active",
        endpoints_t.c.deleted_at.is_(None),
    )
    return list((await conn.execute(query)).mappings())


async def insert_endpoint(conn: AsyncConnection, tenant: Tenant, values: dict[str, Any]) -> None:
    await conn.execute(insert(endpoints_t).values(**tenant_values(tenant), **values))


async def update_endpoint(
    conn: AsyncConnection, workspace_id: str, endpoint_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(endpoints_t)
        .where(endpoints_t.c.workspace_id == workspace_id, endpoints_t.c.id == endpoint_id)
        .values(values)
    )


async def endpoint_page(
    conn: AsyncConnection, tenant: Tenant, paging: PageRequest
) -> tuple[list[RowMapping], int]:
    where = [in_tenant(endpoints_t, tenant), endpoints_t.c.deleted_at.is_(None)]
    ordering = [endpoints_t.c.created_at.asc(), endpoints_t.c.id.asc()]
    return await fetch_page(conn, endpoints_t, where, ordering, paging)


# --- deliveries -----------------------------------------------------------------------------------


async def insert_deliveries(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await insert_rows(conn, deliveries_t, rows)


async def get_delivery(
    conn: AsyncConnection, tenant: Tenant, endpoint_id: str, delivery_id: str
) -> RowMapping | None:
    query = select(deliveries_t).where(
        in_tenant(deliveries_t, tenant),
        deliveries_t.c.endpoint_id == endpoint_id,
        deliveries_t.c.id == delivery_id,
    )
    return (await conn.execute(query)).mappings().first()


async def delivery_page(
    conn: AsyncConnection, tenant: Tenant, endpoint_id: str, paging: PageRequest
) -> tuple[list[RowMapping], int]:
    where = [in_tenant(deliveries_t, tenant), deliveries_t.c.endpoint_id == endpoint_id]
    ordering = [deliveries_t.c.created_at.desc(), deliveries_t.c.id.desc()]
    return await fetch_page(conn, deliveries_t, where, ordering, paging)


async def attempts_of(
    conn: AsyncConnection, workspace_id: str, delivery_ids: Sequence[str]
) -> dict[str, list[RowMapping]]:
    found: dict[str, list[RowMapping]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return found
    rows = await conn.execute(
        select(attempts_t)
        .where(
            attempts_t.c.workspace_id == workspace_id,
            attempts_t.c.delivery_id.in_(delivery_ids),
        )
        .order_by(attempts_t.c.delivery_id, attempts_t.c.attempt)
    )
    for row in rows.mappings():
        found[row["delivery_id"]].append(row)
    return found


async def requeue(conn: AsyncConnection, tenant: Tenant, delivery_id: str, now: datetime) -> None:
    await conn.execute(
        update(deliveries_t)
        .where(in_tenant(deliveries_t, tenant), deliveries_t.c.id == delivery_id)
        .values(status="pending", next_attempt_at=now, lease_until=None, updated_at=now)
    )


# --- the worker's queue ---------------------------------------------------------------------------


async def claim_due(
    conn: AsyncConnection, now: datetime, lease_until: datetime, limit: int
) -> list[RowMapping]:
    """Take up to `limit` due deliveries for this worker until `lease_until`.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets any number of workers claim at once without
    taking the same row; a worker that dies leaves its rows to be claimed again when the
    lease runs out. On SQLite the write transaction itself serialises workers.
    """
    due = select(deliveries_t.c.workspace_id, deliveries_t.c.id).where(
        deliveries_t.c.status == "pending",
        deliveries_t.c.next_attempt_at <= now,
        or_(deliveries_t.c.lease_until.is_(None), deliveries_t.c.lease_until < now),
    )
    due = due.order_by(deliveries_t.c.next_attempt_at).limit(limit)
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    keys = list((await conn.execute(due)).all())
    if not keys:
        return []
    claimed = tuple_(deliveries_t.c.workspace_id, deliveries_t.c.id).in_([(w, i) for w, i in keys])
    await conn.execute(update(deliveries_t).where(claimed).values(lease_until=lease_until))
    rows = await conn.execute(
        select(
            deliveries_t,
            endpoints_t.c.url,
            endpoints_t.c.secret,
            endpoints_t.c.previous_secret,
            endpoints_t.c.previous_secret_expires_at,
            endpoints_t.c.status.label("endpoint_status"),
            endpoints_t.c.deleted_at.label("endpoint_deleted_at"),
            endpoints_t.c.failing_since,
            events.c.type,
            events.c.created_at.label("event_created_at"),
            events.c.data,
            events.c.changed_fields,
        )
        .join(
            endpoints_t,
            and_(
                endpoints_t.c.workspace_id == deliveries_t.c.workspace_id,
                endpoints_t.c.id == deliveries_t.c.endpoint_id,
            ),
        )
        .join(
            events,
            and_(
                events.c.workspace_id == deliveries_t.c.workspace_id,
                events.c.id == deliveries_t.c.event_id,
            ),
        )
        .where(claimed)
    )
    return list(rows.mappings())


async def record_attempts(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(attempts_t), list(rows))


# What recording an outcome may change on a delivery (and `updated_at`; the lease is released).
RESULT_COLUMNS = ("status", "attempt_count", "next_attempt_at", "last_status_code", "last_error")


async def finish_deliveries(
    conn: AsyncConnection, lease_until: datetime, results: Sequence[dict[str, Any]]
) -> None:
    """Record a batch's results (RESULT_COLUMNS and `updated_at` of each row, which
    `key_workspace_id` and `key_id` name) in one statement, each only where this worker still
    holds the lease it claimed the row with: another worker may have taken an expired one."""
    if not results:
        return
    statement = (
        update(deliveries_t)
        .where(
            deliveries_t.c.workspace_id == bindparam("key_workspace_id"),
            deliveries_t.c.id == bindparam("key_id"),
            deliveries_t.c.lease_until == lease_until,
        )
        .values(lease_until=None)
    )
    await conn.execute(statement, list(results))
