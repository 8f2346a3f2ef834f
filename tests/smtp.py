"""A real SMTP server for the tests (aiosmtpd on a free loopback port) and the worker that feeds it.

`smtp_server` starts one per test; `deliver` runs the app's own email worker, with an
`SMTPSender` pointed at that server, until nothing is due, so what the API queued arrives.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient

from tests.support import run_async, runtime_of
from vantage_contacts.email.senders import SMTPConfig, SMTPSender
from vantage_contacts.email.worker import EmailWorker

MAIL_FROM = "Vantage Portal <portal@vantage.test>"
LINK = re.compile(r"https?://[^\s<>\"']+/portal/(?:invitations|password/reset)/[A-Za-z0-9_-]+")


@dataclass
class SMTPServer:
    """The messages a running aiosmtpd server accepted, parsed."""

    port: int
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpt, message in self.received if address in rcpt]

    def sender(self) -> SMTPSender:
        return SMTPSender(SMTPConfig(host="127.0.0.1", port=self.port), timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def deliver(http: TestClient, server: SMTPServer) -> None:
    """Run the email worker against `server` until no email is due (other tests' leftover
    rows may be due too: they are delivered to this server as well, and ignored)."""
    worker = EmailWorker(runtime_of(http).database, server.sender(), mail_from=MAIL_FROM)
    for _ in range(100):
        if run_async(http, worker.run_once) == 0:
            return
    raise AssertionError("the email worker never ran out of due emails")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "no text/plain part"
    content: Any = part.get_content()
    return str(content)


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "no text/html part"
    content: Any = part.get_content()
    return str(content)


def one_time_link(message: EmailMessage) -> str:
    """The single portal link the message carries (the same in both parts)."""
    links = set(LINK.findall(text_of(message)))
    assert len(links) == 1, f"expected one portal link in the text part, found {links}"
    link = links.pop()
    assert link in html_of(message)
    return link
