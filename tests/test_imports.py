"""CSV imports through the API: `POST /v1/contacts/imports` queues a job (`imp_…`), the worker
imports it in committed chunks, `GET /v1/contacts/imports/:id` shows progress, counts and row
errors, and `import.completed` announces the end.

The worker is driven here by hand (`ImportWorker.run_once`, `ImportRun.next_chunk`) on the
app's own event loop, so a "crash" between chunks is simply a runner that is thrown away.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.support import Api, execute, run_async, runtime_of
from vantage_contacts.auth.subject import SYSTEM, Tenant
from vantage_contacts.errors import Conflict
from vantage_contacts.imports import files, service
from vantage_contacts.imports.service import ImportRun
from vantage_contacts.imports.worker import MAX_ATTEMPTS, RETRY_AFTER, ImportWorker
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.models import contact_imports, contacts, events

IMPORTS = "/v1/contacts/imports"


# --- helpers ------------------------------------------------------------------------------------


def upload(api: Api, csv_text: str | bytes, **form: str) -> Any:
    content = csv_text.encode() if isinstance(csv_text, str) else csv_text
    return api.post(IMPORTS, files={"file": ("people.csv", content, "text/csv")}, data=form)


def queue(api: Api, csv_text: str, **form: str) -> dict[str, Any]:
    response = upload(api, csv_text, **form)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


def run_worker(http: TestClient) -> int:
    """Run every due import job to its end, as the background worker would."""
    runtime = runtime_of(http)
    worker = ImportWorker(runtime.database, runtime.settings)
    ran = 0
    while run_async(http, worker.run_once):
        ran += 1
    return ran


def job_of(api: Api, import_id: str) -> dict[str, Any]:
    response = api.get(f"{IMPORTS}/{import_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


def job_row(api: Api, import_id: str) -> dict[str, Any]:
    database = runtime_of(api.http).database

    async def _read() -> dict[str, Any]:
        query = select(contact_imports).where(
            contact_imports.c.workspace_id == api.workspace_id, contact_imports.c.id == import_id
        )
        async with database.read() as conn:
            return dict((await conn.execute(query)).mappings().one())

    row: dict[str, Any] = run_async(api.http, _read)
    return row


def contact_names(api: Api) -> list[str]:
    """Every contact the workspace's test mode holds, from the table (duplicates would show)."""
    database = runtime_of(api.http).database

    async def _read() -> list[str]:
        query = select(contacts.c.name).where(
            contacts.c.workspace_id == api.workspace_id,
            contacts.c.mode == "test",
            contacts.c.deleted_at.is_(None),
        )
        async with database.read() as conn:
            return sorted(row[0] for row in await conn.execute(query))

    names: list[str] = run_async(api.http, _read)
    return names


def completed_events(api: Api, import_id: str) -> list[dict[str, Any]]:
    database = runtime_of(api.http).database

    async def _read() -> list[dict[str, Any]]:
        query = select(events).where(
            events.c.workspace_id == api.workspace_id,
            events.c.type == "import.completed",
            events.c.object_id == import_id,
        )
        async with database.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    found: list[dict[str, Any]] = run_async(api.http, _read)
    return found


def count_jobs(api: Api) -> int:
    database = runtime_of(api.http).database

    async def _count() -> int:
        query = select(func.count()).where(contact_imports.c.workspace_id == api.workspace_id)
        async with database.read() as conn:
            return int(await conn.scalar(query.select_from(contact_imports)) or 0)

    found: int = run_async(api.http, _count)
    return found


