"""All SQL about contacts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.among import probe
from vantage_contacts.kit.bulk_insert import insert_rows
from vantage_contacts.kit.listing import fetch_page, order_by
from vantage_contacts.kit.pagination import PageRequest
from vantage_contacts.kit.scoping import in_tenant, like_pattern, tenant_values
from vantage_contacts.models import contacts

SORT_COLUMNS = {"created_at": "created_at", "updated_at": "updated_at", "name": "name_folded"}


@dataclass(frozen=True, slots=True)
class ContactFilters:
    client_id: str | None = None
    is_primary: bool | None = None
    is_billing: bool | None = None
    is_technical: bool | None = None
    has_portal_access: bool | None = None
    search_text: str | None = None  # already folded
    search_digits: str | None = None  # phone digits, when the term looks like a number


def _live(tenant: Tenant) -> list[ColumnElement[bool]]:
    return [in_tenant(contacts, tenant), contacts.c.deleted_at.is_(None)]


async def get(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, *, for_update: bool = False
) -> RowMapping | None:
    """The contact, deleted or merged ones included (the caller decides how to answer)."""
    query = select(contacts).where(in_tenant(contacts, tenant), contacts.c.id == contact_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def lock_email(conn: AsyncConnection, tenant: Tenant, email_key: str) -> None:
    """Until commit, make other writers of this email wait, so the uniqueness check that follows
    cannot race (two creates would both see the email free, and the loser would hit the unique
    index: a 500 instead of a 409). SQLite needs nothing: it runs one writer at a time."""
    if conn.dialect.name != "postgresql":
        return
    key = f"contact-email:{tenant.workspace_id}:{tenant.mode}:{email_key}"
    await conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def email_owner(
    conn: AsyncConnection, tenant: Tenant, email_key: str, except_id: str | None = None
) -> str | None:
    query = select(contacts.c.id).where(*_live(tenant), contacts.c.email_key == email_key)
    if except_id is not None:
        query = query.where(contacts.c.id != except_id)
    found = await conn.scalar(query.limit(1))
    return None if found is None else str(found)


async def primary_of(
    conn: AsyncConnection, tenant: Tenant, client_id: str, except_id: str
) -> RowMapping | None:
    query = select(contacts).where(
        *_live(tenant),
        contacts.c.client_id == client_id,
        contacts.c.is_primary.is_(True),
        contacts.c.id != except_id,
    )
    return (await conn.execute(query.with_for_update())).mappings().first()


async def insert_contacts(
    conn: AsyncConnection, tenant: Tenant, rows: Sequence[dict[str, Any]]
) -> None:
    """One batched insert (COPY or executemany) for any number of new contacts."""
    scope = tenant_values(tenant)
    await insert_rows(conn, contacts, [{**scope, **row} for row in rows])


async def email_owners(
    conn: AsyncConnection, tenant: Tenant, keys: Collection[str]
) -> dict[str, str]:
    """email key → id of the live contact using it, for the keys in use."""
    if not keys:
        return {}
    # The probe goes through the index that starts with the email (the one portal login uses);
    # with the workspace in it too, PostgreSQL may pick any index starting with the workspace
    # and read every contact of it for each address. The few rows found are checked after.
    query = select(
        contacts.c.email_key,
        contacts.c.id,
        contacts.c.workspace_id,
        contacts.c.mode,
        contacts.c.deleted_at,
    )
    found = probe(conn, query, contacts.c.email_key, keys)
    columns = found.selected_columns
    found = found.where(
        columns.workspace_id == tenant.workspace_id,
        columns.mode == tenant.mode,
        columns.deleted_at.is_(None),
    )
    rows = (await conn.execute(found)).all()
    return {str(row.email_key): str(row.id) for row in rows}


async def update_contact(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(contacts)
        .where(in_tenant(contacts, tenant), contacts.c.id == contact_id)
        .values(values)
    )


async def page(
    conn: AsyncConnection,
    tenant: Tenant,
    paging: PageRequest,
    filters: ContactFilters,
    sort: str,
) -> tuple[list[RowMapping], int]:
    where = _live(tenant)
    if filters.client_id is not None:
        where.append(contacts.c.client_id == filters.client_id)
    for flag in ("is_primary", "is_billing", "is_technical"):
        wanted = getattr(filters, flag)
        if wanted is not None:
            where.append(contacts.c[flag].is_(wanted))
    if filters.has_portal_access is not None:
        has = contacts.c.portal_access != "none"
        where.append(has if filters.has_portal_access else ~has)
    if filters.search_text is not None:
        text_match = contacts.c.search_text.like(like_pattern(filters.search_text), escape="\\")
        if filters.search_digits:
            digits_match = contacts.c.search_text.like(like_pattern(filters.search_digits))
            where.append(or_(text_match, digits_match))
        else:
            where.append(text_match)
    return await fetch_page(conn, contacts, where, order_by(contacts, sort, SORT_COLUMNS), paging)
