"""Argon2id password hashes and the password rules (ASVS V2.1: long, uncommon, not the email)."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for Argon2id: 19 MiB of memory, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
# Verified when no account matches, so a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")

MIN_LENGTH = 12
MAX_LENGTH = 128
_COMMON = frozenset(
    {
        "123456789012",
        "password1234",
        "passwordpassword",
        "qwertyuiopas",
        "111111111111",
        "letmeinletmein",
        "iloveyou1234",
        "administrator",
        "welcome12345",
        "changeme1234",
    }
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends one Argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def problems(password: str, confirm: str, email: str | None) -> list[str]:
    """What is wrong with a new password, in words for the person choosing it."""
    found = []
    if password != confirm:
        found.append("The two passwords are not the same.")
    if len(password) < MIN_LENGTH:
        found.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        found.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _COMMON or len(set(lowered)) < 4:
        found.append("This password is too easy to guess.")
    local = (email or "").split("@")[0].lower()
    if len(local) >= 4 and local in lowered:
        found.append("Do not use your email address in your password.")
    return found
