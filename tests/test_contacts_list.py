"""GET /v1/contacts: filters, search, sorting and pagination (seed "List Contacts", SPEC §3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from tests.support import Api, run_async, runtime_of
from vantage_contacts.models import contacts


def listing(api: Api, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/contacts", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(api: Api, **params: Any) -> list[str]:
    return [contact["id"] for contact in listing(api, per_page=100, **params)["data"]]


def set_columns(api: Api, **values: Any) -> None:
    """Give every contact of the workspace the same values (e.g. one created_at)."""
    database = runtime_of(api.http).database

    async def _run() -> None:
        async with database.write() as conn:
            await conn.execute(
                update(contacts).where(contacts.c.workspace_id == api.workspace_id).values(values)
            )

    run_async(api.http, _run)


# --- the list itself --------------------------------------------------------------------------


def test_empty_workspace_lists_nothing(api: Api) -> None:
    assert listing(api) == {
        "data": [],
        "pagination": {"page": 1, "per_page": 50, "total": 0, "total_pages": 0},
    }


def test_list_returns_full_contact_objects_oldest_first(api: Api) -> None:
    first = api.make_contact(email="a@acme.com", phone="555-123-4567", portal_access="full")
    second = api.make_contact(first["client_id"], email="b@acme.com")

    body = listing(api)

    assert body["data"] == [first, second]
    assert body["pagination"] == {"page": 1, "per_page": 50, "total": 2, "total_pages": 1}


def test_list_shows_only_this_workspace_and_mode(api: Api, other_api: Api) -> None:
    mine = api.make_contact()
    api.live.make_contact()
    other_api.make_contact()

    assert ids(api) == [mine["id"]]
    assert listing(api)["pagination"]["total"] == 1


# --- filters ----------------------------------------------------------------------------------


def test_filter_by_client_id(api: Api) -> None:
    acme, globex = api.make_client()["id"], api.make_client()["id"]
    at_acme = [api.make_contact(acme)["id"], api.make_contact(acme)["id"]]
    at_globex = api.make_contact(globex)["id"]

    assert ids(api, client_id=acme) == at_acme
    assert ids(api, client_id=globex) == [at_globex]
    assert ids(api, client_id="cli_unknown") == []


@pytest.fixture
def flagged(api: Api) -> dict[str, str]:
    """One contact per role flag, one with portal access, one with nothing."""
    client_id = api.make_client()["id"]
    return {
        "primary": api.make_contact(client_id, is_primary=True)["id"],
        "billing": api.make_contact(client_id, is_billing=True)["id"],
        "technical": api.make_contact(client_id, is_technical=True)["id"],
        "portal": api.make_contact(client_id, portal_access="view")["id"],
        "plain": api.make_contact(client_id)["id"],
    }


@pytest.mark.parametrize(
    ("param", "holder"),
    [
        ("is_primary", "primary"),
        ("is_billing", "billing"),
        ("is_technical", "technical"),
        ("has_portal_access", "portal"),
    ],
)
def test_boolean_filters_select_true_and_false(
    api: Api, flagged: dict[str, str], param: str, holder: str
) -> None:
    assert ids(api, **{param: "true"}) == [flagged[holder]]
    others = [contact_id for name, contact_id in flagged.items() if name != holder]
    assert ids(api, **{param: "false"}) == others


def test_has_portal_access_counts_view_and_full(api: Api) -> None:
    client_id = api.make_client()["id"]
    view = api.make_contact(client_id, portal_access="view")["id"]
    full = api.make_contact(client_id, portal_access="full")["id"]
    api.make_contact(client_id, portal_access="none")

    assert ids(api, has_portal_access="true") == [view, full]


def test_portal_disabled_by_update_leaves_the_portal_filter(api: Api) -> None:
    contact = api.make_contact(portal_access="full")
    api.put(f"/v1/contacts/{contact['id']}", json={"portal_access": "none"})

    assert ids(api, has_portal_access="true") == []
    assert ids(api, has_portal_access="false") == [contact["id"]]


def test_filters_combine(api: Api) -> None:
    acme, globex = api.make_client()["id"], api.make_client()["id"]
    wanted = api.make_contact(acme, is_billing=True, name="Ann Bell")["id"]
    api.make_contact(acme, name="Ann Other")
    api.make_contact(globex, is_billing=True, name="Ann Else")

    assert ids(api, client_id=acme, is_billing="true", search="ann") == [wanted]


@pytest.mark.parametrize(
    "params",
    [
        {"is_primary": "maybe"},
        {"has_portal_access": "2"},
        {"sort": "email"},
        {"sort": "-id"},
        {"per_page": "0"},
        {"per_page": "101"},
        {"page": "0"},
        {"page": "x"},
    ],
)
def test_invalid_query_values_are_400(api: Api, params: dict[str, str]) -> None:
    response = api.get("/v1/contacts", params=params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["field"] == next(iter(params))


# --- search -----------------------------------------------------------------------------------


def test_search_matches_name_case_insensitively(api: Api) -> None:
    client_id = api.make_client()["id"]
    john = api.make_contact(client_id, name="John Smith")["id"]
    api.make_contact(client_id, name="Jane Doe")

    for term in ("john", "SMITH", "n Sm", "  john smith "):
        assert ids(api, search=term) == [john], term


def test_search_matches_email_case_insensitively(api: Api) -> None:
    client_id = api.make_client()["id"]
    john = api.make_contact(client_id, name="J", email="John.Smith@Acme.com")["id"]
    jane = api.make_contact(client_id, name="K", email="jane@globex.com")["id"]

    assert ids(api, search="john.smith@acme") == [john]
    assert ids(api, search="ACME.COM") == [john]
    assert ids(api, search=".com") == [john, jane]


def test_search_ignores_accents_either_way(api: Api) -> None:
    client_id = api.make_client()["id"]
    zoe = api.make_contact(client_id, name="Zoë Ångström")["id"]
    plain = api.make_contact(client_id, name="Zoe Angstrom")["id"]
    chloe = api.make_contact(client_id, name="Chloé")["id"]

    assert ids(api, search="zoe") == [zoe, plain]
    assert ids(api, search="ZOË") == [zoe, plain]
    assert ids(api, search="angstrom") == [zoe, plain]
    assert ids(api, search="chloe") == [chloe]


@pytest.mark.parametrize(
    ("names", "term", "expected"),
    [
        (["100% Legit", "100 Legit"], "100%", [0]),
        (["a_b Jones", "axb Jones"], "a_b", [0]),
        (["Back\\slash", "Backslash"], "k\\s", [0]),
    ],
)
def test_search_treats_like_wildcards_as_literal_text(
    api: Api, names: list[str], term: str, expected: list[int]
) -> None:
    client_id = api.make_client()["id"]
    made = [api.make_contact(client_id, name=name)["id"] for name in names]

    assert ids(api, search=term) == [made[i] for i in expected]


def test_percent_and_underscore_alone_match_only_literal_text(api: Api) -> None:
    client_id = api.make_client()["id"]
    api.make_contact(client_id, name="Plain Name", email="plain@acme.com")
    underscored = api.make_contact(client_id, name="U", email="first_last@acme.com")["id"]

    assert ids(api, search="%") == []
    assert ids(api, search="_") == [underscored]


@pytest.mark.parametrize(
    "term",
    ["(555) 123-4567", "555-123-4567", "555.123.4567", "5551234567", "+1 555 123 4567", "1234567"],
)
def test_search_finds_a_contact_by_phone_digits_in_any_format(api: Api, term: str) -> None:
    client_id = api.make_client()["id"]
    by_phone = api.make_contact(client_id, name="A", phone="+1 (555) 123-4567")["id"]
    by_mobile = api.make_contact(client_id, name="B", mobile="555 123 4567")["id"]
    api.make_contact(client_id, name="C", phone="+1 (555) 987-6543")

    assert ids(api, search=term) == [by_phone, by_mobile]


def test_search_by_international_phone(api: Api) -> None:
    client_id = api.make_client()["id"]
    london = api.make_contact(client_id, name="L", phone="+44 20 7946 0958")["id"]
    api.make_contact(client_id, name="N", phone="+1 (555) 123-4567")

    assert ids(api, search="+44 20 7946 0958") == [london]
    assert ids(api, search="20 7946 0958") == [london]


def test_search_follows_updates(api: Api) -> None:
    contact = api.make_contact(name="Old Name", email="old@acme.com", phone="555-123-4567")
    api.put(
        f"/v1/contacts/{contact['id']}",
        json={"name": "New Name", "email": "new@acme.com", "phone": None},
    )

    assert ids(api, search="old") == []
    assert ids(api, search="5551234567") == []
    assert ids(api, search="new name") == [contact["id"]]
    assert ids(api, search="new@acme") == [contact["id"]]


def test_search_does_not_match_across_fields(api: Api) -> None:
    contact = api.make_contact(name="John Smith", email="js@acme.com")
    assert ids(api, search="smithjs") == []
    assert ids(api, search="smith js") == []
    assert ids(api, search="js@") == [contact["id"]]


def test_blank_search_lists_everything(api: Api) -> None:
    client_id = api.make_client()["id"]
    made = [api.make_contact(client_id)["id"] for _ in range(2)]
    assert ids(api, search="") == made
    assert ids(api, search="   ") == made


def test_search_counts_only_matches(api: Api) -> None:
    client_id = api.make_client()["id"]
    for name in ("Ann A", "Ann B", "Ann C", "Bob"):
        api.make_contact(client_id, name=name)

    body = listing(api, search="ann", per_page=2)
    assert body["pagination"] == {"page": 1, "per_page": 2, "total": 3, "total_pages": 2}


# --- sorting ----------------------------------------------------------------------------------


def test_sort_by_created_at_both_ways_and_default(api: Api) -> None:
    client_id = api.make_client()["id"]
    made = [api.make_contact(client_id)["id"] for _ in range(3)]

    assert ids(api) == made
    assert ids(api, sort="created_at") == made
    assert ids(api, sort="-created_at") == made[::-1]


def test_sort_by_name_ignores_case_and_accents(api: Api) -> None:
    client_id = api.make_client()["id"]
    by_name = {
        name: api.make_contact(client_id, name=name)["id"]
        for name in ("charlie", "Émile", "Bravo", "alpha", "delta")
    }
    expected = [by_name[n] for n in ("alpha", "Bravo", "charlie", "delta", "Émile")]

    assert ids(api, sort="name") == expected
    assert ids(api, sort="-name") == expected[::-1]


def test_sort_by_name_orders_word_by_word(api: Api) -> None:
    client_id = api.make_client()["id"]
    anna = api.make_contact(client_id, name="Anna")["id"]
    ann_b = api.make_contact(client_id, name="Ann  B")["id"]
    ann = api.make_contact(client_id, name="Ann")["id"]

    assert ids(api, sort="name") == [ann, ann_b, anna]


def test_sort_by_updated_at(api: Api) -> None:
    client_id = api.make_client()["id"]
    first, second, third = (api.make_contact(client_id)["id"] for _ in range(3))
    api.put(f"/v1/contacts/{first}", json={"title": "touched second"})
    api.put(f"/v1/contacts/{second}", json={"title": "touched last"})
    # third was last written when it was created, before either update.

    assert ids(api, sort="updated_at") == [third, first, second]
    assert ids(api, sort="-updated_at") == [second, first, third]


# --- pagination -------------------------------------------------------------------------------


def test_pagination_reports_total_and_total_pages(api: Api) -> None:
    client_id = api.make_client()["id"]
    made = [api.make_contact(client_id)["id"] for _ in range(5)]

    pages = [listing(api, per_page=2, page=page) for page in (1, 2, 3, 4)]

    assert [[c["id"] for c in page["data"]] for page in pages] == [
        made[0:2],
        made[2:4],
        made[4:5],
        [],
    ]
    for number, page in enumerate(pages, start=1):
        assert page["pagination"] == {"page": number, "per_page": 2, "total": 5, "total_pages": 3}


@pytest.mark.parametrize("per_page", [2, 3])
@pytest.mark.parametrize(
    "sort", ["created_at", "-created_at", "name", "-name", "updated_at", "-updated_at"]
)
def test_walking_pages_with_equal_sort_keys_never_repeats_or_skips(
    api: Api, per_page: int, sort: str
) -> None:
    client_id = api.make_client()["id"]
    made = {api.make_contact(client_id, name="Same Name")["id"] for _ in range(10)}
    moment = datetime(2026, 1, 20, 14, 30, tzinfo=UTC)
    set_columns(api, created_at=moment, updated_at=moment)

    seen: list[str] = []
    page = 1
    while True:
        body = listing(api, per_page=per_page, page=page, sort=sort)
        assert body["pagination"]["total"] == 10
        if not body["data"]:
            break
        seen.extend(contact["id"] for contact in body["data"])
        page += 1

    assert page - 1 == body["pagination"]["total_pages"] == -(-10 // per_page)
    assert len(seen) == len(set(seen)) == 10
    assert set(seen) == made
    # Ties are broken by id, in the sort's direction.
    assert seen == sorted(seen, reverse=sort.startswith("-"))
