"""Tenancy: an object of one workspace and mode is invisible and untouchable from any other.

SPEC §1: an id that exists in another workspace or mode is answered exactly like an id that does
not exist (404, never 403), so nothing leaks. The routes under test are read from the app's
OpenAPI description, so a new route with an `{…_id}` path parameter is probed automatically;
one whose parameter names a kind of object this file cannot create fails until it is taught to.

Every probe checks, against an owner and an intruder (another workspace, or the other mode of
the same workspace):
- the intruder gets the documented 404 body, identical (apart from the id) to the answer for an
  id that never existed, with the same headers;
- no row of either workspace changed (a snapshot of every tenant table, events and activity
  included), and the owner re-reads the object unchanged;
- the same request from the owner succeeds (and a write does write), so the 404 came from
  tenancy and not from a body or route the server would refuse anyway.

Also: lists (with every filter that can name the owner's objects) never show them, and a body
naming another tenant's object (`client_id` on a contact, `contact_id` on a ticket, …) is 404
for that resource, like an id that never existed.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings
from vantage_contacts.kit.ids import new_id
from vantage_contacts.models import metadata

ID_PARAM = re.compile(r"\{((?:\w+_)?id)\}")
WRITE_METHODS = ("post", "put", "patch")
# Headers whose values differ from one request to the next whatever the request was.
VOLATILE_HEADERS = {"x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset", "date"}


# --- the kinds of object this file knows how to create -------------------------------------------

Made = dict[str, dict[str, Any]]  # objects already made for a route, by path parameter
Read = tuple[int, Any, str | None]  # status, body and ETag of the owner's re-read

PROBE_URL = "https://127.0.0.1:9/probe"  # never called: the tests run without the worker


def make_client(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    return api.make_client(
        name=f"Probe {token} Inc", website="https://probe.example", notes=f"notes {token}"
    )


def make_contact(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    client = (made or {}).get("client_id") or make_client(api, token)
    return api.make_contact(
        client["id"],
        name=f"Probe {token}",
        email=f"probe-{token}-{secrets.token_hex(3)}@acme.com",
        phone="+1 (555) 123-4567",
        title="VP of Marketing",
        department="Marketing",
        portal_access="full",
        notes=f"notes {token}",
    )


def make_ticket(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    contact = (made or {}).get("contact_id") or make_contact(api, token, made)
    return api.make_ticket(
        contact["client_id"], title=f"Probe {token} ticket", contact_id=contact["id"]
    )


def make_webhook(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    """An endpoint with one delivery already (of a test event), so its lists are not empty."""
    body = {"url": PROBE_URL, "events": ["*"], "description": f"Probe {token}"}
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    sent = api.post(f"/v1/webhooks/{data['id']}/test")
    assert sent.status_code == 202, sent.text
    return data


def make_event(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    client = make_client(api, token)
    response = api.get("/v1/events", params={"object_id": client["id"]})
    assert response.status_code == 200, response.text
    events = response.json()["data"]
    assert events, "creating a client wrote no event"
    data: dict[str, Any] = events[0]
    return data


def make_delivery(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    """A delivery of a test event to the route's webhook (or a new one)."""
    webhook = (made or {}).get("webhook_id") or make_webhook(api, token)
    sent = api.post(f"/v1/webhooks/{webhook['id']}/test")
    assert sent.status_code == 202, sent.text
    event_id = sent.json()["data"]["event_id"]
    listed = api.get(f"/v1/webhooks/{webhook['id']}/deliveries")
    assert listed.status_code == 200, listed.text
    found = [d for d in listed.json()["data"] if d["event_id"] == event_id]
    assert len(found) == 1, listed.text
    delivery: dict[str, Any] = found[0]
    return delivery


