"""CSV files on the operator's machine: import one (resumable) and export contacts to one."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from vantage_contacts.auth.subject import SYSTEM, Mode, Tenant
from vantage_contacts.config import Settings
from vantage_contacts.contacts.schemas import to_wire
from vantage_contacts.db import Database
from vantage_contacts.imports import service
from vantage_contacts.imports.csvmap import FIELDS, formula_safe
from vantage_contacts.kit.scoping import in_tenant
from vantage_contacts.models import contacts, workspaces

Progress = Callable[[int, int], None]  # (rows done, rows in all)
EXPORT_COLUMNS = ("id", *FIELDS, "created_at", "updated_at")
EXPORT_PAGE = 1000


class WorkspaceMissing(LookupError):
    pass


async def tenant_named(database: Database, workspace: str, mode: Mode) -> Tenant:
    async with database.read() as conn:
        found = await conn.scalar(select(workspaces.c.id).where(workspaces.c.name == workspace))
    if found is None:
        raise WorkspaceMissing(workspace)
    return Tenant(str(found), mode)


@dataclass
class ImportSummary:
    job_id: str
    ignored_columns: list[str]
    resumed_at: int
    total: int
    created: int
    failed: int
    flagged: int


ERROR_COLUMNS = ("row", "code", "field", "message", "detail")
DUPLICATE_COLUMNS = ("row", "id", "possible_duplicate_id", "confidence", "match_reason")


@contextmanager
def _report(
    path: Path, header: tuple[str, ...], resume_line: int | None
) -> Iterator[Callable[[Iterable[list[Any]]], None]]:
    """A CSV report. A resumed import keeps the lines its earlier runs wrote for rows before
    `resume_line` (the first row not committed) and adds to them: lines written for a chunk
    that then failed to commit are dropped, since the chunk runs again."""
    kept: list[list[str]] = []
    if resume_line is not None and path.exists():
        with path.open(newline="", encoding="utf-8") as earlier:
            kept = [line for line in csv.reader(earlier) if line and _before(line, resume_line)]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(kept)

        def write(lines: Iterable[list[Any]]) -> None:
            """Written and flushed, so they are on disk before the chunk commits."""
            writer.writerows(lines)
            out.flush()

        yield write


def _before(line: list[str], resume_line: int) -> bool:
    return line[0].isdigit() and int(line[0]) < resume_line


def _error_lines(report: service.ChunkReport) -> Iterator[list[Any]]:
    for error in report.errors:
        detail = error["error"]
        yield [
            error["row"],
            detail["code"],
            detail.get("field") or "",
            detail["message"],
            orjson.dumps(detail).decode(),
        ]


def _duplicate_lines(report: service.ChunkReport) -> Iterator[list[Any]]:
    for flagged in report.flagged:
        for match in flagged["possible_duplicates"]:
            yield [
                flagged["row"],
                flagged["id"],
                match["id"],
                match["confidence"],
                match["match_reason"],
            ]


async def import_file(
    database: Database,
    settings: Settings,
    tenant: Tenant,
    path: Path,
    options: service.ImportOptions,
    *,
    dry_run: bool,
    errors_path: Path,
    duplicates_path: Path,
    progress: Progress,
) -> ImportSummary:
    """Import `path` in committed chunks. Run again after a crash, it resumes after the last
    committed row (the same file is recognised by its hash). Every failing row is written to
    `errors_path` with its line number, and every created row that looks like a contact already
    there to `duplicates_path`, one line per likely duplicate."""
    text = service.decode(await asyncio.to_thread(path.read_bytes))
    async with database.write() as conn:
        found = await service.unfinished_for_file(conn, tenant, service.file_hash(text), options)
        # Not queued: the worker must leave this job to this process.
        if dry_run:  # nothing is written on a dry run, the job row included
            job = await service.build_job(
                conn, tenant, SYSTEM, text, path.name, options, queued=False
            )
        elif found is not None:
            job = dict(found)
        else:
            job = await service.create_job(
                conn, tenant, SYSTEM, text, path.name, options, queued=False
            )
    run = service.ImportRun(job, settings)
    resumed_at = run.job["processed_rows"]
    resume_line = run.lines[resumed_at] if 0 < resumed_at < len(run.lines) else None
    with (
        _report(errors_path, ERROR_COLUMNS, resume_line) as errors,
        _report(duplicates_path, DUPLICATE_COLUMNS, resume_line) as duplicates,
    ):

        def write_reports(report: service.ChunkReport) -> None:
            errors(_error_lines(report))
            duplicates(_duplicate_lines(report))

        progress(resumed_at, len(run.rows))
        while not run.done:
            await run.next_chunk(database, dry_run=dry_run, before_commit=write_reports)
            progress(run.job["processed_rows"], len(run.rows))
    return ImportSummary(
        job_id=job["id"],
        ignored_columns=job["options"].get("ignored_columns", []),
        resumed_at=resumed_at,
        total=len(run.rows),
        created=run.job["created_count"],
        failed=run.job["failed_count"],
        flagged=run.job["flagged_count"],
    )


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return formula_safe(value)
    return "" if value is None else value


def _flat(contact: dict[str, Any]) -> list[Any]:
    wire = to_wire(contact)
    values = {
        "id": wire["id"],
        **{field: contact[field] for field in FIELDS},
        "created_at": wire["created_at"],
        "updated_at": wire["updated_at"],
    }
    return [_cell(values[column]) for column in EXPORT_COLUMNS]


async def _page(
    conn: AsyncConnection, tenant: Tenant, client_id: str | None, after: tuple[Any, str] | None
) -> list[dict[str, Any]]:
    """The next page in (created_at, id) order: keyset pagination stays fast at any depth."""
    query = select(contacts).where(in_tenant(contacts, tenant), contacts.c.deleted_at.is_(None))
    if client_id is not None:
        query = query.where(contacts.c.client_id == client_id)
    if after is not None:
        created_at, last_id = after
        query = query.where(
            or_(
                contacts.c.created_at > created_at,
                (contacts.c.created_at == created_at) & (contacts.c.id > last_id),
            )
        )
    query = query.order_by(contacts.c.created_at, contacts.c.id).limit(EXPORT_PAGE)
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def export_file(
    database: Database, tenant: Tenant, path: Path, client_id: str | None, progress: Progress
) -> int:
    """Write every live contact (of one client, if given) as flat CSV columns; how many."""
    async with database.read() as conn:
        count_query = select(func.count()).where(
            in_tenant(contacts, tenant), contacts.c.deleted_at.is_(None)
        )
        if client_id is not None:
            count_query = count_query.where(contacts.c.client_id == client_id)
        total = int(await conn.scalar(count_query) or 0)
    written = 0
    progress(0, total)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        after: tuple[Any, str] | None = None
        while True:
            async with database.read() as conn:
                rows = await _page(conn, tenant, client_id, after)
            if not rows:
                break
            writer.writerows(_flat(row) for row in rows)
            written += len(rows)
            after = (rows[-1]["created_at"], rows[-1]["id"])
            progress(written, max(total, written))
    return written
