"""Idempotency-Key (SPEC §2): a retried POST (or bulk PUT/DELETE) replays the first answer.

Keyed by workspace, mode and key, stored in the database for 24 hours. The same key and body
replays status, body and headers with `Idempotent-Replayed: true` and writes nothing more; a
different request with the key is 422 `idempotency_key_reused`; concurrent requests with one
key act once. "Writes nothing more" is checked on every row the workspace has in every table.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, insert, select, update

from tests.processes import base_env, free_port, running, uvicorn_command
from tests.support import Api, execute, run_async, runtime_of
from vantage_contacts.auth.api_key import authenticate
from vantage_contacts.idempotency import store
from vantage_contacts.idempotency.route import IdempotentRoute, idempotency_key
from vantage_contacts.idempotency.sweeper import ExpiredKeySweeper
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.models import contacts, idempotency_keys, metadata

REPLAYED = "Idempotent-Replayed"
# Rows that change on every request whatever it does (the key's last use), or are the
# idempotency records themselves.
NOT_SNAPSHOTTED = {"api_keys", "idempotency_keys"}


# --- requests, one per keyed route ----------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, api: Api, key: str | None) -> httpx.Response:
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        kwargs: dict[str, Any] = {"headers": headers}
        if self.content is not None:
            kwargs["content"] = self.content
        elif self.json is not None:
            kwargs["json"] = self.json
        return api.request(self.method, self.path, **kwargs)


def multipart(csv_text: str, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body with a fixed boundary, so a retry sends the very same bytes."""
    boundary = "vantage-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{csv_text}\r\n--{boundary}--\r\n"
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return "".join(parts).encode(), headers


def _clients(api: Api) -> tuple[Call, Call]:
    return Call("POST", "/v1/clients", {"name": "Acme"}), Call("POST", "/v1/clients", {"name": "B"})


def _contacts(api: Api) -> tuple[Call, Call]:
    client_id = api.make_client()["id"]
    body = {"client_id": client_id, "name": "Ada Lovelace", "email": "ada@example.com"}
    other = {**body, "email": "bob@example.com"}
    return Call("POST", "/v1/contacts", body), Call("POST", "/v1/contacts", other)


def _portal(action: str, **contact_fields: Any) -> Callable[[Api], tuple[Call, Call]]:
    def build(api: Api) -> tuple[Call, Call]:
        client_id = api.make_client()["id"]
        first = api.make_contact(client_id, email="p1@example.com", **contact_fields)
        second = api.make_contact(client_id, email="p2@example.com", **contact_fields)
        path = "/v1/contacts/{}/portal/" + action
        return Call("POST", path.format(first["id"])), Call("POST", path.format(second["id"]))

    return build


def _bulk_create(api: Api) -> tuple[Call, Call]:
    client_id = api.make_client()["id"]
    items = [{"client_id": client_id, "name": f"N {i}"} for i in range(3)]
    return (
        Call("POST", "/v1/contacts/bulk", {"contacts": items}),
        Call("POST", "/v1/contacts/bulk", {"contacts": items[:1]}),
    )


def _bulk_update(api: Api) -> tuple[Call, Call]:
    ids = [api.make_contact()["id"] for _ in range(2)]
    return (
        Call("PUT", "/v1/contacts/bulk", {"ids": ids, "updates": {"title": "CEO"}}),
        Call("PUT", "/v1/contacts/bulk", {"ids": ids, "updates": {"title": "CFO"}}),
    )


def _bulk_delete(api: Api) -> tuple[Call, Call]:
    ids = [api.make_contact()["id"] for _ in range(2)]
    return (
        Call("DELETE", "/v1/contacts/bulk", {"ids": ids}),
        Call("DELETE", "/v1/contacts/bulk", {"ids": ids[:1]}),
    )