def make_merge(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    """A merge of two fresh contacts of one client (so it can be read and undone)."""
    survivor = make_contact(api, token, made)
    merged = make_contact(api, f"{token}-2", {"client_id": {"id": survivor["client_id"]}})
    response = api.post(
        f"/v1/contacts/{survivor['id']}/merge", json={"merge_contact_id": merged["id"]}
    )
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["merge"]
    return record


def make_import(api: Api, token: str, made: Made | None = None) -> dict[str, Any]:
    """A queued CSV import of one row."""
    client = (made or {}).get("client_id") or make_client(api, token)
    csv = f"name,email\nProbe {token},imp-{token}@acme.com\n".encode()
    response = api.post(
        "/v1/contacts/imports",
        files={"file": ("probe.csv", csv, "text/csv")},
        data={"client_id": client["id"]},
    )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


def read_one(path: str) -> Callable[[Api, dict[str, Any]], Read]:
    def read(api: Api, obj: dict[str, Any]) -> Read:
        response = api.get(f"{path}/{obj['id']}")
        return response.status_code, response.json(), response.headers.get("etag")

    return read


def read_delivery(api: Api, obj: dict[str, Any]) -> Read:
    response = api.get(f"/v1/webhooks/{obj['endpoint_id']}/deliveries", params={"per_page": 100})
    found = [d for d in response.json().get("data", []) if d["id"] == obj["id"]]
    return response.status_code, found, None


@dataclass(frozen=True)
class Kind:
    resource: str  # as the 404 body names it
    create: Callable[[Api, str, Made], dict[str, Any]]
    read: Callable[[Api, dict[str, Any]], Read]
    collection: str | None = None


KINDS: dict[str, Kind] = {
    "client_id": Kind("client", make_client, read_one("/v1/clients"), "/v1/clients"),
    "contact_id": Kind("contact", make_contact, read_one("/v1/contacts"), "/v1/contacts"),
    "ticket_id": Kind("ticket", make_ticket, read_one("/v1/tickets"), "/v1/tickets"),
    "webhook_id": Kind("webhook", make_webhook, read_one("/v1/webhooks"), "/v1/webhooks"),
    "event_id": Kind("event", make_event, read_one("/v1/events")),
    "delivery_id": Kind("delivery", make_delivery, read_delivery),
    "merge_id": Kind("merge", make_merge, read_one("/v1/merges")),
    "import_id": Kind("import", make_import, read_one("/v1/contacts/imports")),
}


def kind_key(field: str) -> str | None:
    """The KINDS key a body or query field refers to: `contact_id`, `merge_contact_id`… ."""
    if field in KINDS:
        return field
    return next((key for key in KINDS if field.endswith(f"_{key}")), None)


@dataclass(frozen=True)
class World:
    """One tenant's related objects, named with a token that appears nowhere else."""

    token: str
    objects: Made

    def ids(self) -> list[str]:
        return [obj["id"] for obj in self.objects.values()]

    def id_for(self, field: str) -> str | None:
        """The id of this world's object that a body or query field may name."""
        if field == "object_id":  # the events filter: any object's id
            return str(self.objects["contact_id"]["id"])
        key = kind_key(field)
        return str(self.objects[key]["id"]) if key in self.objects else None


def make_world(api: Api) -> World:
    """A client, its contact, the contact's ticket, and a webhook endpoint."""
    token = secrets.token_hex(5)
    made: Made = {"client_id": make_client(api, token)}
    made["contact_id"] = make_contact(api, token, made)
    made["ticket_id"] = make_ticket(api, token, made)
    made["webhook_id"] = make_webhook(api, token, made)
    return World(token, made)


# Bodies that change the object, for the write routes known today. Any other write route gets a
# body built from its OpenAPI schema (see `synthesize_body`).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/v1/clients/{client_id}"): {"name": "Renamed by intruder", "notes": "overwritten"},
    ("PUT", "/v1/contacts/{contact_id}"): {
        "name": "Renamed by intruder",
        "title": "Chief Marketing Officer",
        "is_billing": True,
        "receives_reports": True,
        "portal_access": "none",
    },
    ("PUT", "/v1/tickets/{ticket_id}"): {"title": "Renamed by intruder", "status": "closed"},
    ("PUT", "/v1/webhooks/{webhook_id}"): {
        "url": "https://127.0.0.1:9/elsewhere",
        "description": "Redirected by intruder",
        "status": "disabled",
    },
}
# Query strings that make a GET route do the most work (and so touch the most tables).
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/contacts/{contact_id}"): {"include": "client,tickets,activity"},
}


# --- the routes, from the app's OpenAPI description ----------------------------------------------


def openapi_of(app: Any) -> dict[str, Any]:
    schema: dict[str, Any] = app.openapi()
    return schema


