"""`/v1/contacts/imports`: upload a CSV; the worker imports it in chunks; poll its progress."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.contacts.bulk_endpoints import PossibleDuplicate
from vantage_contacts.errors import NotFound, ValidationFailed, error_responses
from vantage_contacts.idempotency.route import Idempotent, IdempotentRoute
from vantage_contacts.imports import service
from vantage_contacts.kit.responses import JSONBody, single
from vantage_contacts.kit.schemas import Envelope
from vantage_contacts.runtime import DB

router = APIRouter(prefix="/v1/contacts/imports", tags=["Import"], route_class=IdempotentRoute)


class RowError(BaseModel):
    row: int
    error: dict[str, Any]


class FlaggedRow(BaseModel):
    row: int
    id: str
    possible_duplicates: list[PossibleDuplicate]


class ContactImport(BaseModel):
    id: str
    status: str = Field(
        description="pending, processing, completed, or failed: after five failed attempts "
        "the job ends where it stands (the rows before it stay) and `failure` says why."
    )
    filename: str | None
    total_rows: int
    processed_rows: int
    created: int
    failed: int
    errors: list[RowError]
    flagged: int = Field(description="Created rows that look like contacts already there.")
    possible_duplicates: list[FlaggedRow]
    ignored_columns: list[str] = Field(
        description="Named columns that no field reads (map them with `mapping` if meant)."
    )
    failure: str | None
    created_at: str
    updated_at: str
    completed_at: str | None


def _mapping(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        mapping = json.loads(text)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ValidationFailed.one(
            "mapping", 'mapping must be a JSON object such as {"Full Name": "name"}.', "invalid"
        )
    return mapping


@router.post(
    "",
    status_code=202,
    response_model=Envelope[ContactImport],
    responses=error_responses(404),
    dependencies=[Idempotent],
)
async def create_import(
    subject: ApiKey,
    db: DB,
    file: Annotated[UploadFile, File(description="A CSV file, UTF-8, with a header row.")],
    client_id: Annotated[str | None, Form(max_length=40)] = None,
    client_column: Annotated[
        str | None, Form(max_length=200, description="Column holding each row's client.")
    ] = None,
    mapping: Annotated[
        str | None,
        Form(description='JSON object: CSV header → field, e.g. {"Full Name": "name"}.'),
    ] = None,
) -> JSONBody:
    """Queue a CSV import. Columns named like the create fields (or usual spellings such as
    "E-mail" or "Job Title") map by themselves; `ignored_columns` names the others. Give
    `client_id` (every row's client) or `client_column`, not both. Rows that fail are listed
    with their line. A cell that starts with an apostrophe before `=`, `+`, `-` or `@` (as
    export writes it, so spreadsheets do not run it) loses that apostrophe."""
    for name, value in (("client_id", client_id), ("client_column", client_column)):
        if value is not None and "\x00" in value:
            raise ValidationFailed.one(name, f"'{name}' must not contain NUL characters.")
    text = service.decode(await file.read())
    options = service.ImportOptions(client_id, client_column, _mapping(mapping))
    async with db.write() as conn:
        job = await service.create_job(
            conn, subject.tenant, subject.actor, text, file.filename, options
        )
    return single(service.wire(job), status_code=202)


@router.get("/{import_id}", response_model=Envelope[ContactImport], responses=error_responses(404))
async def get_import(import_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """An import's progress, its counts, and the first 1,000 row errors."""
    async with db.read() as conn:
        job = await service.get(conn, subject.tenant, import_id)
    if job is None:
        raise NotFound("import", import_id)
    return single(service.wire(job))
