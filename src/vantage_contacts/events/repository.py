"""All SQL about events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.listing import fetch_page
from vantage_contacts.kit.pagination import PageRequest
from vantage_contacts.kit.scoping import in_tenant
from vantage_contacts.models import events


async def get(conn: AsyncConnection, tenant: Tenant, event_id: str) -> RowMapping | None:
    query = select(events).where(in_tenant(events, tenant), events.c.id == event_id)
    return (await conn.execute(query)).mappings().first()


async def page(
    conn: AsyncConnection,
    tenant: Tenant,
    paging: PageRequest,
    *,
    types: list[str],
    created_after: datetime | None,
    object_id: str | None,
) -> tuple[list[RowMapping], int]:
    """Newest first, as integrators read a feed."""
    where = [in_tenant(events, tenant)]
    if types:
        where.append(events.c.type.in_(types))
    if created_after is not None:
        where.append(events.c.created_at > created_after)
    if object_id is not None:
        where.append(events.c.object_id == object_id)
    ordering = [events.c.created_at.desc(), events.c.id.desc()]
    return await fetch_page(conn, events, where, ordering, paging)
