"""`GET /v1/contacts/duplicates` and `POST /v1/contacts/duplicates/dismiss`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.auth.subject import Tenant
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


def _contact(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "mobile": row["mobile"],
        "client_id": row["client_id"],
    }


async def _fresh_pairs(
    conn: AsyncConnection,
    tenant: Tenant,
    contact_id: str,
    min_confidence: float,
    client_id: str | None,
) -> list[dict[str, Any]]:
    """The candidates of one contact, scored now (what an integrator asks before creating)."""
    row = await contacts.require(conn, tenant, contact_id)
    if client_id is not None and row["client_id"] != client_id:
        return []
    found = await service.candidates(conn, tenant, [service.person(row)], min_confidence)
    pairs = []
    for other, match in found[contact_id]:
        if client_id is not None and other.client_id != client_id:
            continue
        a, b = service.ordered(contact_id, other.id)
        pairs.append(
            {
                "contact_a": a,
                "contact_b": b,
                "confidence": match.confidence,
                "match_reason": match.match_reason,
                "reasons": service.suggestion(match)["reasons"],
            }
        )
    return pairs


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
    true duplicates) and every scored pair with the field scores behind it."""
    tenant = subject.tenant
    async with db.read() as conn:
        if contact_id is not None:
            pairs = await _fresh_pairs(conn, tenant, contact_id, min_confidence, client_id)
        else:
            stored = await repository.scored_pairs(conn, tenant, min_confidence, client_id)
            pairs = [dict(p) for p in stored]
        groups = service.groups_of(pairs)
        total = len(groups)
        shown = groups[paging.offset : paging.offset + paging.per_page]
        ids = {cid for g in shown for cid in g["contact_ids"]}
        rows = {r["id"]: r for r in await repository.live_contacts(conn, tenant, ids)}
        pending = await repository.pending_checks(conn, tenant)
    data = [
        {
            "contacts": [_contact(rows[cid]) for cid in g["contact_ids"] if cid in rows],
            "match_reason": g["match_reason"],
            "confidence": g["confidence"],
            "pairs": g["pairs"],
        }
        for g in shown
    ]
    return listing(data, paging.page, paging.per_page, total, pending_checks=pending)


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
