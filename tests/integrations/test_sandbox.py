"""The sandbox is a world of its own: a sandbox key's catalogue, order numbers, stock, balance, Idempotency-Keys and
webhooks never meet the live ones; its advance endpoint is idempotent, typed and able to make a call.

The sandbox's balance: tests/billing/test_pages.py; its Idempotency-Keys: tests/integrations/test_idempotency.py;
the demo's sandbox key: tests/integrations/test_demo_key.py."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookEvent
from orders import workflow
from orders.models import Order, OrderHistory
from tests.factories import ProductFactory, put_stock
from tests.integrations.conftest import api_order

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    return response.json()["error"]


@pytest.fixture
def sandbox_product(partner_a):
    return ProductFactory(
        partner=partner_a, sku="A-1", name="Тестовый чайник", price="12500.00", is_test=True
    )


def _advance(api, order_id, body=None, **headers):
    return api.post(f"/api/v1/sandbox/orders/{order_id}/advance/", body or {}, **headers)


def _calling_test_order(api) -> dict:
    order = api.post("/api/v1/orders/", api_order(external_id="SB-CALL")).json()
    for _step in ("send", "start_calling"):
        assert _advance(api, order["id"]).status_code == 200
    return order


# -- catalogue ---------------------------------------------------------------------------------------------------


def test_a_sandbox_key_has_a_catalogue_of_its_own_and_never_changes_the_live_one(
    api_a, api_a_test, product_a
):
    live_price = product_a.price

    created = api_a_test.post("/api/v1/products/", {"sku": "A-1", "name": "Тестовый чайник", "price": "1.00"})
    patched_live = api_a_test.patch(f"/api/v1/products/{product_a.pk}/", {"price": "1.00"})
    read_live = api_a_test.get(f"/api/v1/products/{product_a.pk}/")
    sandbox_order = api_a_test.post("/api/v1/orders/", api_order(items=[{"sku": "A-1", "quantity": 1}]))
    live_order = api_a.post("/api/v1/orders/", api_order(items=[{"sku": "A-1", "quantity": 1}]))

    assert (created.status_code, created.json()["sku"]) == (201, "A-1")
    assert patched_live.status_code == 404 and read_live.status_code == 404
    product_a.refresh_from_db()
    assert product_a.price == live_price and product_a.is_test is False
    assert [p["id"] for p in api_a_test.get("/api/v1/products/").json()] == [created.json()["id"]]
    assert product_a.pk not in [p["id"] for p in api_a_test.get("/api/v1/products/").json()]
    assert created.json()["id"] not in [p["id"] for p in api_a.get("/api/v1/products/").json()]
    assert sandbox_order.json()["items"][0]["price"] == "1.00"  # the sandbox product's price
    assert live_order.json()["items"][0]["price"] == f"{live_price:.2f}"
    assert api_a_test.patch(f"/api/v1/products/{created.json()['id']}/", {"price": "2.00"}).status_code == 200
    assert api_a.patch(f"/api/v1/products/{created.json()['id']}/", {"price": "2.00"}).status_code == 404


def test_a_test_order_names_only_sandbox_products(api_a_test, product_a):
    response = api_a_test.post("/api/v1/orders/", api_order())

    assert response.status_code == 400
    assert _error(response)["details"]["items[0].sku"] == [
        "Unknown SKU “A-1” in the sandbox catalogue: add the product with your sandbox key first "
        "(POST /api/v1/products/)."
    ]
    assert not Order.objects.exists()


# -- order numbers -----------------------------------------------------------------------------------------------


def test_a_test_order_never_takes_the_number_of_a_live_one(api_a, api_a_test, sandbox_product):
    sandbox = api_a_test.post("/api/v1/orders/", api_order(external_id="CRM-1"))
    live = api_a.post("/api/v1/orders/", api_order(external_id="CRM-1"))
    live_again = api_a.post("/api/v1/orders/", api_order(external_id="CRM-1"))

    assert (sandbox.status_code, live.status_code) == (201, 201), live.content
    assert (_error(live_again)["code"], _error(live_again)["details"]["id"]) == (
        "order_exists",
        live.json()["id"],
    )
    assert sorted(Order.objects.values_list("external_id", "is_test")) == [("CRM-1", False), ("CRM-1", True)]


# -- stock ------------------------------------------------------------------------------------------------------


def test_a_sandbox_key_never_sees_live_stock(api_a, api_a_test, product_a):
    put_stock(product_a, "Алматы", 7)

    live = api_a.get("/api/v1/stock/").json()
    sandbox = api_a_test.get("/api/v1/stock/")
    sandbox_moves = api_a_test.get("/api/v1/stock/movements/")

    assert [(row["sku"], row["city"], row["free"]) for row in live] == [("A-1", "Алматы", 7)]
    assert api_a.get("/api/v1/stock/movements/").json()["results"] != []
    assert (sandbox.status_code, sandbox.json()) == (200, [])
    assert (sandbox_moves.status_code, sandbox_moves.json()) == (200, {"results": [], "next_cursor": None})
    assert api_a_test.get("/api/v1/stock/", {"city": "Атлантида"}).status_code == 400  # still checked
    assert api_a_test.get("/api/v1/stock/movements/", {"cursor": "junk"}).status_code == 400


# -- the advance endpoint ----------------------------------------------------------------------------------------


def test_the_sandbox_advance_honours_the_idempotency_key(api_a_test, sandbox_product):
    order = api_a_test.post("/api/v1/orders/", api_order(external_id="SB-1")).json()

    first = _advance(api_a_test, order["id"], HTTP_IDEMPOTENCY_KEY="advance-1")
    retry = _advance(api_a_test, order["id"], HTTP_IDEMPOTENCY_KEY="advance-1")
    other_body = _advance(api_a_test, order["id"], {"action": "cancel"}, HTTP_IDEMPOTENCY_KEY="advance-1")

    assert (first.status_code, first.json()["status"]) == (200, "sent")
    assert retry["Idempotent-Replayed"] == "true" and retry.content == first.content
    assert other_body.status_code == 422
    assert Order.objects.get(pk=order["id"]).status == "sent"  # one step, not two
    assert list(OrderHistory.objects.filter(order_id=order["id"]).values_list("action", flat=True)) == [
        "create",
        "send",
    ]


def test_the_sandbox_advance_action_is_an_enum_in_the_schema(client):
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]

    def enum_of(field: str) -> list[str]:
        [reference] = components["AdvanceInRequest"]["properties"][field]["allOf"]
        return components[reference["$ref"].rsplit("/", 1)[1]]["enum"]

    assert enum_of("action") == [
        "cancel",
        "send",
        "wait_for_stock",
        "await_receipt",
        "start_calling",
        "agree_delivery",
        "return_to_calling",
        "add_to_registry",
        "hand_to_courier",
        "mark_paid",
        "refuse",
        "ship_by_post",
        "post_paid",
        "post_returned",
        "close_not_reached",
        "call",
    ]
    assert enum_of("outcome") == [
        "no_answer",
        "busy",
        "wrong_number",
        "agreed",
        "postponed",
        "callback",
        "refused",
        "escalated",
    ]


def test_a_bad_date_or_action_in_the_sandbox_is_a_400_validation_error_and_changes_nothing(
    api_a_test, sandbox_product
):
    order = _calling_test_order(api_a_test)

    bad_date = _advance(api_a_test, order["id"], {"action": "agree_delivery", "delivery_date": "31.02.2026"})
    past_date = _advance(api_a_test, order["id"], {"action": "agree_delivery", "delivery_date": "2020-01-01"})
    bad_action = _advance(api_a_test, order["id"], {"action": "teleport"})

    assert (bad_date.status_code, _error(bad_date)["code"]) == (400, "validation_error")
    assert list(_error(bad_date)["details"]) == ["delivery_date"]
    assert (past_date.status_code, _error(past_date)["code"]) == (400, "validation_error")
    assert _error(past_date)["details"] == {"delivery_date": ["The delivery date 01.01.2020 is in the past."]}
    assert (bad_action.status_code, _error(bad_action)["code"]) == (400, "validation_error")
    assert list(_error(bad_action)["details"]) == ["action"]
    assert Order.objects.get(pk=order["id"]).status == "calling"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "call", "outcome": "postponed", "delivery_date": "2020-01-01"},
        {"action": "call", "outcome": "callback", "delivery_date": "2020-01-01"},
        {"action": "call", "outcome": "agreed", "delivery_date": "2020-01-01"},
        {"action": "agree_delivery", "delivery_date": "2020-01-01"},
    ],
)
def test_a_past_date_is_a_400_for_every_sandbox_action_and_outcome_that_takes_a_date(
    api_a_test, user_a, sandbox_product, body
):
    webhooks.endpoint_create(
        actor=user_a, url="https://crm.example.kz/sandbox", events=["call.attempted"], is_test=True
    )
    order = _calling_test_order(api_a_test)

    response = _advance(api_a_test, order["id"], body)

    assert (response.status_code, _error(response)["code"]) == (400, "validation_error")
    assert _error(response)["details"] == {"delivery_date": ["The delivery date 01.01.2020 is in the past."]}
    assert Order.objects.get(pk=order["id"]).status == "calling"
    assert not WebhookEvent.objects.filter(type="call.attempted").exists()


@pytest.mark.parametrize("outcome", ["postponed", "callback"])
def test_a_sandbox_call_takes_no_date_further_ahead_than_a_delivery_may_be_agreed(
    api_a_test, sandbox_product, outcome
):
    order = _calling_test_order(api_a_test)
    today = timezone.localdate(timezone=ZoneInfo(Order.objects.get(pk=order["id"]).city.timezone))
    latest = today + timedelta(days=workflow.DELIVERY_DAYS_AHEAD)

    too_far = _advance(
        api_a_test,
        order["id"],
        {"action": "call", "outcome": outcome, "delivery_date": (latest + timedelta(days=1)).isoformat()},
    )
    furthest = _advance(
        api_a_test, order["id"], {"action": "call", "outcome": outcome, "delivery_date": latest.isoformat()}
    )

    assert (too_far.status_code, _error(too_far)["details"]) == (
        400,
        {"delivery_date": [f"At most two months ahead: {latest:%d.%m.%Y} at the latest."]},
    )
    assert furthest.status_code == 200


def test_a_sandbox_call_sends_call_attempted_to_the_sandbox_endpoints_only(
    api_a_test, user_a, sandbox_product
):
    live, _secret = webhooks.endpoint_create(
        actor=user_a, url="https://crm.example.kz/live", events=["call.attempted"]
    )
    sandbox, _secret = webhooks.endpoint_create(
        actor=user_a,
        url="https://crm.example.kz/sandbox",
        events=["call.attempted", "delivery.problem"],
        is_test=True,
    )
    order = _calling_test_order(api_a_test)

    response = _advance(api_a_test, order["id"], {"action": "call", "outcome": "no_answer"})

    assert (response.status_code, response.json()["status"]) == (200, "calling")
    events = WebhookEvent.objects.filter(type__in=["call.attempted", "delivery.problem"]).order_by("type")
    assert [(e.type, e.is_test, e.payload["livemode"]) for e in events] == [
        ("call.attempted", True, False),
        ("delivery.problem", True, False),
    ]
    attempted = events[0].payload["data"]
    assert (attempted["order"]["id"], attempted["outcome"]) == (order["id"], "no_answer")
    assert attempted["next_call_at"] is not None
    assert sorted(WebhookDelivery.objects.values_list("event__type", "endpoint_id")) == [
        ("call.attempted", sandbox.pk),
        ("delivery.problem", sandbox.pk),
    ]
    assert not WebhookDelivery.objects.filter(endpoint=live).exists()


def test_a_sandbox_call_agreed_moves_the_order_as_a_live_call_does(api_a_test, sandbox_product):
    order = _calling_test_order(api_a_test)

    agreed = _advance(api_a_test, order["id"], {"action": "call", "outcome": "agreed"})
    not_now = _advance(
        api_a_test, order["id"], {"action": "call"}
    )  # no_answer while delivery is agreed: recorded
    _advance(api_a_test, order["id"])  # → registry
    too_late = _advance(api_a_test, order["id"], {"action": "call"})

    assert (agreed.status_code, agreed.json()["status"]) == (200, "delivery_agreed")
    assert [
        e.payload["data"]["outcome"]
        for e in WebhookEvent.objects.filter(type="call.attempted").order_by("created_at")
    ] == [
        "agreed",
        "no_answer",
    ]
    assert not_now.status_code == 200
    assert (too_late.status_code, _error(too_late)["code"]) == (409, "not_allowed")
