"""Where a bulk create's CPU goes on PostgreSQL: the same work as `POST /v1/contacts/bulk`,
in this process, with no HTTP, split into its parts.

    .venv/bin/python -m bench.bulk_cost [--contacts 20000] [--write]

The benchmark's contacts are created in batches of 100 through the code the endpoint runs,
twice, each time in a fresh database (as bench.bulk_create makes it) and in a new process, so
neither run finds the other's caches warm:

1. `with guard`: `bulk.prepare_items` (checking and normalising the items, blocking keys) then
   `bulk.create_prepared` (clients, emails in use, the create-time guard's reads and scoring,
   and the rows: contact, blocking keys, queued duplicate check, activity entry, event).
2. `without guard`: the same, with the guard's reads replaced by an empty answer, so nothing
   is read or scored for it. The service has no such switch; this run only measures what the
   guard costs.

For each part, CPU per contact of the service's code and of PostgreSQL: the backend serving
the run's one connection, from /proc/PID/schedstat (nanoseconds on a CPU), so PostgreSQL must
run on this machine; autovacuum is not counted. HTTP, JSON and the framework are not in these
figures; bench.bulk_create measures the whole request. With 2 cores shared by the service and
PostgreSQL no API run can exceed cores / CPU per contact, so the ceilings here bound any run of
the endpoint from above.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bench.bulk_create import (
    BATCH,
    contact_items,
    create_clients,
    fresh_database,
    machine,
    new_workspace,
    write_section,
)
from vantage_contacts.auth.subject import SYSTEM, Subject, Tenant
from vantage_contacts.config import Settings
from vantage_contacts.contacts import bulk
from vantage_contacts.db import Database
from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.gctune import tune_garbage_collector

WARMUP_BATCHES = 20  # not counted: the first batches find an empty workspace


def _on_cpu_seconds(pid: int) -> float:
    """Seconds this PostgreSQL backend has spent on a CPU (the scheduler's own count, in ns)."""
    try:
        if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
            raise OSError(f"process {pid} is not PostgreSQL")
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError) as error:
        raise SystemExit(f"PostgreSQL's CPU cannot be read on this machine: {error}") from None


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


async def _backend_pid(conn: AsyncConnection) -> int:
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's connection
    return int(driver.get_server_pid())


async def _no_candidates(
    conn: AsyncConnection, tenant: Tenant, rows: Sequence[Any]
) -> duplicates.Candidates:
    return duplicates.Candidates([], {}, {}, set())


@contextmanager
def _guard(on: bool) -> Iterator[None]:
    """The create-time guard as it is, or (off) its reads answered empty."""
    if on:
        yield
        return
    original = duplicates.guard_candidates
    duplicates.guard_candidates = _no_candidates
    try:
        yield
    finally:
        duplicates.guard_candidates = original


async def run(url: str, contacts: int, guard: bool) -> Costs:
    tenant, _ = await new_workspace(url, f"bench-cost-{'guard' if guard else 'plain'}")
    subject = Subject(tenant, SYSTEM)
    settings = Settings()
    database = Database(url, pool_size=1)
    costs = Costs()
    try:
        items = contact_items(contacts, await create_clients(database, tenant), seed=1)
        batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
        async with database.read() as conn:  # the pool's one connection, reused by every batch
            backend = await _backend_pid(conn)
        with _guard(on=guard):
            for number, batch in enumerate(batches):
                counted = number >= WARMUP_BATCHES
                started, cpu_started = time.perf_counter(), time.process_time()
                prepared = bulk.prepare_items(batch, settings)
                cpu_prepared, db_started = time.process_time(), _on_cpu_seconds(backend)
                async with database.write() as conn:
                    if await _backend_pid(conn) != backend:
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
    # The same work in both runs: their mean.
    check = (
        with_guard.per_contact(with_guard.prepare)
        + without_guard.per_contact(without_guard.prepare)
    ) / 2
    writes = (
        without_guard.per_contact(without_guard.create),
        without_guard.per_contact(without_guard.database),
    )
    everything = (
        with_guard.per_contact(with_guard.prepare + with_guard.create),
        with_guard.per_contact(with_guard.database),
    )
    guard = (
        with_guard.per_contact(with_guard.create) - writes[0],
        with_guard.per_contact(with_guard.database) - writes[1],
    )

    def row(name: str, python: float, database: float) -> str:
        return f"| {name} | {python:,.0f} | {database:,.0f} | {python + database:,.0f} |"

    lines = [
        "## Bulk create on PostgreSQL: where the CPU goes",
        "",
        f"`{' '.join(['.venv/bin/python -m bench.bulk_cost', *argv])}`",
        "",
        f"{with_guard.contacts + WARMUP_BATCHES * BATCH:,} contacts through the endpoint's own "
        f"code in batches of {BATCH}, with no HTTP, first {WARMUP_BATCHES} batches not "
        "counted; CPU per contact of the service's code and of PostgreSQL. Two runs, each in "
        "its own process and database: as the service runs, and with the create-time guard's "
        "reads answered empty (a measurement only; the service has no such switch). The guard "
        "is the difference between them.",
        "",
        f"Machine: {machine()}.",
        "",
        "| part, µs of CPU per contact | service (Python) | PostgreSQL | total |",
        "| --- | ---: | ---: | ---: |",
        row("check and normalise the items (mean of the runs)", check, 0.0),
        row("write the rows (run without the guard)", *writes),
        row("create-time guard: reads and scoring (difference)", *guard),
        row("all of it (run with the guard)", *everything),
        "",
        f"Ceiling on {cores} cores, before HTTP and the client: "
        f"{cores / (check + sum(writes)) * 1e6:,.0f} contacts/s for checking the items and "
        f"writing the rows alone, {cores / sum(everything) * 1e6:,.0f}/s with the guard. "
        f"Each run's own rate: {with_guard.contacts / with_guard.seconds:,.0f}/s with the guard, "
        f"{without_guard.contacts / without_guard.seconds:,.0f}/s without.",
    ]
    return "\n".join(lines)


def measure(contacts: int, guard: bool) -> Costs:
    """One run on a fresh database (in a process of its own: see `main`)."""
    tune_garbage_collector()  # as the service's processes run
    with fresh_database("postgresql") as url:
        return asyncio.run(run(url, contacts, guard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    if args.contacts <= WARMUP_BATCHES * BATCH:
        parser.error(f"--contacts must be above {WARMUP_BATCHES * BATCH}")
    costs = {}
    for guard in (True, False):
        # A new process each: the matching engine's caches of the first run would make the
        # second one cheaper.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
            costs[guard] = process.submit(measure, args.contacts, guard).result()
    text = report(costs[True], costs[False], sys.argv[1:])
    print(text)
    if args.write:
        write_section("bulk-cost", text)


if __name__ == "__main__":
    main()
