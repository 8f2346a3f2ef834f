from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.errors import error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.listing import Sort
from vantage_contacts.kit.pagination import Paging
from vantage_contacts.kit.responses import JSONBody, listing, single
from vantage_contacts.kit.schemas import Deleted, Envelope, ListEnvelope
from vantage_contacts.runtime import DB
from vantage_contacts.tickets import repository, service
from vantage_contacts.tickets.schemas import (
    Ticket,
    TicketCreate,
    TicketStatus,
    TicketUpdate,
    to_wire,
)

router = APIRouter(prefix="/v1/tickets", tags=["Tickets"], route_class=IdempotentRoute)


@router.get("", response_model=ListEnvelope[Ticket], responses=error_responses())
async def list_tickets(
    subject: ApiKey,
    db: DB,
    paging: Paging,
    client_id: Annotated[str | None, Query(max_length=40)] = None,
    contact_id: Annotated[str | None, Query(max_length=40)] = None,
    status: TicketStatus | None = None,
    sort: Sort = Sort.created_at,
) -> JSONBody:
    """List tickets, filtered by client, contact or status."""
    async with db.read() as conn:
        rows, total = await repository.page(
            conn,
            subject.tenant,
            paging,
            client_id=client_id,
            contact_id=contact_id,
            status=status,
            sort=sort.value,
        )
    return listing([to_wire(r) for r in rows], paging.page, paging.per_page, total)


@router.post(
    "",
    dependencies=[Idempotent],
    status_code=201,
    response_model=Envelope[Ticket],
    responses=error_responses(404),
)
async def create_ticket(body: TicketCreate, subject: ApiKey, db: DB) -> JSONBody:
    """Create a ticket for a client, optionally submitted by one of its contacts (whose name is
    kept on the ticket as `contact_name`)."""
    async with db.write() as conn:
        ticket = await service.create(conn, subject, body)
    return single(ticket, status_code=201)


@router.get("/{ticket_id}", response_model=Envelope[Ticket], responses=error_responses(404))
async def get_ticket(ticket_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Retrieve a ticket by id."""
    async with db.read() as conn:
        row = await service.require(conn, subject.tenant, ticket_id)
    return single(to_wire(row))


@router.put("/{ticket_id}", response_model=Envelope[Ticket], responses=error_responses(404, 409))
async def update_ticket(ticket_id: str, body: TicketUpdate, subject: ApiKey, db: DB) -> JSONBody:
    """Update a ticket. Status moves open → awaiting_approval → approved → closed (and back to
    open); any other move is 409."""
    async with db.write() as conn:
        ticket = await service.update(conn, subject, ticket_id, body)
    return single(ticket)


@router.delete("/{ticket_id}", response_model=Envelope[Deleted], responses=error_responses(404))
async def delete_ticket(ticket_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Delete a ticket: it leaves lists and GET; its history and events stay."""
    async with db.write() as conn:
        await service.delete(conn, subject, ticket_id)
    return single({"id": ticket_id, "deleted": True})
