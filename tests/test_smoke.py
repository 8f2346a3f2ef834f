from tests.support import Api


def test_create_and_get_contact(api: Api) -> None:
    contact = api.make_contact(email="john@acme.com")
    response = api.get(f"/v1/contacts/{contact['id']}")
    assert response.status_code == 200
    assert response.json()["data"] == contact
