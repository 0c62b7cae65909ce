"""One definition of the order contract: the API's schema is built from the intake's own limits and lists, so it
promises nothing the intake refuses; the Excel template and the pull connectors take their fields from the same list."""

import json
import re
from decimal import Decimal

import pytest
from django.test import Client

from integrations import connectors, excel
from integrations.api import serializers as api_serializers
from orders import intake
from orders.models import Order
from orders.statuses import DeliveryKind
from tests.integrations.conftest import api_order

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    """The schema as the API serves it, made once for these tests."""
    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return json.loads(response.content)


def _resolve(spec, node):
    while "$ref" in node or "allOf" in node:
        node = node["allOf"][0] if "allOf" in node else node
        if "$ref" in node:
            node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _order_schema(spec):
    return spec["components"]["schemas"]["OrderInRequest"]["properties"]


def _whole_digits(pattern: str) -> int:
    return int(re.search(r"\\d\{1,(\d+)\}", pattern).group(1))


def test_api_schema_promises_only_what_the_intake_accepts(schema):
    order = _order_schema(schema)
    item = schema["components"]["schemas"]["OrderItemInRequest"]["properties"]
    kinds = _resolve(schema, order["delivery_kind"])["enum"]

    assert (order["items"]["minItems"], order["items"]["maxItems"]) == (1, intake.MAX_ITEMS)
    assert order["phones"]["maxItems"] == intake.MAX_PHONES
    assert (order["distance_km"]["minimum"], order["distance_km"]["maximum"]) == (
        intake.DISTANCE_KM_MIN,
        intake.DISTANCE_KM_MAX,
    )
    assert kinds == list(intake.delivery_kind_names())
    assert set(DeliveryKind.values) | set(intake.DELIVERY_KIND_ALIASES) <= set(kinds)
    assert all(intake.delivery_kind_of(kind) in DeliveryKind.values for kind in kinds)
    assert {
        name: order[name]["maxLength"] for name in ("external_id", "customer_name", "address", "comment")
    } == {
        "external_id": intake.EXTERNAL_ID_MAX_LENGTH,
        "customer_name": intake.CUSTOMER_NAME_MAX_LENGTH,
        "address": intake.ADDRESS_MAX_LENGTH,
        "comment": intake.COMMENT_MAX_LENGTH,
    }
    assert (item["sku"]["maxLength"], item["quantity"]["minimum"], item["quantity"]["maximum"]) == (
        intake.SKU_MAX_LENGTH,
        1,
        intake.MAX_QUANTITY,
    )
    largest = len(str(int(intake.MAX_AMOUNT)))
    assert _whole_digits(order["cod_amount"]["pattern"]) == _whole_digits(item["price"]["pattern"]) == largest
    bulk = schema["components"]["schemas"]["BulkOrdersInRequest"]["properties"]["orders"]
    assert bulk["maxItems"] == api_serializers.MAX_BULK
    # the orders' own delivery kind stays the four codes
    assert schema["components"]["schemas"]["DeliveryKindEnum"]["enum"] == DeliveryKind.values


def test_the_intakes_field_list_exists_once(schema):
    order = schema["components"]["schemas"]["OrderInRequest"]["properties"]
    item = schema["components"]["schemas"]["OrderItemInRequest"]["properties"]
    template = [name for name, *_rest in excel.COLUMNS]

    assert list(order) == list(intake.ORDER_FIELDS)
    assert list(item) == list(intake.ITEM_FIELDS)
    # the template: every intake field but the list-valued ones, its phones as two columns
    assert set(template) == set(intake.ORDER_FIELDS + intake.ITEM_FIELDS) - {"phones", "items"} | {"phone_2"}
    assert set(excel.ORDER_FIELDS) == set(template) - {"external_id", *intake.ITEM_FIELDS}
    assert excel.ITEM_FIELDS == connectors.ITEM_FIELDS == list(intake.ITEM_FIELDS)
    assert set(connectors.DEFAULT_MAPPING) == (
        set(intake.ORDER_FIELDS) - {"phones"} | {f"items.{name}" for name in intake.ITEM_FIELDS}
    )


