"""The email check takes a shortcut for plain addresses: whatever the address, it must accept
and refuse exactly what email-validator accepts and refuses."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from vantage_contacts.kit.normalize import check_email

# Characters around the edges of every rule: dots, atext specials, quotes, spaces, non-ASCII,
# hyphens and underscores (invalid in domains), digits (numeric top-level domains).
LOCAL_CHARS = "aZ09.!#$%&'*+/=?^_`{|}~-\"() ,:;<>[]\\é\u00a0ü"
DOMAIN_CHARS = "az09.-_éü"
TLDS = ["com", "co", "c", "museum", "123", "local", "test", "invalid", "xn--p1ai", "рф", ""]
# Long domains, whose length in bytes (or once IDNA-decoded) differs from their length here.
LONG_DOMAINS = [
    ".".join(["é" * 20] * 5) + ".com",
    ".".join(["xn--9caaaaaaaaaaaaaaaaaaaa"] * 5) + ".com",
    ".".join(["b" * 40] * 4) + ".com",
]

PLAIN_CHARS = "aZ09.!#$%&'*+/=?^_`{|}~-"
locals_ = st.text(PLAIN_CHARS, min_size=0, max_size=70) | st.text(LOCAL_CHARS, max_size=70)
domains = st.builds(
    lambda label, tld: f"{label}.{tld}" if tld else label,
    st.text(DOMAIN_CHARS, min_size=0, max_size=20),
    st.sampled_from(TLDS),
) | st.sampled_from(LONG_DOMAINS)


def validator_accepts(email: str) -> bool:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def check_accepts(email: str) -> bool:
    try:
        check_email(email)
    except ValueError:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(local=locals_, domain=domains, at=st.sampled_from(["@", "@", "@@", ""]))
def test_check_email_agrees_with_email_validator(local: str, domain: str, at: str) -> None:
    email = f"{local}{at}{domain}"
    assert check_accepts(email) == validator_accepts(email.strip()), email


@pytest.mark.parametrize(
    "email",
    [
        "john@acme.com",
        "J.Smith+sales@Example.COM",
        "o'brien@example.ie",
        "a" * 64 + "@example.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 60 + ".com",
        "a..b@example.com",
        ".a@example.com",
        "a@example.test",
        "a@localhost",
        "a@x_y.com",
        "zoë@example.com",
        '"quoted"@example.com',
        *("a" * 64 + "@" + domain for domain in LONG_DOMAINS),
        *("a" * 20 + "@" + domain for domain in LONG_DOMAINS),
    ],
)
def test_check_email_agrees_on_edges(email: str) -> None:
    assert check_accepts(email) == validator_accepts(email)


def test_the_generator_reaches_both_verdicts_through_the_shortcut() -> None:
    """The property above would prove little if plain addresses were never accepted."""
    seen: set[bool] = set()

    @settings(max_examples=400, deadline=None, database=None)
    @given(local=st.text(PLAIN_CHARS, min_size=1, max_size=10), domain=domains)
    def collect(local: str, domain: str) -> None:
        seen.add(check_accepts(f"{local}@{domain}"))

    collect()
    assert seen == {True, False}
