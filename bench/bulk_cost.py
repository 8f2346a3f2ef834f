"""Where a bulk create's CPU goes on PostgreSQL: the same work as `POST /v1/contacts/bulk`,
in this process, with no HTTP, split into its parts.

    .venv/bin/python -m bench.bulk_cost [--contacts 20000] [--write]

On a fresh database (as bench.bulk_create makes it), the benchmark's contacts are created in
batches of 100 through the code the endpoint runs, twice, each time in a new workspace:

1. `with guard`: `bulk.prepare_items` (checking and normalising the items, blocking keys) then
   `bulk.create_prepared` (clients, emails in use, the create-time guard's reads and scoring,
   and the rows: contact, blocking keys, queued duplicate check, activity entry, event).
2. `without guard`: the same, with the guard's reads replaced by an empty answer, so nothing
   is read or scored for it. The service has no such switch; this run only measures what the
   guard costs.

For each part, CPU per contact of this process and of PostgreSQL (the backends serving the
benchmark's database, from /proc/PID/schedstat: nanoseconds on a CPU). HTTP, JSON and the
framework are not in these figures; bench.bulk_create measures the whole request. With 2 cores
shared by the service and PostgreSQL no API run can exceed cores / CPU per contact, so the
ceilings here bound any run of the endpoint from above.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bench.bulk_create import (
    BATCH,
    CLIENTS,
    contact_items,
    fresh_database,
    machine,
    new_workspace,
    write_section,
)
from vantage_contacts.auth.subject import SYSTEM, Subject, Tenant
from vantage_contacts.clients import service as clients_service
from vantage_contacts.clients.schemas import ClientCreate
from vantage_contacts.config import Settings
from vantage_contacts.contacts import bulk
from vantage_contacts.db import Database
from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.gctune import tune_garbage_collector

WARMUP_BATCHES = 20  # not counted: the first batches find an empty workspace


def _on_cpu_seconds(pids: set[int]) -> float:
    """Seconds these processes have spent on a CPU (the scheduler's own count, in ns)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue
    return total / 1e9


@dataclass
class Costs:
    """CPU seconds, summed over the counted batches."""

    contacts: int = 0
    prepare: float = 0.0  # this process: prepare_items
    create: float = 0.0  # this process: create_prepared's transaction, commit included
    database: float = 0.0  # PostgreSQL, during that transaction
    seconds: float = 0.0  # wall time of prepare + create

    def per_contact(self, value: float) -> float:
        return value / self.contacts * 1e6

    @property
    def total(self) -> float:
        return self.prepare + self.create + self.database


async def _backend_pid(conn: AsyncConnection) -> int:
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's connection
    return int(driver.get_server_pid())


async def _no_candidates(
    conn: AsyncConnection, tenant: Tenant, rows: Sequence[Any]
) -> duplicates.Candidates:
    return duplicates.Candidates([], {}, {}, set())


@contextmanager
def _without_guard(active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    original = duplicates.guard_candidates
    duplicates.guard_candidates = _no_candidates
    try:
        yield
    finally:
        duplicates.guard_candidates = original


async def _clients(database: Database, tenant: Tenant) -> list[str]:
    async with database.write() as conn:
        return [
            (await clients_service.create(conn, tenant, ClientCreate(name=f"Client {i}"), "US"))[
                "id"
            ]
            for i in range(CLIENTS)
        ]


async def run(url: str, contacts: int, guard: bool) -> Costs:
    tenant, _ = await new_workspace(url, f"bench-cost-{'guard' if guard else 'plain'}")
    subject = Subject(tenant, SYSTEM)
    settings = Settings()
    database = Database(url, pool_size=1)
    costs = Costs()
    try:
        items = contact_items(contacts, await _clients(database, tenant), seed=1)
        batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
        async with database.read() as conn:  # the pool's one connection, reused by every batch
            backend = {await _backend_pid(conn)}
        with _without_guard(not guard):
            for number, batch in enumerate(batches):
                counted = number >= WARMUP_BATCHES
                started, cpu_started = time.perf_counter(), time.process_time()
                prepared = bulk.prepare_items(batch, settings)
                cpu_prepared, db_started = time.process_time(), _on_cpu_seconds(backend)
                async with database.write() as conn:
                    if {await _backend_pid(conn)} != backend:
                        raise SystemExit("the pool opened another connection: CPU not counted")
                    result = await bulk.create_prepared(conn, subject, prepared, settings)
                cpu_done, db_spent = time.process_time(), _on_cpu_seconds(backend) - db_started
                if result.errors:
                    raise SystemExit(f"batch {number}: {result.errors[:3]}")
                if counted:
                    costs.contacts += len(batch)
                    costs.prepare += cpu_prepared - cpu_started
                    costs.create += cpu_done - cpu_prepared
                    costs.database += db_spent
                    costs.seconds += time.perf_counter() - started
    finally:
        await database.dispose()
    return costs


def report(with_guard: Costs, without_guard: Costs, argv: list[str]) -> str:
    cores = os.cpu_count() or 1

    def row(name: str, python: float, database: float, costs: Costs) -> str:
        python_us, database_us = costs.per_contact(python), costs.per_contact(database)
        return (
            f"| {name} | {python_us:,.0f} | {database_us:,.0f} | {python_us + database_us:,.0f} |"
        )

    guard_python = with_guard.per_contact(with_guard.create) - without_guard.per_contact(
        without_guard.create
    )
    guard_database = with_guard.per_contact(with_guard.database) - without_guard.per_contact(
        without_guard.database
    )
    lines = [
        "## Bulk create on PostgreSQL: where the CPU goes",
        "",
        f"`{' '.join(['.venv/bin/python -m bench.bulk_cost', *argv])}`",
        "",
        f"{with_guard.contacts + WARMUP_BATCHES * BATCH:,} contacts through the endpoint's own "
        f"code in batches of {BATCH}, in this process (no HTTP), first {WARMUP_BATCHES} batches "
        "not counted; CPU per contact of the service's code and of PostgreSQL. Without guard: "
        "the same run with the create-time guard's reads answered empty (a measurement only; "
        "the service has no such switch).",
        "",
        f"Machine: {machine()}.",
        "",
        "| part, µs of CPU per contact | service (Python) | PostgreSQL | total |",
        "| --- | ---: | ---: | ---: |",
        row("check and normalise the items", with_guard.prepare, 0.0, with_guard),
        row(
            "write the rows, without guard",
            without_guard.create,
            without_guard.database,
            without_guard,
        ),
        f"| create-time guard (reads and scoring) | {guard_python:,.0f} | {guard_database:,.0f} "
        f"| {guard_python + guard_database:,.0f} |",
        row(
            "all of it, with guard",
            with_guard.prepare + with_guard.create,
            with_guard.database,
            with_guard,
        ),
        "",
        f"Ceiling on {cores} cores, before HTTP and the client: "
        f"{cores / without_guard.total * without_guard.contacts:,.0f} contacts/s without the "
        f"guard, {cores / with_guard.total * with_guard.contacts:,.0f}/s with it. "
        f"This process alone ran {with_guard.contacts / with_guard.seconds:,.0f}/s with the "
        f"guard, {without_guard.contacts / without_guard.seconds:,.0f}/s without.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    if args.contacts <= WARMUP_BATCHES * BATCH:
        parser.error(f"--contacts must be above {WARMUP_BATCHES * BATCH}")
    tune_garbage_collector()  # as the service's processes run
    with fresh_database("postgresql") as url:
        with_guard = asyncio.run(run(url, args.contacts, guard=True))
    with fresh_database("postgresql") as url:
        without_guard = asyncio.run(run(url, args.contacts, guard=False))
    text = report(with_guard, without_guard, sys.argv[1:])
    print(text)
    if args.write:
        write_section("bulk-cost", text)


if __name__ == "__main__":
    main()