def assert_refused_before_queueing(api: Api, response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert count_jobs(api) == 0


def people_csv(count: int, *, start: int = 0) -> str:
    lines = ["Full Name,E-mail,Job Title"]
    lines += [f"Person {i:05d},person{i}@example.com,Engineer" for i in range(start, start + count)]
    return "\n".join(lines) + "\n"


# --- a job from upload to completion ----------------------------------------------------------


def test_an_upload_is_queued_then_imported_by_the_worker(api: Api) -> None:
    client = api.make_client()
    queued = queue(api, people_csv(3), client_id=client["id"])
    assert queued["id"].startswith("imp_")
    assert queued["status"] == "pending"
    assert queued["filename"] == "people.csv"
    assert (queued["total_rows"], queued["processed_rows"], queued["created"]) == (3, 0, 0)
    assert queued["completed_at"] is None
    assert job_of(api, queued["id"]) == queued
    assert run_worker(api.http) >= 1
    done = job_of(api, queued["id"])
    assert done["status"] == "completed"
    assert (done["total_rows"], done["processed_rows"], done["created"], done["failed"]) == (
        3,
        3,
        3,
        0,
    )
    assert done["errors"] == []
    assert done["completed_at"] is not None
    listed = api.get("/v1/contacts", params={"per_page": 100}).json()["data"]
    assert sorted((c["name"], c["email"], c["title"]) for c in listed) == [
        (f"Person {i:05d}", f"person{i}@example.com", "Engineer") for i in range(3)
    ]
    assert {c["client_id"] for c in listed} == {client["id"]}


def test_a_completed_import_announces_itself_once(api: Api) -> None:
    client = api.make_client()
    job = queue(api, people_csv(2), client_id=client["id"])
    run_worker(api.http)
    [event] = completed_events(api, job["id"])
    assert event["data"] == job_of(api, job["id"])
    listed = api.get("/v1/events", params={"type": "import.completed"})
    assert listed.status_code == 200, listed.text
    assert [e["data"]["id"] for e in listed.json()["data"]] == [job["id"]]
    run_worker(api.http)  # nothing left to do: no second event
    assert len(completed_events(api, job["id"])) == 1


def test_failing_rows_are_listed_with_their_line_numbers(api: Api) -> None:
    client = api.make_client()
    api.make_contact(client["id"], email="taken@example.com")
    csv_text = (
        "Name,Email,Phone\n"  # line 1
        "Good One,one@example.com,\n"  # line 2
        "Bad Phone,,not a phone\n"  # line 3
        ",nameless@example.com,\n"  # line 4: no name
        "Twice,one@example.com,\n"  # line 5: email of line 2
        "Taken,TAKEN@example.com,\n"  # line 6: email of an existing contact
        "Good Two,two@example.com,+44 20 7946 0958\n"  # line 7
    )
    job = queue(api, csv_text, client_id=client["id"])
    run_worker(api.http)
    done = job_of(api, job["id"])
    assert (done["created"], done["failed"], done["processed_rows"]) == (2, 4, 6)
    by_row = {error["row"]: error["error"] for error in done["errors"]}
    assert sorted(by_row) == [3, 4, 5, 6]
    assert by_row[3]["field"] == "phone"
    assert by_row[4]["field"] == "name"
    assert by_row[5]["code"] == "conflict"
    assert by_row[6]["code"] == "conflict"
    assert "Good One" in contact_names(api)
    assert "Good Two" in contact_names(api)


def test_created_rows_that_look_like_existing_contacts_are_flagged(api: Api) -> None:
    client = api.make_client()
    existing = api.make_contact(client["id"], name="Robert Smith", phone="+1 415 555 0199")
    csv_text = (
        "Name,Email,Phone\n"  # line 1
        "Ada Lovelace,ada@example.com,\n"  # line 2: nobody like her
        "Bob Smith,bob.smith@elsewhere.com,(415) 555-0199\n"  # line 3: the same person
    )
    job = queue(api, csv_text, client_id=client["id"])
    run_worker(api.http)
    done = job_of(api, job["id"])
    assert (done["created"], done["failed"], done["flagged"]) == (2, 0, 1)
    [flagged] = done["possible_duplicates"]
    assert flagged["row"] == 3
    bob = next(c for c in api.get("/v1/contacts").json()["data"] if c["name"] == "Bob Smith")
    assert flagged["id"] == bob["id"]
    [match] = flagged["possible_duplicates"]
    assert match["id"] == existing["id"]
    assert match["confidence"] >= 0.5
    assert match["match_reason"] == "same_phone"


def test_line_numbers_count_blank_lines_and_multiline_cells(api: Api) -> None:
    client = api.make_client()
    csv_text = (
        "Name,Notes,Phone\n"  # line 1
        "\n"  # line 2: blank
        'First,"two\nlines",\n'  # lines 3-4
        "Bad,,not a phone\n"  # line 5
    )
    job = queue(api, csv_text, client_id=client["id"])
    assert job["total_rows"] == 2
    run_worker(api.http)
    [error] = job_of(api, job["id"])["errors"]
    assert error["row"] == 5


def test_progress_is_visible_between_chunks(api: Api) -> None:
    client = api.make_client()
    job = queue(api, people_csv(25), client_id=client["id"])
    run = ImportRun(job_row(api, job["id"]), runtime_of(api.http).settings)
    database = runtime_of(api.http).database
    run_async(api.http, lambda: run.next_chunk(database, chunk_rows=10))
    midway = job_of(api, job["id"])
    assert midway["status"] == "processing"
    assert (midway["processed_rows"], midway["created"], midway["total_rows"]) == (10, 10, 25)
    assert completed_events(api, job["id"]) == []
    while not run.done:
        run_async(api.http, lambda: run.next_chunk(database, chunk_rows=10))
    assert job_of(api, job["id"])["status"] == "completed"


# --- mapping columns to fields ------------------------------------------------------------------


def test_a_mapping_names_the_columns_and_skips_others(api: Api) -> None:
    client = api.make_client()
    csv_text = "Nom,Courriel,Poste,Secret\nAda,ada@example.com,CTO,do not import\n"
    mapping = {"Nom": "name", "Courriel": "email", "Poste": "title", "Secret": ""}
    job = queue(api, csv_text, client_id=client["id"], mapping=json.dumps(mapping))
    run_worker(api.http)
    assert job_of(api, job["id"])["created"] == 1
    [contact] = api.get("/v1/contacts").json()["data"]
    assert (contact["name"], contact["email"], contact["title"], contact["notes"]) == (
        "Ada",
        "ada@example.com",
        "CTO",
        None,
    )


def test_boolean_and_role_columns_are_read(api: Api) -> None:
    client = api.make_client()
    csv_text = (
        "Name,Primary,Billing,Technical,Portal,Email\n"
        "Ada,yes,TRUE,0,view,ada@example.com\n"
        "Bob,no,n,x,none,\n"
        "Cy,maybe,,,,\n"
    )
    job = queue(api, csv_text, client_id=client["id"])
    run_worker(api.http)
    done = job_of(api, job["id"])
    assert (done["created"], done["failed"]) == (2, 1)
    assert done["errors"][0]["row"] == 4
    assert done["errors"][0]["error"]["field"] == "is_primary"
    found = {c["name"]: c for c in api.get("/v1/contacts").json()["data"]}
    assert found["Ada"]["roles"] == {"is_primary": True, "is_billing": True, "is_technical": False}
    assert found["Ada"]["portal"]["access_level"] == "view"
    assert found["Bob"]["roles"] == {"is_primary": False, "is_billing": False, "is_technical": True}


def test_client_column_matches_ids_names_and_slugs(api: Api, other_api: Api) -> None:
    by_id = api.make_client(name="Alpha Industries")
    by_name = api.make_client(name="Beta Corp")
    by_slug = api.make_client(name="Gamma Holdings", email_slug="gamma")
    foreign = other_api.make_client(name="Delta Ltd")
    csv_text = (
        "Name,Company\n"
        f"A,{by_id['id']}\n"
        "B,  beta CORP \n"
        "C,gamma\n"
        f"D,{foreign['id']}\n"
        "E,Delta Ltd\n"
        "F,\n"
    )
    job = queue(api, csv_text, client_column="Company")
    run_worker(api.http)
    done = job_of(api, job["id"])
    assert (done["created"], done["failed"]) == (3, 3)
    assert {e["row"]: e["error"]["code"] for e in done["errors"]} == {
        5: "not_found",
        6: "not_found",
        7: "validation_error",
    }
    clients_of = {c["name"]: c["client_id"] for c in api.get("/v1/contacts").json()["data"]}
    assert clients_of == {"A": by_id["id"], "B": by_name["id"], "C": by_slug["id"]}
    assert other_api.get("/v1/contacts").json()["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("csv_text", "form", "field"),
    [
        ("Name\nAda\n", {"mapping": "{not json"}, "mapping"),
        ("Name\nAda\n", {"mapping": '["Name", "name"]'}, "mapping"),
        ("Name\nAda\n", {"mapping": '{"Name": 1}'}, "mapping"),
        ("Name\nAda\n", {"mapping": '{"Name": "nickname"}'}, "file"),
        ("Name\nAda\n", {"mapping": '{"Nombre": "name"}'}, "file"),
        ("Email\nada@example.com\n", {}, "file"),
        ("Name,Email\nAda,a@example.com\n", {"mapping": '{"Name": ""}'}, "file"),
        ("", {}, "file"),
        ("Name\nAda\n", {"client_column": "Company"}, "file"),
        ('Name,Notes\nAda,"unclosed\nBob,b\nCy,c\n', {}, "file"),
        ('Name,Notes\nAda,"quoted"then text\n', {}, "file"),
        ("Name,Notes\nAda,a\x00b\n", {}, "file"),
        ("Name,Notes\nAda," + "x" * 200_000 + "\n", {}, "file"),
        ("Name,Email,E-mail\nAda,a@example.com,b@example.com\n", {}, "file"),
        ("Name,Note,Note\nAda,a,b\n", {"mapping": '{"Note": "notes"}'}, "file"),
    ],
    ids=[
        "mapping-not-json",
        "mapping-not-object",
        "mapping-value-not-text",
        "mapping-unknown-field",
        "mapping-unknown-column",
        "no-name-column",
        "name-column-skipped",
        "empty-file",
        "unknown-client-column",
        "unclosed-quote",
        "text-after-closing-quote",
        "nul-character",
        "cell-beyond-the-csv-field-limit",
        "two-columns-for-one-field",
        "mapping-names-a-repeated-column",
    ],
)
def test_an_unusable_file_or_mapping_is_refused_before_queueing(
    api: Api, csv_text: str, form: dict[str, str], field: str
) -> None:
    client = api.make_client()
    if "client_column" not in form:
        form = {**form, "client_id": client["id"]}
    response = upload(api, csv_text, **form)
    assert_refused_before_queueing(api, response, field)


def test_an_unclosed_quote_is_refused_with_the_line_it_runs_to(api: Api) -> None:
    client = api.make_client()
    response = upload(api, 'Name,Notes\nAda,"unclosed\nBob,b\nCy,c\n', client_id=client["id"])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["errors"][0]["code"] == "invalid_csv"
    assert "line 4" in error["message"]


def test_nul_characters_in_form_fields_are_refused(api: Api) -> None:
    client = api.make_client()
    for form in ({"client_id": client["id"] + "\x00"}, {"client_column": "Company\x00"}):
        response = upload(api, "Name,Company\nAda,Acme\n", **form)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == next(iter(form))
    assert count_jobs(api) == 0


def test_the_uploads_name_is_kept_printable_and_short(api: Api) -> None:
    client = api.make_client()
    # Built by hand: an HTTP client would escape the control characters in the name.
    name = b"a\x00b\x07" + b"c" * 400 + b".csv"
    body = b"\r\n".join(
        [
            b"--cut",
            b'Content-Disposition: form-data; name="client_id"',
            b"",
            client["id"].encode(),
            b"--cut",
            b'Content-Disposition: form-data; name="file"; filename="' + name + b'"',
            b"Content-Type: text/csv",
            b"",
            b"Name\nAda\n",
            b"--cut--",
            b"",
        ]
    )
    headers = {"Content-Type": "multipart/form-data; boundary=cut"}
    response = api.post(IMPORTS, content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["data"]["filename"] == ("ab" + "c" * 400)[:300]


def test_client_id_and_client_column_together_are_refused(api: Api) -> None:
    client = api.make_client(name="Acme")
    response = upload(
        api, "Name,Company\nAda,Acme\n", client_id=client["id"], client_column="Company"
    )
    assert_refused_before_queueing(api, response, "client_column")


def test_repeated_columns_that_no_field_reads_are_allowed(api: Api) -> None:
    client = api.make_client()
    job = queue(api, "Name,Address,Address\nAda,1 Road,2 Lane\n", client_id=client["id"])
    assert job["ignored_columns"] == ["Address", "Address"]
    run_worker(api.http)
    assert contact_names(api) == ["Ada"]


def test_columns_no_field_reads_are_named_on_the_job(api: Api) -> None:
    client = api.make_client()
    job = queue(
        api, "Name,Emial,Notes,,Shoe size\nAda,a@example.com,n,,9\n", client_id=client["id"]
    )
    assert job["ignored_columns"] == ["Emial", "Shoe size"]
    run_worker(api.http)
    assert job_of(api, job["id"])["ignored_columns"] == ["Emial", "Shoe size"]


def test_an_import_needs_to_know_the_client(api: Api) -> None:
    response = upload(api, "Name\nAda\n")
    assert_refused_before_queueing(api, response, "client_id")


@pytest.mark.parametrize("tenant", ["other_workspace", "live_mode", "missing"])
def test_a_client_id_of_another_tenant_is_not_found(api: Api, other_api: Api, tenant: str) -> None:
    client_id = {
        "other_workspace": lambda: other_api.make_client()["id"],
        "live_mode": lambda: api.live.make_client()["id"],
        "missing": lambda: "cli_missing",
    }[tenant]()
    response = upload(api, "Name\nAda\n", client_id=client_id)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["resource"] == "client"
    assert count_jobs(api) == 0


def test_a_file_that_is_not_utf8_is_refused(api: Api) -> None:
    client = api.make_client()
    response = upload(api, "Name\nJosé\n".encode("latin-1"), client_id=client["id"])
    assert_refused_before_queueing(api, response, "file")


def test_a_utf8_file_with_a_byte_order_mark_is_read(api: Api) -> None:
    client = api.make_client()
    job = queue(api, "\ufeffName,Email\nJosé Ñúñez,jose@example.com\n", client_id=client["id"])
    run_worker(api.http)
    assert job_of(api, job["id"])["created"] == 1
    assert contact_names(api) == ["José Ñúñez"]


def test_an_upload_larger_than_the_json_body_cap_is_accepted(api: Api) -> None:
    client = api.make_client()
    padding = "x" * 20_000
    rows = [f"Person {i},{padding}" for i in range(60)]
    csv_text = "Name,Ignored\n" + "\n".join(rows) + "\n"
    assert len(csv_text) > runtime_of(api.http).settings.max_body_bytes
    job = queue(api, csv_text, client_id=client["id"], mapping='{"Ignored": ""}')
    assert job["total_rows"] == 60
    run_worker(api.http)
    assert job_of(api, job["id"])["created"] == 60
    # The usual cap still holds for JSON bodies.
    big = api.post(
        "/v1/contacts", json={"client_id": client["id"], "name": "N", "notes": padding * 60}
    )
    assert big.status_code == 413


def test_another_workspace_cannot_read_an_import(api: Api, other_api: Api) -> None:
    client = api.make_client()
    job = queue(api, people_csv(1), client_id=client["id"])
    for stranger in (other_api, api.live):
        response = stranger.get(f"{IMPORTS}/{job['id']}")
        assert response.status_code == 404
        assert response.json()["error"]["resource"] == "import"
    run_worker(api.http)


# --- crashes and competing runners ------------------------------------------------------------


def test_an_import_resumed_after_a_crash_creates_every_row_once(api: Api) -> None:
    client = api.make_client()
    job = queue(api, people_csv(25), client_id=client["id"])
    settings = runtime_of(api.http).settings
    database = runtime_of(api.http).database
    first = ImportRun(job_row(api, job["id"]), settings)
    run_async(api.http, lambda: first.next_chunk(database, chunk_rows=10))
    # The process dies here; its committed chunk stays.
    assert job_row(api, job["id"])["processed_rows"] == 10
    resumed = ImportRun(job_row(api, job["id"]), settings)
    while not resumed.done:
        run_async(api.http, lambda: resumed.next_chunk(database, chunk_rows=10))
    assert contact_names(api) == [f"Person {i:05d}" for i in range(25)]
    done = job_of(api, job["id"])
    assert (done["status"], done["created"], done["processed_rows"]) == ("completed", 25, 25)
    assert len(completed_events(api, job["id"])) == 1


def test_two_runners_on_one_job_never_create_a_row_twice(api: Api) -> None:
    client = api.make_client()
    job = queue(api, people_csv(20), client_id=client["id"])
    settings = runtime_of(api.http).settings
    database = runtime_of(api.http).database
    row = job_row(api, job["id"])
    one, two = ImportRun(row, settings), ImportRun(row, settings)
    run_async(api.http, lambda: one.next_chunk(database, chunk_rows=10))
    # The second runner read the job before the first moved it on: its chunk is refused and
    # rolled back, rows included.
    with pytest.raises(Conflict):
        run_async(api.http, lambda: two.next_chunk(database, chunk_rows=10))
    assert contact_names(api) == [f"Person {i:05d}" for i in range(10)]
    while not one.done:
        run_async(api.http, lambda: one.next_chunk(database, chunk_rows=10))
    with pytest.raises(Conflict):
        run_async(api.http, lambda: two.next_chunk(database, chunk_rows=10))
    assert contact_names(api) == [f"Person {i:05d}" for i in range(20)]
    assert job_of(api, job["id"])["created"] == 20
    assert len(completed_events(api, job["id"])) == 1


def test_the_worker_finishes_a_job_a_dead_worker_left_halfway(api: Api) -> None:
    client = api.make_client()
    job = queue(api, people_csv(30), client_id=client["id"])
    settings = runtime_of(api.http).settings
    database = runtime_of(api.http).database
    crashed = ImportRun(job_row(api, job["id"]), settings)
    for _ in range(2):
        run_async(api.http, lambda: crashed.next_chunk(database, chunk_rows=7))
    run_worker(api.http)
    done = job_of(api, job["id"])
    assert (done["status"], done["created"], done["processed_rows"]) == ("completed", 30, 30)
    assert contact_names(api) == [f"Person {i:05d}" for i in range(30)]


def _import_by_chunks(api: Api, csv_text: str) -> dict[str, Any]:
    client = api.make_client()
    job = queue(api, csv_text, client_id=client["id"])
    run = ImportRun(job_row(api, job["id"]), runtime_of(api.http).settings)
    database = runtime_of(api.http).database
    while not run.done:
        run_async(api.http, lambda: run.next_chunk(database, chunk_rows=10))
    return job_of(api, job["id"])


def test_rows_prepared_in_the_helper_process_import_as_in_this_one(
    api: Api, other_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large files are checked and normalised in a helper process: the outcome, row errors and
    possible duplicates included, is the one of preparing them in the importing process."""
    firsts = [
        "Alice",
        "Brian",
        "Chloe",
        "Dmitri",
        "Elena",
        "Farid",
        "Greta",
        "Hiro",
        "Ingrid",
        "Jamal",
        "Kenji",
        "Lucia",
        "Mateo",
        "Nadia",
        "Oskar",
        "Priya",
        "Quentin",
        "Rosa",
        "Sven",
        "Tamsin",
        "Umar",
        "Vera",
        "Wendell",
        "Xenia",
        "Yusuf",
        "Zara",
        "Anders",
        "Bianca",
        "Cyrus",
        "Delphine",
        "Emeka",
        "Fiona",
        "Gustavo",
        "Helga",
        "Ivo",
        "Jolene",
        "Kwame",
        "Leilani",
        "Magnus",
        "Noor",
    ]
    lasts = [
        "Abernathy",
        "Brightwater",
        "Castellano",
        "Dubrovsky",
        "Eriksen",
        "Fontaine",
        "Gallagher",
        "Hoshino",
        "Ivanova",
        "Jablonski",
        "Kowalczyk",
        "Lindqvist",
        "Montenegro",
        "Nakamura",
        "Okonkwo",
        "Pemberton",
        "Quintero",
        "Rasmussen",
        "Sorensen",
        "Thibodeaux",
        "Underwood",
        "Valderrama",
        "Whitcombe",
        "Xiong",
        "Yamamoto",
        "Zielinski",
        "Achebe",
        "Bergstrom",
        "Carvalho",
        "Dunleavy",
        "Esposito",
        "Fairweather",
        "Grimaldi",
        "Hargreaves",
        "Iglesias",
        "Jorgensen",
        "Kaminski",
        "Lachance",
        "Mbeki",
        "Nightingale",
    ]
    lines = ["Full Name,E-mail,Phone,Job Title"]
    for i, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        email = "not-an-email" if i in (3, 27) else f"{first.lower()}{i}@example.com"
        lines.append(f"{first} {last},{email},,Engineer")
    lines[10] = "Robert Johnson,rj@example.com,+1 415 555 0100,CTO"
    lines[13] = "Bob Johnson,bob.johnson@example.com,(415) 555-0100,CTO"  # the next chunk
    lines[30] = "Brian Brightwater,brian1@example.com,,Engineer"  # an email already imported
    csv_text = "\n".join(lines) + "\n"

    def outcome(job: dict[str, Any]) -> tuple[Any, ...]:
        flagged = [
            (f["row"], [d["match_reason"] for d in f["possible_duplicates"]])
            for f in job["possible_duplicates"]
        ]
        errors = [(e["row"], e["error"]["code"]) for e in job["errors"]]
        return job["status"], job["created"], job["failed"], errors, flagged

    monkeypatch.setattr(service, "HELPER_FROM_ROWS", 10**9)
    here = outcome(_import_by_chunks(api, csv_text))
    monkeypatch.setattr(service, "HELPER_FROM_ROWS", 20)
    helped = outcome(_import_by_chunks(other_api, csv_text))
    assert helped == here
    status, created, failed, errors, flagged = here
    assert (status, created, failed) == ("completed", 37, 3)
    assert [row for row, _ in errors] == [5, 29, 31]
    assert [row for row, _ in flagged] == [14]


# --- jobs the command line runs -----------------------------------------------------------------


def _command_line_job(api: Api, csv_text: str, options: service.ImportOptions) -> dict[str, Any]:
    """A job as `vantage-contacts import` saves it: not queued for the worker."""
    database = runtime_of(api.http).database
    tenant = Tenant(api.workspace_id, "test")

    async def _create() -> dict[str, Any]:
        async with database.write() as conn:
            return await service.create_job(
                conn, tenant, SYSTEM, csv_text, "people.csv", options, queued=False
            )

    job: dict[str, Any] = run_async(api.http, _create)
    return job


def _unfinished(api: Api, csv_text: str, options: service.ImportOptions) -> Any:
    database = runtime_of(api.http).database
    tenant = Tenant(api.workspace_id, "test")

    async def _find() -> Any:
        async with database.read() as conn:
            found = await service.unfinished_for_file(
                conn, tenant, service.file_hash(csv_text), options
            )
            return None if found is None else found["id"]

    return run_async(api.http, _find)


def test_the_worker_leaves_a_command_line_job_to_its_command(api: Api) -> None:
    client = api.make_client()
    job = _command_line_job(api, people_csv(5), service.ImportOptions(client_id=client["id"]))
    run_worker(api.http)
    assert job_row(api, job["id"])["processed_rows"] == 0
    assert contact_names(api) == []


def test_the_command_line_resumes_only_its_own_job_with_the_same_options(api: Api) -> None:
    first, second = api.make_client(), api.make_client()
    csv_text = people_csv(5)
    mine = service.ImportOptions(client_id=first["id"])
    worker_job = queue(api, csv_text, client_id=first["id"])  # the worker's, for the same file
    assert _unfinished(api, csv_text, mine) is None
    job = _command_line_job(api, csv_text, mine)
    assert _unfinished(api, csv_text, mine) == job["id"]
    for other in (
        service.ImportOptions(client_id=second["id"]),
        service.ImportOptions(client_id=first["id"], mapping={"Job Title": ""}),
    ):
        assert _unfinished(api, csv_text, other) is None
    assert _unfinished(api, people_csv(6), mine) is None
    run_worker(api.http)
    assert job_of(api, worker_job["id"])["status"] == "completed"
    assert job_of(api, job["id"])["status"] == "pending"


def test_a_dry_run_sees_emails_its_earlier_chunks_would_have_taken(api: Api) -> None:
    client = api.make_client()
    csv_text = people_csv(5) + "Again,person1@example.com,Engineer\n"
    job = _command_line_job(api, csv_text, service.ImportOptions(client_id=client["id"]))
    settings = runtime_of(api.http).settings
    database = runtime_of(api.http).database
    run = ImportRun(job, settings)
    reports = []
    while not run.done:
        reports.append(
            run_async(api.http, lambda: run.next_chunk(database, dry_run=True, chunk_rows=2))
        )
    errors = [error for report in reports for error in report.errors]
    assert [(e["row"], e["error"]["code"]) for e in errors] == [(7, "conflict")]
    assert (run.job["created_count"], run.job["failed_count"]) == (5, 1)
    assert contact_names(api) == []


# --- a job that cannot succeed ------------------------------------------------------------------


def test_a_job_that_keeps_failing_is_retried_then_given_up(api: Api) -> None:
    run_worker(api.http)  # the worker claims any workspace's due job: none but this one
    client = api.make_client()
    job = queue(api, people_csv(3), client_id=client["id"])
    # Made unusable after it was queued (a column its mapping names is not in the file), so
    # every run fails when it reads the job.
    execute(
        api,
        update(contact_imports)
        .where(contact_imports.c.id == job["id"])
        .values(options={**job_row(api, job["id"])["options"], "mapping": {"Missing": "name"}}),
    )
    runtime = runtime_of(api.http)
    now = [utcnow()]
    worker = ImportWorker(runtime.database, runtime.settings, clock=lambda: now[0])
    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        assert run_async(api.http, worker.run_once) == 1
        row = job_row(api, job["id"])
        assert (row["status"], row["attempts"], row["lease_until"]) == ("pending", attempt, None)
        assert run_async(api.http, worker.run_once) == 0  # not due yet
        waits.append(row["next_attempt_at"] - now[0])
        now[0] = row["next_attempt_at"]
    assert waits == [RETRY_AFTER * attempt for attempt in range(1, MAX_ATTEMPTS)]
    assert run_async(api.http, worker.run_once) == 1
    done = job_of(api, job["id"])
    assert done["status"] == "failed"
    assert f"after {MAX_ATTEMPTS} runs in a row that made no progress" in done["failure"]
    assert "MappingError" in done["failure"]
    assert done["completed_at"] is not None
    [event] = completed_events(api, job["id"])
    assert event["data"]["status"] == "failed"
    assert run_async(api.http, worker.run_once) == 0
    assert contact_names(api) == []


def _set_attempts(api: Api, import_id: str, attempts: int) -> None:
    execute(
        api,
        update(contact_imports).where(contact_imports.c.id == import_id).values(attempts=attempts),
    )


def test_a_job_whose_runs_keep_dying_is_given_up(api: Api) -> None:
    """A run killed with its process never reaches its error handler: runs are counted as
    they start, so the next claim after too many ends the job."""
    run_worker(api.http)
    client = api.make_client()
    job = queue(api, people_csv(3), client_id=client["id"])
    _set_attempts(api, job["id"], MAX_ATTEMPTS)  # five runs started, none finished
    assert run_worker(api.http) == 1
    done = job_of(api, job["id"])
    assert done["status"] == "failed"
    assert f"after {MAX_ATTEMPTS} runs in a row" in done["failure"]
    assert "last error" not in done["failure"]
    assert [e["data"]["status"] for e in completed_events(api, job["id"])] == ["failed"]
    assert contact_names(api) == []


def test_progress_clears_the_failures_before_it(api: Api) -> None:
    run_worker(api.http)
    client = api.make_client()
    job = queue(api, people_csv(3), client_id=client["id"])
    _set_attempts(api, job["id"], MAX_ATTEMPTS - 1)  # one run left before giving up
    assert run_worker(api.http) == 1
    assert job_of(api, job["id"])["status"] == "completed"
    assert job_row(api, job["id"])["attempts"] == 0
    assert len(contact_names(api)) == 3


def test_a_resumed_command_line_import_reports_each_failing_row_once(
    api: Api, tmp_path: Path
) -> None:
    """Report lines are written before their chunk commits; a resumed run keeps those of the
    committed rows and drops those of a chunk that never committed (it runs again)."""
    client = api.make_client()
    csv_text = "Name,Phone\n" + "".join(f"P{i},{'nope' if i % 2 else ''}\n" for i in range(6))
    source = tmp_path / "people.csv"
    source.write_text(csv_text, encoding="utf-8")
    options = service.ImportOptions(client_id=client["id"])
    runtime = runtime_of(api.http)
    first = ImportRun(_command_line_job(api, csv_text, options), runtime.settings)
    errors_path, duplicates_path = tmp_path / "errors.csv", tmp_path / "dups.csv"

    async def _first_chunk_then_a_chunk_that_never_commits() -> None:
        # The killed run: rows 1-2 (lines 2-3) committed, their report written; the report of
        # rows 3-4 (lines 4-5) written, then the process died before that chunk committed.
        with errors_path.open("w", newline="", encoding="utf-8") as out:
            out.write("row,code,field,message,detail\n3,validation_error,phone,bad,{}\n")
            out.write("5,validation_error,phone,bad,{}\n")
        await first.next_chunk(runtime.database, chunk_rows=2)

    run_async(api.http, _first_chunk_then_a_chunk_that_never_commits)

    async def _resume() -> files.ImportSummary:
        return await files.import_file(
            runtime.database,
            runtime.settings,
            Tenant(api.workspace_id, "test"),
            source,
            options,
            dry_run=False,
            errors_path=errors_path,
            duplicates_path=duplicates_path,
            progress=lambda done, total: None,
        )

    summary: files.ImportSummary = run_async(api.http, _resume)
    assert (summary.resumed_at, summary.created, summary.failed) == (2, 3, 3)
    with errors_path.open(newline="", encoding="utf-8") as report:
        assert [row["row"] for row in csv.DictReader(report)] == ["3", "5", "7"]
