"""Normal forms used for uniqueness, matching and search: emails, phone numbers, names."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_NON_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")


def email_key(email: str) -> str:
    """The form two emails are compared in: trimmed and case-folded."""
    return email.strip().casefold()


def check_email(email: str) -> str:
    """The email as given (trimmed) when its syntax is valid; ValueError otherwise."""
    email = email.strip()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address: {error}") from None
    return email


def phone_e164(text: str, region: str) -> str:
    """E.164 form of a possible phone number; ValueError when the text cannot be one.

    A number that parses but is not assigned (such as +1 555 123 4567) is accepted: the seed
    uses one, and integrators store what their customers wrote.
    """
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def digits(text: str | None) -> str:
    return _NON_DIGITS.sub("", text or "")


def fold(text: str) -> str:
    """Lowercase, accents removed, white space collapsed: `Zoë  Ångström` -> `zoe angstrom`."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def search_blob(name: str, email: str | None, phones: list[str | None]) -> str:
    """What `search` looks in: the folded name and email, and every phone's digits.

    Fields are joined with a separator no search term can contain after folding, so a term
    never matches across two fields.
    """
    phone_digits = [digits(p) for p in phones if p]
    return "\x1f".join([fold(name), email_key(email or ""), *phone_digits])
