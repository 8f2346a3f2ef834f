"""Every event type the service emits, and the payload every event is delivered as."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vantage_contacts.kit.clock import rfc3339

CONTACT_EVENTS = (
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "contact.portal_enabled",
    "contact.portal_disabled",
    "contact.portal_login",
    "contact.merged",
)
EVENT_TYPES: tuple[str, ...] = (
    *CONTACT_EVENTS,
    "client.created",
    "client.updated",
    "client.deleted",
    "ticket.created",
    "ticket.updated",
    "ticket.deleted",
    "webhook.disabled",
    "webhook.test",
    "import.completed",
)
ALL = "*"


def payload(row: Mapping[Any, Any]) -> dict[str, Any]:
    """`{id, type, created_at, workspace_id, data}`; updates add the changed field names."""
    body: dict[str, Any] = {
        "id": row["id"],
        "type": row["type"],
        "created_at": rfc3339(row["created_at"]),
        "workspace_id": row["workspace_id"],
        "data": row["data"],
    }
    if row["changed_fields"] is not None:
        body["changed_fields"] = row["changed_fields"]
    return body
