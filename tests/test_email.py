"""Outgoing email: the outbox, the worker, real SMTP servers (aiosmtpd) and the .eml folder.

SMTP servers run on free loopback ports inside the test process; TLS uses a throwaway CA
made at test time (trustme), which the sender is told to trust. The worker's clock is a
plain object the tests move, so retries are checked without waiting.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import secrets
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, update

from tests.support import Api, run_async, runtime_of
from vantage_contacts.auth.subject import Tenant
from vantage_contacts.config import Settings
from vantage_contacts.email import outbox, templates
from vantage_contacts.email.senders import (
    MailDirSender,
    Sender,
    SMTPConfig,
    SMTPSender,
    parse_smtp_url,
    sender_from_settings,
)
from vantage_contacts.email.worker import DELAYS, JITTER, MAX_ATTEMPTS, EmailWorker
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.models import emails
from vantage_contacts.worker import run_worker

MAIL_FROM = "Vantage Tests <robot@vantage.test>"
USER, PASSWORD = "relay@vantage.test", "p:ss/w@rd%"


# --- a controllable clock and the outbox ----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        # A moment after now, so rows just enqueued (stamped with the real time) are due.
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def enqueue(
    http: TestClient,
    api: Api,
    *,
    template: str = "invitation",
    context: dict[str, Any] | None = None,
    to: str | None = None,
) -> tuple[str, str, str]:
    """Queue an email the way the portal does; (email id, recipient, one-time link)."""
    to = to or f"{secrets.token_hex(6)}@example.com"
    link = f"https://portal.vantage.test/portal/invitations/{secrets.token_urlsafe(32)}"
    if context is None:
        context = {"contact_name": "Jane Doe", "client_name": "Acme", "access_level": "view"}
    database = runtime_of(http).database

    async def _enqueue() -> str:
        async with database.write() as conn:
            return await outbox.enqueue(
                conn,
                Tenant(api.workspace_id, "test"),
                to=to,
                template=template,
                context=context,
                secret_link=link,
            )

    return run_async(http, _enqueue), to, link


def email_row(http: TestClient, email_id: str) -> dict[str, Any]:
    database = runtime_of(http).database

    async def _read() -> dict[str, Any]:
        async with database.read() as conn:
            row = (await conn.execute(select(emails).where(emails.c.id == email_id))).mappings()
            return dict(row.one())

    result: dict[str, Any] = run_async(http, _read)
    return result


@pytest.fixture
def api(api: Api, http: TestClient) -> Iterator[Api]:
    """The shared `api` workspace; afterwards its unsent emails are settled as failed, so a
    later test's worker (on the same database) never picks up one of these."""
    yield api
    database = runtime_of(http).database

    async def _settle() -> None:
        async with database.write() as conn:
            await conn.execute(
                update(emails)
                .where(emails.c.workspace_id == api.workspace_id, emails.c.status == "pending")
                .values(status="failed", secret_link=None, next_attempt_at=None)
            )

    run_async(http, _settle)


def make_worker(http: TestClient, sender: Sender, clock: Clock) -> EmailWorker:
    return EmailWorker(runtime_of(http).database, sender, mail_from=MAIL_FROM, clock=clock)


def drain(http: TestClient, worker: EmailWorker) -> None:
    """Run the worker until nothing is due (other tests' leftover rows may be due too)."""
    for _ in range(100):
        if run_async(http, worker.run_once) == 0:
            return
    raise AssertionError("the worker never ran out of due emails")


