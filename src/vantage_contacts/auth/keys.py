"""API keys: `vnt_sk_live_…` / `vnt_sk_test_…`, stored only as a SHA-256 hash.

A key carries 43 characters (256 bits) of randomness, so a fast hash is as safe as a slow one
and keeps authentication off the hot path's CPU bill.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Mode, Tenant
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.models import api_keys, workspaces

KEY_PREFIX = "vnt_sk_"
# last_used_at is written at most this often per key, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(mode: Mode) -> str:
    return f"{KEY_PREFIX}{mode}_{secrets.token_urlsafe(32)}"


def looks_like_key(secret: str) -> bool:
    return secret.startswith((f"{KEY_PREFIX}live_", f"{KEY_PREFIX}test_")) and len(secret) < 200


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    tenant: Tenant
    last_used_stale: bool


async def ensure_workspace(conn: AsyncConnection, name: str) -> str:
    found = await conn.scalar(select(workspaces.c.id).where(workspaces.c.name == name))
    if found is not None:
        return str(found)
    workspace_id = new_id("ws")
    await conn.execute(insert(workspaces).values(id=workspace_id, name=name, created_at=utcnow()))
    return workspace_id


async def create_key(
    conn: AsyncConnection, workspace_id: str, mode: Mode, name: str
) -> tuple[str, str]:
    """A new key for the workspace: (key id, secret). The secret is never stored."""
    secret = new_secret(mode)
    key_id = new_id("key")
    await conn.execute(
        insert(api_keys).values(
            id=key_id,
            workspace_id=workspace_id,
            mode=mode,
            name=name,
            key_hash=hash_key(secret),
            key_hint=secret[: len(KEY_PREFIX) + len(mode) + 5] + "…",
            created_at=utcnow(),
        )
    )
    return key_id, secret


async def find_active(conn: AsyncConnection, secret: str) -> ApiKeyRecord | None:
    row = (
        await conn.execute(
            select(
                api_keys.c.id, api_keys.c.workspace_id, api_keys.c.mode, api_keys.c.last_used_at
            ).where(api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    stale = row.last_used_at is None or utcnow() - row.last_used_at > LAST_USED_RESOLUTION
    return ApiKeyRecord(row.id, Tenant(row.workspace_id, row.mode), stale)


async def touch(conn: AsyncConnection, key_id: str) -> None:
    await conn.execute(
        update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=utcnow())
    )


async def list_keys(conn: AsyncConnection, workspace_name: str | None) -> list[dict[str, object]]:
    query = (
        select(
            api_keys.c.id,
            workspaces.c.name.label("workspace"),
            api_keys.c.mode,
            api_keys.c.name,
            api_keys.c.key_hint,
            api_keys.c.created_at,
            api_keys.c.last_used_at,
            api_keys.c.revoked_at,
        )
        .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    if workspace_name is not None:
        query = query.where(workspaces.c.name == workspace_name)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def revoke(conn: AsyncConnection, key_id: str) -> bool:
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount == 1
