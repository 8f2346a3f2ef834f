"""Merging contacts: `POST /v1/contacts/:id/merge` (with a dry run), and `/v1/merges` to list
merges and undo one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import or_

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.contacts.schemas import Contact
from vantage_contacts.duplicates import merge
from vantage_contacts.errors import error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.listing import fetch_page
from vantage_contacts.kit.pagination import Paging
from vantage_contacts.kit.responses import JSONBody, listing, single
from vantage_contacts.kit.schemas import Envelope, InputModel, ListEnvelope, ObjectId
from vantage_contacts.kit.scoping import in_tenant
from vantage_contacts.models import merges
from vantage_contacts.runtime import DB, AppSettings

router = APIRouter(tags=["Merge"], route_class=IdempotentRoute)


class MergeRequest(InputModel):
    merge_contact_id: ObjectId


class MergeRecord(BaseModel):
    id: str
    survivor_id: str
    merged_id: str
    moved: dict[str, int]
    actor: dict[str, Any]
    created_at: str
    undone_at: str | None


class FieldOutcome(BaseModel):
    field: str
    outcome: str  # kept, taken, combined, conflict
    survivor_value: Any
    merged_value: Any
    result: Any


class MergeAnswer(BaseModel):
    data: Contact
    merge: MergeRecord


class MergePreview(BaseModel):
    data: Contact
    fields: list[FieldOutcome]
    moves: dict[str, int]


@router.post(
    "/v1/contacts/{contact_id}/merge",
    response_model=MergeAnswer | MergePreview,
    responses=error_responses(404),
    dependencies=[Idempotent],
)
async def merge_contacts(
    contact_id: str,
    body: MergeRequest,
    subject: ApiKey,
    db: DB,
    settings: AppSettings,
    dry_run: Annotated[bool, Query(description="Show the result; change nothing.")] = False,
) -> JSONBody:
    """Merge another contact into this one: this contact survives, with its own non-empty
    values, empty ones filled from the other, flags OR-ed, the higher portal level and both
    notes. Tickets, activity and every other reference move here; the merged id then answers
    404 `contact_merged`. `dry_run=true` returns the survivor as it would be and a per-field
    report (kept, taken, combined, conflict) without changing anything. Undo with
    `POST /v1/merges/:id/undo`."""
    tenant = subject.tenant
    if dry_run:
        async with db.read() as conn:
            return JSONBody(await merge.preview(conn, tenant, contact_id, body.merge_contact_id))
    async with db.write() as conn:
        survivor, record = await merge.merge(
            conn, subject, contact_id, body.merge_contact_id, settings.default_phone_region
        )
    return JSONBody({"data": survivor, "merge": record})


@router.get("/v1/merges", response_model=ListEnvelope[MergeRecord], responses=error_responses())
async def list_merges(
    subject: ApiKey,
    db: DB,
    paging: Paging,
    contact_id: Annotated[
        str | None, Query(max_length=40, description="Merges this contact took part in.")
    ] = None,
) -> JSONBody:
    """Merges, newest first."""
    where = [in_tenant(merges, subject.tenant)]
    if contact_id is not None:
        where.append(or_(merges.c.survivor_id == contact_id, merges.c.merged_id == contact_id))
    ordering = [merges.c.created_at.desc(), merges.c.id.desc()]
    async with db.read() as conn:
        rows, total = await fetch_page(conn, merges, where, ordering, paging)
    return listing([merge.merge_wire(r) for r in rows], paging.page, paging.per_page, total)


@router.get(
    "/v1/merges/{merge_id}", response_model=Envelope[MergeRecord], responses=error_responses(404)
)
async def get_merge(merge_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """One merge."""
    async with db.read() as conn:
        record = await merge.get_record(conn, subject.tenant, merge_id)
    return single(merge.merge_wire(record))


@router.post(
    "/v1/merges/{merge_id}/undo",
    response_model=Envelope[MergeRecord],
    responses=error_responses(404, 409),
    dependencies=[Idempotent],
)
async def undo_merge(merge_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Restore both contacts as they were and move every reference back. Refused (409, naming
    the field) when either contact changed since the merge."""
    async with db.write() as conn:
        record = await merge.undo(conn, subject, merge_id)
    return single(record)
