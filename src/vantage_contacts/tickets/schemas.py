from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    StringConstraints,
    model_validator,
)

from vantage_contacts.kit.clock import rfc3339
from vantage_contacts.kit.schemas import InputModel, ObjectId, UpdateModel

TicketStatus = Literal["open", "awaiting_approval", "approved", "closed"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(max_length=50_000)]

# Which status may follow which.
TRANSITIONS: dict[str, set[str]] = {
    "open": {"awaiting_approval", "closed"},
    "awaiting_approval": {"approved", "open", "closed"},
    "approved": {"open", "closed"},
    "closed": {"open"},
}


class TicketCreate(InputModel):
    title: Title
    description: Description | None = None
    client_id: ObjectId | None = None
    contact_id: ObjectId | None = None
    status: Literal["open", "awaiting_approval"] = "open"

    @model_validator(mode="after")
    def _has_owner(self) -> TicketCreate:
        if self.client_id is None and self.contact_id is None:
            raise ValueError("give client_id, contact_id, or both")
        return self


class TicketUpdate(UpdateModel):
    NOT_NULL = ("title", "status")

    title: Title | None = None
    description: Description | None = None
    contact_id: ObjectId | None = None
    status: TicketStatus | None = None


class Ticket(BaseModel):
    id: str
    number: int
    client_id: str
    contact_id: str | None
    contact_name: str | None
    title: str
    description: str | None
    status: TicketStatus
    created_at: str
    updated_at: str


def to_wire(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "client_id": row["client_id"],
        "contact_id": row["contact_id"],
        "contact_name": row["contact_name"],
        "title": row["title"],
        "description": row["description"],
        "status": row["status"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
