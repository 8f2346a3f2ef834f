"""Property tests: whatever JSON a caller sends to the write endpoints, the answer is a success or
a documented 4xx in the error shape, never a 500; and a refused request changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.support import Api, run_async, runtime_of
from vantage_contacts.models import activity, clients, contacts, events, tickets

DOCUMENTED_4XX = {400, 404, 409, 413, 415, 422}
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- JSON generators ----------------------------------------------------------------------------

# Any text, including control characters, NUL, right-to-left marks and astral-plane emoji.
any_text = st.text(max_size=60)
huge_text = st.sampled_from([201, 320, 10_001, 60_000]).map(lambda n: "ß" * n)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)
junk = json_values | huge_text


def sample(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


flags = st.booleans()
bad_flags = sample("true", 1, 0, "yes", []) | junk
plain_text = st.text(alphabet="abcXYZ Zoëß李-'.&", max_size=40)
names = sample("John Smith", "  Zoë Ångström  ", "李小龍", "N" * 200) | plain_text.filter(str.strip)
bad_text = any_text | junk | sample("", "   ", "N" * 201)
PHONES = ("+1 (555) 123-4567", "+44 20 7946 0958", "020 7946 0958", "(202) 555-0123")
BAD_PHONES = ("abc", "12", "+1 555", "call me", "+999 123 456 789")


@dataclass(frozen=True)
class Fields:
    """Per field: values meant to be accepted (nearly all are) and values that must not be;
    `required` fields are in every body built from the good values."""

    good: dict[str, st.SearchStrategy[Any]]
    bad: dict[str, st.SearchStrategy[Any]]
    required: tuple[str, ...] = ()


def contact_fields(client_ids: list[str], required: tuple[str, ...] = ()) -> Fields:
    return Fields(
        good={
            "client_id": st.sampled_from(client_ids),
            "name": names,
            "email": st.emails() | sample("john@acme.com", "JOHN@ACME.COM", "zoë@exämple.com"),
            "phone": sample(*PHONES),
            "mobile": sample(*PHONES),
            "title": plain_text,
            "department": plain_text,
            "is_primary": flags,
            "is_billing": flags,
            "is_technical": flags,
            "portal_access": sample("none", "view", "full"),
            "receives_invoices": flags,
            "receives_reports": flags,
            "receives_project_updates": flags,
            "notes": any_text | st.just("n" * 10_000),
        },
        bad={
            "client_id": sample("cli_missing", "", "c" * 41) | junk,
            "name": bad_text,
            "email": sample("no-at-sign", "a@", "@b.com", "a b@c.com") | junk,
            "phone": sample(*BAD_PHONES) | junk,
            "mobile": sample(*BAD_PHONES) | junk,
            "title": bad_text,
            "department": bad_text,
            "is_primary": bad_flags,
            "is_billing": bad_flags,
            "is_technical": bad_flags,
            "portal_access": sample("admin", "FULL", "") | junk,
            "receives_invoices": bad_flags,
            "receives_reports": bad_flags,
            "receives_project_updates": bad_flags,
            "notes": st.just("n" * 10_001) | junk,
        },
        required=required,
    )


# Fields the server owns, or that only exist in the response object.
SERVER_KEYS = ["id", "created_at", "updated_at", "roles", "portal", "communication", "deleted"]


@st.composite
def mutated(draw: st.DrawFn, fields: Fields, valid: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid body with one to three things wrong: a bad value, a null, a dropped field, or an
    unknown key."""
    body = dict(draw(valid))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        field = draw(st.sampled_from(sorted(fields.bad)))
        kind = draw(sample("bad", "null", "drop", "unknown"))
        if kind == "bad":
            body[field] = draw(fields.bad[field])
        elif kind == "null":
            body[field] = None
        elif kind == "drop":
            body.pop(field, None)
        else:
            body[draw(st.sampled_from(SERVER_KEYS) | any_text)] = draw(json_values)
    return body


def bodies(fields: Fields) -> st.SearchStrategy[Any]:
    """Valid bodies, nearly valid ones, objects of random keys, and JSON that is no object."""
    optional = {k: v for k, v in fields.good.items() if k not in fields.required}
    valid = st.fixed_dictionaries({k: fields.good[k] for k in fields.required}, optional=optional)
    random_objects = st.dictionaries(st.sampled_from(sorted(fields.good)) | any_text, junk)
    return st.one_of(valid, mutated(fields, valid), random_objects, json_values)


encodings = st.sampled_from(["ascii", "utf8"])


def send(api: Api, method: str, path: str, body: Any, encoding: str) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=encoding == "ascii").encode()
    return api.request(method, path, content=raw, headers={"Content-Type": "application/json"})


# --- what every answer must satisfy -------------------------------------------------------------


def footprint(api: Api) -> tuple[int, ...]:
    """Rows the workspace owns (both modes) in every table a write could touch."""
    database = runtime_of(api.http).database

    async def count() -> tuple[int, ...]:
        async with database.read() as conn:
            counts = []
            for table in (clients, contacts, tickets, events, activity):
                query = select(func.count()).select_from(table)
                counts.append(
                    int(await conn.scalar(query.where(table.c.workspace_id == api.workspace_id)))
                )
            return tuple(counts)

    result: tuple[int, ...] = run_async(api.http, count)
    return result


