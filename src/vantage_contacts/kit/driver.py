"""The asyncpg connection under a SQLAlchemy connection, for the few paths where SQLAlchemy's
per-row work is most of the cost: COPY for many new rows, and reading millions of narrow rows.

The statement runs inside the connection's own transaction and never beside another statement
of the same connection (the adapter's mutex), so it sees and is undone with everything else the
request does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Select
from sqlalchemy.engine import Compiled
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


async def fetch_rows(conn: AsyncConnection, query: Select[Any]) -> list[Sequence[Any]]:
    """All rows of `query`, each unpacking like a tuple. On PostgreSQL they are the driver's own
    records, decoded with no SQLAlchemy row around them: several times faster for the millions
    of narrow rows of a duplicates listing."""
    statement = _statement(conn, query) if conn.dialect.name == "postgresql" else None
    if statement is None:
        return list(await conn.execute(query))
    sql, params = statement
    async with asyncpg_connection(conn, "SELECT") as driver:
        records: list[Sequence[Any]] = await driver.fetch(sql, *params)
    return records


async def fetch_mappings(conn: AsyncConnection, query: Select[Any]) -> list[Mapping[str, Any]]:
    """All rows of `query`, each read by column name (`row["id"]`, `row.get(...)`, `dict(row)`);
    see `fetch_rows`. Values come as the driver decodes them: for text, numbers and flags the
    same as through SQLAlchemy. (An asyncpg record iterates over its values, not its names.)"""
    if conn.dialect.name != "postgresql":
        return list((await conn.execute(query)).mappings())
    return cast(list[Mapping[str, Any]], await fetch_rows(conn, query))


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: list[str]  # of the parameters, in their order
    compiled: Compiled


# Compiled statements by SQLAlchemy's cache key, as SQLAlchemy keeps its own: compiling costs
# about a millisecond, several times what running a small statement does.
_COMPILED: dict[Any, _Compiled] = {}
_COMPILED_MAX = 500


def _statement(conn: AsyncConnection, query: Select[Any]) -> tuple[str, list[Any]] | None:
    """The query's text and its parameter values in order; None for a query whose text depends
    on its values (an expanding IN), which SQLAlchemy runs itself."""
    cache_key = query._generate_cache_key()
    found = _COMPILED.get(cache_key.key) if cache_key is not None else None
    if found is None:
        compiled = query.compile(dialect=conn.dialect, cache_key=cache_key)
        if compiled.literal_execute_params or compiled.post_compile_params:
            return None
        found = _Compiled(str(compiled), list(compiled.positiontup or ()), compiled)
        if cache_key is not None:
            if len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.clear()
            _COMPILED[cache_key.key] = found
    extracted = cache_key.bindparams if cache_key is not None else None
    params = found.compiled.construct_params(extracted_parameters=extracted) or {}
    return found.sql, [params[name] for name in found.names]