def _imports(api: Api) -> tuple[Call, Call]:
    client_id = api.make_client()["id"]
    body, headers = multipart("Name,Email\nAda,ada@example.com\n", client_id=client_id)
    other, other_headers = multipart("Name\nBob\n", client_id=client_id)
    return (
        Call("POST", "/v1/contacts/imports", content=body, headers=headers),
        Call("POST", "/v1/contacts/imports", content=other, headers=other_headers),
    )


def _tickets(api: Api) -> tuple[Call, Call]:
    client_id = api.make_client()["id"]
    body = {"client_id": client_id, "title": "Broken"}
    return Call("POST", "/v1/tickets", body), Call("POST", "/v1/tickets", {**body, "title": "B"})


def _webhook(api: Api) -> str:
    response = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert response.status_code == 201, response.text
    endpoint_id: str = response.json()["data"]["id"]
    return endpoint_id


def _webhooks(api: Api) -> tuple[Call, Call]:
    body = {"url": "http://127.0.0.1:9/a", "events": ["*"]}
    return (
        Call("POST", "/v1/webhooks", body),
        Call("POST", "/v1/webhooks", {**body, "url": "http://127.0.0.1:9/b"}),
    )


def _webhook_action(action: str) -> Callable[[Api], tuple[Call, Call]]:
    def build(api: Api) -> tuple[Call, Call]:
        path = "/v1/webhooks/{}/" + action
        return Call("POST", path.format(_webhook(api))), Call("POST", path.format(_webhook(api)))

    return build


def _retry_delivery(api: Api) -> tuple[Call, Call]:
    endpoint_id = _webhook(api)
    api.make_contact()  # a client and a contact: two events, two deliveries
    listed = api.get(f"/v1/webhooks/{endpoint_id}/deliveries")
    first, second = (delivery["id"] for delivery in listed.json()["data"][:2])
    path = f"/v1/webhooks/{endpoint_id}/deliveries/{{}}/retry"
    return Call("POST", path.format(first)), Call("POST", path.format(second))


def _merge(api: Api) -> tuple[Call, Call]:
    client_id = api.make_client()["id"]
    a, b, c, d = (api.make_contact(client_id, name=f"Person {i}")["id"] for i in range(4))
    path = "/v1/contacts/{}/merge"
    return (
        Call("POST", path.format(a), {"merge_contact_id": b}),
        Call("POST", path.format(c), {"merge_contact_id": d}),
    )


def _undo_merge(api: Api) -> tuple[Call, Call]:
    undo = []
    for merge_call, _ in (_merge(api), _merge(api)):
        merged = merge_call.send(api, None)
        assert merged.status_code == 200, merged.text
        undo.append(Call("POST", f"/v1/merges/{merged.json()['merge']['id']}/undo"))
    return undo[0], undo[1]


def _dismiss(api: Api) -> tuple[Call, Call]:
    client_id = api.make_client()["id"]
    a, b, c = (api.make_contact(client_id, name=f"Person {i}")["id"] for i in range(3))
    path = "/v1/contacts/duplicates/dismiss"
    return Call("POST", path, {"contact_ids": [a, b]}), Call("POST", path, {"contact_ids": [a, c]})


KEYED_REQUESTS: dict[tuple[str, str], Callable[[Api], tuple[Call, Call]]] = {
    ("POST", "/v1/clients"): _clients,
    ("POST", "/v1/contacts"): _contacts,
    ("POST", "/v1/contacts/{contact_id}/portal/enable"): _portal("enable"),
    ("POST", "/v1/contacts/{contact_id}/portal/disable"): _portal("disable", portal_access="view"),
    ("POST", "/v1/contacts/{contact_id}/portal/reset-password"): _portal(
        "reset-password", portal_access="full"
    ),
    ("POST", "/v1/contacts/bulk"): _bulk_create,
    ("PUT", "/v1/contacts/bulk"): _bulk_update,
    ("DELETE", "/v1/contacts/bulk"): _bulk_delete,
    ("POST", "/v1/contacts/imports"): _imports,
    ("POST", "/v1/contacts/duplicates/dismiss"): _dismiss,
    ("POST", "/v1/contacts/{contact_id}/merge"): _merge,
    ("POST", "/v1/merges/{merge_id}/undo"): _undo_merge,
    ("POST", "/v1/tickets"): _tickets,
    ("POST", "/v1/webhooks"): _webhooks,
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): _webhook_action("rotate-secret"),
    ("POST", "/v1/webhooks/{webhook_id}/test"): _webhook_action("test"),
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): _retry_delivery,
}


