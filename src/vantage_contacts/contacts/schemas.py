"""Request bodies (flat, as the seed's create body) and the contact object (nested)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
)

from vantage_contacts.kit.clock import rfc3339
from vantage_contacts.kit.normalize import check_email
from vantage_contacts.kit.schemas import (
    InputModel,
    Name,
    Notes,
    ObjectId,
    PhoneText,
    ShortText,
    UpdateModel,
)

PortalLevel = Literal["none", "view", "full"]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(check_email)
]


class ContactCreate(InputModel):
    client_id: ObjectId
    name: Name
    email: Email | None = None
    phone: PhoneText | None = None
    mobile: PhoneText | None = None
    title: ShortText | None = None
    department: ShortText | None = None
    is_primary: bool = False
    is_billing: bool = False
    is_technical: bool = False
    portal_access: PortalLevel = "none"
    receives_invoices: bool | None = Field(
        default=None, description="Defaults to the value of is_billing."
    )
    receives_reports: bool = False
    receives_project_updates: bool = True
    notes: Notes | None = None


# Fields an update may send but never clear with null.
NOT_CLEARABLE = (
    "client_id",
    "name",
    "is_primary",
    "is_billing",
    "is_technical",
    "portal_access",
    "receives_invoices",
    "receives_reports",
    "receives_project_updates",
)


class ContactUpdate(UpdateModel):
    """Partial update with the create body's field names; `null` clears an optional field."""

    NOT_NULL = NOT_CLEARABLE

    client_id: ObjectId | None = None
    name: Name | None = None
    email: Email | None = None
    phone: PhoneText | None = None
    mobile: PhoneText | None = None
    title: ShortText | None = None
    department: ShortText | None = None
    is_primary: bool | None = None
    is_billing: bool | None = None
    is_technical: bool | None = None
    portal_access: PortalLevel | None = None
    receives_invoices: bool | None = None
    receives_reports: bool | None = None
    receives_project_updates: bool | None = None
    notes: Notes | None = None


class Roles(BaseModel):
    is_primary: bool
    is_billing: bool
    is_technical: bool


class Portal(BaseModel):
    access_enabled: bool
    access_level: PortalLevel
    last_login_at: str | None
    invitation_sent_at: str | None
    password_reset_sent_at: str | None


class Communication(BaseModel):
    receives_invoices: bool
    receives_reports: bool
    receives_project_updates: bool


class Contact(BaseModel):
    id: str = Field(examples=["con_cuid123456"])
    client_id: str
    name: str
    email: str | None
    phone: str | None
    mobile: str | None
    title: str | None
    department: str | None
    roles: Roles
    portal: Portal
    communication: Communication
    notes: str | None
    created_at: str
    updated_at: str


class ContactWithIncludes(Contact):
    client: dict[str, Any] | None = Field(default=None, description="With include=client.")
    tickets: list[dict[str, Any]] | None = Field(default=None, description="With include=tickets.")
    activity: list[dict[str, Any]] | None = Field(
        default=None, description="With include=activity."
    )


def to_wire(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The contact object exactly as the seed shows it."""
    level = row["portal_access"]
    return {
        "id": row["id"],
        "client_id": row["client_id"],
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "mobile": row["mobile"],
        "title": row["title"],
        "department": row["department"],
        "roles": {
            "is_primary": row["is_primary"],
            "is_billing": row["is_billing"],
            "is_technical": row["is_technical"],
        },
        "portal": {
            "access_enabled": level != "none",
            "access_level": level,
            "last_login_at": rfc3339(row["portal_last_login_at"]),
            "invitation_sent_at": rfc3339(row["portal_invitation_sent_at"]),
            "password_reset_sent_at": rfc3339(row["portal_password_reset_sent_at"]),
        },
        "communication": {
            "receives_invoices": row["receives_invoices"],
            "receives_reports": row["receives_reports"],
            "receives_project_updates": row["receives_project_updates"],
        },
        "notes": row["notes"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
