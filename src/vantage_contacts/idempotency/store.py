"""The idempotency records: claimed before the request runs, marked in the request's own
transaction, and given the response afterwards.

in_progress → committed → done. `committed` is written with the change itself, so a crash
between the change and storing its response can never make a retry act a second time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.db import Database
from vantage_contacts.errors import Conflict, IdempotencyKeyReused
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import idempotency_keys as keys_t

LIFETIME = timedelta(hours=24)
# A request still "in progress" after this long died before committing; a retry may take over.
LOCK = timedelta(minutes=5)


@dataclass(slots=True)
class Claim:
    tenant: Tenant
    key: str
    committed: bool = field(default=False)

    def _where(self) -> list[ColumnElement[bool]]:
        return [in_tenant(keys_t, self.tenant), keys_t.c.key == self.key]


@dataclass(frozen=True, slots=True)
class Stored:
    status_code: int
    headers: dict[str, str]
    body: bytes


def canonical(body: bytes) -> bytes:
    """A JSON body as what it means rather than how it was spelt: keys sorted, no spacing, so
    a retry whose JSON library orders keys differently still replays. The standard library
    keeps integers of any size exact; anything that is not JSON (or too deeply nested to
    rewrite) stays as sent, and the endpoint refuses it."""
    try:
        meaning = json.loads(body)
        return json.dumps(meaning, sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return body


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def begin(
    database: Database, tenant: Tenant, key: str, fingerprint: str, also: str | None = None
) -> Claim | Stored:
    """Claim the key for this request, or say what to answer instead. A stored hash equal to
    `also` is this request too (the hash an older version computed)."""
    try:
        return await _begin(database, tenant, key, fingerprint, also)
    except IntegrityError:
        # Another request inserted the same key a moment ago: it is the one in progress.
        return await _begin(database, tenant, key, fingerprint, also)


async def _begin(
    database: Database, tenant: Tenant, key: str, fingerprint: str, also: str | None
) -> Claim | Stored:
    claim = Claim(tenant, key)
    now = utcnow()
    async with database.write() as conn:
        row = (
            (await conn.execute(select(keys_t).where(*claim._where()).with_for_update()))
            .mappings()
            .first()
        )
        if row is not None and row["created_at"] + LIFETIME <= now:
            await conn.execute(delete(keys_t).where(*claim._where()))
            row = None
        if row is None:
            await conn.execute(
                insert(keys_t).values(
                    **tenant_values(tenant),
                    key=key,
                    request_hash=fingerprint,
                    status="in_progress",
                    created_at=now,
                    locked_until=now + LOCK,
                )
            )
            return claim
        if row["request_hash"] not in (fingerprint, also):
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request; use a new key.",
                field="Idempotency-Key",
            )
        if row["status"] == "done":
            return Stored(row["response_status"], row["response_headers"], row["response_body"])
        if row["locked_until"] is not None and row["locked_until"] > now:
            # In progress, or committed a moment ago with its answer still being stored.
            raise Conflict(
                "A request with this Idempotency-Key is still in progress; retry later.",
                field="Idempotency-Key",
            )
        if row["status"] == "committed":
            raise Conflict(
                "The first request with this Idempotency-Key completed, but its answer was not "
                "kept; read the object instead of retrying.",
                field="Idempotency-Key",
            )
        # The earlier request died before its change committed: take over.
        await conn.execute(update(keys_t).where(*claim._where()).values(locked_until=now + LOCK))
        return claim


async def mark_committed(conn: AsyncConnection, claim: Claim) -> None:
    """Run inside the request's write transaction, so the mark commits with the change."""
    if claim.committed:
        return
    await conn.execute(
        update(keys_t)
        .where(*claim._where(), keys_t.c.status == "in_progress")
        .values(status="committed")
    )
    claim.committed = True


async def finish(database: Database, claim: Claim, response: Stored) -> None:
    async with database.write() as conn:
        await conn.execute(
            update(keys_t)
            .where(*claim._where())
            .values(
                status="done",
                response_status=response.status_code,
                response_headers=response.headers,
                response_body=response.body,
                locked_until=None,
            )
        )


async def release(database: Database, claim: Claim) -> None:
    """The request failed before changing anything: the key may be used again."""
    async with database.write() as conn:
        await conn.execute(delete(keys_t).where(*claim._where(), keys_t.c.status == "in_progress"))


async def purge_expired(conn: AsyncConnection, limit: int = 1000) -> int:
    """Delete up to `limit` records past their lifetime (they can never replay again); how
    many. Batches keep each transaction short however long the backlog."""
    expired = (
        select(keys_t.c.workspace_id, keys_t.c.mode, keys_t.c.key)
        .where(keys_t.c.created_at <= utcnow() - LIFETIME)
        .limit(limit)
        # Every worker process sweeps: on PostgreSQL each takes rows the others do not hold,
        # rather than waiting on them (or deadlocking with them).
        .with_for_update(skip_locked=True)
    )
    columns = tuple_(keys_t.c.workspace_id, keys_t.c.mode, keys_t.c.key)
    result = await conn.execute(delete(keys_t).where(columns.in_(expired)))
    return int(result.rowcount or 0)
