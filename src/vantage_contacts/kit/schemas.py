"""Base schemas: strict inputs that refuse unknown fields, and the response envelopes."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

T = TypeVar("T")


class InputModel(BaseModel):
    """Every request body: unknown fields are refused (no mass assignment), no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # PostgreSQL text cannot hold U+0000 (the insert would fail with a 500) and SQLite
        # would keep it; refusing it here makes both databases answer alike, with a 422.
        if _has_nul(value):
            raise PydanticCustomError(
                "invalid_characters",
                "'{field}' must not contain NUL characters.",
                {"field": info.field_name},
            )
        return value


class UpdateModel(InputModel):
    """A partial update: absent fields stay as they are, `null` clears an optional field, and
    the fields named in NOT_NULL refuse `null` (the 422 names the field)."""

    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for fields that were sent: defaults are not validated.
        if value is None and info.field_name in cls.NOT_NULL:
            raise ValueError(f"'{info.field_name}' cannot be null")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


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
