"""Merging contacts (issue 5, SPEC §5): the result, the references that move, the merged id's
404, one transaction, events, the dry run, and undo.

What the API cannot show (rows of tickets, activity and emails, every table of a workspace)
is read from the database directly on the app's own event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from tests.support import Api, run_async, runtime_of
from vantage_contacts.duplicates.worker import DuplicateChecker
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.models import activity, contacts, emails, merges, tickets
from vantage_contacts.models.base import metadata

# Columns a merge or its undo bumps on purpose.
BUMPED = {"version", "updated_at"}


# --- direct database access -----------------------------------------------------------------------


def rows(http: TestClient, query: Any) -> list[dict[str, Any]]:
    database = runtime_of(http).database

    async def _run() -> list[dict[str, Any]]:
        async with database.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    result: list[dict[str, Any]] = run_async(http, _run)
    return result


def execute(http: TestClient, *statements: Any) -> None:
    database = runtime_of(http).database

    async def _run() -> None:
        async with database.write() as conn:
            for statement in statements:
                await conn.execute(statement)

    run_async(http, _run)


def contact_row(api: Api, contact_id: str) -> dict[str, Any]:
    query = select(contacts).where(
        contacts.c.workspace_id == api.workspace_id, contacts.c.id == contact_id
    )
    (row,) = rows(api.http, query)
    return row


def without(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in names}


def ids_of(api: Api, table: Any, contact_id: str) -> set[str]:
    query = select(table.c.id).where(
        table.c.workspace_id == api.workspace_id, table.c.contact_id == contact_id
    )
    return {row["id"] for row in rows(api.http, query)}


def workspace_state(api: Api) -> dict[str, list[str]]:
    """Every row of every table of the workspace (API keys aside: using one stamps it)."""
    database = runtime_of(api.http).database

    async def _run() -> dict[str, list[str]]:
        state = {}
        async with database.read() as conn:
            for table in metadata.sorted_tables:
                if "workspace_id" not in table.c or table.name == "api_keys":
                    continue
                query = select(table).where(table.c.workspace_id == api.workspace_id)
                found = (await conn.execute(query)).mappings()
                state[table.name] = sorted(repr(sorted(dict(r).items())) for r in found)
        return state

    result: dict[str, list[str]] = run_async(api.http, _run)
    return result


def scan(http: TestClient) -> None:
    checker = DuplicateChecker(runtime_of(http).database)
    while run_async(http, checker.run_once):
        pass


# --- API helpers ----------------------------------------------------------------------------------


def merge(api: Api, survivor_id: str, merged_id: str, **params: Any) -> dict[str, Any]:
    response = api.post(
        f"/v1/contacts/{survivor_id}/merge", json={"merge_contact_id": merged_id}, params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def undo(api: Api, merge_id: str) -> dict[str, Any]:
    response = api.post(f"/v1/merges/{merge_id}/undo")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["data"]
    return body


def get_contact(api: Api, contact_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/contacts/{contact_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["data"]
    return body


def events_since(api: Api, seen: int) -> list[dict[str, Any]]:
    """Events written after the first `seen` ones, oldest first."""
    body = api.get("/v1/events", params={"per_page": 100}).json()
    assert body["pagination"]["total"] <= 100
    return list(reversed(body["data"]))[seen:]


def event_count(api: Api) -> int:
    total: int = api.get("/v1/events").json()["pagination"]["total"]
    return total


def activity_of(api: Api, contact_id: str) -> list[dict[str, Any]]:
    """The contact's activity, newest first (a batch written together lists in reverse)."""
    response = api.get(f"/v1/contacts/{contact_id}", params={"include": "activity"})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["data"]["activity"]
    return entries


