"""Portal decisions shared by the API and the portal pages: invitations, resets, logins, and
ending access. Everything runs in the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.activity import service as activity
from vantage_contacts.auth.subject import Actor, Subject, Tenant
from vantage_contacts.clients import repository as clients_repository
from vantage_contacts.contacts import repository as contacts_repository
from vantage_contacts.contacts.schemas import to_wire
from vantage_contacts.email import outbox
from vantage_contacts.errors import Conflict, ValidationFailed
from vantage_contacts.events import service as events
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.models import contacts, portal_reset_requests
from vantage_contacts.portal import passwords, sessions, tokens

log = logging.getLogger("vantage_contacts.portal")
# At most this many contacts (in different workspaces) share one login address.
MAX_LOGIN_CANDIDATES = 5


def require_email(contact: Mapping[Any, Any], action: str) -> str:
    email = contact["email"]
    if not email:
        raise ValidationFailed.one(
            "email", f"The contact has no email address to {action}.", "email_required"
        )
    return str(email)


async def invite(
    conn: AsyncConnection, tenant: Tenant, actor: Actor, contact: Mapping[Any, Any], public_url: str
) -> None:
    """Queue the invitation email with a fresh single-use link (valid 7 days)."""
    email = require_email(contact, "send an invitation to")
    token = await tokens.issue(conn, tenant, contact["id"], "invitation")
    client = await clients_repository.get(conn, tenant, contact["client_id"])
    await outbox.enqueue(
        conn,
        tenant,
        to=email,
        template="invitation",
        context={
            "contact_name": contact["name"],
            "client_name": client["name"] if client is not None else "",
            "access_level": contact["portal_access"],
        },
        contact_id=contact["id"],
        secret_link=f"{public_url}/portal/invitations/{token}",
    )
    await activity.record(
        conn, tenant, actor, contact["id"], "invitation_sent", {"email": (None, email)}
    )


async def send_reset(
    conn: AsyncConnection, tenant: Tenant, actor: Actor, contact: Mapping[Any, Any], public_url: str
) -> None:
    """Queue a password-reset email with a fresh single-use link (valid 1 hour)."""
    email = require_email(contact, "send a password reset to")
    token = await tokens.issue(conn, tenant, contact["id"], "reset")
    await outbox.enqueue(
        conn,
        tenant,
        to=email,
        template="password_reset",
        context={"contact_name": contact["name"]},
        contact_id=contact["id"],
        secret_link=f"{public_url}/portal/password/reset/{token}",
    )
    await activity.record(
        conn, tenant, actor, contact["id"], "password_reset_sent", {"email": (None, email)}
    )


async def end_access(conn: AsyncConnection, tenant: Tenant, contact_id: str) -> None:
    """Every session ends and every outstanding link stops working, at once."""
    await sessions.end_all_for(conn, tenant, contact_id)
    await tokens.revoke(conn, tenant, contact_id)


async def reset_password(
    conn: AsyncConnection, subject: Subject, contact: RowMapping, public_url: str
) -> tuple[dict[str, Any], int]:
    """`POST /portal/reset-password`: only for contacts with portal access (409 otherwise)."""
    if contact["portal_access"] == "none":
        raise Conflict("The contact has no portal access.", field="portal_access")
    await send_reset(conn, subject.tenant, subject.actor, contact, public_url)
    values = {
        "portal_password_reset_sent_at": utcnow(),
        "version": contact["version"] + 1,
        "updated_at": utcnow(),
    }
    await contacts_repository.update_contact(conn, subject.tenant, contact["id"], values)
    data = to_wire({**contact, **values})
    await events.record(
        conn, subject.tenant, "contact.updated", data, changed_fields=["password_reset_sent_at"]
    )
    return data, values["version"]


# --- the portal's own side ------------------------------------------------------------------------


async def login_candidates(conn: AsyncConnection, email_key: str) -> list[RowMapping]:
    """Contacts that may log in with this address, in any workspace (login comes before one)."""
    rows = await conn.execute(
        select(contacts)
        .where(
            contacts.c.email_key == email_key,
            contacts.c.deleted_at.is_(None),
            contacts.c.portal_access != "none",
            contacts.c.portal_password_hash.is_not(None),
        )
        .order_by(contacts.c.created_at)
        .limit(MAX_LOGIN_CANDIDATES)
    )
    return list(rows.mappings())


def match_password(candidates: list[RowMapping], password: str) -> RowMapping | None:
    """The candidate whose password matches; one Argon2 verification even with no candidate."""
    if not candidates:
        passwords.verify(None, password)
        return None
    for contact in candidates:
        if passwords.verify(contact["portal_password_hash"], password):
            return contact
    return None


async def record_login(conn: AsyncConnection, contact: RowMapping) -> None:
    """`portal.last_login_at`, an activity entry and `contact.portal_login`."""
    tenant = Tenant(contact["workspace_id"], contact["mode"])
    now = utcnow()
    values = {"portal_last_login_at": now, "version": contact["version"] + 1}
    await contacts_repository.update_contact(conn, tenant, contact["id"], values)
    actor = Actor("portal", contact["id"])
    await activity.record(conn, tenant, actor, contact["id"], "portal_login")
    await events.record(conn, tenant, "contact.portal_login", to_wire({**contact, **values}))


async def set_password(
    conn: AsyncConnection, tenant: Tenant, contact_id: str, password: str
) -> None:
    """A new password; every existing session of the contact ends."""
    await conn.execute(
        update(contacts)
        .where(
            contacts.c.workspace_id == tenant.workspace_id,
            contacts.c.mode == tenant.mode,
            contacts.c.id == contact_id,
        )
        .values(portal_password_hash=passwords.hash_password(password))
    )
    await sessions.end_all_for(conn, tenant, contact_id)
    await activity.record(conn, tenant, Actor("portal", contact_id), contact_id, "password_set")


async def process_reset_requests(conn: AsyncConnection, public_url: str, limit: int = 50) -> int:
    """Send reset links for pending "forgot password" requests; how many requests were handled."""
    pending = list(
        (
            await conn.execute(
                select(portal_reset_requests)
                .where(portal_reset_requests.c.processed_at.is_(None))
                .order_by(portal_reset_requests.c.requested_at)
                .limit(limit)
            )
        ).mappings()
    )
    for request in pending:
        rows = await conn.execute(
            select(contacts)
            .where(
                contacts.c.email_key == request["email_key"],
                contacts.c.deleted_at.is_(None),
                contacts.c.portal_access != "none",
            )
            .limit(MAX_LOGIN_CANDIDATES)
        )
        for contact in rows.mappings():
            tenant = Tenant(contact["workspace_id"], contact["mode"])
            subject = Subject(tenant, Actor("portal", contact["id"]))
            try:
                # One contact's failure must not hold back everyone else's reset.
                async with conn.begin_nested():
                    await reset_password(conn, subject, contact, public_url)
            except Exception:
                log.exception("password reset for %s failed", contact["id"])
        await conn.execute(
            update(portal_reset_requests)
            .where(portal_reset_requests.c.id == request["id"])
            .values(processed_at=utcnow())
        )
    return len(pending)
