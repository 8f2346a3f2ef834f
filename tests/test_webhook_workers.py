"""Several real `vantage-contacts worker` processes sharing one PostgreSQL queue.

Two workers and 1,000 events: every event delivered, none twice. A worker killed with SIGKILL
in the middle of a batch: its claimed deliveries go back to the queue when their lease runs
out, and another worker delivers them. (SQLite runs a single worker: these tests are
PostgreSQL only.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, or_, select

from tests.receiver import Receiver, Reply, attempt_rows, delivery_rows, make_endpoint
from tests.support import Api, run_async, runtime_of
from vantage_contacts.auth.subject import Tenant
from vantage_contacts.events import service as events
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.models import webhook_deliveries
from vantage_contacts.webhooks import repository

CLI = Path(sys.executable).parent / "vantage-contacts"
LEASE_SECONDS = 8  # shortened (the default is 60) so a dead worker's claims return soon
START_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 120.0


@pytest.fixture(autouse=True)
def _postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several workers share a queue on PostgreSQL; SQLite runs one worker")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


class Worker:
    """One `vantage-contacts worker` process; its output goes to a log file."""

    def __init__(
        self, database_url: str, directory: Path, name: str, lease_seconds: float | None
    ) -> None:
        self.log = directory / f"{name}.log"
        env = {
            "PATH": os.environ.get("PATH", str(CLI.parent)),
            "HOME": os.environ.get("HOME", "/tmp"),
            "VANTAGE_DATABASE_URL": database_url,
            "VANTAGE_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
            "VANTAGE_MAIL_DIR": str(directory / f"{name}-mail"),
            "VANTAGE_LOG_LEVEL": "WARNING",
            "COLUMNS": "200",
        }
        if lease_seconds is not None:
            env["VANTAGE_WEBHOOK_LEASE_SECONDS"] = str(lease_seconds)
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(CLI), "worker"],
                cwd=directory,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self) -> None:
        """Until the worker says it runs (it has migrated); fails past START_TIMEOUT."""
        deadline = time.monotonic() + START_TIMEOUT
        while "Worker running" not in self.output():
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not started in {START_TIMEOUT}s:\n{self.output()}")
            time.sleep(0.05)  # polling the log between checks; the deadline bounds it

    def kill(self) -> None:
        """SIGKILL: no cleanup, no chance to record what it was sending."""
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def workers(
    database_url: str, directory: Path, *names: str, lease_seconds: float | None = None
) -> Iterator[list[Worker]]:
    """Start the named workers and wait until each runs; every one is stopped on the way out."""
    with ExitStack() as stack:
        started: list[Worker] = []
        for name in names:
            worker = Worker(database_url, directory, name, lease_seconds)
            stack.callback(worker.stop)
            started.append(worker)
        for worker in started:
            worker.wait_started()
        yield started


def record_events(http: TestClient, api: Api, count: int) -> None:
    """`count` events, written by the service layer as a change would, in one transaction."""
    tenant = Tenant(api.workspace_id, "test")

    async def _record() -> None:
        async with runtime_of(http).database.write() as conn:
            for number in range(count):
                data = {"id": new_id("cli"), "name": f"Client {number}", "number": number}
                await events.record(conn, tenant, "client.created", data)

    run_async(http, _record)


def delivery_counts(http: TestClient, workspace_id: str, endpoint_id: str) -> dict[str, int]:
    table = webhook_deliveries

    async def _counts() -> dict[str, int]:
        query = (
            select(table.c.status, func.count())
            .where(table.c.workspace_id == workspace_id, table.c.endpoint_id == endpoint_id)
            .group_by(table.c.status)
        )
        async with runtime_of(http).database.read() as conn:
            return {status: count for status, count in (await conn.execute(query)).all()}

    counts: dict[str, int] = run_async(http, _counts)
    return counts


def wait_all_succeeded(
    http: TestClient, api: Api, endpoint_id: str, total: int, running: list[Worker]
) -> None:
    """Poll the queue until every delivery succeeded; fails (with the workers' output) past
    DELIVERY_TIMEOUT."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = delivery_counts(http, api.workspace_id, endpoint_id)
        if counts.get("succeeded") == total:
            return
        assert all(w.process.poll() is None for w in running), [w.output() for w in running]
        time.sleep(0.2)  # between polls of the queue; the deadline bounds it
    logs = "\n".join(w.output() for w in running)
    raise AssertionError(f"not all delivered in {DELIVERY_TIMEOUT}s: {counts}\n{logs}")


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's open sockets (from /proc, Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_two_workers_deliver_1000_events_each_exactly_once(
    http: TestClient,
    api: Api,
    receiver: Receiver,
    database_url: str,
    tmp_path: Path,
) -> None:
    endpoint = make_endpoint(api, receiver, events=["client.created"])
    receiver.answer(endpoint["path"], Reply(200, delay=0.02))  # so both have work at once
    with workers(database_url, tmp_path, "first", "second") as running:
        record_events(http, api, 1000)
        wait_all_succeeded(http, api, endpoint["id"], 1000, running)
        ports_by_worker = [local_ports(w.pid) for w in running]
        received = receiver.received(endpoint["path"])
        assert all(w.process.poll() is None for w in running)
    rows = delivery_rows(http, api.workspace_id, endpoint["id"])
    assert len(rows) == 1000
    assert {row["attempt_count"] for row in rows} == {1}
    ids = Counter(r.webhook_id for r in received)
    assert len(received) == 1000, ids.most_common(3)
    assert set(ids) == {row["message_id"] for row in rows}
    assert {r.json()["data"]["number"] for r in received} == set(range(1000))
    for request in received[::50]:
        request.verify(endpoint["secret"])
    # Both processes took part: each holds connections the receiver saw requests on.
    seen_ports = {r.peer_port for r in received}
    assert all(ports & seen_ports for ports in ports_by_worker), "one worker did everything"


