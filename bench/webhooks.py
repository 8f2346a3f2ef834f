"""Webhook delivery benchmark: deliveries per second per worker, and event-to-delivery latency.

    .venv/bin/python -m bench.webhooks [--deliveries 5000] [--rate 100] [--seconds 20]

On a fresh PostgreSQL database (made on VANTAGE_TEST_POSTGRES_URL's server, dropped after):

1. References, no database work: the same signed POSTs, batches of 100 with 50 at once, from
   (a) a bare HTTP/1.1 client (h11 on asyncio streams): what the receiver and loopback take;
   (b) plain httpx (the worker sends with aiohttp since it measured faster). The ratios say
   how much of each it reaches. Plus one plain POST at a time: the floor of any latency.
2. Throughput: N events queued for one endpoint, then ONE Deliverer (the worker's defaults:
   batches of 100, 50 requests at once) claims, sends and records them until the queue is
   empty: deliveries per second.
3. Latency: the worker's normal polling loop runs while changes arrive at a steady rate
   through the service layer (a client created, its event and delivery written in the same
   transaction); latency = the receiver's arrival time minus the event's created_at.

The receiver runs in ANOTHER process (`python -m bench.webhooks receiver PORT`): a raw asyncio
HTTP/1.1 server that answers 200 at once and remembers when each webhook-id arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import asyncpg
import h11
import httpx
import orjson
from sqlalchemy import select

from vantage_contacts.auth import keys
from vantage_contacts.auth.subject import Tenant
from vantage_contacts.clients import service as clients
from vantage_contacts.clients.schemas import ClientCreate
from vantage_contacts.db import Database
from vantage_contacts.events import service as events
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.kit.ids import new_id
from vantage_contacts.migrate import upgrade_sync
from vantage_contacts.models import events as events_table
from vantage_contacts.models import webhook_deliveries
from vantage_contacts.webhooks import service as webhooks
from vantage_contacts.webhooks import signing
from vantage_contacts.webhooks.delivery import Deliverer
from vantage_contacts.webhooks.schemas import WebhookCreate

ADMIN_URL = os.environ.get("VANTAGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONCURRENCY = 50  # the Deliverer's default

# --- the receiver (its own process) -------------------------------------------------------------

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


class _Receiver(asyncio.Protocol):
    arrivals: dict[str, float] = {}  # noqa: RUF012 - one receiver per process
    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            fields = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            total = end + 4 + int(fields.get("content-length", "0"))
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self._answer(head[0].split(" ")[1], fields.get("webhook-id"))

    def _answer(self, path: str, webhook_id: str | None) -> None:
        cls = type(self)
        if path == "/stats":
            body = orjson.dumps({"count": cls.count, "arrivals": cls.arrivals})
            head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            self.transport.write(head + body)
        elif path == "/reset":
            cls.count, cls.arrivals = 0, {}
            self.transport.write(_OK)
        else:
            cls.count += 1
            if webhook_id is not None:
                cls.arrivals[webhook_id] = time.time()
            self.transport.write(_OK)


async def serve_receiver(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Receiver, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def receiver_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.webhooks", "receiver", str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/reset", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def receiver_stats(base: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{base}/stats", timeout=30).json()
    return stats


async def reset(base: str) -> None:
    async with httpx.AsyncClient() as client:
        await client.get(f"{base}/reset")


# --- the database ---------------------------------------------------------------------------------


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"vantage_bench_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    try:
        upgrade_sync(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_url_of(database: Database) -> str:
    return database.url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def make_endpoint(database: Database, url: str) -> Tenant:
    async with database.write() as conn:
        workspace_id = await keys.ensure_workspace(conn, f"bench-{secrets.token_hex(4)}")
        tenant = Tenant(workspace_id, "live")
        await webhooks.create(conn, tenant, WebhookCreate(url=url, events=["*"]))
    return tenant


def sample_object(number: int) -> dict[str, Any]:
    """About the size of a contact as the API returns it."""
    return {
        "id": new_id("con"),
        "client_id": new_id("cli"),
        "name": f"Contact {number}",
        "email": f"contact{number}@example.com",
        "phone": "+14155550100",
        "mobile": None,
        "title": "Head of Operations",
        "department": "Operations",
        "roles": {"is_primary": False, "is_billing": True, "is_technical": False},
        "portal": {
            "access_enabled": False,
            "access_level": "none",
            "last_login_at": None,
            "invitation_sent_at": None,
            "password_reset_sent_at": None,
        },
        "communication": {
            "receives_invoices": True,
            "receives_reports": False,
            "receives_project_updates": True,
        },
        "notes": None,
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }


async def queue_events(database: Database, tenant: Tenant, count: int) -> None:
    for start in range(0, count, 500):
        async with database.write() as conn:
            for number in range(start, min(count, start + 500)):
                await events.record(conn, tenant, "contact.created", sample_object(number))


async def pending(database: Database) -> int:
    async with database.read() as conn:
        query = select(webhook_deliveries.c.id).where(webhook_deliveries.c.status == "pending")
        return len((await conn.execute(query)).all())


# --- the three measurements -----------------------------------------------------------------------


async def reference_rate(base: str, count: int) -> float:
    """Plain httpx, same signed bodies, same concurrency, no database: the receiver's ceiling."""
    secret = signing.new_secret()
    body = orjson.dumps({"id": "evt_x", "type": "contact.created", "data": sample_object(0)})
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    slots = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=15) as client:

        async def post(number: int) -> None:
            headers = {
                "content-type": "application/json",
                **signing.headers([secret], f"msg_ref{number}", utcnow(), body),
            }
            async with slots:
                response = await client.post(f"{base}/reference", content=body, headers=headers)
            assert response.status_code == 200

        await asyncio.gather(*(post(n) for n in range(200)))  # warm the connections
        started = time.perf_counter()
        for batch in range(0, count, 100):  # as the worker sends: batches of 100, 50 at once
            await asyncio.gather(*(post(n) for n in range(batch, min(count, batch + 100))))
        return count / (time.perf_counter() - started)


