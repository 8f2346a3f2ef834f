"""Many new rows into one table, as fast as the database takes them, in the caller's transaction.

PostgreSQL: COPY through the connection's own driver (asyncpg). For a 100-contact batch an
INSERT executemany spent more time in SQLAlchemy's per-value bind rendering than in the
database; COPY sends the rows in the driver's binary format with no statement to render.
SQLite: executemany of one INSERT, compiled once and cached by SQLAlchemy.

Rows must all have the same keys; columns not named keep their database default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.kit.driver import asyncpg_connection

Encoder = Callable[[Any], Any]


def _json_text(value: Any) -> str | None:
    # The asyncpg dialect sends `json` columns as text it has serialised itself.
    return None if value is None else orjson.dumps(value).decode()


def _encoders(table: Table, columns: Sequence[str]) -> list[Encoder | None]:
    return [_json_text if isinstance(table.c[name].type, JSON) else None for name in columns]


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        await conn.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    encoders = _encoders(table, columns)
    records = [
        tuple(
            value if encode is None else encode(value)
            for encode, value in zip(encoders, (row[name] for name in columns), strict=True)
        )
        for row in rows
    ]
    await _copy(conn, table.name, columns, records)


async def insert_records(
    conn: AsyncConnection, table: Table, columns: Sequence[str], records: Sequence[tuple[Any, ...]]
) -> None:
    """Rows given as tuples in the order of `columns`, for tables of many narrow rows (no
    dictionary per row). No JSON columns."""
    if not records:
        return
    if conn.dialect.name == "postgresql":
        await _copy(conn, table.name, list(columns), list(records))
        return
    await conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in records])


async def _copy(
    conn: AsyncConnection, table_name: str, columns: list[str], records: list[tuple[Any, ...]]
) -> None:
    async with asyncpg_connection(conn, f"COPY {table_name}") as driver:
        await driver.copy_records_to_table(table_name, records=records, columns=columns)
