from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.scoping import tenant_values
from vantage_contacts.models import events


async def record(
    conn: AsyncConnection,
    tenant: Tenant,
    event_type: str,
    data: Mapping[str, Any],
    changed_fields: Iterable[str] | None = None,
) -> str:
    """Write one event for `data` (an object as the API returns it) in the caller's transaction."""
    event_id = new_id("evt")
    object_type, _, _ = event_type.partition(".")
    await conn.execute(
        insert(events).values(
            **tenant_values(tenant),
            id=event_id,
            type=event_type,
            object_type=object_type,
            object_id=str(data["id"]),
            data=dict(data),
            changed_fields=sorted(changed_fields) if changed_fields is not None else None,
            created_at=utcnow(),
        )
    )
    return event_id
