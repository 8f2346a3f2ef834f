"""Decisions about tickets: who they belong to, numbering, status transitions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.activity import service as activity
from vantage_contacts.auth.subject import Subject, Tenant
from vantage_contacts.clients import service as clients
from vantage_contacts.contacts import service as contacts
from vantage_contacts.errors import Conflict, NotFound, ValidationFailed
from vantage_contacts.events import service as events
from vantage_contacts.kit.changes import diff
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.counters import next_value
from vantage_contacts.kit.ids import new_id
from vantage_contacts.tickets import repository
from vantage_contacts.tickets.schemas import TRANSITIONS, TicketCreate, TicketUpdate, to_wire


async def require(conn: AsyncConnection, tenant: Tenant, ticket_id: str) -> RowMapping:
    row = await repository.get(conn, tenant, ticket_id)
    if row is None:
        raise NotFound("ticket", ticket_id)
    return row


async def _contact_for(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, client_id: str | None
) -> RowMapping:
    contact = await contacts.require(conn, tenant, contact_id)
    if client_id is not None and contact["client_id"] != client_id:
        raise ValidationFailed.one(
            "contact_id", "The contact belongs to another client.", "contact_client_mismatch"
        )
    return contact


async def create(conn: AsyncConnection, subject: Subject, body: TicketCreate) -> dict[str, Any]:
    tenant = subject.tenant
    contact = None
    if body.contact_id is not None:
        contact = await _contact_for(conn, tenant, body.contact_id, body.client_id)
    client_id = body.client_id or (contact["client_id"] if contact is not None else None)
    assert client_id is not None  # the schema requires client_id or contact_id
    await clients.require(conn, tenant, client_id)
    now = utcnow()
    values = {
        "id": new_id("tkt"),
        "number": await next_value(conn, tenant, "ticket"),
        "client_id": client_id,
        "contact_id": body.contact_id,
        "contact_name": contact["name"] if contact is not None else None,
        "title": body.title,
        "description": body.description,
        "status": body.status,
        "created_at": now,
        "updated_at": now,
    }
    await repository.insert_ticket(conn, tenant, values)
    if contact is not None:
        await activity.record(
            conn,
            tenant,
            subject.actor,
            contact["id"],
            "ticket_linked",
            {"ticket_id": (None, values["id"])},
        )
    ticket = to_wire(values)
    await events.record(conn, tenant, "ticket.created", ticket)
    return ticket


async def update(
    conn: AsyncConnection, subject: Subject, ticket_id: str, body: TicketUpdate
) -> dict[str, Any]:
    tenant = subject.tenant
    row = await repository.get(conn, tenant, ticket_id, for_update=True)
    if row is None:
        raise NotFound("ticket", ticket_id)
    changes = diff(row, body.model_dump(exclude_unset=True))
    if not changes:
        return to_wire(row)
    values: dict[str, Any] = {field: new for field, (_, new) in changes.items()}
    if "status" in changes:
        old, new = changes["status"]
        if new not in TRANSITIONS[old]:
            raise Conflict(
                f"A ticket cannot go from '{old}' to '{new}'.",
                field="status",
                extra={"allowed": sorted(TRANSITIONS[old])},
            )
    if "contact_id" in changes:
        old_contact, new_contact = changes["contact_id"]
        if new_contact is not None:
            contact = await _contact_for(conn, tenant, new_contact, row["client_id"])
            values["contact_name"] = contact["name"]
            await activity.record(
                conn,
                tenant,
                subject.actor,
                new_contact,
                "ticket_linked",
                {"ticket_id": (None, ticket_id)},
            )
        if old_contact is not None:
            await activity.record(
                conn,
                tenant,
                subject.actor,
                old_contact,
                "ticket_unlinked",
                {"ticket_id": (ticket_id, None)},
            )
    values["updated_at"] = utcnow()
    await repository.update_ticket(conn, tenant, ticket_id, values)
    ticket = to_wire({**row, **values})
    await events.record(conn, tenant, "ticket.updated", ticket, changed_fields=changes)
    return ticket


async def delete(conn: AsyncConnection, subject: Subject, ticket_id: str) -> None:
    """The ticket leaves lists and GET; its events stay, and `ticket.deleted` is written."""
    tenant = subject.tenant
    row = await repository.get(conn, tenant, ticket_id, for_update=True)
    if row is None:
        raise NotFound("ticket", ticket_id)
    now = utcnow()
    await repository.update_ticket(conn, tenant, ticket_id, {"deleted_at": now, "updated_at": now})
    if row["contact_id"] is not None:
        unlink = {"ticket_id": (ticket_id, None)}
        await activity.record(
            conn, tenant, subject.actor, row["contact_id"], "ticket_unlinked", unlink
        )
    await events.record(conn, tenant, "ticket.deleted", {**to_wire(row), "deleted": True})
