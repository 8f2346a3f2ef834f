"""All SQL about tickets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.listing import fetch_page, order_by
from vantage_contacts.kit.pagination import PageRequest
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import tickets

SORT_COLUMNS = {"created_at": "created_at", "updated_at": "updated_at", "name": "title"}


def _live(tenant: Tenant) -> list[ColumnElement[bool]]:
    """The tenant's tickets that were not deleted."""
    return [in_tenant(tickets, tenant), tickets.c.deleted_at.is_(None)]


async def get(
    conn: AsyncConnection, tenant: Tenant, ticket_id: str, *, for_update: bool = False
) -> RowMapping | None:
    query = select(tickets).where(*_live(tenant), tickets.c.id == ticket_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def insert_ticket(conn: AsyncConnection, tenant: Tenant, values: dict[str, Any]) -> None:
    await conn.execute(insert(tickets).values(**tenant_values(tenant), **values))


async def update_ticket(
    conn: AsyncConnection, tenant: Tenant, ticket_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(tickets).where(in_tenant(tickets, tenant), tickets.c.id == ticket_id).values(values)
    )


async def for_contact(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, limit: int = 100
) -> list[RowMapping]:
    """The contact's tickets, newest first."""
    rows = await conn.execute(
        select(tickets)
        .where(*_live(tenant), tickets.c.contact_id == contact_id)
        .order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
        .limit(limit)
    )
    return list(rows.mappings())


async def unlink_contact(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, contact_name: str, now: Any
) -> list[str]:
    """Drop the link to a deleted contact, keeping its name as a snapshot; the ids touched."""
    ids = list(
        await conn.scalars(
            select(tickets.c.id).where(
                in_tenant(tickets, tenant), tickets.c.contact_id == contact_id
            )
        )
    )
    if ids:
        await conn.execute(
            update(tickets)
            .where(in_tenant(tickets, tenant), tickets.c.contact_id == contact_id)
            .values(contact_id=None, contact_name=contact_name, updated_at=now)
        )
    return [str(i) for i in ids]


async def page(
    conn: AsyncConnection,
    tenant: Tenant,
    paging: PageRequest,
    *,
    client_id: str | None,
    contact_id: str | None,
    status: str | None,
    sort: str,
) -> tuple[list[RowMapping], int]:
    where = _live(tenant)
    if client_id is not None:
        where.append(tickets.c.client_id == client_id)
    if contact_id is not None:
        where.append(tickets.c.contact_id == contact_id)
    if status is not None:
        where.append(tickets.c.status == status)
    return await fetch_page(conn, tickets, where, order_by(tickets, sort, SORT_COLUMNS), paging)
