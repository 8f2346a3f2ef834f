"""All SQL about duplicates: blocking keys, scored pairs, checks to run, dismissed pairs."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Tenant
from vantage_contacts.kit.among import among, probe
from vantage_contacts.kit.bulk_insert import insert_records, insert_rows
from vantage_contacts.kit.driver import fetch_mappings, fetch_rows
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import (
    contacts,
    dismissed_pairs,
    duplicate_checks,
    duplicate_keys,
    duplicate_pairs,
)

MATCH_COLUMNS = (
    contacts.c.id,
    contacts.c.client_id,
    contacts.c.name,
    contacts.c.email,
    contacts.c.phone,
    contacts.c.mobile,
    contacts.c.phone_e164,
    contacts.c.mobile_e164,
)


KEY_COLUMNS = ("workspace_id", "mode", "contact_id", "key")

# SQLite takes at most 32,766 bound values a statement: long IN lists go in slices.
IN_SLICE = 5000


def _slices(values: Collection[str]) -> list[list[str]]:
    items = list(values)
    return [items[i : i + IN_SLICE] for i in range(0, len(items), IN_SLICE)]


def _upsert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def replace_keys(
    conn: AsyncConnection,
    tenant: Tenant,
    keys_by_contact: Mapping[str, Collection[str]],
    *,
    new: bool = False,
) -> None:
    """Store these contacts' keys in place of their old ones (`new` contacts have none)."""
    if not keys_by_contact:
        return
    if not new:
        # By the primary key's prefix (workspace, contact): `mode` here would steer the planner
        # onto the (workspace, mode, key) index and read every key of the workspace.
        await conn.execute(
            delete(duplicate_keys).where(
                duplicate_keys.c.workspace_id == tenant.workspace_id,
                duplicate_keys.c.contact_id.in_(list(keys_by_contact)),
            )
        )
    records = [
        (tenant.workspace_id, tenant.mode, contact_id, key)
        for contact_id, keys in keys_by_contact.items()
        for key in keys
    ]
    await insert_records(conn, duplicate_keys, KEY_COLUMNS, records)


async def stored_keys(
    conn: AsyncConnection, tenant: Tenant, contact_ids: Collection[str]
) -> dict[str, set[str]]:
    """The blocking keys stored for these contacts (read from the primary key alone)."""
    if not contact_ids:
        return {}
    query = select(duplicate_keys.c.contact_id, duplicate_keys.c.key).where(
        duplicate_keys.c.workspace_id == tenant.workspace_id
    )
    found: dict[str, set[str]] = {}
    for contact_id, key in await conn.execute(
        probe(conn, query, duplicate_keys.c.contact_id, contact_ids)
    ):
        found.setdefault(contact_id, set()).add(key)
    return found


async def queue_checks(
    conn: AsyncConnection,
    tenant: Tenant,
    contact_ids: Collection[str],
    now: datetime,
    *,
    new: bool = False,
) -> None:
    """Queue these contacts for the worker (`new` contacts cannot be queued already)."""
    if not contact_ids:
        return
    scope = tenant_values(tenant)
    rows = [{**scope, "contact_id": c, "queued_at": now} for c in contact_ids]
    if new:
        await insert_rows(conn, duplicate_checks, rows)
        return
    statement = _upsert(conn)(duplicate_checks).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "mode", "contact_id"],
        set_={"queued_at": statement.excluded.queued_at},
    )
    await conn.execute(statement)


async def forget(conn: AsyncConnection, tenant: Tenant, contact_ids: Collection[str]) -> None:
    """A contact that is gone (deleted, merged) has no keys, pairs or checks any more."""
    ids = list(contact_ids)
    for table, column in (
        (duplicate_keys, duplicate_keys.c.contact_id),
        (duplicate_checks, duplicate_checks.c.contact_id),
    ):
        await conn.execute(delete(table).where(in_tenant(table, tenant), column.in_(ids)))
    await delete_pairs(conn, tenant, ids)


async def delete_pairs(conn: AsyncConnection, tenant: Tenant, contact_ids: Sequence[str]) -> None:
    await conn.execute(
        delete(duplicate_pairs).where(
            in_tenant(duplicate_pairs, tenant),
            or_(
                duplicate_pairs.c.contact_a.in_(contact_ids),
                duplicate_pairs.c.contact_b.in_(contact_ids),
            ),
        )
    )


