"""Import jobs: created from a CSV text, run chunk by chunk, each chunk committed with the job's
progress, so a crash loses nothing and a resumed job never creates a row twice."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import Actor, Subject, Tenant
from vantage_contacts.clients import repository as clients_repository
from vantage_contacts.config import Settings
from vantage_contacts.contacts import bulk
from vantage_contacts.db import Database
from vantage_contacts.duplicates import service as duplicates
from vantage_contacts.errors import Conflict, NotFound, ValidationFailed
from vantage_contacts.events import service as events
from vantage_contacts.imports import csvmap, helper
from vantage_contacts.kit.clock import rfc3339, utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.kit.normalize import fold
from vantage_contacts.kit.scoping import in_tenant, tenant_values
from vantage_contacts.models import clients, contact_imports

CHUNK_ROWS = 1000  # rows a transaction: the unit of progress, and of work lost to a crash
PREPARE_SLICE = 25  # rows prepared between two turns of the event loop
# From this size on, rows are checked and normalised, and the create-time guard's candidates
# scored, in a helper process beside the writes (half of an import's work; starting the
# helper takes about a second).
HELPER_FROM_ROWS = 2000
# Row errors and possible duplicates kept on the job; the command line writes all of them to
# its report files.
ERRORS_KEPT = 1000
FILENAME_LENGTH = 300  # the job's filename column


@dataclass(frozen=True, slots=True)
class ImportOptions:
    client_id: str | None = None
    client_column: str | None = None
    mapping: Mapping[str, str] | None = None


def file_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def label(filename: str | None) -> str | None:
    """A file's name as given (by an upload, or the command line's path), kept only as a
    label: printable (no NUL, no undecodable bytes), and short enough for its column."""
    if filename is None:
        return None
    return "".join(c for c in filename if c.isprintable())[:FILENAME_LENGTH] or None


def decode(raw: bytes) -> str:
    """An uploaded or local file's bytes as text: UTF-8, with or without a byte order mark."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed.one(
            "file",
            f"The file is not UTF-8 text (byte {error.start + 1} cannot be read); "
            "save it as UTF-8 CSV.",
            "invalid_csv",
        ) from None


def wire(job: Mapping[Any, Any]) -> dict[str, Any]:
    leased = job["lease_until"] is not None and job["lease_until"] > utcnow()
    status = job["status"]
    if status == "pending" and (leased or job["processed_rows"] > 0):
        status = "processing"
    return {
        "id": job["id"],
        "status": status,
        "filename": job["filename"],
        "total_rows": job["total_rows"],
        "processed_rows": job["processed_rows"],
        "created": job["created_count"],
        "failed": job["failed_count"],
        "errors": job["row_errors"],
        "flagged": job["flagged_count"],
        "possible_duplicates": job["possible_duplicates"],
        "ignored_columns": job["options"].get("ignored_columns", []),
        "failure": job["failure"],
        "created_at": rfc3339(job["created_at"]),
        "updated_at": rfc3339(job["updated_at"]),
        "completed_at": rfc3339(job["completed_at"]),
    }


async def build_job(
    conn: AsyncConnection,
    tenant: Tenant,
    actor: Actor,
    text: str,
    filename: str | None,
    options: ImportOptions,
    *,
    queued: bool = True,
) -> dict[str, Any]:
    """A new job after checking the file's columns and the options (422 / 404). A job that
    is not `queued` is left to the command line that made it: the worker never claims it."""
    if options.client_id is not None and options.client_column is not None:
        raise ValidationFailed.one(
            "client_column",
            "Give client_id (one client for every row) or client_column, not both.",
            "invalid",
        )
    try:
        header, rows = csvmap.read_rows(text)
        columns = csvmap.ColumnMap.build(header, options.mapping, options.client_column)
    except csvmap.MappingError as error:
        raise ValidationFailed.one("file", str(error), "invalid_csv") from None
    has_client_column = "client_id" in columns.fields.values()
    if options.client_id is None and options.client_column is None and not has_client_column:
        raise ValidationFailed.one(
            "client_id",
            "Give client_id, or client_column naming the column of clients.",
            "required",
        )
    if (
        options.client_id is not None
        and await clients_repository.get(conn, tenant, options.client_id) is None
    ):
        raise NotFound("client", options.client_id)
    now = utcnow()
    job: dict[str, Any] = {
        "id": new_id("imp"),
        "status": "pending",
        "filename": label(filename),
        "file_hash": file_hash(text),
        "csv_text": text,
        "options": {
            **_chosen(options),
            "actor": actor.wire(),
            "ignored_columns": columns.ignored(header),
        },
        "total_rows": len(rows),
        "processed_rows": 0,
        "created_count": 0,
        "failed_count": 0,
        "row_errors": [],
        "flagged_count": 0,
        "possible_duplicates": [],
        "failure": None,
        "attempts": 0,
        "next_attempt_at": now if queued else None,
        "lease_until": None,
        "completed_at": None,
        "created_at": now,
        "updated_at": now,
        **tenant_values(tenant),
    }
    return job


