"""The event outbox and the events API: one event per change, written with the change."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.auth.subject import Actor, Subject, Tenant
from vantage_contacts.contacts import service as contacts
from vantage_contacts.contacts.schemas import ContactCreate
from vantage_contacts.errors import Conflict
from vantage_contacts.models import events as events_table

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def events_of(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Events of the workspace, newest first (one page of 100)."""
    response = api.get("/v1/events", params={"per_page": 100, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def types_of(api: Api, object_id: str) -> list[str]:
    """The object's event types, oldest first."""
    return [e["type"] for e in reversed(events_of(api, object_id=object_id))]


def total_events(api: Api) -> int:
    total: int = api.get("/v1/events").json()["pagination"]["total"]
    return total


# --- what each change writes ----------------------------------------------------------------------


def test_contact_create_writes_contact_created_with_the_object_as_answered(api: Api) -> None:
    contact = api.make_contact(email="ann@acme.com", phone="+1 415 555 0100")
    (event,) = events_of(api, object_id=contact["id"])
    assert set(event) == {"id", "type", "created_at", "workspace_id", "data"}
    assert event["id"].startswith("evt_")
    assert event["type"] == "contact.created"
    assert event["workspace_id"] == api.workspace_id
    assert RFC3339.match(event["created_at"])
    assert event["data"] == contact


def test_contact_update_writes_contact_updated_with_changed_fields(api: Api) -> None:
    contact = api.make_contact()
    response = api.put(
        f"/v1/contacts/{contact['id']}", json={"name": "Jane Roe", "title": "CTO", "notes": None}
    )
    assert response.status_code == 200, response.text
    latest = events_of(api, object_id=contact["id"])[0]
    assert latest["type"] == "contact.updated"
    assert latest["changed_fields"] == ["name", "title"]
    assert latest["data"] == response.json()["data"]


def test_an_update_that_changes_nothing_writes_no_event(api: Api) -> None:
    contact = api.make_contact(title="CEO")
    response = api.put(f"/v1/contacts/{contact['id']}", json={"title": "CEO"})
    assert response.status_code == 200, response.text
    assert types_of(api, contact["id"]) == ["contact.created"]


def test_contact_delete_writes_contact_deleted(api: Api) -> None:
    contact = api.make_contact(email="gone@acme.com")
    assert api.delete(f"/v1/contacts/{contact['id']}").status_code == 200
    latest = events_of(api, object_id=contact["id"])[0]
    assert latest["type"] == "contact.deleted"
    assert latest["data"]["id"] == contact["id"]
    assert latest["data"]["deleted"] is True
    assert latest["data"]["email"] == "gone@acme.com"


def test_portal_access_changes_write_portal_events(api: Api) -> None:
    contact = api.make_contact()
    path = f"/v1/contacts/{contact['id']}"
    enabled = api.put(path, json={"portal_access": "view"})
    assert enabled.status_code == 200, enabled.text
    api.put(path, json={"portal_access": "full"})  # a level change: no enable/disable event
    disabled = api.put(path, json={"portal_access": "none"})
    assert types_of(api, contact["id"]) == [
        "contact.created",
        "contact.updated",
        "contact.portal_enabled",
        "contact.updated",
        "contact.updated",
        "contact.portal_disabled",
    ]
    newest = events_of(api, object_id=contact["id"])
    assert newest[0]["data"] == disabled.json()["data"]
    assert newest[1]["changed_fields"] == ["portal_access"]
    portal_enabled = next(e for e in newest if e["type"] == "contact.portal_enabled")
    assert portal_enabled["data"] == enabled.json()["data"]
    assert portal_enabled["data"]["portal"]["access_enabled"] is True


def test_creating_a_contact_with_portal_access_writes_portal_enabled(api: Api) -> None:
    contact = api.make_contact(portal_access="full")
    assert types_of(api, contact["id"]) == ["contact.created", "contact.portal_enabled"]


def test_deleting_a_contact_with_portal_access_writes_contact_deleted_once(api: Api) -> None:
    contact = api.make_contact(portal_access="view")
    api.delete(f"/v1/contacts/{contact['id']}")
    assert types_of(api, contact["id"]).count("contact.deleted") == 1


def test_a_new_primary_writes_an_update_for_the_demoted_one(api: Api) -> None:
    client = api.make_client()
    first = api.make_contact(client["id"], is_primary=True)
    api.make_contact(client["id"], is_primary=True)
    latest = events_of(api, object_id=first["id"])[0]
    assert latest["type"] == "contact.updated"
    assert latest["changed_fields"] == ["is_primary"]
    assert latest["data"]["roles"]["is_primary"] is False
    assert latest["data"] == api.get(f"/v1/contacts/{first['id']}").json()["data"]


def test_client_changes_write_client_events(api: Api) -> None:
    client = api.make_client(name="Acme")
    updated = api.put(f"/v1/clients/{client['id']}", json={"name": "Acme Ltd"})
    assert updated.status_code == 200, updated.text
    assert api.delete(f"/v1/clients/{client['id']}").status_code == 200
    deleted, changed, created = events_of(api, object_id=client["id"])
    assert created["type"] == "client.created"
    assert created["data"] == client
    assert changed["type"] == "client.updated"
    assert changed["changed_fields"] == ["name"]
    assert changed["data"] == updated.json()["data"]
    assert deleted["type"] == "client.deleted"
    assert deleted["data"]["id"] == client["id"]


def test_ticket_changes_write_ticket_events(api: Api) -> None:
    client = api.make_client()
    ticket = api.make_ticket(client["id"])
    updated = api.put(f"/v1/tickets/{ticket['id']}", json={"status": "closed", "title": "Done"})
    assert updated.status_code == 200, updated.text
    changed, created = events_of(api, object_id=ticket["id"])
    assert (created["type"], created["data"]) == ("ticket.created", ticket)
    assert changed["type"] == "ticket.updated"
    assert changed["changed_fields"] == ["status", "title"]
    assert changed["data"] == updated.json()["data"]


def test_events_keep_the_object_as_it_was_then(api: Api) -> None:
    contact = api.make_contact(name="Before")
    api.put(f"/v1/contacts/{contact['id']}", json={"name": "After"})
    created = events_of(api, type="contact.created", object_id=contact["id"])[0]
    assert created["data"]["name"] == "Before"


# --- rolled back changes leave no event -----------------------------------------------------------


def test_a_duplicate_email_409_leaves_no_event_and_no_delivery(api: Api) -> None:
    hook = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    deliveries = f"/v1/webhooks/{hook.json()['data']['id']}/deliveries"
    client = api.make_client()
    api.make_contact(client["id"], email="dup@acme.com")
    before = total_events(api)
    assert api.get(deliveries).json()["pagination"]["total"] == before
    response = api.post(
        "/v1/contacts", json={"client_id": client["id"], "name": "Twin", "email": "DUP@acme.com"}
    )
    assert response.status_code == 409, response.text
    assert total_events(api) == before
    assert api.get(deliveries).json()["pagination"]["total"] == before


def test_a_refused_update_leaves_no_event(api: Api) -> None:
    client = api.make_client()
    taken = api.make_contact(client["id"], email="taken@acme.com")
    contact = api.make_contact(client["id"], email="mine@acme.com")
    before = total_events(api)
    refused = [
        api.put(f"/v1/contacts/{contact['id']}", json={"email": "taken@acme.com"}),
        api.put(f"/v1/contacts/{contact['id']}", json={"name": "X", "phone": "not a phone"}),
        api.put(f"/v1/contacts/{contact['id']}", json={"name": "X", "client_id": "cli_nope"}),
        api.put(f"/v1/contacts/{contact['id']}", json={"name": "X"}, headers={"If-Match": '"9"'}),
    ]
    assert [r.status_code for r in refused] == [409, 422, 404, 412], [r.text for r in refused]
    assert total_events(api) == before
    assert api.get(f"/v1/contacts/{contact['id']}").json()["data"]["name"] == contact["name"]
    assert taken["id"] != contact["id"]


def test_a_refused_ticket_transition_leaves_no_event(api: Api) -> None:
    ticket = api.make_ticket(api.make_client()["id"])
    before = total_events(api)
    response = api.put(f"/v1/tickets/{ticket['id']}", json={"status": "approved", "title": "X"})
    assert response.status_code == 409, response.text
    assert total_events(api) == before


def test_a_unit_of_work_that_fails_halfway_leaves_no_event_of_its_first_half(
    http: TestClient, api: Api
) -> None:
    """The first contact's event was written, then the second change failed: both roll back."""
    client = api.make_client()
    subject = Subject(Tenant(api.workspace_id, "test"), Actor("system"))
    created: dict[str, Any] = {}
    settings = runtime_of(http).settings

    async def two_contacts_with_one_email() -> None:
        async with runtime_of(http).database.write() as conn:
            body = ContactCreate(client_id=client["id"], name="First", email="one@acme.com")
            created["contact"], _ = await contacts.create(conn, subject, body, settings)
            written = await conn.execute(
                select(events_table.c.id).where(
                    events_table.c.workspace_id == api.workspace_id,
                    events_table.c.object_id == created["contact"]["id"],
                )
            )
            created["events_inside"] = len(written.all())
            twin = ContactCreate(client_id=client["id"], name="Second", email="one@acme.com")
            await contacts.create(conn, subject, twin, settings)

    with pytest.raises(Conflict):
        run_async(http, two_contacts_with_one_email)
    assert created["events_inside"] == 1  # the event was there inside the transaction
    contact_id = created["contact"]["id"]
    assert events_of(api, object_id=contact_id) == []
    assert api.get(f"/v1/contacts/{contact_id}").status_code == 404


# --- the events API -------------------------------------------------------------------------------


def test_get_event_answers_the_same_event_as_the_list(api: Api) -> None:
    client = api.make_client()
    (listed,) = events_of(api, object_id=client["id"])
    response = api.get(f"/v1/events/{listed['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == listed


def test_unknown_event_id_is_404(api: Api) -> None:
    response = api.get("/v1/events/evt_doesnotexist")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_another_workspace_or_mode_cannot_see_events(api: Api, other_api: Api) -> None:
    client = api.make_client()
    (event,) = events_of(api, object_id=client["id"])
    for stranger in (other_api, api.live):
        assert stranger.get(f"/v1/events/{event['id']}").status_code == 404
        assert events_of(stranger, object_id=client["id"]) == []
        assert event["id"] not in {e["id"] for e in events_of(stranger)}


def test_filter_by_type_takes_one_or_several_types(api: Api) -> None:
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"name": "Other"})
    assert {e["type"] for e in events_of(api, type="contact.updated")} == {"contact.updated"}
    several = events_of(api, type="client.created, contact.created")
    assert sorted(e["type"] for e in several) == ["client.created", "contact.created"]


def test_filter_by_unknown_type_is_400(api: Api) -> None:
    response = api.get("/v1/events", params={"type": "contact.created,contact.exploded"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert response.json()["error"]["field"] == "type"


def test_filter_by_object_id(api: Api) -> None:
    client = api.make_client()
    first, second = api.make_contact(client["id"]), api.make_contact(client["id"])
    assert [e["data"]["id"] for e in events_of(api, object_id=first["id"])] == [first["id"]]
    assert [e["data"]["id"] for e in events_of(api, object_id=second["id"])] == [second["id"]]
    assert events_of(api, object_id="con_nothing") == []


def test_filter_created_after_is_strictly_after(http: TestClient, api: Api) -> None:
    clients = [api.make_client() for _ in range(3)]

    async def exact_times() -> dict[str, Any]:
        query = select(events_table.c.object_id, events_table.c.created_at).where(
            events_table.c.workspace_id == api.workspace_id
        )
        async with runtime_of(http).database.read() as conn:
            return {row.object_id: row.created_at for row in await conn.execute(query)}

    times = run_async(http, exact_times)
    middle = times[clients[1]["id"]]
    after = events_of(api, created_after=middle.isoformat())
    assert [e["data"]["id"] for e in after] == [clients[2]["id"]]
    naive_utc = middle.replace(tzinfo=None).isoformat()  # no offset: read as UTC
    assert [e["data"]["id"] for e in events_of(api, created_after=naive_utc)] == [clients[2]["id"]]
    assert len(events_of(api, created_after="2000-01-01T00:00:00Z")) == 3
    assert events_of(api, created_after="2999-01-01T00:00:00Z") == []
    bad = api.get("/v1/events", params={"created_after": "yesterday"})
    assert bad.status_code in (400, 422), bad.text


def test_filters_combine(api: Api) -> None:
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"name": "Other"})
    found = events_of(api, type="contact.updated", object_id=contact["id"])
    assert [e["type"] for e in found] == ["contact.updated"]
    assert events_of(api, type="client.created", object_id=contact["id"]) == []


def test_events_page_newest_first(api: Api) -> None:
    made = [api.make_client()["id"] for _ in range(5)]
    first = api.get("/v1/events", params={"per_page": 2}).json()
    assert first["pagination"] == {"page": 1, "per_page": 2, "total": 5, "total_pages": 3}
    ids = []
    for page in (1, 2, 3):
        data = api.get("/v1/events", params={"per_page": 2, "page": page}).json()["data"]
        ids += [e["data"]["id"] for e in data]
    assert ids == made[::-1]
    beyond = api.get("/v1/events", params={"per_page": 2, "page": 4}).json()
    assert beyond["data"] == []
    assert api.get("/v1/events", params={"per_page": 101}).status_code == 400
