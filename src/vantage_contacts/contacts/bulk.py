"""Bulk create, update and delete: each item succeeds or fails on its own, unless `atomic`.

Create checks every item first with a handful of batched queries, then inserts all the good
ones with batched statements (the path CSV imports take too). Update and delete run each item
in a savepoint, so one failing item rolls back alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Subject
from vantage_contacts.clients import repository as clients_repository
from vantage_contacts.config import Settings
from vantage_contacts.contacts import repository, service
from vantage_contacts.contacts.schemas import ContactCreate, ContactUpdate
from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.errors import (
    APIError,
    Conflict,
    InvalidRequest,
    NotFound,
    from_validation_error,
)

MAX_ITEMS = 100


@dataclass
class BulkResult:
    data: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, where: dict[str, Any], error: APIError) -> None:
        self.errors.append({**where, "error": error.body()["error"]})

    def wire(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "errors": self.errors,
            "summary": {"succeeded": len(self.data), "failed": len(self.errors)},
        }


class BulkFailed(APIError):
    """An `atomic` request in which some items failed: nothing was done."""

    status_code = 422
    code = "bulk_failed"

    def __init__(self, result: BulkResult) -> None:
        count = len(result.errors)
        super().__init__(
            f"{count} item(s) failed, so nothing was done (atomic).",
            extra={"items": result.errors},
        )


def parse_item(raw: Any) -> ContactCreate:
    """One item of a bulk create, validated like the body of a single create."""
    if not isinstance(raw, dict):
        # Pydantic's answer would speak of "the request body", which here is the whole list.
        raise InvalidRequest("Each item must be a JSON object of contact fields.")
    try:
        return ContactCreate.model_validate(raw)
    except ValidationError as error:
        details = [{**detail, "loc": ("body", *detail["loc"])} for detail in error.errors()]
        raise from_validation_error(RequestValidationError(details)) from None


@dataclass
class PreparedItems:
    """Items checked on their own and made into rows (no database needed): what is left to
    decide needs the database (clients, emails in use, duplicates)."""

    rows: list[tuple[int, dict[str, Any]]]  # (index, row)
    result: BulkResult  # the items that failed already
    keys: dict[str, frozenset[str]] = field(default_factory=dict)  # blocking keys, by row id

    def extend(self, other: PreparedItems) -> None:
        self.rows += other.rows
        self.result.errors += other.result.errors
        self.keys |= other.keys


def prepare_items(
    items: Sequence[Any], settings: Settings, *, first_index: int = 0
) -> PreparedItems:
    prepared = PreparedItems([], BulkResult())
    for offset, raw in enumerate(items):
        index = first_index + offset
        try:
            row = service.prepare(parse_item(raw), settings)
        except APIError as error:
            prepared.result.fail({"index": index}, error)
            continue
        prepared.keys[row["id"]] = duplicates.keys_of(duplicates.person(row))
        prepared.rows.append((index, row))
    return prepared


async def create_many(
    conn: AsyncConnection,
    subject: Subject,
    items: Sequence[Any],
    settings: Settings,
    *,
    first_index: int = 0,
) -> BulkResult:
    """Create what can be created; the result lists each item by its index, and the likely
    duplicates of each created contact (the create-time guard)."""
    prepared = prepare_items(items, settings, first_index=first_index)
    return await create_prepared(conn, subject, prepared, settings)


async def create_prepared(
    conn: AsyncConnection,
    subject: Subject,
    prepared: PreparedItems,
    settings: Settings,
    *,
    scorer: duplicates.Scorer = duplicates.score_in_loop,
    emails_taken: Mapping[str, str] | None = None,
) -> BulkResult:
    """`emails_taken` adds email keys in use that the database does not show (a dry run's
    earlier chunks, rolled back)."""
    result = prepared.result
    tenant = subject.tenant
    for _, row in prepared.rows:  # computed in another process, maybe
        if row["id"] in prepared.keys:
            duplicates.remember_keys(duplicates.person(row), prepared.keys[row["id"]])
    clients = await clients_repository.live_ids(
        conn, tenant, {r["client_id"] for _, r in prepared.rows}
    )
    wanted = {r["email_key"] for _, r in prepared.rows if r["email_key"]}
    taken = await repository.email_owners(conn, tenant, wanted)
    if emails_taken:
        taken |= {key: emails_taken[key] for key in wanted & emails_taken.keys()}
    primary_for: dict[str, int] = {}
    ready: list[tuple[int, dict[str, Any]]] = []
    for index, row in prepared.rows:
        refusal = _conflict(row, clients, taken, primary_for)
        if refusal is not None:
            result.fail({"index": index}, refusal)
            continue
        if row["email_key"]:
            taken[row["email_key"]] = row["id"]
        if row["is_primary"]:
            primary_for[row["client_id"]] = index
        ready.append((index, row))

    rows = [row for _, row in ready]
    gathered = await duplicates.guard_candidates(conn, tenant, rows)
    # The guard's scoring needs no database: it runs while the inserts wait on it.
    inserting = asyncio.ensure_future(service.insert_prepared(conn, subject, rows, settings))
    try:
        similar = await duplicates.possible_duplicates(gathered, scorer)
    except BaseException:
        # The inserts end on their own, even through another cancellation (a statement
        # cancelled halfway could leave the connection unusable); the transaction then rolls
        # back. Their own error, if any, is dropped.
        while not inserting.done():
            with suppress(asyncio.CancelledError):
                await asyncio.wait([inserting])
        if not inserting.cancelled():
            inserting.exception()
        raise
    # The inserts' own error, as it is (a TaskGroup would wrap it in an ExceptionGroup, which no
    # handler maps: a lost unique race must stay a 409).
    created = await inserting
    for (index, row), contact in zip(ready, created, strict=True):
        done: dict[str, Any] = {"index": index, "id": row["id"], "contact": contact}
        if similar.get(row["id"]):
            done["possible_duplicates"] = similar[row["id"]]
        result.data.append(done)
    result.errors.sort(key=lambda e: e["index"])
    return result


def _conflict(
    row: dict[str, Any],
    clients: set[str],
    taken: dict[str, str],
    primary_for: dict[str, int],
) -> APIError | None:
    if row["client_id"] not in clients:
        return NotFound("client", row["client_id"])
    owner = taken.get(row["email_key"]) if row["email_key"] else None
    if owner is not None:
        return Conflict(
            "Another contact already has this email address.",
            field="email",
            extra={"existing_id": owner},
        )
    if row["is_primary"] and row["client_id"] in primary_for:
        return Conflict(
            f"Item {primary_for[row['client_id']]} already makes a primary contact for this "
            "client; a client has one primary contact.",
            field="is_primary",
        )
    return None


Action = Callable[[AsyncConnection, str], Awaitable[dict[str, Any]]]


async def each_id(conn: AsyncConnection, ids: Sequence[str], action: Action) -> BulkResult:
    """Run `action` for every id in its own savepoint; a failure rolls back that item alone."""
    result = BulkResult()
    for contact_id in ids:
        try:
            async with conn.begin_nested():
                result.data.append(await action(conn, contact_id))
        except APIError as error:
            result.fail({"id": contact_id}, error)
        except IntegrityError:
            conflict = Conflict("This conflicts with a change made at the same moment.")
            result.fail({"id": contact_id}, conflict)
    return result


async def update_many(
    conn: AsyncConnection,
    subject: Subject,
    ids: Sequence[str],
    updates: ContactUpdate,
    settings: Settings,
) -> BulkResult:
    # As in a bulk create, one request makes at most one primary contact per client: a later
    # item would silently demote an earlier one, whose answer would then be stale.
    primary_for: dict[str, str] = {}

    async def update_one(conn: AsyncConnection, contact_id: str) -> dict[str, Any]:
        contact, _ = await service.update(conn, subject, contact_id, updates, None, settings)
        if updates.is_primary:
            earlier = primary_for.get(contact["client_id"])
            if earlier is not None:  # raised inside the item's savepoint: it rolls back
                raise Conflict(
                    f"Contact {earlier} already becomes this client's primary contact in this "
                    "request; a client has one primary contact.",
                    field="is_primary",
                )
            primary_for[contact["client_id"]] = contact_id
        return {"id": contact_id, "contact": contact}

    return await each_id(conn, ids, update_one)


async def delete_many(conn: AsyncConnection, subject: Subject, ids: Sequence[str]) -> BulkResult:
    async def delete_one(conn: AsyncConnection, contact_id: str) -> dict[str, Any]:
        await service.delete(conn, subject, contact_id, None)
        return {"id": contact_id, "deleted": True}

    return await each_id(conn, ids, delete_one)
