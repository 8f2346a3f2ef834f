"""insert_rows: the batched insert under bulk create and import (COPY on PostgreSQL).

It must behave as an INSERT would: values round-trip (JSON included), a constraint violation is
SQLAlchemy's IntegrityError, and the rows belong to the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.support import Api, run_async, runtime_of
from vantage_contacts.kit.bulk_insert import insert_rows
from vantage_contacts.kit.ids import new_id
from vantage_contacts.models import events


def event_row(api: Api, **fields: Any) -> dict[str, Any]:
    return {
        "workspace_id": api.workspace_id,
        "mode": "test",
        "id": new_id("evt"),
        "type": "contact.created",
        "object_type": "contact",
        "object_id": "con_x",
        "data": {"name": 'Zoë "Quoted" O\'Brien', "tags": ["a", "b"], "nested": {"n": 1}},
        "changed_fields": None,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        **fields,
    }


def stored(http: TestClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    async def _read() -> dict[str, dict[str, Any]]:
        async with runtime_of(http).database.read() as conn:
            rows = await conn.execute(select(events).where(events.c.id.in_(ids)))
            return {row["id"]: dict(row) for row in rows.mappings()}

    found: dict[str, dict[str, Any]] = run_async(http, _read)
    return found


def insert(http: TestClient, rows: list[dict[str, Any]], then_fail: bool = False) -> None:
    async def _insert() -> None:
        async with runtime_of(http).database.write() as conn:
            await insert_rows(conn, events, rows)
            if then_fail:
                raise RuntimeError("the caller's transaction fails after the insert")

    run_async(http, _insert)


def test_rows_round_trip_with_json_and_nulls(http: TestClient, api: Api) -> None:
    rows = [event_row(api), event_row(api, changed_fields=["email", "name"], data={})]
    insert(http, rows)
    found = stored(http, [row["id"] for row in rows])
    assert set(found) == {row["id"] for row in rows}
    for row in rows:
        assert {name: found[row["id"]][name] for name in row} == row


def test_a_duplicate_key_is_an_integrity_error_and_keeps_nothing(
    http: TestClient, api: Api
) -> None:
    first = event_row(api)
    fresh = event_row(api)
    insert(http, [first])
    with pytest.raises(IntegrityError):
        insert(http, [fresh, first])
    assert set(stored(http, [first["id"], fresh["id"]])) == {first["id"]}


def test_rows_roll_back_with_the_callers_transaction(http: TestClient, api: Api) -> None:
    rows = [event_row(api) for _ in range(3)]
    with pytest.raises(RuntimeError):
        insert(http, rows, then_fail=True)
    assert stored(http, [row["id"] for row in rows]) == {}
