"""Engines and transactions.

A request reads in one transaction (`Database.read`) or writes in one (`Database.write`),
which commits once when the block ends and rolls back on any error. On SQLite, write
transactions start with BEGIN IMMEDIATE so two writers queue instead of failing halfway, and
reads use their own connections so they never wait behind a writer (WAL mode).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

CommitHook = Callable[[AsyncConnection], Awaitable[None]]
# Work that must commit with the request's own change, registered per request (the
# idempotency record is the one user): run inside every write transaction, just before COMMIT.
before_commit: ContextVar[tuple[CommitHook, ...]] = ContextVar("before_commit", default=())


def async_url(url: str) -> str:
    """The URL with the async driver this service uses: aiosqlite or asyncpg."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
    backend = parsed.get_backend_name()
    if backend not in driver:
        raise ValueError(f"unsupported database: {backend}")
    return parsed.set(drivername=driver[backend]).render_as_string(hide_password=False)


# Statements are prepared once per connection; by default PostgreSQL then keeps one generic plan
# for each, made from the table's size when it was planned. A table that was small then (a new
# workspace, a table filling during an import) keeps plans that scan it whole: lookups of 300
# contacts went from 5 ms to over a second as a table grew to 30,000 rows. Planning each
# execution with the table's current size costs a fraction of a millisecond.
POSTGRESQL_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def _sqlite_engine(url: str, begin: str, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=30)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        # The driver's own implicit BEGIN is off; we send ours below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """The service's database: one engine on PostgreSQL, a reader and a writer on SQLite."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            self.writer = _sqlite_engine(self.url, "BEGIN IMMEDIATE", pool_size=4)
            self.reader = _sqlite_engine(self.url, "BEGIN", pool_size=pool_size)
        else:
            self.writer = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=False,
                connect_args={"server_settings": POSTGRESQL_SETTINGS},
            )
            self.reader = self.writer

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: commits when the block ends, rolls back on any exception."""
        async with self.writer.begin() as conn:
            yield conn
            for hook in before_commit.get():
                await hook(conn)

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
