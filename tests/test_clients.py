"""/v1/clients: the companies contacts belong to (SPEC §8)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.models import events

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CLIENT_KEYS = {
    "id",
    "name",
    "website",
    "phone",
    "email_slug",
    "status",
    "notes",
    "created_at",
    "updated_at",
}


def create(api: Api, **body: Any) -> Any:
    return api.post("/v1/clients", json={"name": "Acme", **body})


def get_client(api: Api, client_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/clients/{client_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def listing(api: Api, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/clients", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(api: Api, **params: Any) -> list[str]:
    return [client["id"] for client in listing(api, per_page=100, **params)["data"]]


def events_of(api: Api, object_id: str) -> list[dict[str, Any]]:
    database = runtime_of(api.http).database
    query = (
        select(events)
        .where(events.c.workspace_id == api.workspace_id, events.c.object_id == object_id)
        .order_by(events.c.created_at, events.c.id)
    )

    async def _run() -> list[dict[str, Any]]:
        async with database.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    result: list[dict[str, Any]] = run_async(api.http, _run)
    return result


# --- create -----------------------------------------------------------------------------------


def test_create_returns_the_client_with_defaults(api: Api) -> None:
    response = create(api, name="Acme Corp")

    assert response.status_code == 201, response.text
    client = response.json()["data"]
    assert set(client) == CLIENT_KEYS
    assert re.fullmatch(r"cli_[a-z0-9]{20,}", client["id"])
    assert client["name"] == "Acme Corp"
    assert client["status"] == "active"
    assert client["email_slug"] == "acme-corp"
    assert client["website"] is None
    assert client["phone"] is None
    assert client["notes"] is None
    assert RFC3339.match(client["created_at"])
    assert client["updated_at"] == client["created_at"]
    assert get_client(api, client["id"]) == client


def test_create_keeps_every_field_given(api: Api) -> None:
    body = {
        "name": "Globex",
        "website": "https://globex.example.com",
        "phone": "+1 (555) 010-0000",
        "email_slug": "globex-support",
        "status": "inactive",
        "notes": "Key account",
    }
    response = api.post("/v1/clients", json=body)

    assert response.status_code == 201, response.text
    client = response.json()["data"]
    for field, value in body.items():
        assert client[field] == value


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme, Inc.", "acme-inc"),
        ("  Café Zoë & Co ", "cafe-zoe-co"),
        ("ACME", "acme"),
        ("日本", "client"),
    ],
)
def test_email_slug_is_derived_from_the_name(api: Api, name: str, slug: str) -> None:
    response = create(api, name=name)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["email_slug"] == slug


def test_long_names_give_a_valid_slug(api: Api) -> None:
    name = "Very " * 39 + "Long"
    first = create(api, name=name).json()["data"]["email_slug"]
    second = create(api, name=name).json()["data"]["email_slug"]

    pattern = r"[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?"
    assert re.fullmatch(pattern, first)
    assert re.fullmatch(pattern, second)
    assert second == f"{first}-2"


def test_derived_slug_gets_a_numbered_suffix_on_clash(api: Api) -> None:
    slugs = [create(api, name="Acme").json()["data"]["email_slug"] for _ in range(3)]
    assert slugs == ["acme", "acme-2", "acme-3"]


def test_derived_slug_skips_an_explicitly_taken_suffix(api: Api) -> None:
    assert create(api, name="Other", email_slug="acme-2").status_code == 201
    slugs = [create(api, name="Acme").json()["data"]["email_slug"] for _ in range(2)]
    assert slugs == ["acme", "acme-3"]


def test_slugs_are_unique_per_workspace_and_mode(api: Api, other_api: Api) -> None:
    create(api, name="Acme")
    assert api.live.make_client(name="Acme")["email_slug"] == "acme"
    assert other_api.make_client(name="Acme")["email_slug"] == "acme"


def test_concurrent_creates_of_one_name_get_distinct_slugs(api: Api) -> None:
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: create(api, name="Acme"), range(8)))

    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    slugs = {r.json()["data"]["email_slug"] for r in responses}
    assert slugs == {"acme", *(f"acme-{n}" for n in range(2, 9))}


def test_concurrent_creates_of_one_explicit_slug_give_one_client_and_409s(api: Api) -> None:
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: create(api, email_slug="fixed"), range(8)))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert len(ids(api)) == 1


def test_explicit_slug_is_lowercased(api: Api) -> None:
    response = create(api, email_slug="Acme-Support")
    assert response.status_code == 201
    assert response.json()["data"]["email_slug"] == "acme-support"


def test_taken_explicit_slug_is_409(api: Api) -> None:
    first = create(api, name="Acme").json()["data"]
    response = create(api, name="Acme Two", email_slug="ACME")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["field"] == "email_slug"
    assert ids(api) == [first["id"]]


@pytest.mark.parametrize("slug", ["a b", "-acme", "acme-", "acme@x", "", "x" * 65])
def test_invalid_slug_is_422(api: Api, slug: str) -> None:
    response = create(api, email_slug=slug)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "email_slug"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "deleted"},
        {"phone": "call me"},
        {"website": "not a url with spaces"},
        {"id": "cli_mine"},
        {"name": ""},
    ],
)
def test_create_refuses_invalid_fields(api: Api, body: dict[str, Any]) -> None:
    response = create(api, **body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == next(iter(body))
    assert ids(api) == []


def test_create_requires_a_name(api: Api) -> None:
    response = api.post("/v1/clients", json={"website": "https://acme.com"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "name"


def test_create_emits_client_created(api: Api) -> None:
    client = api.make_client()
    (event,) = events_of(api, client["id"])
    assert event["type"] == "client.created"
    assert event["data"] == client


# --- list -------------------------------------------------------------------------------------


def test_list_pages_through_clients_oldest_first(api: Api) -> None:
    made = [api.make_client()["id"] for _ in range(5)]

    pages = [listing(api, per_page=2, page=page) for page in (1, 2, 3)]

    assert [c["id"] for page in pages for c in page["data"]] == made
    assert pages[0]["pagination"] == {"page": 1, "per_page": 2, "total": 5, "total_pages": 3}
    assert [len(page["data"]) for page in pages] == [2, 2, 1]
    assert listing(api, per_page=2, page=4)["data"] == []
    assert set(listing(api)["data"][0]) == CLIENT_KEYS


def test_list_shows_only_this_workspace_and_mode(api: Api, other_api: Api) -> None:
    mine = api.make_client()["id"]
    api.live.make_client()
    other_api.make_client()
    assert ids(api) == [mine]


def test_list_search_matches_name_case_and_accent_insensitively(api: Api) -> None:
    cafe = api.make_client(name="Café Zoë")["id"]
    acme = api.make_client(name="ACME Corp")["id"]
    api.make_client(name="Globex")

    assert ids(api, search="cafe") == [cafe]
    assert ids(api, search="ZOË") == [cafe]
    assert ids(api, search="acme") == [acme]
    assert ids(api, search="%") == []
    assert ids(api, search="c") == [cafe, acme]


def test_list_filters_by_status(api: Api) -> None:
    active = api.make_client()["id"]
    inactive = api.make_client(status="inactive")["id"]
    archived = api.make_client(status="archived")["id"]

    assert ids(api, status="active") == [active]
    assert ids(api, status="inactive") == [inactive]
    assert ids(api, status="archived") == [archived]
    assert api.get("/v1/clients", params={"status": "gone"}).status_code == 400


def test_list_sorts_by_name(api: Api) -> None:
    beta = api.make_client(name="beta")["id"]
    alpha = api.make_client(name="Alpha")["id"]
    assert ids(api, sort="name") == [alpha, beta]
    assert ids(api, sort="-name") == [beta, alpha]
    assert ids(api, sort="-created_at") == [alpha, beta]


@pytest.mark.parametrize("params", [{"per_page": "0"}, {"per_page": "101"}, {"page": "0"}])
def test_list_out_of_range_paging_is_400(api: Api, params: dict[str, str]) -> None:
    response = api.get("/v1/clients", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == next(iter(params))


# --- get --------------------------------------------------------------------------------------


def test_unknown_or_foreign_client_is_404(api: Api, other_api: Api) -> None:
    foreign = other_api.make_client()["id"]
    live = api.live.make_client()["id"]
    for client_id in ("cli_nope", foreign, live):
        response = api.get(f"/v1/clients/{client_id}")
        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["code"], error["resource"], error["id"]) == (
            "not_found",
            "client",
            client_id,
        )


# --- update -----------------------------------------------------------------------------------


def test_update_changes_only_the_fields_sent(api: Api) -> None:
    client = api.make_client(name="Acme", website="https://acme.com", notes="n")

    response = api.put(
        f"/v1/clients/{client['id']}", json={"name": "Acme Corp", "status": "inactive"}
    )

    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["name"] == "Acme Corp"
    assert updated["status"] == "inactive"
    for field in ("website", "notes", "email_slug", "created_at", "id"):
        assert updated[field] == client[field]
    assert get_client(api, client["id"]) == updated
    assert ids(api, search="corp") == [client["id"]]


def test_update_null_clears_optional_fields(api: Api) -> None:
    client = api.make_client(website="https://acme.com", phone="555-123-4567", notes="n")
    response = api.put(
        f"/v1/clients/{client['id']}", json={"website": None, "phone": None, "notes": None}
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["website"], data["phone"], data["notes"]) == (None, None, None)


@pytest.mark.parametrize("field", ["name", "email_slug", "status"])
def test_update_cannot_null_a_required_field(api: Api, field: str) -> None:
    client = api.make_client()
    response = api.put(f"/v1/clients/{client['id']}", json={field: None})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert get_client(api, client["id"]) == client


def test_update_to_a_taken_slug_is_409(api: Api) -> None:
    api.make_client(email_slug="taken")
    client = api.make_client()

    response = api.put(f"/v1/clients/{client['id']}", json={"email_slug": "taken"})

    assert response.status_code == 409
    assert response.json()["error"]["field"] == "email_slug"
    assert get_client(api, client["id"]) == client


def test_update_slug_to_a_free_one(api: Api) -> None:
    client = api.make_client(name="Acme")
    response = api.put(f"/v1/clients/{client['id']}", json={"email_slug": "acme-help"})

    assert response.status_code == 200
    assert response.json()["data"]["email_slug"] == "acme-help"
    assert api.make_client(name="Acme")["email_slug"] == "acme"


def test_update_invalid_phone_is_422(api: Api) -> None:
    client = api.make_client()
    response = api.put(f"/v1/clients/{client['id']}", json={"phone": "n/a"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "phone"


def test_update_unknown_client_is_404(api: Api) -> None:
    response = api.put("/v1/clients/cli_nope", json={"name": "x"})
    assert response.status_code == 404
    assert response.json()["error"]["resource"] == "client"


def test_update_emits_client_updated_with_changed_fields(api: Api) -> None:
    client = api.make_client()
    api.put(f"/v1/clients/{client['id']}", json={"notes": "VIP", "status": "inactive"})

    event = events_of(api, client["id"])[-1]
    assert event["type"] == "client.updated"
    assert event["changed_fields"] == ["notes", "status"]
    assert event["data"]["notes"] == "VIP"


def test_update_with_nothing_new_emits_nothing(api: Api) -> None:
    client = api.make_client(notes="same")
    response = api.put(f"/v1/clients/{client['id']}", json={"notes": "same"})

    assert response.status_code == 200
    assert response.json()["data"] == client
    assert [event["type"] for event in events_of(api, client["id"])] == ["client.created"]


# --- delete -----------------------------------------------------------------------------------


def test_delete_is_refused_while_the_client_has_contacts(api: Api) -> None:
    client = api.make_client()
    contact = api.make_contact(client["id"])

    response = api.delete(f"/v1/clients/{client['id']}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert get_client(api, client["id"]) == client
    assert api.get(f"/v1/contacts/{contact['id']}").status_code == 200


def test_delete_succeeds_once_its_contacts_are_deleted(api: Api) -> None:
    client = api.make_client()
    contacts = [api.make_contact(client["id"]) for _ in range(2)]
    for contact in contacts:
        assert api.delete(f"/v1/contacts/{contact['id']}").status_code == 200

    response = api.delete(f"/v1/clients/{client['id']}")

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"id": client["id"], "deleted": True}}
    assert api.get(f"/v1/clients/{client['id']}").status_code == 404
    assert ids(api) == []
    assert api.delete(f"/v1/clients/{client['id']}").status_code == 404


def test_delete_succeeds_once_its_contacts_moved_away(api: Api) -> None:
    client = api.make_client()
    contact = api.make_contact(client["id"])
    elsewhere = api.make_client()["id"]
    api.put(f"/v1/contacts/{contact['id']}", json={"client_id": elsewhere})

    assert api.delete(f"/v1/clients/{client['id']}").status_code == 200


def test_deleted_client_takes_no_new_contacts_or_tickets(api: Api) -> None:
    client = api.make_client()
    api.delete(f"/v1/clients/{client['id']}")

    contact = api.post("/v1/contacts", json={"client_id": client["id"], "name": "X"})
    ticket = api.post("/v1/tickets", json={"client_id": client["id"], "title": "X"})
    assert contact.status_code == 404
    assert contact.json()["error"]["resource"] == "client"
    assert ticket.status_code == 404
    assert ticket.json()["error"]["resource"] == "client"


def test_deleted_clients_slug_is_free_again(api: Api) -> None:
    client = api.make_client(name="Acme")
    api.delete(f"/v1/clients/{client['id']}")
    assert api.make_client(name="Acme")["email_slug"] == "acme"
    assert create(api, name="X", email_slug="acme").status_code == 409


def test_delete_emits_client_deleted(api: Api) -> None:
    client = api.make_client()
    api.put(f"/v1/clients/{client['id']}", json={"notes": "bye"})
    api.delete(f"/v1/clients/{client['id']}")

    assert [event["type"] for event in events_of(api, client["id"])] == [
        "client.created",
        "client.updated",
        "client.deleted",
    ]
    assert events_of(api, client["id"])[-1]["data"]["id"] == client["id"]


def test_delete_of_a_foreign_client_is_404_and_keeps_it(api: Api, other_api: Api) -> None:
    foreign = other_api.make_client()
    assert api.delete(f"/v1/clients/{foreign['id']}").status_code == 404
    assert other_api.get(f"/v1/clients/{foreign['id']}").status_code == 200
