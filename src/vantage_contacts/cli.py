"""The `vantage-contacts` command: serve, migrate, keys."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from vantage_contacts.auth import keys
from vantage_contacts.auth.subject import Mode
from vantage_contacts.config import get_settings
from vantage_contacts.db import Database
from vantage_contacts.kit.clock import rfc3339
from vantage_contacts.migrate import upgrade
from vantage_contacts.models import api_keys

app = typer.Typer(help="Vantage Contacts: the Contacts API service.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True, soft_wrap=True)

DEFAULT_WORKSPACE = "default"


def _database() -> Database:
    return Database(get_settings().database_url, pool_size=2)


async def _migrate() -> None:
    await upgrade(get_settings().database_url)


async def _create_key(workspace: str, mode: Mode, name: str) -> tuple[str, str]:
    database = _database()
    try:
        async with database.write() as conn:
            workspace_id = await keys.ensure_workspace(conn, workspace)
            return await keys.create_key(conn, workspace_id, mode, name)
    finally:
        await database.dispose()


async def _first_run_key() -> str | None:
    """On an empty SQLite database, a test key so a newcomer can call the API at once."""
    database = _database()
    try:
        if database.is_postgresql:
            return None
        async with database.read() as conn:
            if await conn.scalar(select(func.count()).select_from(api_keys)):
                return None
    finally:
        await database.dispose()
    _, secret = await _create_key(DEFAULT_WORKSPACE, "test", "first-run key")
    return secret


@app.command()
def migrate() -> None:
    """Bring the database to the current schema (never loses rows)."""
    asyncio.run(_migrate())
    console.print("[green]Database is at the current schema.[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes.")] = 1,
) -> None:
    """Migrate, then serve the API (and docs) on HOST:PORT."""
    settings = get_settings()
    asyncio.run(_migrate())
    secret = asyncio.run(_first_run_key())
    base = f"http://{host}:{port}"
    console.print(f"Vantage Contacts API on [bold]{base}/v1/contacts[/bold]")
    console.print(f"Interactive docs: {base}/docs   OpenAPI: {base}/openapi.json")
    console.print(f"Database: {settings.database_url}")
    if secret is not None:
        console.print("A test-mode API key was created for this new database (shown once):")
        console.print(f"  [bold]{secret}[/bold]")
        console.print(f'  curl -H "Authorization: Bearer {secret}" {base}/v1/contacts')
    else:
        console.print("Get a key: vantage-contacts keys create --workspace NAME [--mode live|test]")
    uvicorn.run(
        "vantage_contacts.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Run the background worker alone (webhook deliveries); stops cleanly on SIGINT/SIGTERM."""
    import signal

    from vantage_contacts.worker import run_worker

    settings = get_settings()
    asyncio.run(_migrate())

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        database = Database(settings.database_url, pool_size=4)
        try:
            await run_worker(database, settings, stop)
        finally:
            await database.dispose()

    console.print("Worker running; Ctrl-C stops it.")
    asyncio.run(_run())


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option(help="Workspace name; created if new.")],
    mode: Annotated[str, typer.Option(help="live or test.")] = "test",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
) -> None:
    """Create an API key. The secret is printed once, alone on the last line."""
    if mode not in ("live", "test"):
        raise typer.BadParameter("mode must be live or test", param_hint="--mode")
    asyncio.run(_migrate())
    key_id, secret = asyncio.run(_create_key(workspace, mode, name))  # type: ignore[arg-type]
    console.print(f"Created {mode} key {key_id} for workspace '{workspace}'. Keep it secret:")
    print(secret)


@keys_app.command("list")
def keys_list(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace.")] = None,
) -> None:
    """List API keys (never their secrets) with when each was last used."""

    async def _list() -> list[dict[str, object]]:
        database = _database()
        try:
            async with database.read() as conn:
                return await keys.list_keys(conn, workspace)
        finally:
            await database.dispose()

    asyncio.run(_migrate())
    columns = ("id", "workspace", "mode", "name", "key", "created", "last used", "revoked")
    rows = [
        [
            *(str(row[c]) for c in ("id", "workspace", "mode", "name", "key_hint")),
            *(rfc3339(row[c]) or "-" for c in ("created_at", "last_used_at", "revoked_at")),  # type: ignore[arg-type]
        ]
        for row in asyncio.run(_list())
    ]
    if not sys.stdout.isatty():
        # Piped: whole values, tab-separated, so ids can be cut and passed to `keys revoke`.
        for line in (columns, *rows):
            print("\t".join(line))
        return
    table = Table(*columns)
    for line in rows:
        table.add_row(*line)
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_…).")]) -> None:
    """Revoke a key: every request with it fails from now on."""

    async def _revoke() -> bool:
        database = _database()
        try:
            async with database.write() as conn:
                return await keys.revoke(conn, key_id)
        finally:
            await database.dispose()

    asyncio.run(_migrate())
    if not asyncio.run(_revoke()):
        console.print(f"[red]No active key {key_id}.[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {key_id}.")