# --- helpers ----------------------------------------------------------------------------------


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's wrapper of an included router
            yield from _api_routes(route.original_router.routes)
        elif isinstance(route, APIRoute):
            yield route


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def keyed_write_routes(http: TestClient) -> dict[tuple[str, str], APIRoute]:
    """Routes called with an API key that must take an Idempotency-Key: every POST, and the
    bulk PUT and DELETE."""
    found = {}
    for route in _api_routes(list(http.app.routes)):  # type: ignore[attr-defined]
        if authenticate not in set(_calls(route.dependant)):
            continue
        for method in route.methods:
            if method == "POST" or (method in ("PUT", "DELETE") and route.path.endswith("/bulk")):
                found[(method, route.path)] = route
    return found


def snapshot(api: Api) -> dict[str, list[dict[str, Any]]]:
    """Every row the workspace has, table by table (the key bookkeeping aside)."""
    database = runtime_of(api.http).database
    tables = [
        table
        for table in metadata.sorted_tables
        if "workspace_id" in table.c and table.name not in NOT_SNAPSHOTTED
    ]

    async def _read() -> dict[str, list[dict[str, Any]]]:
        out = {}
        async with database.read() as conn:
            for table in tables:
                query = select(table).where(table.c.workspace_id == api.workspace_id)
                query = query.order_by(*table.primary_key.columns)
                out[table.name] = [dict(row) for row in (await conn.execute(query)).mappings()]
        return out

    rows: dict[str, list[dict[str, Any]]] = run_async(api.http, _read)
    return rows


def count_rows(api: Api, table: Table) -> int:
    database = runtime_of(api.http).database

    async def _count() -> int:
        async with database.read() as conn:
            query = select(func.count()).select_from(table)
            return int(
                await conn.scalar(query.where(table.c.workspace_id == api.workspace_id)) or 0
            )

    found: int = run_async(api.http, _count)
    return found


def set_key(api: Api, key: str, **values: Any) -> None:
    """Change the stored record of `key` (its age, state or hash) as time or a crash would."""
    execute(
        api,
        update(idempotency_keys)
        .where(idempotency_keys.c.workspace_id == api.workspace_id, idempotency_keys.c.key == key)
        .values(**values),
    )


def key_row(api: Api, key: str) -> dict[str, Any]:
    database = runtime_of(api.http).database

    async def _read() -> dict[str, Any]:
        query = select(idempotency_keys).where(
            idempotency_keys.c.workspace_id == api.workspace_id, idempotency_keys.c.key == key
        )
        async with database.read() as conn:
            return dict((await conn.execute(query)).mappings().one())

    row: dict[str, Any] = run_async(api.http, _read)
    return row


def new_key() -> str:
    return f"key-{secrets.token_hex(8)}"


def assert_replay_of(replay: httpx.Response, first: httpx.Response) -> None:
    assert replay.headers.get(REPLAYED) == "true"
    assert replay.status_code == first.status_code
    assert replay.content == first.content
    assert replay.headers.get("ETag") == first.headers.get("ETag")
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert replay.headers["x-request-id"] != first.headers["x-request-id"]


def create_contact_call(api: Api, **fields: Any) -> Call:
    client_id = api.make_client()["id"]
    return Call("POST", "/v1/contacts", {"client_id": client_id, "name": "Ada", **fields})


