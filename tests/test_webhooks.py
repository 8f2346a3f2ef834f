"""The webhook endpoints API: create, list, get, update, delete, rotate-secret, test, deliveries."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import WebhookVerificationError

from tests.receiver import Clock, Receiver, Reply, deliver, make_endpoint
from tests.support import Api

URL = "http://127.0.0.1:9/hook"  # never called: these tests do not run the worker on it


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": URL, "events": ["*"], **fields})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_create_answers_the_endpoint_with_its_secret(api: Api) -> None:
    body = {"url": URL, "events": ["contact.created", "contact.deleted"], "description": "CRM"}
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["id"].startswith("whk_")
    assert data["url"] == URL
    assert data["events"] == ["contact.created", "contact.deleted"]
    assert data["description"] == "CRM"
    assert data["status"] == "active"
    assert data["disabled_reason"] is None
    assert data["secret"].startswith("whsec_")
    assert len(base64.b64decode(data["secret"].removeprefix("whsec_"))) >= 24


def test_secret_is_never_shown_again(api: Api) -> None:
    endpoint = create(api)
    got = api.get(f"/v1/webhooks/{endpoint['id']}").json()["data"]
    listed = api.get("/v1/webhooks").json()["data"]
    updated = api.put(f"/v1/webhooks/{endpoint['id']}", json={"description": "x"}).json()["data"]
    assert "secret" not in got
    assert "secret" not in updated
    assert [e for e in listed if "secret" in e] == []
    assert endpoint["secret"] not in str(listed) + str(got) + str(updated)
    assert {k: v for k, v in endpoint.items() if k != "secret"} == got


def test_each_endpoint_has_its_own_secret(api: Api) -> None:
    assert create(api)["secret"] != create(api)["secret"]


@pytest.mark.parametrize(
    "events",
    [["contact.exploded"], ["*", "nope"], [], ["contact.created", "ticket.merged"], "*"],
)
def test_unknown_or_missing_event_types_are_refused(api: Api, events: object) -> None:
    response = api.post("/v1/webhooks", json={"url": URL, "events": events})
    assert response.status_code == 422, response.text
    assert api.get("/v1/webhooks").json()["pagination"]["total"] == 0


def test_star_subscribes_to_every_event(http: TestClient, api: Api, receiver: Receiver) -> None:
    endpoint = make_endpoint(api, receiver, events=["*"])
    assert endpoint["events"] == ["*"]
    contact = api.make_contact()
    api.put(f"/v1/contacts/{contact['id']}", json={"name": "Jane"})
    api.post("/v1/tickets", json={"client_id": contact["client_id"], "title": "Help"})
    deliver(http)
    types = sorted(r.json()["type"] for r in receiver.wait_for(4, endpoint["path"]))
    assert types == ["client.created", "contact.created", "contact.updated", "ticket.created"]


def test_repeated_event_types_are_kept_once(api: Api) -> None:
    endpoint = create(api, events=["contact.created", "contact.created", "client.created"])
    assert endpoint["events"] == ["client.created", "contact.created"]


@pytest.mark.parametrize(
    "body",
    [
        {"events": ["*"]},
        {"url": "", "events": ["*"]},
        {"url": URL, "events": ["*"], "secret": "whsec_mine"},
        {"url": URL, "events": ["*"], "description": "x" * 501},
        {"url": "not a url", "events": ["*"]},
        {"url": "ftp://127.0.0.1/hook", "events": ["*"]},
    ],
)
def test_invalid_bodies_are_refused(api: Api, body: dict[str, Any]) -> None:
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("validation_error", "invalid_request")


def test_list_pages_through_endpoints_oldest_first(api: Api) -> None:
    made = [create(api, description=f"n{i}")["id"] for i in range(5)]
    first = api.get("/v1/webhooks", params={"per_page": 2}).json()
    assert first["pagination"] == {"page": 1, "per_page": 2, "total": 5, "total_pages": 3}
    seen = []
    for page in (1, 2, 3):
        data = api.get("/v1/webhooks", params={"per_page": 2, "page": page}).json()["data"]
        seen += [e["id"] for e in data]
    assert seen == made


def test_update_changes_url_events_and_description(api: Api) -> None:
    endpoint = create(api, description="old")
    body = {"url": "http://127.0.0.1:10/new", "events": ["ticket.created"], "description": "new"}
    response = api.put(f"/v1/webhooks/{endpoint['id']}", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["url"], data["events"], data["description"]) == (
        body["url"],
        body["events"],
        body["description"],
    )
    assert api.get(f"/v1/webhooks/{endpoint['id']}").json()["data"] == data
    cleared = api.put(f"/v1/webhooks/{endpoint['id']}", json={"description": None})
    assert cleared.json()["data"]["description"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"url": None},
        {"events": None},
        {"status": None},
        {"status": "paused"},
        {"events": ["contact.nope"]},
        {"events": []},
        {"secret": "whsec_x"},
    ],
)
def test_invalid_updates_are_refused_and_change_nothing(api: Api, body: dict[str, Any]) -> None:
    endpoint = create(api)
    response = api.put(f"/v1/webhooks/{endpoint['id']}", json=body)
    assert response.status_code == 422, response.text
    after = api.get(f"/v1/webhooks/{endpoint['id']}").json()["data"]
    assert (after["url"], after["events"], after["status"]) == (URL, ["*"], "active")


def test_disabling_and_enabling_by_hand_says_so_in_the_status(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    response = api.put(f"/v1/webhooks/{endpoint['id']}", json={"status": "disabled"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "disabled"
    assert response.json()["data"]["disabled_reason"]
    api.make_client()
    deliver(http)
    assert receiver.received(endpoint["path"]) == []
    listed = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()
    assert listed["data"] == []
    enabled = api.put(f"/v1/webhooks/{endpoint['id']}", json={"status": "active"}).json()["data"]
    assert (enabled["status"], enabled["disabled_reason"]) == ("active", None)
    api.make_client()
    deliver(http)
    assert len(receiver.wait_for(1, endpoint["path"])) == 1


def test_delete_removes_the_endpoint(api: Api) -> None:
    endpoint = create(api)
    response = api.delete(f"/v1/webhooks/{endpoint['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"id": endpoint["id"], "deleted": True}
    assert api.get(f"/v1/webhooks/{endpoint['id']}").status_code == 404
    assert api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").status_code == 404
    assert api.put(f"/v1/webhooks/{endpoint['id']}", json={"description": "x"}).status_code == 404
    assert api.delete(f"/v1/webhooks/{endpoint['id']}").status_code == 404
    assert api.get("/v1/webhooks").json()["data"] == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/test"),
        ("GET", "/deliveries"),
    ],
)
def test_another_workspace_or_mode_gets_404(
    api: Api, other_api: Api, method: str, suffix: str
) -> None:
    endpoint = create(api)
    for stranger in (other_api, api.live):
        kwargs: dict[str, Any] = {"json": {"description": "x"}} if method == "PUT" else {}
        response = stranger.request(method, f"/v1/webhooks/{endpoint['id']}{suffix}", **kwargs)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert other_api.get("/v1/webhooks").json()["data"] == []
    after = api.get(f"/v1/webhooks/{endpoint['id']}").json()["data"]
    assert after["description"] is None
    assert after["status"] == "active"


def test_another_workspace_cannot_retry_a_delivery(api: Api, other_api: Api) -> None:
    endpoint = create(api)
    api.post(f"/v1/webhooks/{endpoint['id']}/test")
    (delivery,) = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"]
    path = f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry"
    assert other_api.post(path).status_code == 404
    other_endpoint = create(other_api)
    foreign = f"/v1/webhooks/{other_endpoint['id']}/deliveries/{delivery['id']}/retry"
    assert other_api.post(foreign).status_code == 404
    assert api.post(f"/v1/webhooks/{endpoint['id']}/deliveries/del_nope/retry").status_code == 404


# --- rotation -------------------------------------------------------------------------------------


def test_rotate_secret_answers_a_new_secret_once(api: Api) -> None:
    endpoint = create(api)
    response = api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotated = response.json()["data"]
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != endpoint["secret"]
    assert "secret" not in api.get(f"/v1/webhooks/{endpoint['id']}").json()["data"]


def test_after_rotation_deliveries_verify_with_both_secrets_for_a_day(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    old = endpoint["secret"]
    new = api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret").json()["data"]["secret"]
    api.make_client()
    deliver(http)
    (request,) = receiver.wait_for(1, endpoint["path"])
    assert request.verify(old) == request.verify(new)
    assert len(request.headers["webhook-signature"].split(" ")) == 2

    api.make_client()
    nearly_a_day = Clock()
    nearly_a_day.advance(hours=23, minutes=59)
    deliver(http, nearly_a_day)
    second = receiver.wait_for(2, endpoint["path"])[-1]
    assert second.signed_by(old)
    assert second.signed_by(new)

    api.make_client()
    after_a_day = Clock()
    after_a_day.advance(hours=24, minutes=1)
    deliver(http, after_a_day)
    third = receiver.wait_for(3, endpoint["path"])[-1]
    assert third.signed_by(new)
    assert not third.signed_by(old)
    assert third.headers["webhook-signature"].count("v1,") == 1


def test_rotating_twice_drops_the_first_secret(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    first = endpoint["secret"]
    second = api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret").json()["data"]["secret"]
    third = api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret").json()["data"]["secret"]
    api.make_client()
    deliver(http)
    (request,) = receiver.wait_for(1, endpoint["path"])
    request.verify(third)
    request.verify(second)
    with pytest.raises(WebhookVerificationError):
        request.verify(first)


# --- test events ----------------------------------------------------------------------------------


def test_test_event_goes_to_that_endpoint_only(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    target = make_endpoint(api, receiver)
    bystander = make_endpoint(api, receiver)
    response = api.post(f"/v1/webhooks/{target['id']}/test")
    assert response.status_code == 202, response.text
    event_id = response.json()["data"]["event_id"]
    deliver(http)
    (request,) = receiver.wait_for(1, target["path"])
    payload = request.verify(target["secret"])
    assert payload["id"] == event_id
    assert payload["type"] == "webhook.test"
    assert payload["workspace_id"] == api.workspace_id
    assert payload["data"]["id"] == target["id"]
    assert "secret" not in payload["data"]
    assert receiver.received(bystander["path"]) == []
    assert api.get(f"/v1/webhooks/{bystander['id']}/deliveries").json()["data"] == []
    assert api.get(f"/v1/events/{event_id}").json()["data"] == payload


def test_test_event_reaches_an_endpoint_not_subscribed_to_it(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver, events=["contact.deleted"])
    assert api.post(f"/v1/webhooks/{endpoint['id']}/test").status_code == 202
    deliver(http)
    (request,) = receiver.wait_for(1, endpoint["path"])
    assert request.verify(endpoint["secret"])["type"] == "webhook.test"


# --- deliveries -----------------------------------------------------------------------------------


def test_deliveries_list_shows_each_delivery_with_its_attempts(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.script(endpoint["path"], Reply(500, b"oops"))
    client = api.make_client()
    clock = Clock()
    deliver(http, clock)
    clock.advance(seconds=10)
    deliver(http, clock)
    response = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pagination"]["total"] == 1
    (delivery,) = body["data"]
    event = api.get("/v1/events", params={"object_id": client["id"]}).json()["data"][0]
    assert delivery["id"].startswith("del_")
    assert delivery["endpoint_id"] == endpoint["id"]
    assert delivery["event_id"] == event["id"]
    assert delivery["event_type"] == "client.created"
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_count"] == 2
    assert delivery["last_status_code"] == 200
    assert [
        (a["attempt"], a["status_code"], a["error"], a["response_excerpt"])
        for a in delivery["attempts"]
    ] == [(1, 500, "HTTP 500", "oops"), (2, 200, None, "ok")]
    for attempt in delivery["attempts"]:
        assert attempt["attempted_at"].endswith("Z")
        assert attempt["latency_ms"] >= 0


def test_deliveries_list_paginates_newest_first(api: Api) -> None:
    endpoint = create(api)
    sent = [api.post(f"/v1/webhooks/{endpoint['id']}/test").json()["data"]["event_id"]]
    sent += [api.post(f"/v1/webhooks/{endpoint['id']}/test").json()["data"]["event_id"]]
    sent += [api.post(f"/v1/webhooks/{endpoint['id']}/test").json()["data"]["event_id"]]
    pages = [
        api.get(
            f"/v1/webhooks/{endpoint['id']}/deliveries", params={"per_page": 2, "page": page}
        ).json()
        for page in (1, 2)
    ]
    assert pages[0]["pagination"]["total"] == 3
    listed = [d["event_id"] for page in pages for d in page["data"]]
    assert listed == sent[::-1]
    assert {d["status"] for page in pages for d in page["data"]} == {"pending"}


def test_retry_of_a_pending_delivery_makes_it_due_now(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    endpoint = make_endpoint(api, receiver)
    receiver.script(endpoint["path"], Reply(500))
    api.make_client()
    deliver(http)
    (delivery,) = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"]
    assert delivery["status"] == "pending"
    retried = api.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["data"]["id"] == delivery["id"]
    deliver(http)  # now, without moving the clock past the 5 s backoff
    requests = receiver.wait_for(2, endpoint["path"])
    assert requests[0].webhook_id == requests[1].webhook_id
    after = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"][0]
    assert after["status"] == "succeeded"
    assert after["attempt_count"] == 2


def test_events_before_an_endpoint_existed_are_not_delivered_to_it(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    api.make_client()
    endpoint = make_endpoint(api, receiver)
    deliver(http)
    assert receiver.received(endpoint["path"]) == []
    assert api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"] == []


def test_test_and_live_mode_endpoints_get_their_own_events(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    test_endpoint = make_endpoint(api, receiver)
    live_endpoint = make_endpoint(api.live, receiver)
    test_client = api.make_client()
    live_client = api.live.make_client()
    deliver(http)
    (to_test,) = receiver.wait_for(1, test_endpoint["path"])
    (to_live,) = receiver.wait_for(1, live_endpoint["path"])
    assert to_test.verify(test_endpoint["secret"])["data"]["id"] == test_client["id"]
    assert to_live.verify(live_endpoint["secret"])["data"]["id"] == live_client["id"]
