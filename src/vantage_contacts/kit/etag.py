"""ETags from a row's version number, and the If-Match check (412 when stale)."""

from __future__ import annotations

from vantage_contacts.errors import PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """Pass when If-Match is absent, `*`, or lists the current ETag (weak or strong)."""
    if if_match is None:
        return
    current = etag(version)
    candidates = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" in candidates or current in candidates:
        return
    raise PreconditionFailed(
        f"The contact has changed: its ETag is now {current}.", extra={"etag": current}
    )
