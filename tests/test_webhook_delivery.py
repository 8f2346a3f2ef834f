"""Delivering events to a real HTTP receiver: signatures, success and failure, retries, disabling.

The worker is driven by the tests (`deliver`) at a controllable time (`Clock`): retry delays
of minutes to days are stepped over, never slept through.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import WebhookVerificationError

from tests.receiver import (
    HANG,
    Clock,
    Receiver,
    Reply,
    attempt_rows,
    deliver,
    delivery_rows,
    make_endpoint,
)
from tests.support import Api
from vantage_contacts.kit.clock import utcnow

# The schedule the issue asks for: after attempt n fails, wait about SCHEDULE[n - 1].
SCHEDULE = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
]
JITTER = 0.1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def deliveries(api: Api, endpoint_id: str) -> list[dict[str, object]]:
    response = api.get(f"/v1/webhooks/{endpoint_id}/deliveries", params={"per_page": 100})
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


def only_delivery(api: Api, endpoint_id: str) -> dict[str, object]:
    found = deliveries(api, endpoint_id)
    assert len(found) == 1, found
    return found[0]


def endpoint_state(api: Api, endpoint_id: str) -> dict[str, object]:
    response = api.get(f"/v1/webhooks/{endpoint_id}")
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- what is sent ---------------------------------------------------------------------------------


def test_delivery_is_the_event_payload_signed_with_the_endpoint_secret(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    client = api.make_client()
    deliver(http)
    (request,) = receiver.wait_for(1, endpoint["path"])
    payload = request.verify(endpoint["secret"])
    event = api.get("/v1/events", params={"object_id": client["id"]}).json()["data"][0]
    assert payload == event
    assert payload["type"] == "client.created"
    assert payload["data"] == client
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Vantage-Webhooks/")
    delivery = only_delivery(api, endpoint["id"])
    assert request.webhook_id == delivery["message_id"]
    assert delivery["event_id"] == event["id"]
    assert delivery["status"] == "succeeded"


def test_tampered_body_fails_verification(http: TestClient, api: Api, receiver: Receiver) -> None:
    endpoint = make_endpoint(api, receiver)
    api.make_client(name="Acme")
    deliver(http)
    (request,) = receiver.wait_for(1, endpoint["path"])
    request.verify(endpoint["secret"])
    tampered = request.body.replace(b'"Acme"', b'"Evil"')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        request.verify(endpoint["secret"], tampered)
    with pytest.raises(WebhookVerificationError):
        request.verify(make_endpoint(api, receiver)["secret"])  # another endpoint's secret


def test_each_endpoint_gets_its_own_webhook_id_and_signature(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    first, second = make_endpoint(api, receiver), make_endpoint(api, receiver)
    api.make_client()
    deliver(http)
    (to_first,) = receiver.wait_for(1, first["path"])
    (to_second,) = receiver.wait_for(1, second["path"])
    assert to_first.body == to_second.body
    assert to_first.webhook_id != to_second.webhook_id
    to_first.verify(first["secret"])
    to_second.verify(second["secret"])
    with pytest.raises(WebhookVerificationError):
        to_first.verify(second["secret"])


def test_endpoint_receives_only_its_event_types(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver, events=["contact.created"])
    contact = api.make_contact()  # also writes client.created
    api.put(f"/v1/contacts/{contact['id']}", json={"name": "Jane Smith"})
    deliver(http)
    (request,) = receiver.wait_for(1, endpoint["path"])
    assert request.json()["type"] == "contact.created"
    assert [d["event_type"] for d in deliveries(api, endpoint["id"])] == ["contact.created"]


# --- success and failure --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_answer_is_a_success(
    http: TestClient, api: Api, receiver: Receiver, status: int
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(status, body=b""))
    api.make_client()
    deliver(http)
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["last_status_code"] == status
    assert delivery["next_attempt_at"] is None


@pytest.mark.parametrize("status", [400, 401, 404, 409, 429, 500, 502, 503])
def test_other_answers_are_failures_retried_later(
    http: TestClient, api: Api, receiver: Receiver, status: int
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(status, body=b"no"))
    api.make_client()
    deliver(http)
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "pending"
    assert delivery["attempt_count"] == 1
    assert delivery["last_status_code"] == status
    assert delivery["last_error"] == f"HTTP {status}"
    assert delivery["next_attempt_at"] is not None
    assert endpoint_state(api, endpoint["id"])["status"] == "active"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_not_followed_and_counts_as_a_failure(
    http: TestClient, api: Api, receiver: Receiver, status: int
) -> None:
    endpoint = make_endpoint(api, receiver)
    elsewhere = receiver.path()
    receiver.answer(endpoint["path"], Reply(status, headers={"location": receiver.url(elsewhere)}))
    api.make_client()
    deliver(http)
    receiver.wait_for(1, endpoint["path"])
    assert receiver.received(elsewhere) == []
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "pending"
    assert delivery["last_status_code"] == status


def test_receiver_failing_twice_then_succeeding_gets_the_same_webhook_id(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.script(endpoint["path"], Reply(500, b"down"), Reply(503, b"still down"))
    api.make_client()
    clock = Clock()
    deliver(http, clock)
    for _ in range(2):
        (row,) = delivery_rows(http, api.workspace_id, endpoint["id"])
        clock.set(row["next_attempt_at"])
        deliver(http, clock)
    requests = receiver.wait_for(3, endpoint["path"])
    assert len(requests) == 3
    assert len({r.webhook_id for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    for request in requests:
        assert request.signed_by(endpoint["secret"])
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["message_id"] == requests[0].webhook_id
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]  # type: ignore[attr-defined]


def test_every_attempt_is_stored_with_status_latency_error_and_excerpt(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.script(
        endpoint["path"],
        Reply(500, b"database is down", delay=0.2),
        Reply(200, b"x" * 5000),
    )
    api.make_client()
    clock = Clock()
    deliver(http, clock)
    clock.advance(minutes=1)
    deliver(http, clock)
    delivery = only_delivery(api, endpoint["id"])
    failed, succeeded = delivery["attempts"]  # type: ignore[misc]
    assert failed["attempt"] == 1
    assert failed["status_code"] == 500
    assert failed["error"] == "HTTP 500"
    assert failed["response_excerpt"] == "database is down"
    assert failed["latency_ms"] >= 200
    assert succeeded["attempt"] == 2
    assert succeeded["status_code"] == 200
    assert succeeded["error"] is None
    assert succeeded["response_excerpt"] == "x" * 1024  # an excerpt, not the whole answer
    assert succeeded["latency_ms"] >= 0
    assert failed["attempted_at"] < succeeded["attempted_at"]


def test_unreachable_receiver_is_recorded_as_a_connection_error(http: TestClient, api: Api) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    response = api.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert response.status_code == 201, response.text
    endpoint_id = response.json()["data"]["id"]
    api.make_client()
    deliver(http)
    delivery = only_delivery(api, endpoint_id)
    (attempt,) = delivery["attempts"]  # type: ignore[misc]
    assert attempt["status_code"] is None
    assert "ConnectError" in attempt["error"]
    assert delivery["status"] == "pending"


def test_hanging_receiver_times_out_and_the_attempt_is_recorded(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.script(endpoint["path"], Reply(200, delay=HANG))
    api.make_client()
    deliver(http, timeout=0.5)  # the worker's own client waits 15 s; this one is shortened
    receiver.wait_for(1, endpoint["path"])
    delivery = only_delivery(api, endpoint["id"])
    (attempt,) = delivery["attempts"]  # type: ignore[misc]
    assert attempt["status_code"] is None
    assert "timed out" in attempt["error"]
    assert attempt["latency_ms"] >= 500
    assert delivery["status"] == "pending"


# --- retries --------------------------------------------------------------------------------------


def test_retries_follow_the_backoff_schedule_with_jitter_then_the_delivery_fails(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(500))
    api.make_client()
    clock = Clock()
    deliver(http, clock, rng=random.Random(3))
    assert len(receiver.received(endpoint["path"])) == 1  # the first attempt is immediate
    delays = []
    for attempt, nominal in enumerate(SCHEDULE, start=2):
        (row,) = delivery_rows(http, api.workspace_id, endpoint["id"])
        delay = row["next_attempt_at"] - clock.now
        assert nominal * (1 - JITTER) <= delay <= nominal * (1 + JITTER), (attempt, delay)
        delays.append(delay / nominal)
        clock.set(row["next_attempt_at"] - timedelta(milliseconds=1))
        deliver(http, clock, rng=random.Random(attempt))
        assert len(receiver.received(endpoint["path"])) == attempt - 1  # not due yet
        clock.set(row["next_attempt_at"])
        deliver(http, clock, rng=random.Random(attempt))
        assert len(receiver.received(endpoint["path"])) == attempt
    assert any(abs(ratio - 1) > 0.001 for ratio in delays)  # jittered, not exact
    (row,) = delivery_rows(http, api.workspace_id, endpoint["id"])
    assert row["status"] == "failed"
    assert row["next_attempt_at"] is None
    assert row["attempt_count"] == 10
    assert len(attempt_rows(http, api.workspace_id, row["id"])) == 10
    clock.advance(days=30)
    deliver(http, clock)
    assert len(receiver.received(endpoint["path"])) == 10  # failed for good
    assert len({r.webhook_id for r in receiver.received(endpoint["path"])}) == 1


def test_jitter_spreads_retries_of_deliveries_that_failed_together(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(500))
    for _ in range(5):
        api.make_client()
    clock = Clock()
    deliver(http, clock)
    rows = delivery_rows(http, api.workspace_id, endpoint["id"])
    assert len({row["next_attempt_at"] for row in rows}) == 5


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("600", timedelta(seconds=600)),
        ("1", timedelta(seconds=5)),  # never sooner than the schedule
        (str(3 * 24 * 3600), timedelta(hours=24)),  # capped at a day
    ],
)
def test_retry_after_in_seconds_is_honoured(
    http: TestClient,
    api: Api,
    receiver: Receiver,
    retry_after: str,
    expected: timedelta,
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(503, headers={"retry-after": retry_after}))
    api.make_client()
    clock = Clock()
    deliver(http, clock)
    (row,) = delivery_rows(http, api.workspace_id, endpoint["id"])
    delay = row["next_attempt_at"] - clock.now
    if expected == SCHEDULE[0]:
        assert expected * (1 - JITTER) <= delay <= expected * (1 + JITTER)
    else:
        assert delay == expected


def test_retry_after_as_an_http_date_is_honoured(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    api.make_client()
    clock = Clock()
    when = (clock.now + timedelta(hours=1)).replace(microsecond=0)
    receiver.answer(endpoint["path"], Reply(429, headers={"retry-after": format_datetime(when)}))
    deliver(http, clock)
    (row,) = delivery_rows(http, api.workspace_id, endpoint["id"])
    assert row["next_attempt_at"] - when <= timedelta(seconds=1)
    assert row["next_attempt_at"] >= when - timedelta(seconds=1)


def test_manual_retry_sends_a_failed_delivery_again_with_the_same_webhook_id(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(500))
    api.make_client()
    clock = Clock()
    deliver(http, clock)
    for _ in SCHEDULE:
        (row,) = delivery_rows(http, api.workspace_id, endpoint["id"])
        clock.set(row["next_attempt_at"])
        deliver(http, clock)
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "failed"
    receiver.answer(endpoint["path"], Reply(200))
    retried = api.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["data"]["status"] == "pending"
    assert len(retried.json()["data"]["attempts"]) == 10
    deliver(http)
    requests = receiver.wait_for(11, endpoint["path"])
    assert len({r.webhook_id for r in requests}) == 1
    requests[-1].verify(endpoint["secret"])
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_count"] == 11


def test_manual_retry_of_a_succeeded_delivery_sends_it_again(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    api.make_client()
    deliver(http)
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "succeeded"
    retried = api.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry")
    assert retried.status_code == 202, retried.text
    deliver(http)
    first, second = receiver.wait_for(2, endpoint["path"])
    assert first.webhook_id == second.webhook_id
    assert only_delivery(api, endpoint["id"])["attempt_count"] == 2


# --- disabling ------------------------------------------------------------------------------------


def disabled_events(api: Api, endpoint_id: str) -> list[dict[str, object]]:
    response = api.get("/v1/events", params={"type": "webhook.disabled", "object_id": endpoint_id})
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


def test_410_gone_disables_the_endpoint_and_records_webhook_disabled(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(410, b"gone"))
    api.make_client()
    deliver(http)
    state = endpoint_state(api, endpoint["id"])
    assert state["status"] == "disabled"
    assert "410" in str(state["disabled_reason"])
    delivery = only_delivery(api, endpoint["id"])
    assert delivery["status"] == "failed"
    assert delivery["last_status_code"] == 410
    (event,) = disabled_events(api, endpoint["id"])
    assert event["data"]["status"] == "disabled"  # type: ignore[index]
    assert event["data"]["disabled_reason"] == state["disabled_reason"]  # type: ignore[index]
    assert "secret" not in event["data"]  # type: ignore[operator]
    # Nothing more is queued for it, and nothing more is sent.
    api.make_client()
    later = Clock()
    later.advance(days=1)
    deliver(http, later)
    assert len(deliveries(api, endpoint["id"])) == 1
    assert len(receiver.received(endpoint["path"])) == 1


def test_endpoint_failing_for_five_days_is_disabled(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(500))
    api.make_client()
    clock = Clock()
    deliver(http, clock)
    clock.advance(days=4, hours=23)
    api.make_client()
    deliver(http, clock)
    assert endpoint_state(api, endpoint["id"])["status"] == "active"
    assert disabled_events(api, endpoint["id"]) == []
    clock.advance(hours=1, seconds=1)
    api.make_client()
    deliver(http, clock)
    state = endpoint_state(api, endpoint["id"])
    assert state["status"] == "disabled"
    assert "5 days" in str(state["disabled_reason"])
    (event,) = disabled_events(api, endpoint["id"])
    assert event["data"]["id"] == endpoint["id"]  # type: ignore[index]
    # Its pending deliveries end without another attempt once it is disabled.
    sent = len(receiver.received(endpoint["path"]))
    clock.advance(days=2)
    deliver(http, clock)
    assert len(receiver.received(endpoint["path"])) == sent
    assert {d["status"] for d in deliveries(api, endpoint["id"])} == {"failed"}


def test_a_success_resets_the_failing_period(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.script(endpoint["path"], Reply(500))
    api.make_client()
    clock = Clock()
    deliver(http, clock)  # fails: the endpoint starts failing now
    clock.advance(days=3)
    api.make_client()
    deliver(http, clock)  # both succeed
    receiver.answer(endpoint["path"], Reply(500))
    clock.advance(days=2, hours=1)
    api.make_client()
    deliver(http, clock)  # failing again, but only since now
    assert endpoint_state(api, endpoint["id"])["status"] == "active"
    assert disabled_events(api, endpoint["id"]) == []


def test_reenabling_a_disabled_endpoint_delivers_new_events_again(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.script(endpoint["path"], Reply(410))
    api.make_client()
    deliver(http)
    assert endpoint_state(api, endpoint["id"])["status"] == "disabled"
    response = api.put(f"/v1/webhooks/{endpoint['id']}", json={"status": "active"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["disabled_reason"] is None
    client = api.make_client()
    deliver(http)
    last = receiver.wait_for(2, endpoint["path"])[-1]
    assert last.verify(endpoint["secret"])["data"]["id"] == client["id"]


def test_deleted_endpoint_gets_nothing_more_and_its_deliveries_end(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.answer(endpoint["path"], Reply(500))
    api.make_client()
    clock = Clock()
    deliver(http, clock)
    assert api.delete(f"/v1/webhooks/{endpoint['id']}").status_code == 200
    api.make_client()
    clock.advance(hours=1)
    deliver(http, clock)
    assert len(receiver.received(endpoint["path"])) == 1
    rows = delivery_rows(http, api.workspace_id, endpoint["id"])
    assert [(row["status"], row["attempt_count"]) for row in rows] == [("failed", 1)]


# --- leases ---------------------------------------------------------------------------------------


def test_a_batch_that_outlives_its_lease_sends_nothing_more(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    """Once the lease has run out another worker may have claimed the rows: a send not yet
    started then would deliver the event twice, so the worker gives the rows back unsent."""
    endpoint = make_endpoint(api, receiver)
    api.make_client()
    claimed_at = utcnow()
    readings = iter([claimed_at])

    def clock() -> datetime:  # the claim reads the time, then a minute and more has passed
        return next(readings, claimed_at + timedelta(seconds=61))

    deliver(http, clock, max_rounds=1)
    assert receiver.received(endpoint["path"]) == []
    (row,) = delivery_rows(http, api.workspace_id, endpoint["id"])
    assert (row["status"], row["attempt_count"], row["lease_until"]) == ("pending", 0, None)
    assert attempt_rows(http, api.workspace_id, row["id"]) == []
    deliver(http)  # back in the queue, due now
    (request,) = receiver.wait_for(1, endpoint["path"])
    request.verify(endpoint["secret"])
    assert only_delivery(api, endpoint["id"])["status"] == "succeeded"