def a_pair(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A client and two contacts of it that are one person, each with a ticket or two, activity
    and a queued portal invitation."""
    client = api.make_client()
    survivor = api.make_contact(
        client["id"],
        name="John Smith",
        email="john@acme.com",
        title="CTO",
        is_technical=True,
        portal_access="view",
        notes="Met at the conference",
    )
    merged = api.make_contact(
        client["id"],
        name="Jon Smith",
        email="jsmith@acme.com",
        phone="+1 415 555 0142",
        title="VP Engineering",
        department="Engineering",
        is_billing=True,
        portal_access="full",
        receives_reports=True,
        notes="Prefers phone",
    )
    api.make_ticket(client["id"], contact_id=survivor["id"], title="Survivor's ticket")
    api.make_ticket(client["id"], contact_id=merged["id"], title="Broken login")
    api.make_ticket(client["id"], contact_id=merged["id"], title="Invoice question")
    return client, survivor, merged


# --- the merged result ----------------------------------------------------------------------------


def test_the_survivor_keeps_its_values_fills_empty_ones_and_ors_flags(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    body = merge(api, survivor["id"], merged["id"])
    result = body["data"]

    assert result["id"] == survivor["id"]
    assert result["client_id"] == survivor["client_id"]
    # Its own non-empty values win.
    assert result["name"] == "John Smith"
    assert result["email"] == "john@acme.com"
    assert result["title"] == "CTO"
    # Its empty ones are filled.
    assert result["phone"] == "+1 415 555 0142"
    assert result["department"] == "Engineering"
    assert result["mobile"] is None
    # Flags OR-ed; the higher portal level kept; notes joined.
    assert result["roles"] == {"is_primary": False, "is_billing": True, "is_technical": True}
    assert result["communication"] == {
        "receives_invoices": True,
        "receives_reports": True,
        "receives_project_updates": True,
    }
    assert result["portal"]["access_level"] == "full"
    assert result["portal"]["access_enabled"] is True
    assert result["notes"] == "Met at the conference\n\n---\nPrefers phone"
    assert result["updated_at"] >= survivor["updated_at"]
    # The answer is what GET now says.
    assert get_contact(api, survivor["id"]) == result

    record = body["merge"]
    assert record["id"].startswith("mrg_")
    assert record["survivor_id"] == survivor["id"]
    assert record["merged_id"] == merged["id"]
    assert record["moved"]["tickets"] == 2
    assert record["moved"]["emails"] == 1
    assert record["moved"]["activity"] >= 2
    assert record["actor"]["type"] == "api_key"
    assert record["undone_at"] is None


def test_a_survivor_with_empty_fields_takes_the_other_values_and_email(api: Api) -> None:
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="J. Smith")
    merged = api.make_contact(
        client["id"], name="John Smith", email="john@acme.com", mobile="+1 415 555 0199"
    )
    result = merge(api, survivor["id"], merged["id"])["data"]
    assert (result["name"], result["email"], result["mobile"]) == (
        "J. Smith",
        "john@acme.com",
        "+1 415 555 0199",
    )
    # The email is the survivor's now: unique as ever, and searchable.
    response = api.post(
        "/v1/contacts", json={"client_id": client["id"], "name": "X", "email": "JOHN@acme.com"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["existing_id"] == survivor["id"]
    found = api.get("/v1/contacts", params={"search": "john@acme"}).json()["data"]
    assert [c["id"] for c in found] == [survivor["id"]]
    row = contact_row(api, survivor["id"])
    assert row["email_key"] == "john@acme.com"
    assert row["mobile_e164"] == "+14155550199"


def test_the_merged_email_becomes_free_for_the_survivor(api: Api) -> None:
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="John Smith", email="john@acme.com")
    merged = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")
    merge(api, survivor["id"], merged["id"])
    response = api.put(f"/v1/contacts/{survivor['id']}", json={"email": "jsmith@acme.com"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["email"] == "jsmith@acme.com"


def test_tickets_activity_and_queued_emails_move_to_the_survivor(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    merged_tickets = ids_of(api, tickets, merged["id"])
    merged_activity = ids_of(api, activity, merged["id"])
    merged_emails = ids_of(api, emails, merged["id"])
    survivor_tickets = ids_of(api, tickets, survivor["id"])
    assert len(merged_tickets) == 2 and len(merged_emails) == 1 and merged_activity

    record = merge(api, survivor["id"], merged["id"])["merge"]
    assert record["moved"] == {
        "tickets": len(merged_tickets),
        "activity": len(merged_activity),
        "emails": len(merged_emails),
    }

    assert ids_of(api, tickets, survivor["id"]) == survivor_tickets | merged_tickets
    assert merged_activity <= ids_of(api, activity, survivor["id"])
    assert merged_emails <= ids_of(api, emails, survivor["id"])
    assert ids_of(api, tickets, merged["id"]) == set()
    assert ids_of(api, emails, merged["id"]) == set()
    # What stays with the merged id: the entry that says where it went, and the end of its
    # portal access.
    left = rows(
        api.http,
        select(activity).where(
            activity.c.workspace_id == api.workspace_id, activity.c.contact_id == merged["id"]
        ),
    )
    assert [(e["action"], e["changes"]) for e in left] == [
        ("merged", [{"field": "merged_into", "old": None, "new": survivor["id"]}]),
        ("portal_disabled", [{"field": "portal_access", "old": "full", "new": "none"}]),
    ]

    # Through the API: the moved tickets name the survivor.
    body = api.get(f"/v1/contacts/{survivor['id']}", params={"include": "tickets,activity"}).json()[
        "data"
    ]
    assert {t["id"] for t in body["tickets"]} == survivor_tickets | merged_tickets
    for ticket_id in merged_tickets:
        ticket = api.get(f"/v1/tickets/{ticket_id}").json()["data"]
        assert (ticket["contact_id"], ticket["contact_name"]) == (survivor["id"], "John Smith")
    assert merged_activity <= {entry["id"] for entry in body["activity"]}
    merged_entry = next(e for e in body["activity"] if e["action"] == "merged")
    assert {"field": "merged_contact_id", "old": None, "new": merged["id"]} in (
        merged_entry["changes"]
    )


def test_the_merged_id_answers_404_contact_merged(api: Api) -> None:
    client, survivor, merged = a_pair(api)
    merge(api, survivor["id"], merged["id"])
    third = api.make_contact(client["id"], name="Someone Else")
    path = f"/v1/contacts/{merged['id']}"
    attempts = [
        api.get(path),
        api.put(path, json={"title": "x"}),
        api.delete(path),
        api.post(f"{path}/merge", json={"merge_contact_id": third["id"]}),
        api.post(f"/v1/contacts/{third['id']}/merge", json={"merge_contact_id": merged["id"]}),
        api.post(f"/v1/contacts/{survivor['id']}/merge", json={"merge_contact_id": merged["id"]}),
        api.post(f"{path}/portal/enable", json={"access_level": "view"}),
    ]
    for response in attempts:
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert error["code"] == "contact_merged"
        assert error["merged_into"] == survivor["id"]
        assert error["id"] == merged["id"]
    # The merged contact leaves lists; the survivor stays.
    listed = {c["id"] for c in api.get("/v1/contacts").json()["data"]}
    assert merged["id"] not in listed and survivor["id"] in listed


def test_merging_a_contact_with_itself_is_422(api: Api) -> None:
    contact = api.make_contact()
    for params in ({}, {"dry_run": "true"}):
        response = api.post(
            f"/v1/contacts/{contact['id']}/merge",
            json={"merge_contact_id": contact["id"]},
            params=params,
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "merge_contact_id"
    assert get_contact(api, contact["id"]) == contact


def test_merging_unknown_deleted_or_missing_ids_is_refused(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"])
    b = api.make_contact(client["id"])
    assert api.delete(f"/v1/contacts/{b['id']}").status_code == 200
    for survivor_id, merged_id in (
        (a["id"], "con_doesnotexist"),
        ("con_doesnotexist", a["id"]),
        (a["id"], b["id"]),
        (b["id"], a["id"]),
    ):
        response = api.post(
            f"/v1/contacts/{survivor_id}/merge", json={"merge_contact_id": merged_id}
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    response = api.post(f"/v1/contacts/{a['id']}/merge", json={})
    assert response.status_code == 422
    assert get_contact(api, a["id"]) == a


def test_another_workspace_or_mode_cannot_take_part_in_a_merge(api: Api, other_api: Api) -> None:
    ours = api.make_contact(name="John Smith")
    theirs = other_api.make_contact(name="John Smith")
    live = api.live.make_contact(name="John Smith")
    before = workspace_state(api)
    for caller, survivor_id, merged_id in (
        (api, ours["id"], theirs["id"]),
        (api, ours["id"], live["id"]),
        (other_api, theirs["id"], ours["id"]),
        (other_api, ours["id"], theirs["id"]),
        (api.live, live["id"], ours["id"]),
    ):
        for params in ({}, {"dry_run": "true"}):
            response = caller.post(
                f"/v1/contacts/{survivor_id}/merge",
                json={"merge_contact_id": merged_id},
                params=params,
            )
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"
    assert workspace_state(api) == before
    assert other_api.get(f"/v1/contacts/{theirs['id']}").json()["data"] == theirs
    assert api.live.get(f"/v1/contacts/{live['id']}").json()["data"] == live


def test_a_survivor_that_becomes_primary_demotes_its_clients_other_primary(api: Api) -> None:
    acme, globex = api.make_client(), api.make_client()
    primary = api.make_contact(acme["id"], name="Ann Primary", is_primary=True)
    survivor = api.make_contact(acme["id"], name="John Smith")
    merged = api.make_contact(globex["id"], name="John Smith", is_primary=True)
    seen = event_count(api)

    result = merge(api, survivor["id"], merged["id"])["data"]
    assert result["roles"]["is_primary"] is True
    assert result["client_id"] == acme["id"]
    assert get_contact(api, primary["id"])["roles"]["is_primary"] is False
    primaries = api.get("/v1/contacts", params={"client_id": acme["id"], "is_primary": "true"})
    assert [c["id"] for c in primaries.json()["data"]] == [survivor["id"]]
    demoted = [e for e in events_since(api, seen) if e["data"]["id"] == primary["id"]]
    assert [e["type"] for e in demoted] == ["contact.updated"]


def a_merge_that_demotes_a_primary(
    api: Api,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A merge whose merged contact was its client's primary, so the survivor takes the flag
    from its own client's primary: returns that primary, the survivor, the merged contact (as
    they were before) and the merge record."""
    acme, globex = api.make_client(), api.make_client()
    primary = api.make_contact(acme["id"], name="Ann Primary", is_primary=True)
    survivor = api.make_contact(acme["id"], name="John Smith")
    merged = api.make_contact(globex["id"], name="John Smith", is_primary=True)
    record = merge(api, survivor["id"], merged["id"])["merge"]
    assert get_contact(api, primary["id"])["roles"]["is_primary"] is False
    return primary, survivor, merged, record


def test_the_merged_primary_of_the_same_client_hands_the_flag_over(api: Api) -> None:
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="John Smith")
    merged = api.make_contact(client["id"], name="John Smith", is_primary=True)
    result = merge(api, survivor["id"], merged["id"])["data"]
    assert result["roles"]["is_primary"] is True