async def insert_pairs(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    # Rows as executemany parameters: the statement stays the same whatever their count, so it
    # is compiled once (a VALUES list of the rows was compiled anew for every batch).
    # In key order: two workers upserting some of the same pairs then lock them in one order.
    rows = sorted(rows, key=lambda row: (row["contact_a"], row["contact_b"]))
    statement = _upsert(conn)(duplicate_pairs)
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "mode", "contact_a", "contact_b"],
        set_={
            "confidence": statement.excluded.confidence,
            "match_reason": statement.excluded.match_reason,
            "reasons": statement.excluded.reasons,
        },
    )
    await conn.execute(statement, list(rows))


async def sharing_keys(
    conn: AsyncConnection, tenant: Tenant, keys: Collection[str], max_block: int
) -> tuple[dict[str, list[str]], set[str]]:
    """key → stored contacts holding it, for the given keys held by at most `max_block`
    contacts; and the keys held by more (a key held by thousands says too little to compare
    them all)."""
    if not keys:
        return {}, set()
    if conn.dialect.name == "postgresql":
        found = await _holders_by_key(conn, tenant, keys, max_block + 1)
        crowded = {key for key, holders in found.items() if len(holders) > max_block}
    else:
        counted = await conn.execute(
            select(duplicate_keys.c.key, func.count())
            .where(in_tenant(duplicate_keys, tenant), among(conn, duplicate_keys.c.key, keys))
            .group_by(duplicate_keys.c.key)
        )
        counts: dict[str, int] = {key: holders for key, holders in counted.all()}
        crowded = {key for key, holders in counts.items() if holders > max_block}
        rare = [key for key in counts if key not in crowded]
        found = await _holders_by_key(conn, tenant, rare, None) if rare else {}
    return {key: holders for key, holders in found.items() if key not in crowded}, crowded


async def _holders_by_key(
    conn: AsyncConnection, tenant: Tenant, keys: Collection[str], cap: int | None
) -> dict[str, list[str]]:
    """`cap` (PostgreSQL only): read at most this many holders of each key."""
    query = select(duplicate_keys.c.key, duplicate_keys.c.contact_id).where(
        in_tenant(duplicate_keys, tenant)
    )
    if cap is not None:
        query = query.limit(cap)
    found: dict[str, list[str]] = {}
    for key_text, contact_id in await fetch_rows(
        conn, probe(conn, query, duplicate_keys.c.key, keys)
    ):
        found.setdefault(key_text, []).append(contact_id)
    return found


async def live_contacts(
    conn: AsyncConnection, tenant: Tenant, contact_ids: Collection[str]
) -> list[Mapping[str, Any]]:
    if not contact_ids:
        return []
    # Only the primary key's columns go into the probe, the rest is checked on what it found:
    # with `mode` or `deleted_at` in the probe, PostgreSQL may probe the partial email index
    # instead, reading the whole workspace for each id.
    query = select(*MATCH_COLUMNS, contacts.c.mode, contacts.c.deleted_at).where(
        contacts.c.workspace_id == tenant.workspace_id
    )
    found = probe(conn, query, contacts.c.id, contact_ids)
    found = found.where(
        found.selected_columns.mode == tenant.mode, found.selected_columns.deleted_at.is_(None)
    )
    return await fetch_mappings(conn, found)  # many rows for the create-time guard and the scan


async def dismissed_for(
    conn: AsyncConnection, tenant: Tenant, contact_ids: Collection[str]
) -> set[tuple[str, str]]:
    """Dismissed pairs that involve any of these contacts."""
    found: set[tuple[str, str]] = set()
    for part in _slices(contact_ids):
        query = select(dismissed_pairs.c.contact_a, dismissed_pairs.c.contact_b).where(
            in_tenant(dismissed_pairs, tenant),
            or_(dismissed_pairs.c.contact_a.in_(part), dismissed_pairs.c.contact_b.in_(part)),
        )
        found.update((a, b) for a, b in (await conn.execute(query)).all())
    return found


async def dismiss(conn: AsyncConnection, tenant: Tenant, a: str, b: str, now: datetime) -> None:
    statement = _upsert(conn)(dismissed_pairs).values(
        **tenant_values(tenant), contact_a=a, contact_b=b, created_at=now
    )
    await conn.execute(statement.on_conflict_do_nothing())