def test_a_worker_killed_mid_batch_loses_nothing(
    http: TestClient,
    api: Api,
    receiver: Receiver,
    database_url: str,
    tmp_path: Path,
) -> None:
    total = 300
    endpoint = make_endpoint(api, receiver, events=["client.created"])
    path = endpoint["path"]
    receiver.answer(path, Reply(200, delay=0.25))  # slow, so the kill lands mid-flight
    with workers(database_url, tmp_path, "doomed", lease_seconds=LEASE_SECONDS) as (doomed,):
        record_events(http, api, total)
        reached = receiver.wait_until(
            lambda: receiver.in_flight > 0 and len(receiver.received(path)) >= 60,
            timeout=DELIVERY_TIMEOUT,
        )
        assert reached, doomed.output()
        doomed.kill()
        killed_at = utcnow()
    sent_before_kill = receiver.received(path)
    orphans = [
        row
        for row in delivery_rows(http, api.workspace_id, endpoint["id"])
        if row["status"] == "pending" and row["lease_until"] and row["lease_until"] > killed_at
    ]
    assert orphans, "the worker died holding no claimed deliveries"
    assert len(sent_before_kill) < total

    with workers(database_url, tmp_path, "survivor", lease_seconds=LEASE_SECONDS) as running:
        wait_all_succeeded(http, api, endpoint["id"], total, running)
    received = receiver.received(path)
    rows = delivery_rows(http, api.workspace_id, endpoint["id"])
    assert {r.webhook_id for r in received} == {row["message_id"] for row in rows}
    # At least once: only deliveries in flight when the worker died may arrive twice.
    orphan_ids = {row["message_id"] for row in orphans}
    twice = {wid for wid, n in Counter(r.webhook_id for r in received).items() if n > 1}
    assert twice <= orphan_ids
    assert max(Counter(r.webhook_id for r in received).values()) <= 2
    # Orphans went back to the queue only when their lease ran out.
    for row in orphans:
        (attempt,) = attempt_rows(http, api.workspace_id, row["id"])
        assert attempt["status_code"] == 200
        lease_until: datetime = row["lease_until"]
        assert attempt["attempted_at"] >= lease_until


def test_concurrent_claims_never_take_one_delivery_twice(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    """Ten claims at once on one PostgreSQL (SKIP LOCKED): each due delivery is taken once."""
    make_endpoint(api, receiver, events=["client.created"])
    record_events(http, api, 400)
    database = runtime_of(http).database
    now = utcnow() + timedelta(seconds=1)
    table = webhook_deliveries

    async def _claim_concurrently() -> tuple[int, list[list[tuple[str, str]]]]:
        due = select(func.count()).where(
            table.c.status == "pending",
            table.c.next_attempt_at <= now,
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        async with database.read() as conn:
            due_count = (await conn.execute(due)).scalar_one()

        async def claim() -> list[tuple[str, str]]:
            async with database.write() as conn:
                rows = await repository.claim_due(conn, now, now + timedelta(minutes=1), 60)
            return [(row["workspace_id"], row["id"]) for row in rows]

        return due_count, list(await asyncio.gather(*(claim() for _ in range(10))))

    due_count, batches = run_async(http, _claim_concurrently)
    claimed = [key for batch in batches for key in batch]
    assert len(claimed) == len(set(claimed))
    assert len(claimed) == min(600, due_count)
