"""Helpers for the portal's tests: a visitor with its own cookies and address, and shortcuts.

A `Visitor` talks to the session's app on the app's own event loop (like `http`), but keeps
its own cookie jar (the shared `http` client must not carry portal cookies from test to test)
and its own client address (failed logins are throttled per address).
"""

from __future__ import annotations

import html
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping

from tests.support import Api, run_async, runtime_of
from vantage_contacts.models import contacts, emails, portal_sessions, portal_tokens
from vantage_contacts.portal.sessions import COOKIE

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
ERRORS = re.compile(r'<div class="errors" role="alert">\s*<ul>(.*?)</ul>', re.S)


def strong_password() -> str:
    return f"tangerine-{secrets.token_hex(4)}-orbit"


def unique_email() -> str:
    return f"pat.{secrets.token_hex(5)}@example.com"


def path_of(link: str) -> str:
    return urlsplit(link).path


class Visitor:
    """One browser: its own cookies, its own address; redirects are not followed."""

    def __init__(self, http: TestClient, address: str | None = None) -> None:
        self.address = address or f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
        self.client = TestClient(http.app, follow_redirects=False, client=(self.address, 50000))
        self.client.portal = http.portal  # run on the app's loop, where its database lives

    @property
    def cookie(self) -> str | None:
        return self.client.cookies.get(COOKIE)

    def use_cookie(self, value: str) -> None:
        """Present `value` as the session cookie (as someone who copied it would)."""
        self.client.cookies.clear()
        self.client.cookies.set(COOKIE, value, domain="testserver.local", path="/portal")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.client.post(path, data=data, **kwargs)

    def csrf(self, page: str = "/portal/login") -> str:
        response = self.get(page)
        assert response.status_code == 200, response.text
        return csrf_of(response.text)

    def submit(
        self, page: str, fields: dict[str, str], action: str | None = None
    ) -> httpx.Response:
        """Open `page`, then send its form (to `action`, by default the page itself)."""
        token = self.csrf(page)
        return self.post(action or page, {**fields, "csrf_token": token})

    def log_in(self, email: str, password: str) -> httpx.Response:
        fields = {"email": email, "password": password}
        return self.submit("/portal/login", fields)

    def set_password(self, link: str, password: str, confirm: str | None = None) -> httpx.Response:
        fields = {"password": password, "confirm": password if confirm is None else confirm}
        return self.submit(path_of(link), fields)

    def home(self) -> httpx.Response:
        return self.get("/portal/")

    def is_logged_in(self) -> bool:
        """Whether the home page shows (a visitor without a session is sent to log in)."""
        response = self.home()
        if response.status_code == 303:
            assert response.headers["location"] == "/portal/login"
            return False
        assert response.status_code == 200, response.text
        return True


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def errors_of(page: str) -> list[str]:
    found = ERRORS.search(page)
    if not found:
        return []
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))]


# --- the database, for what a visitor cannot see ---------------------------------------------


def latest_link(http: TestClient, contact_id: str, template: str = "invitation") -> str:
    """The one-time link of the newest queued email of `template` for the contact."""

    async def _read() -> str | None:
        async with runtime_of(http).database.read() as conn:
            row = (
                await conn.execute(
                    select(emails.c.secret_link)
                    .where(emails.c.contact_id == contact_id, emails.c.template == template)
                    .order_by(emails.c.created_at.desc())
                    .limit(1)
                )
            ).first()
        return row[0] if row else None

    link = run_async(http, _read)
    assert link, f"no queued {template} email with its link for {contact_id}"
    return str(link)


def queued_emails(http: TestClient, contact_id: str) -> list[RowMapping]:
    async def _read() -> list[RowMapping]:
        async with runtime_of(http).database.read() as conn:
            result = await conn.execute(
                select(emails)
                .where(emails.c.contact_id == contact_id)
                .order_by(emails.c.created_at)
            )
            return list(result.mappings())

    rows: list[RowMapping] = run_async(http, _read)
    return rows


def token_rows(http: TestClient, contact_id: str) -> list[RowMapping]:
    async def _read() -> list[RowMapping]:
        async with runtime_of(http).database.read() as conn:
            result = await conn.execute(
                select(portal_tokens).where(portal_tokens.c.contact_id == contact_id)
            )
            return list(result.mappings())

    rows: list[RowMapping] = run_async(http, _read)
    return rows


def set_token_expiry(http: TestClient, contact_id: str, purpose: str, expires_at: Any) -> None:
    """Move a token's expiry (instead of waiting for it)."""

    async def _write() -> None:
        async with runtime_of(http).database.write() as conn:
            await conn.execute(
                update(portal_tokens)
                .where(portal_tokens.c.contact_id == contact_id, portal_tokens.c.purpose == purpose)
                .values(expires_at=expires_at)
            )

    run_async(http, _write)


def session_count(http: TestClient, contact_id: str) -> int:
    async def _read() -> int:
        async with runtime_of(http).database.read() as conn:
            result = await conn.execute(
                select(portal_sessions.c.id).where(portal_sessions.c.contact_id == contact_id)
            )
            return len(result.all())

    count: int = run_async(http, _read)
    return count


def password_hash(http: TestClient, contact_id: str) -> str | None:
    async def _read() -> str | None:
        async with runtime_of(http).database.read() as conn:
            row = (
                await conn.execute(
                    select(contacts.c.portal_password_hash).where(contacts.c.id == contact_id)
                )
            ).first()
        assert row is not None
        return row[0]

    value: str | None = run_async(http, _read)
    return value


# --- a contact who uses the portal --------------------------------------------------------------


def invited_contact(api: Api, level: str = "full", **fields: Any) -> dict[str, Any]:
    """A contact with an email and portal access, its invitation queued."""
    contact = api.make_contact(email=unique_email(), **fields)
    response = api.post(f"/v1/contacts/{contact['id']}/portal/enable", json={"access_level": level})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def portal_user(
    http: TestClient, api: Api, level: str = "full", **fields: Any
) -> tuple[dict[str, Any], str, Visitor]:
    """A contact who accepted the invitation: (contact, password, their logged-in visitor)."""
    contact = invited_contact(api, level, **fields)
    password = strong_password()
    visitor = Visitor(http)
    response = visitor.set_password(latest_link(http, contact["id"]), password)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/portal/"
    return contact, password, visitor


def logged_in(http: TestClient, email: str, password: str) -> Visitor:
    visitor = Visitor(http)
    response = visitor.log_in(email, password)
    assert response.status_code == 303, response.text
    assert visitor.is_logged_in()
    return visitor
