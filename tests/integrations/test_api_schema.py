"""The OpenAPI contract as generated clients take it (issue 17 item 3): the rules the intake holds said in a form
generators accept, every operation's error answers with the one error body, the headers the API sends."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client

from geography.models import City
from integrations.api import idempotency
from integrations.api.idempotency import KEEP_HOURS
from integrations.sandbox import ACTIONS as SANDBOX_ACTIONS
from tests.integrations.conftest import api_order

pytestmark = pytest.mark.django_db

AUTHENTICATED_ERRORS = {"400", "401", "429", "503"}
BODY_ERRORS = {"400", "413", "415"}


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        # in English: the schema's texts are translated, and these tests read the English ones
        response = Client().get("/api/v1/schema/?format=json&lang=en")
    assert response.status_code == 200
    return json.loads(response.content)


def _ref(spec, node):
    while "$ref" in node or "allOf" in node:
        node = node["allOf"][0] if "allOf" in node else node
        if "$ref" in node:
            node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _operations(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _body(spec, response):
    return _ref(spec, response["content"]["application/json"]["schema"])


def test_a_phone_is_required_as_generators_take_it(schema, api_a):
    order = schema["components"]["schemas"]["OrderInRequest"]
    # both optional (an anyOf of required sets is not taken by openapi-python-client), the rule in both texts
    assert not {"phone", "phones"} & set(order["required"])
    assert "anyOf" not in order and "oneOf" not in order
    for name in ("phone", "phones"):
        assert "One of `phone` and `phones` is required" in order["properties"][name]["description"]

    body = api_order()
    del body["phone"]
    refused = api_a.post("/api/v1/orders/", body)

    assert refused.status_code == 400
    assert (
        refused.json()["error"]["code"] == "validation_error"
        and "phone" in refused.json()["error"]["details"]
    )


def test_city_is_an_id_or_a_name(schema, api_a):
    city = schema["components"]["schemas"]["OrderInRequest"]["properties"]["city"]

    assert [variant["type"] for variant in city["oneOf"]] == ["integer", "string"]
    assert set(city) <= {"oneOf", "description"}  # nothing beside the variants that only one of them has
    by_id = api_a.post("/api/v1/orders/", api_order(city=City.objects.get(name="Алматы").pk))
    assert by_id.status_code == 201, by_id.content
    assert by_id.json()["city"]["name"] == "Алматы"


def test_the_postal_index_is_six_digits_and_the_order_says_its_settlement(schema):
    """Issue 20 item 5 (seed 000): `postal_index` in, `settlement` and `postal_index` out; `city` stays `oneOf`."""
    order_in = schema["components"]["schemas"]["OrderInRequest"]["properties"]
    order_out = schema["components"]["schemas"]["OrderOut"]["properties"]

    assert (
        order_in["postal_index"]["type"] == "string"
        and order_in["postal_index"]["pattern"] == r"^(?:\d{6})?$"
    )
    assert "postal_index" in order_in["city"]["description"]
    assert "any settlement" in order_in["city"]["oneOf"][1]["description"]
    assert order_out["settlement"]["type"] == order_out["postal_index"]["type"] == "string"
    assert {"settlement", "postal_index"} <= set(schema["components"]["schemas"]["OrderOut"]["required"])


def test_response_headers_are_declared(schema):
    replayed = {}
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        if path == "/api/v1/statuses/":
            continue
        for code in ("429", "503"):  # the throttle and the lost database send Retry-After, and nothing else
            assert set(responses[code]["headers"]) == {"Retry-After"}, (path, method, code)
            assert responses[code]["headers"]["Retry-After"]["schema"]["type"] == "integer"
        names = {p["name"] for p in operation.get("parameters", [])}
        if "Idempotency-Key" in names:
            replayed[operation["operationId"]] = sorted(
                code
                for code, response in responses.items()
                if "Idempotent-Replayed" in response.get("headers", {})
            )
    # the answers an Idempotency-Key stores (2xx and the 409s executing the request found) carry it on replay
    assert replayed == {
        "orders_create": ["201", "409"],
        "orders_bulk_create": ["200"],
        "orders_cancel": ["200", "409"],
        "products_create": ["201", "409"],
        "sandbox_orders_advance": ["200", "409"],
        "claims_create": ["201", "409"],
        "claims_messages_create": ["201", "409"],
    }


def test_the_headers_are_sent_as_declared(api_a):
    first = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="hdr-1")
    again = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="hdr-1")
    exists = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="hdr-2")
    exists_again = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="hdr-2")

    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
    assert (exists_again.status_code, exists_again["Idempotent-Replayed"]) == (409, "true")
    assert "Idempotent-Replayed" not in first and "Idempotent-Replayed" not in exists


def test_every_operation_declares_its_errors_with_the_one_error_body(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        if path == "/api/v1/statuses/":  # no key, no database: nothing but its answer
            assert set(responses) == {"200"}
            continue
        names = {p["name"] for p in operation.get("parameters", [])}
        wanted = set(AUTHENTICATED_ERRORS)
        if method in ("post", "put", "patch"):
            wanted |= BODY_ERRORS | {"403", "409"}
        if "Idempotency-Key" in names:
            wanted |= {"409", "422"}
        if "{" in path:
            wanted.add("404")
        errors = {code for code in responses if int(code) >= 400}
        assert errors == wanted, (path, method)
        for code in errors:
            body = _body(schema, responses[code])
            assert body["required"] == ["error"], (path, method, code)
            error = _ref(schema, body["properties"]["error"])
            assert set(error["properties"]) == {"code", "message", "details"}
            assert error["required"] == ["code", "message"]


def test_details_are_typed_where_they_carry_data(schema):
    def details(operation_id, code):
        for _path, _method, operation in _operations(schema):
            if operation["operationId"] == operation_id:
                error = _ref(schema, _body(schema, operation["responses"][code])["properties"]["error"])
                return _ref(schema, error["properties"]["details"])
        raise AssertionError(operation_id)

    exists = details("orders_create", "409")
    assert exists["required"] == ["id", "order"]
    assert exists["properties"]["order"] == {"$ref": "#/components/schemas/OrderOut"}
    assert set(details("orders_cancel", "409")["properties"]) == {"status", "action"}
    assert set(details("orders_list", "429")["properties"]) == {"retry_after"}
    assert _ref(schema, details("orders_list", "503")["properties"]["saved"])["enum"] == ["no", "unknown"]
    assert details("orders_list", "400")["type"] == "object"


def test_page_size_and_the_sandbox_action_are_bounded(schema):
    for path in ("/api/v1/orders/", "/api/v1/stock/movements/", "/api/v1/balance/entries/"):
        (page_size,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "page_size"]
        assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 500)
    advance = schema["components"]["schemas"]["AdvanceInRequest"]["properties"]["action"]
    assert _ref(schema, advance)["enum"] == list(SANDBOX_ACTIONS)


def test_the_idempotency_keys_lifetime_is_one_number(schema):
    (key,) = [
        p for p in schema["paths"]["/api/v1/orders/"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert idempotency.KEEP_FOR == timedelta(hours=KEEP_HOURS)
    assert f"within {KEEP_HOURS} hours" in key["description"]
    docs = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text()
    assert f"kept {KEEP_HOURS} hours" in docs


def test_a_list_parameter_is_taken_repeated_as_generated_clients_send_it(api_a):
    """`status` is an array in the schema: openapi-python-client (and httpx, requests) send it as
    `status=a&status=b`; that names both statuses, as `status=a,b` does (it once meant only the last one)."""
    api_a.post("/api/v1/orders/", api_order(external_id="R-1"))

    def found(query):
        response = api_a.get(f"/api/v1/orders/?{query}")
        assert response.status_code == 200, response.content
        return [order["external_id"] for order in response.json()["results"]]

    assert found("status=to_send&status=calling") == found("status=calling,to_send") == ["R-1"]
    assert found("status=calling&status=to_send") == ["R-1"]
    assert found("status=calling&status=paid") == []
    assert api_a.get("/api/v1/orders/?status=to_send&status=bogus").status_code == 400


def test_a_created_order_links_to_the_operations_on_it(schema):
    """OpenAPI links by the answer's `id` (followed by the stateful run in tests/test_api_fuzz.py)."""
    operations = {operation["operationId"]: operation for _path, _method, operation in _operations(schema)}

    def links(operation_id, code):
        return {
            name: (link["operationId"], link["parameters"])
            for name, link in operations[operation_id]["responses"][code]["links"].items()
        }

    by_id = {"order_id": "$response.body#/id"}
    assert links("orders_create", "201") == {
        name: (name, by_id) for name in ("orders_retrieve", "orders_history", "orders_cancel")
    }
    assert links("orders_cancel", "200") == {
        name: (name, by_id) for name in ("orders_retrieve", "orders_history")
    }
    for operation_id, _code in (("orders_create", "201"), ("orders_cancel", "200")):
        for target, _parameters in links(operation_id, _code).values():
            assert "/{order_id}/" in next(
                path for path, _m, op in _operations(schema) if op["operationId"] == target
            )