async def scored_pairs(
    conn: AsyncConnection, tenant: Tenant, min_confidence: float, client_id: str | None
) -> list[tuple[str, str, float, str]]:
    """Stored pairs at or above `min_confidence`, not dismissed (and of one client's contacts,
    when asked). Both contacts are live: a delete or a merge removes the gone contact's pairs
    in its own transaction, so only the client filter needs the contacts table."""
    query = (
        select(
            duplicate_pairs.c.contact_a,
            duplicate_pairs.c.contact_b,
            duplicate_pairs.c.confidence,
            duplicate_pairs.c.match_reason,
        )
        .select_from(duplicate_pairs)
        .outerjoin(
            dismissed_pairs,
            and_(
                dismissed_pairs.c.workspace_id == duplicate_pairs.c.workspace_id,
                dismissed_pairs.c.mode == duplicate_pairs.c.mode,
                dismissed_pairs.c.contact_a == duplicate_pairs.c.contact_a,
                dismissed_pairs.c.contact_b == duplicate_pairs.c.contact_b,
            ),
        )
        .where(
            in_tenant(duplicate_pairs, tenant),
            duplicate_pairs.c.confidence >= min_confidence,
            dismissed_pairs.c.contact_a.is_(None),
        )
    )
    if client_id is not None:
        sides = {"a": duplicate_pairs.c.contact_a, "b": duplicate_pairs.c.contact_b}
        for side, column in sides.items():
            contact = contacts.alias(side)
            query = query.join(
                contact,
                and_(
                    contact.c.workspace_id == duplicate_pairs.c.workspace_id,
                    contact.c.id == column,
                    contact.c.client_id == client_id,
                ),
            )
    # Millions of rows in a large workspace: read through the driver, as plain tuples.
    return [(a, b, float(c), reason) for a, b, c, reason in await fetch_rows(conn, query)]


async def pair_reasons(
    conn: AsyncConnection, tenant: Tenant, pairs: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The field scores stored with these pairs."""
    if not pairs:
        return {}
    wanted = set(pairs)
    query = select(
        duplicate_pairs.c.contact_a, duplicate_pairs.c.contact_b, duplicate_pairs.c.reasons
    ).where(in_tenant(duplicate_pairs, tenant))
    found = probe(conn, query, duplicate_pairs.c.contact_a, {a for a, _ in wanted})
    return {(a, b): reasons for a, b, reasons in await conn.execute(found) if (a, b) in wanted}


async def pending_checks(conn: AsyncConnection, tenant: Tenant) -> int:
    query = (
        select(func.count())
        .select_from(duplicate_checks)
        .where(in_tenant(duplicate_checks, tenant))
    )
    return int(await conn.scalar(query) or 0)


async def queued_among(
    conn: AsyncConnection, tenant: Tenant, contact_ids: Collection[str]
) -> set[str]:
    """Which of these contacts are waiting for their own check. Index probes: with thousands
    of ids PostgreSQL would otherwise read the whole queue (in parallel) for each batch.

    A check another worker has taken (its row locked) does not count: that worker may have
    scored its pairs already, and seeing this batch's contacts queued, skipped them too. So
    such a pair is scored here; scored twice at worst, never by neither."""
    if not contact_ids:
        return set()
    query = select(duplicate_checks.c.contact_id).where(in_tenant(duplicate_checks, tenant))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True, key_share=True, skip_locked=True)
    found = await conn.scalars(probe(conn, query, duplicate_checks.c.contact_id, contact_ids))
    return {str(c) for c in found}


async def take_checks(conn: AsyncConnection, limit: int) -> list[RowMapping]:
    """The oldest queued checks, any tenant (the worker's queue)."""
    query = select(duplicate_checks).order_by(duplicate_checks.c.queued_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await conn.execute(query)).mappings())


async def done_checks(
    conn: AsyncConnection, tenant: Tenant, checks: Sequence[Mapping[Any, Any]]
) -> None:
    """Remove this tenant's checks that were not queued again meanwhile (one statement)."""
    if not checks:
        return
    done = [(check["contact_id"], check["queued_at"]) for check in checks]
    # The primary key's columns first, so the rows are found by index whatever the statistics
    # say; the (contact, queued_at) match is then checked on those rows.
    await conn.execute(
        delete(duplicate_checks).where(
            in_tenant(duplicate_checks, tenant),
            among(conn, duplicate_checks.c.contact_id, [contact_id for contact_id, _ in done]),
            tuple_(duplicate_checks.c.contact_id, duplicate_checks.c.queued_at).in_(done),
        )
    )
