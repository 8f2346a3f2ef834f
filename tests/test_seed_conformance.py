"""The seed page's curl examples, run as written, with the full response shape asserted.

One test per example for List, Create, Get (include=tickets), Update (PUT) and Delete. The
examples use a live key (`vnt_sk_live_xxxxx`), so these tests do too; placeholders such as
`cli_xxxxx` and `con_cuid123456` are replaced by real ids. Every contact in every answer must be
the seed's contact object in full (SPEC §3), even where the seed's own example is abbreviated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import Api

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
ROLES_KEYS = {"is_primary", "is_billing", "is_technical"}
# The seed's three portal fields, plus the two SPEC §4 adds inside `portal`.
PORTAL_KEYS = {
    "access_enabled",
    "access_level",
    "last_login_at",
    "invitation_sent_at",
    "password_reset_sent_at",
}
COMMUNICATION_KEYS = {"receives_invoices", "receives_reports", "receives_project_updates"}
OPTIONAL_TEXT = ("email", "phone", "mobile", "title", "department", "notes")
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
PAGINATION_KEYS = {"page", "per_page", "total", "total_pages"}

CONTACT_ID = re.compile(r"^con_[a-z][0-9a-z]{15,35}$")
TICKET_ID = re.compile(r"^tkt_[a-z][0-9a-z]{15,35}$")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")  # as the seed writes them

# The seed's example bodies, exactly as written on the page (ids substituted at run time).
SEED_CREATE_BODY = {
    "client_id": "cli_xxxxx",
    "name": "John Smith",
    "email": "john@acme.com",
    "title": "VP of Marketing",
    "is_primary": True,
    "is_billing": True,
    "portal_access": "full",
    "receives_invoices": True,
}
SEED_UPDATE_BODY = {
    "title": "Chief Marketing Officer",
    "is_billing": True,
    "receives_reports": True,
}


# --- shape checks ------------------------------------------------------------------------------


def assert_recent_timestamp(value: Any) -> datetime:
    """RFC 3339 UTC with a `Z`, and actually now (a wrong time zone would be hours off)."""
    assert isinstance(value, str) and RFC3339_Z.match(value), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5), value
    return moment


def assert_contact_object(contact: Any, expected: dict[str, Any]) -> None:
    """The seed's contact object with every field, nested parts included, then `expected`
    (a nested subset) compared value by value."""
    assert isinstance(contact, dict)
    assert set(contact) == CONTACT_KEYS
    assert CONTACT_ID.match(contact["id"]), contact["id"]
    assert isinstance(contact["client_id"], str) and contact["client_id"].startswith("cli_")
    assert isinstance(contact["name"], str) and contact["name"]
    for field in OPTIONAL_TEXT:
        assert contact[field] is None or isinstance(contact[field], str), field

    assert set(contact["roles"]) == ROLES_KEYS
    assert all(isinstance(v, bool) for v in contact["roles"].values())
    assert set(contact["communication"]) == COMMUNICATION_KEYS
    assert all(isinstance(v, bool) for v in contact["communication"].values())

    portal = contact["portal"]
    assert set(portal) == PORTAL_KEYS
    assert portal["access_level"] in ("none", "view", "full")
    assert portal["access_enabled"] is (portal["access_level"] != "none")
    for field in ("last_login_at", "invitation_sent_at", "password_reset_sent_at"):
        assert portal[field] is None or RFC3339_Z.match(portal[field]), field

    created = assert_recent_timestamp(contact["created_at"])
    updated = assert_recent_timestamp(contact["updated_at"])
    assert updated >= created
    assert_matches(contact, expected)


def assert_matches(actual: Any, expected: Any, where: str = "") -> None:
    """Every key of `expected` is in `actual` with that value (recursively for objects)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing"
            assert_matches(actual[key], value, f"{where}.{key}")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_ticket_object(ticket: Any, expected: dict[str, Any]) -> None:
    assert isinstance(ticket, dict)
    assert set(ticket) == TICKET_KEYS
    assert TICKET_ID.match(ticket["id"]), ticket["id"]
    assert isinstance(ticket["number"], int) and ticket["number"] >= 1
    assert ticket["status"] in ("open", "awaiting_approval", "approved", "closed")
    assert_recent_timestamp(ticket["created_at"])
    assert_recent_timestamp(ticket["updated_at"])
    assert_matches(ticket, expected)


