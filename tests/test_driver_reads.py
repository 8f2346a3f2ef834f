"""fetch_rows / fetch_mappings: the driver-level reads under the duplicates listing and the
create-time guard. They must return what SQLAlchemy would, see the caller's own uncommitted
writes, and reuse a compiled statement with each call's own values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.kit.among import probe
from vantage_contacts.kit.driver import fetch_mappings, fetch_rows
from vantage_contacts.models import contacts


def _contacts_query(conn: Any, workspace_id: str, ids: list[str], limit: int) -> Any:
    query = (
        select(contacts.c.id, contacts.c.name, contacts.c.version)
        .where(contacts.c.workspace_id == workspace_id)
        .limit(limit)
    )
    return probe(conn, query, contacts.c.id, ids)


def test_reads_match_sqlalchemy_with_each_calls_own_values(api: Api) -> None:
    client = api.make_client()
    made = [api.make_contact(client["id"], name=f"Person {i}")["id"] for i in range(4)]

    async def _read() -> list[Any]:
        found = []
        async with runtime_of(api.http).database.read() as conn:
            # One statement shape, three sets of values: the second call reuses the first's
            # compiled text and must still bind its own ids and limit.
            for ids, limit in ((made[:2], 2), (made[2:], 3), ([*made, "con_missing"], 5)):
                query = _contacts_query(conn, api.workspace_id, ids, limit)
                expected = sorted(tuple(row) for row in await conn.execute(query))
                found.append((sorted(tuple(r) for r in await fetch_rows(conn, query)), expected))
            query = _contacts_query(conn, api.workspace_id, made[:1], 1)
            found.append(([dict(r) for r in await fetch_mappings(conn, query)], None))
        return found

    *pairs, (dicts, _) = run_async(api.http, _read)
    for got, expected in pairs:
        assert got == expected
    assert [{row[0] for row in got} for got, _ in pairs] == [
        set(made[:2]),
        set(made[2:]),
        set(made),
    ]
    assert dicts == [{"id": made[0], "name": "Person 0", "version": 1}]


def test_reads_see_the_callers_uncommitted_writes(api: Api) -> None:
    client = api.make_client()
    contact = api.make_contact(client["id"], name="Before")

    async def _read() -> tuple[list[Any], list[Any]]:
        async with runtime_of(api.http).database.write() as conn:
            await conn.execute(
                contacts.update()
                .where(contacts.c.workspace_id == api.workspace_id)
                .where(contacts.c.id == contact["id"])
                .values(name="During")
            )
            query = _contacts_query(conn, api.workspace_id, [contact["id"]], 1)
            inside = await fetch_rows(conn, query)
            await conn.rollback()
        async with runtime_of(api.http).database.read() as conn:
            after = await fetch_rows(conn, query)
        return inside, after

    inside, after = run_async(api.http, _read)
    assert [row[1] for row in inside] == ["During"]
    assert [row[1] for row in after] == ["Before"]
