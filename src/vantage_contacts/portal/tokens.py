"""Single-use links: invitations (7 days) and password resets (1 hour). Only hashes are stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Literal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import portal_tokens

Purpose = Literal["invitation", "reset"]
LIFETIMES: dict[str, timedelta] = {
    "invitation": timedelta(days=7),
    "reset": timedelta(hours=1),
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(conn: AsyncConnection, tenant: Tenant, contact_id: str, purpose: Purpose) -> str:
    """A new token for the contact; earlier unused tokens of the same purpose stop working."""
    await revoke(conn, tenant, contact_id, purpose)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    await conn.execute(
        insert(portal_tokens).values(
            **tenant_values(tenant),
            id=new_id("ptk"),
            contact_id=contact_id,
            purpose=purpose,
            token_hash=token_hash(token),
            expires_at=now + LIFETIMES[purpose],
            used_at=None,
            created_at=now,
        )
    )
    return token


async def find_usable(conn: AsyncConnection, token: str, purpose: Purpose) -> RowMapping | None:
    """The unused, unexpired token row, or None."""
    if not token or len(token) > 100:
        return None
    row = (
        (
            await conn.execute(
                select(portal_tokens).where(
                    portal_tokens.c.token_hash == token_hash(token),
                    portal_tokens.c.purpose == purpose,
                    portal_tokens.c.used_at.is_(None),
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["expires_at"] <= utcnow():
        return None
    return row


async def consume(conn: AsyncConnection, token: str, purpose: Purpose) -> RowMapping | None:
    """Use the token once: the row if it was usable (it is marked used), None otherwise."""
    row = await find_usable(conn, token, purpose)
    if row is None:
        return None
    result = await conn.execute(
        update(portal_tokens)
        .where(
            portal_tokens.c.workspace_id == row["workspace_id"],
            portal_tokens.c.id == row["id"],
            portal_tokens.c.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return row if result.rowcount == 1 else None


async def revoke(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, purpose: Purpose | None = None
) -> None:
    where = [
        in_tenant(portal_tokens, tenant),
        portal_tokens.c.contact_id == contact_id,
        portal_tokens.c.used_at.is_(None),
    ]
    if purpose is not None:
        where.append(portal_tokens.c.purpose == purpose)
    await conn.execute(update(portal_tokens).where(*where).values(used_at=utcnow()))
