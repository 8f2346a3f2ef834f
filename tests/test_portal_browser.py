"""The whole portal journey in a real browser: Playwright for Python driving Debian's chromium
against a real server (uvicorn in a subprocess, its own worker sending mail as .eml files).

enable (API) → invitation email → set password → tickets → create → approve → log out →
forgot password → reset email → reset → log in with the new password; then the pages once
more at a phone's size. Each page is saved as test-output/portal/NN-name.png.

Runs once (on SQLite, in a database of its own): the API and security tests cover PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.processes import CLI, base_env, free_port, running, uvicorn_command
from tests.smtp import one_time_link

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAIL_TIMEOUT = 30.0  # seconds for the worker to write an email; it polls every second
PHONE = {"width": 375, "height": 667}


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Portal:
    base_url: str
    mail_dir: Path
    secret: str
    log: Path  # the server's output, shown when an email does not come

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.secret}"}
        return httpx.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `data` of a successful call: an object, or a list's items."""
        response = self.api(method, path, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()["data"]

    def wait_for_email(self, to: str, kind: str) -> EmailMessage:
        """The .eml the server's worker writes for `to` with a link of `kind`; polls a folder."""
        deadline = time.monotonic() + MAIL_TIMEOUT
        while time.monotonic() < deadline:
            for path in sorted(self.mail_dir.glob("*.eml")):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if message["To"] == to and f"/portal/{kind}/" in message.as_string():
                    return message
            time.sleep(0.2)  # between polls of the folder; the deadline bounds the wait
        output = self.log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"no {kind} email for {to} within {MAIL_TIMEOUT}s:\n{output}")


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(CLI), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    folder = tmp_path_factory.mktemp("portal-server")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = base_env(
        VANTAGE_DATABASE_URL=f"sqlite:///{folder / 'portal.db'}",
        VANTAGE_PUBLIC_URL=base_url,
        VANTAGE_MAIL_DIR=str(folder / "mail"),
        VANTAGE_RUN_WORKER="true",
        VANTAGE_LOG_LEVEL="WARNING",
    )
    cli(env, "migrate")
    secret = cli(env, "keys", "create", "--workspace", "Browser agency").strip().splitlines()[-1]
    with running(
        uvicorn_command(port), port=port, env=env, cwd=folder, log=folder / "server.log"
    ) as server:
        server.wait_ready("/readyz")
        yield Portal(base_url, folder / "mail", secret, server.log)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: scripts/browser installs it")
        pytest.skip("/usr/bin/chromium is missing: run scripts/browser")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


# --- looking at pages ---------------------------------------------------------------------------


class Camera:
    """Full-page screenshots, numbered in the order they are taken."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def shoot(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        return path


UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML)"""

OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def check_page(page: Page) -> None:
    """Every control has a label (or, for a button, its text) and the page has one heading."""
    assert page.evaluate(UNLABELLED) == [], page.url
    assert page.locator("h1").count() == 1, page.url
    assert page.title().endswith("· Vantage")


def check_fits_phone(page: Page) -> None:
    assert page.evaluate(OVERFLOW) <= 0, f"{page.url} scrolls sideways on a phone"


def set_password(page: Page, password: str) -> None:
    page.get_by_label("New password").fill(password)
    page.get_by_label("Repeat the password").fill(password)
    page.get_by_role("button", name="Set password").click()


def log_in(page: Page, address: str, password: str) -> None:
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


# --- the journey ----------------------------------------------------------------------------------


