"""Portal browser sessions: an opaque cookie whose SHA-256 finds the row.

Every visitor has a session (it carries the CSRF token of the forms); logging in replaces it
with a new one bound to the contact, so a session id known before login is useless after it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.models import portal_sessions

COOKIE = "vantage_portal"
ANONYMOUS_LIFETIME = timedelta(hours=2)
LOGGED_IN_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class PortalSession:
    id: str
    token: str  # the cookie value; only set on a session created in this request
    csrf_token: str
    tenant: Tenant | None
    contact_id: str | None

    @property
    def logged_in(self) -> bool:
        return self.contact_id is not None and self.tenant is not None

    def csrf_ok(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(self.csrf_token, submitted)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def load(conn: AsyncConnection, token: str | None) -> PortalSession | None:
    if not token or len(token) > 100:
        return None
    row = (
        (
            await conn.execute(
                select(portal_sessions).where(portal_sessions.c.token_hash == _hash(token))
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["expires_at"] <= utcnow():
        return None
    tenant = Tenant(row["workspace_id"], row["mode"]) if row["workspace_id"] else None
    return PortalSession(row["id"], "", row["csrf_token"], tenant, row["contact_id"])


async def start(
    conn: AsyncConnection, tenant: Tenant | None = None, contact_id: str | None = None
) -> PortalSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = LOGGED_IN_LIFETIME if contact_id else ANONYMOUS_LIFETIME
    session_id = new_id("pss")
    await conn.execute(
        insert(portal_sessions).values(
            id=session_id,
            token_hash=_hash(token),
            csrf_token=csrf,
            workspace_id=tenant.workspace_id if tenant else None,
            mode=tenant.mode if tenant else None,
            contact_id=contact_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return PortalSession(session_id, token, csrf, tenant, contact_id)


async def end(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(delete(portal_sessions).where(portal_sessions.c.id == session_id))


async def end_all_for(conn: AsyncConnection, tenant: Tenant, contact_id: str) -> None:
    """Every session of the contact ends at once (access disabled, contact deleted, reset)."""
    await conn.execute(
        delete(portal_sessions).where(
            portal_sessions.c.workspace_id == tenant.workspace_id,
            portal_sessions.c.mode == tenant.mode,
            portal_sessions.c.contact_id == contact_id,
        )
    )


async def purge_expired(conn: AsyncConnection) -> None:
    await conn.execute(delete(portal_sessions).where(portal_sessions.c.expires_at <= utcnow()))