def _at_the_limits(schema, **overrides) -> dict:
    """An order at every limit the schema declares: the longest texts, the most items and phones, the farthest
    distance, the largest quantities and sums."""
    order = _order_schema(schema)
    item = schema["components"]["schemas"]["OrderItemInRequest"]["properties"]
    whole = _whole_digits(order["cod_amount"]["pattern"])
    body = api_order(
        external_id="X" * order["external_id"]["maxLength"],
        customer_name="Я" * order["customer_name"]["maxLength"],
        phones=[f"+7 701 111 22 3{i}" for i in range(order["phones"]["maxItems"])],
        address="д" * order["address"]["maxLength"],
        distance_km=order["distance_km"]["maximum"],
        comment="к" * order["comment"]["maxLength"],
        items=[{"sku": "A-1", "quantity": item["quantity"]["maximum"], "price": "0.01"}]
        * order["items"]["maxItems"],
        cod_amount=f"{'9' * whole}.99",
    )
    del body["phone"]
    body.update(overrides)
    return body


def test_an_order_at_the_schemas_limits_is_taken(api_a, schema):
    response = api_a.post("/api/v1/orders/", _at_the_limits(schema))

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert (order.items.count(), order.phones.count()) == (intake.MAX_ITEMS, intake.MAX_PHONES)
    assert (order.distance_km, order.cod_amount) == (Decimal(intake.DISTANCE_KM_MAX), intake.MAX_AMOUNT)
    low = api_a.post(
        "/api/v1/orders/",
        _at_the_limits(
            schema,
            external_id="LOW",
            distance_km=_order_schema(schema)["distance_km"]["minimum"],
            items=[{"sku": "A-1", "quantity": 1, "price": "0"}],
            cod_amount="0",
        ),
    )
    assert low.status_code == 201, low.content


def test_every_delivery_kind_the_schema_lists_is_taken(api_a, schema):
    kinds = _resolve(schema, _order_schema(schema)["delivery_kind"])["enum"]
    orders = [
        api_order(
            external_id=f"K-{index}",
            delivery_kind=kind,
            city="Талгар" if intake.delivery_kind_of(kind) == DeliveryKind.FIELD else "Алматы",
        )
        for index, kind in enumerate(kinds)
    ]

    body = api_a.post("/api/v1/orders/bulk/", {"orders": orders}).json()

    assert (body["created"], body["failed"]) == (len(kinds), 0), body


def _past(schema, name):
    order = _order_schema(schema)
    item = schema["components"]["schemas"]["OrderItemInRequest"]["properties"]
    whole = _whole_digits(order["cod_amount"]["pattern"])
    return {
        "items": {"items": [{"sku": "A-1", "quantity": 1}] * (order["items"]["maxItems"] + 1)},
        "phone": {"phones": [f"+7 701 111 22 3{i}" for i in range(order["phones"]["maxItems"] + 1)]},
        "distance_km": {"distance_km": order["distance_km"]["maximum"] + 0.1},
        "external_id": {"external_id": "X" * (order["external_id"]["maxLength"] + 1)},
        "customer_name": {"customer_name": "Я" * (order["customer_name"]["maxLength"] + 1)},
        "address": {"address": "д" * (order["address"]["maxLength"] + 1)},
        "delivery_kind": {"delivery_kind": "teleport"},
        "cod_amount": {"cod_amount": f"1{'0' * whole}.00"},
        "items[0].quantity": {"items": [{"sku": "A-1", "quantity": item["quantity"]["maximum"] + 1}]},
        "items[0].price": {"items": [{"sku": "A-1", "quantity": 1, "price": f"1{'0' * whole}"}]},
    }[name]


@pytest.mark.parametrize(
    "name",
    [
        "items",
        "phone",
        "distance_km",
        "external_id",
        "customer_name",
        "address",
        "delivery_kind",
        "cod_amount",
        "items[0].quantity",
        "items[0].price",
    ],
)
def test_an_order_past_a_schema_limit_is_refused_naming_the_field(api_a, schema, name):
    response = api_a.post("/api/v1/orders/", api_order(**_past(schema, name)))

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], list(error["details"])) == ("validation_error", [name])
    assert not Order.objects.exists()


def test_a_distance_below_the_schemas_minimum_is_refused(api_a, schema):
    below = _order_schema(schema)["distance_km"]["minimum"] - 0.1

    response = api_a.post("/api/v1/orders/", api_order(distance_km=below))

    assert (response.status_code, list(response.json()["error"]["details"])) == (400, ["distance_km"])
