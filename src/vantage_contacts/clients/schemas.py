from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints, model_validator

from vantage_contacts.kit.clock import rfc3339
from vantage_contacts.kit.schemas import InputModel, Name, Notes, PhoneText

ClientStatus = Literal["active", "inactive", "archived"]
EmailSlug = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?$"
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


class ClientUpdate(InputModel):
    name: Name | None = None
    website: Website | None = None
    phone: PhoneText | None = None
    email_slug: EmailSlug | None = None
    status: ClientStatus | None = None
    notes: Notes | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> ClientUpdate:
        for field in ("name", "email_slug", "status"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"'{field}' cannot be cleared")
        return self


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
