"""Decisions about contacts: defaults, normal forms, one primary per client, unique emails,
activity entries and events, all inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.activity import service as activity
from vantage_contacts.auth.subject import Actor, Subject, Tenant
from vantage_contacts.clients import repository as clients_repository
from vantage_contacts.config import Settings
from vantage_contacts.contacts import repository
from vantage_contacts.contacts.schemas import ContactCreate, ContactUpdate, to_wire
from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.errors import Conflict, ContactMerged, NotFound, ValidationFailed
from vantage_contacts.events import service as events
from vantage_contacts.kit.changes import diff
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.etag import check_if_match
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.normalize import email_key, fold, phone_e164, search_blob
from vantage_contacts.portal import service as portal
from vantage_contacts.tickets import repository as tickets_repository

ROLE_FIELDS = ("is_primary", "is_billing", "is_technical")
CREATE_FIELDS = tuple(ContactCreate.model_fields)
MATCHED_FIELDS = {"name", "email", "phone", "mobile"}  # what duplicate matching looks at
PHONE_FIELDS = {"phone": "phone_e164", "mobile": "mobile_e164"}


def derived(values: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The stored normal forms of a contact's values; 422 for text that is not a phone number."""
    out: dict[str, Any] = {
        "email_key": email_key(values["email"]) if values["email"] else None,
        "name_folded": fold(values["name"]),
    }
    errors = []
    for field, normal_field in PHONE_FIELDS.items():
        text = values[field]
        try:
            out[normal_field] = phone_e164(text, region) if text else None
        except ValueError as error:
            message = f"'{field}' is {error}."
            errors.append({"field": field, "code": "invalid_phone", "message": message})
    if errors:
        raise ValidationFailed(errors)
    # Both the written and the E.164 digits are searchable, so `+1 555 123 4567` finds a
    # number written `(555) 123-4567`, and the other way round.
    phones = [values["phone"], values["mobile"], out["phone_e164"], out["mobile_e164"]]
    out["search_text"] = search_blob(values["name"], values["email"], phones)
    return out


def visible(row: RowMapping | None, contact_id: str) -> RowMapping:
    """The row if the contact is live; 404 (or `contact_merged`) otherwise."""
    if row is None:
        raise NotFound("contact", contact_id)
    if row["merged_into"] is not None:
        raise ContactMerged(contact_id, row["merged_into"])
    if row["deleted_at"] is not None:
        raise NotFound("contact", contact_id)
    return row


async def require(conn: AsyncConnection, tenant: Tenant, contact_id: str) -> RowMapping:
    return visible(await repository.get(conn, tenant, contact_id), contact_id)


async def _require_client(conn: AsyncConnection, tenant: Tenant, client_id: str) -> None:
    # Locking the client row serialises concurrent primary changes within one client.
    if await clients_repository.get(conn, tenant, client_id, for_update=True) is None:
        raise NotFound("client", client_id)


async def _check_email_free(
    conn: AsyncConnection, tenant: Tenant, key: str | None, except_id: str | None = None
) -> None:
    if key is None:
        return
    await repository.lock_email(conn, tenant, key)
    owner = await repository.email_owner(conn, tenant, key, except_id)
    if owner is not None:
        raise Conflict(
            "Another contact already has this email address.",
            field="email",
            extra={"existing_id": owner},
        )


async def demote_other_primary(
    conn: AsyncConnection, subject: Subject, client_id: str, new_primary_id: str
) -> dict[str, Any] | None:
    """At most one primary per client: the previous one loses the flag, with its own event.
    Returns its row as demoted (a merge keeps it, so undo can give the flag back)."""
    previous = await repository.primary_of(conn, subject.tenant, client_id, new_primary_id)
    if previous is None:
        return None
    values = {"is_primary": False, "version": previous["version"] + 1, "updated_at": utcnow()}
    await repository.update_contact(conn, subject.tenant, previous["id"], values)
    demoted = {**previous, **values}
    changes = {"is_primary": (True, False)}
    await record_changes(conn, subject.tenant, subject.actor, to_wire(demoted), changes)
    return demoted


