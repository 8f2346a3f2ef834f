"""Bulk create throughput: contacts per second through the HTTP API, in batches of 100.

    .venv/bin/python -m bench.bulk_create [--contacts 20000] [--connections 4] [--backend both]
                                          [--workers 1] [--write]

For each backend, on a fresh database (PostgreSQL: a new database on VANTAGE_TEST_POSTGRES_URL's
server, dropped afterwards; SQLite: a file in a temporary folder):

1. A real API server: `uvicorn vantage_contacts.app:create_app --factory` in its own process
   (the background worker off, rate limits out of the way).
2. The client: httpx.AsyncClient with a few connections, each sending `POST /v1/contacts/bulk`
   with 100 new contacts (realistic names, unique emails, phone numbers to normalise, titles,
   spread over 20 clients) until every contact is in. A short warm-up is not counted.
3. Reference, in the same run: the same contact rows, each with its activity entry and its
   `contact.created` event, written straight through the driver (asyncpg / sqlite3)
   with `executemany`, 100 contacts per transaction, one connection. The API cannot beat it;
   the ratio says what share of the raw write speed the whole service keeps.

`--write` replaces the bulk-create section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy import func, select

from bench.contactgen import generate
from bench.cpu import CpuMeter
from vantage_contacts.auth import keys
from vantage_contacts.auth.subject import SYSTEM, Tenant
from vantage_contacts.clients import service as clients_service
from vantage_contacts.clients.schemas import ClientCreate
from vantage_contacts.config import Settings
from vantage_contacts.contacts import service
from vantage_contacts.contacts.schemas import ContactCreate, to_wire
from vantage_contacts.db import Database
from vantage_contacts.kit.ids import new_id
from vantage_contacts.migrate import upgrade_sync
from vantage_contacts.models import activity, contacts, events

ADMIN_URL = os.environ.get("VANTAGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BATCH = 100
CLIENTS = 20
WARMUP_BATCHES = 5

TITLES = ["CEO", "CTO", "Account Manager", "Office Manager", "Engineer", "Designer", None]


# --- fresh databases ----------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """A new, empty, migrated database; dropped (or deleted) afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="vantage-bench-") as folder:
            url = f"sqlite:///{folder}/bench.db"
            upgrade_sync(url)
            yield url
        return
    name = f"vantage_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
        upgrade_sync(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def backend_pids(url: str) -> set[int]:
    """The PostgreSQL processes serving this database's connections (none for SQLite)."""
    if not url.startswith("postgresql"):
        return set()
    name = url.rpartition("/")[2]

    async def _read() -> set[int]:
        conn = await asyncpg.connect(ADMIN_URL, timeout=10)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await conn.close()
        return {row["pid"] for row in rows}

    return asyncio.run(_read())


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def new_workspace(url: str, name: str) -> tuple[Tenant, str]:
    """A workspace and a test-mode key for it."""
    database = Database(url, pool_size=1)
    try:
        async with database.write() as conn:
            workspace_id = await keys.ensure_workspace(conn, name)
            _, secret = await keys.create_key(conn, workspace_id, "test", "bench")
    finally:
        await database.dispose()
    return Tenant(workspace_id, "test"), secret


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def api_server(url: str, workers: int) -> Iterator[tuple[str, int]]:
    """The server's base URL and process id."""
    port = free_port()
    env = {
        **os.environ,
        "VANTAGE_DATABASE_URL": url,
        "VANTAGE_RUN_WORKER": "false",
        "VANTAGE_RATE_LIMIT_PER_MINUTE": "100000000",
        "VANTAGE_RATE_LIMIT_BURST": "100000000",
        "VANTAGE_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "vantage_contacts.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, base)
            yield base, process.pid
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-5000:].decode(errors="replace"))
            raise
        finally:
            process.terminate()
            process.wait(timeout=60)


