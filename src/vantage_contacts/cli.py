"""The `vantage-contacts` command: serve, migrate, keys."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
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
from vantage_contacts.errors import APIError
from vantage_contacts.gctune import tune_garbage_collector
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

    tune_garbage_collector()
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


def _mode(mode: str) -> Mode:
    if mode not in ("live", "test"):
        raise typer.BadParameter("mode must be live or test", param_hint="--mode")
    return mode  # type: ignore[return-value]


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        header, sep, field = pair.rpartition("=")
        if not sep or not header:
            raise typer.BadParameter(f"{pair!r} is not HEADER=field", param_hint="--map")
        mapping[header] = field
    return mapping


@app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A UTF-8 CSV file.")],
    workspace: Annotated[str, typer.Option(help="Workspace name.")] = DEFAULT_WORKSPACE,
    mode: Annotated[str, typer.Option(help="live or test.")] = "test",
    client_id: Annotated[str | None, typer.Option(help="Every row's client.")] = None,
    client_column: Annotated[
        str | None, typer.Option(help="Column holding each row's client (id, name or slug).")
    ] = None,
    map_: Annotated[
        list[str],
        typer.Option("--map", help='"CSV Header=field"; repeat it. "Header=" skips a column.'),
    ] = [],  # noqa: B006 - typer reads the default; it is never mutated
    dry_run: Annotated[bool, typer.Option(help="Check every row; change nothing.")] = False,
    errors: Annotated[
        Path | None, typer.Option(help="Where to write failing rows (default FILE.errors.csv).")
    ] = None,
    duplicates: Annotated[
        Path | None,
        typer.Option(
            help="Where to write created rows that look like existing contacts "
            "(default FILE.duplicates.csv)."
        ),
    ] = None,
) -> None:
    """Import contacts from a CSV file, in committed chunks; run it again to resume."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from vantage_contacts.imports import files, service

    tune_garbage_collector()
    settings = get_settings()
    tenant_mode = _mode(mode)
    options = service.ImportOptions(client_id, client_column, _mapping(map_))
    errors_path = errors or file.with_suffix(".errors.csv")
    duplicates_path = duplicates or file.with_suffix(".duplicates.csv")
    asyncio.run(_migrate())
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())

    async def _run() -> files.ImportSummary:
        database = Database(settings.database_url, pool_size=2)
        try:
            tenant = await files.tenant_named(database, workspace, tenant_mode)
            with Progress(*Progress.get_default_columns()[:1], *columns, console=console) as bar:
                task = bar.add_task("Importing" if not dry_run else "Checking", total=None)
                return await files.import_file(
                    database,
                    settings,
                    tenant,
                    file,
                    options,
                    dry_run=dry_run,
                    errors_path=errors_path,
                    duplicates_path=duplicates_path,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            await database.dispose()

    try:
        summary = asyncio.run(_run())
    except files.WorkspaceMissing:
        console.print(f"[red]No workspace named {workspace!r}.[/red]")
        raise typer.Exit(1) from None
    except APIError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    if summary.ignored_columns:
        names = ", ".join(repr(name) for name in summary.ignored_columns)
        console.print(f"Columns no field reads (map them with --map if meant): {names}.")
    if summary.resumed_at:
        console.print(f"Resumed job {summary.job_id} after row {summary.resumed_at}.")
    verb = "would be created" if dry_run else "created"
    console.print(f"{summary.created} contact(s) {verb}; {summary.failed} row(s) failed.")
    if summary.failed:
        console.print(f"Failing rows are listed in {errors_path}.")
    if summary.flagged:
        console.print(
            f"{summary.flagged} created row(s) look like contacts already there; "
            f"they are listed in {duplicates_path} (see GET /v1/contacts/duplicates)."
        )


@app.command("export")
def export_csv(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the CSV.")],
    workspace: Annotated[str, typer.Option(help="Workspace name.")] = DEFAULT_WORKSPACE,
    mode: Annotated[str, typer.Option(help="live or test.")] = "test",
    client_id: Annotated[str | None, typer.Option(help="Only this client's contacts.")] = None,
) -> None:
    """Export contacts to a CSV file with the create body's columns (import reads it back)."""
    from rich.progress import Progress

    from vantage_contacts.imports import files

    settings = get_settings()
    tenant_mode = _mode(mode)
    asyncio.run(_migrate())

    async def _run() -> int:
        database = Database(settings.database_url, pool_size=2)
        try:
            tenant = await files.tenant_named(database, workspace, tenant_mode)
            with Progress(console=console) as bar:
                task = bar.add_task("Exporting", total=None)
                return await files.export_file(
                    database,
                    tenant,
                    file,
                    client_id,
                    lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            await database.dispose()

    try:
        written = asyncio.run(_run())
    except files.WorkspaceMissing:
        console.print(f"[red]No workspace named {workspace!r}.[/red]")
        raise typer.Exit(1) from None
    console.print(f"Wrote {written} contact(s) to {file}.")


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option(help="Workspace name; created if new.")],
    mode: Annotated[str, typer.Option(help="live or test.")] = "test",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
) -> None:
    """Create an API key. The secret is printed once, alone on the last line."""
    key_mode = _mode(mode)
    asyncio.run(_migrate())
    key_id, secret = asyncio.run(_create_key(workspace, key_mode, name))
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