async def raw_rate(base: str, count: int) -> float:
    """The same POSTs from a bare HTTP/1.1 client (h11 on asyncio streams, keep-alive, 50 at
    once): what the receiver and the loopback can take when the client costs almost nothing."""
    host, port = base.removeprefix("http://").split(":")
    body = orjson.dumps({"id": "evt_x", "type": "contact.created", "data": sample_object(0)})
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection]] = []
    slots = asyncio.Semaphore(CONCURRENCY)

    async def post(number: int) -> None:
        async with slots:
            if idle:
                reader, writer, conn = idle.pop()
            else:
                reader, writer = await asyncio.open_connection(host, int(port))
                conn = h11.Connection(h11.CLIENT)
            headers = [("host", f"{host}:{port}"), ("content-length", str(len(body)))]
            headers.append(("webhook-id", f"msg_raw{number}"))
            request = h11.Request(method="POST", target="/raw", headers=headers)
            writer.write(conn.send(request) + conn.send(h11.Data(data=body)))
            writer.write(conn.send(h11.EndOfMessage()))
            while not isinstance(event := conn.next_event(), h11.EndOfMessage):
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    assert event.status_code == 200
            conn.start_next_cycle()
            idle.append((reader, writer, conn))

    await asyncio.gather(*(post(n) for n in range(200)))
    started = time.perf_counter()
    for batch in range(0, count, 100):
        await asyncio.gather(*(post(n) for n in range(batch, min(count, batch + 100))))
    elapsed = time.perf_counter() - started
    for _, writer, _ in idle:
        writer.close()
    return count / elapsed


async def reference_latency(base: str, count: int = 300) -> float:
    """Median time of one plain POST on a warm connection, one at a time: the floor of latency."""
    body = orjson.dumps({"id": "evt_x", "type": "contact.created", "data": sample_object(0)})
    times = []
    async with httpx.AsyncClient(timeout=15) as client:
        for number in range(count):
            started = time.perf_counter()
            response = await client.post(f"{base}/reference", content=body)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, number
    return statistics.median(times[20:])


async def worker_rate(database: Database, base: str, count: int) -> tuple[float, float]:
    """Deliveries per second of one Deliverer emptying a queue of `count`; and its CPU seconds
    per delivery (which the machine's other load does not inflate as much as the wall time)."""
    tenant = await make_endpoint(database, f"{base}/hook")
    await queue_events(database, tenant, count)
    deliverer = Deliverer(database, allow_private=True)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        sent = 0
        while claimed := await deliverer.run_once():
            sent += claimed
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await deliverer.close()
    assert sent == count, sent
    return sent / elapsed, cpu / sent