def _wait_ready(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the API server did not start")
        time.sleep(0.1)


# --- the contacts -------------------------------------------------------------------------------


def contact_items(count: int, client_ids: list[str], seed: int) -> list[dict[str, Any]]:
    """Create bodies as an integrator would send them: realistic people (bench.contactgen:
    common and rare names, company and free-mail addresses, some entered twice), emails unique,
    spread over the clients."""
    rng = random.Random(seed)
    people, _ = generate(count + count // 10, seed=seed)
    items = []
    for person in people:
        if not person.name.strip():
            continue
        item: dict[str, Any] = {
            "client_id": client_ids[int(person.client_id or 0) % len(client_ids)],
            "name": person.name,
        }
        for field in ("email", "phone", "mobile"):
            if getattr(person, field):
                item[field] = getattr(person, field)
        title = rng.choice(TITLES)
        if title:
            item["title"] = title
        items.append(item)
    return items[:count]


async def make_clients(base: str, secret: str) -> list[str]:
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        ids = []
        for i in range(CLIENTS):
            response = await client.post("/v1/clients", json={"name": f"Client {i}"})
            response.raise_for_status()
            ids.append(response.json()["data"]["id"])
    return ids


async def send_batches(
    base: str, secret: str, batches: list[list[dict[str, Any]]], connections: int
) -> float:
    """Seconds to send every batch over `connections` concurrent connections."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    pending = asyncio.Queue[bytes]()
    for batch in batches:
        pending.put_nowait(orjson.dumps({"contacts": batch}))

    async def sender(client: httpx.AsyncClient) -> None:
        while not pending.empty():
            body = pending.get_nowait()
            response = await client.post("/v1/contacts/bulk", content=body)
            response.raise_for_status()
            answer = response.json()
            if answer["errors"]:
                raise RuntimeError(f"items failed: {answer['errors'][:3]}")

    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=120
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(connections)))
        return time.perf_counter() - started


# --- the reference ------------------------------------------------------------------------------


def reference_rows(
    tenant: Tenant, items: list[dict[str, Any]], settings: Settings
) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Per batch: the contact, activity and event rows the API writes for these items."""
    batches = []
    tenant_values = {"workspace_id": tenant.workspace_id, "mode": tenant.mode}
    for start in range(0, len(items), BATCH):
        contact_rows, activity_rows, event_rows = [], [], []
        for item in items[start : start + BATCH]:
            row = {**tenant_values, **service.prepare(ContactCreate.model_validate(item), settings)}
            contact_rows.append(row)
            changes = [
                {"field": f, "old": None, "new": row[f]}
                for f in service.CREATE_FIELDS
                if row[f] is not None
            ]
            activity_rows.append(
                {
                    **tenant_values,
                    "id": new_id("act"),
                    "contact_id": row["id"],
                    "action": "created",
                    "changes": changes,
                    "actor_type": SYSTEM.type,
                    "actor_id": SYSTEM.id,
                    "created_at": row["created_at"],
                }
            )
            event_rows.append(
                {
                    **tenant_values,
                    "id": new_id("evt"),
                    "type": "contact.created",
                    "object_type": "contact",
                    "object_id": row["id"],
                    "data": to_wire(row),
                    "changed_fields": None,
                    "created_at": row["created_at"],
                }
            )
        batches.append((contact_rows, activity_rows, event_rows))
    return batches


TABLES = (contacts, activity, events)
JSON_COLUMNS = {"changes", "data", "changed_fields"}


def _insert_sql(table: Any, placeholder: str) -> tuple[str, list[str]]:
    columns = [column.name for column in table.columns]
    marks = [placeholder.format(i + 1) for i in range(len(columns))]
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})", columns


def _pg_value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return orjson.dumps(value).decode()
    return value


def _sqlite_value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return orjson.dumps(value).decode()
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(" ")
    return value


async def reference_postgresql(url: str, batches: list[Any]) -> float:
    conn = await asyncpg.connect(url)
    try:
        statements = [_insert_sql(table, "${}") for table in TABLES]
        # JSON columns are `json`; asyncpg sends text for them once told so.
        await conn.set_type_codec("json", encoder=str, decoder=str, schema="pg_catalog")
        started = time.perf_counter()
        for rows_per_table in batches:
            async with conn.transaction():
                for (sql, columns), rows in zip(statements, rows_per_table, strict=True):
                    await conn.executemany(
                        sql, [[_pg_value(c, row[c]) for c in columns] for row in rows]
                    )
        return time.perf_counter() - started
    finally:
        await conn.close()


def reference_sqlite(url: str, batches: list[Any]) -> float:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        statements = [_insert_sql(table, "?") for table in TABLES]
        started = time.perf_counter()
        for rows_per_table in batches:
            conn.execute("BEGIN IMMEDIATE")
            for (sql, columns), rows in zip(statements, rows_per_table, strict=True):
                conn.executemany(sql, [[_sqlite_value(c, row[c]) for c in columns] for row in rows])
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


# --- one backend --------------------------------------------------------------------------------


@dataclass
class Outcome:
    backend: str
    contacts: int
    seconds: float
    reference_seconds: float
    created: int
    cpu: CpuMeter

    @property
    def rate(self) -> float:
        return self.contacts / self.seconds

    @property
    def reference_rate(self) -> float:
        return self.contacts / self.reference_seconds


def count_contacts(url: str, tenant: Tenant) -> int:
    async def _count() -> int:
        database = Database(url, pool_size=1)
        try:
            async with database.read() as conn:
                query = select(func.count()).where(contacts.c.workspace_id == tenant.workspace_id)
                return int(await conn.scalar(query.select_from(contacts)) or 0)
        finally:
            await database.dispose()

    return asyncio.run(_count())


