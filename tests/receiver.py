"""A real HTTP receiver on loopback for the webhook tests, and a way to drive the worker.

`Receiver` is a threaded HTTP/1.1 server on 127.0.0.1 that records every request (path,
headers, the exact body bytes) and answers as a test tells it to: fail N times, 410, a
`Retry-After`, a redirect, a slow or hanging answer. Each test gives its endpoint a path of
its own (`receiver.path()`), so deliveries left over by other tests never count as ours.

`deliver()` runs the real delivery worker (`Deliverer`) on the app's event loop, at a
controllable time (`Clock`), so retry delays are stepped over rather than slept through.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook

from tests.support import Api, run_async, runtime_of
from vantage_contacts import models
from vantage_contacts.kit.clock import utcnow
from vantage_contacts.webhooks.delivery import Deliverer

HANG = 3600.0  # a "hanging" receiver answers only when it is closed


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: datetime
    peer_port: int  # the sender's TCP port: tells apart the connections of several workers

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)

    def verify(self, secret: str, body: bytes | None = None) -> Any:
        """Standard Webhooks verification, as an integrator does it; raises if it fails."""
        return Webhook(secret).verify(self.body if body is None else body, self.headers)

    def signed_by(self, secret: str) -> bool:
        """Whether one of the signatures is `secret`'s, whatever the timestamp says.

        For deliveries made at a moved clock, whose timestamps `verify` would refuse as too
        far from the real time; it uses the library's own signing."""
        sent_at = datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), UTC)
        expected = Webhook(secret).sign(self.webhook_id, sent_at, self.body.decode())
        return expected in self.headers["webhook-signature"].split(" ")


class Receiver:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._received: list[Received] = []
        self._scripts: dict[str, deque[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._closing = threading.Event()
        self.in_flight = 0
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()  # releases hanging answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- what to answer -------------------------------------------------------------------------

    @staticmethod
    def path() -> str:
        return f"/hook/{secrets.token_hex(6)}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with these replies, in order, then the default."""
        with self._changed:
            self._scripts.setdefault(path, deque()).extend(replies)

    def answer(self, path: str, reply: Reply) -> None:
        """Answer every request to `path` with `reply` (once any script has run out)."""
        with self._changed:
            self._defaults[path] = reply

    def _reply_for(self, path: str) -> Reply:
        with self._changed:
            queued = self._scripts.get(path)
            if queued:
                return queued.popleft()
            return self._defaults.get(path, Reply())

    # --- what was received --------------------------------------------------------------------

    def received(self, path: str | None = None) -> list[Received]:
        with self._changed:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(self, count: int, path: str, timeout: float = 15.0) -> list[Received]:
        """Block until `path` has received `count` requests; fail past `timeout` seconds."""
        with self._changed:
            reached = self._changed.wait_for(
                lambda: sum(r.path == path for r in self._received) >= count, timeout
            )
        found = self.received(path)
        assert reached, f"{len(found)} of {count} requests reached {path} in {timeout}s"
        return found

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Block until `condition()` holds (checked on every request) or `timeout` seconds pass."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def _record(self, received: Received) -> None:
        with self._changed:
            self._received.append(received)
            self.in_flight += 1
            self._changed.notify_all()

    def _done(self) -> None:
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def _wait(self, seconds: float) -> None:
        self._closing.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # several workers open 50 connections each at once


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver._record(Received(self.path, headers, body, utcnow(), self.client_address[1]))
            try:
                reply = receiver._reply_for(self.path)
                if reply.delay:
                    receiver._wait(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the worker gave up (timeout) first
            finally:
                receiver._done()

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


# --- driving the delivery worker ----------------------------------------------------------------


class Clock:
    """The worker's time: starts now and moves only when a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


def deliver(
    http: TestClient,
    clock: Callable[[], datetime] = utcnow,
    *,
    allow_private: bool = True,
    timeout: float | None = None,
    max_rounds: int = 50,
    **options: Any,
) -> int:
    """Run the worker's batches until nothing more is due at `clock()`; how many were claimed.

    The count includes other tests' leftover deliveries (the queue spans workspaces), so
    tests assert on what their own receiver path and endpoint show, not on it."""

    async def _run() -> int:
        if timeout is not None:
            options["timeout"] = timedelta(seconds=timeout)
        deliverer = Deliverer(
            runtime_of(http).database,
            allow_private=allow_private,
            clock=clock,
            batch_size=500,
            **options,
        )
        total = 0
        try:
            for _ in range(max_rounds):
                claimed = await deliverer.run_once()
                total += claimed
                if claimed == 0:
                    break
        finally:
            await deliverer.close()
        return total

    result: int = run_async(http, _run)
    return result


# --- endpoints and the queue, as a test sees them -----------------------------------------------


def make_endpoint(
    api: Api, receiver: Receiver, path: str | None = None, events: list[str] | None = None
) -> dict[str, Any]:
    """A webhook endpoint at a path of its own on `receiver`; the answer holds `secret`."""
    path = path or receiver.path()
    body = {"url": receiver.url(path), "events": events or ["*"], "description": "test receiver"}
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()["data"]
    endpoint["path"] = path
    return endpoint


def delivery_rows(http: TestClient, workspace_id: str, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's deliveries as stored (exact times), oldest first."""
    table = models.webhook_deliveries

    async def _rows() -> list[dict[str, Any]]:
        query = (
            select(table)
            .where(table.c.workspace_id == workspace_id, table.c.endpoint_id == endpoint_id)
            .order_by(table.c.created_at, table.c.id)
        )
        async with runtime_of(http).database.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    rows: list[dict[str, Any]] = run_async(http, _rows)
    return rows


def attempt_rows(http: TestClient, workspace_id: str, delivery_id: str) -> list[dict[str, Any]]:
    table = models.webhook_attempts

    async def _rows() -> list[dict[str, Any]]:
        query = (
            select(table)
            .where(table.c.workspace_id == workspace_id, table.c.delivery_id == delivery_id)
            .order_by(table.c.attempt)
        )
        async with runtime_of(http).database.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    rows: list[dict[str, Any]] = run_async(http, _rows)
    return rows
