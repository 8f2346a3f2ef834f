"""Where a finished message goes: an SMTP server, or a folder of `.eml` files for development.

Both are plain blocking I/O run in a thread, so the worker's event loop (which also serves the
API when the worker runs in-process) never waits on a mail server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from vantage_contacts.kit.clock import utcnow

if TYPE_CHECKING:  # config validates its settings with the parsers below
    from vantage_contacts.config import Settings

log = logging.getLogger("vantage_contacts.email")

SMTP_TIMEOUT = 30.0  # seconds, for each socket operation of one conversation
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Sender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand the message over, or raise: `PermanentFailure` when retrying cannot help."""


class PermanentFailure(Exception):
    """The server refused this message for good (a 5xx answer to the recipient or the data)."""


def mail_domain(sender: str) -> str:
    """The domain of a From address such as `Vantage <no-reply@example.com>`."""
    header = HeaderRegistry()("From", sender)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise ValueError(f"not one email address: {sender!r}")
    return addresses[0].domain


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SMTPConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False

    @property
    def uses_tls(self) -> bool:
        return self.implicit_tls or self.starttls


def parse_smtp_url(url: str) -> SMTPConfig:
    """`smtp://[user:pass@]host[:port][?starttls=true]` or `smtps://…` (TLS from the start).

    User and password are percent-decoded, so a password may hold `@`, `:` or `/`.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("VANTAGE_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("VANTAGE_SMTP_URL has no host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as error:  # a port out of range or not a number
        raise ValueError(f"VANTAGE_SMTP_URL has an invalid port: {error}") from None
    starttls = _flag(parse_qs(parts.query), "starttls")
    if starttls and scheme == "smtps":
        raise ValueError("VANTAGE_SMTP_URL: smtps:// is already TLS; drop ?starttls=true")
    return SMTPConfig(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=scheme == "smtps",
        starttls=starttls,
    )


def _flag(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name)
    if not values:
        return False
    value = values[-1].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"VANTAGE_SMTP_URL: {name} must be true or false, not {values[-1]!r}")


class SMTPSender:
    """One SMTP conversation per message (stdlib smtplib, in a thread).

    TLS certificates are verified against the system's trust store unless the caller gives
    its own context (the tests trust a throwaway CA that way).
    """

    def __init__(
        self,
        config: SMTPConfig,
        *,
        timeout: float = SMTP_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        config = self.config
        client: smtplib.SMTP
        if config.implicit_tls:
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if config.starttls:
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if config.username is not None:
                client.login(config.username, config.password or "")
            try:
                client.send_message(message)
            except smtplib.SMTPRecipientsRefused as error:
                codes = [code for code, _ in error.recipients.values()]
                if all(code >= 500 for code in codes):
                    raise PermanentFailure(f"recipient refused: {error.recipients}") from error
                raise
            except smtplib.SMTPDataError as error:
                if error.smtp_code >= 500:
                    raise PermanentFailure(f"message refused: {error}") from error
                raise


# --- a folder of .eml files ---------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class MailDirSender:
    """Writes each message as `<UTC time>-<email id>.eml`, so `ls` lists them in sending order.

    The file appears whole or not at all: written under a hidden temporary name, then renamed.
    """

    def __init__(self, directory: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.directory = directory
        self.clock = clock

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def file_name(self, message: EmailMessage) -> str:
        stamp = self.clock().strftime("%Y%m%dT%H%M%S.%fZ")
        # The Message-ID is `<email id@domain>`; its left part names the file.
        message_id = str(message.get("Message-ID", "")).strip("<> ")
        label = _UNSAFE.sub("_", message_id.split("@", 1)[0])[:64] or "message"
        return f"{stamp}-{label}.eml"

    def _write(self, message: EmailMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / self.file_name(message)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(message.as_bytes())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target


def sender_from_settings(settings: Settings) -> Sender:
    """SMTP when `VANTAGE_SMTP_URL` is set, otherwise `.eml` files in `VANTAGE_MAIL_DIR`."""
    if settings.smtp_url:
        config = parse_smtp_url(settings.smtp_url)
        if config.username is not None and not config.uses_tls and not _is_loopback(config.host):
            log.warning(
                "SMTP credentials would cross the network unencrypted; "
                "use smtps:// or ?starttls=true"
            )
        return SMTPSender(config)
    return MailDirSender(settings.mail_dir)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
