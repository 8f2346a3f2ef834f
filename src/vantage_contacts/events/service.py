"""Writing events: the event row and its webhook deliveries, in the caller's transaction.

Because both are written with the change itself, an event is never lost when the change
commits, and never announced when it rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.events.types import ALL
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.scoping import tenant_values
from vantage_contacts.models import events
from vantage_contacts.webhooks import repository as webhooks


async def record(
    conn: AsyncConnection,
    tenant: Tenant,
    event_type: str,
    data: Mapping[str, Any],
    changed_fields: Iterable[str] | None = None,
    *,
    only_endpoint: str | None = None,
) -> str:
    """Write one event for `data` (an object as the API returns it); returns the event id."""
    event_id = new_id("evt")
    object_type, _, _ = event_type.partition(".")
    now = utcnow()
    await conn.execute(
        insert(events).values(
            **tenant_values(tenant),
            id=event_id,
            type=event_type,
            object_type=object_type,
            object_id=str(data["id"]),
            data=dict(data),
            changed_fields=sorted(changed_fields) if changed_fields is not None else None,
            created_at=now,
        )
    )
    if only_endpoint is not None:
        targets = [only_endpoint]
    else:
        targets = [
            endpoint["id"]
            for endpoint in await webhooks.active_endpoints(conn, tenant)
            if ALL in endpoint["events"] or event_type in endpoint["events"]
        ]
    await webhooks.insert_deliveries(
        conn,
        [
            {
                **tenant_values(tenant),
                "id": new_id("del"),
                "message_id": new_id("msg"),
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event_type,
                "status": "pending",
                "attempt_count": 0,
                "next_attempt_at": now,
                "lease_until": None,
                "last_status_code": None,
                "last_error": None,
                "created_at": now,
                "updated_at": now,
            }
            for endpoint_id in targets
        ],
    )
    return event_id