async def create_job(
    conn: AsyncConnection,
    tenant: Tenant,
    actor: Actor,
    text: str,
    filename: str | None,
    options: ImportOptions,
    *,
    queued: bool = True,
) -> dict[str, Any]:
    """Check the file and the options, then save the job (queued for the worker, or not)."""
    job = await build_job(conn, tenant, actor, text, filename, options, queued=queued)
    await conn.execute(insert(contact_imports).values(job))
    return job


async def get(conn: AsyncConnection, tenant: Tenant, import_id: str) -> RowMapping | None:
    query = select(contact_imports).where(
        in_tenant(contact_imports, tenant), contact_imports.c.id == import_id
    )
    return (await conn.execute(query)).mappings().first()


def _chosen(options: ImportOptions) -> dict[str, Any]:
    """The options that decide what a job creates, as kept on the job."""
    return {
        "client_id": options.client_id,
        "client_column": options.client_column,
        "mapping": dict(options.mapping or {}),
    }


async def unfinished_for_file(
    conn: AsyncConnection, tenant: Tenant, digest: str, options: ImportOptions
) -> RowMapping | None:
    """The command line's unfinished job for this file with these options, to resume: never
    one queued for the worker, nor one that would read the rows differently."""
    query = select(contact_imports).where(
        in_tenant(contact_imports, tenant),
        contact_imports.c.file_hash == digest,
        contact_imports.c.status == "pending",
        contact_imports.c.next_attempt_at.is_(None),
    )
    wanted = _chosen(options)
    for job in (await conn.execute(query.order_by(contact_imports.c.created_at))).mappings():
        if {name: job["options"].get(name) for name in wanted} == wanted:
            return job
    return None


async def give_up(
    conn: AsyncConnection, tenant: Tenant, import_id: str, lease_until: datetime, failure: str
) -> bool:
    """End a job as failed where it stands (its committed chunks stay) and announce it with
    `import.completed`; only by the runner holding `lease_until` (False otherwise)."""
    now = utcnow()
    moved = await conn.execute(
        update(contact_imports)
        .where(
            in_tenant(contact_imports, tenant),
            contact_imports.c.id == import_id,
            contact_imports.c.status == "pending",
            contact_imports.c.lease_until == lease_until,
        )
        .values(
            status="failed",
            failure=failure[:500],
            completed_at=now,
            updated_at=now,
            lease_until=None,
        )
    )
    if moved.rowcount != 1:
        return False
    job = await get(conn, tenant, import_id)
    assert job is not None  # just updated, in this transaction
    await events.record(conn, tenant, "import.completed", wire(job))
    return True


