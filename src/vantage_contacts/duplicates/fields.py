"""Emails and phone numbers in the form duplicate matching compares them in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

# Providers that deliver `first.last+tag@` to `firstlast@`: dots and tags are the same mailbox.
_DOT_BLIND = frozenset({"gmail.com"})
_ALIASES = {"googlemail.com": "gmail.com"}
# Providers that deliver `name+tag@` to `name@` (but where dots matter).
_PLUS_TAGS = frozenset(
    [
        "gmail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "hey.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
    ]
)
# Personal mailbox providers: a shared domain there says nothing about a shared employer.
FREEMAIL = frozenset(
    [
        "gmail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.com.au",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "qq.com",
        "163.com",
        "126.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "btinternet.com",
        "bigpond.com",
        "optusnet.com.au",
        "web.de",
        "hey.com",
        "fastmail.com",
        "fastmail.fm",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
    ]
)
# Role mailboxes: two contacts sharing `info@` are colleagues, not one person.
GENERIC_LOCALS = frozenset(
    [
        "info",
        "admin",
        "contact",
        "contacts",
        "sales",
        "office",
        "support",
        "hello",
        "hi",
        "mail",
        "billing",
        "accounts",
        "accounting",
        "hr",
        "team",
        "enquiries",
        "enquiry",
        "inquiries",
        "inquiry",
        "noreply",
        "no-reply",
        "marketing",
        "help",
        "finance",
        "reception",
        "webmaster",
        "service",
        "services",
        "orders",
        "invoices",
        "invoice",
        "jobs",
        "careers",
        "press",
        "media",
        "customerservice",
        "ops",
        "operations",
        "it",
        "legal",
        "payroll",
        "studio",
        "general",
    ]
)
_EXTENSION = re.compile(r"(?i)\s*(?:ext\.?|extension|x|#)\s*\d+\s*$")
_NON_DIGITS = re.compile(r"\D+")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_LOCAL_SEPARATORS = re.compile(r"[._-]+")


@dataclass(frozen=True, slots=True)
class EmailKeys:
    canonical: (
        str  # one mailbox, one form: `John.Smith+crm@GoogleMail.com` -> `johnsmith@gmail.com`
    )
    local: (
        str  # the local part without any `+tag` (and without dots where the provider ignores them)
    )
    domain: str  # canonical domain
    untagged: str  # the local part as written (folded) without any `+tag`
    generic: bool  # a role mailbox such as `info@`
    freemail: bool


@lru_cache(maxsize=200_000)
def email_keys(email: str) -> EmailKeys | None:
    """Normal forms of an email; a `+tag` is ignored for every domain in `local` (most mail
    servers deliver tags), but in `canonical` only for providers known to do so."""
    text = email.strip().casefold()
    written, at, domain = text.rpartition("@")
    if not at or not written or not domain:
        return None
    domain = _ALIASES.get(domain, domain)
    untagged = written.split("+", 1)[0] or written
    local = untagged.replace(".", "") if domain in _DOT_BLIND else untagged
    canonical_local = local if domain in _PLUS_TAGS else written
    return EmailKeys(
        canonical=f"{canonical_local}@{domain}",
        local=local,
        domain=domain,
        untagged=untagged,
        generic=untagged in GENERIC_LOCALS,
        freemail=domain in FREEMAIL,
    )


@lru_cache(maxsize=200_000)
def phone_key(text: str, region: str = "US") -> str | None:
    """E.164 form of a phone number, or its digits when it cannot be parsed; None if too short.

    The common forms are read without `phonenumbers` (which costs about 100 µs a number): an
    E.164 string as stored by the API, and ten-digit North American numbers.
    """
    text = _EXTENSION.sub("", text.strip())
    if _E164.fullmatch(text):
        return text
    digits = _NON_DIGITS.sub("", text)
    if len(digits) < 7:
        return None
    if text.startswith("+") and "(0)" not in text and len(digits) <= 15:
        return "+" + digits
    if region in ("US", "CA") and not text.startswith("+"):
        if len(digits) == 10 and digits[0] in "23456789":
            return "+1" + digits
        if len(digits) == 11 and digits[0] == "1":
            return "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_possible_number(number):
        return digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_block_key(text: str) -> str | None:
    """The last seven digits: the same for every way of writing one number (with or without a
    country code, trunk prefix or area code), and selective enough to block on."""
    digits = _NON_DIGITS.sub("", _EXTENSION.sub("", text))
    return f"p:{digits[-7:]}" if len(digits) >= 7 else None


def local_name_tokens(keys: EmailKeys) -> tuple[str, str] | None:
    """The name an address like `john.smith@` or `smith_john@` spells, as (first, second)."""
    parts = [p for p in _LOCAL_SEPARATORS.split(keys.untagged) if p]
    if len(parts) == 2 and all(p.isalpha() and len(p) > 1 for p in parts):
        return parts[0], parts[1]
    return None
