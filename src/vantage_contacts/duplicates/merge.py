"""Merging two contacts (previewable and undoable), in one transaction.

The path contact survives: its non-empty values win, its empty ones are filled from the other,
role and communication flags are OR-ed, the higher portal level is kept, notes are joined.
Tickets, activity and queued emails move to the survivor. The merge is recorded with both
contacts' prior state, the references moved and the client's previous primary contact if the
survivor took its flag, so it can be undone while none of them changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.activity import service as activity
from vantage_contacts.auth.subject import Subject, Tenant
from vantage_contacts.contacts import repository as contacts_repository
from vantage_contacts.contacts import service as contacts
from vantage_contacts.contacts.schemas import to_wire
from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.errors import Conflict, NotFound, ValidationFailed
from vantage_contacts.events import service as events
from vantage_contacts.kit.clock import rfc3339, utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import activity as activity_t
from vantage_contacts.models import contacts as contacts_t
from vantage_contacts.models import emails, merges, tickets
from vantage_contacts.portal import service as portal

TEXT_FIELDS = ("name", "email", "phone", "mobile", "title", "department")
FLAG_FIELDS = (
    "is_primary",
    "is_billing",
    "is_technical",
    "receives_invoices",
    "receives_reports",
    "receives_project_updates",
)
LEVELS = {"none": 0, "view": 1, "full": 2}
NOTES_SEPARATOR = "\n\n---\n"
# The fields an integrator set; undo compares these to say what changed since.
COMPARED = (*TEXT_FIELDS, *FLAG_FIELDS, "client_id", "portal_access", "notes")
BOOKKEEPING = ("version", "updated_at")


# --- snapshots of rows (JSON-safe, reversible) ------------------------------------------------


def snapshot(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        column.name: (
            row[column.name].isoformat()
            if isinstance(row[column.name], datetime)
            else row[column.name]
        )
        for column in contacts_t.columns
    }


def restore(saved: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(saved)
    for column in contacts_t.columns:
        if column.name.endswith("_at") and isinstance(values.get(column.name), str):
            values[column.name] = datetime.fromisoformat(values[column.name])
    return values


# --- deciding the survivor's values -------------------------------------------------------------


def plan(
    survivor: Mapping[Any, Any], other: Mapping[Any, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The survivor's new values and, per field, what happened: kept, taken, combined, conflict."""
    values: dict[str, Any] = {}
    report: list[dict[str, Any]] = []

    def note(field: str, outcome: str, result: Any) -> None:
        report.append(
            {
                "field": field,
                "outcome": outcome,
                "survivor_value": survivor[field],
                "merged_value": other[field],
                "result": result,
            }
        )

    for field in TEXT_FIELDS:
        mine, theirs = survivor[field], other[field]
        if mine:
            outcome = "conflict" if theirs and theirs != mine else "kept"
            note(field, outcome, mine)
        elif theirs:
            values[field] = theirs
            note(field, "taken", theirs)
    for field in FLAG_FIELDS:
        result = bool(survivor[field] or other[field])
        if result != survivor[field]:
            values[field] = result
            note(field, "taken", result)
    if LEVELS[other["portal_access"]] > LEVELS[survivor["portal_access"]]:
        values["portal_access"] = other["portal_access"]
        note("portal_access", "taken", other["portal_access"])
    mine_notes, their_notes = survivor["notes"], other["notes"]
    if their_notes and their_notes != mine_notes:
        joined = f"{mine_notes}{NOTES_SEPARATOR}{their_notes}" if mine_notes else their_notes
        values["notes"] = joined[:10_000]
        note("notes", "combined" if mine_notes else "taken", values["notes"])
    if survivor["portal_password_hash"] is None and other["portal_password_hash"] is not None:
        values["portal_password_hash"] = other["portal_password_hash"]
    if other["portal_last_login_at"] and (
        survivor["portal_last_login_at"] is None
        or other["portal_last_login_at"] > survivor["portal_last_login_at"]
    ):
        values["portal_last_login_at"] = other["portal_last_login_at"]
    return values, report


