"""Decisions about webhook endpoints: URL checks, secrets and rotation, test events, retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.errors import NotFound, ValidationFailed
from vantage_contacts.events import service as events
from vantage_contacts.kit.changes import diff
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.webhooks import repository, signing, urls
from vantage_contacts.webhooks.schemas import WebhookCreate, WebhookUpdate, endpoint_wire

# After a rotation the old secret signs alongside the new one for this long.
ROTATION_OVERLAP = timedelta(hours=24)


async def check_url(url: str, allow_private: bool) -> None:
    try:
        await urls.resolve(url, allow_private)
    except urls.UnsafeURL as error:
        raise ValidationFailed.one("url", f"The webhook URL {error}.", "unsafe_url") from None


async def require(
    conn: AsyncConnection, tenant: Tenant, endpoint_id: str, *, for_update: bool = False
) -> RowMapping:
    row = await repository.get_endpoint(conn, tenant, endpoint_id, for_update=for_update)
    if row is None:
        raise NotFound("webhook", endpoint_id)
    return row


async def create(conn: AsyncConnection, tenant: Tenant, body: WebhookCreate) -> dict[str, Any]:
    now = utcnow()
    secret = signing.new_secret()
    values = {
        "id": new_id("whk"),
        "url": body.url,
        "events": body.events,
        "description": body.description,
        "status": "active",
        "disabled_reason": None,
        "secret": secret,
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "failing_since": None,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }
    await repository.insert_endpoint(conn, tenant, values)
    return endpoint_wire(values, secret=secret)


async def update(
    conn: AsyncConnection, tenant: Tenant, endpoint_id: str, body: WebhookUpdate
) -> dict[str, Any]:
    row = await require(conn, tenant, endpoint_id, for_update=True)
    changes = diff(row, body.model_dump(exclude_unset=True))
    if not changes:
        return endpoint_wire(row)
    values: dict[str, Any] = {field: new for field, (_, new) in changes.items()}
    if "status" in changes:
        # Re-enabling starts a clean slate; disabling by hand says so.
        values["disabled_reason"] = None if values["status"] == "active" else "disabled by API"
        values["failing_since"] = None
    values["updated_at"] = utcnow()
    await repository.update_endpoint(conn, tenant.workspace_id, endpoint_id, values)
    return endpoint_wire({**row, **values})


async def delete(conn: AsyncConnection, tenant: Tenant, endpoint_id: str) -> None:
    await require(conn, tenant, endpoint_id, for_update=True)
    now = utcnow()
    values = {"deleted_at": now, "updated_at": now, "status": "disabled"}
    await repository.update_endpoint(conn, tenant.workspace_id, endpoint_id, values)


async def rotate_secret(conn: AsyncConnection, tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    row = await require(conn, tenant, endpoint_id, for_update=True)
    now = utcnow()
    secret = signing.new_secret()
    values = {
        "secret": secret,
        "previous_secret": row["secret"],
        "previous_secret_expires_at": now + ROTATION_OVERLAP,
        "updated_at": now,
    }
    await repository.update_endpoint(conn, tenant.workspace_id, endpoint_id, values)
    return endpoint_wire({**row, **values}, secret=secret)


async def send_test(conn: AsyncConnection, tenant: Tenant, endpoint_id: str) -> str:
    """A `webhook.test` event delivered to this endpoint alone; its event id."""
    row = await require(conn, tenant, endpoint_id)
    return await events.record(
        conn, tenant, "webhook.test", endpoint_wire(row), only_endpoint=endpoint_id
    )


async def retry_delivery(
    conn: AsyncConnection, tenant: Tenant, endpoint_id: str, delivery_id: str
) -> RowMapping:
    await require(conn, tenant, endpoint_id)
    delivery = await repository.get_delivery(conn, tenant, endpoint_id, delivery_id)
    if delivery is None:
        raise NotFound("delivery", delivery_id)
    await repository.requeue(conn, tenant, delivery_id, utcnow())
    found = await repository.get_delivery(conn, tenant, endpoint_id, delivery_id)
    assert found is not None
    return found
