"""Per-tenant sequences (ticket numbers), race-free on PostgreSQL and SQLite alike."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.models import counters


async def next_value(conn: AsyncConnection, tenant: Tenant, name: str) -> int:
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    first = dialect_insert(counters).values(
        workspace_id=tenant.workspace_id, mode=tenant.mode, name=name, value=1
    )
    statement = first.on_conflict_do_update(
        index_elements=["workspace_id", "mode", "name"],
        set_={"value": counters.c.value + 1},
    ).returning(counters.c.value)
    return int((await conn.execute(statement)).scalar_one())
