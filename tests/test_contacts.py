"""Contacts: create, read, update and delete, as the seed and SPEC §3 decide them.

Checks that the API cannot show (E.164 forms, events, activity after a delete) read the
database directly on the app's own event loop.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.models import activity, api_keys, contacts, events

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

CONTACT_KEYS = {
    "id",
    "client_id",
    "name",
    "email",
    "phone",
    "mobile",
    "title",
    "department",
    "roles",
    "portal",
    "communication",
    "notes",
    "created_at",
    "updated_at",
}
# The seed's portal object, plus the two timestamps SPEC §4 adds inside it.
PORTAL_KEYS = {
    "access_enabled",
    "access_level",
    "last_login_at",
    "invitation_sent_at",
    "password_reset_sent_at",
}


# --- direct database reads ------------------------------------------------------------------


def rows(http: TestClient, query: Any) -> list[dict[str, Any]]:
    database = runtime_of(http).database

    async def _run() -> list[dict[str, Any]]:
        async with database.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    result: list[dict[str, Any]] = run_async(http, _run)
    return result


def contact_row(api: Api, contact_id: str) -> dict[str, Any]:
    query = select(contacts).where(
        contacts.c.workspace_id == api.workspace_id, contacts.c.id == contact_id
    )
    (row,) = rows(api.http, query)
    return row


def events_of(api: Api, object_id: str) -> list[dict[str, Any]]:
    query = (
        select(events)
        .where(events.c.workspace_id == api.workspace_id, events.c.object_id == object_id)
        .order_by(events.c.created_at, events.c.id)
    )
    return rows(api.http, query)


def event_types(api: Api, object_id: str) -> list[str]:
    return [event["type"] for event in events_of(api, object_id)]


def activity_rows(api: Api, contact_id: str) -> list[dict[str, Any]]:
    query = (
        select(activity)
        .where(activity.c.workspace_id == api.workspace_id, activity.c.contact_id == contact_id)
        .order_by(activity.c.created_at, activity.c.id)
    )
    return rows(api.http, query)


def key_id_of(api: Api) -> str:
    query = select(api_keys.c.id).where(
        api_keys.c.workspace_id == api.workspace_id, api_keys.c.mode == "test"
    )
    (row,) = rows(api.http, query)
    return str(row["id"])


def get_contact(api: Api, contact_id: str, **params: str) -> dict[str, Any]:
    response = api.get(f"/v1/contacts/{contact_id}", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def activity_of(api: Api, contact_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = get_contact(api, contact_id, include="activity")["activity"]
    return entries


def changes_of(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {change["field"]: (change["old"], change["new"]) for change in entry["changes"]}


def list_ids(api: Api, **params: Any) -> list[str]:
    response = api.get("/v1/contacts", params={"per_page": 100, **params})
    assert response.status_code == 200, response.text
    return [contact["id"] for contact in response.json()["data"]]


# --- create -----------------------------------------------------------------------------------


def test_create_returns_the_seed_object_with_defaults(api: Api) -> None:
    client = api.make_client()
    response = api.post("/v1/contacts", json={"client_id": client["id"], "name": "John Smith"})

    assert response.status_code == 201, response.text
    contact = response.json()["data"]
    assert set(contact) == CONTACT_KEYS
    assert set(contact["portal"]) == PORTAL_KEYS
    assert re.fullmatch(r"con_[a-z0-9]{20,}", contact["id"])
    assert contact["client_id"] == client["id"]
    assert contact["name"] == "John Smith"
    for field in ("email", "phone", "mobile", "title", "department", "notes"):
        assert contact[field] is None
    assert contact["roles"] == {"is_primary": False, "is_billing": False, "is_technical": False}
    assert contact["portal"] == {
        "access_enabled": False,
        "access_level": "none",
        "last_login_at": None,
        "invitation_sent_at": None,
        "password_reset_sent_at": None,
    }
    assert contact["communication"] == {
        "receives_invoices": False,
        "receives_reports": False,
        "receives_project_updates": True,
    }
    assert RFC3339.match(contact["created_at"])
    assert contact["updated_at"] == contact["created_at"]


def test_create_with_the_seed_body_round_trips(api: Api) -> None:
    client = api.make_client()
    body = {
        "client_id": client["id"],
        "name": "John Smith",
        "email": "john@acme.com",
        "phone": "+1 (555) 123-4567",
        "mobile": "+1 (555) 987-6543",
        "title": "VP of Marketing",
        "department": "Marketing",
        "is_primary": True,
        "is_billing": True,
        "portal_access": "full",
        "receives_invoices": True,
        "notes": "Primary point of contact, prefers email",
    }
    created = api.post("/v1/contacts", json=body)

    assert created.status_code == 201, created.text
    contact = created.json()["data"]
    assert contact["email"] == "john@acme.com"
    assert contact["phone"] == "+1 (555) 123-4567"
    assert contact["mobile"] == "+1 (555) 987-6543"
    assert contact["title"] == "VP of Marketing"
    assert contact["department"] == "Marketing"
    assert contact["notes"] == "Primary point of contact, prefers email"
    assert contact["roles"] == {"is_primary": True, "is_billing": True, "is_technical": False}
    assert contact["portal"]["access_enabled"] is True
    assert contact["portal"]["access_level"] == "full"
    assert contact["communication"] == {
        "receives_invoices": True,
        "receives_reports": False,
        "receives_project_updates": True,
    }
    assert get_contact(api, contact["id"]) == contact


def test_billing_contact_receives_invoices_unless_told_otherwise(api: Api) -> None:
    client_id = api.make_client()["id"]
    billing = api.make_contact(client_id, is_billing=True)
    opted_out = api.make_contact(client_id, is_billing=True, receives_invoices=False)
    not_billing_but_opted_in = api.make_contact(client_id, receives_invoices=True)

    assert billing["communication"]["receives_invoices"] is True
    assert opted_out["communication"]["receives_invoices"] is False
    assert opted_out["roles"]["is_billing"] is True
    assert not_billing_but_opted_in["communication"]["receives_invoices"] is True


def test_create_accepts_every_communication_preference(api: Api) -> None:
    contact = api.make_contact(receives_reports=True, receives_project_updates=False)
    assert contact["communication"] == {
        "receives_invoices": False,
        "receives_reports": True,
        "receives_project_updates": False,
    }


@pytest.mark.parametrize("level", ["view", "full"])
def test_create_with_portal_access_enables_the_portal(api: Api, level: str) -> None:
    contact = api.make_contact(portal_access=level)
    assert contact["portal"]["access_enabled"] is True
    assert contact["portal"]["access_level"] == level


def test_create_requires_client_id_and_name(api: Api) -> None:
    response = api.post("/v1/contacts", json={"email": "a@acme.com"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {item["field"] for item in error["errors"]} == {"client_id", "name"}


@pytest.mark.parametrize("name", ["", "   "])
def test_create_refuses_a_blank_name(api: Api, name: str) -> None:
    client_id = api.make_client()["id"]
    response = api.post("/v1/contacts", json={"client_id": client_id, "name": name})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "name"


@pytest.mark.parametrize(
    "extra",
    [
        {"id": "con_mine"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"roles": {"is_primary": True}},
        {"portal": {"last_login_at": "2026-01-20T14:30:00Z"}},
        {"portal_access": "admin"},
        {"is_primary": "yes"},
    ],
)
def test_create_refuses_unknown_or_invalid_fields(api: Api, extra: dict[str, Any]) -> None:
    client_id = api.make_client()["id"]
    response = api.post("/v1/contacts", json={"client_id": client_id, "name": "X", **extra})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == next(iter(extra))
    assert list_ids(api) == []


def test_create_with_unknown_client_is_404_client(api: Api) -> None:
    response = api.post("/v1/contacts", json={"client_id": "cli_nope", "name": "X"})

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["resource"] == "client"
    assert error["id"] == "cli_nope"


def test_create_with_a_client_of_another_workspace_or_mode_is_404(api: Api, other_api: Api) -> None:
    for foreign in (other_api.make_client()["id"], api.live.make_client()["id"]):
        response = api.post("/v1/contacts", json={"client_id": foreign, "name": "X"})
        assert response.status_code == 404
        assert response.json()["error"]["resource"] == "client"


def test_create_records_contact_created_event(api: Api) -> None:
    contact = api.make_contact(email="evt@acme.com")

    (event,) = events_of(api, contact["id"])
    assert event["type"] == "contact.created"
    assert event["mode"] == "test"
    assert event["data"] == contact


# --- email ------------------------------------------------------------------------------------


def test_email_is_stored_as_given(api: Api) -> None:
    contact = api.make_contact(email="John.Smith@Acme.COM")
    assert contact["email"] == "John.Smith@Acme.COM"
    assert get_contact(api, contact["id"])["email"] == "John.Smith@Acme.COM"


@pytest.mark.parametrize("email", ["not-an-email", "john@", "@acme.com", "john smith@acme.com"])
def test_invalid_email_is_422(api: Api, email: str) -> None:
    client_id = api.make_client()["id"]
    response = api.post("/v1/contacts", json={"client_id": client_id, "name": "X", "email": email})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "email"


def test_duplicate_email_is_409_with_existing_id_whatever_the_case(api: Api) -> None:
    first = api.make_contact(email="john@acme.com")
    other_client = api.make_client()["id"]
    response = api.post(
        "/v1/contacts",
        json={"client_id": other_client, "name": "Another John", "email": "JOHN@Acme.com"},
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["field"] == "email"
    assert error["existing_id"] == first["id"]
    assert list_ids(api) == [first["id"]]


def test_concurrent_creates_with_one_email_give_one_contact_and_409s(api: Api) -> None:
    clients = [api.make_client()["id"] for _ in range(8)]

    def create(client_id: str) -> Any:
        body = {"client_id": client_id, "name": "Racer", "email": "race@acme.com"}
        return api.post("/v1/contacts", json=body)

    with ThreadPoolExecutor(len(clients)) as pool:
        responses = list(pool.map(create, clients))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (len(clients) - 1), [r.text for r in responses]
    (winner,) = [r.json()["data"]["id"] for r in responses if r.status_code == 201]
    assert {r.json()["error"]["existing_id"] for r in responses if r.status_code == 409} == {winner}
    assert list_ids(api) == [winner]


def test_update_to_a_taken_email_is_409_and_changes_nothing(api: Api) -> None:
    taken = api.make_contact(email="taken@acme.com")
    contact = api.make_contact(email="mine@acme.com")

    response = api.put(
        f"/v1/contacts/{contact['id']}", json={"email": "Taken@acme.com", "title": "CTO"}
    )

    assert response.status_code == 409
    assert response.json()["error"]["existing_id"] == taken["id"]
    assert get_contact(api, contact["id"]) == contact


def test_update_to_own_email_in_another_case_is_allowed(api: Api) -> None:
    contact = api.make_contact(email="mine@acme.com")
    response = api.put(f"/v1/contacts/{contact['id']}", json={"email": "Mine@ACME.com"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["email"] == "Mine@ACME.com"


def test_email_is_free_again_after_its_owner_is_deleted(api: Api) -> None:
    first = api.make_contact(email="john@acme.com")
    assert api.delete(f"/v1/contacts/{first['id']}").status_code == 200

    second = api.make_contact(email="john@acme.com")
    assert second["id"] != first["id"]


def test_same_email_is_allowed_in_the_other_mode_and_another_workspace(
    api: Api, other_api: Api
) -> None:
    api.make_contact(email="john@acme.com")
    live = api.live.make_contact(email="john@acme.com")
    elsewhere = other_api.make_contact(email="john@acme.com")
    assert live["email"] == elsewhere["email"] == "john@acme.com"


def test_contacts_without_email_never_conflict(api: Api) -> None:
    client_id = api.make_client()["id"]
    first = api.make_contact(client_id)
    second = api.make_contact(client_id, email="x@acme.com")
    response = api.put(f"/v1/contacts/{second['id']}", json={"email": None})

    assert response.status_code == 200
    assert set(list_ids(api)) == {first["id"], second["id"]}


# --- phones -----------------------------------------------------------------------------------


def test_phones_are_kept_as_written_with_e164_stored_beside(api: Api) -> None:
    contact = api.make_contact(phone="+1 (555) 123-4567", mobile="+44 20 7946 0958")

    assert contact["phone"] == "+1 (555) 123-4567"
    assert contact["mobile"] == "+44 20 7946 0958"
    row = contact_row(api, contact["id"])
    assert row["phone_e164"] == "+15551234567"
    assert row["mobile_e164"] == "+442079460958"


def test_phone_without_country_code_is_read_in_the_us(api: Api) -> None:
    contact = api.make_contact(phone="(555) 987-6543", mobile="555.123.4567 ")

    assert contact["phone"] == "(555) 987-6543"
    row = contact_row(api, contact["id"])
    assert row["phone_e164"] == "+15559876543"
    assert row["mobile_e164"] == "+15551234567"


@pytest.mark.parametrize("field", ["phone", "mobile"])
@pytest.mark.parametrize("text", ["call me", "12", "+1 555 123 4567 8901 2345"])
def test_text_that_is_not_a_phone_number_is_422(api: Api, field: str, text: str) -> None:
    client_id = api.make_client()["id"]
    response = api.post("/v1/contacts", json={"client_id": client_id, "name": "X", field: text})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field
    assert error["errors"][0]["code"] == "invalid_phone"


def test_updating_a_phone_updates_its_e164_and_null_clears_both(api: Api) -> None:
    contact = api.make_contact(phone="555-123-4567", mobile="555-987-6543")

    response = api.put(
        f"/v1/contacts/{contact['id']}", json={"phone": "+33 1 42 68 53 00", "mobile": None}
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["phone"] == "+33 1 42 68 53 00"
    assert response.json()["data"]["mobile"] is None
    row = contact_row(api, contact["id"])
    assert row["phone_e164"] == "+33142685300"
    assert row["mobile_e164"] is None


def test_invalid_phone_on_update_is_422_and_changes_nothing(api: Api) -> None:
    contact = api.make_contact(phone="555-123-4567")
    response = api.put(f"/v1/contacts/{contact['id']}", json={"phone": "n/a", "title": "CEO"})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "phone"
    assert get_contact(api, contact["id"]) == contact


# --- one primary per client -------------------------------------------------------------------


def test_creating_a_primary_demotes_the_previous_one(api: Api) -> None:
    client_id = api.make_client()["id"]
    previous = api.make_contact(client_id, is_primary=True, email="old@acme.com")

    new = api.make_contact(client_id, is_primary=True, email="new@acme.com")

    assert new["roles"]["is_primary"] is True
    assert get_contact(api, previous["id"])["roles"]["is_primary"] is False
    assert list_ids(api, client_id=client_id, is_primary="true") == [new["id"]]
    demoted = events_of(api, previous["id"])[-1]
    assert demoted["type"] == "contact.updated"
    assert demoted["changed_fields"] == ["is_primary"]
    assert demoted["data"]["roles"]["is_primary"] is False
    entry = activity_of(api, previous["id"])[0]
    assert entry["action"] == "roles_changed"
    assert changes_of(entry) == {"is_primary": (True, False)}


def test_making_a_contact_primary_demotes_the_previous_and_both_emit_updated(api: Api) -> None:
    client_id = api.make_client()["id"]
    previous = api.make_contact(client_id, is_primary=True, email="old@acme.com")
    contact = api.make_contact(client_id, email="new@acme.com")

    response = api.put(f"/v1/contacts/{contact['id']}", json={"is_primary": True})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["roles"]["is_primary"] is True
    assert get_contact(api, previous["id"])["roles"]["is_primary"] is False
    assert event_types(api, previous["id"]) == ["contact.created", "contact.updated"]
    assert event_types(api, contact["id"]) == ["contact.created", "contact.updated"]
    for contact_id, now_primary in ((previous["id"], False), (contact["id"], True)):
        event = events_of(api, contact_id)[-1]
        assert event["changed_fields"] == ["is_primary"]
        assert event["data"]["roles"]["is_primary"] is now_primary
        entry = activity_of(api, contact_id)[0]
        assert entry["action"] == "roles_changed"
        assert changes_of(entry) == {"is_primary": (not now_primary, now_primary)}


def test_each_client_keeps_its_own_primary(api: Api) -> None:
    first = api.make_contact(is_primary=True, email="a@acme.com")
    second = api.make_contact(is_primary=True, email="b@acme.com")

    assert get_contact(api, first["id"])["roles"]["is_primary"] is True
    assert get_contact(api, second["id"])["roles"]["is_primary"] is True


def test_moving_a_primary_to_another_client_demotes_that_clients_primary(api: Api) -> None:
    here, there = api.make_client()["id"], api.make_client()["id"]
    moving = api.make_contact(here, is_primary=True, email="moving@acme.com")
    resident = api.make_contact(there, is_primary=True, email="resident@acme.com")

    response = api.put(f"/v1/contacts/{moving['id']}", json={"client_id": there})

    assert response.status_code == 200, response.text
    moved = response.json()["data"]
    assert moved["client_id"] == there
    assert moved["roles"]["is_primary"] is True
    assert get_contact(api, resident["id"])["roles"]["is_primary"] is False
    assert list_ids(api, client_id=there, is_primary="true") == [moving["id"]]
    assert list_ids(api, client_id=here) == []
    assert events_of(api, resident["id"])[-1]["changed_fields"] == ["is_primary"]


def test_a_refused_primary_create_demotes_no_one(api: Api) -> None:
    client_id = api.make_client()["id"]
    primary = api.make_contact(client_id, is_primary=True, email="p@acme.com")

    response = api.post(
        "/v1/contacts",
        json={"client_id": client_id, "name": "Dup", "email": "P@acme.com", "is_primary": True},
    )

    assert response.status_code == 409
    assert get_contact(api, primary["id"])["roles"]["is_primary"] is True
    assert event_types(api, primary["id"]) == ["contact.created"]


def test_a_refused_primary_update_demotes_no_one(api: Api) -> None:
    client_id = api.make_client()["id"]
    primary = api.make_contact(client_id, is_primary=True, email="p@acme.com")
    api.make_contact(client_id, email="taken@acme.com")
    contact = api.make_contact(client_id)

    response = api.put(
        f"/v1/contacts/{contact['id']}", json={"is_primary": True, "email": "taken@acme.com"}
    )

    assert response.status_code == 409
    assert get_contact(api, primary["id"])["roles"]["is_primary"] is True
    assert get_contact(api, contact["id"])["roles"]["is_primary"] is False


def test_re_sending_is_primary_true_on_the_primary_changes_nothing(api: Api) -> None:
    primary = api.make_contact(is_primary=True)
    response = api.put(f"/v1/contacts/{primary['id']}", json={"is_primary": True})

    assert response.status_code == 200
    assert response.json()["data"] == primary
    assert event_types(api, primary["id"]) == ["contact.created"]


# --- update -----------------------------------------------------------------------------------


def test_put_changes_only_the_fields_sent(api: Api) -> None:
    contact = api.make_contact(
        email="john@acme.com", title="VP of Marketing", department="Marketing", notes="n"
    )

    response = api.put(
        f"/v1/contacts/{contact['id']}",
        json={"title": "Chief Marketing Officer", "is_billing": True, "receives_reports": True},
    )

    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["title"] == "Chief Marketing Officer"
    assert updated["roles"] == {"is_primary": False, "is_billing": True, "is_technical": False}
    assert updated["communication"] == {
        "receives_invoices": False,
        "receives_reports": True,
        "receives_project_updates": True,
    }
    unchanged = ("id", "client_id", "name", "email", "department", "notes", "created_at")
    for field in unchanged:
        assert updated[field] == contact[field]
    assert updated["updated_at"] >= contact["updated_at"]
    assert get_contact(api, contact["id"]) == updated


def test_put_accepts_every_flat_field(api: Api) -> None:
    contact = api.make_contact()
    body = {
        "name": "Jane Doe",
        "email": "jane@acme.com",
        "phone": "555-123-4567",
        "mobile": "555-987-6543",
        "title": "Developer",
        "department": "Engineering",
        "is_technical": True,
        "portal_access": "view",
        "receives_invoices": True,
        "receives_project_updates": False,
        "notes": "Prefers Slack",
    }
    response = api.put(f"/v1/contacts/{contact['id']}", json=body)

    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    for field in ("name", "email", "phone", "mobile", "title", "department", "notes"):
        assert updated[field] == body[field]
    assert updated["roles"]["is_technical"] is True
    assert updated["portal"]["access_level"] == "view"
    assert updated["portal"]["access_enabled"] is True
    assert updated["communication"]["receives_invoices"] is True
    assert updated["communication"]["receives_project_updates"] is False


def test_put_null_clears_optional_fields(api: Api) -> None:
    contact = api.make_contact(
        email="john@acme.com",
        phone="555-123-4567",
        mobile="555-987-6543",
        title="CTO",
        department="IT",
        notes="n",
    )
    cleared = ("email", "phone", "mobile", "title", "department", "notes")

    response = api.put(f"/v1/contacts/{contact['id']}", json=dict.fromkeys(cleared))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    for field in cleared:
        assert data[field] is None
    row = contact_row(api, contact["id"])
    assert row["email_key"] is None
    assert row["phone_e164"] is None
    assert row["mobile_e164"] is None


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "client_id",
        "is_primary",
        "is_billing",
        "is_technical",
        "portal_access",
        "receives_invoices",
        "receives_reports",
        "receives_project_updates",
    ],
)
def test_put_cannot_null_a_required_field(api: Api, field: str) -> None:
    contact = api.make_contact()
    response = api.put(f"/v1/contacts/{contact['id']}", json={field: None})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert get_contact(api, contact["id"]) == contact


def test_put_moves_a_contact_to_another_client_of_the_workspace(api: Api) -> None:
    contact = api.make_contact()
    other_client = api.make_client()["id"]

    response = api.put(f"/v1/contacts/{contact['id']}", json={"client_id": other_client})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["client_id"] == other_client
    assert list_ids(api, client_id=other_client) == [contact["id"]]
    assert list_ids(api, client_id=contact["client_id"]) == []


def test_put_to_an_unknown_or_foreign_client_is_404_client(api: Api, other_api: Api) -> None:
    contact = api.make_contact()
    foreign = other_api.make_client()["id"]
    for client_id in ("cli_nope", foreign, api.live.make_client()["id"]):
        response = api.put(f"/v1/contacts/{contact['id']}", json={"client_id": client_id})
        assert response.status_code == 404
        assert response.json()["error"]["resource"] == "client"
        assert response.json()["error"]["id"] == client_id
    assert get_contact(api, contact["id"]) == contact


def test_put_with_nothing_new_changes_nothing(api: Api) -> None:
    contact = api.make_contact(title="CTO", is_billing=True)
    before = api.get(f"/v1/contacts/{contact['id']}")

    for body in ({}, {"title": "CTO", "is_billing": True, "name": contact["name"]}):
        response = api.put(f"/v1/contacts/{contact['id']}", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == contact
        assert response.headers["ETag"] == before.headers["ETag"]
    assert event_types(api, contact["id"]) == ["contact.created"]
    assert [entry["action"] for entry in activity_of(api, contact["id"])] == ["created"]


def test_put_refuses_nested_and_server_owned_fields(api: Api) -> None:
    contact = api.make_contact()
    for body in ({"roles": {"is_primary": True}}, {"id": "con_x"}, {"updated_at": "2020"}):
        response = api.put(f"/v1/contacts/{contact['id']}", json=body)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == next(iter(body))
    assert get_contact(api, contact["id"]) == contact


def test_put_emits_contact_updated_with_changed_fields(api: Api) -> None:
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"title": "CTO", "receives_reports": True})

    event = events_of(api, contact["id"])[-1]
    assert event["type"] == "contact.updated"
    assert event["changed_fields"] == ["receives_reports", "title"]
    assert event["data"]["title"] == "CTO"


def test_unknown_contact_is_404_for_every_verb(api: Api) -> None:
    for method in ("GET", "PUT", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"title": "x"}} if method == "PUT" else {}
        response = api.request(method, "/v1/contacts/con_nope", **kwargs)
        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["code"], error["resource"], error["id"]) == (
            "not_found",
            "contact",
            "con_nope",
        )


def test_contact_of_another_workspace_or_mode_is_404(api: Api, other_api: Api) -> None:
    mine = api.make_contact()
    for caller in (other_api, api.live):
        assert caller.get(f"/v1/contacts/{mine['id']}").status_code == 404
        response = caller.put(f"/v1/contacts/{mine['id']}", json={"title": "x"})
        assert response.status_code == 404
        assert caller.delete(f"/v1/contacts/{mine['id']}").status_code == 404
    assert get_contact(api, mine["id"]) == mine


# --- delete -----------------------------------------------------------------------------------


def test_delete_answers_the_id_and_deleted_true(api: Api) -> None:
    contact = api.make_contact()
    response = api.delete(f"/v1/contacts/{contact['id']}")

    assert response.status_code == 200
    assert response.json() == {"data": {"id": contact["id"], "deleted": True}}


def test_deleted_contact_is_404_and_absent_from_lists(api: Api) -> None:
    contact = api.make_contact(email="gone@acme.com", is_primary=True)
    kept = api.make_contact(contact["client_id"], email="kept@acme.com")
    api.delete(f"/v1/contacts/{contact['id']}")

    response = api.get(f"/v1/contacts/{contact['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["resource"] == "contact"
    assert list_ids(api) == [kept["id"]]
    assert list_ids(api, search="gone") == []
    assert list_ids(api, is_primary="true") == []
    listed = api.get("/v1/contacts").json()
    assert listed["pagination"]["total"] == 1


def test_second_delete_and_later_update_are_404(api: Api) -> None:
    contact = api.make_contact()
    api.delete(f"/v1/contacts/{contact['id']}")

    assert api.delete(f"/v1/contacts/{contact['id']}").status_code == 404
    assert api.put(f"/v1/contacts/{contact['id']}", json={"title": "x"}).status_code == 404


def test_delete_keeps_ticket_contact_name_and_drops_the_link(api: Api) -> None:
    contact = api.make_contact(name="Jane Doe")
    api.put(f"/v1/contacts/{contact['id']}", json={"name": "Jane Q. Doe"})
    ticket = api.make_ticket(contact["client_id"], contact_id=contact["id"])

    api.delete(f"/v1/contacts/{contact['id']}")

    response = api.get(f"/v1/tickets/{ticket['id']}")
    assert response.status_code == 200
    after = response.json()["data"]
    assert after["contact_id"] is None
    assert after["contact_name"] == "Jane Q. Doe"
    assert after["client_id"] == contact["client_id"]
    assert api.get("/v1/tickets", params={"contact_id": contact["id"]}).json()["data"] == []


def test_delete_keeps_activity_history_and_events(api: Api) -> None:
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"title": "CTO"})
    ticket = api.make_ticket(contact["client_id"], contact_id=contact["id"])
    history = activity_of(api, contact["id"])

    api.delete(f"/v1/contacts/{contact['id']}")

    kept = activity_rows(api, contact["id"])
    assert {entry["id"] for entry in history} <= {row["id"] for row in kept}
    actions = [row["action"] for row in kept]
    assert actions[: len(history)] == [entry["action"] for entry in reversed(history)]
    assert "ticket_unlinked" in actions
    assert actions[-1] == "deleted"
    unlinked = next(row for row in kept if row["action"] == "ticket_unlinked")
    assert unlinked["changes"] == [{"field": "ticket_id", "old": ticket["id"], "new": None}]
    assert event_types(api, contact["id"]) == [
        "contact.created",
        "contact.updated",
        "contact.deleted",
    ]
    deleted_event = events_of(api, contact["id"])[-1]
    assert deleted_event["data"]["id"] == contact["id"]


def test_delete_ends_portal_access(api: Api) -> None:
    contact = api.make_contact(portal_access="full", email="portal@acme.com")
    api.delete(f"/v1/contacts/{contact['id']}")

    row = contact_row(api, contact["id"])
    assert row["portal_access"] == "none"
    assert row["deleted_at"] is not None
    last = activity_rows(api, contact["id"])[-1]
    assert last["action"] == "deleted"
    assert {"field": "portal_access", "old": "full", "new": "none"} in last["changes"]


def test_client_primary_slot_is_free_after_the_primary_is_deleted(api: Api) -> None:
    client_id = api.make_client()["id"]
    primary = api.make_contact(client_id, is_primary=True)
    api.delete(f"/v1/contacts/{primary['id']}")

    successor = api.make_contact(client_id, is_primary=True)
    assert successor["roles"]["is_primary"] is True
    assert event_types(api, primary["id"]) == ["contact.created", "contact.deleted"]


# --- include ----------------------------------------------------------------------------------


def test_get_without_include_has_no_extra_keys(api: Api) -> None:
    contact = api.make_contact()
    assert set(get_contact(api, contact["id"])) == CONTACT_KEYS


def test_include_client_embeds_the_client_object(api: Api) -> None:
    client = api.make_client(website="https://acme.com")
    contact = api.make_contact(client["id"])

    data = get_contact(api, contact["id"], include="client")

    assert data["client"] == client
    assert set(data) == CONTACT_KEYS | {"client"}


def test_include_tickets_lists_the_contacts_tickets_newest_first(api: Api) -> None:
    contact = api.make_contact()
    client_id = contact["client_id"]
    first = api.make_ticket(client_id, contact_id=contact["id"], title="Update homepage banner")
    second = api.make_ticket(client_id, contact_id=contact["id"], title="Fix footer")
    api.make_ticket(client_id, title="Not theirs")

    tickets = get_contact(api, contact["id"], include="tickets")["tickets"]

    assert [ticket["id"] for ticket in tickets] == [second["id"], first["id"]]
    assert tickets[1] == first
    assert {"id", "title", "status", "created_at"} <= set(tickets[1])
    assert tickets[1]["status"] == "open"


def test_include_activity_lists_history_newest_first(api: Api) -> None:
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"title": "CTO"})
    api.put(f"/v1/contacts/{contact['id']}", json={"is_technical": True})

    entries = activity_of(api, contact["id"])

    assert [entry["action"] for entry in entries] == ["roles_changed", "updated", "created"]
    stamps = [entry["created_at"] for entry in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert all(entry["contact_id"] == contact["id"] for entry in entries)
    assert all(entry["id"].startswith("act_") for entry in entries)


def test_include_all_three_at_once(api: Api) -> None:
    contact = api.make_contact()
    api.make_ticket(contact["client_id"], contact_id=contact["id"])

    data = get_contact(api, contact["id"], include="client, tickets,activity")

    assert set(data) == CONTACT_KEYS | {"client", "tickets", "activity"}
    assert data["client"]["id"] == contact["client_id"]
    assert len(data["tickets"]) == 1
    assert [entry["action"] for entry in data["activity"]] == ["ticket_linked", "created"]


@pytest.mark.parametrize("include", ["invoices", "client,projects", "CLIENT"])
def test_unknown_include_is_400(api: Api, include: str) -> None:
    contact = api.make_contact()
    response = api.get(f"/v1/contacts/{contact['id']}", params={"include": include})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "include"


# --- activity ---------------------------------------------------------------------------------


def test_create_is_recorded_with_fields_actor_and_time(api: Api) -> None:
    contact = api.make_contact(email="john@acme.com", title="CTO")

    (entry,) = activity_of(api, contact["id"])

    assert entry["action"] == "created"
    assert entry["actor"] == {"type": "api_key", "id": key_id_of(api)}
    assert entry["actor"]["id"].startswith("key_")
    assert RFC3339.match(entry["created_at"])
    changes = changes_of(entry)
    assert changes["email"] == (None, "john@acme.com")
    assert changes["title"] == (None, "CTO")
    assert changes["name"] == (None, "John Smith")
    assert changes["client_id"] == (None, contact["client_id"])


def test_update_is_recorded_with_field_old_and_new(api: Api) -> None:
    contact = api.make_contact(title="VP", notes="old note")
    api.put(f"/v1/contacts/{contact['id']}", json={"title": "CMO", "notes": None})

    entry = activity_of(api, contact["id"])[0]

    assert entry["action"] == "updated"
    assert changes_of(entry) == {"title": ("VP", "CMO"), "notes": ("old note", None)}
    assert entry["actor"] == {"type": "api_key", "id": key_id_of(api)}


def test_role_changes_are_recorded_as_roles_changed(api: Api) -> None:
    contact = api.make_contact()
    api.put(
        f"/v1/contacts/{contact['id']}",
        json={"is_billing": True, "is_technical": True, "title": "Ops"},
    )

    entries = {entry["action"]: entry for entry in activity_of(api, contact["id"])}

    assert changes_of(entries["roles_changed"]) == {
        "is_billing": (False, True),
        "is_technical": (False, True),
    }
    assert changes_of(entries["updated"]) == {"title": (None, "Ops")}


def test_portal_access_changes_are_recorded_as_enabled_and_disabled(api: Api) -> None:
    # No email, so no invitation entry joins the history (the portal tests cover those).
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"portal_access": "view"})
    api.put(f"/v1/contacts/{contact['id']}", json={"portal_access": "none"})

    actions = [entry["action"] for entry in activity_of(api, contact["id"])]
    entries = activity_of(api, contact["id"])

    assert actions == ["portal_disabled", "portal_enabled", "created"]
    assert changes_of(entries[1]) == {"portal_access": ("none", "view")}
    assert changes_of(entries[0]) == {"portal_access": ("view", "none")}
    assert event_types(api, contact["id"]) == [
        "contact.created",
        "contact.updated",
        "contact.portal_enabled",
        "contact.updated",
        "contact.portal_disabled",
    ]


def test_create_with_portal_access_records_portal_enabled(api: Api) -> None:
    contact = api.make_contact(portal_access="full")

    actions = [entry["action"] for entry in activity_of(api, contact["id"])]
    assert sorted(actions) == ["created", "portal_enabled"]
    # Both are written in one batch with one timestamp, so their order is not decided.
    assert sorted(event_types(api, contact["id"])) == ["contact.created", "contact.portal_enabled"]


def test_ticket_link_and_unlink_are_recorded_on_the_contacts(api: Api) -> None:
    first = api.make_contact(email="a@acme.com")
    second = api.make_contact(first["client_id"], email="b@acme.com")
    ticket = api.make_ticket(first["client_id"], contact_id=first["id"])

    response = api.put(f"/v1/tickets/{ticket['id']}", json={"contact_id": second["id"]})
    assert response.status_code == 200, response.text

    first_entries = activity_of(api, first["id"])
    second_entries = activity_of(api, second["id"])
    assert [entry["action"] for entry in first_entries] == [
        "ticket_unlinked",
        "ticket_linked",
        "created",
    ]
    assert changes_of(first_entries[1]) == {"ticket_id": (None, ticket["id"])}
    assert changes_of(first_entries[0]) == {"ticket_id": (ticket["id"], None)}
    assert second_entries[0]["action"] == "ticket_linked"
    assert changes_of(second_entries[0]) == {"ticket_id": (None, ticket["id"])}


# --- ETag and If-Match ------------------------------------------------------------------------


def test_etag_is_sent_on_get_post_and_put_and_changes_with_the_contact(api: Api) -> None:
    client_id = api.make_client()["id"]
    created = api.post("/v1/contacts", json={"client_id": client_id, "name": "X"})
    contact_id = created.json()["data"]["id"]
    fetched = api.get(f"/v1/contacts/{contact_id}")
    updated = api.put(f"/v1/contacts/{contact_id}", json={"title": "CTO"})
    refetched = api.get(f"/v1/contacts/{contact_id}", params={"include": "activity"})

    tags = [r.headers.get("ETag") for r in (created, fetched, updated, refetched)]
    assert all(tag and re.fullmatch(r'(W/)?"[^"]+"', tag) for tag in tags), tags
    assert tags[0] == tags[1]
    assert tags[2] != tags[1]
    assert tags[3] == tags[2]


def test_put_with_a_stale_if_match_is_412_and_changes_nothing(api: Api) -> None:
    contact = api.make_contact()
    stale = api.get(f"/v1/contacts/{contact['id']}").headers["ETag"]
    current = api.put(f"/v1/contacts/{contact['id']}", json={"title": "CTO"}).json()["data"]

    response = api.put(
        f"/v1/contacts/{contact['id']}", json={"title": "CEO"}, headers={"If-Match": stale}
    )

    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    assert get_contact(api, contact["id"]) == current
    assert event_types(api, contact["id"]) == ["contact.created", "contact.updated"]


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_contact(api: Api) -> None:
    contact = api.make_contact()
    stale = api.get(f"/v1/contacts/{contact['id']}").headers["ETag"]
    api.put(f"/v1/contacts/{contact['id']}", json={"title": "CTO"})

    response = api.delete(f"/v1/contacts/{contact['id']}", headers={"If-Match": stale})

    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    assert get_contact(api, contact["id"])["title"] == "CTO"
    assert "contact.deleted" not in event_types(api, contact["id"])


def test_the_current_etag_lets_put_and_delete_through(api: Api) -> None:
    contact = api.make_contact()
    tag = api.get(f"/v1/contacts/{contact['id']}").headers["ETag"]

    updated = api.put(
        f"/v1/contacts/{contact['id']}", json={"title": "CTO"}, headers={"If-Match": tag}
    )
    assert updated.status_code == 200, updated.text
    new_tag = updated.headers["ETag"]
    listed = f'"not-it", {new_tag}'
    deleted = api.delete(f"/v1/contacts/{contact['id']}", headers={"If-Match": listed})
    assert deleted.status_code == 200, deleted.text


def test_weak_form_of_the_current_etag_also_matches(api: Api) -> None:
    contact = api.make_contact()
    tag = api.get(f"/v1/contacts/{contact['id']}").headers["ETag"].removeprefix("W/")

    response = api.put(
        f"/v1/contacts/{contact['id']}", json={"title": "CTO"}, headers={"If-Match": f"W/{tag}"}
    )
    assert response.status_code == 200, response.text


def test_if_match_star_matches_any_version(api: Api) -> None:
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"title": "CTO"})

    updated = api.put(
        f"/v1/contacts/{contact['id']}", json={"title": "CEO"}, headers={"If-Match": "*"}
    )
    assert updated.status_code == 200
    assert updated.json()["data"]["title"] == "CEO"
    deleted = api.delete(f"/v1/contacts/{contact['id']}", headers={"If-Match": "*"})
    assert deleted.status_code == 200


def test_demotion_changes_the_demoted_contacts_etag(api: Api) -> None:
    client_id = api.make_client()["id"]
    previous = api.make_contact(client_id, is_primary=True)
    tag = api.get(f"/v1/contacts/{previous['id']}").headers["ETag"]

    api.make_contact(client_id, is_primary=True)

    response = api.put(
        f"/v1/contacts/{previous['id']}", json={"title": "x"}, headers={"If-Match": tag}
    )
    assert response.status_code == 412