# --- the examples --------------------------------------------------------------------------------


def test_seed_list_contacts_of_a_client_answers_full_objects_and_pagination(api: Api) -> None:
    live = api.live
    client = live.make_client(name="Acme")
    other_client = live.make_client(name="Globex")
    # The two contacts of the seed's list answer, and one of another client the filter drops.
    john = live.make_contact(**{**SEED_CREATE_BODY, "client_id": client["id"]})
    jane = live.make_contact(
        client["id"],
        name="Jane Doe",
        email="jane@acme.com",
        title="Developer",
        is_technical=True,
        portal_access="view",
    )
    live.make_contact(other_client["id"], name="Hank Scorpio", email="hank@globex.com")

    # curl "https://api.govantage.co/v1/contacts?client_id=cli_xxxxx"
    response = live.get(f"/v1/contacts?client_id={client['id']}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "pagination"}
    assert body["pagination"] == {"page": 1, "per_page": 50, "total": 2, "total_pages": 1}
    assert [c["id"] for c in body["data"]] == [john["id"], jane["id"]]
    first, second = body["data"]
    # The seed's (abbreviated) list entries, field for field, inside the full objects.
    assert_contact_object(
        first,
        {
            "id": john["id"],
            "client_id": client["id"],
            "name": "John Smith",
            "email": "john@acme.com",
            "title": "VP of Marketing",
            "roles": {"is_primary": True, "is_billing": True},
            "portal": {"access_enabled": True},
        },
    )
    assert_contact_object(
        second,
        {
            "id": jane["id"],
            "client_id": client["id"],
            "name": "Jane Doe",
            "email": "jane@acme.com",
            "title": "Developer",
            "roles": {"is_technical": True},
            "portal": {"access_enabled": True},
        },
    )
    # A list entry is the same object GET answers.
    assert first == live.get(f"/v1/contacts/{john['id']}").json()["data"]
    assert second == live.get(f"/v1/contacts/{jane['id']}").json()["data"]


def test_seed_create_contact_answers_full_object_with_spec_defaults(api: Api) -> None:
    live = api.live
    client = live.make_client(name="Acme")

    # curl -X POST ".../v1/contacts" -d '{"client_id": "cli_xxxxx", "name": "John Smith", ...}'
    response = live.post("/v1/contacts", json={**SEED_CREATE_BODY, "client_id": client["id"]})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"data"}
    contact = body["data"]
    assert_contact_object(
        contact,
        {
            "client_id": client["id"],
            "name": "John Smith",
            "email": "john@acme.com",
            # Fields the body leaves out take SPEC §3's defaults.
            "phone": None,
            "mobile": None,
            "title": "VP of Marketing",
            "department": None,
            "roles": {"is_primary": True, "is_billing": True, "is_technical": False},
            "portal": {
                "access_enabled": True,
                "access_level": "full",
                "last_login_at": None,
                "password_reset_sent_at": None,
            },
            "communication": {
                "receives_invoices": True,
                "receives_reports": False,
                "receives_project_updates": True,
            },
            "notes": None,
        },
    )
    assert contact["created_at"] == contact["updated_at"]
    # Portal access with an email sends the invitation as the contact is created.
    assert contact["portal"]["invitation_sent_at"] == contact["created_at"]
    assert response.headers["ETag"]
    # What was created is what GET answers afterwards.
    assert live.get(f"/v1/contacts/{contact['id']}").json()["data"] == contact


def test_create_with_only_required_fields_takes_every_spec_default(api: Api) -> None:
    client = api.live.make_client()

    response = api.live.post("/v1/contacts", json={"client_id": client["id"], "name": "Ann Lee"})

    assert response.status_code == 201, response.text
    assert_contact_object(
        response.json()["data"],
        {
            "client_id": client["id"],
            "name": "Ann Lee",
            **dict.fromkeys(OPTIONAL_TEXT),
            "roles": {"is_primary": False, "is_billing": False, "is_technical": False},
            "portal": {"access_enabled": False, "access_level": "none", "last_login_at": None},
            "communication": {
                "receives_invoices": False,
                "receives_reports": False,
                "receives_project_updates": True,
            },
        },
    )


