"""The API's orders made straight from the rows (`integrations.api.representation`) are, byte for byte, what
`OrderOutSerializer` (the schema's shape) makes of the same orders read back from the database: the answer of a
create (built from what the intake wrote, nothing read back), a list page, an existing order's 409, in English and in
Russian, for every kind of order."""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Prefetch
from django.utils import translation
from rest_framework.renderers import JSONRenderer

from integrations.api import representation
from integrations.api import serializers as s
from integrations.api_keys import api_key_create
from orders.models import Order, OrderItem, OrderPhone
from orders.statuses import OrderStatus
from tests.factories import ProductFactory

from .conftest import ApiClient, api_order

pytestmark = pytest.mark.django_db


def _read_back(*order_ids: int) -> list[Order]:
    """The orders as the serializer has always been given them (the list's prefetch)."""
    orders = (
        Order.objects.filter(pk__in=order_ids)
        .select_related("city")
        .prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.select_related("product").order_by("id")),
            Prefetch("phones", queryset=OrderPhone.objects.only("id", "order_id", "masked", "position")),
        )
    )
    by_id = {order.pk: order for order in orders}
    return [by_id[order_id] for order_id in order_ids]


def _bytes(data) -> bytes:
    return JSONRenderer().render(data)


BODIES = {
    "one phone, the catalogue's price": api_order(external_id="R-1", items=[{"sku": "A-2", "quantity": 3}]),
    "three phones, two items, a sum of its own, a distance, a date": api_order(
        external_id="R-2",
        phone=None,
        phones=["+7 701 111 22 33", "8 (702) 444-55-66", "+77073334455"],
        items=[
            {"sku": "A-1", "quantity": 2, "price": "12500.5"},
            {"sku": "A-2", "quantity": 1, "price": 990},
        ],
        cod_amount="19 900,50",
        distance_km="12,35",
        requested_delivery_date="25.12.2030",
        comment="  звонить после 12  ",
    ),
    "a field-trip city by its English name, no comment": api_order(
        external_id="R-3", city="Kaskelen", delivery_kind="field", comment=""
    ),
    "post to a settlement outside the list": api_order(
        external_id="R-4", city="Аксу-Аюлы", delivery_kind="почта", postal_index="100200"
    ),
    "a long text and a zero distance": api_order(
        external_id="R-5.x/#:", customer_name="Ё" * 200, address="ул. «Кавычки» & <теги>", distance_km=0
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_created_orders_answer_is_the_serializers_of_the_order_read_back(partner_a, product_a, language):
    ProductFactory(partner=partner_a, sku="A-2", name="Утюг «А»", price="9000.10")
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    for what, body in BODIES.items():
        answer = api.post("/api/v1/orders/", body, HTTP_COOKIE=f"django_language={language}")
        assert answer.status_code == 201, (what, answer.content)

        [order] = _read_back(answer.json()["id"])
        with translation.override("en"):  # the API speaks English whatever the cookie
            assert answer.content == _bytes(s.OrderOutSerializer(order).data), what

        again = api.post("/api/v1/orders/", body)  # the order exists: its answer is the one read back
        assert again.status_code == 409
        assert again.json()["error"]["details"]["order"] == answer.json(), what


def test_a_sandbox_orders_answer_is_the_serializers_too(partner_a):
    ProductFactory(partner=partner_a, sku="A-1", name="Тестовый чайник", price="1.00", is_test=True)
    api = ApiClient(api_key_create(partner=partner_a, name="Sandbox", is_test=True).key)

    answer = api.post("/api/v1/orders/", api_order(items=[{"sku": "A-1", "quantity": 1}]))

    [order] = _read_back(answer.json()["id"])
    assert answer.json()["is_test"] is True
    with translation.override("en"):
        assert answer.content == _bytes(s.OrderOutSerializer(order).data)


def test_a_list_page_is_the_serializers_page(partner_a, product_a):
    ProductFactory(partner=partner_a, sku="A-2", name="Утюг А", price="9000")
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    for body in BODIES.values():
        assert api.post("/api/v1/orders/", body).status_code == 201

    page = api.get("/api/v1/orders/", {"page_size": 3})
    rest = api.get("/api/v1/orders/", {"page_size": 3, "cursor": page.json()["next_cursor"]})

    for answer in (page, rest):
        ids = [order["id"] for order in answer.json()["results"]]
        with translation.override("en"):
            expected = {
                "results": s.OrderOutSerializer(_read_back(*ids), many=True).data,
                "next_cursor": answer.json()["next_cursor"],
            }
        assert answer.content == _bytes(expected)
    assert len(page.json()["results"]) + len(rest.json()["results"]) == len(BODIES)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_status_and_what_a_worked_order_holds(partner_a, product_a, language):
    """Fields intake never sets (a delivery date, a refusal's fault, a closed status), on the orders as read."""
    ProductFactory(partner=partner_a, sku="A-2", name="Утюг А", price="9000")
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    created = api.post(
        "/api/v1/orders/", BODIES["three phones, two items, a sum of its own, a distance, a date"]
    )
    [order] = _read_back(created.json()["id"])
    order.delivery_date = date(2030, 12, 26)
    order.refusal_fault = "damaged"
    order.distance_km = Decimal("999.9")
    order.cod_amount = Decimal("0")
    with translation.override(language):
        for status in [*OrderStatus.values, "no-such-status"]:
            order.status = status
            assert _bytes(representation.orders_out([order])) == _bytes(
                s.OrderOutSerializer([order], many=True).data
            )
