from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Actor, Tenant
from vantage_contacts.kit.bulk_insert import insert_rows
from vantage_contacts.kit.clock import rfc3339, utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import activity

Changes = Mapping[str, tuple[Any, Any]]


def change_list(changes: Changes) -> list[dict[str, Any]]:
    return [{"field": f, "old": old, "new": new} for f, (old, new) in changes.items()]


async def record(
    conn: AsyncConnection,
    tenant: Tenant,
    actor: Actor,
    contact_id: str,
    action: str,
    changes: Changes | None = None,
) -> None:
    await record_many(conn, tenant, actor, [(contact_id, action, changes)])


async def record_many(
    conn: AsyncConnection,
    tenant: Tenant,
    actor: Actor,
    entries: Sequence[tuple[str, str, Changes | None]],
) -> None:
    """Write (contact id, action, changes) entries with one batched insert."""
    if not entries:
        return
    now = utcnow()
    scope = tenant_values(tenant)
    rows = [
        {
            **scope,
            "id": new_id("act"),
            "contact_id": contact_id,
            "action": action,
            "changes": change_list(changes or {}),
            "actor_type": actor.type,
            "actor_id": actor.id,
            # One microsecond apart, so a batch lists in the order it happened.
            "created_at": now + timedelta(microseconds=position),
        }
        for position, (contact_id, action, changes) in enumerate(entries)
    ]
    await insert_rows(conn, activity, rows)


async def for_contact(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """The contact's history, newest first."""
    rows = await conn.execute(
        select(activity)
        .where(in_tenant(activity, tenant), activity.c.contact_id == contact_id)
        .order_by(activity.c.created_at.desc(), activity.c.id.desc())
        .limit(limit)
    )
    return [wire(row._mapping) for row in rows]


def wire(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "contact_id": row["contact_id"],
        "action": row["action"],
        "changes": row["changes"],
        "actor": {"type": row["actor_type"], "id": row["actor_id"]},
        "created_at": rfc3339(row["created_at"]),
    }