async def _pair(
    conn: AsyncConnection, tenant: Tenant, survivor_id: str, merged_id: str
) -> tuple[RowMapping, RowMapping]:
    if survivor_id == merged_id:
        raise ValidationFailed.one(
            "merge_contact_id", "A contact cannot be merged with itself.", "same_contact"
        )
    survivor = contacts.visible(
        await contacts_repository.get(conn, tenant, survivor_id, for_update=True), survivor_id
    )
    other = contacts.visible(
        await contacts_repository.get(conn, tenant, merged_id, for_update=True), merged_id
    )
    return survivor, other


async def preview(
    conn: AsyncConnection, tenant: Tenant, survivor_id: str, merged_id: str
) -> dict[str, Any]:
    survivor, other = await _pair(conn, tenant, survivor_id, merged_id)
    values, report = plan(survivor, other)
    moved = await _references(conn, tenant, merged_id)
    return {
        "data": to_wire({**survivor, **values}),
        "fields": report,
        "moves": {kind: len(ids) for kind, ids in moved.items()},
    }


async def _references(
    conn: AsyncConnection, tenant: Tenant, contact_id: str
) -> dict[str, list[str]]:
    found = {}
    for kind, table in (("tickets", tickets), ("activity", activity_t), ("emails", emails)):
        query = select(table.c.id).where(in_tenant(table, tenant), table.c.contact_id == contact_id)
        found[kind] = [str(i) for i in await conn.scalars(query)]
    return found


_REFERENCE_TABLES = {"tickets": tickets, "activity": activity_t, "emails": emails}
# The record's `moved` also keeps, under this key, the contact that lost the primary flag to the
# survivor, as the merge left it: in the JSON, so no migration is needed, and records from before
# (without it) undo as they always did.
DEMOTED = "demoted_primary"


async def _move(
    conn: AsyncConnection, tenant: Tenant, moved: Mapping[str, Any], to_contact: str
) -> None:
    for kind, table in _REFERENCE_TABLES.items():
        ids = moved.get(kind)
        if ids:
            await conn.execute(
                update(table)
                .where(in_tenant(table, tenant), table.c.id.in_(ids))
                .values(contact_id=to_contact)
            )


