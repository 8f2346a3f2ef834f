"""/v1/tickets (minimal, SPEC §8): owners, numbering, the contact_name snapshot, statuses."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.models import events

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TICKET_KEYS = {
    "id",
    "number",
    "client_id",
    "contact_id",
    "contact_name",
    "title",
    "description",
    "status",
    "created_at",
    "updated_at",
}


def get_ticket(api: Api, ticket_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def ids(api: Api, **params: Any) -> list[str]:
    response = api.get("/v1/tickets", params={"per_page": 100, **params})
    assert response.status_code == 200, response.text
    return [ticket["id"] for ticket in response.json()["data"]]


def event_types(api: Api, object_id: str) -> list[str]:
    database = runtime_of(api.http).database
    query = (
        select(events.c.type)
        .where(events.c.workspace_id == api.workspace_id, events.c.object_id == object_id)
        .order_by(events.c.created_at, events.c.id)
    )

    async def _run() -> list[str]:
        async with database.read() as conn:
            return [str(value) for value in await conn.scalars(query)]

    result: list[str] = run_async(api.http, _run)
    return result


def set_status(api: Api, ticket_id: str, status: str) -> Any:
    return api.put(f"/v1/tickets/{ticket_id}", json={"status": status})


# --- create -----------------------------------------------------------------------------------


def test_create_for_a_client_alone(api: Api) -> None:
    client_id = api.make_client()["id"]
    response = api.post(
        "/v1/tickets",
        json={"client_id": client_id, "title": "Update homepage banner", "description": "Q1"},
    )

    assert response.status_code == 201, response.text
    ticket = response.json()["data"]
    assert set(ticket) == TICKET_KEYS
    assert re.fullmatch(r"tkt_[a-z0-9]{20,}", ticket["id"])
    assert ticket["number"] == 1
    assert ticket["client_id"] == client_id
    assert ticket["contact_id"] is None
    assert ticket["contact_name"] is None
    assert ticket["title"] == "Update homepage banner"
    assert ticket["description"] == "Q1"
    assert ticket["status"] == "open"
    assert RFC3339.match(ticket["created_at"])
    assert ticket["updated_at"] == ticket["created_at"]
    assert get_ticket(api, ticket["id"]) == ticket


def test_create_for_a_contact_alone_takes_its_client_and_name(api: Api) -> None:
    contact = api.make_contact(name="Jane Doe")
    response = api.post("/v1/tickets", json={"contact_id": contact["id"], "title": "Help"})

    assert response.status_code == 201, response.text
    ticket = response.json()["data"]
    assert ticket["client_id"] == contact["client_id"]
    assert ticket["contact_id"] == contact["id"]
    assert ticket["contact_name"] == "Jane Doe"


def test_create_for_a_client_and_its_contact(api: Api) -> None:
    contact = api.make_contact(name="Jane Doe")
    ticket = api.make_ticket(contact["client_id"], contact_id=contact["id"])
    assert (ticket["client_id"], ticket["contact_id"], ticket["contact_name"]) == (
        contact["client_id"],
        contact["id"],
        "Jane Doe",
    )


def test_contact_of_another_client_is_422(api: Api) -> None:
    contact = api.make_contact()
    other_client = api.make_client()["id"]

    response = api.post(
        "/v1/tickets", json={"client_id": other_client, "contact_id": contact["id"], "title": "X"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "contact_id"
    assert ids(api) == []


def test_create_needs_a_client_or_a_contact(api: Api) -> None:
    response = api.post("/v1/tickets", json={"title": "Orphan"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_unknown_owner_is_404_naming_the_resource(api: Api, other_api: Api) -> None:
    foreign_contact = other_api.make_contact()
    cases = [
        ({"client_id": "cli_nope"}, "client", "cli_nope"),
        ({"contact_id": "con_nope"}, "contact", "con_nope"),
        ({"contact_id": foreign_contact["id"]}, "contact", foreign_contact["id"]),
        ({"client_id": foreign_contact["client_id"]}, "client", foreign_contact["client_id"]),
    ]
    for owner, resource, missing in cases:
        response = api.post("/v1/tickets", json={"title": "X", **owner})
        assert response.status_code == 404, owner
        error = response.json()["error"]
        assert (error["resource"], error["id"]) == (resource, missing)


def test_deleted_contact_cannot_be_given_a_ticket(api: Api) -> None:
    contact = api.make_contact()
    api.delete(f"/v1/contacts/{contact['id']}")

    response = api.post(
        "/v1/tickets",
        json={"client_id": contact["client_id"], "contact_id": contact["id"], "title": "X"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["resource"] == "contact"


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "x" * 301},
        {"status": "closed"},
        {"status": "approved"},
        {"number": 7},
        {"contact_name": "Someone"},
    ],
)
def test_create_refuses_invalid_fields(api: Api, body: dict[str, Any]) -> None:
    client_id = api.make_client()["id"]
    response = api.post("/v1/tickets", json={"client_id": client_id, "title": "X", **body})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == next(iter(body))


def test_create_may_start_awaiting_approval(api: Api) -> None:
    ticket = api.make_ticket(api.make_client()["id"], status="awaiting_approval")
    assert ticket["status"] == "awaiting_approval"


def test_numbers_count_up_per_workspace_and_mode(api: Api, other_api: Api) -> None:
    first_client, second_client = api.make_client()["id"], api.make_client()["id"]
    numbers = [
        api.make_ticket(first_client)["number"],
        api.make_ticket(second_client)["number"],
        api.make_ticket(first_client)["number"],
    ]
    live = api.live.make_ticket(api.live.make_client()["id"])["number"]
    elsewhere = other_api.make_ticket(other_api.make_client()["id"])["number"]

    assert numbers == [1, 2, 3]
    assert live == 1
    assert elsewhere == 1
    assert api.make_ticket(first_client)["number"] == 4


def test_concurrent_creates_get_distinct_consecutive_numbers(api: Api) -> None:
    client_id = api.make_client()["id"]
    with ThreadPoolExecutor(8) as pool:
        tickets = list(pool.map(lambda _: api.make_ticket(client_id), range(8)))

    assert sorted(ticket["number"] for ticket in tickets) == list(range(1, 9))


def test_refused_create_does_not_use_up_a_number(api: Api) -> None:
    client_id = api.make_client()["id"]
    api.make_ticket(client_id)
    assert api.post("/v1/tickets", json={"contact_id": "con_nope", "title": "X"}).status_code == 404

    assert api.make_ticket(client_id)["number"] == 2


def test_contact_name_is_a_snapshot(api: Api) -> None:
    contact = api.make_contact(name="Jane Doe")
    ticket = api.make_ticket(contact["client_id"], contact_id=contact["id"])

    api.put(f"/v1/contacts/{contact['id']}", json={"name": "Jane Smith"})

    assert get_ticket(api, ticket["id"])["contact_name"] == "Jane Doe"


def test_create_emits_ticket_created(api: Api) -> None:
    ticket = api.make_ticket(api.make_client()["id"])
    assert event_types(api, ticket["id"]) == ["ticket.created"]


# --- list and get -----------------------------------------------------------------------------


def test_list_filters_by_client_contact_and_status(api: Api) -> None:
    contact = api.make_contact()
    acme = contact["client_id"]
    globex = api.make_client()["id"]
    by_contact = api.make_ticket(acme, contact_id=contact["id"])["id"]
    acme_only = api.make_ticket(acme, status="awaiting_approval")["id"]
    at_globex = api.make_ticket(globex)["id"]

    assert ids(api) == [by_contact, acme_only, at_globex]
    assert ids(api, client_id=acme) == [by_contact, acme_only]
    assert ids(api, client_id=globex) == [at_globex]
    assert ids(api, contact_id=contact["id"]) == [by_contact]
    assert ids(api, status="open") == [by_contact, at_globex]
    assert ids(api, status="awaiting_approval") == [acme_only]
    assert ids(api, client_id=acme, status="open") == [by_contact]
    assert ids(api, sort="-created_at") == [at_globex, acme_only, by_contact]


def test_list_paginates(api: Api) -> None:
    client_id = api.make_client()["id"]
    made = [api.make_ticket(client_id)["id"] for _ in range(3)]

    response = api.get("/v1/tickets", params={"per_page": 2, "page": 2})

    assert response.status_code == 200
    body = response.json()
    assert [t["id"] for t in body["data"]] == made[2:]
    assert body["pagination"] == {"page": 2, "per_page": 2, "total": 3, "total_pages": 2}


def test_list_refuses_an_unknown_status(api: Api) -> None:
    response = api.get("/v1/tickets", params={"status": "pending"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "status"


def test_list_and_get_stay_in_the_workspace_and_mode(api: Api, other_api: Api) -> None:
    mine = api.make_ticket(api.make_client()["id"])["id"]
    foreign = other_api.make_ticket(other_api.make_client()["id"])["id"]
    live = api.live.make_ticket(api.live.make_client()["id"])["id"]

    assert ids(api) == [mine]
    for ticket_id in (foreign, live, "tkt_nope"):
        response = api.get(f"/v1/tickets/{ticket_id}")
        assert response.status_code == 404
        assert response.json()["error"]["resource"] == "ticket"
        assert api.put(f"/v1/tickets/{ticket_id}", json={"title": "x"}).status_code == 404


# --- update -----------------------------------------------------------------------------------


def test_update_title_and_description(api: Api) -> None:
    ticket = api.make_ticket(api.make_client()["id"], description="old")

    response = api.put(
        f"/v1/tickets/{ticket['id']}", json={"title": "New title", "description": None}
    )

    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["title"] == "New title"
    assert updated["description"] is None
    for field in ("id", "number", "client_id", "status", "created_at"):
        assert updated[field] == ticket[field]
    assert get_ticket(api, ticket["id"]) == updated
    assert event_types(api, ticket["id"]) == ["ticket.created", "ticket.updated"]


@pytest.mark.parametrize("field", ["title", "status"])
def test_update_cannot_null_title_or_status(api: Api, field: str) -> None:
    ticket = api.make_ticket(api.make_client()["id"])
    response = api.put(f"/v1/tickets/{ticket['id']}", json={field: None})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert get_ticket(api, ticket["id"]) == ticket


def test_update_refuses_moving_a_ticket_to_another_client(api: Api) -> None:
    ticket = api.make_ticket(api.make_client()["id"])
    response = api.put(f"/v1/tickets/{ticket['id']}", json={"client_id": api.make_client()["id"]})
    assert response.status_code == 422
    assert get_ticket(api, ticket["id"]) == ticket


def test_update_with_nothing_new_emits_nothing(api: Api) -> None:
    ticket = api.make_ticket(api.make_client()["id"], title="Same")
    response = api.put(f"/v1/tickets/{ticket['id']}", json={"title": "Same", "status": "open"})

    assert response.status_code == 200
    assert response.json()["data"] == ticket
    assert event_types(api, ticket["id"]) == ["ticket.created"]


def test_update_links_another_contact_of_the_client(api: Api) -> None:
    first = api.make_contact(name="Ann")
    second = api.make_contact(first["client_id"], name="Bob")
    ticket = api.make_ticket(first["client_id"], contact_id=first["id"])

    response = api.put(f"/v1/tickets/{ticket['id']}", json={"contact_id": second["id"]})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["contact_id"] == second["id"]
    assert response.json()["data"]["contact_name"] == "Bob"
    assert ids(api, contact_id=first["id"]) == []
    assert ids(api, contact_id=second["id"]) == [ticket["id"]]


def test_update_refuses_a_contact_of_another_client(api: Api) -> None:
    contact = api.make_contact()
    stranger = api.make_contact()
    ticket = api.make_ticket(contact["client_id"], contact_id=contact["id"])

    response = api.put(f"/v1/tickets/{ticket['id']}", json={"contact_id": stranger["id"]})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "contact_id"
    assert get_ticket(api, ticket["id"]) == ticket


def test_update_unlinking_the_contact_keeps_its_name(api: Api) -> None:
    contact = api.make_contact(name="Ann")
    ticket = api.make_ticket(contact["client_id"], contact_id=contact["id"])

    response = api.put(f"/v1/tickets/{ticket['id']}", json={"contact_id": None})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["contact_id"] is None
    assert response.json()["data"]["contact_name"] == "Ann"


# --- status transitions -----------------------------------------------------------------------


ALLOWED = [
    ("open", "awaiting_approval"),
    ("open", "closed"),
    ("awaiting_approval", "approved"),
    ("awaiting_approval", "open"),
    ("awaiting_approval", "closed"),
    ("approved", "open"),
    ("approved", "closed"),
    ("closed", "open"),
]
REFUSED = [
    ("open", "approved"),
    ("closed", "approved"),
    ("closed", "awaiting_approval"),
    ("approved", "awaiting_approval"),
]
# How to bring a new (open) ticket to each status through allowed moves.
PATHS = {
    "open": [],
    "awaiting_approval": ["awaiting_approval"],
    "approved": ["awaiting_approval", "approved"],
    "closed": ["closed"],
}


def ticket_in(api: Api, status: str) -> dict[str, Any]:
    ticket = api.make_ticket(api.make_client()["id"])
    for step in PATHS[status]:
        response = set_status(api, ticket["id"], step)
        assert response.status_code == 200, response.text
        ticket = response.json()["data"]
    assert ticket["status"] == status
    return ticket


@pytest.mark.parametrize(("start", "target"), ALLOWED)
def test_allowed_status_moves_pass(api: Api, start: str, target: str) -> None:
    ticket = ticket_in(api, start)
    response = set_status(api, ticket["id"], target)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == target
    assert get_ticket(api, ticket["id"])["status"] == target
    assert ids(api, status=target) == [ticket["id"]]


@pytest.mark.parametrize(("start", "target"), REFUSED)
def test_other_status_moves_are_409(api: Api, start: str, target: str) -> None:
    ticket = ticket_in(api, start)
    changes_before = event_types(api, ticket["id"])

    response = set_status(api, ticket["id"], target)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["field"] == "status"
    assert target not in error["allowed"]
    assert get_ticket(api, ticket["id"]) == ticket
    assert event_types(api, ticket["id"]) == changes_before


def test_refused_status_move_changes_nothing_else_sent(api: Api) -> None:
    ticket = ticket_in(api, "open")
    response = api.put(f"/v1/tickets/{ticket['id']}", json={"title": "New", "status": "approved"})

    assert response.status_code == 409
    assert get_ticket(api, ticket["id"])["title"] == ticket["title"]


def test_a_ticket_walks_its_whole_life(api: Api) -> None:
    ticket = api.make_ticket(api.make_client()["id"])
    for status in ("awaiting_approval", "approved", "closed", "open"):
        assert set_status(api, ticket["id"], status).status_code == 200
    assert event_types(api, ticket["id"]) == ["ticket.created"] + ["ticket.updated"] * 4


def test_delete_hides_the_ticket_and_writes_ticket_deleted(api: Api) -> None:
    contact = api.make_contact()
    ticket = api.make_ticket(contact["client_id"], contact_id=contact["id"])

    response = api.delete(f"/v1/tickets/{ticket['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"id": ticket["id"], "deleted": True}}

    assert api.get(f"/v1/tickets/{ticket['id']}").json()["error"]["code"] == "not_found"
    assert api.get("/v1/tickets", params={"client_id": contact["client_id"]}).json()["data"] == []
    included = api.get(f"/v1/contacts/{contact['id']}", params={"include": "tickets,activity"})
    assert included.json()["data"]["tickets"] == []
    assert "ticket_unlinked" in [a["action"] for a in included.json()["data"]["activity"]]
    deleted = api.get("/v1/events", params={"type": "ticket.deleted", "object_id": ticket["id"]})
    (event,) = deleted.json()["data"]
    assert event["data"]["id"] == ticket["id"]
    assert event["data"]["deleted"] is True
    assert api.delete(f"/v1/tickets/{ticket['id']}").status_code == 404
