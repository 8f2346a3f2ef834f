"""The `vantage-contacts` command, run for real in subprocesses against a temporary SQLite file."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from tests.processes import CLI, base_env, free_port, running
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings
from vantage_contacts.migrate import alembic_config

COMMAND_TIMEOUT = 120  # seconds for one short command (migrate, keys ...)
SECRET = re.compile(r"^vnt_sk_(live|test)_[A-Za-z0-9_-]{32,}$")
KEY_ID = re.compile(r"\bkey_[a-z0-9]+\b")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(autouse=True)
def _sqlite_only(backend: str) -> None:
    # These tests bring their own SQLite file; the PostgreSQL run would repeat them verbatim.
    if backend != "sqlite":
        pytest.skip("the command is tested on its own SQLite file; run once")


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def env(database_file: Path, tmp_path: Path) -> dict[str, str]:
    return base_env(
        VANTAGE_DATABASE_URL=f"sqlite:///{database_file}",
        VANTAGE_MAIL_DIR=str(tmp_path / "mail"),
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


def create_key(env: dict[str, str], *args: str) -> tuple[str, str]:
    """(key id, secret) of a key made by `keys create`."""
    result = cli(env, "keys", "create", *args)
    secret = result.stdout.strip().splitlines()[-1]
    key_id = KEY_ID.search(result.stdout + result.stderr)
    assert key_id is not None, result.stderr
    return key_id.group(0), secret


@pytest.fixture
def app(database_file: Path, env: dict[str, str], tmp_path: Path) -> Iterator[TestClient]:
    """The API on the same database file the commands write to."""
    cli(env, "migrate")
    settings = Settings(
        database_url=f"sqlite:///{database_file}",
        mail_dir=tmp_path / "mail",
        log_level="WARNING",
        run_worker=False,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def key_row(listing: str, key_id: str) -> list[str]:
    """The cells of `key_id`'s row in `keys list` (tab-separated when piped)."""
    for line in listing.splitlines():
        if key_id in line:
            return line.split("\t")
    raise AssertionError(f"{key_id} not listed:\n{listing}")


def test_keys_create_prints_the_secret_alone_on_the_last_line(env: dict[str, str]) -> None:
    result = cli(env, "keys", "create", "--workspace", "W", "--mode", "live", "--name", "L")
    last_line = result.stdout.rstrip("\n").splitlines()[-1]
    assert SECRET.match(last_line), result.stdout
    assert last_line.startswith("vnt_sk_live_")
    assert len(last_line.removeprefix("vnt_sk_live_")) >= 32

    _, test_secret = create_key(env, "--workspace", "W")  # test mode by default
    assert test_secret.startswith("vnt_sk_test_") and SECRET.match(test_secret)
    assert test_secret != last_line


def test_keys_create_refuses_an_unknown_mode(env: dict[str, str]) -> None:
    result = cli(env, "keys", "create", "--workspace", "W", "--mode", "prod", check=False)
    assert result.returncode != 0
    assert not re.search(r"vnt_sk_", result.stdout)


def test_created_key_works_and_keys_list_shows_its_last_use_never_the_secret(
    env: dict[str, str], app: TestClient
) -> None:
    key_id, secret = create_key(env, "--workspace", "W", "--mode", "live", "--name", "L")

    before = cli(env, "keys", "list").stdout
    assert key_row(before, key_id)[1:4] == ["W", "live", "L"]
    assert key_row(before, key_id)[6] == "-"  # never used yet

    response = app.get("/v1/contacts", headers=bearer(secret))
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []

    after = cli(env, "keys", "list", "--workspace", "W").stdout
    row = key_row(after, key_id)
    assert TIMESTAMP.match(row[6]), row  # last used
    assert row[7] == "-"  # not revoked
    # The listing shows a hint of the key, never the secret itself.
    for listing in (before, after):
        assert secret not in listing
        assert secret[-20:] not in listing


def test_keys_list_filters_by_workspace(env: dict[str, str]) -> None:
    mine, _ = create_key(env, "--workspace", "mine")
    theirs, _ = create_key(env, "--workspace", "theirs")
    listing = cli(env, "keys", "list", "--workspace", "mine").stdout
    assert mine in listing
    assert theirs not in listing


