"""The API against its own OpenAPI document: schemathesis generates requests for every operation,
valid and invalid, and checks that no answer is a 500 and that each one's status, content type and
body are the ones the document declares.

Requests go through the session's TestClient (the app's own event loop and database), not through
schemathesis' ASGI transport, which would start a second copy of the app on another loop.

Bounded for the everyday run (explicit examples and a few generated cases per operation); set
VANTAGE_TEST_DEEP_FUZZ=1 to add schemathesis' coverage phase (boundary values, every kind of
wrong input, unexpected methods) and many more generated cases.
"""

from __future__ import annotations

import itertools
import json
import os
import zlib
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import Api
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BASE_URL = "http://testserver"
DEEP = os.environ.get("VANTAGE_TEST_DEEP_FUZZ") == "1"


def _document() -> dict[str, Any]:
    """The OpenAPI document the app serves at /openapi.json. Building it needs no database, so
    it is read at import time: schemathesis makes one test per operation from it."""
    app = create_app(Settings(database_url="sqlite:///unused.db", log_level="WARNING"))
    document: dict[str, Any] = app.openapi()
    return document


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.phases.coverage.enabled = DEEP


def test_the_tested_document_is_the_one_served(http: TestClient) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT
    assert {"/v1/contacts", "/v1/contacts/{contact_id}"} <= set(DOCUMENT["paths"])


def _pick(value: object, out_of: int = 3) -> bool:
    """A choice made from the generated value alone, so a failing example replays the same."""
    return zlib.crc32(repr(value).encode()) % out_of != 0


class RealIds:
    """Objects that exist in the test's workspace. Generated ids are swapped for them in about
    two cases of three, so requests reach the code behind the lookup (and the 200s and their
    response schemas get checked), not only the 404."""

    _keys = itertools.count()

    def __init__(self, api: Api) -> None:
        self.api = api
        self.client_id = api.make_client()["id"]
        self.contact_id = api.make_contact(self.client_id)["id"]
        self.ticket_id = api.make_ticket(self.client_id, contact_id=self.contact_id)["id"]

    def fresh_contact(self) -> str:
        return str(self.api.make_contact(self.client_id, name="Jon Smith")["id"])

    def for_name(self, name: str, consumed: bool) -> str | None:
        """A real id for a parameter or body field of this name; a fresh object when the request
        consumes it (a delete, or the contact a merge absorbs)."""
        if name == "merge_contact_id" or (consumed and name == "contact_id"):
            return self.fresh_contact()
        if consumed and name == "client_id":
            return str(self.api.make_client()["id"])
        known = {"client_id": self.client_id, "contact_id": self.contact_id}
        return {**known, "ticket_id": self.ticket_id}.get(name)

    def substitute(self, case: Any) -> None:
        deletes = case.method.upper() == "DELETE"
        for name, value in list((case.path_parameters or {}).items()):
            real = self.for_name(name, consumed=deletes)
            if real is not None and _pick(value):
                case.path_parameters[name] = real
        if isinstance(case.body, dict):
            for name in ("client_id", "contact_id", "merge_contact_id"):
                value = case.body.get(name)
                if isinstance(value, str) and _pick(value):
                    case.body[name] = self.for_name(name, consumed=False)
        positive = case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE
        if positive and case.headers and "Idempotency-Key" in case.headers:
            # A real caller sends a fresh key per new request. Generated keys repeat across
            # cases with different bodies (422 idempotency_key_reused) and may be empty, which
            # the document allows but the API refuses: either way the handler would not run.
            case.headers["Idempotency-Key"] = f"schemathesis-{next(self._keys)}"


def _part(part: tuple[Any, ...]) -> tuple[Any, ...]:
    """A generated form part with its content as bytes: schemathesis may generate a number, or
    text no UTF-8 encoder takes (lone surrogates), which a client sends as the bytes it has."""
    filename, content, *rest = part
    if not isinstance(content, bytes):
        content = str(content).encode("utf-8", "surrogatepass")
    return (filename, content, *rest)


def send(http: TestClient, case: Any, headers: dict[str, str]) -> httpx.Response:
    """The case as schemathesis would send it (its requests-style arguments), via httpx."""
    request = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    arguments: dict[str, Any] = {
        "headers": request.get("headers") or {},
        "params": request.get("params") or None,
    }
    if "json" in request:
        arguments["content"] = json.dumps(request["json"]).encode()
    elif request.get("data") is not None:
        data = request["data"]
        arguments["content" if isinstance(data, bytes | str) else "data"] = data
    if request.get("files"):
        arguments["files"] = [(name, _part(part)) for name, part in request["files"]]
    cookies = request.get("cookies")
    if cookies:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        arguments["headers"] = {**arguments["headers"], "Cookie": cookie}
    response = http.request(request["method"], request["url"], **arguments)
    # A multipart body is sent as a stream; schemathesis reads the request's content when it
    # records the case, which httpx refuses until the stream has been read into it.
    response.request.read()
    return response


@pytest.fixture
def real_ids(api: Api) -> RealIds:
    return RealIds(api)


@schema.parametrize()
@settings(
    max_examples=60 if DEEP else 10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_openapi_document(
    case: Any, api: Api, real_ids: RealIds
) -> None:
    real_ids.substitute(case)
    response = send(api.http, case, api.headers)
    assert response.headers.get("x-request-id")
    case.validate_response(response, checks=CHECKS, headers=api.headers)
