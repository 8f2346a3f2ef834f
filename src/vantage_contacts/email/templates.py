"""Email templates: a subject, a plain-text part and an HTML part per template (Jinja2).

The HTML environment escapes every value, so a contact named `<script>` stays text; the
subject and the text part are not HTML and are not escaped. The one-time link is the only
secret a template ever receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from vantage_contacts.email.senders import mail_domain

# Every template there is; each has `<name>.subject.txt`, `<name>.txt` and `<name>.html`.
TEMPLATES = ("invitation", "password_reset")


class UnknownTemplate(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def _environment(autoescape: bool) -> Environment:
    return Environment(
        loader=PackageLoader("vantage_contacts", "templates/email"),
        autoescape=select_autoescape(["html"]) if autoescape else False,
        undefined=StrictUndefined,  # a missing value is an error, not a blank in the email
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_html = _environment(autoescape=True)
_plain = _environment(autoescape=False)


def render(template: str, context: Mapping[str, Any], link: str) -> Rendered:
    if template not in TEMPLATES:
        raise UnknownTemplate(template)
    values = {**context, "link": link}
    # One line whatever the names hold: a line break in a header would end it.
    subject = " ".join(_plain.get_template(f"{template}.subject.txt").render(values).split())
    return Rendered(
        subject=subject,
        text=_plain.get_template(f"{template}.txt").render(values),
        html=_html.get_template(f"{template}.html").render({**values, "subject": subject}),
    )


def build_message(
    rendered: Rendered, *, to: str, sender: str, message_id: str, date: datetime
) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred by capable readers."""
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    # Tell auto-responders and list software this is an automatic, one-to-one message.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def message_id(email_id: str, sender: str) -> str:
    """`<email id@sender's domain>`: the same on every retry, so a receiver can spot repeats."""
    return f"<{email_id}@{mail_domain(sender)}>"
