"""All SQL about clients."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, exists, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.listing import fetch_page, order_by
from vantage_contacts.kit.pagination import PageRequest
from vantage_contacts.kit.scoping import in_tenant, like_pattern, tenant_values
from vantage_contacts.models import clients, contacts

SORT_COLUMNS = {"created_at": "created_at", "updated_at": "updated_at", "name": "name_folded"}


def _live(tenant: Tenant) -> list[ColumnElement[bool]]:
    return [in_tenant(clients, tenant), clients.c.deleted_at.is_(None)]


async def get(
    conn: AsyncConnection, tenant: Tenant, client_id: str, *, for_update: bool = False
) -> RowMapping | None:
    query = select(clients).where(*_live(tenant), clients.c.id == client_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def lock_slugs(conn: AsyncConnection, tenant: Tenant) -> None:
    """Until commit, make other slug writers of this tenant wait, so choosing a free slug cannot
    race (both would pick `acme`, and the loser would hit the unique index: a 500). SQLite needs
    nothing: it runs one writer at a time. Client writes are rare, so one lock per tenant."""
    if conn.dialect.name != "postgresql":
        return
    key = f"client-slugs:{tenant.workspace_id}:{tenant.mode}"
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def live_ids(conn: AsyncConnection, tenant: Tenant, client_ids: Collection[str]) -> set[str]:
    """Which of these ids are live clients of the tenant."""
    if not client_ids:
        return set()
    query = select(clients.c.id).where(*_live(tenant), clients.c.id.in_(list(client_ids)))
    return {str(client_id) for client_id in await conn.scalars(query)}


async def slug_taken(
    conn: AsyncConnection, tenant: Tenant, slug: str, except_id: str | None = None
) -> bool:
    query = select(clients.c.id).where(*_live(tenant), clients.c.email_slug == slug)
    if except_id is not None:
        query = query.where(clients.c.id != except_id)
    return (await conn.scalar(query.limit(1))) is not None


async def insert_client(conn: AsyncConnection, tenant: Tenant, values: dict[str, Any]) -> None:
    await conn.execute(insert(clients).values(**tenant_values(tenant), **values))


async def update_client(
    conn: AsyncConnection, tenant: Tenant, client_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(clients).where(in_tenant(clients, tenant), clients.c.id == client_id).values(values)
    )


async def has_live_contacts(conn: AsyncConnection, tenant: Tenant, client_id: str) -> bool:
    query = select(
        exists().where(
            contacts.c.workspace_id == tenant.workspace_id,
            contacts.c.client_id == client_id,
            contacts.c.deleted_at.is_(None),
        )
    )
    return bool(await conn.scalar(query))


async def page(
    conn: AsyncConnection,
    tenant: Tenant,
    paging: PageRequest,
    *,
    search: str | None,
    status: str | None,
    sort: str,
) -> tuple[list[RowMapping], int]:
    where = _live(tenant)
    if status is not None:
        where.append(clients.c.status == status)
    if search:
        where.append(clients.c.name_folded.like(like_pattern(search), escape="\\"))
    return await fetch_page(conn, clients, where, order_by(clients, sort, SORT_COLUMNS), paging)