# --- every keyed route --------------------------------------------------------------------------


def test_every_post_and_bulk_write_route_takes_an_idempotency_key(http: TestClient) -> None:
    routes = keyed_write_routes(http)
    assert set(routes) == set(KEYED_REQUESTS), "each keyed write route needs a request below"
    for (method, path), route in routes.items():
        assert isinstance(route, IdempotentRoute), (method, path)
        assert idempotency_key in set(_calls(route.dependant)), (method, path)


@pytest.mark.parametrize("route", sorted(KEYED_REQUESTS), ids=lambda r: f"{r[0]} {r[1]}")
def test_same_key_and_request_replays_the_first_answer(api: Api, route: tuple[str, str]) -> None:
    call, _ = KEYED_REQUESTS[route](api)
    key = new_key()
    first = call.send(api, key)
    assert first.status_code < 300, first.text
    assert REPLAYED not in first.headers
    after_first = snapshot(api)
    replay = call.send(api, key)
    assert_replay_of(replay, first)
    assert snapshot(api) == after_first


@pytest.mark.parametrize("route", sorted(KEYED_REQUESTS), ids=lambda r: f"{r[0]} {r[1]}")
def test_same_key_with_another_request_is_refused(api: Api, route: tuple[str, str]) -> None:
    call, other = KEYED_REQUESTS[route](api)
    key = new_key()
    assert call.send(api, key).status_code < 300
    after_first = snapshot(api)
    refused = other.send(api, key)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert refused.json()["error"]["field"] == "Idempotency-Key"
    assert snapshot(api) == after_first
    # Without a key (or with a new one) the other request acts as usual.
    assert other.send(api, new_key()).status_code < 300


# --- scope and lifetime -----------------------------------------------------------------------


def test_requests_without_a_key_act_every_time(api: Api) -> None:
    call = create_contact_call(api)
    assert [call.send(api, None).status_code for _ in range(2)] == [201, 201]
    assert count_rows(api, contacts) == 2


def test_same_key_in_another_workspace_or_mode_acts_independently(api: Api, other_api: Api) -> None:
    key = new_key()
    created = []
    for tenant in (api, api.live, other_api):
        response = create_contact_call(tenant).send(tenant, key)
        assert response.status_code == 201, response.text
        assert REPLAYED not in response.headers
        created.append(response.json()["data"]["id"])
    assert len(set(created)) == 3
    for tenant, contact_id in zip((api, api.live, other_api), created, strict=True):
        assert tenant.get(f"/v1/contacts/{contact_id}").status_code == 200


def test_a_key_expires_after_24_hours(api: Api) -> None:
    call = create_contact_call(api)
    key = new_key()
    first = call.send(api, key)
    assert first.status_code == 201
    aged = utcnow() - timedelta(hours=24, seconds=1)
    set_key(api, key, created_at=aged)
    again = call.send(api, key)
    assert again.status_code == 201, again.text
    assert REPLAYED not in again.headers
    assert again.json()["data"]["id"] != first.json()["data"]["id"]
    assert count_rows(api, contacts) == 2
    # The key now belongs to the second request, and replays it.
    assert_replay_of(call.send(api, key), again)


def test_a_key_just_under_24_hours_old_still_replays(api: Api) -> None:
    call = create_contact_call(api)
    key = new_key()
    first = call.send(api, key)
    set_key(api, key, created_at=utcnow() - timedelta(hours=23, minutes=59))
    assert_replay_of(call.send(api, key), first)
    assert count_rows(api, contacts) == 1