class _DryRun(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ChunkReport:
    """What one chunk found, by CSV line number (`row`)."""

    errors: list[dict[str, Any]]
    # Created rows that look like existing contacts: {row, id, possible_duplicates}.
    flagged: list[dict[str, Any]]


class ImportRun:
    """Runs one job's chunks. Parses the CSV once; each chunk is one transaction."""

    def __init__(self, job: Mapping[Any, Any], settings: Settings) -> None:
        self.job = dict(job)
        self.settings = settings
        self.tenant = Tenant(job["workspace_id"], job["mode"])
        options = job["options"]
        actor = options.get("actor") or {"type": "system", "id": None}
        self.subject = Subject(self.tenant, Actor(actor["type"], actor["id"]))
        self.client_id: str | None = options.get("client_id")
        header, self.rows, self.lines = csvmap.read_numbered_rows(job["csv_text"])
        self.columns = csvmap.ColumnMap.build(
            header, options.get("mapping"), options.get("client_column")
        )
        self.client_names: dict[str, str] | None = None
        # A dry run rolls each chunk back: the emails its earlier chunks would have taken.
        self.dry_run_emails: dict[str, str] = {}
        # The next chunk's preparation, keyed by (first row, chunk size).
        self._ahead: tuple[tuple[int, int], asyncio.Task[bulk.PreparedItems]] | None = None

    @property
    def helped(self) -> bool:
        """Large files are prepared and scored in the helper process, beside the writes."""
        return len(self.rows) >= HELPER_FROM_ROWS

    @property
    def done(self) -> bool:
        return bool(self.job["status"] != "pending")

    async def _clients_by_name(self, database: Database) -> dict[str, str]:
        """Client column values may be ids, names or email slugs."""
        if self.client_names is None:
            async with database.read() as conn:
                found = await conn.execute(
                    select(clients.c.id, clients.c.name_folded, clients.c.email_slug).where(
                        in_tenant(clients, self.tenant), clients.c.deleted_at.is_(None)
                    )
                )
            self.client_names = {}
            for client_id, name, slug in found.all():
                self.client_names.setdefault(name, client_id)
                self.client_names.setdefault(slug, client_id)
        return self.client_names

    def _items(self, rows: list[list[str]], names: dict[str, str]) -> list[dict[str, Any]]:
        items = [csvmap.item(row, self.columns, self.client_id) for row in rows]
        column = self.columns.client_column
        if column is not None:
            for row, body in zip(rows, items, strict=True):
                value = row[column].strip() if column < len(row) else ""
                body["client_id"] = (
                    value if value.startswith("cli_") else names.get(fold(value), value)
                )
        return items

    async def _prepare(self, database: Database, start: int, chunk_rows: int) -> bulk.PreparedItems:
        """The chunk's rows checked and made ready, in slices that let the event loop run the
        previous chunk's database work meanwhile."""
        names = await self._clients_by_name(database) if self.columns.client_column else {}
        end = min(start + chunk_rows, len(self.rows))
        if self.helped:
            items = self._items(self.rows[start:end], names)
            return await helper.run(
                functools.partial(bulk.prepare_items, items, self.settings, first_index=start)
            )
        prepared = bulk.PreparedItems([], bulk.BulkResult())
        for first in range(start, end, PREPARE_SLICE):
            last = min(first + PREPARE_SLICE, end)
            items = self._items(self.rows[first:last], names)
            prepared.extend(bulk.prepare_items(items, self.settings, first_index=first))
            await asyncio.sleep(0)
        return prepared

    async def _prepared(
        self, database: Database, start: int, chunk_rows: int
    ) -> bulk.PreparedItems:
        """This chunk's rows (prepared ahead while the chunk before was written, when it was),
        and the next chunk's preparation started."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == (start, chunk_rows):
            prepared = await ahead[1]
        else:
            if ahead is not None:
                ahead[1].cancel()
            prepared = await self._prepare(database, start, chunk_rows)
        following = start + chunk_rows
        if following < len(self.rows):
            task = asyncio.create_task(self._prepare(database, following, chunk_rows))
            self._ahead = ((following, chunk_rows), task)
        return prepared

    async def next_chunk(
        self,
        database: Database,
        *,
        dry_run: bool = False,
        chunk_rows: int = CHUNK_ROWS,
        before_commit: Callable[[ChunkReport], None] | None = None,
    ) -> ChunkReport:
        """Process the next chunk: create its rows, and report which failed and which look
        like contacts already there (the create-time guard, as in a bulk create).
        `before_commit` gets the report while the chunk can still roll back, so a record of
        it kept elsewhere (the command line's report files) is never behind the database."""
        start = self.job["processed_rows"]
        chunk_size = len(self.rows[start : start + chunk_rows])
        prepared = await self._prepared(database, start, chunk_rows)
        try:
            async with database.write() as conn:
                scorer = helper.score if self.helped else duplicates.score_in_loop
                result = await bulk.create_prepared(
                    conn,
                    self.subject,
                    prepared,
                    self.settings,
                    scorer=scorer,
                    emails_taken=self.dry_run_emails,
                )
                report = ChunkReport(
                    errors=[
                        {"row": self.lines[e["index"]], "error": e["error"]} for e in result.errors
                    ],
                    flagged=[
                        {
                            "row": self.lines[done["index"]],
                            "id": done["id"],
                            "possible_duplicates": done["possible_duplicates"],
                        }
                        for done in result.data
                        if done.get("possible_duplicates")
                    ],
                )
                values = self._progress(start + chunk_size, len(result.data), report)
                if not dry_run:
                    await self._save(conn, start, values)
                if before_commit is not None:
                    before_commit(report)
                self.job.update(values)
                if dry_run:
                    self._remember_emails(prepared, result)
                    raise _DryRun
        except _DryRun:
            pass
        except BaseException:
            # A failed chunk ends this run (the job is retried from its saved progress): the
            # next chunk's preparation is not needed.
            if self._ahead is not None:
                self._ahead[1].cancel()
                self._ahead = None
            raise
        return report

    def _remember_emails(self, prepared: bulk.PreparedItems, result: bulk.BulkResult) -> None:
        created = {done["index"] for done in result.data}
        for index, row in prepared.rows:
            if index in created and row["email_key"]:
                self.dry_run_emails[row["email_key"]] = row["id"]

    def _progress(self, processed: int, created: int, report: ChunkReport) -> dict[str, Any]:
        now = utcnow()
        job = self.job
        values: dict[str, Any] = {
            "processed_rows": processed,
            "created_count": job["created_count"] + created,
            "failed_count": job["failed_count"] + len(report.errors),
            "row_errors": (job["row_errors"] + report.errors)[:ERRORS_KEPT],
            "flagged_count": job["flagged_count"] + len(report.flagged),
            "possible_duplicates": (job["possible_duplicates"] + report.flagged)[:ERRORS_KEPT],
            "attempts": 0,  # progress: the failures before it no longer count against the job
            "updated_at": now,
        }
        if processed >= len(self.rows):
            values |= {"status": "completed", "completed_at": now, "lease_until": None}
        return values

    async def _save(self, conn: AsyncConnection, start: int, values: dict[str, Any]) -> None:
        """Progress commits with the chunk's rows, only if nobody else moved the job on."""
        moved = await conn.execute(
            update(contact_imports)
            .where(
                in_tenant(contact_imports, self.tenant),
                contact_imports.c.id == self.job["id"],
                contact_imports.c.processed_rows == start,
                contact_imports.c.status == "pending",
            )
            .values(values)
        )
        if moved.rowcount != 1:
            raise Conflict("Another worker is running this import.")
        if values.get("status") == "completed":
            await events.record(conn, self.tenant, "import.completed", wire({**self.job, **values}))
