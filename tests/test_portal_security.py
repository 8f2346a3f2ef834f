"""The portal's security rules (ASVS), one test each: links, tokens, CSRF, enumeration,
throttling, sessions, cookies, passwords, access levels, tenancy and response headers."""

from __future__ import annotations

import hashlib
import re
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.portal_support import (
    Visitor,
    csrf_of,
    errors_of,
    invited_contact,
    latest_link,
    logged_in,
    password_hash,
    path_of,
    portal_user,
    queued_emails,
    session_count,
    set_token_expiry,
    strong_password,
    token_rows,
    unique_email,
)
from tests.support import Api, run_async, runtime_of
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.models import portal_reset_requests
from vantage_contacts.portal.housekeeping import PortalHousekeeper
from vantage_contacts.portal.sessions import COOKIE

LOGIN_FAILED = "The email or password is not right."


def ticket_titles(api: Api, client_id: str) -> list[str]:
    response = api.get("/v1/tickets", params={"client_id": client_id})
    assert response.status_code == 200, response.text
    return [ticket["title"] for ticket in response.json()["data"]]


def set_cookie_of(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    assert COOKIE in cookie
    return cookie


# --- single-use links ---------------------------------------------------------------------------


def test_invitation_link_is_single_use(http: TestClient, api: Api) -> None:
    contact = invited_contact(api)
    link = latest_link(http, contact["id"])
    first = strong_password()
    assert Visitor(http).set_password(link, first).status_code == 303

    replay = Visitor(http)
    assert replay.get(path_of(link)).status_code == 410
    # The page is gone, so send the form straight at the link, as an attacker would.
    token = replay.csrf()
    password = strong_password()
    answer = replay.post(
        path_of(link), {"password": password, "confirm": password, "csrf_token": token}
    )
    assert answer.status_code == 410
    assert "not valid any more" in answer.text
    assert not replay.is_logged_in()
    logged_in(http, contact["email"], first)  # the first password still stands


def test_reset_link_is_single_use(http: TestClient, api: Api) -> None:
    contact, _, _ = portal_user(http, api)
    api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    link = latest_link(http, contact["id"], "password_reset")
    chosen = strong_password()
    assert Visitor(http).set_password(link, chosen).status_code == 303
    assert Visitor(http).get(path_of(link)).status_code == 410
    replay = Visitor(http)
    password = strong_password()
    fields = {"password": password, "confirm": password, "csrf_token": replay.csrf()}
    assert replay.post(path_of(link), fields).status_code == 410
    logged_in(http, contact["email"], chosen)


def test_a_new_invitation_replaces_the_previous_link(http: TestClient, api: Api) -> None:
    contact = invited_contact(api)
    old = latest_link(http, contact["id"])
    api.post(f"/v1/contacts/{contact['id']}/portal/enable", json={"access_level": "full"})
    new = latest_link(http, contact["id"])
    assert new != old
    assert Visitor(http).get(path_of(old)).status_code == 410
    assert Visitor(http).get(path_of(new)).status_code == 200


def test_invitation_is_valid_7_days_then_refused(http: TestClient, api: Api) -> None:
    contact = invited_contact(api)
    link = latest_link(http, contact["id"])
    [row] = token_rows(http, contact["id"])
    assert row["expires_at"] - row["created_at"] == timedelta(days=7)

    set_token_expiry(http, contact["id"], "invitation", utcnow() + timedelta(minutes=1))
    assert Visitor(http).get(path_of(link)).status_code == 200  # a minute left: still good
    set_token_expiry(http, contact["id"], "invitation", utcnow() - timedelta(seconds=1))
    visitor = Visitor(http)
    page = visitor.get(path_of(link))
    assert page.status_code == 410
    assert "Link expired" in page.text
    password = strong_password()
    fields = {"password": password, "confirm": password, "csrf_token": visitor.csrf()}
    assert visitor.post(path_of(link), fields).status_code == 410
    assert password_hash(http, contact["id"]) is None


def test_reset_is_valid_1_hour_then_refused(http: TestClient, api: Api) -> None:
    contact, password, _ = portal_user(http, api)
    api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    link = latest_link(http, contact["id"], "password_reset")
    [row] = [r for r in token_rows(http, contact["id"]) if r["purpose"] == "reset"]
    assert row["expires_at"] - row["created_at"] == timedelta(hours=1)

    set_token_expiry(http, contact["id"], "reset", utcnow() - timedelta(seconds=1))
    before = password_hash(http, contact["id"])
    visitor = Visitor(http)
    page = visitor.get(path_of(link))
    assert page.status_code == 410
    chosen = strong_password()
    fields = {"password": chosen, "confirm": chosen, "csrf_token": visitor.csrf()}
    assert visitor.post(path_of(link), fields).status_code == 410
    assert password_hash(http, contact["id"]) == before
    logged_in(http, contact["email"], password)


def test_tokens_are_stored_only_as_hashes(http: TestClient, api: Api) -> None:
    contact = invited_contact(api)
    api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    raw = {
        path_of(latest_link(http, contact["id"], template)).rsplit("/", 1)[1]
        for template in ("invitation", "password_reset")
    }
    rows = token_rows(http, contact["id"])
    assert len(rows) == 2
    stored = " ".join(str(value) for row in rows for value in row.values())
    for token in raw:
        assert len(token) >= 40  # 32 random bytes
        assert token not in stored
    assert {row["token_hash"] for row in rows} == {
        hashlib.sha256(token.encode()).hexdigest() for token in raw
    }


# --- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged-token-value"])
def test_login_with_wrong_or_missing_csrf_token_is_403_and_logs_nobody_in(
    http: TestClient, api: Api, token: str | None
) -> None:
    contact, password, _ = portal_user(http, api)
    visitor = Visitor(http)
    visitor.csrf()  # has a session, but not this token
    fields = {"email": contact["email"], "password": password}
    if token is not None:
        fields["csrf_token"] = token
    response = visitor.post("/portal/login", fields)
    assert response.status_code == 403
    assert not visitor.is_logged_in()
    assert api.get(f"/v1/contacts/{contact['id']}").json()["data"]["portal"]["last_login_at"]


def test_forms_with_wrong_csrf_token_are_403_and_change_nothing(http: TestClient, api: Api) -> None:
    contact, _, visitor = portal_user(http, api)
    ticket = api.make_ticket(contact["client_id"], title="Needs sign-off")
    api.put(f"/v1/tickets/{ticket['id']}", json={"status": "awaiting_approval"})
    api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    reset_link = latest_link(http, contact["id"], "password_reset")
    hash_before = password_hash(http, contact["id"])
    # Another visitor's valid token is still the wrong token for this session.
    other_token = Visitor(http).csrf()
    forged = {"csrf_token": other_token}
    password = strong_password()

    attempts: list[tuple[str, dict[str, str]]] = [
        ("/portal/tickets", {**forged, "title": "Injected ticket"}),
        (f"/portal/tickets/{ticket['id']}/approve", forged),
        ("/portal/logout", forged),
        (path_of(reset_link), {**forged, "password": password, "confirm": password}),
        ("/portal/password/forgot", {**forged, "email": contact["email"]}),
    ]
    for path, fields in attempts:
        response = visitor.post(path, fields)
        assert response.status_code == 403, path
        assert "This form had expired" in response.text

    assert "Injected ticket" not in ticket_titles(api, contact["client_id"])
    assert api.get(f"/v1/tickets/{ticket['id']}").json()["data"]["status"] == "awaiting_approval"
    assert visitor.is_logged_in()  # not logged out
    assert password_hash(http, contact["id"]) == hash_before
    assert Visitor(http).get(path_of(reset_link)).status_code == 200  # the link is unused


def test_forgot_password_with_wrong_csrf_queues_no_request(http: TestClient) -> None:
    address = unique_email()
    visitor = Visitor(http)
    visitor.csrf("/portal/password/forgot")
    response = visitor.post("/portal/password/forgot", {"email": address, "csrf_token": "nope"})
    assert response.status_code == 403
    assert reset_requests_for(http, address) == 0


# --- enumeration: forgot password and login ----------------------------------------------------


def reset_requests_for(http: TestClient, address: str) -> int:
    async def _count() -> int:
        async with runtime_of(http).database.read() as conn:
            rows = await conn.execute(
                select(portal_reset_requests.c.id).where(
                    portal_reset_requests.c.email_key == address.lower()
                )
            )
            return len(rows.all())

    count: int = run_async(http, _count)
    return count


def forgot(http: TestClient, address: str) -> tuple[httpx.Response, float]:
    visitor = Visitor(http)
    token = visitor.csrf("/portal/password/forgot")
    started = time.perf_counter()
    response = visitor.post("/portal/password/forgot", {"email": address, "csrf_token": token})
    return response, time.perf_counter() - started


def comparable(response: httpx.Response) -> tuple[int, str, list[str]]:
    """Status, body without the CSRF token, and header names (values like dates vary)."""
    body = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', response.text)
    names = sorted(name for name in response.headers if name not in {"content-length"})
    return response.status_code, body, names


def test_forgot_password_answers_identically_for_known_and_unknown_addresses(
    http: TestClient, api: Api
) -> None:
    contact, _, _ = portal_user(http, api)
    known, _ = forgot(http, contact["email"])
    unknown, _ = forgot(http, unique_email())
    assert known.status_code == unknown.status_code == 200
    assert "If an account uses that address" in known.text
    assert comparable(known) == comparable(unknown)


def test_forgot_password_timing_does_not_tell_known_from_unknown(
    http: TestClient, api: Api
) -> None:
    contact, _, _ = portal_user(http, api)
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(7):
        known.append(forgot(http, contact["email"])[1])
        unknown.append(forgot(http, unique_email())[1])
    fast, slow = sorted([statistics.median(known), statistics.median(unknown)])
    # Generous: a lookup or an Argon2 hash on one side only would show as a multiple.
    assert slow < max(fast * 2.5, fast + 0.05), (known, unknown)


def test_forgot_password_sends_a_link_only_to_a_known_address(http: TestClient, api: Api) -> None:
    contact, _, _ = portal_user(http, api)
    stranger = unique_email()
    forgot(http, contact["email"].upper())  # the address as typed, in any case
    forgot(http, stranger)
    assert reset_requests_for(http, stranger) == 1
    housekeeper = PortalHousekeeper(runtime_of(http).database, runtime_of(http).settings.public_url)
    while run_async(http, housekeeper.run_once):
        pass
    templates = [row["template"] for row in queued_emails(http, contact["id"])]
    assert templates == ["invitation", "password_reset"]
    data = api.get(f"/v1/contacts/{contact['id']}").json()["data"]
    assert data["portal"]["password_reset_sent_at"] is not None
    assert (
        Visitor(http).get(path_of(latest_link(http, contact["id"], "password_reset"))).status_code
        == 200
    )


def test_login_failure_is_identical_for_unknown_email_and_wrong_password(
    http: TestClient, api: Api
) -> None:
    contact, _, _ = portal_user(http, api)

    def attempt(address: str) -> tuple[httpx.Response, float]:
        visitor = Visitor(http)
        token = visitor.csrf()
        started = time.perf_counter()
        response = visitor.post(
            "/portal/login", {"email": address, "password": "wrong-password-1", "csrf_token": token}
        )
        return response, time.perf_counter() - started

    wrong_password, _ = attempt(contact["email"])
    unknown_email, _ = attempt(unique_email())
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert errors_of(wrong_password.text) == errors_of(unknown_email.text) == [LOGIN_FAILED]
    same_address = re.sub(re.escape(contact["email"]), "ADDRESS", wrong_password.text)
    other_address = re.sub(r"pat\.[0-9a-f]+@example\.com", "ADDRESS", unknown_email.text)
    assert comparable_text(same_address) == comparable_text(other_address)
    # Both spend one Argon2 verification: an unknown address is not answered faster.
    known = [attempt(contact["email"])[1] for _ in range(4)]
    unknown = [attempt(unique_email())[1] for _ in range(4)]
    fast, slow = sorted([statistics.median(known), statistics.median(unknown)])
    assert slow < fast * 3, (known, unknown)


def comparable_text(page: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


# --- throttling ---------------------------------------------------------------------------------


def test_failed_logins_are_throttled_per_account(http: TestClient, api: Api) -> None:
    contact, password, _ = portal_user(http, api)
    for _ in range(5):
        visitor = Visitor(http)  # a new address each time: the account's count still grows
        assert visitor.log_in(contact["email"], "not-the-password").status_code == 401
    blocked = Visitor(http)
    response = blocked.log_in(contact["email"], password)
    assert response.status_code == 429
    assert "Too many failed attempts" in errors_of(response.text)[0]
    assert not blocked.is_logged_in()
    # Another account from the same addresses is not affected.
    other, other_password, _ = portal_user(http, api)
    logged_in(http, other["email"], other_password)


def test_failed_logins_are_throttled_per_address(http: TestClient, api: Api) -> None:
    contact, password, _ = portal_user(http, api)
    address = Visitor(http).address
    for _ in range(20):  # different accounts, one address
        visitor = Visitor(http, address)
        assert visitor.log_in(unique_email(), "not-the-password").status_code == 401
    blocked = Visitor(http, address)
    response = blocked.log_in(contact["email"], password)
    assert response.status_code == 429
    assert not blocked.is_logged_in()
    logged_in(http, contact["email"], password)  # from another address, the account works


# --- sessions and cookies ---------------------------------------------------------------------


def test_session_id_is_rotated_at_login(http: TestClient, api: Api) -> None:
    contact, password, _ = portal_user(http, api)
    visitor = Visitor(http)
    visitor.csrf()
    before = visitor.cookie
    assert before
    response = visitor.log_in(contact["email"], password)
    assert response.status_code == 303
    after = visitor.cookie
    assert after and after != before
    assert visitor.is_logged_in()
    # Someone holding the pre-login id (session fixation) is not logged in; the new id is.
    fixated = Visitor(http)
    fixated.use_cookie(before)
    assert not fixated.is_logged_in()
    copied = Visitor(http)
    copied.use_cookie(after)
    assert copied.is_logged_in()


def test_session_cookie_is_httponly_and_samesite_lax(http: TestClient, api: Api) -> None:
    visitor = Visitor(http)
    page = visitor.get("/portal/login")
    cookie = set_cookie_of(page)[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/portal"
    assert not cookie["secure"]  # the public URL of the test app is http
    contact, password, _ = portal_user(http, api)
    login = visitor.log_in(contact["email"], password)
    cookie = set_cookie_of(login)[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"


@pytest.fixture
def https_app(settings: Settings) -> Iterator[TestClient]:
    """The same database, served as if at an https public URL."""
    secure = settings.model_copy(update={"public_url": "https://portal.vantage.test"})
    with TestClient(create_app(secure), follow_redirects=False) as client:
        yield client


def test_session_cookie_is_secure_when_public_url_is_https(https_app: TestClient) -> None:
    cookie = set_cookie_of(https_app.get("/portal/login"))[COOKIE]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"


def test_disabling_access_ends_every_session_at_once(http: TestClient, api: Api) -> None:
    contact, password, first = portal_user(http, api)
    second = logged_in(http, contact["email"], password)
    api.post(f"/v1/contacts/{contact['id']}/portal/disable")
    for visitor in (first, second):
        response = visitor.home()
        assert response.status_code == 303
        assert response.headers["location"] == "/portal/login"
    assert session_count(http, contact["id"]) == 0


def test_deleting_the_contact_ends_every_session_at_once(http: TestClient, api: Api) -> None:
    contact, password, first = portal_user(http, api)
    second = logged_in(http, contact["email"], password)
    api.delete(f"/v1/contacts/{contact['id']}")
    for visitor in (first, second):
        response = visitor.home()
        assert response.status_code == 303
        assert response.headers["location"] == "/portal/login"
    assert session_count(http, contact["id"]) == 0


def test_a_reset_ends_every_other_session(http: TestClient, api: Api) -> None:
    contact, password, first = portal_user(http, api)
    second = logged_in(http, contact["email"], password)
    api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    link = latest_link(http, contact["id"], "password_reset")
    new_password = strong_password()
    response = second.set_password(link, new_password)
    assert response.headers["location"] == "/portal/login?reset=1"
    assert not first.is_logged_in()
    assert not second.is_logged_in()
    assert session_count(http, contact["id"]) == 0
    logged_in(http, contact["email"], new_password)


def test_logout_ends_the_session(http: TestClient, api: Api) -> None:
    contact, _, visitor = portal_user(http, api)
    old_cookie = visitor.cookie
    assert old_cookie
    copy = Visitor(http)
    copy.use_cookie(old_cookie)
    assert copy.is_logged_in()
    response = visitor.post("/portal/logout", {"csrf_token": csrf_of(visitor.home().text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/login"
    assert not visitor.is_logged_in()
    assert session_count(http, contact["id"]) == 0
    copy.use_cookie(old_cookie)
    assert not copy.is_logged_in()


# --- passwords ----------------------------------------------------------------------------------

RULES: dict[str, tuple[Callable[[str], tuple[str, str]], str]] = {
    "too short": (lambda email: ("short-1", "short-1"), "Use at least 12 characters."),
    "common": (lambda email: ("password1234", "password1234"), "too easy to guess"),
    "repetitive": (lambda email: ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa"), "too easy to guess"),
    "contains email": (
        lambda email: (f"{email.split('@')[0]}-2024!", f"{email.split('@')[0]}-2024!"),
        "Do not use your email address",
    ),
    "mismatch": (
        lambda email: ("tangerine-orbit-one", "tangerine-orbit-two"),
        "The two passwords are not the same.",
    ),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_password_rules_are_shown_and_nothing_is_saved(
    http: TestClient, api: Api, rule: str
) -> None:
    contact = invited_contact(api)
    link = latest_link(http, contact["id"])
    make, expected = RULES[rule]
    password, confirm = make(contact["email"])
    visitor = Visitor(http)
    response = visitor.set_password(link, password, confirm)
    assert response.status_code == 422
    errors = errors_of(response.text)
    assert any(expected in error for error in errors), errors
    assert password_hash(http, contact["id"]) is None
    assert not visitor.is_logged_in()
    # The link was not spent: a good password still works with it.
    assert Visitor(http).set_password(link, strong_password()).status_code == 303


def test_password_hash_is_argon2id_with_owasp_parameters(http: TestClient, api: Api) -> None:
    contact, password, _ = portal_user(http, api)
    stored = password_hash(http, contact["id"])
    assert stored is not None
    assert password not in stored
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", stored)
    assert match, stored
    memory, iterations, lanes = (int(group) for group in match.groups())
    assert memory >= 19456
    assert iterations >= 2
    assert lanes == 1


# --- access levels and tenancy ------------------------------------------------------------------


def test_view_contact_cannot_create_or_approve(http: TestClient, api: Api) -> None:
    contact, _, visitor = portal_user(http, api, level="view")
    ticket = api.make_ticket(contact["client_id"], title="Please approve")
    api.put(f"/v1/tickets/{ticket['id']}", json={"status": "awaiting_approval"})
    home = visitor.home()
    assert "Please approve" in home.text
    assert "Create ticket" not in home.text
    assert "/approve" not in home.text
    token = csrf_of(home.text)

    created = visitor.post("/portal/tickets", {"csrf_token": token, "title": "Sneaky"})
    assert created.status_code == 403
    approved = visitor.post(f"/portal/tickets/{ticket['id']}/approve", {"csrf_token": token})
    assert approved.status_code == 403
    assert "Sneaky" not in ticket_titles(api, contact["client_id"])
    assert api.get(f"/v1/tickets/{ticket['id']}").json()["data"]["status"] == "awaiting_approval"


def test_full_contact_can_create_and_approve(http: TestClient, api: Api) -> None:
    contact, _, visitor = portal_user(http, api, level="full")
    ticket = api.make_ticket(contact["client_id"], title="Ready for sign-off")
    api.put(f"/v1/tickets/{ticket['id']}", json={"status": "awaiting_approval"})
    token = csrf_of(visitor.home().text)
    created = visitor.post(
        "/portal/tickets", {"csrf_token": token, "title": "New logo", "description": "Bigger."}
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/portal/?created=1"
    [new] = [t for t in api.get("/v1/tickets").json()["data"] if t["title"] == "New logo"]
    assert new["client_id"] == contact["client_id"]
    assert new["contact_id"] == contact["id"]
    approved = visitor.post(f"/portal/tickets/{ticket['id']}/approve", {"csrf_token": token})
    assert approved.status_code == 303
    assert api.get(f"/v1/tickets/{ticket['id']}").json()["data"]["status"] == "approved"
    again = visitor.post(f"/portal/tickets/{ticket['id']}/approve", {"csrf_token": token})
    assert again.status_code == 409


def test_contact_never_sees_another_clients_tickets(
    http: TestClient, api: Api, other_api: Api
) -> None:
    contact, _, visitor = portal_user(http, api, level="full")
    mine = api.make_ticket(contact["client_id"], title="Our own ticket")
    neighbour = api.make_client(name="Neighbour Ltd")
    theirs = api.make_ticket(neighbour["id"], title="Neighbour secret", status="awaiting_approval")
    foreign_client = other_api.make_client()
    foreign = other_api.make_ticket(
        foreign_client["id"], title="Other workspace secret", status="awaiting_approval"
    )
    live_client = api.live.make_client()
    live = api.live.make_ticket(live_client["id"], title="Live mode secret")

    home = visitor.home()
    assert f"#{mine['number']}" in home.text and "Our own ticket" in home.text
    for secret in ("Neighbour secret", "Other workspace secret", "Live mode secret"):
        assert secret not in home.text
    token = csrf_of(home.text)
    for ticket in (theirs, foreign, live):
        response = visitor.post(f"/portal/tickets/{ticket['id']}/approve", {"csrf_token": token})
        assert response.status_code == 404
    assert api.get(f"/v1/tickets/{theirs['id']}").json()["data"]["status"] == "awaiting_approval"
    status = other_api.get(f"/v1/tickets/{foreign['id']}").json()["data"]["status"]
    assert status == "awaiting_approval"


def test_names_and_titles_are_escaped_in_pages(http: TestClient, api: Api) -> None:
    script = "<script>alert(1)</script>"
    client = api.make_client(name=f"Evil {script} Corp")
    contact, _, visitor = portal_user(http, api, client_id=client["id"], name=f"Eve {script}")
    api.make_ticket(client["id"], title=f"Title {script}")
    page = visitor.home().text
    assert "<script>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4  # title tag, h1, name, ticket
    assert contact["name"] == f"Eve {script}"


# --- headers and the login record ----------------------------------------------------------------


def test_portal_pages_send_security_headers(http: TestClient, api: Api) -> None:
    contact, _, visitor = portal_user(http, api)
    api.post(f"/v1/contacts/{contact['id']}/portal/reset-password")
    responses = [
        visitor.home(),
        Visitor(http).get("/portal/login"),
        Visitor(http).get("/portal/password/forgot"),
        Visitor(http).get(path_of(latest_link(http, contact["id"], "password_reset"))),
        Visitor(http).get("/portal/invitations/not-a-real-token"),
        Visitor(http).log_in(contact["email"], "wrong-password-9"),
    ]
    for response in responses:
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "form-action 'self'" in csp
        assert "script-src" not in csp  # no scripts at all
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"


def test_login_sets_last_login_at_and_emits_portal_login(http: TestClient, api: Api) -> None:
    contact = invited_contact(api)
    password = strong_password()
    Visitor(http).set_password(latest_link(http, contact["id"]), password)
    first = api.get(f"/v1/contacts/{contact['id']}").json()["data"]["portal"]["last_login_at"]
    assert first is not None  # accepting the invitation logs the contact in

    logged_in(http, contact["email"], password)
    data = api.get(f"/v1/contacts/{contact['id']}").json()["data"]
    assert data["portal"]["last_login_at"] >= first
    response = api.get(
        "/v1/events", params={"type": "contact.portal_login", "object_id": contact["id"]}
    )
    events: list[dict[str, Any]] = response.json()["data"]
    assert len(events) == 2
    assert events[0]["data"]["id"] == contact["id"]
    assert events[0]["data"]["portal"]["last_login_at"] == data["portal"]["last_login_at"]
    actions = [
        entry["action"]
        for entry in api.get(
            f"/v1/contacts/{contact['id']}", params={"include": "activity"}
        ).json()["data"]["activity"]
    ]
    assert actions.count("portal_login") == 2


def test_failed_login_sets_no_last_login_and_emits_nothing(http: TestClient, api: Api) -> None:
    contact = invited_contact(api)
    Visitor(http).set_password(latest_link(http, contact["id"]), strong_password())
    before = api.get(f"/v1/contacts/{contact['id']}").json()["data"]["portal"]["last_login_at"]
    assert Visitor(http).log_in(contact["email"], "wrong-password-9").status_code == 401
    after = api.get(f"/v1/contacts/{contact['id']}").json()["data"]["portal"]["last_login_at"]
    assert after == before
    events = api.get(
        "/v1/events", params={"type": "contact.portal_login", "object_id": contact["id"]}
    ).json()["data"]
    assert len(events) == 1
