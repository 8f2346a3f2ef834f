from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.errors import error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.pagination import Paging
from vantage_contacts.kit.responses import JSONBody, listing, single
from vantage_contacts.kit.schemas import Deleted, Envelope, ListEnvelope
from vantage_contacts.runtime import DB, AppSettings
from vantage_contacts.webhooks import repository, service
from vantage_contacts.webhooks.schemas import (
    Delivery,
    WebhookCreate,
    WebhookEndpoint,
    WebhookUpdate,
    attempt_wire,
    delivery_wire,
    endpoint_wire,
)

router = APIRouter(prefix="/v1/webhooks", tags=["Webhooks"], route_class=IdempotentRoute)


class TestSent(BaseModel):
    event_id: str


@router.post(
    "",
    status_code=201,
    response_model=Envelope[WebhookEndpoint],
    responses=error_responses(),
    dependencies=[Idempotent],
)
async def create_webhook(
    body: WebhookCreate, subject: ApiKey, db: DB, settings: AppSettings
) -> JSONBody:
    """Subscribe a URL to event types (or `*`). The answer holds the signing secret (`whsec_…`),
    shown only here and on rotation. URLs must be https and resolve to public addresses."""
    await service.check_url(body.url, settings.allow_private_webhook_urls)
    async with db.write() as conn:
        endpoint = await service.create(conn, subject.tenant, body)
    return single(endpoint, status_code=201)


@router.get("", response_model=ListEnvelope[WebhookEndpoint], responses=error_responses())
async def list_webhooks(subject: ApiKey, db: DB, paging: Paging) -> JSONBody:
    """List webhook endpoints (without their secrets)."""
    async with db.read() as conn:
        rows, total = await repository.endpoint_page(conn, subject.tenant, paging)
    return listing([endpoint_wire(r) for r in rows], paging.page, paging.per_page, total)


@router.get(
    "/{webhook_id}", response_model=Envelope[WebhookEndpoint], responses=error_responses(404)
)
async def get_webhook(webhook_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Retrieve a webhook endpoint; `status` and `disabled_reason` say whether it is delivering."""
    async with db.read() as conn:
        row = await service.require(conn, subject.tenant, webhook_id)
    return single(endpoint_wire(row))


@router.put(
    "/{webhook_id}", response_model=Envelope[WebhookEndpoint], responses=error_responses(404)
)
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, subject: ApiKey, db: DB, settings: AppSettings
) -> JSONBody:
    """Change the URL, event types, description, or `status` (active/disabled)."""
    if body.url is not None:
        await service.check_url(body.url, settings.allow_private_webhook_urls)
    async with db.write() as conn:
        endpoint = await service.update(conn, subject.tenant, webhook_id, body)
    return single(endpoint)


@router.delete("/{webhook_id}", response_model=Envelope[Deleted], responses=error_responses(404))
async def delete_webhook(webhook_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Delete a webhook endpoint; nothing more is sent to it."""
    async with db.write() as conn:
        await service.delete(conn, subject.tenant, webhook_id)
    return single({"id": webhook_id, "deleted": True})


@router.post(
    "/{webhook_id}/rotate-secret",
    dependencies=[Idempotent],
    response_model=Envelope[WebhookEndpoint],
    responses=error_responses(404),
)
async def rotate_webhook_secret(webhook_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """A new signing secret, shown once; the old one keeps signing alongside it for 24 hours."""
    async with db.write() as conn:
        endpoint = await service.rotate_secret(conn, subject.tenant, webhook_id)
    return single(endpoint)


@router.post(
    "/{webhook_id}/test",
    dependencies=[Idempotent],
    status_code=202,
    response_model=Envelope[TestSent],
    responses=error_responses(404),
)
async def test_webhook(webhook_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Send a `webhook.test` event to this endpoint alone."""
    async with db.write() as conn:
        event_id = await service.send_test(conn, subject.tenant, webhook_id)
    return single({"event_id": event_id}, status_code=202)


async def _deliveries_wire(conn: Any, workspace_id: str, rows: list[Any]) -> list[dict[str, Any]]:
    attempts = await repository.attempts_of(conn, workspace_id, [r["id"] for r in rows])
    return [delivery_wire(r, [attempt_wire(a) for a in attempts[r["id"]]]) for r in rows]


@router.get(
    "/{webhook_id}/deliveries",
    response_model=ListEnvelope[Delivery],
    responses=error_responses(404),
)
async def list_deliveries(webhook_id: str, subject: ApiKey, db: DB, paging: Paging) -> JSONBody:
    """Deliveries to this endpoint, newest first, each with every attempt made."""
    tenant = subject.tenant
    async with db.read() as conn:
        await service.require(conn, tenant, webhook_id)
        rows, total = await repository.delivery_page(conn, tenant, webhook_id, paging)
        data = await _deliveries_wire(conn, tenant.workspace_id, rows)
    return listing(data, paging.page, paging.per_page, total)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    dependencies=[Idempotent],
    status_code=202,
    response_model=Envelope[Delivery],
    responses=error_responses(404),
)
async def retry_delivery(webhook_id: str, delivery_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Send this delivery again now, whatever its state (same `webhook-id`)."""
    tenant = subject.tenant
    async with db.write() as conn:
        row = await service.retry_delivery(conn, tenant, webhook_id, delivery_id)
        data = await _deliveries_wire(conn, tenant.workspace_id, [row])
    return single(data[0], status_code=202)
