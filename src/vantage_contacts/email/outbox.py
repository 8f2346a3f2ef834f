"""Queue an email in the caller's transaction; the worker renders and sends it after commit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.scoping import tenant_values
from vantage_contacts.models import emails


async def enqueue(
    conn: AsyncConnection,
    tenant: Tenant,
    *,
    to: str,
    template: str,
    context: Mapping[str, Any],
    contact_id: str | None = None,
    secret_link: str | None = None,
) -> str:
    """Queue `template` for `to`. `secret_link` (a one-time link) is cleared once sent."""
    email_id = new_id("eml")
    now = utcnow()
    await conn.execute(
        insert(emails).values(
            **tenant_values(tenant),
            id=email_id,
            contact_id=contact_id,
            to_address=to,
            template=template,
            context=dict(context),
            secret_link=secret_link,
            status="pending",
            attempt_count=0,
            next_attempt_at=now,
            lease_until=None,
            last_error=None,
            sent_at=None,
            created_at=now,
            updated_at=now,
        )
    )
    return email_id
