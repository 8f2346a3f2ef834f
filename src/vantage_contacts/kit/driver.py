"""The asyncpg connection under a SQLAlchemy connection, for the few paths where SQLAlchemy's
per-row work is most of the cost: COPY for many new rows, and reading millions of narrow rows.

The statement runs inside the connection's own transaction and never beside another statement
of the same connection (the adapter's mutex), so it sees and is undone with everything else the
request does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection


@asynccontextmanager
async def asyncpg_connection(conn: AsyncConnection, what: str) -> AsyncIterator[Any]:
    """The driver's connection, in the caller's transaction; its errors come out as the ones
    SQLAlchemy would raise for the same statement, so handlers treat both alike."""
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection  # SQLAlchemy's asyncpg adapter
    # The adapter opens its transaction at the first statement; this must run inside it.
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        try:
            yield raw.driver_connection
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(what, None, error) from error
        except asyncpg.PostgresError as error:
            raise DBAPIError(what, None, error) from error
        except (asyncpg.InterfaceError, OSError) as error:
            raise InterfaceError(what, None, error) from error


async def fetch_tuples(conn: AsyncConnection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """All rows of `query` as plain tuples. On PostgreSQL the driver decodes them directly,
    about ten times faster than SQLAlchemy's result rows for millions of narrow rows."""
    if conn.dialect.name != "postgresql":
        return [tuple(row) for row in await conn.execute(query)]
    compiled = query.compile(dialect=conn.dialect)
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    async with asyncpg_connection(conn, "SELECT") as driver:
        records = await driver.fetch(str(compiled), *params)
    return [tuple(record) for record in records]
