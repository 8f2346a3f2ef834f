from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.clients import repository, service
from vantage_contacts.clients.schemas import (
    Client,
    ClientCreate,
    ClientStatus,
    ClientUpdate,
    to_wire,
)
from vantage_contacts.errors import error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.listing import Sort
from vantage_contacts.kit.normalize import fold
from vantage_contacts.kit.pagination import Paging
from vantage_contacts.kit.responses import JSONBody, listing, single
from vantage_contacts.kit.schemas import Deleted, Envelope, ListEnvelope
from vantage_contacts.runtime import DB, AppSettings

router = APIRouter(prefix="/v1/clients", tags=["Clients"], route_class=IdempotentRoute)


@router.get("", response_model=ListEnvelope[Client], responses=error_responses())
async def list_clients(
    subject: ApiKey,
    db: DB,
    paging: Paging,
    search: Annotated[str | None, Query(max_length=200, description="Name contains")] = None,
    status: ClientStatus | None = None,
    sort: Sort = Sort.created_at,
) -> JSONBody:
    """List the clients of this workspace and mode."""
    async with db.read() as conn:
        rows, total = await repository.page(
            conn,
            subject.tenant,
            paging,
            search=fold(search) if search else None,
            status=status,
            sort=sort.value,
        )
    return listing([to_wire(r) for r in rows], paging.page, paging.per_page, total)


@router.post(
    "",
    dependencies=[Idempotent],
    status_code=201,
    response_model=Envelope[Client],
    responses=error_responses(409),
)
async def create_client(
    body: ClientCreate, subject: ApiKey, db: DB, settings: AppSettings
) -> JSONBody:
    """Create a client. `email_slug` (inbound email routing) is derived from the name if absent."""
    async with db.write() as conn:
        client = await service.create(conn, subject.tenant, body, settings.default_phone_region)
    return single(client, status_code=201)


@router.get("/{client_id}", response_model=Envelope[Client], responses=error_responses(404))
async def get_client(client_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Retrieve a client by id."""
    async with db.read() as conn:
        row = await service.require(conn, subject.tenant, client_id)
    return single(to_wire(row))


@router.put("/{client_id}", response_model=Envelope[Client], responses=error_responses(404, 409))
async def update_client(
    client_id: str, body: ClientUpdate, subject: ApiKey, db: DB, settings: AppSettings
) -> JSONBody:
    """Partial update: only the fields sent change; `null` clears an optional field."""
    async with db.write() as conn:
        client = await service.update(
            conn, subject.tenant, client_id, body, settings.default_phone_region
        )
    return single(client)


@router.delete(
    "/{client_id}", response_model=Envelope[Deleted], responses=error_responses(404, 409)
)
async def delete_client(client_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Delete a client. Refused (409) while it still has contacts."""
    async with db.write() as conn:
        await service.delete(conn, subject.tenant, client_id)
    return single({"id": client_id, "deleted": True})