def test_merge_writes_updated_deleted_and_merged_events(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    seen = event_count(api)
    body = merge(api, survivor["id"], merged["id"])

    new = events_since(api, seen)
    assert [(e["type"], e["data"]["id"]) for e in new] == [
        ("contact.updated", survivor["id"]),
        ("contact.portal_disabled", merged["id"]),  # it had portal access, as a delete says
        ("contact.deleted", merged["id"]),
        ("contact.merged", survivor["id"]),
    ]
    updated, portal_disabled, deleted, merged_event = new
    assert portal_disabled["data"] == deleted["data"]
    assert updated["data"] == body["data"]
    assert deleted["data"]["deleted"] is True
    assert deleted["data"]["merged_into"] == survivor["id"]
    assert deleted["data"]["name"] == merged["name"]
    assert merged_event["data"]["merged_contact_id"] == merged["id"]
    assert merged_event["data"]["merge_id"] == body["merge"]["id"]
    assert without(merged_event["data"], "merged_contact_id", "merge_id") == body["data"]


def a_survivor_without_portal_access(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """A survivor without portal access and a contact with `view` access to merge into it."""
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="John Smith", email="john@acme.com")
    merged = api.make_contact(client["id"], name="Jon Smith", portal_access="view")
    return survivor, merged


def test_a_merge_that_gives_the_survivor_portal_access_writes_portal_enabled(api: Api) -> None:
    survivor, merged = a_survivor_without_portal_access(api)
    seen = event_count(api)

    body = merge(api, survivor["id"], merged["id"])
    assert body["data"]["portal"] == {
        **survivor["portal"],
        "access_level": "view",
        "access_enabled": True,
    }
    mine = [e for e in events_since(api, seen) if e["data"]["id"] == survivor["id"]]
    assert [e["type"] for e in mine] == [
        "contact.updated",
        "contact.portal_enabled",
        "contact.merged",
    ]
    assert mine[1]["data"] == body["data"]
    # The same entry an update giving access writes, beside the merge's own.
    enabled, merged_entry = activity_of(api, survivor["id"])[:2]
    assert (enabled["action"], merged_entry["action"]) == ("portal_enabled", "merged")
    assert enabled["changes"] == [{"field": "portal_access", "old": "none", "new": "view"}]


def test_undo_that_takes_the_portal_access_away_writes_portal_disabled(api: Api) -> None:
    survivor, merged = a_survivor_without_portal_access(api)
    record = merge(api, survivor["id"], merged["id"])["merge"]
    seen = event_count(api)

    undo(api, record["id"])
    restored = get_contact(api, survivor["id"])
    assert restored["portal"] == survivor["portal"]
    assert restored["portal"]["access_enabled"] is False
    mine = [e for e in events_since(api, seen) if e["data"]["id"] == survivor["id"]]
    assert [e["type"] for e in mine] == ["contact.updated", "contact.portal_disabled"]
    assert mine[1]["data"] == restored
    newest = activity_of(api, survivor["id"])[:2]
    assert [(e["action"], e["changes"]) for e in newest] == [
        ("portal_disabled", [{"field": "portal_access", "old": "view", "new": "none"}]),
        ("merge_undone", [{"field": "merge_id", "old": None, "new": record["id"]}]),
    ]


@contextmanager
def failing_merged_event(api: Api) -> Iterator[None]:
    """Until the block ends, writing this workspace's `contact.merged` event (the very last write
    of a merge) fails as a unique conflict would."""
    name = f"fail_{api.workspace_id.replace('-', '_')}"
    ws = api.workspace_id
    if runtime_of(api.http).database.is_postgresql:
        create = [
            text(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.workspace_id = '{ws}' AND NEW.type = 'contact.merged' THEN "
                "RAISE EXCEPTION 'forced' USING ERRCODE = 'unique_violation'; END IF; "
                "RETURN NEW; END $$"
            ),
            text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON events "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            ),
        ]
        drop = [text(f"DROP TRIGGER {name} ON events"), text(f"DROP FUNCTION {name}()")]
    else:
        create = [
            text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON events WHEN NEW.workspace_id = '{ws}' "
                "AND NEW.type = 'contact.merged' BEGIN SELECT RAISE(ABORT, 'forced'); END"
            )
        ]
        drop = [text(f"DROP TRIGGER {name}")]
    execute(api.http, *create)
    try:
        yield
    finally:
        execute(api.http, *drop)