def run_backend(backend: str, total: int, connections: int, workers: int) -> Outcome:
    settings = Settings(run_worker=False)
    with fresh_database(backend) as url:
        tenant, secret = asyncio.run(new_workspace(url, "bench-api"))
        with api_server(url, workers) as (base, server_pid):
            client_ids = asyncio.run(make_clients(base, secret))
            every = contact_items(WARMUP_BATCHES * BATCH + total, client_ids, seed=2)
            warmup, items = every[: WARMUP_BATCHES * BATCH], every[WARMUP_BATCHES * BATCH :]
            asyncio.run(send_batches(base, secret, _batches(warmup), connections))
            cpu = CpuMeter(server_pid, lambda: backend_pids(url))
            cpu.start()
            seconds = asyncio.run(send_batches(base, secret, _batches(items), connections))
            cpu.stop()
        created = count_contacts(url, tenant) - len(warmup)
        reference_tenant, _ = asyncio.run(new_workspace(url, "bench-reference"))
        rows = reference_rows(reference_tenant, _retarget(items, url, reference_tenant), settings)
        if backend == "sqlite":
            reference_seconds = reference_sqlite(url, rows)
        else:
            reference_seconds = asyncio.run(reference_postgresql(url, rows))
    return Outcome(backend, total, seconds, reference_seconds, created, cpu)


def _batches(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


async def create_clients(database: Database, tenant: Tenant) -> list[str]:
    """The benchmark's clients in a workspace, made through the service."""
    async with database.write() as conn:
        return [
            (await clients_service.create(conn, tenant, ClientCreate(name=f"Client {i}"), "US"))[
                "id"
            ]
            for i in range(CLIENTS)
        ]


def _retarget(items: list[dict[str, Any]], url: str, tenant: Tenant) -> list[dict[str, Any]]:
    """The same items under clients of the reference workspace (foreign keys hold)."""

    async def _clients() -> list[str]:
        database = Database(url, pool_size=1)
        try:
            return await create_clients(database, tenant)
        finally:
            await database.dispose()

    ids = asyncio.run(_clients())
    return [{**item, "client_id": ids[i % CLIENTS]} for i, item in enumerate(items)]


# --- report -------------------------------------------------------------------------------------


def write_section(name: str, body: str) -> None:
    """Replace the section between `<!-- name:start -->` and `<!-- name:end -->` of
    bench/RESULTS.md (appended the first time), leaving the other sections as they are."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def machine() -> str:
    """What the figures were measured on: cores, load (other work slows every figure), commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} at the end, commit {commit or '?'}"


def report(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    lines = [
        "## Bulk create through the API",
        "",
        f"`{' '.join(['.venv/bin/python -m bench.bulk_create', *sys.argv[1:]])}`",
        "",
        f"{args.contacts:,} contacts in `POST /v1/contacts/bulk` batches of {BATCH}, "
        f"{args.connections} concurrent connections, {args.workers} uvicorn worker(s); fresh "
        "database per backend. Reference: the same contact, activity and event rows through "
        "the raw driver's executemany, 100 contacts per transaction.",
        "",
        f"Machine: {machine()}.",
        "",
        "CPU per contact: CPU seconds spent during the timed run by the API server's processes, "
        "by the PostgreSQL backends serving the benchmark's database (SQLite works inside the "
        "server; PostgreSQL's shared WAL writer and checkpointer are not counted) and by the "
        f"client, per contact. With {os.cpu_count()} cores, no run can go faster than cores / "
        "total CPU per contact: the ceiling column.",
        "",
        "| backend | contacts/s (API) | reference rows/s | API / reference "
        "| CPU µs per contact: server + database + client = total | ceiling | target |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for outcome in outcomes:
        target = "≥ 5,000/s: " + ("met" if outcome.rate >= 5000 else "missed")
        cpu, n = outcome.cpu, outcome.contacts
        lines.append(
            f"| {outcome.backend} | {outcome.rate:,.0f} | {outcome.reference_rate:,.0f} | "
            f"{outcome.rate / outcome.reference_rate:.2f} | "
            f"{cpu.server / n * 1e6:,.0f} + {cpu.database / n * 1e6:,.0f} + "
            f"{cpu.client / n * 1e6:,.0f} = {cpu.total / n * 1e6:,.0f} | "
            f"{(os.cpu_count() or 1) * n / cpu.total:,.0f}/s | "
            f"{target if outcome.backend == 'postgresql' else '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    outcomes = []
    for backend in backends:
        outcome = run_backend(backend, args.contacts, args.connections, args.workers)
        if outcome.created != outcome.contacts:
            raise SystemExit(f"{backend}: {outcome.created} created, expected {outcome.contacts}")
        print(
            f"{backend}: {outcome.contacts:,} contacts in {outcome.seconds:.2f} s = "
            f"{outcome.rate:,.0f} contacts/s; reference {outcome.reference_rate:,.0f}/s "
            f"({outcome.reference_seconds:.2f} s); "
            f"ratio {outcome.rate / outcome.reference_rate:.2f}; CPU per contact: server "
            f"{outcome.cpu.server / outcome.contacts * 1e6:.0f} us, database "
            f"{outcome.cpu.database / outcome.contacts * 1e6:.0f} us, client "
            f"{outcome.cpu.client / outcome.contacts * 1e6:.0f} us",
            flush=True,
        )
        outcomes.append(outcome)
    text = report(outcomes, args)
    print(text)
    if args.write:
        write_section("bulk-create", text)


if __name__ == "__main__":
    main()
