"""Helpers shared by the tests: an authenticated API client and plain factory functions."""

from __future__ import annotations

import os
import secrets
from typing import Any

import httpx
from fastapi.testclient import TestClient

from vantage_contacts.auth import keys
from vantage_contacts.runtime import Runtime


def postgres_admin_url() -> str:
    return os.environ.get("VANTAGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class Api:
    """Calls the API with one key; `live` is the same workspace's live-mode key."""

    def __init__(self, http: TestClient, secret: str, workspace_id: str, live: Api | None = None):
        self.http = http
        self.secret = secret
        self.workspace_id = workspace_id
        self._live = live

    @property
    def live(self) -> Api:
        assert self._live is not None
        return self._live

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    # --- factories ---------------------------------------------------------------------------

    def make_client(self, **fields: Any) -> dict[str, Any]:
        body = {"name": f"Client {secrets.token_hex(3)}", **fields}
        response = self.post("/v1/clients", json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    def make_contact(self, client_id: str | None = None, **fields: Any) -> dict[str, Any]:
        if client_id is None:
            client_id = self.make_client()["id"]
        body = {"client_id": client_id, "name": "John Smith", **fields}
        response = self.post("/v1/contacts", json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    def make_ticket(self, client_id: str, **fields: Any) -> dict[str, Any]:
        response = self.post(
            "/v1/tickets", json={"client_id": client_id, "title": "Help", **fields}
        )
        assert response.status_code == 201, response.text
        return response.json()["data"]


def runtime_of(http: TestClient) -> Runtime:
    runtime: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def make_tenant_keys(http: TestClient, workspace: str | None = None) -> Api:
    """A new workspace with a test key and a live key, created on the app's own event loop."""
    name = workspace or f"ws-{secrets.token_hex(6)}"
    database = runtime_of(http).database

    async def _create() -> tuple[str, str, str]:
        async with database.write() as conn:
            workspace_id = await keys.ensure_workspace(conn, name)
            _, test_secret = await keys.create_key(conn, workspace_id, "test", "tests")
            _, live_secret = await keys.create_key(conn, workspace_id, "live", "tests")
        return workspace_id, test_secret, live_secret

    assert http.portal is not None
    workspace_id, test_secret, live_secret = http.portal.call(_create)
    live = Api(http, live_secret, workspace_id)
    return Api(http, test_secret, workspace_id, live=live)


def run_async(http: TestClient, fn: Any, *args: Any) -> Any:
    """Run a coroutine function on the app's event loop (where its database engine lives)."""
    assert http.portal is not None
    return http.portal.call(fn, *args)


def execute(api: Api, statement: Any) -> None:
    """Run one statement in a write transaction of the app's database (to set up a state)."""
    database = runtime_of(api.http).database

    async def _run() -> None:
        async with database.write() as conn:
            await conn.execute(statement)

    run_async(api.http, _run)