def test_a_merge_that_fails_at_its_last_write_changes_nothing(api: Api) -> None:
    client = api.make_client()
    primary = api.make_contact(client["id"], name="Ann Primary", is_primary=True)
    survivor = api.make_contact(client["id"], name="John Smith")
    other_client = api.make_client()
    merged = api.make_contact(
        other_client["id"], name="Jon Smith", email="jon@acme.com", is_primary=True
    )
    api.make_ticket(other_client["id"], contact_id=merged["id"])
    other = api.make_contact(client["id"], name="Jon Smith")
    assert api.post(
        "/v1/contacts/duplicates/dismiss", json={"contact_ids": [merged["id"], other["id"]]}
    ).is_success
    before = workspace_state(api)

    with failing_merged_event(api):
        response = api.post(
            f"/v1/contacts/{survivor['id']}/merge", json={"merge_contact_id": merged["id"]}
        )
    assert response.status_code == 409, response.text
    assert workspace_state(api) == before
    assert get_contact(api, merged["id"]) == merged
    assert get_contact(api, primary["id"])["roles"]["is_primary"] is True
    # Once the fault is gone the same merge goes through.
    assert merge(api, survivor["id"], merged["id"])["data"]["email"] == "jon@acme.com"


# --- the dry run ----------------------------------------------------------------------------------