def test_a_refusal_is_replayed_even_after_the_cause_is_gone(api: Api) -> None:
    """A 409 (duplicate email) is the answer to that request: the retry gets it again, even
    though the email has since become free."""
    client_id = api.make_client()["id"]
    holder = api.make_contact(client_id, email="held@example.com")
    call = Call(
        "POST", "/v1/contacts", {"client_id": client_id, "name": "B", "email": "held@example.com"}
    )
    key = new_key()
    refused = call.send(api, key)
    assert refused.status_code == 409, refused.text
    assert api.delete(f"/v1/contacts/{holder['id']}").status_code == 200
    assert_replay_of(call.send(api, key), refused)
    assert api.get("/v1/contacts").json()["pagination"]["total"] == 0


def test_the_same_json_with_its_keys_in_another_order_replays(api: Api) -> None:
    client_id = api.make_client()["id"]
    key = new_key()
    spelt = (
        b'{"client_id": "%s", "name": "Ada", "email": "ada@example.com"}' % client_id.encode(),
        b'{"email":"ada@example.com","name":"Ada",\n "client_id":"%s"}' % client_id.encode(),
    )
    headers = {"Content-Type": "application/json"}
    first = Call("POST", "/v1/contacts", content=spelt[0], headers=headers).send(api, key)
    assert first.status_code == 201, first.text
    assert_replay_of(
        Call("POST", "/v1/contacts", content=spelt[1], headers=headers).send(api, key), first
    )
    assert count_rows(api, contacts) == 1


def test_bodies_that_differ_only_in_a_wide_integer_are_different_requests(api: Api) -> None:
    """Floats would make these equal: the comparison keeps integers exact."""
    key = new_key()
    headers = {"Content-Type": "application/json"}
    first = Call(
        "POST",
        "/v1/clients",
        content=b'{"name": "A", "n": 12345678901234567890123}',
        headers=headers,
    )
    second = Call(
        "POST",
        "/v1/clients",
        content=b'{"name": "A", "n": 12345678901234567890124}',
        headers=headers,
    )
    refused = first.send(api, key)
    assert refused.status_code == 422  # `n` is not a field
    again = second.send(api, key)
    assert again.status_code == 422 and REPLAYED not in again.headers


def test_a_body_too_deeply_nested_to_compare_is_answered_not_crashed(api: Api) -> None:
    body = b'{"name": "A", "x": ' + b"[" * 300 + b"]" * 300 + b"}"
    headers = {"Content-Type": "application/json"}
    response = Call("POST", "/v1/clients", content=body, headers=headers).send(api, new_key())
    assert response.status_code == 422, response.text


def test_a_key_stored_with_the_hash_of_the_bytes_as_sent_still_replays(api: Api) -> None:
    """Keys claimed before JSON was compared by meaning (up to a day before an upgrade)."""
    call = raw_json(create_contact_call(api))
    key = new_key()
    first = call.send(api, key)
    assert first.status_code == 201
    as_sent = store.request_hash(call.method, call.path, "", call.content or b"")
    assert as_sent != key_row(api, key)["request_hash"]
    set_key(api, key, request_hash=as_sent)
    assert_replay_of(call.send(api, key), first)


def test_a_request_refused_before_the_endpoint_ran_does_not_spend_its_key(api: Api) -> None:
    """A 422 for the request's own shape changed nothing: the corrected request may use the
    same key (as Stripe does), and then it is that request's key."""
    call = create_contact_call(api)
    key = new_key()
    malformed = Call("POST", "/v1/contacts", {**call.json, "name": 42}).send(api, key)
    assert malformed.status_code == 422, malformed.text
    assert REPLAYED not in malformed.headers
    assert count_rows(api, idempotency_keys) == 0
    first = call.send(api, key)
    assert first.status_code == 201, first.text
    assert_replay_of(call.send(api, key), first)


