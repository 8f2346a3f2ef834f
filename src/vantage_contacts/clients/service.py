"""Decisions about clients: slugs, validation, deletion rules, activity-free events."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.clients import repository
from vantage_contacts.clients.schemas import ClientCreate, ClientUpdate, to_wire
from vantage_contacts.errors import Conflict, NotFound, ValidationFailed
from vantage_contacts.events import service as events
from vantage_contacts.kit.changes import diff
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.normalize import fold, phone_e164

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def _slug_base(name: str) -> str:
    return _NOT_SLUG.sub("-", fold(name)).strip("-")[:48].strip("-") or "client"


async def _free_slug(conn: AsyncConnection, tenant: Tenant, name: str) -> str:
    base = _slug_base(name)
    candidate, n = base, 1
    while await repository.slug_taken(conn, tenant, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _check_phone(phone: str | None, region: str) -> None:
    if phone is None:
        return
    try:
        phone_e164(phone, region)
    except ValueError as error:
        raise ValidationFailed.one("phone", f"'phone' is {error}.", "invalid_phone") from None


async def require(conn: AsyncConnection, tenant: Tenant, client_id: str) -> RowMapping:
    row = await repository.get(conn, tenant, client_id)
    if row is None:
        raise NotFound("client", client_id)
    return row


async def create(
    conn: AsyncConnection, tenant: Tenant, body: ClientCreate, phone_region: str
) -> dict[str, Any]:
    _check_phone(body.phone, phone_region)
    await repository.lock_slugs(conn, tenant)
    if body.email_slug is not None:
        if await repository.slug_taken(conn, tenant, body.email_slug):
            raise Conflict("Another client has this email_slug.", field="email_slug")
        slug = body.email_slug
    else:
        slug = await _free_slug(conn, tenant, body.name)
    now = utcnow()
    values = {
        "id": new_id("cli"),
        "name": body.name,
        "name_folded": fold(body.name),
        "website": body.website,
        "phone": body.phone,
        "email_slug": slug,
        "status": body.status,
        "notes": body.notes,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }
    await repository.insert_client(conn, tenant, values)
    client = to_wire(values)
    await events.record(conn, tenant, "client.created", client)
    return client


async def update(
    conn: AsyncConnection, tenant: Tenant, client_id: str, body: ClientUpdate, phone_region: str
) -> dict[str, Any]:
    row = await repository.get(conn, tenant, client_id, for_update=True)
    if row is None:
        raise NotFound("client", client_id)
    wanted = body.model_dump(exclude_unset=True)
    _check_phone(wanted.get("phone"), phone_region)
    changes = diff(row, wanted)
    if not changes:
        return to_wire(row)
    if "email_slug" in changes:
        await repository.lock_slugs(conn, tenant)
        if await repository.slug_taken(conn, tenant, wanted["email_slug"], except_id=client_id):
            raise Conflict("Another client has this email_slug.", field="email_slug")
    values = {field: new for field, (_, new) in changes.items()}
    if "name" in values:
        values["name_folded"] = fold(values["name"])
    values["updated_at"] = utcnow()
    await repository.update_client(conn, tenant, client_id, values)
    client = to_wire({**row, **values})
    await events.record(conn, tenant, "client.updated", client, changed_fields=changes)
    return client


async def delete(conn: AsyncConnection, tenant: Tenant, client_id: str) -> None:
    row = await repository.get(conn, tenant, client_id, for_update=True)
    if row is None:
        raise NotFound("client", client_id)
    if await repository.has_live_contacts(conn, tenant, client_id):
        raise Conflict("This client still has contacts; delete or move them first.")
    now = utcnow()
    await repository.update_client(conn, tenant, client_id, {"deleted_at": now, "updated_at": now})
    await events.record(conn, tenant, "client.deleted", to_wire(row))