def test_whole_portal_journey_in_a_real_browser(
    portal: Portal, browser: Browser, output_dir: Path
) -> None:
    camera = Camera(output_dir / "portal")
    client = portal.ok("POST", "/v1/clients", json={"name": "Acme Rockets"})
    address = f"jane.{secrets.token_hex(4)}@acme.example"
    contact = portal.ok(
        "POST",
        "/v1/contacts",
        json={"client_id": client["id"], "name": "Jane Doe", "email": address},
    )
    existing = portal.ok(
        "POST",
        "/v1/tickets",
        json={"client_id": client["id"], "title": "Launch checklist", "description": "T-minus 10"},
    )
    to_approve = portal.ok(
        "POST", "/v1/tickets", json={"client_id": client["id"], "title": "Budget for Q3 ads"}
    )
    portal.ok("PUT", f"/v1/tickets/{to_approve['id']}", json={"status": "awaiting_approval"})
    other_client = portal.ok("POST", "/v1/clients", json={"name": "Globex"})
    portal.ok("POST", "/v1/tickets", json={"client_id": other_client["id"], "title": "Globex plan"})

    # Enable through the API; the server's own worker writes the invitation.
    enabled = portal.ok(
        "POST",
        f"/v1/contacts/{contact['id']}/portal/enable",
        json={"access_level": "full", "send_invitation": True},
    )
    assert enabled["portal"]["invitation_sent_at"]
    invitation = portal.wait_for_email(address, "invitations")
    link = one_time_link(invitation)
    assert link.startswith(f"{portal.base_url}/portal/invitations/")

    # JavaScript off: the portal must work without it.
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    try:
        page.goto(link)
        expect(page.get_by_role("heading", name="Welcome to the client portal")).to_be_visible()
        check_page(page)
        camera.shoot(page, "invitation")

        first_password = f"violet-{secrets.token_hex(3)}-harbour"
        set_password(page, "short")
        expect(page.get_by_role("alert")).to_have_count(0)  # the browser's minlength kept it
        assert page.eval_on_selector("#password", "el => el.validity.tooShort") is True
        page.get_by_label("New password").fill("password1234")
        page.get_by_label("Repeat the password").fill("password1234")
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_role("alert")).to_contain_text("too easy to guess")
        camera.shoot(page, "invitation-weak-password")

        set_password(page, first_password)
        page.wait_for_url(f"{portal.base_url}/portal/")
        expect(page.get_by_role("heading", name="Acme Rockets")).to_be_visible()
        tickets = page.locator(".tickets")
        expect(tickets).to_contain_text("Launch checklist")
        expect(tickets).to_contain_text("Budget for Q3 ads")
        expect(tickets).not_to_contain_text("Globex plan")
        expect(page.locator(f"#ticket-{existing['number']}")).to_contain_text("open")
        check_page(page)
        camera.shoot(page, "home")

        page.get_by_label("Title").fill("New landing page")
        page.get_by_label("Description").fill("Hero image, pricing table and a contact form.")
        page.get_by_role("button", name="Create ticket").click()
        page.wait_for_url("**/portal/?created=1")
        expect(page.get_by_role("status")).to_have_text("Your ticket was created.")
        expect(tickets).to_contain_text("New landing page")
        camera.shoot(page, "ticket-created")
        created = [
            t
            for t in portal.ok("GET", "/v1/tickets", params={"client_id": client["id"]})
            if t["title"] == "New landing page"
        ]
        assert len(created) == 1 and created[0]["contact_id"] == contact["id"]

        page.get_by_role("button", name=f"Approve ticket #{to_approve['number']}").click()
        page.wait_for_url("**/portal/?approved=1")
        expect(page.get_by_role("status")).to_have_text("The ticket was approved.")
        expect(page.locator(f"#ticket-{to_approve['number']}")).to_contain_text("approved")
        camera.shoot(page, "ticket-approved")
        assert portal.ok("GET", f"/v1/tickets/{to_approve['id']}")["status"] == "approved"

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{portal.base_url}/portal/login")
        check_page(page)
        camera.shoot(page, "logged-out")
        page.goto(f"{portal.base_url}/portal/")
        page.wait_for_url(f"{portal.base_url}/portal/login")  # the session really ended

        page.get_by_role("link", name="Forgot your password?").click()
        page.wait_for_url("**/portal/password/forgot")
        check_page(page)
        camera.shoot(page, "forgot")
        page.get_by_label("Email").fill(address.upper())
        page.get_by_role("button", name="Send me a link").click()
        expect(page.get_by_role("status")).to_contain_text("If an account uses that address")
        camera.shoot(page, "forgot-sent")

        reset = portal.wait_for_email(address, "password/reset")
        reset_link = one_time_link(reset)
        page.goto(reset_link)
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        check_page(page)
        camera.shoot(page, "reset")
        new_password = f"copper-{secrets.token_hex(3)}-lantern"
        set_password(page, new_password)
        page.wait_for_url("**/portal/login?reset=1")
        expect(page.get_by_role("status")).to_contain_text("Your password was changed")
        camera.shoot(page, "login-after-reset")

        log_in(page, address, first_password)
        expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
        camera.shoot(page, "login-old-password-refused")

        log_in(page, address, new_password)
        page.wait_for_url(f"{portal.base_url}/portal/")
        expect(page.get_by_role("heading", name="Acme Rockets")).to_be_visible()
        camera.shoot(page, "home-after-reset")

        page.goto(reset_link)  # single use
        expect(page.get_by_role("heading", name="Link expired")).to_be_visible()
    finally:
        context.close()

    after = portal.ok("GET", f"/v1/contacts/{contact['id']}")
    assert after["portal"]["last_login_at"]
    assert after["portal"]["password_reset_sent_at"]
    logins = portal.ok(
        "GET", "/v1/events", params={"type": "contact.portal_login", "object_id": contact["id"]}
    )
    assert len(logins) == 2  # the accepted invitation, then the login with the new password

    # The same pages on a phone.
    phone = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page = phone.new_page()
    try:
        page.goto(f"{portal.base_url}/portal/login")
        check_page(page)
        check_fits_phone(page)
        camera.shoot(page, "phone-login")
        log_in(page, address, new_password)
        page.wait_for_url(f"{portal.base_url}/portal/")
        check_fits_phone(page)
        expect(page.get_by_role("button", name="Create ticket")).to_be_visible()
        camera.shoot(page, "phone-home")
        page.goto(f"{portal.base_url}/portal/password/forgot")
        check_fits_phone(page)
        camera.shoot(page, "phone-forgot")
    finally:
        phone.close()