def test_the_sweep_drops_only_expired_keys(api: Api) -> None:
    call = create_contact_call(api)
    old, fresh = new_key(), new_key()
    call.send(api, old)
    call.send(api, fresh)
    set_key(api, old, created_at=utcnow() - timedelta(hours=24, seconds=1))
    sweeper = ExpiredKeySweeper(runtime_of(api.http).database)
    # Other tests' workspaces may hold expired keys too: the sweep is not per workspace.
    assert run_async(api.http, sweeper.run_once) >= 1
    assert run_async(api.http, sweeper.run_once) == 0
    assert key_row(api, fresh)["status"] == "done"
    assert count_rows(api, idempotency_keys) == 1
    again = call.send(api, old)  # expired and swept: the key acts anew
    assert again.status_code == 201 and REPLAYED not in again.headers


def test_a_not_found_answer_is_replayed(api: Api) -> None:
    call = Call("POST", "/v1/contacts/con_missing/portal/enable", {"access_level": "view"})
    key = new_key()
    missing = call.send(api, key)
    assert missing.status_code == 404
    assert_replay_of(call.send(api, key), missing)
    assert key_row(api, key)["status"] == "done"


def test_an_upload_retried_with_a_new_multipart_boundary_replays(api: Api) -> None:
    """Clients build a new boundary for every attempt; the same fields and file are the same
    request."""
    client_id = api.make_client()["id"]
    key = new_key()
    files = {"file": ("c.csv", b"Name\nAda\n", "text/csv")}

    def upload(name: str) -> httpx.Response:
        headers = {"Idempotency-Key": key}
        return api.post(
            "/v1/contacts/imports", files=files, data={"client_id": name}, headers=headers
        )

    first = upload(client_id)
    assert first.status_code == 202, first.text
    assert_replay_of(upload(client_id), first)
    assert upload(api.make_client()["id"]).status_code == 422  # another field value


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_an_unusable_key_is_refused(api: Api, key: str) -> None:
    response = create_contact_call(api).send(api, key)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert count_rows(api, contacts) == 0


def test_a_255_character_key_is_accepted(api: Api) -> None:
    call = create_contact_call(api)
    key = "k" * 255
    first = call.send(api, key)
    assert first.status_code == 201
    assert_replay_of(call.send(api, key), first)


def test_a_single_contact_update_ignores_the_key(api: Api) -> None:
    """Only POSTs and the bulk PUT/DELETE are keyed; a PUT is idempotent by itself."""
    contact = api.make_contact()
    key = new_key()
    path = f"/v1/contacts/{contact['id']}"
    first = api.put(path, json={"title": "A"}, headers={"Idempotency-Key": key})
    second = api.put(path, json={"title": "B"}, headers={"Idempotency-Key": key})
    assert (first.status_code, second.status_code) == (200, 200)
    assert REPLAYED not in second.headers
    assert second.json()["data"]["title"] == "B"


# --- a crash between the change and storing its answer ----------------------------------------


def test_a_committed_change_whose_answer_was_lost_is_never_redone(api: Api) -> None:
    call = create_contact_call(api, email="once@example.com")
    key = new_key()
    assert call.send(api, key).status_code == 201
    # As if the process died after COMMIT and before the answer was stored.
    set_key(
        api,
        key,
        status="committed",
        response_status=None,
        response_headers=None,
        response_body=None,
    )
    retry = call.send(api, key)
    assert retry.status_code == 409, retry.text
    assert retry.json()["error"]["field"] == "Idempotency-Key"
    assert "not kept" in retry.json()["error"]["message"]
    assert count_rows(api, contacts) == 1


def test_a_retry_between_the_commit_and_the_stored_answer_is_told_to_wait(api: Api) -> None:
    """Committed, and the answer is still being stored: the retry will replay in a moment,
    so it is told to wait, not that the answer is lost."""
    call = create_contact_call(api)
    key = new_key()
    assert call.send(api, key).status_code == 201
    set_key(api, key, status="committed", locked_until=utcnow() + timedelta(minutes=1))
    retry = call.send(api, key)
    assert retry.status_code == 409, retry.text
    assert "still in progress" in retry.json()["error"]["message"]
    assert count_rows(api, contacts) == 1


