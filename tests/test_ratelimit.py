"""Rate limits per API key: headers, the burst and per-minute limits, and a count shared by
several API processes through Redis."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.processes import base_env, free_port, running, uvicorn_command
from tests.support import Api, make_tenant_keys, run_async, runtime_of
from vantage_contacts.app import create_app
from vantage_contacts.auth.keys import hash_key
from vantage_contacts.config import Settings
from vantage_contacts.models import api_keys

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

LimitedApp = Callable[..., TestClient]
JSON_TYPE = {"Content-Type": "application/json"}


@pytest.fixture
def one_backend(backend: str) -> None:
    """For tests the database plays no part in: the limiter counts in memory or in Redis."""
    if backend != "sqlite":
        pytest.skip("does not depend on the database; run once")


@pytest.fixture
def limited_app(settings: Settings, http: TestClient) -> Iterator[LimitedApp]:
    """Builds apps with small limits on the session's database (migrated by `http`)."""
    with ExitStack() as stack:

        def build(per_minute: int, burst: int) -> TestClient:
            limited = settings.model_copy(
                update={"rate_limit_per_minute": per_minute, "rate_limit_burst": burst}
            )
            client = TestClient(create_app(limited), raise_server_exceptions=False)
            return stack.enter_context(client)

        yield build


