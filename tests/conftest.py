"""Test fixtures: every test runs against SQLite and against the machine's real PostgreSQL.

One database per backend per run, migrated once; each test works in a workspace of its own,
so tests never see each other's rows (tenancy is what isolates them, as in production).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient

from tests.support import Api, make_tenant_keys, postgres_admin_url
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings
from vantage_contacts.migrate import upgrade_sync

BACKENDS = ["sqlite", "postgresql"]


async def _create_pg_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
        return
    admin = postgres_admin_url()
    name = f"vantage_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_create_pg_database(admin, name))
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_drop_pg_database(admin, name))


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        mail_dir=tmp_path_factory.mktemp("mail"),
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=1_000_000,
        allow_private_webhook_urls=True,
        log_level="WARNING",
        run_worker=False,
    )


@pytest.fixture(scope="session")
def http(settings: Settings) -> Iterator[TestClient]:
    """The app, migrated and started once per backend, driven in-process over ASGI."""
    upgrade_sync(settings.database_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def api(http: TestClient) -> Api:
    """A fresh workspace with a test-mode key; `api.live` is the same workspace's live mode."""
    return make_tenant_keys(http)


@pytest.fixture
def other_api(http: TestClient) -> Api:
    """Another workspace altogether."""
    return make_tenant_keys(http)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    path = Path(os.environ.get("VANTAGE_TEST_OUTPUT", "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path
