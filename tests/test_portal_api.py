"""The portal endpoints of the API: enable, disable, reset-password, and PUT `portal_access`.

Emails are checked where they matter through a real SMTP server (aiosmtpd) fed by the app's
own email worker; elsewhere the queued outbox row tells whether an email would go.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.portal_support import (
    Visitor,
    invited_contact,
    latest_link,
    logged_in,
    path_of,
    portal_user,
    queued_emails,
    session_count,
    strong_password,
    unique_email,
)
from tests.smtp import SMTPServer, deliver, html_of, one_time_link, smtp_server, text_of
from tests.support import Api
from vantage_contacts.config import Settings

__all__ = ["smtp_server"]  # the fixture, used by name

SEED_ENABLE = {"access_level": "full", "send_invitation": True}


def events_of(api: Api, contact_id: str, type_: str) -> list[dict[str, Any]]:
    response = api.get("/v1/events", params={"type": type_, "object_id": contact_id})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


def actions_of(api: Api, contact_id: str) -> list[str]:
    response = api.get(f"/v1/contacts/{contact_id}", params={"include": "activity"})
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["data"]["activity"]]


def enable(api: Api, contact_id: str, body: dict[str, Any] | None = None) -> Any:
    return api.post(f"/v1/contacts/{contact_id}/portal/enable", json=body)


def is_rfc3339(value: str | None) -> bool:
    return value is not None and value.endswith("Z") and bool(datetime.fromisoformat(value))


# --- enable -------------------------------------------------------------------------------------


def test_enable_with_seed_body_returns_full_contact_with_portal_fields(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    response = enable(api, contact["id"], SEED_ENABLE)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == contact["id"]
    assert set(data) == set(contact)  # the whole contact, not only the seed's excerpt
    portal = data["portal"]
    assert portal["access_enabled"] is True
    assert portal["access_level"] == "full"
    assert is_rfc3339(portal["invitation_sent_at"])
    assert portal["password_reset_sent_at"] is None
    assert portal["last_login_at"] is None
    assert response.headers["ETag"]
    assert api.get(f"/v1/contacts/{contact['id']}").json()["data"] == data
    [queued] = queued_emails(api.http, contact["id"])
    assert (queued["template"], queued["to_address"]) == ("invitation", contact["email"])


def test_enable_without_body_gives_view_access_and_invites(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    response = api.post(f"/v1/contacts/{contact['id']}/portal/enable")
    assert response.status_code == 200, response.text
    portal = response.json()["data"]["portal"]
    assert (portal["access_enabled"], portal["access_level"]) == (True, "view")
    assert is_rfc3339(portal["invitation_sent_at"])
    assert len(queued_emails(api.http, contact["id"])) == 1


def test_enable_without_email_is_refused_and_changes_nothing(api: Api) -> None:
    contact = api.make_contact()
    response = enable(api, contact["id"], SEED_ENABLE)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "email"
    after = api.get(f"/v1/contacts/{contact['id']}").json()["data"]
    assert after["portal"]["access_enabled"] is False
    assert after["updated_at"] == contact["updated_at"]
    assert events_of(api, contact["id"], "contact.portal_enabled") == []


def test_enable_without_invitation_sends_nothing(api: Api, smtp_server: SMTPServer) -> None:
    contact = api.make_contact(email=unique_email())
    response = enable(api, contact["id"], {"access_level": "view", "send_invitation": False})
    assert response.status_code == 200, response.text
    portal = response.json()["data"]["portal"]
    assert (portal["access_enabled"], portal["access_level"]) == (True, "view")
    assert portal["invitation_sent_at"] is None
    assert queued_emails(api.http, contact["id"]) == []
    deliver(api.http, smtp_server)
    assert smtp_server.to(contact["email"]) == []


def test_enable_without_invitation_needs_no_email(api: Api) -> None:
    contact = api.make_contact()
    response = enable(api, contact["id"], {"access_level": "full", "send_invitation": False})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["portal"]["access_level"] == "full"


def test_enable_rejects_unknown_level(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    for level in ("none", "admin"):
        response = enable(api, contact["id"], {"access_level": level})
        assert response.status_code == 422, response.text
    assert (
        api.get(f"/v1/contacts/{contact['id']}").json()["data"]["portal"]["access_enabled"] is False
    )


def test_enable_unknown_contact_is_404(api: Api, other_api: Api) -> None:
    assert enable(api, "con_doesnotexist", SEED_ENABLE).status_code == 404
    foreign = other_api.make_contact(email=unique_email())
    assert enable(api, foreign["id"], SEED_ENABLE).status_code == 404
    assert queued_emails(api.http, foreign["id"]) == []


def test_enable_writes_activity_and_portal_enabled_event(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    data = enable(api, contact["id"], SEED_ENABLE).json()["data"]
    [event] = events_of(api, contact["id"], "contact.portal_enabled")
    assert event["data"] == data
    actions = actions_of(api, contact["id"])
    assert "portal_enabled" in actions
    assert "invitation_sent" in actions


def test_changing_level_of_enabled_contact_emits_no_second_enabled_event(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    enable(api, contact["id"], {"access_level": "view"})
    response = enable(api, contact["id"], {"access_level": "full", "send_invitation": False})
    assert response.json()["data"]["portal"]["access_level"] == "full"
    assert len(events_of(api, contact["id"], "contact.portal_enabled")) == 1
    assert "portal_level_changed" in actions_of(api, contact["id"])


# --- the invitation email, through a real SMTP server -------------------------------------------


def test_invitation_arrives_by_smtp_with_link_from_public_url(
    api: Api, settings: Settings, smtp_server: SMTPServer
) -> None:
    client = api.make_client(name="Acme Rockets")
    contact = api.make_contact(client["id"], name="Jane Doe", email=unique_email())
    # A forged Host must not leak into the link: links come from VANTAGE_PUBLIC_URL only.
    hostile = {"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"}
    response = api.post(
        f"/v1/contacts/{contact['id']}/portal/enable", json=SEED_ENABLE, headers=hostile
    )
    assert response.status_code == 200, response.text

    deliver(api.http, smtp_server)
    [message] = smtp_server.to(contact["email"])
    assert message["To"] == contact["email"]
    assert "Acme Rockets" in message["Subject"] or "Acme Rockets" in text_of(message)
    assert "Jane Doe" in text_of(message)
    link = one_time_link(message)
    assert link.startswith(f"{settings.public_url}/portal/invitations/")
    assert "attacker.example" not in text_of(message) + html_of(message)
    # Sent: the outbox keeps no copy of the link.
    [row] = queued_emails(api.http, contact["id"])
    assert (row["status"], row["secret_link"]) == ("sent", None)

    # The link works: it opens the set-password page, and the password set there logs in.
    visitor = Visitor(api.http)
    page = visitor.get(path_of(link))
    assert page.status_code == 200
    assert "Set password" in page.text
    password = strong_password()
    assert visitor.set_password(link, password).headers["location"] == "/portal/"
    assert visitor.is_logged_in()
    logged_in(api.http, contact["email"], password)


def test_reset_email_arrives_by_smtp_and_its_link_sets_a_new_password(
    api: Api, settings: Settings, smtp_server: SMTPServer
) -> None:
    contact, old_password, _ = portal_user(api.http, api)
    response = api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    assert response.status_code == 200, response.text

    deliver(api.http, smtp_server)
    [message] = [m for m in smtp_server.to(contact["email"]) if "/password/reset/" in text_of(m)]
    link = one_time_link(message)
    assert link.startswith(f"{settings.public_url}/portal/password/reset/")
    new_password = strong_password()
    answer = Visitor(api.http).set_password(link, new_password)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/portal/login?reset=1"
    assert Visitor(api.http).log_in(contact["email"], old_password).status_code == 401
    logged_in(api.http, contact["email"], new_password)


# --- disable ------------------------------------------------------------------------------------


def test_disable_sets_level_none_and_ends_sessions(api: Api) -> None:
    contact, password, visitor = portal_user(api.http, api)
    second = logged_in(api.http, contact["email"], password)
    assert session_count(api.http, contact["id"]) == 2

    response = api.post(f"/v1/contacts/{contact['id']}/portal/disable")
    assert response.status_code == 200, response.text
    portal = response.json()["data"]["portal"]
    assert (portal["access_enabled"], portal["access_level"]) == (False, "none")
    assert response.headers["ETag"]
    assert session_count(api.http, contact["id"]) == 0
    assert not visitor.is_logged_in()
    assert not second.is_logged_in()
    assert Visitor(api.http).log_in(contact["email"], password).status_code == 401


def test_disable_revokes_an_unused_invitation(api: Api) -> None:
    contact = invited_contact(api)
    link = latest_link(api.http, contact["id"])
    api.post(f"/v1/contacts/{contact['id']}/portal/disable")
    assert Visitor(api.http).get(path_of(link)).status_code == 410


def test_disable_writes_activity_and_portal_disabled_event(api: Api) -> None:
    contact = invited_contact(api)
    data = api.post(f"/v1/contacts/{contact['id']}/portal/disable").json()["data"]
    [event] = events_of(api, contact["id"], "contact.portal_disabled")
    assert event["data"] == data
    assert "portal_disabled" in actions_of(api, contact["id"])


def test_disable_without_access_changes_nothing(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    response = api.post(f"/v1/contacts/{contact['id']}/portal/disable")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["updated_at"] == contact["updated_at"]
    assert events_of(api, contact["id"], "contact.portal_disabled") == []


# --- reset-password -----------------------------------------------------------------------------


def test_reset_password_without_access_is_409(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    response = api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "conflict"
    assert queued_emails(api.http, contact["id"]) == []


def test_reset_password_without_email_is_422(api: Api) -> None:
    contact = api.make_contact()
    enable(api, contact["id"], {"access_level": "view", "send_invitation": False})
    response = api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "email"
    after = api.get(f"/v1/contacts/{contact['id']}").json()["data"]
    assert after["portal"]["password_reset_sent_at"] is None


def test_reset_password_queues_email_and_sets_password_reset_sent_at(api: Api) -> None:
    contact = invited_contact(api)
    response = api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert is_rfc3339(data["portal"]["password_reset_sent_at"])
    assert data["portal"]["access_level"] == "full"
    assert set(data) == set(contact)
    assert api.get(f"/v1/contacts/{contact['id']}").json()["data"] == data
    templates = [row["template"] for row in queued_emails(api.http, contact["id"])]
    assert templates == ["invitation", "password_reset"]
    assert "password_reset_sent" in actions_of(api, contact["id"])


def test_reset_password_of_unknown_contact_is_404(api: Api) -> None:
    assert api.post("/v1/contacts/con_doesnotexist/portal/reset-password").status_code == 404


# --- PUT portal_access behaves like the endpoints ------------------------------------------------


def test_put_portal_access_enables_and_invites_like_enable(api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    response = api.put(f"/v1/contacts/{contact['id']}", json={"portal_access": "full"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["portal"]["access_enabled"], data["portal"]["access_level"]) == (True, "full")
    assert is_rfc3339(data["portal"]["invitation_sent_at"])
    [event] = events_of(api, contact["id"], "contact.portal_enabled")
    assert event["data"] == data
    assert [row["template"] for row in queued_emails(api.http, contact["id"])] == ["invitation"]
    assert {"portal_enabled", "invitation_sent"} <= set(actions_of(api, contact["id"]))
    # The invitation it sent works.
    visitor = Visitor(api.http)
    response = visitor.set_password(latest_link(api.http, contact["id"]), strong_password())
    assert response.status_code == 303


def test_put_portal_access_none_disables_and_ends_sessions_like_disable(api: Api) -> None:
    contact, _, visitor = portal_user(api.http, api)
    response = api.put(f"/v1/contacts/{contact['id']}", json={"portal_access": "none"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["portal"]["access_enabled"] is False
    [event] = events_of(api, contact["id"], "contact.portal_disabled")
    assert event["data"] == data
    assert "portal_disabled" in actions_of(api, contact["id"])
    assert session_count(api.http, contact["id"]) == 0
    assert not visitor.is_logged_in()


def test_put_granting_access_without_email_grants_it_without_invitation(api: Api) -> None:
    # PUT has no `send_invitation`: it invites when it can, and an address-less contact
    # (given access for later) is not an error, unlike `enable`, whose default is to send.
    contact = api.make_contact()
    response = api.put(f"/v1/contacts/{contact['id']}", json={"portal_access": "view"})
    assert response.status_code == 200, response.text
    portal = response.json()["data"]["portal"]
    assert (portal["access_enabled"], portal["invitation_sent_at"]) == (True, None)
    assert queued_emails(api.http, contact["id"]) == []
    assert len(events_of(api, contact["id"], "contact.portal_enabled")) == 1


def test_create_with_portal_access_invites(api: Api) -> None:
    client = api.make_client()
    response = api.post(
        "/v1/contacts",
        json={
            "client_id": client["id"],
            "name": "Ann Lee",
            "email": unique_email(),
            "portal_access": "view",
        },
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert is_rfc3339(data["portal"]["invitation_sent_at"])
    assert len(events_of(api, data["id"], "contact.portal_enabled")) == 1
    assert [row["template"] for row in queued_emails(api.http, data["id"])] == ["invitation"]


def test_delete_ends_every_session(api: Api) -> None:
    contact, password, visitor = portal_user(api.http, api)
    second = logged_in(api.http, contact["email"], password)
    assert api.delete(f"/v1/contacts/{contact['id']}").status_code == 200
    assert session_count(api.http, contact["id"]) == 0
    assert not visitor.is_logged_in()
    assert not second.is_logged_in()
    assert Visitor(api.http).log_in(contact["email"], password).status_code == 401


def test_portal_endpoints_need_an_api_key(http: TestClient, api: Api) -> None:
    contact = api.make_contact(email=unique_email())
    for action in ("enable", "disable", "reset-password"):
        response = http.post(f"/v1/contacts/{contact['id']}/portal/{action}")
        assert response.status_code == 401, (action, response.text)
    assert queued_emails(http, contact["id"]) == []
