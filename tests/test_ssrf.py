"""The SSRF guard: webhook URLs on the inside are refused at create, update and delivery.

The shared test app allows private URLs (its receivers listen on loopback); these tests build
an app of their own, on the same database, with `allow_private_webhook_urls` off, as in
production.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.receiver import Receiver, deliver, delivery_rows
from tests.support import Api, make_tenant_keys
from vantage_contacts.app import create_app
from vantage_contacts.config import Settings
from vantage_contacts.webhooks import urls

REFUSED = [
    "http://93.184.216.34/hook",  # https is required
    "https://127.0.0.1/hook",
    "https://127.0.0.2:8443/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://10.0.0.1/hook",
    "https://10.255.255.254/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.1/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://224.0.0.1/hook",
    "https://[ff02::1]/hook",
    "https://2130706433/hook",  # 127.0.0.1 as one decimal number
    "https://0177.0.0.1/hook",  # octal
    "https://0x7f000001/hook",  # hexadecimal
    "https://0x7f.0.0.1/hook",
    "https://127.1/hook",  # short form
    "https://017700000001/hook",  # octal, one number
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "https://user:secret@93.184.216.34/hook",  # credentials in the URL
    "https://:secret@93.184.216.34/hook",
    "https://no-such-host.invalid/hook",  # does not resolve
    "https://93.184.216.34:99999/hook",  # not a valid port
    "ftp://93.184.216.34/hook",
    "//93.184.216.34/hook",
    "https:///hook",
]
PUBLIC = "https://93.184.216.34/hook"


@pytest.fixture(scope="module")
def strict_http(http: TestClient, settings: Settings) -> Iterator[TestClient]:
    """An app as in production: private webhook URLs refused. `http` has migrated the database."""
    strict = settings.model_copy(update={"allow_private_webhook_urls": False})
    with TestClient(create_app(strict), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def strict_api(strict_http: TestClient) -> Api:
    return make_tenant_keys(strict_http)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def assert_unsafe_url(response_status: int, body: dict[str, object]) -> None:
    assert response_status == 422, body
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == "validation_error"
    assert error["field"] == "url"


@pytest.mark.parametrize("url", REFUSED)
def test_create_refuses_urls_on_the_inside(strict_api: Api, url: str) -> None:
    response = strict_api.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert_unsafe_url(response.status_code, response.json())
    assert strict_api.get("/v1/webhooks").json()["data"] == []


@pytest.mark.parametrize("url", REFUSED)
def test_update_refuses_urls_on_the_inside(strict_api: Api, url: str) -> None:
    created = strict_api.post("/v1/webhooks", json={"url": PUBLIC, "events": ["*"]})
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["data"]["id"]
    response = strict_api.put(f"/v1/webhooks/{endpoint_id}", json={"url": url})
    assert_unsafe_url(response.status_code, response.json())
    assert strict_api.get(f"/v1/webhooks/{endpoint_id}").json()["data"]["url"] == PUBLIC


@pytest.mark.parametrize(
    "url",
    [
        PUBLIC,
        "https://93.184.216.34:8443/hooks/vantage?tenant=1",
        "https://8.8.8.8/",
        "https://[2606:4700:4700::1111]/hook",
    ],
)
def test_public_addresses_are_accepted(strict_api: Api, url: str) -> None:
    response = strict_api.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["url"] == url


def test_the_setting_allows_private_urls_for_local_use(api: Api) -> None:
    for url in ("http://127.0.0.1:8080/hook", "http://localhost:3000/hook", "https://10.0.0.5/"):
        response = api.post("/v1/webhooks", json={"url": url, "events": ["*"]})
        assert response.status_code == 201, response.text


def test_delivery_refuses_a_url_that_now_resolves_inside(
    http: TestClient, api: Api, receiver: Receiver
) -> None:
    """An endpoint whose name resolves to loopback by the time of delivery (DNS rebinding): the
    worker resolves again, refuses, connects nowhere, and records the refusal as an attempt."""
    made = [
        api.post("/v1/webhooks", json={"url": url, "events": ["*"]})
        for url in (
            f"https://localhost:{receiver.port}{receiver.path()}",
            f"https://127.0.0.1:{receiver.port}{receiver.path()}",
        )
    ]  # allowed when made, by the permissive app
    assert [r.status_code for r in made] == [201, 201]
    api.make_client()
    deliver(http, allow_private=False)
    assert receiver.received() == []
    for endpoint_id in (r.json()["data"]["id"] for r in made):
        (row,) = delivery_rows(http, api.workspace_id, endpoint_id)
        assert row["status"] == "pending"  # a failed attempt, retried later
        assert row["attempt_count"] == 1
        assert row["last_status_code"] is None
        assert row["last_error"].startswith("refused")
        (delivery,) = api.get(f"/v1/webhooks/{endpoint_id}/deliveries").json()["data"]
        (attempt,) = delivery["attempts"]
        assert attempt["status_code"] is None
        assert "private or reserved address" in attempt["error"]


# --- the resolution itself ------------------------------------------------------------------------


def test_resolve_connects_to_the_address_it_checked() -> None:
    target = asyncio.run(urls.resolve("http://localhost:8080/hook?x=1", True))
    assert target.host == "localhost"
    assert ipaddress.ip_address(target.address).is_loopback
    assert target.port == 8080
    assert target.path == "/hook?x=1"
    assert "localhost" not in target.connect_url  # the checked address, not the name again
    assert target.connect_url.endswith(":8080/hook?x=1")
    assert target.host_header == "localhost:8080"


def test_resolve_refuses_a_name_resolving_inside_unless_allowed() -> None:
    with pytest.raises(urls.UnsafeURL, match="private or reserved"):
        asyncio.run(urls.resolve("https://localhost/hook", False))
    asyncio.run(urls.resolve("https://localhost/hook", True))


def test_resolve_keeps_the_default_port_out_of_the_host_header() -> None:
    target = asyncio.run(urls.resolve("https://93.184.216.34/a", False))
    assert (target.port, target.host_header) == (443, "93.184.216.34")
    assert target.connect_url == "https://93.184.216.34:443/a"
    six = asyncio.run(urls.resolve("https://[2606:4700:4700::1111]:8443/", False))
    assert six.connect_url == "https://[2606:4700:4700::1111]:8443/"
    assert six.host_header == "[2606:4700:4700::1111]:8443"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2001:db8::1",
    ],
)
def test_is_internal_recognises_inside_addresses(address: str) -> None:
    assert urls.is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_is_internal_lets_public_addresses_through(address: str) -> None:
    assert not urls.is_internal(ipaddress.ip_address(address))
