from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints

from vantage_contacts.kit.clock import rfc3339
from vantage_contacts.kit.schemas import InputModel, Name, Notes, PhoneText, UpdateModel

ClientStatus = Literal["active", "inactive", "archived"]
# The pattern is checked before `to_lower` applies, so it admits capitals (stored lowercased).
EmailSlug = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        pattern=r"^[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,62}[a-zA-Z0-9])?$",
    ),
]
Website = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048, pattern=r"^\S+$")
]


class ClientCreate(InputModel):
    name: Name
    website: Website | None = None
    phone: PhoneText | None = None
    email_slug: EmailSlug | None = None
    status: ClientStatus = "active"
    notes: Notes | None = None


class ClientUpdate(UpdateModel):
    NOT_NULL = ("name", "email_slug", "status")

    name: Name | None = None
    website: Website | None = None
    phone: PhoneText | None = None
    email_slug: EmailSlug | None = None
    status: ClientStatus | None = None
    notes: Notes | None = None


class Client(BaseModel):
    id: str
    name: str
    website: str | None
    phone: str | None
    email_slug: str
    status: ClientStatus
    notes: str | None
    created_at: str
    updated_at: str


def to_wire(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "website": row["website"],
        "phone": row["phone"],
        "email_slug": row["email_slug"],
        "status": row["status"],
        "notes": row["notes"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