async def record_changes(
    conn: AsyncConnection,
    tenant: Tenant,
    actor: Actor,
    contact: dict[str, Any],
    changes: Mapping[str, tuple[Any, Any]],
) -> None:
    """Activity entries grouped by kind, `contact.updated`, and the portal events."""
    roles = {f: c for f, c in changes.items() if f in ROLE_FIELDS}
    portal = changes.get("portal_access")
    other = {f: c for f, c in changes.items() if f not in ROLE_FIELDS and f != "portal_access"}
    contact_id = contact["id"]
    if other:
        await activity.record(conn, tenant, actor, contact_id, "updated", other)
    if roles:
        await activity.record(conn, tenant, actor, contact_id, "roles_changed", roles)
    if portal is not None:
        await activity.record(
            conn, tenant, actor, contact_id, portal_action(*portal), {"portal_access": portal}
        )
    await events.record(conn, tenant, "contact.updated", contact, changed_fields=changes)
    portal_event_type = None if portal is None else portal_event(*portal)
    if portal_event_type is not None:
        await events.record(conn, tenant, portal_event_type, contact)


def portal_action(old: str, new: str) -> str:
    if old == "none":
        return "portal_enabled"
    if new == "none":
        return "portal_disabled"
    return "portal_level_changed"


def portal_event(old: str, new: str) -> str | None:
    """The event for a change of portal access: access given or taken away (a new level alone
    has none)."""
    if old == "none":
        return "contact.portal_enabled"
    if new == "none":
        return "contact.portal_disabled"
    return None


def prepare(body: ContactCreate, settings: Settings) -> dict[str, Any]:
    """The row for a new contact: create defaults and normal forms (422 for a bad phone)."""
    fields = body.model_dump()
    if fields["receives_invoices"] is None:
        fields["receives_invoices"] = fields["is_billing"]
    now = utcnow()
    invite = body.portal_access != "none" and body.email is not None
    return {
        **fields,
        **derived(fields, settings.default_phone_region),
        "id": new_id("con"),
        "portal_last_login_at": None,
        "portal_invitation_sent_at": now if invite else None,
        "portal_password_reset_sent_at": None,
        "portal_password_hash": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
        "merged_into": None,
    }


async def insert_prepared(
    conn: AsyncConnection, subject: Subject, rows: list[dict[str, Any]], settings: Settings
) -> list[dict[str, Any]]:
    """Insert checked rows with batched statements: the contacts, their activity and events.

    The caller has checked clients, emails, and that no two rows are primary for one client.
    Portal access given here sends the invitation when there is an email.
    """
    tenant = subject.tenant
    for row in rows:
        if row["is_primary"]:
            await demote_other_primary(conn, subject, row["client_id"], row["id"])
    await repository.insert_contacts(conn, tenant, rows)
    await duplicates.on_written(conn, tenant, rows, new=True)
    created = [to_wire(row) for row in rows]
    entries: list[tuple[str, str, Any]] = []
    new_events: list[events.NewEvent] = []
    for row, contact in zip(rows, created, strict=True):
        set_fields = {f: (None, row[f]) for f in CREATE_FIELDS if row[f] is not None}
        entries.append((row["id"], "created", set_fields))
        new_events.append(events.NewEvent("contact.created", contact))
        if row["portal_access"] != "none":
            entries.append(
                (row["id"], "portal_enabled", {"portal_access": ("none", row["portal_access"])})
            )
            new_events.append(events.NewEvent("contact.portal_enabled", contact))
    await activity.record_many(conn, tenant, subject.actor, entries)
    await events.record_many(conn, tenant, new_events)
    for row in rows:
        if row["portal_invitation_sent_at"] is not None:
            await portal.invite(conn, tenant, subject.actor, row, settings.public_url)
    return created


async def create(
    conn: AsyncConnection, subject: Subject, body: ContactCreate, settings: Settings
) -> tuple[dict[str, Any], int]:
    """A new contact (a batch of one: bulk create and import share `insert_prepared`)."""
    row = prepare(body, settings)
    await _require_client(conn, subject.tenant, body.client_id)
    await _check_email_free(conn, subject.tenant, row["email_key"])
    [contact] = await insert_prepared(conn, subject, [row], settings)
    return contact, 1


