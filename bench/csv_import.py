"""CSV import end to end: a 100,000-row file through `vantage-contacts import`, timed.

    .venv/bin/python -m bench.csv_import [--rows 100000] [--backend both] [--write]

For each backend, on a fresh database (PostgreSQL: a new database on VANTAGE_TEST_POSTGRES_URL's
server, dropped afterwards; SQLite: a file in a temporary folder), with 200 clients made first:

    vantage-contacts import contacts.csv --workspace bench --client-column Company

runs in its own process, exactly as an operator would type it, and the wall-clock time from
start to exit is the figure (process start, the migration check, reading the file, every
chunk committed, the error report written). The file holds realistic people (bench.contactgen:
names, company and free-mail addresses, phone numbers in many formats, some people twice),
each row naming its client by name in a `Company` column, with headers an export from
another CRM would have (`Full Name`, `E-mail`, `Phone Number`, `Mobile`, `Job Title`).

`--write` replaces the csv-import section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bench.bulk_create import fresh_database, machine, new_workspace, write_section
from bench.contactgen import generate
from vantage_contacts.auth.subject import Tenant
from vantage_contacts.clients import service as clients_service
from vantage_contacts.clients.schemas import ClientCreate
from vantage_contacts.db import Database
from vantage_contacts.models import contact_imports, contacts

CLI = Path(sys.executable).parent / "vantage-contacts"
WORKSPACE = "bench"
CLIENTS = 200
TITLES = ["CEO", "CTO", "Account Manager", "Office Manager", "Engineer", "Designer", ""]
TARGET_SECONDS = 60


def write_file(path: Path, rows: int) -> None:
    rng = random.Random(7)
    people, _ = generate(rows, seed=7)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Full Name", "E-mail", "Phone Number", "Mobile", "Job Title", "Company"])
        for person in people[:rows]:
            company = f"Client {int(person.client_id or 0) % CLIENTS}"
            writer.writerow(
                [
                    person.name,
                    person.email or "",
                    person.phone or "",
                    person.mobile or "",
                    rng.choice(TITLES),
                    company,
                ]
            )


async def make_clients(url: str, tenant: Tenant) -> None:
    database = Database(url, pool_size=1)
    try:
        async with database.write() as conn:
            for i in range(CLIENTS):
                await clients_service.create(conn, tenant, ClientCreate(name=f"Client {i}"), "US")
    finally:
        await database.dispose()


async def job_counts(url: str, tenant: Tenant) -> tuple[int, int, int, str]:
    """(contacts in the workspace, created, failed, status) as stored."""
    database = Database(url, pool_size=1)
    try:
        async with database.read() as conn:
            query = select(func.count()).where(contacts.c.workspace_id == tenant.workspace_id)
            count = int(await conn.scalar(query.select_from(contacts)) or 0)
            job = (
                await conn.execute(
                    select(
                        contact_imports.c.created_count,
                        contact_imports.c.failed_count,
                        contact_imports.c.status,
                    )
                )
            ).one()
    finally:
        await database.dispose()
    return count, int(job[0]), int(job[1]), str(job[2])


@dataclass
class Outcome:
    backend: str
    rows: int
    seconds: float
    created: int
    failed: int

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def run_backend(backend: str, source: Path, rows: int) -> Outcome:
    with fresh_database(backend) as url:
        tenant, _ = asyncio.run(new_workspace(url, WORKSPACE))
        asyncio.run(make_clients(url, tenant))
        env = {**os.environ, "VANTAGE_DATABASE_URL": url, "VANTAGE_LOG_LEVEL": "WARNING"}
        command = [str(CLI), "import", str(source), "--workspace", WORKSPACE]
        command += ["--client-column", "Company"]
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{backend}: import failed:\n{result.stderr[-3000:]}")
        count, created, failed, status = asyncio.run(job_counts(url, tenant))
    if status != "completed" or count != created or created + failed != rows:
        raise SystemExit(f"{backend}: {status}, {count} contacts, {created}+{failed} of {rows}")
    return Outcome(backend, rows, seconds, created, failed)


def report(outcomes: list[Outcome]) -> str:
    lines = [
        "## CSV import, end to end",
        "",
        f"`{' '.join(['.venv/bin/python -m bench.csv_import', *sys.argv[1:]])}`, which times",
        "`vantage-contacts import contacts.csv --workspace bench --client-column Company` in a",
        "subprocess on a fresh database with 200 clients (rows name their client by name).",
        "",
        f"Machine: {machine()}.",
        "",
        "| backend | rows | seconds | rows/s | created | failed rows | target ≤ 60 s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for o in outcomes:
        met = "met" if o.seconds <= TARGET_SECONDS else "missed"
        lines.append(
            f"| {o.backend} | {o.rows:,} | {o.seconds:.1f} | {o.rate:,.0f} | {o.created:,} | "
            f"{o.failed:,} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="vantage-import-") as folder:
        source = Path(folder) / "contacts.csv"
        write_file(source, args.rows)
        for backend in backends:
            outcome = run_backend(backend, source, args.rows)
            print(
                f"{backend}: {outcome.rows:,} rows in {outcome.seconds:.1f} s "
                f"({outcome.rate:,.0f} rows/s); {outcome.created:,} created, "
                f"{outcome.failed:,} failed",
                flush=True,
            )
            outcomes.append(outcome)
    text = report(outcomes)
    print(text)
    if args.write:
        write_section("csv-import", text)


if __name__ == "__main__":
    main()
