"""`/v1/contacts/bulk`: create, update and delete up to 100 contacts (SPEC §6).

Each item succeeds or fails on its own and is listed by `index` (create) or `id` (update,
delete); `atomic` makes the request all or nothing; `validate_only` changes nothing. What the
API cannot show (activity, events, emails, webhook deliveries written or not) is read from the
database directly.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.contacts import repository as contacts_repository
from vantage_contacts.models import (
    activity,
    contacts,
    emails,
    events,
    portal_tokens,
    webhook_deliveries,
)

BULK = "/v1/contacts/bulk"
# Everything a contact write may add in its transaction.
WRITTEN_TABLES = (contacts, activity, events, emails, portal_tokens, webhook_deliveries)


# --- helpers ------------------------------------------------------------------------------------


def select_rows(http: TestClient, query: Any) -> list[dict[str, Any]]:
    database = runtime_of(http).database

    async def _run() -> list[dict[str, Any]]:
        async with database.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    found: list[dict[str, Any]] = run_async(http, _run)
    return found


def count(api: Api, table: Table) -> int:
    """Rows of `table` in the workspace (both modes)."""
    query = select(func.count().label("n")).where(table.c.workspace_id == api.workspace_id)
    [row] = select_rows(api.http, query.select_from(table))
    return int(row["n"])


def counts(api: Api) -> dict[str, int]:
    return {table.name: count(api, table) for table in WRITTEN_TABLES}


def events_for(api: Api, object_id: str) -> list[str]:
    query = (
        select(events.c.type)
        .where(events.c.workspace_id == api.workspace_id, events.c.object_id == object_id)
        .order_by(events.c.created_at, events.c.id)
    )
    return [row["type"] for row in select_rows(api.http, query)]


def actions_for(api: Api, contact_id: str) -> list[str]:
    query = (
        select(activity.c.action)
        .where(activity.c.workspace_id == api.workspace_id, activity.c.contact_id == contact_id)
        .order_by(activity.c.created_at, activity.c.id)
    )
    return [row["action"] for row in select_rows(api.http, query)]


def live_contact_ids(api: Api) -> set[str]:
    ids: set[str] = set()
    page = 1
    while True:
        response = api.get("/v1/contacts", params={"per_page": 100, "page": page})
        assert response.status_code == 200, response.text
        body = response.json()
        ids |= {contact["id"] for contact in body["data"]}
        if page >= body["pagination"]["total_pages"]:
            return ids
        page += 1


def bulk_create(api: Api, items: list[Any], **options: Any) -> dict[str, Any]:
    response = api.post(BULK, json={"contacts": items, **options})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def errors_by_index(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {item["index"]: item["error"] for item in answer["errors"]}


def errors_by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item["error"] for item in answer["errors"]}


def make_webhook(api: Api) -> str:
    """An active endpoint for every event (never called: the tests run no worker)."""
    response = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert response.status_code == 201, response.text
    endpoint_id: str = response.json()["data"]["id"]
    return endpoint_id


# --- bulk create --------------------------------------------------------------------------------


def test_bulk_create_lists_each_created_contact_by_index(api: Api) -> None:
    client = api.make_client()
    items = [
        {"client_id": client["id"], "name": f"Person {i}", "email": f"p{i}@example.com"}
        for i in range(3)
    ]
    answer = bulk_create(api, items)
    assert answer["errors"] == []
    assert answer["summary"] == {"succeeded": 3, "failed": 0}
    assert [item["index"] for item in answer["data"]] == [0, 1, 2]
    for i, item in enumerate(answer["data"]):
        assert item["id"].startswith("con_")
        assert item["contact"]["id"] == item["id"]
        assert item["contact"]["name"] == f"Person {i}"
        fetched = api.get(f"/v1/contacts/{item['id']}")
        assert fetched.status_code == 200
        assert fetched.json()["data"] == item["contact"]


def test_bulk_create_writes_activity_and_event_for_each_contact(api: Api) -> None:
    client = api.make_client()
    items = [
        {"client_id": client["id"], "name": "Plain One"},
        {
            "client_id": client["id"],
            "name": "Portal One",
            "email": "portal.one@example.com",
            "portal_access": "view",
        },
    ]
    answer = bulk_create(api, items)
    plain, portal = (item["id"] for item in answer["data"])
    assert events_for(api, plain) == ["contact.created"]
    assert actions_for(api, plain) == ["created"]
    assert events_for(api, portal) == ["contact.created", "contact.portal_enabled"]
    assert sorted(actions_for(api, portal)) == ["created", "invitation_sent", "portal_enabled"]
    # The invitation is queued with the contact, as for a single create.
    query = select(emails.c.to_address, emails.c.template).where(
        emails.c.workspace_id == api.workspace_id
    )
    assert select_rows(api.http, query) == [
        {"to_address": "portal.one@example.com", "template": "invitation"}
    ]


def test_bulk_create_bad_items_of_every_kind_fail_alone(api: Api, other_api: Api) -> None:
    client = api.make_client()
    foreign_client = other_api.make_client()
    live_client = api.live.make_client()

    def good(name: str) -> dict[str, Any]:
        return {"client_id": client["id"], "name": name}

    items: list[Any] = [
        good("First Good"),  # 0
        "not an object",  # 1
        42,  # 2
        None,  # 3
        [good("Nested")],  # 4
        {**good("Unknown Field"), "id": "con_chosen"},  # 5
        {**good("Bad Phone"), "phone": "call me maybe"},  # 6
        {"client_id": "cli_doesnotexist", "name": "Unknown Client"},  # 7
        {"client_id": foreign_client["id"], "name": "Foreign Client"},  # 8
        {"client_id": live_client["id"], "name": "Other Mode Client"},  # 9
        {"client_id": client["id"]},  # 10: no name
        {**good("Bad Email"), "email": "not-an-email"},  # 11
        {**good("Bad Portal"), "portal_access": "admin"},  # 12
        good("Last Good"),  # 13
    ]
    answer = bulk_create(api, items)
    assert [item["index"] for item in answer["data"]] == [0, 13]
    assert answer["summary"] == {"succeeded": 2, "failed": 12}
    errors = errors_by_index(answer)
    assert sorted(errors) == list(range(1, 13))
    for index in (1, 2, 3, 4):
        assert errors[index] == {
            "code": "invalid_request",
            "message": "Each item must be a JSON object of contact fields.",
        }
    for index in (5, 10, 11, 12):
        assert errors[index]["code"] == "validation_error", (index, errors[index])
        assert errors[index]["errors"], errors[index]
    assert errors[5]["field"] == "id"
    assert errors[6] == {
        "code": "validation_error",
        "message": errors[6]["message"],
        "field": "phone",
        "errors": [{"field": "phone", "code": "invalid_phone", "message": errors[6]["message"]}],
    }
    assert errors[10]["field"] == "name"
    assert errors[11]["field"] == "email"
    for index, client_id in (
        (7, "cli_doesnotexist"),
        (8, foreign_client["id"]),
        (9, live_client["id"]),
    ):
        assert errors[index] == {
            "code": "not_found",
            "message": f"No client with id '{client_id}'.",
            "resource": "client",
            "id": client_id,
        }
    # Only the good items exist, and the foreign workspace gained nothing.
    assert live_contact_ids(api) == {item["id"] for item in answer["data"]}
    assert live_contact_ids(other_api) == set()
    assert live_contact_ids(api.live) == set()


def test_bulk_create_refuses_a_second_item_with_the_same_email(api: Api) -> None:
    client = api.make_client()
    existing = api.make_contact(client["id"], email="taken@example.com")
    items = [
        {"client_id": client["id"], "name": "First", "email": "new@example.com"},
        {"client_id": client["id"], "name": "Same Again", "email": "NEW@Example.com"},
        {"client_id": client["id"], "name": "Taken", "email": "Taken@example.com"},
    ]
    answer = bulk_create(api, items)
    [created] = answer["data"]
    assert created["index"] == 0
    errors = errors_by_index(answer)
    assert errors[1]["code"] == "conflict"
    assert errors[1]["field"] == "email"
    assert errors[1]["existing_id"] == created["id"]
    assert errors[2]["code"] == "conflict"
    assert errors[2]["existing_id"] == existing["id"]


def test_bulk_create_frees_the_email_of_a_deleted_contact(api: Api) -> None:
    client = api.make_client()
    gone = api.make_contact(client["id"], email="reused@example.com")
    assert api.delete(f"/v1/contacts/{gone['id']}").status_code == 200
    answer = bulk_create(
        api, [{"client_id": client["id"], "name": "N", "email": "reused@example.com"}]
    )
    assert answer["summary"] == {"succeeded": 1, "failed": 0}


def test_bulk_create_allows_one_primary_per_client(api: Api) -> None:
    first_client = api.make_client()
    second_client = api.make_client()
    items = [
        {"client_id": first_client["id"], "name": "Primary A", "is_primary": True},
        {"client_id": first_client["id"], "name": "Primary B", "is_primary": True},
        {"client_id": second_client["id"], "name": "Primary C", "is_primary": True},
    ]
    answer = bulk_create(api, items)
    assert [item["index"] for item in answer["data"]] == [0, 2]
    [error] = answer["errors"]
    assert error["index"] == 1
    assert error["error"]["code"] == "conflict"
    assert error["error"]["field"] == "is_primary"


def test_bulk_create_primary_demotes_the_existing_primary(api: Api) -> None:
    client = api.make_client()
    old = api.make_contact(client["id"], name="Old Primary", is_primary=True)
    answer = bulk_create(api, [{"client_id": client["id"], "name": "New", "is_primary": True}])
    [created] = answer["data"]
    assert created["contact"]["roles"]["is_primary"] is True
    old_now = api.get(f"/v1/contacts/{old['id']}").json()["data"]
    assert old_now["roles"]["is_primary"] is False
    assert events_for(api, old["id"]) == ["contact.created", "contact.updated"]
    assert actions_for(api, old["id"])[-1] == "roles_changed"


def test_bulk_create_takes_100_items_and_refuses_101(api: Api) -> None:
    client = api.make_client()
    items = [{"client_id": client["id"], "name": f"N {i}"} for i in range(101)]
    too_many = api.post(BULK, json={"contacts": items})
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["error"]["code"] == "validation_error"
    assert too_many.json()["error"]["field"] == "contacts"
    assert live_contact_ids(api) == set()
    answer = bulk_create(api, items[:100])
    assert answer["summary"] == {"succeeded": 100, "failed": 0}
    assert len(live_contact_ids(api)) == 100


@pytest.mark.parametrize("body", [{"contacts": []}, {"contacts": {"name": "x"}}, {}])
def test_bulk_create_refuses_a_body_without_a_list_of_items(api: Api, body: Any) -> None:
    response = api.post(BULK, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


def test_bulk_create_atomic_failure_writes_nothing(api: Api) -> None:
    client = api.make_client()
    make_webhook(api)
    before = counts(api)
    items = [
        {
            "client_id": client["id"],
            "name": "Good",
            "email": "good@example.com",
            "portal_access": "view",
        },
        {"client_id": client["id"], "name": "Bad", "phone": "nope"},
        {"client_id": "cli_missing", "name": "Orphan"},
    ]
    response = api.post(BULK, json={"contacts": items, "atomic": True})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "bulk_failed"
    assert [item["index"] for item in error["items"]] == [1, 2]
    assert error["items"][0]["error"]["field"] == "phone"
    assert error["items"][1]["error"]["code"] == "not_found"
    assert counts(api) == before
    assert live_contact_ids(api) == set()


def test_bulk_create_atomic_success_creates_every_item(api: Api) -> None:
    client = api.make_client()
    items = [{"client_id": client["id"], "name": f"N {i}"} for i in range(5)]
    answer = bulk_create(api, items, atomic=True)
    assert answer["summary"] == {"succeeded": 5, "failed": 0}
    assert live_contact_ids(api) == {item["id"] for item in answer["data"]}


def test_bulk_create_validate_only_reports_and_writes_nothing(api: Api) -> None:
    client = api.make_client()
    api.make_contact(client["id"], name="Primary", is_primary=True, email="x@example.com")
    make_webhook(api)
    before = counts(api)
    items = [
        {
            "client_id": client["id"],
            "name": "Would Be",
            "email": "would@example.com",
            "portal_access": "full",
            "is_primary": True,
        },
        {"client_id": client["id"], "name": "Clash", "email": "X@example.com"},
    ]
    answer = bulk_create(api, items, validate_only=True)
    assert answer["summary"] == {"succeeded": 1, "failed": 1}
    assert answer["data"][0]["contact"]["name"] == "Would Be"
    assert errors_by_index(answer)[1]["code"] == "conflict"
    assert counts(api) == before
    would_be = answer["data"][0]["id"]
    assert api.get(f"/v1/contacts/{would_be}").status_code == 404


# --- bulk update --------------------------------------------------------------------------------


def test_bulk_update_applies_the_update_to_each_contact(api: Api) -> None:
    client = api.make_client()
    made = [api.make_contact(client["id"], name=f"N {i}") for i in range(3)]
    ids = [contact["id"] for contact in made]
    response = api.put(BULK, json={"ids": ids, "updates": {"title": "CTO", "is_technical": True}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["errors"] == []
    assert [item["id"] for item in answer["data"]] == ids
    for item in answer["data"]:
        assert item["contact"]["title"] == "CTO"
        assert item["contact"]["roles"]["is_technical"] is True
        assert api.get(f"/v1/contacts/{item['id']}").json()["data"] == item["contact"]
        assert events_for(api, item["id"]) == ["contact.created", "contact.updated"]
        assert actions_for(api, item["id"]) == ["created", "updated", "roles_changed"]


def test_bulk_update_fails_missing_and_other_tenant_ids_alone(api: Api, other_api: Api) -> None:
    client = api.make_client()
    mine = api.make_contact(client["id"])
    foreign = other_api.make_contact()
    live = api.live.make_contact()
    deleted = api.make_contact(client["id"])
    assert api.delete(f"/v1/contacts/{deleted['id']}").status_code == 200
    ids = ["con_missing", foreign["id"], mine["id"], live["id"], deleted["id"]]
    response = api.put(BULK, json={"ids": ids, "updates": {"department": "Ops"}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [item["id"] for item in answer["data"]] == [mine["id"]]
    errors = errors_by_id(answer)
    assert set(errors) == {"con_missing", foreign["id"], live["id"], deleted["id"]}
    for contact_id, error in errors.items():
        assert error == {
            "code": "not_found",
            "message": f"No contact with id '{contact_id}'.",
            "resource": "contact",
            "id": contact_id,
        }
    assert other_api.get(f"/v1/contacts/{foreign['id']}").json()["data"]["department"] is None
    assert api.live.get(f"/v1/contacts/{live['id']}").json()["data"]["department"] is None


def test_bulk_update_a_failing_item_rolls_back_alone(api: Api) -> None:
    """Giving three contacts one email: the first takes it, the others fail with 409."""
    client = api.make_client()
    ids = [api.make_contact(client["id"], name=f"N {i}")["id"] for i in range(3)]
    response = api.put(BULK, json={"ids": ids, "updates": {"email": "shared@example.com"}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [item["id"] for item in answer["data"]] == ids[:1]
    errors = errors_by_id(answer)
    assert set(errors) == set(ids[1:])
    for error in errors.values():
        assert error["code"] == "conflict"
        assert error["existing_id"] == ids[0]
    for contact_id in ids[1:]:
        assert api.get(f"/v1/contacts/{contact_id}").json()["data"]["email"] is None
        assert events_for(api, contact_id) == ["contact.created"]
        assert actions_for(api, contact_id) == ["created"]


def test_bulk_update_makes_one_primary_contact_per_client(api: Api) -> None:
    first_client, second_client = api.make_client(), api.make_client()
    a, b = (api.make_contact(first_client["id"], name=n)["id"] for n in ("A", "B"))
    c = api.make_contact(second_client["id"], name="C")["id"]
    response = api.put(BULK, json={"ids": [a, b, c], "updates": {"is_primary": True}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [item["id"] for item in answer["data"]] == [a, c]
    error = errors_by_id(answer)[b]
    assert (error["code"], error["field"]) == ("conflict", "is_primary")
    assert a in error["message"]
    for contact_id, primary in ((a, True), (b, False), (c, True)):
        contact = api.get(f"/v1/contacts/{contact_id}").json()["data"]
        assert contact["roles"]["is_primary"] is primary
    assert events_for(api, b) == ["contact.created"]
    assert events_for(api, a) == ["contact.created", "contact.updated"]


def test_bulk_update_atomic_failure_changes_nothing(api: Api) -> None:
    client = api.make_client()
    contact = api.make_contact(client["id"])
    etag = api.get(f"/v1/contacts/{contact['id']}").headers["ETag"]
    before = counts(api)
    body = {"ids": [contact["id"], "con_missing"], "updates": {"title": "X"}, "atomic": True}
    response = api.put(BULK, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "bulk_failed"
    assert [item["id"] for item in error["items"]] == ["con_missing"]
    assert counts(api) == before
    after = api.get(f"/v1/contacts/{contact['id']}")
    assert after.json()["data"]["title"] is None
    assert after.headers["ETag"] == etag


def test_bulk_update_validate_only_changes_nothing(api: Api) -> None:
    client = api.make_client()
    contact = api.make_contact(client["id"], email="v@example.com")
    etag = api.get(f"/v1/contacts/{contact['id']}").headers["ETag"]
    make_webhook(api)
    before = counts(api)
    body = {"ids": [contact["id"]], "updates": {"portal_access": "view"}, "validate_only": True}
    response = api.put(BULK, json=body)
    assert response.status_code == 200, response.text
    [item] = response.json()["data"]
    assert item["contact"]["portal"]["access_level"] == "view"
    assert counts(api) == before
    now = api.get(f"/v1/contacts/{contact['id']}")
    assert now.headers["ETag"] == etag
    assert now.json()["data"]["portal"]["access_level"] == "none"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_bulk_update_and_delete_refuse_repeated_ids(api: Api, method: str) -> None:
    contact = api.make_contact()
    body: dict[str, Any] = {"ids": [contact["id"], contact["id"]]}
    if method == "PUT":
        body["updates"] = {"title": "X"}
    response = api.request(method, BULK, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "ids"
    assert api.get(f"/v1/contacts/{contact['id']}").json()["data"]["title"] is None


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_bulk_update_and_delete_refuse_101_ids(api: Api, method: str) -> None:
    body: dict[str, Any] = {"ids": [f"con_{i:04d}" for i in range(101)]}
    if method == "PUT":
        body["updates"] = {"title": "X"}
    response = api.request(method, BULK, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "ids"


def test_bulk_update_refuses_unknown_update_fields(api: Api) -> None:
    contact = api.make_contact()
    body = {"ids": [contact["id"]], "updates": {"created_at": "2020-01-01T00:00:00Z"}}
    response = api.put(BULK, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "updates.created_at"


# --- bulk delete --------------------------------------------------------------------------------


def test_bulk_delete_deletes_each_contact_with_its_event(api: Api, other_api: Api) -> None:
    client = api.make_client()
    ids = [api.make_contact(client["id"], name=f"N {i}")["id"] for i in range(3)]
    foreign = other_api.make_contact()
    response = api.request("DELETE", BULK, json={"ids": [*ids, foreign["id"]]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"] == [{"id": contact_id, "deleted": True} for contact_id in ids]
    assert errors_by_id(answer)[foreign["id"]]["code"] == "not_found"
    assert live_contact_ids(api) == set()
    for contact_id in ids:
        assert events_for(api, contact_id) == ["contact.created", "contact.deleted"]
        assert actions_for(api, contact_id) == ["created", "deleted"]
    assert other_api.get(f"/v1/contacts/{foreign['id']}").status_code == 200


def test_bulk_delete_twice_reports_the_second_as_not_found(api: Api) -> None:
    contact = api.make_contact()
    first = api.request("DELETE", BULK, json={"ids": [contact["id"]]})
    assert first.json()["summary"] == {"succeeded": 1, "failed": 0}
    second = api.request("DELETE", BULK, json={"ids": [contact["id"]]})
    assert second.status_code == 200
    assert errors_by_id(second.json())[contact["id"]]["code"] == "not_found"
    assert events_for(api, contact["id"]) == ["contact.created", "contact.deleted"]


def test_bulk_delete_atomic_and_validate_only_delete_nothing(api: Api) -> None:
    client = api.make_client()
    ids = [api.make_contact(client["id"], name=f"N {i}")["id"] for i in range(2)]
    before = counts(api)
    atomic = api.request("DELETE", BULK, json={"ids": [*ids, "con_missing"], "atomic": True})
    assert atomic.status_code == 422, atomic.text
    assert atomic.json()["error"]["code"] == "bulk_failed"
    dry = api.request("DELETE", BULK, json={"ids": ids, "validate_only": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["summary"] == {"succeeded": 2, "failed": 0}
    assert counts(api) == before
    assert live_contact_ids(api) == set(ids)


def test_bulk_create_that_loses_a_unique_race_answers_409_and_writes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The email check runs before the inserts; a concurrent create of the same email between
    the two (made here by a check that sees nothing) is caught by the database's unique rule.
    The inserts run beside the duplicate scoring, and their error still answers 409."""
    client = api.make_client()
    api.make_contact(client["id"], name="Taken", email="taken@acme.com")

    async def nobody_has_it(*_: Any) -> dict[str, str]:
        return {}

    monkeypatch.setattr(contacts_repository, "email_owners", nobody_has_it)
    items = [
        {"client_id": client["id"], "name": "Fresh One", "email": "fresh@acme.com"},
        {"client_id": client["id"], "name": "Racer", "email": "taken@acme.com"},
    ]
    response = api.post("/v1/contacts/bulk", json={"contacts": items})
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "conflict"
    listed = api.get("/v1/contacts", params={"client_id": client["id"]}).json()
    assert [c["name"] for c in listed["data"]] == ["Taken"]