async def update(
    conn: AsyncConnection,
    subject: Subject,
    contact_id: str,
    body: ContactUpdate,
    if_match: str | None,
    settings: Settings,
    send_invitation: bool | None = None,
) -> tuple[dict[str, Any], int]:
    """A partial update. Portal access granted here sends the invitation (by default when the
    contact has an email; `send_invitation` decides for the portal endpoints); access taken
    away ends every portal session at once."""
    tenant = subject.tenant
    row = visible(await repository.get(conn, tenant, contact_id, for_update=True), contact_id)
    check_if_match(if_match, row["version"])
    changes = diff(row, body.model_dump(exclude_unset=True))
    merged = {**row, **{field: new for field, (_, new) in changes.items()}}
    portal_change = changes.get("portal_access")
    granted = portal_change is not None and portal_change[0] == "none"
    has_access = merged["portal_access"] != "none"
    invite = has_access and (
        send_invitation if send_invitation is not None else granted and bool(merged["email"])
    )
    if invite:
        portal.require_email(merged, "send an invitation to")
    if not changes and not invite:
        return to_wire(row), row["version"]
    normal = derived(merged, settings.default_phone_region)
    if "client_id" in changes or (merged["is_primary"] and "is_primary" in changes):
        await _require_client(conn, tenant, merged["client_id"])
    if "email" in changes:
        await _check_email_free(conn, tenant, normal["email_key"], except_id=contact_id)
    if merged["is_primary"] and ("is_primary" in changes or "client_id" in changes):
        await demote_other_primary(conn, subject, merged["client_id"], contact_id)
    values = {
        **{field: new for field, (_, new) in changes.items()},
        **normal,
        "version": row["version"] + 1,
        "updated_at": utcnow(),
    }
    if invite:
        values["portal_invitation_sent_at"] = values["updated_at"]
    await repository.update_contact(conn, tenant, contact_id, values)
    if MATCHED_FIELDS & changes.keys():
        await duplicates.on_written(conn, tenant, [{**row, **values}])
    contact = to_wire({**row, **values})
    if changes:
        await record_changes(conn, tenant, subject.actor, contact, changes)
    if portal_change is not None and portal_change[1] == "none":
        await portal.end_access(conn, tenant, contact_id)
    if invite:
        await portal.invite(conn, tenant, subject.actor, {**row, **values}, settings.public_url)
    return contact, values["version"]


async def delete(
    conn: AsyncConnection, subject: Subject, contact_id: str, if_match: str | None
) -> None:
    """The contact leaves lists and GET; portal access ends; tickets keep its name, lose the link;
    its activity and events stay; its email becomes free."""
    tenant = subject.tenant
    row = visible(await repository.get(conn, tenant, contact_id, for_update=True), contact_id)
    check_if_match(if_match, row["version"])
    now = utcnow()
    values = {
        "deleted_at": now,
        "updated_at": now,
        "portal_access": "none",
        "version": row["version"] + 1,
    }
    await repository.update_contact(conn, tenant, contact_id, values)
    await portal.end_access(conn, tenant, contact_id)
    await duplicates.on_removed(conn, tenant, [contact_id])
    unlinked = await tickets_repository.unlink_contact(conn, tenant, contact_id, row["name"], now)
    for ticket_id in unlinked:
        await activity.record(
            conn,
            tenant,
            subject.actor,
            contact_id,
            "ticket_unlinked",
            {"ticket_id": (ticket_id, None)},
        )
    changes: dict[str, tuple[Any, Any]] = {"deleted": (False, True)}
    if row["portal_access"] != "none":
        changes["portal_access"] = (row["portal_access"], "none")
    await activity.record(conn, tenant, subject.actor, contact_id, "deleted", changes)
    gone = {**to_wire(row), "deleted": True}
    if row["portal_access"] != "none":
        await events.record(conn, tenant, "contact.portal_disabled", gone)
    await events.record(conn, tenant, "contact.deleted", gone)
