from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from vantage_contacts.activity import service as activity
from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.clients import repository as clients_repository
from vantage_contacts.clients.schemas import to_wire as client_wire
from vantage_contacts.contacts import repository, service
from vantage_contacts.contacts.repository import ContactFilters
from vantage_contacts.contacts.schemas import (
    Contact,
    ContactCreate,
    ContactUpdate,
    ContactWithIncludes,
    to_wire,
)
from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.errors import InvalidParameter, error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.etag import etag
from vantage_contacts.kit.listing import Sort
from vantage_contacts.kit.normalize import digits, fold
from vantage_contacts.kit.pagination import Paging
from vantage_contacts.kit.responses import JSONBody, listing, single
from vantage_contacts.kit.schemas import Deleted, Envelope, ListEnvelope
from vantage_contacts.runtime import DB, AppSettings
from vantage_contacts.tickets import repository as tickets_repository
from vantage_contacts.tickets.schemas import to_wire as ticket_wire

router = APIRouter(prefix="/v1/contacts", tags=["Contacts"], route_class=IdempotentRoute)

INCLUDES = ("client", "tickets", "activity")
_PHONE_LIKE = re.compile(r"^[\d\s()+.\-]+$")
IfMatch = Annotated[
    str | None, Header(description="The contact's ETag; 412 when it is no longer current.")
]


def parse_includes(include: str | None) -> set[str]:
    if not include:
        return set()
    wanted = {part.strip() for part in include.split(",") if part.strip()}
    unknown = wanted - set(INCLUDES)
    if unknown:
        raise InvalidParameter(
            f"Unknown include value(s): {', '.join(sorted(unknown))}. "
            f"Use a comma-separated list of: {', '.join(INCLUDES)}.",
            field="include",
        )
    return wanted


def search_filters(search: str | None) -> dict[str, str | None]:
    if not search or not search.strip():
        return {}
    term = search.strip()
    phone_digits = digits(term) if _PHONE_LIKE.match(term) and len(digits(term)) >= 3 else None
    return {"search_text": fold(term), "search_digits": phone_digits}


@router.get("", response_model=ListEnvelope[Contact], responses=error_responses())
async def list_contacts(
    subject: ApiKey,
    db: DB,
    paging: Paging,
    client_id: Annotated[str | None, Query(max_length=40, description="Filter by client")] = None,
    is_primary: Annotated[bool | None, Query(description="Only primary contacts")] = None,
    is_billing: Annotated[bool | None, Query(description="Only billing contacts")] = None,
    is_technical: Annotated[bool | None, Query(description="Only technical contacts")] = None,
    has_portal_access: Annotated[
        bool | None, Query(description="Only contacts with portal access")
    ] = None,
    search: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Name or email contains (accents ignored), or phone digits.",
        ),
    ] = None,
    sort: Sort = Sort.created_at,
) -> JSONBody:
    """List all contacts, oldest first by default; ties are broken by id, so pages are stable."""
    filters = ContactFilters(
        client_id=client_id,
        is_primary=is_primary,
        is_billing=is_billing,
        is_technical=is_technical,
        has_portal_access=has_portal_access,
        **search_filters(search),
    )
    async with db.read() as conn:
        rows, total = await repository.page(conn, subject.tenant, paging, filters, sort.value)
    return listing([to_wire(r) for r in rows], paging.page, paging.per_page, total)


@router.post(
    "",
    dependencies=[Idempotent],
    status_code=201,
    response_model=Envelope[Contact],
    responses=error_responses(404, 409),
)
async def create_contact(
    body: ContactCreate, subject: ApiKey, db: DB, settings: AppSettings
) -> JSONBody:
    """Create a new contact. `client_id` must name a client of this workspace and mode; an email
    already used by another contact is 409 with `existing_id`. A contact that is likely a
    duplicate of another is still created, and the answer lists the likely matches in
    `possible_duplicates` beside `data`."""
    async with db.write() as conn:
        contact, version = await service.create(conn, subject, body, settings)
        # The stored row (with E.164 phones), so matching follows the phone-region setting.
        row = await repository.get(conn, subject.tenant, contact["id"])
        assert row is not None
        gathered = await duplicates.guard_candidates(conn, subject.tenant, [row])
        similar = await duplicates.possible_duplicates(gathered)
    headers = {"ETag": etag(version)}
    if similar[contact["id"]]:
        body_out = {"data": contact, "possible_duplicates": similar[contact["id"]]}
        return JSONBody(body_out, status_code=201, headers=headers)
    return single(contact, status_code=201, headers=headers)


@router.get(
    "/{contact_id}", response_model=Envelope[ContactWithIncludes], responses=error_responses(404)
)
async def get_contact(
    contact_id: str,
    subject: ApiKey,
    db: DB,
    include: Annotated[
        str | None, Query(max_length=100, description="Comma-separated: client, tickets, activity")
    ] = None,
) -> JSONBody:
    """Retrieve a contact by id, with its client, tickets or activity (newest first) if asked."""
    includes = parse_includes(include)
    tenant = subject.tenant
    async with db.read() as conn:
        row = await service.require(conn, tenant, contact_id)
        data: dict[str, Any] = to_wire(row)
        if "client" in includes:
            client = await clients_repository.get(conn, tenant, row["client_id"])
            data["client"] = client_wire(client) if client is not None else None
        if "tickets" in includes:
            tickets = await tickets_repository.for_contact(conn, tenant, contact_id)
            data["tickets"] = [ticket_wire(t) for t in tickets]
        if "activity" in includes:
            data["activity"] = await activity.for_contact(conn, tenant, contact_id)
    return single(data, headers={"ETag": etag(row["version"])})


@router.put(
    "/{contact_id}",
    response_model=Envelope[Contact],
    responses=error_responses(404, 409, 412),
)
async def update_contact(
    contact_id: str,
    body: ContactUpdate,
    subject: ApiKey,
    db: DB,
    settings: AppSettings,
    if_match: IfMatch = None,
) -> JSONBody:
    """Update a contact: only the fields sent change, with the create body's names;
    `null` clears an optional field. Making a contact primary demotes the previous primary."""
    async with db.write() as conn:
        contact, version = await service.update(conn, subject, contact_id, body, if_match, settings)
    return single(contact, headers={"ETag": etag(version)})


@router.delete(
    "/{contact_id}", response_model=Envelope[Deleted], responses=error_responses(404, 412)
)
async def delete_contact(
    contact_id: str, subject: ApiKey, db: DB, if_match: IfMatch = None
) -> JSONBody:
    """Delete a contact: removes their portal access and unlinks them from tickets (which keep
    the contact's name). Historical references are preserved."""
    async with db.write() as conn:
        await service.delete(conn, subject, contact_id, if_match)
    return single({"id": contact_id, "deleted": True})