async def write_changes(url: str, workspace_ids: list[str], rate: float, seconds: float) -> None:
    """The writer process: `rate` changes a second through the service layer (a client
    created: its row, event and delivery in one transaction), round robin over the workspaces
    (one workspace would queue on its slug lock); prints the rate it achieved."""
    database = Database(url, pool_size=10)
    tenants = [Tenant(workspace_id, "live") for workspace_id in workspace_ids]
    total = int(rate * seconds)

    connections = asyncio.Semaphore(10)  # a slow database makes changes wait, not fail

    async def change(number: int) -> None:
        async with connections, database.write() as conn:
            body = ClientCreate(name=f"Client {number}")
            await clients.create(conn, tenants[number % len(tenants)], body, "US")

    # Each change starts on its own schedule (a task), so a slow one does not delay the next.
    started = time.perf_counter()
    changes = []
    for number in range(total):
        wait = started + number / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        changes.append(asyncio.create_task(change(number)))
    await asyncio.gather(*changes)
    print(orjson.dumps({"total": total, "rate": total / (time.perf_counter() - started)}).decode())
    await database.dispose()


async def latency(
    database: Database, base: str, rate: float, seconds: float
) -> tuple[list[float], int, float]:
    """Latencies (s) of changes made by another process at `rate` a second for `seconds`,
    delivered by the worker's normal polling loop; how many, and the rate actually achieved."""
    tenants = [await make_endpoint(database, f"{base}/latency") for _ in range(10)]
    stop = asyncio.Event()
    deliverer = Deliverer(database, allow_private=True)
    worker = asyncio.create_task(deliverer.run(stop))
    command = [sys.executable, "-m", "bench.webhooks", "writer", database_url_of(database)]
    command += [str(rate), str(seconds), *(t.workspace_id for t in tenants)]
    try:
        writer = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
        output, _ = await writer.communicate()
        assert writer.returncode == 0, "the writer failed"
        report = orjson.loads(output.splitlines()[-1])
        total, achieved = report["total"], report["rate"]
        for _ in range(600):  # at most a minute for the last deliveries
            if not await pending(database):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await worker
        await deliverer.close()
    arrivals: dict[str, float] = receiver_stats(base)["arrivals"]
    async with database.read() as conn:
        rows = await conn.execute(
            select(webhook_deliveries.c.message_id, events_table.c.created_at).join(
                events_table, events_table.c.id == webhook_deliveries.c.event_id
            )
        )
        created: dict[str, datetime] = {row.message_id: row.created_at for row in rows}
    latencies = [arrivals[m] - created[m].timestamp() for m in created if m in arrivals]
    return latencies, total, achieved


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(url: str, base: str, deliveries: int, rate: float, seconds: float) -> None:
    database = Database(url, pool_size=10)
    try:
        raw = await raw_rate(base, deliveries)
        reference = await reference_rate(base, deliveries)
        one_post = await reference_latency(base)
        await reset(base)
        per_worker, cpu = await worker_rate(database, base, deliveries)
        await reset(base)
        values, total, achieved = await latency(database, base, rate, seconds)
    finally:
        await database.dispose()
    assert len(values) == total, f"{total - len(values)} changes were not delivered"
    p50, p99 = percentile(values, 0.50), percentile(values, 0.99)
    print(f"reference, bare h11 client ({CONCURRENCY} at once, no database): {raw:.0f} POST/s")
    print(f"reference, plain httpx ({CONCURRENCY} at once, no database): {reference:.0f} POST/s")
    print(f"reference, one plain POST at a time: {one_post * 1000:.2f} ms")
    print(
        f"throughput, one worker, {deliveries} queued: {per_worker:.0f} deliveries/s "
        f"= {per_worker / reference:.2f} x plain httpx, {per_worker / raw:.2f} x bare h11 "
        f"(target >= 500/s); "
        f"CPU {cpu * 1000:.2f} ms per delivery"
    )
    print(
        f"latency, {total} changes at {achieved:.0f}/s for {seconds:.0f} s: "
        f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(values) * 1000:.0f} ms "
        f"(target p99 < 1000 ms); p50 = {p50 / one_post:.0f} x one plain POST"
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "receiver":
        asyncio.run(serve_receiver(int(sys.argv[2])))
        return
    if len(sys.argv) > 5 and sys.argv[1] == "writer":
        url, rate, seconds, *workspaces = sys.argv[2:]
        asyncio.run(write_changes(url, workspaces, float(rate), float(seconds)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with scratch_database() as url, receiver_process() as base:
        asyncio.run(run(url, base, args.deliveries, args.rate, args.seconds))


if __name__ == "__main__":
    main()