async def merge(
    conn: AsyncConnection, subject: Subject, survivor_id: str, merged_id: str, region: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge `merged_id` into `survivor_id`; returns the survivor and the merge record."""
    tenant, actor = subject.tenant, subject.actor
    survivor, other = await _pair(conn, tenant, survivor_id, merged_id)
    values, report = plan(survivor, other)
    now = utcnow()
    moved = await _references(conn, tenant, merged_id)

    # The merged contact goes first, so its email and primary flag are free for the survivor.
    gone = {
        "deleted_at": now,
        "merged_into": survivor_id,
        "portal_access": "none",
        "is_primary": False,
        "version": other["version"] + 1,
        "updated_at": now,
    }
    await contacts_repository.update_contact(conn, tenant, merged_id, gone)
    await portal.end_access(conn, tenant, merged_id)
    await _move(conn, tenant, moved, survivor_id)
    if moved["tickets"]:
        await conn.execute(
            update(tickets)
            .where(in_tenant(tickets, tenant), tickets.c.id.in_(moved["tickets"]))
            .values(contact_name=values.get("name", survivor["name"]))
        )
    # The merged contact's dismissed pairs stay: harmless while it is gone, and in force again
    # if the merge is undone.
    await duplicates.on_removed(conn, tenant, [merged_id])

    demoted = None
    if values:
        if values.get("is_primary") and not survivor["is_primary"]:
            demoted = await contacts.demote_other_primary(
                conn, subject, survivor["client_id"], survivor_id
            )
        normal = contacts.derived({**survivor, **values}, region)
        values |= normal | {"version": survivor["version"] + 1, "updated_at": now}
        await contacts_repository.update_contact(conn, tenant, survivor_id, values)
    after = {**survivor, **values}
    await duplicates.on_written(conn, tenant, [after])
    survivor_wire = to_wire(after)

    record = {
        "id": new_id("mrg"),
        "survivor_id": survivor_id,
        "merged_id": merged_id,
        "survivor_before": snapshot(survivor),
        "merged_before": snapshot(other),
        "survivor_after": snapshot(after),
        "merged_after_version": gone["version"],
        "moved": moved if demoted is None else {**moved, DEMOTED: snapshot(demoted)},
        "actor_type": actor.type,
        "actor_id": actor.id,
        "created_at": now,
        "undone_at": None,
    }
    await conn.execute(insert(merges).values(**tenant_values(tenant), **record))

    changes = {
        entry["field"]: (entry["survivor_value"], entry["result"])
        for entry in report
        if entry["outcome"] in ("taken", "combined")
    }
    portal_entries, portal_events = _portal_change(
        survivor_wire, survivor["portal_access"], after["portal_access"]
    )
    deleted = {**to_wire({**other, **gone}), "deleted": True, "merged_into": survivor_id}
    # The merged contact's portal access ends, as a delete's does.
    gone_entries, gone_events = _portal_change(deleted, other["portal_access"], "none")
    await activity.record_many(
        conn,
        tenant,
        actor,
        [
            (survivor_id, "merged", {"merged_contact_id": (None, merged_id), **changes}),
            *portal_entries,
            (merged_id, "merged", {"merged_into": (None, survivor_id)}),
            *gone_entries,
        ],
    )
    merged_event = {**survivor_wire, "merged_contact_id": merged_id, "merge_id": record["id"]}
    await events.record_many(
        conn,
        tenant,
        [
            events.NewEvent("contact.updated", survivor_wire, changed_fields=changes),
            *portal_events,
            *gone_events,
            events.NewEvent("contact.deleted", deleted),
            events.NewEvent("contact.merged", merged_event),
        ],
    )
    return survivor_wire, merge_wire({**record, **tenant_values(tenant)})


def _portal_change(
    contact: Mapping[str, Any], old: str, new: str
) -> tuple[list[tuple[str, str, Any]], list[events.NewEvent]]:
    """The activity entry and event a contact update writes for this change of portal access
    (contacts.service decides their kinds), for the batched writes of a merge or its undo."""
    if old == new:
        return [], []
    entry = (contact["id"], contacts.portal_action(old, new), {"portal_access": (old, new)})
    event_type = contacts.portal_event(old, new)
    return [entry], [] if event_type is None else [events.NewEvent(event_type, contact)]


def merge_wire(record: Mapping[Any, Any]) -> dict[str, Any]:
    moved = record["moved"]
    return {
        "id": record["id"],
        "survivor_id": record["survivor_id"],
        "merged_id": record["merged_id"],
        "moved": {kind: len(moved[kind]) for kind in _REFERENCE_TABLES if kind in moved},
        "actor": {"type": record["actor_type"], "id": record["actor_id"]},
        "created_at": rfc3339(record["created_at"]),
        "undone_at": rfc3339(record["undone_at"]),
    }


# --- undo -----------------------------------------------------------------------------------------


async def get_record(
    conn: AsyncConnection, tenant: Tenant, merge_id: str, *, for_update: bool = False
) -> RowMapping:
    query = select(merges).where(in_tenant(merges, tenant), merges.c.id == merge_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFound("merge", merge_id)
    return row


def _first_change(current: Mapping[Any, Any], expected: Mapping[str, Any]) -> str | None:
    """The first column whose value differs (the integrator's fields first), or None. Version
    and updated_at say nothing here: undoing a later merge bumps them and restores the rest."""
    rest = [c.name for c in contacts_t.columns if c.name not in (*COMPARED, *BOOKKEEPING)]
    for field in (*COMPARED, *rest):
        if current[field] != expected[field]:
            return field
    return None


def _unchanged(current: RowMapping | None, expected: Mapping[str, Any], who: str) -> RowMapping:
    """The contact if it is as the merge left it; 409 naming the field (or `deleted`) if not."""
    if current is None or current["deleted_at"] is not None:
        raise Conflict(f"The {who} was deleted since the merge.", field="deleted")
    field = None if current["version"] == expected["version"] else _first_change(current, expected)
    if field is not None:
        raise Conflict(f"The {who} changed since the merge: its {field} differs.", field=field)
    return current


async def undo(conn: AsyncConnection, subject: Subject, merge_id: str) -> dict[str, Any]:
    """Restore both contacts, the primary flag of a contact the merge demoted, and move the
    references back, unless any of these contacts changed since."""
    tenant, actor = subject.tenant, subject.actor
    record = await get_record(conn, tenant, merge_id, for_update=True)
    if record["undone_at"] is not None:
        raise Conflict("This merge was undone already.")
    survivor = _unchanged(
        await contacts_repository.get(conn, tenant, record["survivor_id"], for_update=True),
        restore(record["survivor_after"]),
        "surviving contact",
    )
    merged = await contacts_repository.get(conn, tenant, record["merged_id"], for_update=True)
    demoted_after = record["moved"].get(DEMOTED)
    demoted = None
    if demoted_after is not None:
        demoted_id = demoted_after["id"]
        demoted = _unchanged(
            await contacts_repository.get(conn, tenant, demoted_id, for_update=True),
            restore(demoted_after),
            f"client's previous primary contact ('{demoted_id}')",
        )
    if merged is None or merged["version"] != record["merged_after_version"]:
        raise Conflict("The merged contact changed since the merge.", field="merged_contact_id")
    survivor_before = restore(record["survivor_before"])
    merged_before = restore(record["merged_before"])
    now = utcnow()
    if merged_before["email_key"]:
        owner = await contacts_repository.email_owner(
            conn, tenant, merged_before["email_key"], survivor["id"]
        )
        if owner is not None:
            raise Conflict(
                "Another contact now has the merged contact's email.",
                field="email",
                extra={"existing_id": owner},
            )
    if merged_before["is_primary"]:
        # The merged contact's client may have a new primary since (the survivor's own flag,
        # if it took this one, goes back below).
        primary = await contacts_repository.primary_of(
            conn, tenant, merged_before["client_id"], merged["id"]
        )
        if primary is not None and primary["id"] != survivor["id"]:
            raise Conflict(
                "Another contact is now the primary contact of the merged contact's client.",
                field="is_primary",
                extra={"existing_id": primary["id"]},
            )

    restored_survivor = {**survivor_before, "version": survivor["version"] + 1, "updated_at": now}
    restored_merged = {**merged_before, "version": merged["version"] + 1, "updated_at": now}
    for key in ("workspace_id", "mode", "id"):
        restored_survivor.pop(key, None)
        restored_merged.pop(key, None)
    # The survivor first gives back what it took (an email, the primary flag).
    await contacts_repository.update_contact(conn, tenant, survivor["id"], restored_survivor)
    await contacts_repository.update_contact(conn, tenant, merged["id"], restored_merged)
    promoted = None
    if demoted is not None:
        regained = {"is_primary": True, "version": demoted["version"] + 1, "updated_at": now}
        await contacts_repository.update_contact(conn, tenant, demoted["id"], regained)
        promoted = {**demoted, **regained}
    moved = record["moved"]
    await _move(conn, tenant, moved, merged["id"])
    if moved.get("tickets"):
        await conn.execute(
            update(tickets)
            .where(in_tenant(tickets, tenant), tickets.c.id.in_(moved["tickets"]))
            .values(contact_name=merged_before["name"])
        )
    await conn.execute(
        update(merges)
        .where(in_tenant(merges, tenant), merges.c.id == merge_id)
        .values(undone_at=now)
    )
    survivor_row = {**survivor, **restored_survivor}
    merged_row = {**merged, **restored_merged}
    survivor_wire, merged_wire = to_wire(survivor_row), to_wire(merged_row)
    portal_entries, portal_events = _portal_change(
        survivor_wire, survivor["portal_access"], survivor_row["portal_access"]
    )
    back_entries, back_events = _portal_change(
        merged_wire, merged["portal_access"], merged_row["portal_access"]
    )
    undone = {"merge_id": (None, merge_id)}
    await activity.record_many(
        conn,
        tenant,
        actor,
        [
            (survivor["id"], "merge_undone", undone),
            *portal_entries,
            (merged["id"], "merge_undone", undone),
            *back_entries,
        ],
    )
    await duplicates.on_written(conn, tenant, [survivor_row, merged_row])
    await events.record_many(
        conn,
        tenant,
        [
            events.NewEvent("contact.updated", survivor_wire),
            *portal_events,
            events.NewEvent("contact.updated", merged_wire),
            *back_events,
        ],
    )
    if promoted is not None:
        # After the survivor's update, so the events never show the client with two primaries.
        changes = {"is_primary": (False, True)}
        await contacts.record_changes(conn, tenant, actor, to_wire(promoted), changes)
    return merge_wire({**record, "undone_at": now})