def test_create_billing_contact_receives_invoices_by_default(api: Api) -> None:
    client = api.live.make_client()
    body = {"client_id": client["id"], "name": "Bill Payer", "is_billing": True}

    response = api.live.post("/v1/contacts", json=body)

    assert response.status_code == 201, response.text
    assert response.json()["data"]["communication"]["receives_invoices"] is True


def test_seed_get_contact_with_tickets_answers_contact_and_its_tickets(api: Api) -> None:
    live = api.live
    client = live.make_client(name="Acme")
    contact = live.make_contact(
        **{**SEED_CREATE_BODY, "client_id": client["id"], "phone": "+1 (555) 123-4567"}
    )
    older = live.make_ticket(client["id"], title="Fix contact form", contact_id=contact["id"])
    newer = live.make_ticket(client["id"], title="Update homepage banner", contact_id=contact["id"])
    live.make_ticket(client["id"], title="Another contact's ticket")

    # curl "https://api.govantage.co/v1/contacts/con_cuid123456?include=tickets"
    response = live.get(f"/v1/contacts/{contact['id']}?include=tickets")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data"}
    data = dict(body["data"])
    tickets = data.pop("tickets")
    # The full contact object, plus `tickets` and nothing else (no client or activity unasked).
    assert_contact_object(
        data,
        {
            "id": contact["id"],
            "client_id": client["id"],
            "name": "John Smith",
            "email": "john@acme.com",
            "phone": "+1 (555) 123-4567",
            "title": "VP of Marketing",
            "roles": {"is_primary": True, "is_billing": True},
            "portal": {"access_enabled": True, "access_level": "full", "last_login_at": None},
        },
    )
    assert data == contact
    # The contact's tickets only, newest first, each with the seed's fields.
    assert isinstance(tickets, list)
    assert [t["id"] for t in tickets] == [newer["id"], older["id"]]
    assert_ticket_object(
        tickets[0],
        {
            "id": newer["id"],
            "title": "Update homepage banner",
            "status": "open",
            "created_at": newer["created_at"],
            "client_id": client["id"],
            "contact_id": contact["id"],
            "contact_name": "John Smith",
        },
    )
    assert_ticket_object(tickets[1], {"id": older["id"], "title": "Fix contact form"})


def test_seed_update_contact_changes_only_the_sent_fields(api: Api) -> None:
    live = api.live
    client = live.make_client(name="Acme")
    before = live.make_contact(
        client["id"],
        email="john@acme.com",
        phone="+1 (555) 123-4567",
        title="VP of Marketing",
        department="Marketing",
        is_primary=True,
        portal_access="full",
        notes="Primary point of contact, prefers email",
    )
    assert before["roles"]["is_billing"] is False
    assert before["communication"]["receives_reports"] is False

    # curl -X PUT ".../v1/contacts/con_cuid123456" -d '{"title": "Chief Marketing Officer", ...}'
    response = live.put(f"/v1/contacts/{before['id']}", json=SEED_UPDATE_BODY)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data"}
    after = body["data"]
    expected = {
        **before,
        "title": "Chief Marketing Officer",
        "roles": {**before["roles"], "is_billing": True},
        "communication": {**before["communication"], "receives_reports": True},
    }
    expected.pop("updated_at")
    assert_contact_object(after, expected)
    assert after["updated_at"] >= before["updated_at"]
    assert response.headers["ETag"]
    assert live.get(f"/v1/contacts/{before['id']}").json()["data"] == after


def test_seed_delete_contact_answers_id_and_deleted_true(api: Api) -> None:
    live = api.live
    contact = live.make_contact(email="john@acme.com")

    # curl -X DELETE "https://api.govantage.co/v1/contacts/con_cuid123456"
    response = live.delete(f"/v1/contacts/{contact['id']}")

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"id": contact["id"], "deleted": True}}
    gone = live.get(f"/v1/contacts/{contact['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    listed = live.get(f"/v1/contacts?client_id={contact['client_id']}").json()
    assert listed["data"] == []
    assert listed["pagination"]["total"] == 0