# --- real SMTP servers --------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts, with how it arrived."""

    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP answer
    received: list[tuple[Envelope, Session, bool]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert server.transport is not None
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.received.append((envelope, session, encrypted))
        return "250 Message accepted"

    def to(self, address: str) -> list[tuple[EmailMessage, Envelope, Session, bool]]:
        """What arrived for `address`: (message, envelope, session, over TLS)."""
        found = []
        for envelope, session, encrypted in self.received:
            if address in envelope.rcpt_tos:
                assert envelope.original_content is not None
                message = email.message_from_bytes(
                    envelope.original_content, policy=email.policy.default
                )
                assert isinstance(message, EmailMessage)
                found.append((message, envelope, session, encrypted))
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def check_password(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers 535 itself when the check fails.
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class Servers:
    """Starts aiosmtpd servers on loopback ports and stops them all at the end of the test."""

    def __init__(self) -> None:
        self.controllers: list[Controller] = []

    def start(self, inbox: Inbox, port: int | None = None, **smtp: Any) -> int:
        port = port or free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp)
        controller.start()
        self.controllers.append(controller)
        return port

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    yield started
    started.stop()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


# --- parsing what arrived -----------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag.attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"href", "src", "action", "background"} and value is not None:
                self.urls.append((f"{tag}.{name}", value))


def html_urls(html: str) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(html)
    return parser.urls


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def assert_one_link(message: EmailMessage, link: str) -> None:
    text, html = parts(message)
    assert text.count(link) == 1
    assert re.findall(r"https?://\S+", text) == [link]
    assert html_urls(html) == [("a.href", link)]


# --- delivery through SMTP ----------------------------------------------------------------------


def test_enqueued_invitation_arrives_by_smtp_and_row_is_marked_sent(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    port = servers.start(inbox)
    email_id, to, link = enqueue(http, api)
    clock = Clock()
    drain(http, make_worker(http, SMTPSender(parse_smtp_url(f"smtp://127.0.0.1:{port}")), clock))

    [(message, envelope, _, encrypted)] = inbox.to(to)
    assert not encrypted
    assert envelope.mail_from == "robot@vantage.test"
    assert message["Subject"] == "Your portal access for Acme"
    assert message["To"] == to
    assert message["From"] == MAIL_FROM
    assert message["Message-ID"] == f"<{email_id}@vantage.test>"
    text, html = parts(message)
    assert "Hello Jane Doe" in text and "Hello Jane Doe" in html
    assert "7 days" in text and "7 days" in html
    assert_one_link(message, link)

    row = email_row(http, email_id)
    assert row["status"] == "sent"
    assert row["sent_at"] == clock.now
    assert row["attempt_count"] == 1
    assert row["secret_link"] is None
    assert row["next_attempt_at"] is None and row["last_error"] is None


def test_sent_email_is_not_sent_again(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    port = servers.start(inbox)
    _, to, _ = enqueue(http, api)
    clock = Clock()
    worker = make_worker(http, SMTPSender(SMTPConfig("127.0.0.1", port)), clock)
    drain(http, worker)
    clock.now += timedelta(days=3)
    drain(http, worker)
    assert len(inbox.to(to)) == 1


def test_smtp_down_keeps_email_pending_with_backoff_then_delivers_when_up(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    port = free_port()  # nothing listens here yet
    email_id, to, link = enqueue(http, api)
    clock = Clock()
    worker = make_worker(http, SMTPSender(SMTPConfig("127.0.0.1", port), timeout=5), clock)

    previous = clock.now
    for attempt, delay in enumerate(DELAYS[:4], start=1):
        drain(http, worker)
        row = email_row(http, email_id)
        assert row["status"] == "pending"
        assert row["attempt_count"] == attempt
        assert "ConnectionRefusedError" in row["last_error"]
        assert row["secret_link"] == link
        waited = row["next_attempt_at"] - clock.now
        assert delay * (1 - JITTER) <= waited <= delay * (1 + JITTER)
        assert row["next_attempt_at"] > previous
        previous = row["next_attempt_at"]
        # Not due yet: running again a moment before changes nothing.
        clock.now = row["next_attempt_at"] - timedelta(seconds=1)
        drain(http, worker)
        assert email_row(http, email_id)["attempt_count"] == attempt
        clock.now = row["next_attempt_at"]

    servers.start(inbox, port=port)
    drain(http, worker)
    assert len(inbox.to(to)) == 1
    row = email_row(http, email_id)
    assert row["status"] == "sent" and row["attempt_count"] == 5
    assert row["secret_link"] is None and row["last_error"] is None


def test_email_fails_for_good_after_last_attempt_and_forgets_its_link(
    http: TestClient, api: Api
) -> None:
    email_id, _, _ = enqueue(http, api)
    clock = Clock()
    worker = make_worker(http, SMTPSender(SMTPConfig("127.0.0.1", free_port())), clock)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        drain(http, worker)
        row = email_row(http, email_id)
        assert row["attempt_count"] == attempt
        if attempt < MAX_ATTEMPTS:
            assert row["status"] == "pending"
            clock.now = row["next_attempt_at"]
    assert row["status"] == "failed"
    assert row["secret_link"] is None and row["next_attempt_at"] is None
    assert "ConnectionRefusedError" in row["last_error"]
    clock.now += timedelta(days=30)
    drain(http, worker)
    assert email_row(http, email_id)["attempt_count"] == MAX_ATTEMPTS


def test_recipient_refused_permanently_fails_at_once(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    to = f"gone-{secrets.token_hex(4)}@example.com"
    inbox.refuse[to] = "550 5.1.1 No such user"
    port = servers.start(inbox)
    email_id, _, _ = enqueue(http, api, to=to)
    drain(http, make_worker(http, SMTPSender(SMTPConfig("127.0.0.1", port)), Clock()))
    row = email_row(http, email_id)
    assert row["status"] == "failed" and row["attempt_count"] == 1
    assert row["secret_link"] is None
    assert "No such user" in row["last_error"]


def test_recipient_deferred_is_retried(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    to = f"busy-{secrets.token_hex(4)}@example.com"
    inbox.refuse[to] = "451 4.3.0 Try again later"
    port = servers.start(inbox)
    email_id, _, link = enqueue(http, api, to=to)
    clock = Clock()
    worker = make_worker(http, SMTPSender(SMTPConfig("127.0.0.1", port)), clock)
    drain(http, worker)
    row = email_row(http, email_id)
    assert row["status"] == "pending" and row["secret_link"] == link
    assert "Try again later" in row["last_error"]

    del inbox.refuse[to]
    clock.now = row["next_attempt_at"]
    drain(http, worker)
    assert email_row(http, email_id)["status"] == "sent"
    assert len(inbox.to(to)) == 1


AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@AUTH_WITHOUT_TLS
def test_smtp_auth_with_url_encoded_credentials(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    port = servers.start(
        inbox, auth_required=True, auth_require_tls=False, authenticator=check_password
    )
    email_id, to, _ = enqueue(http, api)
    url = f"smtp://relay%40vantage.test:p%3Ass%2Fw%40rd%25@127.0.0.1:{port}"
    drain(http, make_worker(http, SMTPSender(parse_smtp_url(url)), Clock()))
    [(_, _, session, _)] = inbox.to(to)
    assert session.authenticated is True
    assert email_row(http, email_id)["status"] == "sent"


@AUTH_WITHOUT_TLS
def test_smtp_auth_with_wrong_password_is_retried(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    port = servers.start(
        inbox, auth_required=True, auth_require_tls=False, authenticator=check_password
    )
    email_id, to, _ = enqueue(http, api)
    config = SMTPConfig("127.0.0.1", port, username=USER, password="wrong")
    drain(http, make_worker(http, SMTPSender(config), Clock()))
    row = email_row(http, email_id)
    assert row["status"] == "pending" and "SMTPAuthenticationError" in row["last_error"]
    assert inbox.to(to) == []


def test_starttls_with_auth_delivers_over_tls(
    http: TestClient,
    api: Api,
    servers: Servers,
    inbox: Inbox,
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
) -> None:
    port = servers.start(
        inbox,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=check_password,  # and AUTH only after STARTTLS (aiosmtpd's default)
    )
    email_id, to, link = enqueue(http, api)
    url = f"smtp://relay%40vantage.test:p%3Ass%2Fw%40rd%25@127.0.0.1:{port}?starttls=true"
    sender = SMTPSender(parse_smtp_url(url), ssl_context=client_tls)
    drain(http, make_worker(http, sender, Clock()))
    [(message, _, session, encrypted)] = inbox.to(to)
    assert encrypted and session.authenticated is True
    assert_one_link(message, link)
    assert email_row(http, email_id)["status"] == "sent"


def test_server_requiring_starttls_refuses_a_plain_sender(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox, server_tls: ssl.SSLContext
) -> None:
    port = servers.start(inbox, tls_context=server_tls, require_starttls=True)
    email_id, to, _ = enqueue(http, api)
    drain(http, make_worker(http, SMTPSender(SMTPConfig("127.0.0.1", port)), Clock()))
    row = email_row(http, email_id)
    assert row["status"] == "pending" and "STARTTLS" in row["last_error"]
    assert inbox.to(to) == []


def test_starttls_to_an_untrusted_certificate_is_not_sent(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox, server_tls: ssl.SSLContext
) -> None:
    port = servers.start(inbox, tls_context=server_tls, require_starttls=True)
    email_id, to, link = enqueue(http, api)
    # The system trust store does not know the test CA: the certificate must be rejected.
    sender = SMTPSender(parse_smtp_url(f"smtp://127.0.0.1:{port}?starttls=true"))
    drain(http, make_worker(http, sender, Clock()))
    row = email_row(http, email_id)
    assert row["status"] == "pending" and "CERTIFICATE_VERIFY_FAILED" in row["last_error"]
    assert row["secret_link"] == link
    assert inbox.to(to) == []


def test_smtps_implicit_tls_delivers(
    http: TestClient,
    api: Api,
    servers: Servers,
    inbox: Inbox,
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
) -> None:
    port = servers.start(inbox, ssl_context=server_tls)
    email_id, to, _ = enqueue(http, api)
    sender = SMTPSender(parse_smtp_url(f"smtps://127.0.0.1:{port}"), ssl_context=client_tls)
    drain(http, make_worker(http, sender, Clock()))
    [(_, _, _, encrypted)] = inbox.to(to)
    assert encrypted
    assert email_row(http, email_id)["status"] == "sent"


def test_unknown_template_fails_at_once_without_sending(
    http: TestClient, api: Api, servers: Servers, inbox: Inbox
) -> None:
    port = servers.start(inbox)
    email_id, to, _ = enqueue(http, api, template="no_such_template")
    drain(http, make_worker(http, SMTPSender(SMTPConfig("127.0.0.1", port)), Clock()))
    row = email_row(http, email_id)
    assert row["status"] == "failed" and row["secret_link"] is None
    assert "no_such_template" in row["last_error"]
    assert inbox.to(to) == []


# --- the .eml folder ----------------------------------------------------------------------------


def test_mail_dir_backend_writes_a_parseable_eml_file(
    http: TestClient, api: Api, tmp_path: Path
) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    email_id, to, link = enqueue(
        http, api, template="password_reset", context={"contact_name": "Jane Doe"}
    )
    clock = Clock()
    drain(http, make_worker(http, MailDirSender(folder, clock=clock), clock))

    [path] = [p for p in folder.iterdir() if email_id in p.name]
    assert path.name == f"{clock.now:%Y%m%dT%H%M%S.%fZ}-{email_id}.eml"
    assert not [p for p in folder.iterdir() if p.suffix != ".eml"]  # no temporary file left
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == to
    assert message["Subject"] == "Reset your portal password"
    assert_one_link(message, link)
    text, html = parts(message)
    assert "1 hour" in text and "1 hour" in html
    row = email_row(http, email_id)
    assert row["status"] == "sent" and row["secret_link"] is None


def test_mail_dir_file_names_sort_in_sending_order(tmp_path: Path) -> None:
    clock = Clock()
    sender = MailDirSender(tmp_path, clock=clock)
    rendered = templates.render("password_reset", {"contact_name": "A"}, "https://x.test/r/1")
    # Ids that sort the other way round, so only the time can put the files in order.
    ids = ["eml_zzz", "eml_mmm", "eml_aaa"]
    for email_id in ids:
        message = templates.build_message(
            rendered,
            to="a@example.com",
            sender=MAIL_FROM,
            message_id=templates.message_id(email_id, MAIL_FROM),
            date=clock.now,
        )
        asyncio.run(sender.send(message))
        clock.now += timedelta(milliseconds=1)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [name.split("-", 1)[1] for name in names] == [f"{i}.eml" for i in ids]


def test_background_worker_sends_email_and_stops_on_the_event(
    http: TestClient, api: Api, settings: Settings, tmp_path: Path
) -> None:
    """`run_worker` (email beside webhook deliveries) sends with the real clock, then ends."""
    email_id, _, _ = enqueue(http, api)
    worker_settings = settings.model_copy(update={"mail_dir": tmp_path, "smtp_url": None})
    database = runtime_of(http).database

    async def _status() -> str:
        async with database.read() as conn:
            query = select(emails.c.status).where(emails.c.id == email_id)
            return str((await conn.execute(query)).scalar_one())

    async def _run() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(database, worker_settings, stop))
        for _ in range(400):  # polls the row for up to 20 s; no fixed delay is waited out
            if await _status() != "pending":
                break
            await asyncio.sleep(0.05)
        stop.set()
        async with asyncio.timeout(20):
            await task  # both loops end by themselves once the event is set
        return task.done()

    assert run_async(http, _run) is True
    assert email_row(http, email_id)["status"] == "sent"
    assert len(list(tmp_path.glob(f"*-{email_id}.eml"))) == 1


# --- settings and URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SMTPConfig("mail.example.com", 25)),
        ("smtp://mail.example.com:2525", SMTPConfig("mail.example.com", 2525)),
        ("smtps://mail.example.com", SMTPConfig("mail.example.com", 465, implicit_tls=True)),
        (
            "smtp://me:secret@mail.example.com:587?starttls=true",
            SMTPConfig("mail.example.com", 587, "me", "secret", starttls=True),
        ),
        (
            "SMTP://a%40b.test:p%3Aa%2Fs%40s%25@Mail.Example.com:587?starttls=TRUE",
            SMTPConfig("mail.example.com", 587, "a@b.test", "p:a/s@s%", starttls=True),
        ),
        ("smtp://only-user@mail.example.com", SMTPConfig("mail.example.com", 25, "only-user")),
        ("smtp://[::1]:1025?starttls=false", SMTPConfig("::1", 1025)),
        ("smtps://u:@127.0.0.1:1465", SMTPConfig("127.0.0.1", 1465, "u", "", implicit_tls=True)),
    ],
)
def test_smtp_url_parsing(url: str, expected: SMTPConfig) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com",
        "mail.example.com:25",
        "smtp://",
        "smtp://mail.example.com:99999",
        "smtp://mail.example.com:port",
        "smtps://mail.example.com?starttls=true",
        "smtp://mail.example.com?starttls=maybe",
    ],
)
def test_smtp_url_parsing_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_smtp_url(url)


def test_settings_refuse_a_bad_smtp_url_or_from_address() -> None:
    with pytest.raises(ValidationError, match="smtp"):
        Settings(smtp_url="smtp://mail.example.com?starttls=maybe")
    with pytest.raises(ValidationError, match="mail_from"):
        Settings(mail_from="not an address")
    assert Settings().mail_from == "Vantage <no-reply@localhost>"


def test_sender_follows_settings(tmp_path: Path) -> None:
    folder = sender_from_settings(Settings(mail_dir=tmp_path))
    assert isinstance(folder, MailDirSender) and folder.directory == tmp_path
    smtp = sender_from_settings(
        Settings(smtp_url="smtps://u:p@mail.example.com", mail_dir=tmp_path)
    )
    assert isinstance(smtp, SMTPSender)
    assert smtp.config == SMTPConfig("mail.example.com", 465, "u", "p", implicit_tls=True)


# --- templates ----------------------------------------------------------------------------------

LINK = "https://portal.vantage.test/portal/invitations/tok_0123456789"
CONTEXTS = {
    "invitation": {"contact_name": "Jane Doe", "client_name": "Acme", "access_level": "full"},
    "password_reset": {"contact_name": "Jane Doe"},
}


@pytest.mark.parametrize("template", templates.TEMPLATES)
def test_templates_render_both_parts_with_the_link_once_each(template: str) -> None:
    rendered = templates.render(template, CONTEXTS[template], LINK)
    message = templates.build_message(
        rendered, to="jane@example.com", sender=MAIL_FROM, message_id="<x@y>", date=utcnow()
    )
    assert message["Subject"] and "\n" not in message["Subject"]
    assert_one_link(message, LINK)
    text, html = parts(message)
    assert "Jane Doe" in text and "Jane Doe" in html
    # Accessible and self-contained: a language, a title, and nothing fetched from elsewhere.
    assert '<html lang="en">' in html and f"<title>{rendered.subject}</title>" in html
    assert "<img" not in html and "<link" not in html and "url(" not in html


def test_invitation_says_what_the_access_level_allows() -> None:
    full = templates.render("invitation", CONTEXTS["invitation"], LINK)
    view = templates.render("invitation", {**CONTEXTS["invitation"], "access_level": "view"}, LINK)
    assert "create and approve" in full.text and "create and approve" in full.html
    assert "create and approve" not in view.text and "create and approve" not in view.html


def test_html_part_escapes_names() -> None:
    context = {
        "contact_name": "<script>alert(1)</script>",
        "client_name": 'Acme "Q" & <b>Co</b>',
        "access_level": "view",
    }
    rendered = templates.render("invitation", context, LINK)
    assert "<script>" not in rendered.html and "<b>Co" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "Acme &#34;Q&#34; &amp; &lt;b&gt;Co&lt;/b&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text  # plain text stays as typed


def test_line_breaks_in_names_cannot_add_headers() -> None:
    context = {**CONTEXTS["invitation"], "client_name": "Acme\r\nBcc: evil@example.com"}
    rendered = templates.render("invitation", context, LINK)
    message = templates.build_message(
        rendered, to="jane@example.com", sender=MAIL_FROM, message_id="<x@y>", date=utcnow()
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Your portal access for Acme Bcc: evil@example.com"
