from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
)

from vantage_contacts.events.types import ALL, EVENT_TYPES
from vantage_contacts.kit.clock import rfc3339
from vantage_contacts.kit.schemas import InputModel, UpdateModel

EndpointStatus = Literal["active", "disabled"]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(max_length=500)]


def _known_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - {*EVENT_TYPES, ALL})
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}; use '*' for all")
    return sorted(set(types))


EventTypes = Annotated[list[str], Field(min_length=1, max_length=50), AfterValidator(_known_types)]


class WebhookCreate(InputModel):
    url: Url
    events: EventTypes = Field(description="Event types to receive, or ['*'] for all.")
    description: Description | None = None


class WebhookUpdate(UpdateModel):
    NOT_NULL = ("url", "events", "status")

    url: Url | None = None
    events: EventTypes | None = None
    description: Description | None = None
    status: EndpointStatus | None = None


class WebhookEndpoint(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    status: EndpointStatus
    disabled_reason: str | None
    created_at: str
    updated_at: str
    secret: str | None = Field(
        default=None, description="Only in the answers to create and rotate-secret."
    )


class Attempt(BaseModel):
    attempt: int
    attempted_at: str
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str | None


class Delivery(BaseModel):
    id: str
    message_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    updated_at: str
    attempts: list[Attempt]


def endpoint_wire(row: Mapping[Any, Any], secret: str | None = None) -> dict[str, Any]:
    data = {
        "id": row["id"],
        "url": row["url"],
        "events": row["events"],
        "description": row["description"],
        "status": row["status"],
        "disabled_reason": row["disabled_reason"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
    if secret is not None:
        data["secret"] = secret
    return data


def attempt_wire(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "attempt": row["attempt"],
        "attempted_at": rfc3339(row["attempted_at"]),
        "status_code": row["status_code"],
        "latency_ms": row["latency_ms"],
        "error": row["error"],
        "response_excerpt": row["response_excerpt"],
    }


def delivery_wire(row: Mapping[Any, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "message_id": row["message_id"],
        "endpoint_id": row["endpoint_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempt_count": row["attempt_count"],
        "next_attempt_at": rfc3339(row["next_attempt_at"]),
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
        "attempts": attempts,
    }
