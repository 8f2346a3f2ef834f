"""Duplicates over the API (issue 5, SPEC §5): the listing, its filters, dismissing a pair,
the checks queued on write, and the create-time guard.

The worker does not run in tests: `scan` runs the duplicate checker until its queue is empty,
as the worker would after each write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.auth.subject import Tenant
from vantage_contacts.duplicates import repository, service
from vantage_contacts.duplicates.worker import DuplicateChecker
from vantage_contacts.models import duplicate_checks, duplicate_keys, duplicate_pairs


def scan(http: TestClient) -> None:
    """Score every queued check (any workspace), as the worker does."""
    checker = DuplicateChecker(runtime_of(http).database)
    while run_async(http, checker.run_once):
        pass


def duplicates(api: Api, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/contacts/duplicates", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def groups(api: Api, **params: Any) -> list[frozenset[str]]:
    """The suggested groups as sets of contact ids."""
    return [frozenset(c["id"] for c in g["contacts"]) for g in duplicates(api, **params)["data"]]


def pair_ids(group: dict[str, Any]) -> set[frozenset[str]]:
    return {frozenset(p["contact_ids"]) for p in group["pairs"]}


def dismiss(api: Api, a: str, b: str) -> None:
    response = api.post("/v1/contacts/duplicates/dismiss", json={"contact_ids": [a, b]})
    assert response.status_code == 200, response.text


# --- the listing ----------------------------------------------------------------------------------


def test_listing_has_the_seed_shape_with_every_pair_and_its_field_scores(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith", email="john@acme.com")
    b = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")
    scan(api.http)

    body = duplicates(api)
    assert body["pagination"] == {"page": 1, "per_page": 50, "total": 1, "total_pages": 1}
    assert body["pending_checks"] == 0
    (group,) = body["data"]
    assert group["match_reason"] == "same_name"
    assert 0.5 <= group["confidence"] <= 1
    assert sorted(group["contacts"], key=lambda c: c["id"]) == sorted(
        [
            {k: c[k] for k in ("id", "name", "email", "phone", "mobile", "client_id")}
            for c in (a, b)
        ],
        key=lambda c: c["id"],
    )
    (pair,) = group["pairs"]
    assert pair["contact_ids"] == sorted([a["id"], b["id"]])
    assert pair["confidence"] == group["confidence"]
    assert pair["match_reason"] == "same_name"
    assert {"reason": "same_name", "field": "name", "score": 1.0} in pair["reasons"]
    for reason in pair["reasons"]:
        assert set(reason) == {"reason", "field", "score"}
        assert 0 < reason["score"] <= 1


def test_a_workspace_without_duplicates_lists_none(api: Api) -> None:
    client = api.make_client()
    api.make_contact(client["id"], name="Jane Doe", email="jane@acme.com")
    api.make_contact(client["id"], name="Peter Parker", email="peter@acme.com")
    scan(api.http)
    body = duplicates(api)
    assert body["data"] == []
    assert body["pagination"]["total"] == 0


def test_connected_suggestions_form_one_group(api: Api) -> None:
    client = api.make_client()
    a, b, c = (
        api.make_contact(client["id"], name="John Smith", email=f"{local}@acme.com")["id"]
        for local in ("john", "jsmith", "j.smith")
    )
    # Without the a~c pair, a and c are connected only through b.
    dismiss(api, a, c)
    scan(api.http)

    (group,) = duplicates(api)["data"]
    assert {contact["id"] for contact in group["contacts"]} == {a, b, c}
    assert pair_ids(group) == {frozenset((a, b)), frozenset((b, c))}
    assert group["confidence"] == max(p["confidence"] for p in group["pairs"])


def test_groups_are_paginated_strongest_first(api: Api) -> None:
    client = api.make_client()
    for name in ("John Smith", "Maria Gonzalez", "Oliver Twist"):
        api.make_contact(client["id"], name=name)
        api.make_contact(client["id"], name=name)
    scan(api.http)

    first = duplicates(api, per_page=2)
    assert first["pagination"] == {"page": 1, "per_page": 2, "total": 3, "total_pages": 2}
    second = duplicates(api, per_page=2, page=2)
    assert len(first["data"]) == 2
    assert len(second["data"]) == 1
    everything = first["data"] + second["data"]
    assert {c["name"] for g in everything for c in g["contacts"]} == {
        "John Smith",
        "Maria Gonzalez",
        "Oliver Twist",
    }
    confidences = [g["confidence"] for g in everything]
    assert confidences == sorted(confidences, reverse=True)
    assert duplicates(api, per_page=2, page=3)["data"] == []


def test_min_confidence_filters_suggestions(api: Api) -> None:
    client = api.make_client()
    # Same phone and similar names: strong. A nickname and nothing else: weak.
    strong = {
        api.make_contact(client["id"], name="Maria Gonzalez", phone="+1 (415) 555-0123")["id"],
        api.make_contact(client["id"], name="Maria Gonzales", mobile="415.555.0123")["id"],
    }
    weak = {
        api.make_contact(client["id"], name="Robert Johnson")["id"],
        api.make_contact(client["id"], name="Bob Johnson")["id"],
    }
    scan(api.http)

    everything = duplicates(api, min_confidence=0.2)["data"]
    by_ids = {frozenset(c["id"] for c in g["contacts"]): g for g in everything}
    assert set(by_ids) == {frozenset(strong), frozenset(weak)}
    weak_confidence = by_ids[frozenset(weak)]["confidence"]
    strong_confidence = by_ids[frozenset(strong)]["confidence"]
    assert weak_confidence < strong_confidence

    above_weak = round(weak_confidence + 0.001, 3)
    assert groups(api, min_confidence=above_weak) == [frozenset(strong)]
    assert set(groups(api, min_confidence=weak_confidence)) == {
        frozenset(strong),
        frozenset(weak),
    }
    assert groups(api, min_confidence=1) == ([frozenset(strong)] if strong_confidence == 1 else [])
    # The default is 0.5.
    expected_default = {
        frozenset(g) for g, c in ((strong, strong_confidence), (weak, weak_confidence)) if c >= 0.5
    }
    assert set(groups(api)) == expected_default


def test_min_confidence_outside_its_range_is_400(api: Api) -> None:
    for value in ("0.19", "1.01", "-1", "high"):
        response = api.get("/v1/contacts/duplicates", params={"min_confidence": value})
        assert response.status_code == 400, (value, response.text)
        assert response.json()["error"]["field"] == "min_confidence"


def test_client_id_keeps_pairs_within_that_client(api: Api) -> None:
    acme, globex = api.make_client(), api.make_client()
    in_acme = {
        api.make_contact(acme["id"], name="John Smith", email="john@acme.com")["id"],
        api.make_contact(acme["id"], name="John Smith", email="jsmith@acme.com")["id"],
    }
    in_globex = {
        api.make_contact(globex["id"], name="Maria Gonzalez", phone="+1 415 555 0123")["id"],
        api.make_contact(globex["id"], name="Maria Gonzalez", phone="415-555-0123")["id"],
    }
    # One of each client: a pair across the two clients.
    across = api.make_contact(globex["id"], name="Xavier Quigley")["id"]
    across_too = api.make_contact(acme["id"], name="Xavier Quigley")["id"]
    scan(api.http)

    assert set(groups(api)) == {
        frozenset(in_acme),
        frozenset(in_globex),
        frozenset((across, across_too)),
    }
    assert groups(api, client_id=acme["id"]) == [frozenset(in_acme)]
    assert groups(api, client_id=globex["id"]) == [frozenset(in_globex)]
    assert groups(api, client_id="cli_doesnotexist") == []


def test_contact_id_scores_one_contact_now_without_a_scan(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith", email="john@acme.com")
    b = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")
    api.make_contact(client["id"], name="Jane Doe", email="jane@acme.com")

    # Nothing scanned yet: the stored listing is empty, the checks are pending.
    before = duplicates(api)
    assert before["data"] == []
    assert before["pending_checks"] == 3

    body = duplicates(api, contact_id=a["id"])
    (group,) = body["data"]
    assert {c["id"] for c in group["contacts"]} == {a["id"], b["id"]}
    assert group["match_reason"] == "same_name"
    (pair,) = group["pairs"]
    assert pair["contact_ids"] == sorted([a["id"], b["id"]])
    assert pair["reasons"]
    assert body["pagination"]["total"] == 1

    other_client = api.make_client()
    assert duplicates(api, contact_id=a["id"], client_id=other_client["id"])["data"] == []
    assert len(duplicates(api, contact_id=a["id"], client_id=client["id"])["data"]) == 1


def test_contact_id_of_an_unknown_or_deleted_contact_is_404(api: Api) -> None:
    contact = api.make_contact()
    assert api.delete(f"/v1/contacts/{contact['id']}").status_code == 200
    for contact_id in ("con_doesnotexist", contact["id"]):
        response = api.get("/v1/contacts/duplicates", params={"contact_id": contact_id})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"


def test_another_workspace_or_mode_sees_nothing_and_gets_404(api: Api, other_api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith", email="john@acme.com")
    b = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")
    scan(api.http)
    assert len(duplicates(api)["data"]) == 1

    for stranger in (other_api, api.live):
        assert duplicates(stranger)["data"] == []
        assert duplicates(stranger)["pending_checks"] == 0
        response = stranger.get("/v1/contacts/duplicates", params={"contact_id": a["id"]})
        assert response.status_code == 404
        response = stranger.post(
            "/v1/contacts/duplicates/dismiss", json={"contact_ids": [a["id"], b["id"]]}
        )
        assert response.status_code == 404
    # The strangers' attempts dismissed nothing.
    assert len(duplicates(api)["data"]) == 1


# --- dismissing -----------------------------------------------------------------------------------


def test_a_dismissed_pair_is_not_suggested_again(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith", email="john@acme.com")["id"]
    b = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")["id"]
    scan(api.http)
    assert groups(api) == [frozenset((a, b))]

    response = api.post("/v1/contacts/duplicates/dismiss", json={"contact_ids": [b, a]})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"contact_ids": sorted([a, b]), "dismissed": True}}
    assert groups(api, min_confidence=0.2) == []
    assert duplicates(api, contact_id=a)["data"] == []
    assert duplicates(api, contact_id=b)["data"] == []

    # Dismissing again is harmless.
    dismiss(api, a, b)
    # Both contacts change (and look even more alike), and are scored again: still dismissed.
    assert api.put(f"/v1/contacts/{a}", json={"name": "Jonathan Smith"}).status_code == 200
    assert api.put(f"/v1/contacts/{b}", json={"name": "Jonathan Smith"}).status_code == 200
    scan(api.http)
    assert groups(api, min_confidence=0.2) == []
    assert duplicates(api, contact_id=a)["data"] == []


def test_a_dismissed_pair_leaves_the_other_pairs_of_its_contacts(api: Api) -> None:
    client = api.make_client()
    a, b, c = (
        api.make_contact(client["id"], name="John Smith", email=f"{local}@acme.com")["id"]
        for local in ("john", "jsmith", "j.smith")
    )
    scan(api.http)
    dismiss(api, a, b)
    (group,) = duplicates(api)["data"]
    assert pair_ids(group) == {frozenset((a, c)), frozenset((b, c))}


def test_dismiss_needs_two_different_live_contacts(api: Api) -> None:
    a = api.make_contact(name="John Smith")["id"]
    b = api.make_contact(name="John Smith")["id"]
    for ids in ([a, a], [a], [a, b, a], []):
        response = api.post("/v1/contacts/duplicates/dismiss", json={"contact_ids": ids})
        assert response.status_code == 422, (ids, response.text)
    response = api.post("/v1/contacts/duplicates/dismiss", json={"contact_ids": [a, "con_nope"]})
    assert response.status_code == 404
    assert api.delete(f"/v1/contacts/{b}").status_code == 200
    response = api.post("/v1/contacts/duplicates/dismiss", json={"contact_ids": [a, b]})
    assert response.status_code == 404


# --- contacts that leave, contacts that change ----------------------------------------------------


def test_a_deleted_contact_leaves_the_suggestions_at_once(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith", email="john@acme.com")["id"]
    b = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")["id"]
    c = api.make_contact(client["id"], name="John Smith", email="j.smith@acme.com")["id"]
    scan(api.http)
    assert groups(api) == [frozenset((a, b, c))]

    assert api.delete(f"/v1/contacts/{c}").status_code == 200
    assert groups(api) == [frozenset((a, b))]  # before any scan
    assert {x["id"] for x in duplicates(api, contact_id=a)["data"][0]["contacts"]} == {a, b}
    scan(api.http)
    assert groups(api) == [frozenset((a, b))]


def test_a_merged_contact_leaves_the_suggestions(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith", email="john@acme.com")["id"]
    b = api.make_contact(client["id"], name="John Smith", email="jsmith@acme.com")["id"]
    scan(api.http)
    assert groups(api) == [frozenset((a, b))]

    response = api.post(f"/v1/contacts/{a}/merge", json={"merge_contact_id": b})
    assert response.status_code == 200, response.text
    assert groups(api, min_confidence=0.2) == []
    assert duplicates(api, contact_id=a)["data"] == []
    scan(api.http)
    assert groups(api, min_confidence=0.2) == []


def test_changing_a_name_or_email_queues_a_check_and_the_scan_rescores(api: Api) -> None:
    client = api.make_client()
    a = api.make_contact(client["id"], name="John Smith", email="john@acme.com")["id"]
    b = api.make_contact(client["id"], name="Peter Parker", email="peter@acme.com")["id"]
    scan(api.http)
    body = duplicates(api)
    assert (body["data"], body["pending_checks"]) == ([], 0)

    # Fields that matching does not read queue nothing.
    assert api.put(f"/v1/contacts/{b}", json={"title": "CTO", "notes": "x"}).status_code == 200
    assert duplicates(api)["pending_checks"] == 0

    assert api.put(f"/v1/contacts/{b}", json={"name": "John Smith"}).status_code == 200
    assert duplicates(api)["pending_checks"] == 1
    scan(api.http)
    assert duplicates(api)["pending_checks"] == 0
    assert groups(api) == [frozenset((a, b))]

    assert api.put(f"/v1/contacts/{b}", json={"name": "Peter Parker"}).status_code == 200
    assert duplicates(api)["pending_checks"] == 1
    scan(api.http)
    assert groups(api, min_confidence=0.2) == []

    assert api.put(f"/v1/contacts/{b}", json={"email": "JOHN@acme.com "}).status_code == 409
    assert api.put(f"/v1/contacts/{b}", json={"email": "j.smith@acme.com"}).status_code == 200
    assert duplicates(api)["pending_checks"] == 1
    scan(api.http)
    assert duplicates(api)["pending_checks"] == 0


def test_a_queued_check_writes_the_contacts_keys_again(api: Api) -> None:
    """What a new matching engine's migration relies on: it queues every contact, and the
    check replaces keys an older engine wrote (here: none at all) before scoring."""
    client = api.make_client()
    a = api.make_contact(client["id"], name="Robert Johnson", email="rj@acme.com")["id"]
    b = api.make_contact(client["id"], name="Bob Johnson", email="bob@acme.com")["id"]
    scan(api.http)
    assert groups(api) == [frozenset((a, b))]
    tenant = Tenant(api.workspace_id, "test")

    async def forget_keys_and_pairs() -> None:
        async with runtime_of(api.http).database.write() as conn:
            for table in (duplicate_keys, duplicate_pairs):
                await conn.execute(delete(table).where(table.c.workspace_id == api.workspace_id))

    async def requeue() -> None:
        async with runtime_of(api.http).database.write() as conn:
            await repository.queue_checks(conn, tenant, [a, b], datetime.now(UTC))

    async def key_count() -> int:
        async with runtime_of(api.http).database.read() as conn:
            query = select(func.count()).where(duplicate_keys.c.contact_id.in_([a, b]))
            return int((await conn.execute(query.select_from(duplicate_keys))).scalar_one())

    run_async(api.http, forget_keys_and_pairs)
    assert groups(api) == []
    # A new contact cannot meet contacts that have no keys.
    third = api.post("/v1/contacts", json={"client_id": client["id"], "name": "Rob Johnson"})
    assert third.status_code == 201, third.text
    assert set(third.json()) == {"data"}
    scan(api.http)

    run_async(api.http, requeue)
    scan(api.http)
    assert run_async(api.http, key_count) > 0
    assert groups(api) == [frozenset((a, b, third.json()["data"]["id"]))]


def test_two_workers_checking_both_contacts_of_a_pair_at_once_still_score_it(
    api: Api, backend: str
) -> None:
    """Each check skips the pairs of contacts still queued, as their own check will score
    them. A check another worker holds does not count as queued: that worker may have
    passed its scoring already, having skipped this pair for the same reason."""
    if backend != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    client = api.make_client()
    a = api.make_contact(client["id"], name="Robert Johnson", email="rj@acme.com")["id"]
    b = api.make_contact(client["id"], name="Bob Johnson", email="bob@acme.com")["id"]
    database = runtime_of(api.http).database
    tenant = Tenant(api.workspace_id, "test")

    async def check_a_while_another_worker_holds_b() -> int:
        async with database.write() as other_worker:
            held = select(duplicate_checks.c.contact_id).where(
                duplicate_checks.c.workspace_id == api.workspace_id,
                duplicate_checks.c.contact_id == b,
            )
            assert (await other_worker.execute(held.with_for_update())).all() == [(b,)]
            async with database.write() as conn:
                await service.run_checks(conn, 1000)
            async with database.read() as conn:
                pairs = await repository.scored_pairs(conn, tenant, 0.2, None)
                return len([p for p in pairs if {p[0], p[1]} == {a, b}])

    assert run_async(api.http, check_a_while_another_worker_holds_b) == 1
    scan(api.http)
    assert groups(api) == [frozenset((a, b))]


def test_realistic_duplicates_are_suggested_and_different_people_are_not(api: Api) -> None:
    client = api.make_client()

    def pair(first: dict[str, Any], second: dict[str, Any]) -> frozenset[str]:
        return frozenset(
            (
                api.make_contact(client["id"], **first)["id"],
                api.make_contact(client["id"], **second)["id"],
            )
        )

    expected = {
        "nickname": pair(
            {"name": "Robert Johnson", "email": "robert.johnson@acme.com"},
            {"name": "Bob Johnson", "email": "bob.johnson@acme.com"},
        ),
        "same_phone": pair(
            {"name": "Maria Gonzalez", "phone": "+1 (415) 555-0123"},
            {"name": "Maria Gonzales", "mobile": "415.555.0123"},
        ),
        "same_email": pair(
            {"name": "Samuel Lee", "email": "sam.lee@gmail.com"},
            {"name": "Sam Lee", "email": "SamLee+crm@gmail.com"},
        ),
        "swapped_name": pair({"name": "Liu Wei"}, {"name": "Wei Liu"}),
        "same_name": pair(
            {"name": "José Álvarez", "email": "jalvarez@acme.com"},
            {"name": "Jose Alvarez", "email": "jose@acme.com"},
        ),
    }
    # Colleagues: one company domain, neighbouring numbers, a shared office line.
    api.make_contact(client["id"], name="Jane Doe", email="jane@acme.com", phone="+1 415 555 0100")
    api.make_contact(
        client["id"], name="Peter Parker", email="peter@acme.com", phone="+1 415 555 0101"
    )
    api.make_contact(client["id"], name="Oliver Twist", phone="+1 415 555 0177")
    api.make_contact(client["id"], name="Nancy Sikes", phone="(415) 555-0177")
    scan(api.http)

    found = {frozenset(c["id"] for c in g["contacts"]): g for g in duplicates(api)["data"]}
    assert set(found) == set(expected.values())
    for reason, ids in expected.items():
        assert found[ids]["match_reason"] == reason, found[ids]
        assert found[ids]["confidence"] >= 0.5
    # Different people stay out even at the lowest confidence listed.
    suggested_ids = {cid for g in groups(api, min_confidence=0.2) for cid in g}
    assert suggested_ids == set().union(*expected.values())


# --- the create-time guard ------------------------------------------------------------------------


def test_creating_a_likely_duplicate_succeeds_and_names_it(api: Api) -> None:
    client = api.make_client()
    first = api.make_contact(client["id"], name="Robert Johnson", phone="+1 415 555 0142")
    response = api.post(
        "/v1/contacts",
        json={"client_id": client["id"], "name": "Bob Johnson", "mobile": "(415) 555-0142"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"data", "possible_duplicates"}
    assert body["data"]["name"] == "Bob Johnson"
    (match,) = body["possible_duplicates"]
    assert set(match) == {"id", "confidence", "match_reason"}
    assert match["id"] == first["id"]
    assert match["match_reason"] == "same_phone"
    assert 0.5 <= match["confidence"] <= 1
    # The new contact exists as answered.
    assert api.get(f"/v1/contacts/{body['data']['id']}").json()["data"] == body["data"]


def test_creating_a_clearly_new_contact_has_no_possible_duplicates(api: Api) -> None:
    client = api.make_client()
    api.make_contact(client["id"], name="Jane Doe", email="jane@acme.com", phone="+1 415 555 0100")
    response = api.post(
        "/v1/contacts",
        json={"client_id": client["id"], "name": "Peter Parker", "email": "peter@acme.com"},
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"data"}


def test_the_guard_ignores_deleted_contacts(api: Api) -> None:
    client = api.make_client()
    gone = api.make_contact(client["id"], name="Xavier Quigley")
    assert api.delete(f"/v1/contacts/{gone['id']}").status_code == 200
    response = api.post("/v1/contacts", json={"client_id": client["id"], "name": "Xavier Quigley"})
    assert response.status_code == 201
    assert "possible_duplicates" not in response.json()


def test_an_exact_email_match_stays_409_with_the_existing_id(api: Api) -> None:
    client = api.make_client()
    first = api.make_contact(client["id"], name="John Smith", email="john@acme.com")
    response = api.post(
        "/v1/contacts",
        json={"client_id": client["id"], "name": "Johnny Smith", "email": " JOHN@Acme.com"},
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["field"] == "email"
    assert error["existing_id"] == first["id"]
    # A gmail variant of an address is not the same address: created, and flagged.
    gmail = api.make_contact(client["id"], name="Sam Lee", email="sam.lee@gmail.com")
    response = api.post(
        "/v1/contacts",
        json={"client_id": client["id"], "name": "Sam Lee", "email": "samlee+crm@gmail.com"},
    )
    assert response.status_code == 201, response.text
    assert [(m["id"], m["match_reason"]) for m in response.json()["possible_duplicates"]] == [
        (gmail["id"], "same_email")
    ]


def test_bulk_create_items_carry_their_possible_duplicates(api: Api) -> None:
    client = api.make_client()
    existing = api.make_contact(client["id"], name="Maria Gonzalez", phone="+1 415 555 0123")
    response = api.post(
        "/v1/contacts/bulk",
        json={
            "contacts": [
                {"client_id": client["id"], "name": "Maria Gonzales", "phone": "415.555.0123"},
                {"client_id": client["id"], "name": "Peter Parker", "email": "peter@acme.com"},
                {"client_id": client["id"], "name": "Xavier Quigley", "email": "xq@acme.com"},
                {"client_id": client["id"], "name": "Xavier Quigley", "email": "xavier@acme.com"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    items = response.json()["data"]
    assert [item["index"] for item in items] == [0, 1, 2, 3]
    maria, peter, xq, xavier = items
    assert [(m["id"], m["match_reason"]) for m in maria["possible_duplicates"]] == [
        (existing["id"], "same_phone")
    ]
    assert set(maria["possible_duplicates"][0]) == {"id", "confidence", "match_reason"}
    assert "possible_duplicates" not in peter or peter["possible_duplicates"] is None
    # Two items of one batch that are one person name each other.
    assert [m["id"] for m in xq["possible_duplicates"]] == [xavier["id"]]
    assert [m["id"] for m in xavier["possible_duplicates"]] == [xq["id"]]