def assert_rate_headers(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    reset = int(response.headers["X-RateLimit-Reset"])
    now = time.time()
    assert now - 1 <= reset <= now + 61


def assert_rate_limited(response: httpx.Response, max_retry_after: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "field", "doc_url"}
    # Exactly one Retry-After, a whole number of seconds.
    values = response.headers.get_list("Retry-After")
    assert len(values) == 1, values
    assert 1 <= int(values[0]) <= max_retry_after


def test_keyed_responses_carry_rate_limit_headers_on_success_and_errors(
    limited_app: LimitedApp,
) -> None:
    api = make_tenant_keys(limited_app(per_minute=50, burst=50))
    responses = [
        api.get("/v1/contacts"),
        api.get("/v1/contacts/con_doesnotexist"),
        api.post("/v1/contacts", json={"name": "No client"}),
        api.get("/v1/contacts", params={"per_page": 0}),
        # Refused before the route's dependencies ran (FastAPI parses JSON first): counted too.
        api.post("/v1/contacts", content=b"{not json", headers=JSON_TYPE),
        api.post("/v1/contacts/bulk", content=b"[1,", headers=JSON_TYPE),
    ]
    assert [r.status_code for r in responses] == [200, 404, 422, 400, 400, 400]
    for counted, response in enumerate(responses, start=1):
        assert_rate_headers(response, limit=50, remaining=50 - counted)


def test_a_body_that_is_not_json_is_still_refused_for_its_key_first(
    limited_app: LimitedApp, one_backend: None
) -> None:
    app = limited_app(per_minute=100, burst=100)
    api = make_tenant_keys(app)
    # Not JSON; not UTF-8; nested deeper than the JSON parser goes.
    bodies = (b"{not json", b'{"name": "\xff"}', b"[" * 100_000)
    for body in bodies:
        for headers in ({}, {"Authorization": "Bearer vnt_sk_test_" + "x" * 32}):
            refused = app.post("/v1/contacts", content=body, headers={**JSON_TYPE, **headers})
            assert refused.status_code == 401, refused.text
    for counted, body in enumerate(bodies, start=1):
        answered = api.post("/v1/contacts", content=body, headers=JSON_TYPE)
        assert answered.status_code == 400, answered.text
        assert answered.json()["error"]["field"] == "body"
        assert_rate_headers(answered, limit=100, remaining=100 - counted)
    burst_of_one = make_tenant_keys(limited_app(per_minute=100, burst=1))
    unreadable = {"content": b"{not json", "headers": JSON_TYPE}
    assert burst_of_one.post("/v1/contacts", **unreadable).status_code == 400
    assert_rate_limited(burst_of_one.post("/v1/contacts", **unreadable), max_retry_after=1)


def test_burst_limit_answers_429_with_retry_after(
    limited_app: LimitedApp, one_backend: None
) -> None:
    api = make_tenant_keys(limited_app(per_minute=100, burst=3))
    allowed = [api.get("/v1/contacts") for _ in range(3)]
    assert [r.status_code for r in allowed] == [200, 200, 200]

    refused = api.get("/v1/contacts")
    assert_rate_limited(refused, max_retry_after=1)
    # The refused request still says where the key stands.
    assert all(name in refused.headers for name in RATE_HEADERS)
    assert refused.headers["X-RateLimit-Limit"] == "100"


def test_per_minute_limit_answers_429_with_retry_after(
    limited_app: LimitedApp, one_backend: None
) -> None:
    api = make_tenant_keys(limited_app(per_minute=3, burst=100))
    for remaining in (2, 1, 0):
        response = api.get("/v1/contacts")
        assert response.status_code == 200
        assert_rate_headers(response, limit=3, remaining=remaining)

    refused = api.get("/v1/contacts")
    assert_rate_limited(refused, max_retry_after=60)
    assert_rate_headers(refused, limit=3, remaining=0)
    # Retry-After points at when the window has room, as X-RateLimit-Reset does.
    reset_in = int(refused.headers["X-RateLimit-Reset"]) - time.time()
    assert abs(reset_in - int(refused.headers["Retry-After"])) <= 2


def test_refused_requests_have_no_effect(limited_app: LimitedApp) -> None:
    app = limited_app(per_minute=1, burst=100)
    workspace = f"ws-{secrets.token_hex(6)}"
    api = make_tenant_keys(app, workspace=workspace)
    client = api.make_client()  # the one allowed request
    refused = api.put(f"/v1/clients/{client['id']}", json={"name": "Renamed"})
    assert_rate_limited(refused, max_retry_after=60)

    # Another key of the same workspace sees the client unchanged.
    same_workspace = make_tenant_keys(app, workspace=workspace)
    response = same_workspace.get(f"/v1/clients/{client['id']}")
    assert response.status_code == 200
    assert response.json()["data"]["name"] == client["name"]


def test_limits_are_counted_per_api_key(limited_app: LimitedApp, one_backend: None) -> None:
    app = limited_app(per_minute=2, burst=100)
    api, other = make_tenant_keys(app), make_tenant_keys(app)
    assert [api.get("/v1/contacts").status_code for _ in range(2)] == [200, 200]
    assert api.get("/v1/contacts").status_code == 429

    # Another workspace's key, and the same workspace's live key, each have their own count.
    for fresh in (other, api.live):
        response = fresh.get("/v1/contacts")
        assert response.status_code == 200
        assert_rate_headers(response, limit=2, remaining=1)


def test_unkeyed_routes_carry_no_rate_limit_headers(
    limited_app: LimitedApp, one_backend: None
) -> None:
    app = limited_app(per_minute=1, burst=1)
    for path in ("/healthz", "/readyz", "/openapi.json"):
        for _ in range(3):  # more than the limits: unkeyed routes are not counted
            response = app.get(path)
            assert response.status_code == 200
            assert not any(name in response.headers for name in RATE_HEADERS)
            assert "Retry-After" not in response.headers


# --- several processes share one count through Redis ------------------------------------------


def _redis_url() -> str:
    return os.environ.get("VANTAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = _redis_url()
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and unreachable: {error}")
        pytest.skip(f"Redis unreachable: {error}")
    finally:
        client.close()
    yield url


def test_limit_is_shared_by_api_processes_through_redis(
    one_backend: None, database_url: str, http: TestClient, redis_url: str, tmp_path: Path
) -> None:
    api = make_tenant_keys(http, workspace=f"shared-{secrets.token_hex(4)}")
    key_id = _key_id(http, api)
    env = base_env(
        VANTAGE_DATABASE_URL=database_url,
        VANTAGE_REDIS_URL=redis_url,
        VANTAGE_RATE_LIMIT_PER_MINUTE="10",
        VANTAGE_RATE_LIMIT_BURST="100",
        VANTAGE_MAIL_DIR=str(tmp_path / "mail"),
        VANTAGE_LOG_LEVEL="WARNING",
        # Other tests' webhooks live in this database; these processes only answer requests.
        VANTAGE_RUN_WORKER="false",
    )
    store = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        with ExitStack() as stack:
            servers = []
            for name in ("a", "b"):
                port = free_port()
                servers.append(
                    stack.enter_context(
                        running(
                            uvicorn_command(port),
                            port=port,
                            env=env,
                            cwd=tmp_path,
                            log=tmp_path / f"uvicorn-{name}.log",
                        )
                    )
                )
            for server in servers:
                server.wait_ready()

            statuses, remaining = [], []
            for n in range(12):
                server = servers[n % 2]
                response = httpx.get(
                    f"{server.base_url}/v1/contacts", headers=api.headers, timeout=10
                )
                statuses.append(response.status_code)
                remaining.append(int(response.headers["X-RateLimit-Remaining"]))

            assert statuses == [200] * 10 + [429, 429], statuses
            # One count, whichever process answered.
            assert remaining[:10] == list(range(9, -1, -1))
            # And the count is in Redis, not in either process.
            assert list(store.scan_iter(match=f"*{key_id}*", count=1000))
    finally:
        for key in store.scan_iter(match=f"*{key_id}*", count=1000):
            store.delete(key)
        store.close()


def _key_id(http: TestClient, api: Api) -> str:
    database = runtime_of(http).database

    async def _find() -> str:
        async with database.read() as conn:
            found = await conn.scalar(
                select(api_keys.c.id).where(api_keys.c.key_hash == hash_key(api.secret))
            )
        return str(found)

    key_id: str = run_async(http, _find)
    return key_id
