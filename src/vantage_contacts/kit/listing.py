"""One page of a tenant-scoped list: ordered by a sort key with the id as tie-breaker, so pages
never repeat or skip a row, plus the total count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.kit.pagination import PageRequest


class Sort(StrEnum):
    created_at = "created_at"
    created_at_desc = "-created_at"
    updated_at = "updated_at"
    updated_at_desc = "-updated_at"
    name = "name"
    name_desc = "-name"


def order_by(table: Table, sort: str, columns: Mapping[str, str]) -> list[Any]:
    """`-created_at` → [created_at DESC, id DESC]; `columns` maps sort names to columns."""
    descending = sort.startswith("-")
    column = table.c[columns[sort.lstrip("-")]]
    key = table.c.id
    return [column.desc(), key.desc()] if descending else [column.asc(), key.asc()]


async def fetch_page(
    conn: AsyncConnection,
    table: Table,
    where: Sequence[ColumnElement[bool]],
    ordering: Sequence[Any],
    page: PageRequest,
) -> tuple[list[RowMapping], int]:
    total = await conn.scalar(select(func.count()).select_from(table).where(*where))
    if not total or page.offset >= total:
        return [], int(total or 0)
    rows = await conn.execute(
        select(table).where(*where).order_by(*ordering).limit(page.per_page).offset(page.offset)
    )
    return list(rows.mappings()), int(total)