def id_routes(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation whose path names an object id."""
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if ID_PARAM.search(path)
        for method in operations
    )


def list_routes(schema: dict[str, Any]) -> list[str]:
    """Paths of the API's collections: GET under /v1/ with no path parameter."""
    return sorted(
        path
        for path, operations in schema["paths"].items()
        if path.startswith("/v1/") and "{" not in path and "get" in operations
    )


def reference_fields(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(METHOD, path, field) of every write whose body may name an object by id."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = request_schema(schema, operation)
            if method not in WRITE_METHODS or body is None:
                continue
            for field in body.get("properties", {}):
                if ID_FIELD.fullmatch(field):
                    found.append((method.upper(), path, field))
    return sorted(found)


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The schema node behind `$ref`s, and the non-null branch of an optional field."""
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node[key] if resolve(schema, o).get("type") != "null"]
            return resolve(schema, options[0])
    return node


def request_schema(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return None if content is None else resolve(schema, content["schema"])


def operation_of(method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = PROBE_SCHEMA["paths"][path][method.lower()]
    return operation


def sample_value(name: str, node: dict[str, Any], world: World) -> Any:
    """A valid value for one body field; ids name objects of `world`."""
    node = resolve(PROBE_SCHEMA, node)
    object_id = world.id_for(name)
    if object_id is not None:
        return object_id
    if "enum" in node:
        return node["enum"][-1]
    kind = node.get("type")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return node.get("minimum", 1)
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if node.get("format") == "email":
        return f"probe-{world.token}@example.com"
    if name == "url" or node.get("format") == "uri":
        return PROBE_URL
    return f"Probe {world.token} value"


def synthesize_body(operation: dict[str, Any], world: World) -> dict[str, Any] | None:
    """A body of the operation's required fields only, or None when it takes no body."""
    body_schema = request_schema(PROBE_SCHEMA, operation)
    if body_schema is None:
        return None
    properties = body_schema.get("properties", {})
    return {
        name: sample_value(name, properties[name], world)
        for name in body_schema.get("required", [])
    }


def fill(path: str, ids: dict[str, str]) -> str:
    for param, object_id in ids.items():
        path = path.replace(f"{{{param}}}", object_id)
    return path


ID_FIELD = re.compile(r"(?:\w+_)?id")
PROBE_SCHEMA = openapi_of(create_app(Settings(log_level="WARNING", run_worker=False)))
ID_ROUTES = id_routes(PROBE_SCHEMA)
LIST_ROUTES = list_routes(PROBE_SCHEMA)
REFERENCE_FIELDS = reference_fields(PROBE_SCHEMA)


# --- owners and intruders ------------------------------------------------------------------------

SCENARIOS = ["other_workspace", "live_key_on_test_object", "test_key_on_live_object"]


def owner_and_intruder(scenario: str, api: Api, other_api: Api) -> tuple[Api, Api]:
    if scenario == "other_workspace":
        return api, other_api
    if scenario == "live_key_on_test_object":
        return api, api.live
    return api.live, api


# --- checks --------------------------------------------------------------------------------------


def snapshot(http: TestClient, workspace_ids: set[str]) -> dict[str, list[str]]:
    """Every row of every tenant table of these workspaces (API keys aside: using one stamps
    `last_used_at`), so any write at all, events and activity included, shows up."""
    database = runtime_of(http).database
    tables: list[Table] = [
        t for t in metadata.sorted_tables if "workspace_id" in t.c and t.name != "api_keys"
    ]

    async def _read() -> dict[str, list[str]]:
        out = {}
        async with database.read() as conn:
            for table in tables:
                query = select(table).where(table.c.workspace_id.in_(sorted(workspace_ids)))
                rows = (await conn.execute(query)).mappings().all()
                out[table.name] = sorted(repr(sorted(dict(r).items())) for r in rows)
        return out

    result: dict[str, list[str]] = run_async(http, _read)
    return result


def masked(response: httpx.Response, ids: list[str]) -> Any:
    """The JSON body with each of `ids` replaced by its position, so that the answers about two
    different ids can be compared."""
    text = response.text
    for n, object_id in enumerate(ids):
        text = text.replace(object_id, f"<id{n}>")
    return json.loads(text)


def stable_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() not in VOLATILE_HEADERS}


def assert_not_found(response: httpx.Response, candidates: list[tuple[str, str]]) -> None:
    """The documented 404, `{"error": {"code": "not_found", "message", "resource", "id"}}`,
    naming one of the (resource, id) pairs the request referred to."""
    assert response.status_code == 404, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "resource", "id"}, error
    assert error["code"] == "not_found"
    assert isinstance(error["message"], str) and error["message"]
    assert (error["resource"], error["id"]) in candidates, error


def assert_same_answer(
    foreign: httpx.Response, foreign_ids: list[str], unknown: httpx.Response, unknown_ids: list[str]
) -> None:
    """An id of another tenant is answered exactly like an id that never existed."""
    assert foreign.status_code == unknown.status_code
    assert masked(foreign, foreign_ids) == masked(unknown, unknown_ids)
    assert stable_headers(foreign) == stable_headers(unknown)