def raw_json(call: Call) -> Call:
    """The call with its JSON as fixed bytes, so a stored request hash can be computed."""
    body = json.dumps(call.json).encode()
    return Call(call.method, call.path, content=body, headers={"Content-Type": "application/json"})


def _claim(api: Api, key: str, call: Call, locked_until: Any) -> None:
    """An `in_progress` record as a request leaves it when its process dies before COMMIT."""
    execute(
        api,
        insert(idempotency_keys).values(
            workspace_id=api.workspace_id,
            mode="test",
            key=key,
            request_hash=store.request_hash(
                call.method, call.path, "", store.canonical(call.content or b"")
            ),
            status="in_progress",
            created_at=utcnow() - timedelta(minutes=10),
            locked_until=locked_until,
        ),
    )


def test_a_request_that_died_before_committing_can_be_retried_once(api: Api) -> None:
    raw = raw_json(create_contact_call(api))
    key = new_key()
    _claim(api, key, raw, locked_until=utcnow() - timedelta(seconds=1))
    retry = raw.send(api, key)
    assert retry.status_code == 201, retry.text
    assert REPLAYED not in retry.headers
    assert_replay_of(raw.send(api, key), retry)
    assert count_rows(api, contacts) == 1


def test_a_request_still_in_progress_makes_a_retry_wait(api: Api) -> None:
    raw = raw_json(create_contact_call(api))
    key = new_key()
    _claim(api, key, raw, locked_until=utcnow() + timedelta(minutes=1))
    busy = raw.send(api, key)
    assert busy.status_code == 409, busy.text
    assert "in progress" in busy.json()["error"]["message"]
    assert count_rows(api, contacts) == 0


# --- concurrent requests against a real server ------------------------------------------------


@pytest.fixture
def server(settings: Any, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = base_env(
        VANTAGE_DATABASE_URL=settings.database_url,
        VANTAGE_RUN_WORKER="false",
        VANTAGE_RATE_LIMIT_PER_MINUTE="1000000",
        VANTAGE_RATE_LIMIT_BURST="1000000",
        VANTAGE_MAIL_DIR=str(tmp_path / "mail"),
        VANTAGE_LOG_LEVEL="WARNING",
    )
    with running(
        uvicorn_command(port), port=port, env=env, cwd=tmp_path, log=tmp_path / "server.log"
    ) as process:
        process.wait_ready()
        yield process.base_url


@pytest.mark.slow
@pytest.mark.parametrize("route", ["/v1/contacts", "/v1/contacts/bulk"])
def test_concurrent_requests_with_one_key_act_once(api: Api, server: str, route: str) -> None:
    client_id = api.make_client()["id"]
    if route == "/v1/contacts/bulk":
        body: dict[str, Any] = {"contacts": [{"client_id": client_id, "name": "Bulk One"}]}
    else:
        body = {"client_id": client_id, "name": "Solo", "email": "solo@example.com"}
    key = new_key()
    attempts = 10
    start = threading.Barrier(attempts)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt() -> None:
        with httpx.Client(base_url=server, headers=api.headers, timeout=30) as client:
            start.wait()
            response = client.post(route, json=body, headers={"Idempotency-Key": key})
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == attempts
    acted = [r for r in answers if r.status_code in (200, 201) and REPLAYED not in r.headers]
    assert len(acted) == 1, [(r.status_code, r.headers.get(REPLAYED), r.text) for r in answers]
    for response in answers:
        if response is acted[0]:
            continue
        if response.status_code == 409:
            assert response.json()["error"]["field"] == "Idempotency-Key"
        else:
            assert_replay_of(response, acted[0])
    assert count_rows(api, contacts) == 1
    # Once the first has finished, a retry is a plain replay.
    with httpx.Client(base_url=server, headers=api.headers, timeout=30) as client:
        late = client.post(route, json=body, headers={"Idempotency-Key": key})
    assert_replay_of(late, acted[0])