def test_keys_list_is_readable_when_piped(env: dict[str, str]) -> None:
    key_id, _ = create_key(env, "--workspace", "a-workspace-with-a-long-name")
    listing = cli(env, "keys", "list").stdout
    assert key_id in listing  # an operator copies it into `keys revoke`


def test_revoked_key_fails_at_once(env: dict[str, str], app: TestClient) -> None:
    key_id, secret = create_key(env, "--workspace", "W", "--mode", "live")
    kept_id, kept = create_key(env, "--workspace", "W", "--mode", "live")
    assert app.get("/v1/contacts", headers=bearer(secret)).status_code == 200

    revoked = cli(env, "keys", "revoke", key_id)
    assert key_id in revoked.stdout + revoked.stderr

    response = app.get("/v1/contacts", headers=bearer(secret))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    # Only that key: the workspace's other key still works.
    assert app.get("/v1/contacts", headers=bearer(kept)).status_code == 200
    assert TIMESTAMP.match(key_row(cli(env, "keys", "list").stdout, key_id)[7])
    assert key_row(cli(env, "keys", "list").stdout, kept_id)[7] == "-"


def test_revoking_an_unknown_or_revoked_key_fails(env: dict[str, str]) -> None:
    key_id, _ = create_key(env, "--workspace", "W")
    cli(env, "keys", "revoke", key_id)
    assert cli(env, "keys", "revoke", key_id, check=False).returncode == 1
    assert cli(env, "keys", "revoke", "key_doesnotexist", check=False).returncode == 1


def test_migrate_is_idempotent(env: dict[str, str], database_file: Path) -> None:
    cli(env, "migrate")
    assert alembic_versions(database_file) == [head_revision()]
    _, secret = create_key(env, "--workspace", "W")
    cli(env, "migrate")
    cli(env, "migrate")
    assert alembic_versions(database_file) == [head_revision()]
    settings = Settings(
        database_url=f"sqlite:///{database_file}", log_level="WARNING", run_worker=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/v1/contacts", headers=bearer(secret)).status_code == 200


def alembic_versions(database_file: Path) -> list[str]:
    with closing(sqlite3.connect(database_file)) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _serve(port: int) -> list[str]:
    return [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]


def test_serve_on_an_empty_folder_answers_readyz_and_prints_a_working_test_key(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    port = free_port()
    with running(
        _serve(port), port=port, env=base_env(), cwd=folder, log=tmp_path / "serve.log"
    ) as server:
        ready = server.wait_ready("/readyz")
        assert ready.json()["status"] == "ready"

        printed = re.findall(r"vnt_sk_test_[A-Za-z0-9_-]+", server.output())
        assert printed, server.output()
        secret = printed[0]
        assert SECRET.match(secret)
        response = httpx.get(f"{server.base_url}/v1/contacts", headers=bearer(secret), timeout=10)
        assert response.status_code == 200, response.text
        # Everything lives in the working folder.
        assert (folder / "vantage-contacts.db").exists()

    # A second start on the same folder creates no new key.
    port = free_port()
    with running(
        _serve(port), port=port, env=base_env(), cwd=folder, log=tmp_path / "again.log"
    ) as server:
        server.wait_ready("/readyz")
        assert "vnt_sk_" not in server.output()
        response = httpx.get(f"{server.base_url}/v1/contacts", headers=bearer(secret), timeout=10)
        assert response.status_code == 200


def test_a_spawned_helper_importing_the_package_main_runs_no_command() -> None:
    """`python -m vantage_contacts import FILE` starts a helper process by spawning, which
    imports the parent's main module under the name `__mp_main__`: that must not run the
    command line a second time."""
    spawned = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; runpy.run_module('vantage_contacts.__main__', run_name='__mp_main__')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (spawned.returncode, spawned.stdout, spawned.stderr) == (0, "", "")
    as_main = subprocess.run(
        [sys.executable, "-m", "vantage_contacts", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert as_main.returncode == 0
    assert "import" in as_main.stdout
