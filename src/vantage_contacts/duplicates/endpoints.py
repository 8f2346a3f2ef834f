"""`GET /v1/contacts/duplicates` and `POST /v1/contacts/duplicates/dismiss`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, Field

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.contacts import repository as contacts_repository
from vantage_contacts.contacts import service as contacts
from vantage_contacts.duplicates import repository, service
from vantage_contacts.errors import error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.pagination import Paging
from vantage_contacts.kit.responses import JSONBody, listing, single
from vantage_contacts.kit.schemas import Envelope, InputModel, ObjectId, Pagination
from vantage_contacts.runtime import DB

router = APIRouter(
    prefix="/v1/contacts/duplicates", tags=["Duplicates"], route_class=IdempotentRoute
)


class DuplicateContact(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    mobile: str | None
    client_id: str


class Reason(BaseModel):
    reason: str
    field: str
    score: float


class Pair(BaseModel):
    contact_ids: list[str]
    confidence: float
    match_reason: str
    reasons: list[Reason]


class DuplicateGroup(BaseModel):
    contacts: list[DuplicateContact]
    match_reason: str = Field(examples=["same_name"])
    confidence: float = Field(ge=0, le=1, examples=[0.85])
    pairs: list[Pair]


class DuplicateList(BaseModel):
    data: list[DuplicateGroup]
    pagination: Pagination
    pending_checks: int = Field(
        description="Contacts changed so recently that their pairs are still being scored."
    )


def _two_ids(ids: list[str]) -> list[str]:
    if len(set(ids)) != 2:
        raise ValueError("give exactly two different contact ids")
    return ids


class Dismiss(InputModel):
    contact_ids: Annotated[
        list[ObjectId], Field(min_length=2, max_length=2), AfterValidator(_two_ids)
    ]


class Dismissed(BaseModel):
    contact_ids: list[str]
    dismissed: bool


@router.get("", response_model=DuplicateList, responses=error_responses(404))
async def list_duplicates(
    subject: ApiKey,
    db: DB,
    paging: Paging,
    client_id: Annotated[str | None, Query(max_length=40, description="Only this client.")] = None,
    min_confidence: Annotated[
        float, Query(ge=0.2, le=1.0, description="Only suggestions this likely (0.2 to 1).")
    ] = 0.5,
    contact_id: Annotated[
        str | None,
        Query(max_length=40, description="The candidates for this one contact, scored now."),
    ] = None,
) -> JSONBody:
    """Groups of contacts that are likely one person, strongest first, each with its strongest
    `match_reason`, its `confidence` (among suggestions at confidence c, about a fraction c are
    true duplicates) and every scored pair with the field scores behind it. Suggestions that
    connect contacts make one group; a chain of more than 50 (namesakes suggested with one
    another) is split into groups around its most strongly matched contacts."""
    tenant = subject.tenant
    async with db.read() as conn:
        if contact_id is not None:
            contact = await contacts.require(conn, tenant, contact_id)
            page = await service.fresh_groups(
                conn, tenant, contact, min_confidence, client_id, paging.offset, paging.per_page
            )
        else:
            page = await service.stored_groups(
                conn, tenant, min_confidence, client_id, paging.offset, paging.per_page
            )
        pending = await repository.pending_checks(conn, tenant)
    return listing(page.groups, paging.page, paging.per_page, page.total, pending_checks=pending)


@router.post(
    "/dismiss",
    response_model=Envelope[Dismissed],
    responses=error_responses(404),
    dependencies=[Idempotent],
)
async def dismiss_duplicate(body: Dismiss, subject: ApiKey, db: DB) -> JSONBody:
    """Say two contacts are not the same person: the pair is not suggested again."""
    tenant = subject.tenant
    a, b = service.ordered(*body.contact_ids)
    async with db.write() as conn:
        for contact_id in (a, b):
            contacts.visible(await contacts_repository.get(conn, tenant, contact_id), contact_id)
        await repository.dismiss(conn, tenant, a, b, utcnow())
    return single({"contact_ids": [a, b], "dismissed": True})
