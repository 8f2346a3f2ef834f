"""Bad input, one case at a time: each answer has its documented status, code and shape, carries
an X-Request-Id and no stack trace, and nothing is written to the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.auth import keys
from vantage_contacts.config import Settings
from vantage_contacts.errors import install_error_handlers
from vantage_contacts.middleware import RequestContextMiddleware
from vantage_contacts.models import activity, clients, contacts, events, tickets

JSON = {"Content-Type": "application/json"}
# Text that only a leaked traceback, driver error or raw pydantic error would contain.
LEAK_MARKERS = (
    "Traceback",
    'File "',
    "site-packages",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "errors.pydantic.dev",
    "Value error,",
)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The documented error shape; returns the `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    for marker in LEAK_MARKERS:
        assert marker not in response.text
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def assert_field_errors(error: dict[str, Any], expected: dict[str, str]) -> None:
    """A validation_error whose `errors` list names exactly these fields with these codes."""
    assert isinstance(error["errors"], list)
    for item in error["errors"]:
        assert set(item) == {"field", "code", "message"}
        assert all(isinstance(value, str) and value for value in item.values())
    assert {item["field"]: item["code"] for item in error["errors"]} == expected
    assert error["field"] == error["errors"][0]["field"]


def footprint(api: Api) -> tuple[int, ...]:
    """Rows the workspace owns (both modes) in every table a write could touch."""
    database = runtime_of(api.http).database
    tables = (clients, contacts, tickets, events, activity)

    async def count() -> tuple[int, ...]:
        async with database.read() as conn:
            return tuple(
                [
                    int(
                        await conn.scalar(
                            select(func.count())
                            .select_from(table)
                            .where(table.c.workspace_id == api.workspace_id)
                        )
                        or 0
                    )
                    for table in tables
                ]
            )

    result: tuple[int, ...] = run_async(api.http, count)
    return result


@pytest.fixture
def client_id(api: Api) -> str:
    return str(api.make_client()["id"])


@pytest.fixture
def contact(api: Api, client_id: str) -> dict[str, Any]:
    return api.make_contact(client_id, email="john@acme.com", phone="+1 (555) 123-4567")


class Unchanged:
    """Snapshot of the workspace and of one contact; `check()` asserts neither moved."""

    def __init__(self, api: Api, contact: dict[str, Any] | None = None) -> None:
        self.api = api
        self.contact_id = contact["id"] if contact else None
        self.before = self._state()

    def _state(self) -> tuple[Any, ...]:
        if self.contact_id is None:
            return (footprint(self.api),)
        response = self.api.get(f"/v1/contacts/{self.contact_id}")
        assert response.status_code == 200
        return footprint(self.api), response.json(), response.headers["etag"]

    def check(self) -> None:
        assert self._state() == self.before


@pytest.fixture
def unchanged(api: Api, contact: dict[str, Any]) -> Iterator[Unchanged]:
    """Every test using this asserts, at its end, that nothing was written."""
    snapshot = Unchanged(api, contact)
    yield snapshot
    snapshot.check()


# --- unreadable bodies --------------------------------------------------------------------------

MALFORMED = [b"{bad", b'{"name": "x",}', b"{'name': 'x'}", b'{"name": "x"', b"\xff\xfe{}"]


@pytest.mark.parametrize("raw", MALFORMED, ids=["bare", "trailing-comma", "quotes", "open", "bom"])
def test_malformed_json_is_400_invalid_request(
    api: Api, contact: dict[str, Any], unchanged: Unchanged, raw: bytes
) -> None:
    create = api.post("/v1/contacts", content=raw, headers=JSON)
    assert_error(create, 400, "invalid_request")
    update = api.put(f"/v1/contacts/{contact['id']}", content=raw, headers=JSON)
    assert_error(update, 400, "invalid_request")


NOT_OBJECTS = [b"[]", b'[{"name": "John"}]', b'"John Smith"', b"42", b"true", b"null", b""]


@pytest.mark.parametrize("raw", NOT_OBJECTS, ids=lambda raw: raw.decode() or "empty")
def test_body_that_is_not_a_json_object_is_400_invalid_request(
    api: Api, contact: dict[str, Any], unchanged: Unchanged, raw: bytes
) -> None:
    for response in (
        api.post("/v1/contacts", content=raw, headers=JSON),
        api.put(f"/v1/contacts/{contact['id']}", content=raw, headers=JSON),
        api.post("/v1/clients", content=raw, headers=JSON),
    ):
        error = assert_error(response, 400, "invalid_request")
        assert error["field"] == "body"
        assert error["message"] == "The request body must be a JSON object."


# --- field validation ---------------------------------------------------------------------------


def test_wrong_types_are_422_with_one_error_per_field(
    api: Api, client_id: str, unchanged: Unchanged
) -> None:
    body = {
        "client_id": client_id,
        "name": 5,
        "is_billing": "yes",
        "receives_reports": 1,
        "portal_access": "admin",
        "notes": ["a", "list"],
    }
    error = assert_error(api.post("/v1/contacts", json=body), 422, "validation_error")
    assert_field_errors(
        error,
        {
            "name": "string_type",
            "is_billing": "bool_type",
            "receives_reports": "bool_type",
            "portal_access": "literal_error",
            "notes": "string_type",
        },
    )
    assert error["message"] == "5 fields are invalid."


def test_missing_required_fields_are_422_required(api: Api, unchanged: Unchanged) -> None:
    error = assert_error(api.post("/v1/contacts", json={}), 422, "validation_error")
    assert_field_errors(error, {"client_id": "required", "name": "required"})


@pytest.mark.parametrize("field", ["name", "client_id", "is_primary", "portal_access"])
def test_update_cannot_null_a_required_field(
    api: Api, contact: dict[str, Any], unchanged: Unchanged, field: str
) -> None:
    response = api.put(f"/v1/contacts/{contact['id']}", json={field: None})
    error = assert_error(response, 422, "validation_error")
    assert error["field"] == field
    assert error["errors"][0]["message"] == f"'{field}' cannot be null"


SERVER_OWNED = [
    "id",
    "created_at",
    "updated_at",
    "deleted_at",
    "merged_into",
    "workspace_id",
    "mode",
    "version",
    "roles",
    "portal",
    "communication",
    "last_login_at",
    "portal_last_login_at",
    "email_key",
]


@pytest.mark.parametrize("field", SERVER_OWNED)
def test_unknown_body_field_is_refused_so_server_fields_cannot_be_assigned(
    api: Api, client_id: str, contact: dict[str, Any], unchanged: Unchanged, field: str
) -> None:
    value: Any = {"last_login_at": "2020-01-01T00:00:00Z"} if field == "portal" else "con_x"
    create = api.post("/v1/contacts", json={"client_id": client_id, "name": "Eve", field: value})
    assert_field_errors(assert_error(create, 422, "validation_error"), {field: "unknown_field"})
    update = api.put(f"/v1/contacts/{contact['id']}", json={"title": "CEO", field: value})
    error = assert_error(update, 422, "validation_error")
    assert_field_errors(error, {field: "unknown_field"})
    assert error["message"] == f"Unknown field '{field}'."


def test_last_login_cannot_be_set_through_the_nested_portal_object(
    api: Api, contact: dict[str, Any], unchanged: Unchanged
) -> None:
    body = {"portal": {"access_level": "full", "last_login_at": "2026-01-20T14:30:00Z"}}
    response = api.put(f"/v1/contacts/{contact['id']}", json=body)
    assert_error(response, 422, "validation_error")
    assert (
        api.get(f"/v1/contacts/{contact['id']}").json()["data"]["portal"]["last_login_at"] is None
    )


def test_name_longer_than_200_characters_is_422_too_long(
    api: Api, client_id: str, contact: dict[str, Any]
) -> None:
    snapshot = Unchanged(api, contact)
    long_name = "N" * 201
    create = api.post("/v1/contacts", json={"client_id": client_id, "name": long_name})
    assert_field_errors(assert_error(create, 422, "validation_error"), {"name": "too_long"})
    update = api.put(f"/v1/contacts/{contact['id']}", json={"name": long_name})
    assert_field_errors(assert_error(update, 422, "validation_error"), {"name": "too_long"})
    snapshot.check()
    # The limit itself is accepted.
    created = api.post("/v1/contacts", json={"client_id": client_id, "name": "N" * 200})
    assert created.status_code == 201
    assert created.json()["data"]["name"] == "N" * 200


@pytest.mark.parametrize(
    "name", ["ﬁ" * 150, "ﷺ" * 20, "Ǆ" * 200], ids=["fi-ligature", "salawat", "dz-digraph"]
)
def test_name_within_the_limit_is_accepted_even_when_its_search_form_is_longer(
    api: Api, client_id: str, name: str
) -> None:
    # Search and matching use a folded form (NFKD, accents dropped) that can be several times
    # longer than the name: U+FB01 folds to "fi", U+FDFA to eighteen characters.
    contact = api.post("/v1/contacts", json={"client_id": client_id, "name": name})
    assert contact.status_code == 201, contact.text
    assert contact.json()["data"]["name"] == name
    client = api.post("/v1/clients", json={"name": name})
    assert client.status_code == 201, client.text


def test_notes_longer_than_10000_characters_is_422_too_long(
    api: Api, client_id: str, contact: dict[str, Any]
) -> None:
    snapshot = Unchanged(api, contact)
    body = {"client_id": client_id, "name": "Ann", "notes": "n" * 10_001}
    create = api.post("/v1/contacts", json=body)
    assert_field_errors(assert_error(create, 422, "validation_error"), {"notes": "too_long"})
    update = api.put(f"/v1/contacts/{contact['id']}", json={"notes": "n" * 10_001})
    assert_field_errors(assert_error(update, 422, "validation_error"), {"notes": "too_long"})
    snapshot.check()
    created = api.post("/v1/contacts", json={**body, "notes": "n" * 10_000})
    assert created.status_code == 201
    assert len(created.json()["data"]["notes"]) == 10_000


@pytest.mark.parametrize(
    "email", ["john", "john@", "@acme.com", "john smith@acme.com", "john@@acme.com", "a@b@c.com"]
)
def test_invalid_email_is_422_on_create_and_update(
    api: Api, client_id: str, contact: dict[str, Any], unchanged: Unchanged, email: str
) -> None:
    create = api.post("/v1/contacts", json={"client_id": client_id, "name": "Ann", "email": email})
    error = assert_error(create, 422, "validation_error")
    assert_field_errors(error, {"email": "invalid"})
    assert error["message"].startswith("not a valid email address")
    update = api.put(f"/v1/contacts/{contact['id']}", json={"email": email})
    assert_field_errors(assert_error(update, 422, "validation_error"), {"email": "invalid"})


@pytest.mark.parametrize("field", ["phone", "mobile"])
@pytest.mark.parametrize("text", ["abc", "12", "+1 555", "call me", "+999 123 456 789"])
def test_impossible_phone_number_is_422_invalid_phone(
    api: Api, client_id: str, contact: dict[str, Any], unchanged: Unchanged, field: str, text: str
) -> None:
    create = api.post("/v1/contacts", json={"client_id": client_id, "name": "Ann", field: text})
    assert_field_errors(assert_error(create, 422, "validation_error"), {field: "invalid_phone"})
    update = api.put(f"/v1/contacts/{contact['id']}", json={field: text})
    assert_field_errors(assert_error(update, 422, "validation_error"), {field: "invalid_phone"})


def test_both_bad_phones_are_reported_together(
    api: Api, client_id: str, unchanged: Unchanged
) -> None:
    body = {"client_id": client_id, "name": "Ann", "phone": "abc", "mobile": "12"}
    error = assert_error(api.post("/v1/contacts", json=body), 422, "validation_error")
    assert_field_errors(error, {"phone": "invalid_phone", "mobile": "invalid_phone"})


def test_possible_but_unassigned_number_is_accepted_as_written(api: Api, client_id: str) -> None:
    body = {
        "client_id": client_id,
        "name": "John Smith",
        "phone": "+1 (555) 123-4567",
        "mobile": "+1 (555) 987-6543",
    }
    response = api.post("/v1/contacts", json=body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["phone"], data["mobile"]) == ("+1 (555) 123-4567", "+1 (555) 987-6543")


def test_nul_character_in_a_text_field_is_422_not_a_server_error(
    api: Api, client_id: str, contact: dict[str, Any], unchanged: Unchanged
) -> None:
    # PostgreSQL refuses U+0000 in text; both databases must answer the same 422.
    for field in ("name", "title", "department", "notes", "client_id"):
        body = {"client_id": client_id, "name": "Ann", field: "a\x00b"}
        error = assert_error(api.post("/v1/contacts", json=body), 422, "validation_error")
        assert_field_errors(error, {field: "invalid_characters"})
    update = api.put(f"/v1/contacts/{contact['id']}", json={"title": "\x00"})
    assert_field_errors(
        assert_error(update, 422, "validation_error"), {"title": "invalid_characters"}
    )
    assert_error(api.post("/v1/clients", json={"name": "A\x00"}), 422, "validation_error")
    ticket = {"client_id": client_id, "title": "Help", "description": "\x00"}
    assert_error(api.post("/v1/tickets", json=ticket), 422, "validation_error")


@pytest.mark.parametrize(
    "path",
    ["/v1/contacts/con_%00", "/v1/contacts?search=a%00b", "/v1/contacts?client_id=%00"],
)
def test_nul_character_in_the_url_is_400_not_a_server_error(api: Api, path: str) -> None:
    assert_error(api.get(path), 400, "invalid_parameter")


# --- body size and media type -------------------------------------------------------------------


def _body_of_size(size: int, client_id: str) -> bytes:
    """A JSON contact of exactly `size` bytes, padded in `notes`."""
    body = json.dumps({"client_id": client_id, "name": "Big", "notes": ""}).encode()
    padding = b"n" * (size - len(body))
    return body.replace(b'"notes": ""', b'"notes": "' + padding + b'"')


def test_body_over_the_cap_with_content_length_is_413(
    api: Api, settings: Settings, client_id: str, contact: dict[str, Any], unchanged: Unchanged
) -> None:
    raw = _body_of_size(settings.max_body_bytes + 1, client_id)
    assert len(raw) == settings.max_body_bytes + 1
    assert_error(api.post("/v1/contacts", content=raw, headers=JSON), 413, "payload_too_large")
    update = api.put(f"/v1/contacts/{contact['id']}", content=raw, headers=JSON)
    assert_error(update, 413, "payload_too_large")


def test_chunked_body_over_the_cap_is_413(
    api: Api, settings: Settings, client_id: str, unchanged: Unchanged
) -> None:
    raw = _body_of_size(settings.max_body_bytes + 1, client_id)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    response = api.post("/v1/contacts", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")


def test_body_exactly_at_the_cap_is_read(
    api: Api, settings: Settings, client_id: str, unchanged: Unchanged
) -> None:
    raw = _body_of_size(settings.max_body_bytes, client_id)
    assert len(raw) == settings.max_body_bytes
    # Read and validated (notes far over 10,000 characters), not refused for its size.
    response = api.post("/v1/contacts", content=raw, headers=JSON)
    assert_field_errors(assert_error(response, 422, "validation_error"), {"notes": "too_long"})


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
)
def test_non_json_content_type_is_415(
    api: Api,
    client_id: str,
    contact: dict[str, Any],
    unchanged: Unchanged,
    content_type: str | None,
) -> None:
    raw = json.dumps({"client_id": client_id, "name": "Ann"}).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    create = api.post("/v1/contacts", content=raw, headers=headers)
    assert_error(create, 415, "unsupported_media_type")
    update = api.put(f"/v1/contacts/{contact['id']}", content=b'{"title": "x"}', headers=headers)
    assert_error(update, 415, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(api: Api, client_id: str) -> None:
    raw = json.dumps({"client_id": client_id, "name": "Zoë"}).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    response = api.post("/v1/contacts", content=raw, headers=headers)
    assert response.status_code == 201
    assert response.json()["data"]["name"] == "Zoë"


# --- query parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=abc", "per_page"),
        ("per_page=-1", "per_page"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("sort=foo", "sort"),
        ("sort=email", "sort"),
        ("is_primary=maybe", "is_primary"),
        ("has_portal_access=2", "has_portal_access"),
        (f"search={'s' * 201}", "search"),
    ],
)
def test_unknown_query_value_on_the_contact_list_is_400_invalid_parameter(
    api: Api, query: str, field: str
) -> None:
    error = assert_error(api.get(f"/v1/contacts?{query}"), 400, "invalid_parameter")
    assert error["field"] == field


@pytest.mark.parametrize("path", ["/v1/clients", "/v1/tickets"])
@pytest.mark.parametrize("query", ["per_page=101", "page=0", "sort=foo"])
def test_unknown_query_value_on_other_lists_is_400_invalid_parameter(
    api: Api, path: str, query: str
) -> None:
    error = assert_error(api.get(f"{path}?{query}"), 400, "invalid_parameter")
    assert error["field"] == query.split("=")[0]


@pytest.mark.parametrize("include", ["foo", "client,foo", "tickets,,bar", "CLIENT"])
def test_unknown_include_value_is_400_invalid_parameter(
    api: Api, contact: dict[str, Any], include: str
) -> None:
    response = api.get(f"/v1/contacts/{contact['id']}", params={"include": include})
    error = assert_error(response, 400, "invalid_parameter")
    assert error["field"] == "include"


# --- routes and methods -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/nope", "/v2/contacts", "/v1/contacts/con_x/nope", "/v1"])
def test_unknown_route_is_404_not_found(api: Api, path: str) -> None:
    assert_error(api.get(path), 404, "not_found")
    assert_error(api.post(path, json={}), 404, "not_found")


def test_wrong_method_is_405_and_lists_the_allowed_ones(
    api: Api, contact: dict[str, Any], unchanged: Unchanged
) -> None:
    one = api.request("PATCH", f"/v1/contacts/{contact['id']}", json={"title": "CEO"})
    assert_error(one, 405, "method_not_allowed")
    assert set(one.headers["allow"].split(", ")) >= {"GET", "PUT", "DELETE"}
    collection = api.delete("/v1/contacts")
    assert_error(collection, 405, "method_not_allowed")
    assert set(collection.headers["allow"].split(", ")) >= {"GET", "POST"}
    assert "DELETE" not in collection.headers["allow"]


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Basic dm50X3NrX3Rlc3RfeHg6",
        "vnt_sk_test_" + "a" * 43,
        "Bearer vnt_sk_test_" + "a" * 43,
        "Bearer vnt_sk_live_" + "a" * 43,
        "Bearer vnt_pk_test_" + "a" * 43,
    ],
)
def test_missing_or_malformed_or_unknown_key_is_401(
    http: TestClient, api: Api, client_id: str, authorization: str | None
) -> None:
    snapshot = Unchanged(api)
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_error(http.get("/v1/contacts", headers=headers), 401, "unauthorized")
    body = {"client_id": client_id, "name": "Mallory"}
    assert_error(http.post("/v1/contacts", json=body, headers=headers), 401, "unauthorized")
    snapshot.check()


def test_key_of_the_workspace_with_a_different_secret_is_401(api: Api, client_id: str) -> None:
    tampered = api.secret[:-1] + ("A" if api.secret[-1] != "A" else "B")
    response = api.http.get("/v1/contacts", headers={"Authorization": f"Bearer {tampered}"})
    assert_error(response, 401, "unauthorized")


def test_revoked_key_fails_at_once(http: TestClient, api: Api, client_id: str) -> None:
    database = runtime_of(http).database

    async def create() -> tuple[str, str]:
        async with database.write() as conn:
            return await keys.create_key(conn, api.workspace_id, "test", "to revoke")

    async def revoke(key_id: str) -> bool:
        async with database.write() as conn:
            return await keys.revoke(conn, key_id)

    key_id, secret = run_async(http, create)
    headers = {"Authorization": f"Bearer {secret}"}
    assert http.get("/v1/contacts", headers=headers).status_code == 200
    assert run_async(http, revoke, key_id) is True

    snapshot = Unchanged(api)
    assert_error(http.get("/v1/contacts", headers=headers), 401, "unauthorized")
    body = {"client_id": client_id, "name": "Mallory"}
    assert_error(http.post("/v1/contacts", json=body, headers=headers), 401, "unauthorized")
    snapshot.check()
    # The workspace's other keys keep working.
    assert api.get("/v1/contacts").status_code == 200


# --- what every error response looks like ------------------------------------------------------


def test_caller_request_id_is_echoed_on_errors(api: Api) -> None:
    response = api.get("/v1/contacts?per_page=0", headers={"X-Request-Id": "trace-42.a_b:c"})
    assert_error(response, 400, "invalid_parameter")
    assert response.headers["x-request-id"] == "trace-42.a_b:c"


def test_unexpected_exception_is_500_with_request_id_and_no_details() -> None:
    """The catch-all handler runs outside the middleware; it must still give the request id."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1024)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in /srv/app/secret.py")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    error = assert_error(response, 500, "internal_error")
    assert error == {"code": "internal_error", "message": "An unexpected error occurred."}
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