def unknown_like(object_id: str) -> str:
    """An id that does not exist, with the same prefix and length as a real one."""
    return new_id(object_id.split("_", 1)[0])


def make_route_objects(api: Api, params: list[str], token: str) -> Made:
    """One object per path parameter, each made inside the ones before it (a delivery of the
    route's webhook, …)."""
    made: Made = {}
    for param in params:
        made[param] = KINDS[param].create(api, token, made)
    return made


# --- every route that takes an object id ---------------------------------------------------------


def test_every_id_route_is_probed(http: TestClient) -> None:
    """The parametrization below covers every `{…_id}` route the running app serves, and every
    id parameter names a kind of object this file can create."""
    served = id_routes(openapi_of(http.app))
    assert served == ID_ROUTES
    # Routes known today, so that a broken derivation cannot silently probe nothing.
    for route in [
        ("GET", "/v1/contacts/{contact_id}"),
        ("PUT", "/v1/contacts/{contact_id}"),
        ("DELETE", "/v1/contacts/{contact_id}"),
        ("GET", "/v1/clients/{client_id}"),
        ("PUT", "/v1/clients/{client_id}"),
        ("DELETE", "/v1/clients/{client_id}"),
        ("GET", "/v1/tickets/{ticket_id}"),
        ("PUT", "/v1/tickets/{ticket_id}"),
    ]:
        assert route in ID_ROUTES
    unknown = {p for _, path in ID_ROUTES for p in ID_PARAM.findall(path)} - set(KINDS)
    assert not unknown, f"teach KINDS to create objects for {sorted(unknown)}"
    assert set(LIST_ROUTES) >= {"/v1/contacts", "/v1/clients", "/v1/tickets"}
    assert ("POST", "/v1/contacts", "client_id") in REFERENCE_FIELDS
    assert ("POST", "/v1/tickets", "contact_id") in REFERENCE_FIELDS
    unknown_fields = {f for _, _, f in REFERENCE_FIELDS if kind_key(f) is None}
    assert not unknown_fields, f"teach KINDS about body fields {sorted(unknown_fields)}"


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("method", "path"), ID_ROUTES, ids=[f"{m} {p}" for m, p in ID_ROUTES])
def test_object_of_another_tenant_answers_404_like_a_missing_id_and_stays_unchanged(
    http: TestClient, api: Api, other_api: Api, scenario: str, method: str, path: str
) -> None:
    owner, intruder = owner_and_intruder(scenario, api, other_api)
    params = ID_PARAM.findall(path)
    missing = [p for p in params if p not in KINDS]
    assert not missing, f"{method} {path}: teach KINDS to create objects for {missing}"
    token = secrets.token_hex(5)
    objects = make_route_objects(owner, params, token)
    ids = {p: objects[p]["id"] for p in params}
    unknown_ids = {p: unknown_like(i) for p, i in ids.items()}
    operation = operation_of(method, path)
    body = BODIES.get((method, path))
    if body is None and request_schema(PROBE_SCHEMA, operation) is not None:
        body = synthesize_body(operation, make_world(owner))
    query = QUERIES.get((method, path), {})

    def call(caller: Api, path_ids: dict[str, str]) -> httpx.Response:
        kwargs: dict[str, Any] = {"params": query}
        if body is not None:
            kwargs["json"] = body
        return caller.request(method, fill(path, path_ids), **kwargs)

    def read_all() -> dict[str, Read]:
        return {p: KINDS[p].read(owner, objects[p]) for p in params}

    # For a nested route, the intruder's own parents with the owner's last object.
    last = params[-1]
    own_parents = make_route_objects(intruder, params[:-1], token)
    mixed = {**{p: o["id"] for p, o in own_parents.items()}, last: ids[last]}

    before_reads = read_all()
    workspaces = {owner.workspace_id, intruder.workspace_id}
    before_rows = snapshot(http, workspaces)

    foreign = call(intruder, ids)
    unknown = call(intruder, unknown_ids)

    assert unknown.status_code == 404, (
        f"{method} {path} with unknown ids answered {unknown.status_code}, not 404: "
        f"give it a valid body in BODIES. {unknown.text}"
    )
    assert_not_found(foreign, [(KINDS[p].resource, ids[p]) for p in params])
    assert_same_answer(foreign, list(ids.values()), unknown, list(unknown_ids.values()))
    if own_parents:
        foreign_child = call(intruder, mixed)
        unknown_child = call(intruder, {**mixed, last: unknown_ids[last]})
        assert_not_found(foreign_child, [(KINDS[last].resource, ids[last])])
        assert_same_answer(foreign_child, [ids[last]], unknown_child, [unknown_ids[last]])

    assert snapshot(http, workspaces) == before_rows
    assert read_all() == before_reads

    # The control: the owner's identical request is served, and a write does write.
    own = call(owner, ids)
    assert 200 <= own.status_code < 300, f"{method} {path} by its owner: {own.text}"
    if method == "GET":
        assert ids[params[-1]] in own.text
    else:
        assert snapshot(http, workspaces) != before_rows, f"{method} {path} wrote nothing"


