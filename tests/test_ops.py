"""Operations: health and readiness, request ids, the OpenAPI description, the offline docs
page, and JSON access logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.processes import free_port
from tests.support import Api
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings

GENERATED_ID = re.compile(r"^req_[a-z0-9]+$")
ERROR_BODY = "#/components/schemas/ErrorBody"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def one_backend(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("does not depend on the database; run once")


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


# --- health and readiness -----------------------------------------------------------------------


def test_healthz_answers_without_a_key(http: TestClient, one_backend: None) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_200_when_the_database_is_reachable(http: TestClient, backend: str) -> None:
    response = http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": backend}


@pytest.fixture
def unreachable_app(settings: Settings, one_backend: None) -> Iterator[TestClient]:
    """An app pointed at a PostgreSQL port where nothing listens."""
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    broken = settings.model_copy(update={"database_url": nowhere})
    with TestClient(create_app(broken), raise_server_exceptions=False) as client:
        yield client


def test_readyz_answers_503_in_the_error_shape_when_the_database_is_unreachable(
    unreachable_app: TestClient,
) -> None:
    response = unreachable_app.get("/readyz")
    assert_error(response, 503, "service_unavailable")
    assert "x-request-id" in response.headers
    # Liveness does not depend on the database.
    assert unreachable_app.get("/healthz").status_code == 200


def test_keyed_routes_answer_503_when_the_database_is_unreachable(
    unreachable_app: TestClient,
) -> None:
    headers = {"Authorization": "Bearer vnt_sk_test_" + "x" * 43}
    response = unreachable_app.get("/v1/contacts", headers=headers)
    assert_error(response, 503, "service_unavailable")
    assert "Traceback" not in response.text


# --- request ids ------------------------------------------------------------------------------


def test_every_response_carries_a_request_id(api: Api, http: TestClient) -> None:
    responses = [
        http.get("/healthz"),
        http.get("/readyz"),
        http.get("/openapi.json"),
        http.get("/v1/contacts"),  # 401
        api.get("/v1/contacts"),
        api.get("/v1/contacts/con_doesnotexist"),  # 404
        api.post("/v1/contacts", json={}),  # 422
        api.get("/v1/contacts", params={"per_page": 1000}),  # 400
        api.request("PATCH", "/v1/contacts"),  # 405
        http.get("/no/such/route"),  # 404 without a route
    ]
    ids = [response.headers.get("x-request-id", "") for response in responses]
    assert all(GENERATED_ID.match(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("incoming", ["abc-123", "trace.7f3a:span_9", "A" * 128])
def test_a_safe_incoming_request_id_is_echoed(
    http: TestClient, one_backend: None, incoming: str
) -> None:
    response = http.get("/healthz", headers={"X-Request-Id": incoming})
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["has space", "<script>alert(1)</script>", "a" * 129, "semi;colon", 'quote"d', ""],
)
def test_an_unsafe_incoming_request_id_is_replaced(
    http: TestClient, one_backend: None, incoming: str
) -> None:
    response = http.get("/healthz", headers={"X-Request-Id": incoming})
    assert response.headers.get_list("x-request-id") != [incoming]
    assert len(response.headers.get_list("x-request-id")) == 1
    assert GENERATED_ID.match(response.headers["x-request-id"])


# --- OpenAPI -------------------------------------------------------------------------------------


def app_operations(http: TestClient) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers that belongs in its description."""
    operations = set()
    for route in iter_route_contexts(http.app.routes):  # type: ignore[attr-defined]
        if not getattr(route, "include_in_schema", False) or route.methods is None:
            continue
        for method in route.methods:
            if method.lower() in HTTP_METHODS:
                operations.add((method.lower(), str(route.path_format)))
    return operations


def documented_operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


@pytest.fixture
def spec(http: TestClient, one_backend: None) -> dict[str, Any]:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def test_openapi_lists_every_route_of_the_app(http: TestClient, spec: dict[str, Any]) -> None:
    routes = app_operations(http)
    assert {("get", "/healthz"), ("get", "/readyz"), ("post", "/v1/contacts")} <= routes
    assert set(documented_operations(spec)) == routes


def _error_schema(operation: dict[str, Any], status: str) -> str | None:
    response = operation["responses"].get(status)
    if response is None:
        return None
    ref: str | None = response["content"]["application/json"]["schema"].get("$ref")
    return ref


def test_every_v1_operation_documents_its_error_responses(spec: dict[str, Any]) -> None:
    missing = []
    for (method, path), operation in documented_operations(spec).items():
        if not path.startswith("/v1/"):
            continue
        expected = ["401", "422", "429"]
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.append("404")
        for status in expected:
            if _error_schema(operation, status) != ERROR_BODY:
                missing.append(f"{method.upper()} {path} {status}")
    assert missing == []
    assert "error" in spec["components"]["schemas"]["ErrorBody"]["required"]


def test_readyz_documents_its_503(spec: dict[str, Any]) -> None:
    assert _error_schema(spec["paths"]["/readyz"]["get"], "503") == ERROR_BODY


# --- the docs page works offline -----------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def test_docs_page_loads_only_local_assets(http: TestClient, one_backend: None) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(page.text)
    assert any(url.endswith(".js") for url in parser.urls)
    assert any(url.endswith(".css") for url in parser.urls)
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not served by the app"
        asset = http.get(url)
        assert asset.status_code == 200, url
        assert asset.content
    assert not re.search(r"https?://", page.text.replace("http://testserver", ""))
    # The page points at the app's own description.
    assert "/openapi.json" in page.text


# --- access logs ---------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """create_app() configures the package's logger; put it back for the other tests."""
    logger = logging.getLogger("vantage_contacts")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def test_request_logs_are_json_lines_carrying_the_request_id(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    one_backend: None,
) -> None:
    capsys.readouterr()
    verbose = settings.model_copy(update={"log_level": "INFO"})
    with TestClient(create_app(verbose), raise_server_exceptions=False) as app:
        ours = app.get("/healthz", headers={"X-Request-Id": "trace-42"})
        generated = app.get("/v1/contacts")  # 401, no key
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    entries = [orjson.loads(line) for line in lines]  # every line is one JSON object
    access = [e for e in entries if e.get("logger") == "vantage_contacts.access"]

    by_id = {entry["request_id"]: entry for entry in access}
    assert by_id["trace-42"]["path"] == "/healthz"
    assert by_id["trace-42"]["status"] == ours.status_code == 200
    assert by_id["trace-42"]["method"] == "GET"
    assert isinstance(by_id["trace-42"]["duration_ms"], int | float)
    generated_id = generated.headers["x-request-id"]
    assert by_id[generated_id]["status"] == 401
    assert by_id[generated_id]["path"] == "/v1/contacts"
