"""The API key as clients send it: `Authorization: Api-Key <key>` or `Authorization: Bearer <key>`, one set of rules."""

import json

import pytest
from django.test import Client

from integrations.api_keys import api_key_create, api_key_revoke

from .conftest import api_order

pytestmark = pytest.mark.django_db
CHALLENGE = "Api-Key, Bearer"


def _get(authorization=None, path="/api/v1/orders/", client=None):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return (client or Client()).get(path, **headers)


def _refused(response) -> bool:
    return (
        response.status_code == 401
        and response.json()["error"]["code"] == "not_authenticated"
        and response["WWW-Authenticate"] == CHALLENGE
    )


def test_a_bearer_key_is_accepted_as_an_api_key_is(partner_a, product_a):
    key = api_key_create(partner=partner_a, name="CRM").key
    created = Client().post(
        "/api/v1/orders/",
        json.dumps(api_order()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert created.status_code == 201, created.content

    as_api_key = _get(f"Api-Key {key}")
    as_bearer = _get(f"Bearer {key}")
    as_lower_bearer = _get(f"bearer {key}")

    assert as_api_key.status_code == as_bearer.status_code == as_lower_bearer.status_code == 200
    assert as_api_key.json() == as_bearer.json() == as_lower_bearer.json()
    assert [order["id"] for order in as_bearer.json()["results"]] == [created.json()["id"]]


def test_a_revoked_or_wrong_key_with_bearer_is_refused_as_with_api_key(partner_a, product_a, user_a):
    issued = api_key_create(partner=partner_a, name="old")
    assert _get(f"Bearer {issued.key}").status_code == 200
    api_key_revoke(key=issued.record, actor=user_a)

    for scheme in ("Api-Key", "Bearer"):
        assert _refused(_get(f"{scheme} {issued.key}")), scheme
        assert _refused(_get(f"{scheme} kl_live_deadbeef_nope")), scheme


def test_bearer_with_no_key_is_refused(partner_a):
    for header in ("Bearer", "Bearer ", "Api-Key", "Api-Key "):
        assert _refused(_get(header)), header


def test_no_key_or_another_scheme_is_refused_offering_both_schemes(partner_a):
    assert _refused(_get())
    assert _refused(_get("Basic dXNlcjpwYXNz"))


def test_a_session_cookie_is_still_refused(partner_a, login, user_a):
    assert _refused(_get(client=login(user_a)))


def test_the_schema_lists_the_bearer_scheme_beside_the_api_key(client):
    spec = client.get("/api/v1/schema/?format=json").json()

    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        **schemes["ApiKey"],
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
    }
    assert schemes["Bearer"] == {**schemes["Bearer"], "type": "http", "scheme": "bearer"}
    operations = [op for path in spec["paths"].values() for op in path.values() if isinstance(op, dict)]
    keyed = [op for op in operations if op["operationId"] != "statuses"]  # the status graph is public
    assert keyed and all(op["security"] == [{"ApiKey": []}, {"Bearer": []}] for op in keyed)