# --- lists ---------------------------------------------------------------------------------------


def list_queries(path: str, world: World) -> list[dict[str, str]]:
    """No filter, then each filter that can name the owner's objects."""
    queries: list[dict[str, str]] = [{}]
    for parameter in operation_of("GET", path).get("parameters", []):
        name = parameter["name"]
        if parameter["in"] != "query":
            continue
        if name == "search":
            queries.append({name: world.token})
        elif (object_id := world.id_for(name)) is not None:
            queries.append({name: object_id})
    return queries


CONTROLLED_LISTS = {kind.collection for kind in KINDS.values() if kind.collection} | {"/v1/events"}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("path", LIST_ROUTES)
def test_list_never_returns_objects_of_another_tenant(
    api: Api, other_api: Api, scenario: str, path: str
) -> None:
    owner, intruder = owner_and_intruder(scenario, api, other_api)
    world = make_world(owner)

    for query in list_queries(path, world):
        seen = intruder.get(path, params=query)
        if seen.status_code == 404 and query:
            # A filter naming one object (duplicates?contact_id=) answers for another tenant's
            # id exactly as for an id that never existed.
            ((name, value),) = query.items()
            unknown = intruder.get(path, params={name: value[:4] + "x" * (len(value) - 4)})
            assert unknown.status_code == 404, unknown.text
            assert seen.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
            continue

        assert seen.status_code == 200, (query, seen.text)
        # Neither an id nor the token of the owner appears anywhere, nested data included.
        for secret in [*world.ids(), world.token]:
            assert secret not in seen.text, (query, secret)
        body = seen.json()
        assert body["data"] == []
        assert body["pagination"]["total"] == 0

        # The control: the owner's same query does find its objects (in the lists whose
        # content a world of objects determines; a duplicates report, say, may well be empty).
        own = owner.get(path, params=query)
        assert own.status_code == 200, own.text
        if path in CONTROLLED_LISTS:
            assert any(object_id in own.text for object_id in world.ids()), (query, own.text)


# --- bodies that name an object of another tenant ------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(
    ("method", "path", "field"),
    REFERENCE_FIELDS,
    ids=[f"{m} {p} {f}" for m, p, f in REFERENCE_FIELDS],
)
def test_body_naming_an_object_of_another_tenant_is_404_like_a_missing_id(
    http: TestClient,
    api: Api,
    other_api: Api,
    scenario: str,
    method: str,
    path: str,
    field: str,
) -> None:
    """A contact created with another tenant's client_id, a ticket with its contact_id, a contact
    moved to its client…: 404 naming that resource, as for an id that never existed."""
    owner, intruder = owner_and_intruder(scenario, api, other_api)
    key = kind_key(field)
    assert key is not None, f"{method} {path}: teach KINDS about body field {field}"
    foreign_world = make_world(owner)
    own_world = make_world(intruder)
    base = synthesize_body(operation_of(method, path), own_world) or {}
    foreign_id = foreign_world.objects[key]["id"]
    unknown_id = unknown_like(foreign_id)
    # The intruder writes to its own objects; only the body names a foreign one.
    path_ids = {p: own_world.objects[p]["id"] for p in ID_PARAM.findall(path)}
    url = fill(path, path_ids)
    workspaces = {owner.workspace_id, intruder.workspace_id}
    before_rows = snapshot(http, workspaces)

    foreign = intruder.request(method, url, json={**base, field: foreign_id})
    unknown = intruder.request(method, url, json={**base, field: unknown_id})

    assert_not_found(foreign, [(KINDS[key].resource, foreign_id)])
    assert_same_answer(foreign, [foreign_id], unknown, [unknown_id])
    assert snapshot(http, workspaces) == before_rows

    # The control: the same body naming one of the intruder's own objects is accepted.
    own_id = own_world.objects[key]["id"]
    if own_id in path_ids.values():  # never the path's object itself (merging with itself…)
        own_id = KINDS[key].create(intruder, own_world.token, {})["id"]
    own = intruder.request(method, url, json={**base, field: own_id})
    assert 200 <= own.status_code < 300, own.text
