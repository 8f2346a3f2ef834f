"""Writing events: the event rows and their webhook deliveries, in the caller's transaction.

Because both are written with the change itself, an event is never lost when the change
commits, and never announced when it rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.events.types import ALL
from vantage_contacts.kit.bulk_insert import insert_rows
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.scoping import tenant_values
from vantage_contacts.models import events
from vantage_contacts.webhooks import repository as webhooks


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    data: Mapping[str, Any]  # the object as the API returns it
    changed_fields: Iterable[str] | None = None


async def record(
    conn: AsyncConnection,
    tenant: Tenant,
    event_type: str,
    data: Mapping[str, Any],
    changed_fields: Iterable[str] | None = None,
    *,
    only_endpoint: str | None = None,
) -> str:
    """Write one event; returns its id. `only_endpoint` sends it to that webhook alone."""
    ids = await record_many(
        conn, tenant, [NewEvent(event_type, data, changed_fields)], only_endpoint=only_endpoint
    )
    return ids[0]


async def record_many(
    conn: AsyncConnection,
    tenant: Tenant,
    new_events: Sequence[NewEvent],
    *,
    only_endpoint: str | None = None,
) -> list[str]:
    """Write events and their deliveries with one batched insert each."""
    if not new_events:
        return []
    now = utcnow()
    scope = tenant_values(tenant)
    rows = [
        {
            **scope,
            "id": new_id("evt"),
            "type": event.type,
            "object_type": event.type.partition(".")[0],
            "object_id": str(event.data["id"]),
            "data": dict(event.data),
            "changed_fields": (
                sorted(event.changed_fields) if event.changed_fields is not None else None
            ),
            # One microsecond apart, so a batch lists in the order it happened.
            "created_at": now + timedelta(microseconds=position),
        }
        for position, event in enumerate(new_events)
    ]
    await insert_rows(conn, events, rows)
    if only_endpoint is not None:
        subscriptions = [(only_endpoint, [ALL])]
    else:
        endpoints = await webhooks.active_endpoints(conn, tenant)
        subscriptions = [(e["id"], e["events"]) for e in endpoints]
    deliveries = [
        {
            **scope,
            "id": new_id("del"),
            "message_id": new_id("msg"),
            "endpoint_id": endpoint_id,
            "event_id": row["id"],
            "event_type": row["type"],
            "status": "pending",
            "attempt_count": 0,
            "next_attempt_at": now,
            "lease_until": None,
            "last_status_code": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
        }
        for row in rows
        for endpoint_id, types in subscriptions
        if ALL in types or row["type"] in types
    ]
    await webhooks.insert_deliveries(conn, deliveries)
    return [row["id"] for row in rows]
