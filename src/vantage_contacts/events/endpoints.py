from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.errors import InvalidParameter, NotFound, error_responses
from vantage_contacts.events import repository
from vantage_contacts.events.types import EVENT_TYPES, payload
from vantage_contacts.kit.pagination import Paging
from vantage_contacts.kit.responses import JSONBody, listing, single
from vantage_contacts.kit.schemas import Envelope, ListEnvelope
from vantage_contacts.runtime import DB

router = APIRouter(prefix="/v1/events", tags=["Events"])


class Event(BaseModel):
    id: str
    type: str
    created_at: str
    workspace_id: str
    data: dict[str, Any]
    changed_fields: list[str] | None = None


def parse_types(type_filter: str | None) -> list[str]:
    if not type_filter:
        return []
    wanted = [part.strip() for part in type_filter.split(",") if part.strip()]
    unknown = sorted(set(wanted) - set(EVENT_TYPES))
    if unknown:
        raise InvalidParameter(f"Unknown event type(s): {', '.join(unknown)}.", field="type")
    return wanted


@router.get("", response_model=ListEnvelope[Event], responses=error_responses())
async def list_events(
    subject: ApiKey,
    db: DB,
    paging: Paging,
    type: Annotated[
        str | None, Query(max_length=500, description="Event type(s), comma-separated.")
    ] = None,
    created_after: Annotated[
        datetime | None, Query(description="Only events created after this RFC 3339 time.")
    ] = None,
    object_id: Annotated[
        str | None, Query(max_length=40, description="Only events about this object.")
    ] = None,
) -> JSONBody:
    """List events, newest first. Every change writes one in the same transaction."""
    if created_after is not None and created_after.tzinfo is None:
        created_after = created_after.replace(tzinfo=UTC)
    async with db.read() as conn:
        rows, total = await repository.page(
            conn,
            subject.tenant,
            paging,
            types=parse_types(type),
            created_after=created_after,
            object_id=object_id,
        )
    return listing([payload(r) for r in rows], paging.page, paging.per_page, total)


@router.get("/{event_id}", response_model=Envelope[Event], responses=error_responses(404))
async def get_event(event_id: str, subject: ApiKey, db: DB) -> JSONBody:
    """Retrieve one event: the object as the API returned it when the event happened."""
    async with db.read() as conn:
        row = await repository.get(conn, subject.tenant, event_id)
    if row is None:
        raise NotFound("event", event_id)
    return single(payload(row))