def assert_documented(response: httpx.Response, success: int) -> bool:
    """True for the expected success; otherwise asserts a documented 4xx in the error shape."""
    assert response.headers.get("x-request-id")
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if response.status_code == success:
        # A create may add `possible_duplicates` beside `data`; nothing else is an error.
        assert "data" in body and "error" not in body
        return True
    assert response.status_code in DOCUMENTED_4XX, (response.status_code, response.text)
    assert list(body) == ["error"]
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    if error["code"] == "validation_error":
        for item in error["errors"]:
            assert set(item) == {"field", "code", "message"}
    return False


# --- contacts -----------------------------------------------------------------------------------


def test_create_contact_with_any_json_answers_documented_status_and_refusals_write_nothing(
    api: Api,
) -> None:
    client_ids = [api.make_client()["id"], api.make_client()["id"]]

    fields = contact_fields(client_ids, required=("client_id", "name"))

    @PROPERTY_SETTINGS
    @given(body=bodies(fields), encoding=encodings)
    def check(body: Any, encoding: str) -> None:
        before = footprint(api)
        response = send(api, "POST", "/v1/contacts", body, encoding)
        if assert_documented(response, 201):
            created = response.json()["data"]
            assert created["id"].startswith("con_")
            assert created["client_id"] in client_ids
            stored = api.get(f"/v1/contacts/{created['id']}")
            assert stored.json()["data"] == created
            assert footprint(api)[1] == before[1] + 1
        else:
            assert footprint(api) == before

    check()


def test_update_contact_with_any_json_answers_documented_status_and_refusals_change_nothing(
    api: Api,
) -> None:
    client_ids = [api.make_client()["id"], api.make_client()["id"]]
    contact_id = api.make_contact(client_ids[0], email="first@acme.com")["id"]
    api.make_contact(client_ids[0], name="Jane Doe", email="jane@acme.com")
    path = f"/v1/contacts/{contact_id}"

    @PROPERTY_SETTINGS
    @given(body=bodies(contact_fields(client_ids)), encoding=encodings)
    def check(body: Any, encoding: str) -> None:
        before = footprint(api)
        read = api.get(path)
        response = send(api, "PUT", path, body, encoding)
        if assert_documented(response, 200):
            updated = response.json()["data"]
            assert updated["id"] == contact_id
            assert updated["created_at"] == read.json()["data"]["created_at"]
            after = api.get(path)
            assert after.json()["data"] == updated
            assert after.headers["etag"] == response.headers["etag"]
        else:
            assert footprint(api) == before
            again = api.get(path)
            assert again.json() == read.json()
            assert again.headers["etag"] == read.headers["etag"]

    check()


# --- clients and tickets ------------------------------------------------------------------------


def client_fields(required: tuple[str, ...]) -> Fields:
    return Fields(
        good={
            "name": names,
            "website": sample("https://acme.com", "acme.com"),
            "phone": sample(*PHONES),
            "email_slug": st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
            "status": sample("active", "inactive", "archived"),
            "notes": any_text,
        },
        bad={
            "name": bad_text,
            "website": sample("has space", "") | junk,
            "phone": sample(*BAD_PHONES) | junk,
            "email_slug": sample("-bad-", "a_b", "", "x" * 65) | junk,
            "status": sample("deleted", "ACTIVE") | junk,
            "notes": st.just("n" * 10_001) | junk,
        },
        required=required,
    )


def test_create_and_update_client_with_any_json_never_fail_with_a_server_error(
    api: Api,
) -> None:
    client_id = api.make_client(name="Target")["id"]

    @PROPERTY_SETTINGS
    @given(
        body=st.one_of(bodies(client_fields(("name",))), bodies(client_fields(()))),
        update=st.booleans(),
        encoding=encodings,
    )
    def check(body: Any, update: bool, encoding: str) -> None:
        before = footprint(api)
        if update:
            read = api.get(f"/v1/clients/{client_id}").json()
            response = send(api, "PUT", f"/v1/clients/{client_id}", body, encoding)
            if not assert_documented(response, 200):
                assert api.get(f"/v1/clients/{client_id}").json() == read
                assert footprint(api) == before
        else:
            response = send(api, "POST", "/v1/clients", body, encoding)
            if not assert_documented(response, 201):
                assert footprint(api) == before

    check()


def test_create_and_update_ticket_with_any_json_never_fail_with_a_server_error(
    api: Api,
) -> None:
    client_id = api.make_client()["id"]
    contact_id = api.make_contact(client_id)["id"]
    ticket_id = api.make_ticket(client_id)["id"]
    fields = Fields(
        good={
            "title": names,
            "description": any_text,
            "client_id": sample(client_id),
            "contact_id": sample(contact_id),
            "status": sample("open", "awaiting_approval", "approved", "closed"),
        },
        bad={
            "title": bad_text,
            "description": st.just("d" * 50_001) | junk,
            "client_id": sample("cli_missing") | junk,
            "contact_id": sample("con_missing") | junk,
            "status": sample("pending", "OPEN") | junk,
        },
        required=("title", "client_id"),
    )

    @PROPERTY_SETTINGS
    @given(body=bodies(fields), update=st.booleans(), encoding=encodings)
    def check(body: Any, update: bool, encoding: str) -> None:
        before = footprint(api)
        if update:
            read = api.get(f"/v1/tickets/{ticket_id}").json()
            response = send(api, "PUT", f"/v1/tickets/{ticket_id}", body, encoding)
            if not assert_documented(response, 200):
                assert api.get(f"/v1/tickets/{ticket_id}").json() == read
                assert footprint(api) == before
        else:
            response = send(api, "POST", "/v1/tickets", body, encoding)
            if not assert_documented(response, 201):
                assert footprint(api) == before

    check()
