"""Migrations: the schema they build is the models' schema, they run both ways, and upgrading
never loses a row. Each test gets a database of its own (a new file, or a new PostgreSQL
database), since downgrading the shared one would pull it from under the other tests."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tests.processes import CLI, base_env, free_port, running
from tests.support import make_tenant_keys, postgres_admin_url
from vantage_contacts.app import create_app
from vantage_contacts.auth.keys import hash_key
from vantage_contacts.config import Settings
from vantage_contacts.db import async_url
from vantage_contacts.migrate import alembic_config, upgrade_sync
from vantage_contacts.models import metadata
from vantage_contacts.models.base import UTCDateTime


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(postgres_admin_url(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the run's backend, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"vantage_mig_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base, _, _ = postgres_admin_url().rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def on_database(url: str, fn: Any) -> Any:
    """Run `fn(sync_connection)` on the database with the service's own async driver."""

    async def _run() -> Any:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def schema_differences(url: str) -> list[Any]:
    def _compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    result: list[Any] = on_database(url, _compare)
    return result


def current_revision(url: str) -> str | None:
    def _current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    revision: str | None = on_database(url, _current)
    return revision


def table_names(url: str) -> set[str]:
    names: set[str] = on_database(url, lambda conn: set(sa.inspect(conn).get_table_names()))
    return names


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the models know, in primary-key order."""

    def _rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in metadata.sorted_tables
        }

    rows: dict[str, list[tuple[Any, ...]]] = on_database(url, _rows)
    return rows


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def test_migrated_schema_matches_the_models(fresh_url: str) -> None:
    upgrade_sync(fresh_url)
    assert schema_differences(fresh_url) == []
    assert current_revision(fresh_url) == script().get_current_head()


def test_downgrade_to_base_and_upgrade_to_head_again(fresh_url: str) -> None:
    upgrade_sync(fresh_url)
    command.downgrade(alembic_config(fresh_url), "base")
    assert table_names(fresh_url) <= {"alembic_version"}
    assert current_revision(fresh_url) is None

    upgrade_sync(fresh_url)
    assert schema_differences(fresh_url) == []
    assert current_revision(fresh_url) == script().get_current_head()


# --- data is never lost --------------------------------------------------------------------------

NOW = datetime(2026, 1, 20, 14, 30, tzinfo=UTC)
SECRET = "vnt_sk_live_" + "k" * 43

# The first schema's own columns, written out: that schema never changes, so these rows are what
# a database from the very first release holds.
_workspaces = sa.table(
    "workspaces", sa.column("id"), sa.column("name"), sa.column("created_at", UTCDateTime())
)
_api_keys = sa.table(
    "api_keys",
    *(sa.column(c) for c in ("id", "workspace_id", "mode", "name", "key_hash", "key_hint")),
    sa.column("created_at", UTCDateTime()),
)
_clients = sa.table(
    "clients",
    *(sa.column(c) for c in ("workspace_id", "mode", "id", "name", "name_folded")),
    *(sa.column(c) for c in ("email_slug", "status", "notes")),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_contacts = sa.table(
    "contacts",
    *(sa.column(c) for c in ("workspace_id", "mode", "id", "client_id", "name", "email")),
    *(sa.column(c) for c in ("phone", "phone_e164", "title", "email_key", "name_folded")),
    *(sa.column(c, sa.Boolean()) for c in ("is_primary", "is_billing", "is_technical")),
    sa.column("portal_access"),
    *(sa.column(c, sa.Boolean()) for c in ("receives_invoices", "receives_reports")),
    sa.column("receives_project_updates", sa.Boolean()),
    *(sa.column(c) for c in ("notes", "search_text", "version")),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


def _first_release_rows(conn: Connection) -> None:
    conn.execute(sa.insert(_workspaces).values(id="ws_first", name="first", created_at=NOW))
    conn.execute(
        sa.insert(_api_keys).values(
            id="key_first",
            workspace_id="ws_first",
            mode="live",
            name="first",
            key_hash=hash_key(SECRET),
            key_hint="vnt_sk_live_kkkkk…",
            created_at=NOW,
        )
    )
    conn.execute(
        sa.insert(_clients).values(
            workspace_id="ws_first",
            mode="live",
            id="cli_first",
            name="Acme",
            name_folded="acme",
            email_slug="acme",
            status="active",
            notes="since 2025",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    conn.execute(
        sa.insert(_contacts).values(
            workspace_id="ws_first",
            mode="live",
            id="con_first",
            client_id="cli_first",
            name="John Smith",
            email="john@acme.com",
            phone="+1 (555) 123-4567",
            phone_e164="+15551234567",
            title="VP of Marketing",
            email_key="john@acme.com",
            name_folded="john smith",
            is_primary=True,
            is_billing=True,
            is_technical=False,
            portal_access="none",
            receives_invoices=True,
            receives_reports=False,
            receives_project_updates=True,
            notes="Primary point of contact, prefers email",
            search_text="john smith john@acme.com 15551234567",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
    )


def test_rows_from_the_first_schema_survive_every_upgrade(fresh_url: str, tmp_path: Path) -> None:
    revisions = [rev.revision for rev in script().walk_revisions("base", "heads")][::-1]
    upgrade_sync(fresh_url, revisions[0])
    on_database(fresh_url, _first_release_rows)
    for revision in revisions[1:]:
        upgrade_sync(fresh_url, revision)
    assert current_revision(fresh_url) == script().get_current_head()

    # Read back through the current API with the key written under the first schema.
    settings = Settings(
        database_url=fresh_url, mail_dir=tmp_path / "mail", log_level="WARNING", run_worker=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        headers = {"Authorization": f"Bearer {SECRET}"}
        contact = http.get("/v1/contacts/con_first", headers=headers)
        assert contact.status_code == 200, contact.text
        data = contact.json()["data"]
        assert data["client_id"] == "cli_first"
        assert data["name"] == "John Smith"
        assert data["email"] == "john@acme.com"
        assert data["phone"] == "+1 (555) 123-4567"
        assert data["roles"]["is_primary"] and data["roles"]["is_billing"]
        assert data["notes"] == "Primary point of contact, prefers email"
        assert data["created_at"] == "2026-01-20T14:30:00Z"
        client = http.get("/v1/clients/cli_first", headers=headers)
        assert client.status_code == 200
        assert client.json()["data"]["name"] == "Acme"


def _populate(url: str, tmp_path: Path) -> None:
    """Rows of every kind, written by the API itself."""
    settings = Settings(
        database_url=url, mail_dir=tmp_path / "mail", log_level="WARNING", run_worker=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        api = make_tenant_keys(http)
        client = api.make_client()
        contact = api.make_contact(client["id"], email="jane@acme.com", is_primary=True)
        api.make_ticket(client["id"], contact_id=contact["id"])
        assert api.put(f"/v1/contacts/{contact['id']}", json={"title": "CTO"}).status_code == 200


def test_upgrading_a_current_database_again_changes_nothing(fresh_url: str, tmp_path: Path) -> None:
    upgrade_sync(fresh_url)
    _populate(fresh_url, tmp_path)
    before = snapshot(fresh_url)
    assert all(before[name] for name in ("workspaces", "api_keys", "clients", "contacts"))

    upgrade_sync(fresh_url)
    env = base_env(VANTAGE_DATABASE_URL=fresh_url, VANTAGE_MAIL_DIR=str(tmp_path / "mail"))
    migrate = subprocess.run(
        [str(CLI), "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert migrate.returncode == 0, migrate.stderr

    assert snapshot(fresh_url) == before
    assert current_revision(fresh_url) == script().get_current_head()


def test_serve_on_a_current_database_changes_nothing(fresh_url: str, tmp_path: Path) -> None:
    upgrade_sync(fresh_url)
    _populate(fresh_url, tmp_path)
    before = snapshot(fresh_url)

    port = free_port()
    # The worker would do its queued work (scoring duplicates, sending mail): this test is
    # about what starting and migrating does, so it runs without it.
    env = base_env(
        VANTAGE_DATABASE_URL=fresh_url,
        VANTAGE_MAIL_DIR=str(tmp_path / "mail"),
        VANTAGE_RUN_WORKER="false",
    )
    command_line = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(command_line, port=port, env=env, cwd=tmp_path, log=tmp_path / "serve.log") as srv:
        srv.wait_ready("/readyz")
        assert "vnt_sk_" not in srv.output()  # keys exist: no first-run key

    assert snapshot(fresh_url) == before


def test_a_new_matching_engine_queues_every_live_contact_for_a_check(
    fresh_url: str, tmp_path: Path
) -> None:
    """0009: contacts keyed by an older engine are checked again by the worker, which writes
    their keys anew (tests/test_duplicates_api.py shows the check doing so)."""
    upgrade_sync(fresh_url)
    _populate(fresh_url, tmp_path)
    checks = sa.table("duplicate_checks", sa.column("contact_id"))
    live = sa.table("contacts", sa.column("id"), sa.column("deleted_at"))

    def _forget_checks(conn: Connection) -> None:
        conn.execute(sa.delete(checks))

    def _queued(conn: Connection) -> set[str]:
        return {row[0] for row in conn.execute(sa.select(checks.c.contact_id))}

    def _live_ids(conn: Connection) -> set[str]:
        query = sa.select(live.c.id).where(live.c.deleted_at.is_(None))
        return {row[0] for row in conn.execute(query)}

    on_database(fresh_url, _forget_checks)
    command.downgrade(alembic_config(fresh_url), "0008")
    upgrade_sync(fresh_url)
    contact_ids = on_database(fresh_url, _live_ids)
    assert contact_ids
    assert on_database(fresh_url, _queued) == contact_ids


def test_an_unfinished_command_line_import_leaves_the_workers_queue(fresh_url: str) -> None:
    """0010: the command resumes only jobs the worker never takes (no next_attempt_at); a job
    it left unfinished before is made one, and an API upload stays queued."""
    command.upgrade(alembic_config(fresh_url), "0009")
    jobs = sa.table(
        "contact_imports",
        *(sa.column(name) for name in ("workspace_id", "mode", "id", "status", "next_attempt_at")),
        *(sa.column(name) for name in ("filename", "file_hash", "csv_text", "total_rows")),
        *(sa.column(name) for name in ("processed_rows", "created_count", "failed_count")),
        *(sa.column(name) for name in ("created_at", "updated_at")),
        sa.column("options", sa.JSON),
        sa.column("row_errors", sa.JSON),
    )
    workspaces = sa.table("workspaces", sa.column("id"), sa.column("name"), sa.column("created_at"))
    now = datetime.now(UTC)

    def job(job_id: str, actor: dict[str, Any], status: str = "pending") -> dict[str, Any]:
        return {
            "workspace_id": "ws_1",
            "mode": "test",
            "id": job_id,
            "status": status,
            "next_attempt_at": now,
            "filename": "f.csv",
            "file_hash": "0" * 64,
            "csv_text": "Name\nAda\n",
            "total_rows": 1,
            "processed_rows": 0,
            "created_count": 0,
            "failed_count": 0,
            "created_at": now,
            "updated_at": now,
            "options": {"client_id": "cli_1", "actor": actor},
            "row_errors": [],
        }

    def _insert(conn: Connection) -> None:
        conn.execute(sa.insert(workspaces).values(id="ws_1", name="w", created_at=now))
        conn.execute(
            sa.insert(jobs),
            [
                job("imp_cli", {"type": "system", "id": None}),
                job("imp_api", {"type": "api_key", "id": "key_1"}),
                job("imp_done", {"type": "system", "id": None}, status="completed"),
            ],
        )

    def _queued(conn: Connection) -> dict[str, bool]:
        rows = conn.execute(sa.select(jobs.c.id, jobs.c.next_attempt_at)).all()
        return {job_id: due is not None for job_id, due in rows}

    on_database(fresh_url, _insert)
    upgrade_sync(fresh_url)
    assert on_database(fresh_url, _queued) == {
        "imp_cli": False,
        "imp_api": True,
        "imp_done": True,
    }
