"""Normal forms used for uniqueness, matching and search: emails, phone numbers, names."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_NON_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")


def email_key(email: str) -> str:
    """The form two emails are compared in: trimmed and case-folded."""
    return email.strip().casefold()


# A plain ASCII local part (RFC 5322 dot-atom) that email-validator always accepts, and the
# address lengths it allows (RFC 5321: 64 for the local part, 254 in all).
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
LOCAL_MAX, ADDRESS_MAX = 64, 254


def check_email(email: str) -> str:
    """The email as given (trimmed) when its syntax is valid; ValueError otherwise.

    email-validator decides. Its domain checks (IDNA, special-use names) are most of its time
    and depend on the domain alone, and a batch of contacts shares a few domains: an address
    with a plain local part is checked as its domain's verdict, kept per domain; any other
    address is given to email-validator whole.
    """
    email = email.strip()
    local, at, domain = email.rpartition("@")
    # ASCII with no IDNA label, so the length email-validator checks (in bytes, of the address
    # as given and normalised) is the length here.
    plain = (
        at
        and email.isascii()
        and "xn--" not in domain.casefold()
        and len(local) <= LOCAL_MAX
        and len(email) <= ADDRESS_MAX
        and _PLAIN_LOCAL.fullmatch(local) is not None
    )
    problem = _domain_problem(domain) if plain else _address_problem(email)
    if problem is not None:
        raise ValueError(f"not a valid email address: {problem}")
    return email


@lru_cache(maxsize=4096)
def _domain_problem(domain: str) -> str | None:
    return _address_problem(f"x@{domain}")


def _address_problem(email: str) -> str | None:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


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