def test_dry_run_shows_the_result_and_changes_nothing(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    before = workspace_state(api)

    response = api.post(
        f"/v1/contacts/{survivor['id']}/merge",
        json={"merge_contact_id": merged["id"]},
        params={"dry_run": "true"},
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert set(preview) == {"data", "fields", "moves"}
    assert workspace_state(api) == before
    assert get_contact(api, merged["id"]) == merged

    outcomes = {entry["field"]: entry for entry in preview["fields"]}
    assert {field: entry["outcome"] for field, entry in outcomes.items()} == {
        "name": "conflict",
        "email": "conflict",
        "title": "conflict",
        "phone": "taken",
        "department": "taken",
        "is_billing": "taken",
        "receives_invoices": "taken",
        "receives_reports": "taken",
        "portal_access": "taken",
        "notes": "combined",
    }
    assert outcomes["title"] == {
        "field": "title",
        "outcome": "conflict",
        "survivor_value": "CTO",
        "merged_value": "VP Engineering",
        "result": "CTO",
    }
    assert outcomes["phone"]["survivor_value"] is None
    assert outcomes["phone"]["result"] == "+1 415 555 0142"
    assert outcomes["notes"]["result"] == "Met at the conference\n\n---\nPrefers phone"

    body = merge(api, survivor["id"], merged["id"])
    assert preview["moves"] == body["merge"]["moved"]
    assert without(preview["data"], "updated_at") == without(body["data"], "updated_at")


def test_dry_run_with_identical_values_keeps_everything(api: Api) -> None:
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="John Smith", title="CTO")
    merged = api.make_contact(client["id"], name="John Smith", title="CTO")
    preview = merge(api, survivor["id"], merged["id"], dry_run="true")
    assert preview["data"] == survivor
    assert {(e["field"], e["outcome"]) for e in preview["fields"]} == {
        ("name", "kept"),
        ("title", "kept"),
    }
    assert preview["moves"]["tickets"] == 0


# --- merges and undo ------------------------------------------------------------------------------


def test_merges_are_listed_newest_first_and_filtered_by_contact(api: Api, other_api: Api) -> None:
    client = api.make_client()
    a, b, c, d = (api.make_contact(client["id"], name=f"Person {i}")["id"] for i in "abcd")
    first = merge(api, a, b)["merge"]
    second = merge(api, c, d)["merge"]

    listed = api.get("/v1/merges").json()
    assert [m["id"] for m in listed["data"]] == [second["id"], first["id"]]
    assert listed["pagination"]["total"] == 2
    assert listed["data"][1] == first
    for contact_id, expected in ((a, first), (b, first), (d, second)):
        body = api.get("/v1/merges", params={"contact_id": contact_id}).json()
        assert body["data"] == [expected]
    assert api.get(f"/v1/merges/{first['id']}").json()["data"] == first
    assert api.get("/v1/merges/mrg_doesnotexist").status_code == 404

    for stranger in (other_api, api.live):
        assert stranger.get("/v1/merges").json()["data"] == []
        assert stranger.get(f"/v1/merges/{first['id']}").status_code == 404
        assert stranger.post(f"/v1/merges/{first['id']}/undo").status_code == 404
    assert api.get(f"/v1/merges/{first['id']}").json()["data"]["undone_at"] is None


def test_undo_restores_both_contacts_and_moves_references_back(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    # A portal password and login on the merged contact, which the survivor inherits.
    execute(
        api.http,
        update(contacts)
        .where(contacts.c.workspace_id == api.workspace_id, contacts.c.id == merged["id"])
        .values(portal_password_hash="hash-of-merged", portal_last_login_at=utcnow()),
    )
    merged = get_contact(api, merged["id"])
    survivor_before = contact_row(api, survivor["id"])
    merged_before = contact_row(api, merged["id"])
    references = {
        (table.name, contact_id): ids_of(api, table, contact_id)
        for table in (tickets, activity, emails)
        for contact_id in (survivor["id"], merged["id"])
    }
    ticket_rows = rows(
        api.http,
        select(tickets.c.id, tickets.c.contact_id, tickets.c.contact_name).where(
            tickets.c.workspace_id == api.workspace_id
        ),
    )

    record = merge(api, survivor["id"], merged["id"])["merge"]
    assert contact_row(api, survivor["id"])["portal_password_hash"] == "hash-of-merged"
    undone = undo(api, record["id"])
    assert undone["id"] == record["id"]
    assert undone["undone_at"] is not None

    for contact_id, before in ((survivor["id"], survivor_before), (merged["id"], merged_before)):
        after = contact_row(api, contact_id)
        assert without(after, *BUMPED) == without(before, *BUMPED)
        assert after["version"] > before["version"]
    assert without(get_contact(api, survivor["id"]), "updated_at") == without(
        survivor, "updated_at"
    )
    assert without(get_contact(api, merged["id"]), "updated_at") == without(merged, "updated_at")

    # Everything moved comes back; entries written by the merge and undo stay where written.
    for (table_name, contact_id), ids in references.items():
        table = {"tickets": tickets, "activity": activity, "emails": emails}[table_name]
        now = ids_of(api, table, contact_id)
        if table_name == "activity":
            assert ids <= now
        else:
            assert now == ids
    assert (
        rows(
            api.http,
            select(tickets.c.id, tickets.c.contact_id, tickets.c.contact_name).where(
                tickets.c.workspace_id == api.workspace_id
            ),
        )
        == ticket_rows
    )
    assert (
        api.get(f"/v1/merges/{record['id']}").json()["data"]["undone_at"] == (undone["undone_at"])
    )


def test_undo_writes_updates_for_both_contacts(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    record = merge(api, survivor["id"], merged["id"])["merge"]
    seen = event_count(api)
    undo(api, record["id"])
    new = events_since(api, seen)
    assert [(e["type"], e["data"]["id"]) for e in new] == [
        ("contact.updated", survivor["id"]),
        ("contact.updated", merged["id"]),
        ("contact.portal_enabled", merged["id"]),  # its access, which the merge ended, is back
    ]
    by_id = {e["data"]["id"]: e["data"] for e in new if e["type"] == "contact.updated"}
    assert by_id[merged["id"]] == get_contact(api, merged["id"])
    assert by_id[survivor["id"]] == get_contact(api, survivor["id"])


def test_after_undo_the_pair_is_suggested_again_and_dismissals_hold(api: Api) -> None:
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="John Smith", email="john@acme.com")["id"]
    merged = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")["id"]
    third = api.make_contact(client["id"], name="John Smith", email="j.smith@acme.com")["id"]
    response = api.post("/v1/contacts/duplicates/dismiss", json={"contact_ids": [merged, third]})
    assert response.status_code == 200
    record = merge(api, survivor, merged)["merge"]
    undo(api, record["id"])
    scan(api.http)

    (group,) = api.get("/v1/contacts/duplicates").json()["data"]
    pairs = {frozenset(p["contact_ids"]) for p in group["pairs"]}
    assert pairs == {frozenset((survivor, merged)), frozenset((survivor, third))}


def test_undo_twice_is_409(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    record = merge(api, survivor["id"], merged["id"])["merge"]
    undo(api, record["id"])
    response = api.post(f"/v1/merges/{record['id']}/undo")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_undo_after_the_survivor_changed_is_409_naming_the_field(api: Api) -> None:
    _, survivor, merged = a_pair(api)
    record = merge(api, survivor["id"], merged["id"])["merge"]
    assert api.put(f"/v1/contacts/{survivor['id']}", json={"title": "CEO"}).status_code == 200
    state = workspace_state(api)

    response = api.post(f"/v1/merges/{record['id']}/undo")
    assert response.status_code == 409, response.text
    assert response.json()["error"]["field"] == "title"
    assert workspace_state(api) == state
    assert api.get(f"/v1/contacts/{merged['id']}").json()["error"]["code"] == "contact_merged"


def test_undo_after_the_survivor_was_merged_or_deleted_is_409(api: Api) -> None:
    client = api.make_client()
    a, b, c = (api.make_contact(client["id"], name="John Smith")["id"] for _ in range(3))
    first = merge(api, a, b)["merge"]
    merge(api, c, a)
    response = api.post(f"/v1/merges/{first['id']}/undo")
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "deleted"


def test_merges_undo_in_reverse_order(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith")
    b = api.make_contact(client["id"], name="John Smith", title="CTO")
    c = api.make_contact(client["id"], name="John Smith", department="Sales")
    first = merge(api, a["id"], b["id"])["merge"]
    second = merge(api, a["id"], c["id"])["merge"]

    response = api.post(f"/v1/merges/{first['id']}/undo")
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "department"
    undo(api, second["id"])
    undo(api, first["id"])
    for contact in (a, b, c):
        assert without(get_contact(api, contact["id"]), "updated_at") == without(
            contact, "updated_at"
        )


def test_undo_when_another_contact_took_the_merged_email_is_409(api: Api) -> None:
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="John Smith", email="john@acme.com")
    merged = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")
    record = merge(api, survivor["id"], merged["id"])["merge"]
    newcomer = api.make_contact(client["id"], name="Jill Smith", email="JSmith@acme.com")

    response = api.post(f"/v1/merges/{record['id']}/undo")
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["field"] == "email"
    assert error["existing_id"] == newcomer["id"]
    # Once the address is free again, the undo goes through.
    assert api.delete(f"/v1/contacts/{newcomer['id']}").status_code == 200
    undo(api, record["id"])
    assert get_contact(api, merged["id"])["email"] == "jsmith@acme.com"


def test_undo_gives_back_an_email_the_survivor_took(api: Api) -> None:
    client = api.make_client()
    survivor = api.make_contact(client["id"], name="John Smith")
    merged = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")
    record = merge(api, survivor["id"], merged["id"])["merge"]
    undo(api, record["id"])
    assert get_contact(api, survivor["id"])["email"] is None
    assert get_contact(api, merged["id"])["email"] == "jsmith@acme.com"
    response = api.post(
        "/v1/contacts", json={"client_id": client["id"], "name": "X", "email": "jsmith@acme.com"}
    )
    assert response.json()["error"]["existing_id"] == merged["id"]


def test_undo_when_another_contact_became_primary_is_409_naming_is_primary(api: Api) -> None:
    acme, globex = api.make_client(), api.make_client()
    survivor = api.make_contact(acme["id"], name="John Smith")
    merged = api.make_contact(globex["id"], name="John Smith", is_primary=True)
    record = merge(api, survivor["id"], merged["id"])["merge"]
    newcomer = api.make_contact(globex["id"], name="Ann Primary", is_primary=True)

    response = api.post(f"/v1/merges/{record['id']}/undo")
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["field"] == "is_primary"
    assert error["existing_id"] == newcomer["id"]
    assert get_contact(api, newcomer["id"])["roles"]["is_primary"] is True


def test_undo_gives_the_primary_flag_back_to_the_contact_the_merge_demoted(api: Api) -> None:
    primary, survivor, merged, record = a_merge_that_demotes_a_primary(api)
    # What the record keeps for this stays out of the API's `moved` counts.
    assert set(record["moved"]) == {"tickets", "activity", "emails"}
    seen = event_count(api)

    undo(api, record["id"])
    for contact in (primary, survivor, merged):
        assert without(get_contact(api, contact["id"]), "updated_at") == without(
            contact, "updated_at"
        )
    primaries = api.get(
        "/v1/contacts", params={"client_id": primary["client_id"], "is_primary": "true"}
    )
    assert [c["id"] for c in primaries.json()["data"]] == [primary["id"]]
    # As any role change: its own activity entry and event, the latter after the survivor's
    # (which gives the flag up), so the events never show the client with two primaries.
    latest = activity_of(api, primary["id"])[0]
    assert (latest["action"], latest["changes"]) == (
        "roles_changed",
        [{"field": "is_primary", "old": False, "new": True}],
    )
    new = events_since(api, seen)
    assert [(e["type"], e["data"]["id"]) for e in new] == [
        ("contact.updated", survivor["id"]),
        ("contact.updated", merged["id"]),
        ("contact.updated", primary["id"]),
    ]
    assert new[-1]["data"] == get_contact(api, primary["id"])
    assert new[-1]["changed_fields"] == ["is_primary"]


def test_undo_after_the_demoted_primary_changed_is_409_naming_the_field(api: Api) -> None:
    primary, _, merged, record = a_merge_that_demotes_a_primary(api)
    assert api.put(f"/v1/contacts/{primary['id']}", json={"title": "COO"}).status_code == 200
    state = workspace_state(api)

    response = api.post(f"/v1/merges/{record['id']}/undo")
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["field"] == "title"
    assert primary["id"] in error["message"]
    assert workspace_state(api) == state
    assert api.get(f"/v1/contacts/{merged['id']}").json()["error"]["code"] == "contact_merged"

    assert api.delete(f"/v1/contacts/{primary['id']}").status_code == 200
    response = api.post(f"/v1/merges/{record['id']}/undo")
    assert response.status_code == 409, response.text
    assert response.json()["error"]["field"] == "deleted"


def test_a_merge_recorded_without_the_demoted_primary_still_undoes(api: Api) -> None:
    primary, survivor, merged, record = a_merge_that_demotes_a_primary(api)
    # Records written before merges kept the demoted contact hold only the references moved.
    where = (merges.c.workspace_id == api.workspace_id, merges.c.id == record["id"])
    (stored,) = rows(api.http, select(merges.c.moved).where(*where))
    references = {kind: stored["moved"][kind] for kind in ("tickets", "activity", "emails")}
    assert stored["moved"] != references
    execute(api.http, update(merges).where(*where).values(moved=references))

    undone = undo(api, record["id"])
    assert undone["moved"] == record["moved"]
    for contact in (survivor, merged):
        assert without(get_contact(api, contact["id"]), "updated_at") == without(
            contact, "updated_at"
        )
    # Such a record does not say who lost the flag, so nobody gets it back.
    assert get_contact(api, primary["id"])["roles"]["is_primary"] is False
