"""Base schemas: strict inputs that refuse unknown fields, and the response envelopes."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")


class InputModel(BaseModel):
    """Every request body: unknown fields are refused (no mass assignment), no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


# Text fields: surrounding white space is dropped; lengths are checked after that.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class Pagination(BaseModel):
    page: int
    per_page: int
    total: int
    total_pages: int


class Envelope(BaseModel, Generic[T]):
    data: T


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
    pagination: Pagination


class Deleted(BaseModel):
    id: str
    deleted: bool = Field(examples=[True])
