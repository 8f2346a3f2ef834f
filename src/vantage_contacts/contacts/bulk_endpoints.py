"""`/v1/contacts/bulk`: create, update and delete up to 100 contacts in one request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.contacts import bulk
from vantage_contacts.contacts.schemas import Contact, ContactUpdate
from vantage_contacts.db import Database
from vantage_contacts.errors import error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.kit.responses import JSONBody
from vantage_contacts.kit.schemas import InputModel, ObjectId
from vantage_contacts.runtime import DB, AppSettings

router = APIRouter(prefix="/v1/contacts/bulk", tags=["Bulk"], route_class=IdempotentRoute)


def _unique(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("ids must not repeat")
    return ids


Ids = Annotated[
    list[ObjectId],
    Field(min_length=1, max_length=bulk.MAX_ITEMS),
    AfterValidator(_unique),
]


class BulkOptions(InputModel):
    atomic: bool = Field(default=False, description="All or nothing: any failure undoes all.")
    validate_only: bool = Field(
        default=False, description="Report what would happen; change nothing."
    )


class BulkCreate(BulkOptions):
    # Items are checked one by one (so one bad item fails alone), each like a create body.
    contacts: list[Any] = Field(
        min_length=1,
        max_length=bulk.MAX_ITEMS,
        json_schema_extra={"items": {"$ref": "#/components/schemas/ContactCreate"}},
    )


class BulkUpdate(BulkOptions):
    ids: Ids
    updates: ContactUpdate


class BulkDelete(BulkOptions):
    ids: Ids


class ItemError(BaseModel):
    index: int | None = None
    id: str | None = None
    error: dict[str, Any]


class PossibleDuplicate(BaseModel):
    id: str
    confidence: float
    match_reason: str


class ItemDone(BaseModel):
    index: int | None = None
    id: str
    contact: Contact | None = None
    deleted: bool | None = None
    possible_duplicates: list[PossibleDuplicate] | None = None


class Summary(BaseModel):
    succeeded: int
    failed: int


class BulkAnswer(BaseModel):
    data: list[ItemDone]
    errors: list[ItemError]
    summary: Summary


class _DryRun(Exception):
    def __init__(self, result: bulk.BulkResult) -> None:
        self.result = result


async def _run(
    db: Database,
    options: BulkOptions,
    work: Callable[[AsyncConnection], Awaitable[bulk.BulkResult]],
) -> JSONBody:
    """One transaction; undone when atomic and something failed, or when only validating."""
    try:
        async with db.write() as conn:
            result = await work(conn)
            if options.atomic and result.errors:
                raise bulk.BulkFailed(result)
            if options.validate_only:
                raise _DryRun(result)
    except _DryRun as dry_run:
        result = dry_run.result
    return JSONBody(result.wire())


@router.post(
    "",
    response_model=BulkAnswer,
    responses=error_responses(),
    dependencies=[Idempotent],
)
async def bulk_create(body: BulkCreate, subject: ApiKey, db: DB, settings: AppSettings) -> JSONBody:
    """Create up to 100 contacts. Each item succeeds or fails on its own (`errors` lists failures
    by `index`) unless `atomic`; each created contact writes its activity and event."""
    return await _run(
        db, body, lambda conn: bulk.create_many(conn, subject, body.contacts, settings)
    )


@router.put(
    "",
    response_model=BulkAnswer,
    responses=error_responses(),
    dependencies=[Idempotent],
)
async def bulk_update(body: BulkUpdate, subject: ApiKey, db: DB, settings: AppSettings) -> JSONBody:
    """Apply the same partial update to up to 100 contacts; failures are listed by `id`. With
    `is_primary: true`, the first contact of each client becomes its primary contact and any
    other of the same client fails with 409 (a client has one primary contact)."""
    return await _run(
        db, body, lambda conn: bulk.update_many(conn, subject, body.ids, body.updates, settings)
    )


@router.delete(
    "",
    response_model=BulkAnswer,
    responses=error_responses(),
    dependencies=[Idempotent],
)
async def bulk_delete(body: BulkDelete, subject: ApiKey, db: DB) -> JSONBody:
    """Delete up to 100 contacts; failures are listed by `id`."""
    return await _run(db, body, lambda conn: bulk.delete_many(conn, subject, body.ids))
