"""REST API v1: orders, statuses and products through the whole HTTP stack, isolated per partner."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.api_keys import api_key_create, api_key_revoke
from integrations.models import ApiKey
from ketlogistic.core.roles import Role
from orders.models import Order, OrderPhone
from orders.services import order_send
from tests.factories import ProductFactory, make_order, put_stock
from tests.integrations.conftest import ApiClient, api_order

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    return response.json()["error"]


def test_create_one_order_returns_it_with_a_masked_phone(api_a, partner_a):
    response = api_a.post("/api/v1/orders/", api_order())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["external_id"] == "CRM-1"
    assert body["status"] == "to_send" and body["status_name"] == "To send"
    assert body["phones"] == ["+7 *** *** 22 33"]
    assert body["cod_amount"] == "25000.00" and body["currency"] == "KZT"
    assert body["items"] == [{"sku": "A-1", "name": "Чайник А", "quantity": 2, "price": "12500.00"}]
    assert body["city"]["name"] == "Алматы"
    order = Order.objects.get(pk=body["id"])
    assert (order.partner, order.source) == (partner_a, "api")
    assert "7011112233" not in response.content.decode()


def test_validation_errors_name_each_field(api_a):
    response = api_a.post(
        "/api/v1/orders/", api_order(city="Атлантида", phone="12", items=[{"sku": "NOPE", "quantity": -1}])
    )

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation_error"
    assert set(error["details"]) == {"city", "phone", "items[0].sku", "items[0].quantity"}
    assert "Unknown city" in error["details"]["city"][0]
    assert not Order.objects.exists()


def test_the_same_external_id_never_makes_a_second_order(api_a):
    first = api_a.post("/api/v1/orders/", api_order())
    again = api_a.post("/api/v1/orders/", api_order(customer_name="Другой"))

    assert again.status_code == 409
    assert _error(again)["code"] == "order_exists"
    assert _error(again)["details"]["id"] == first.json()["id"]
    assert Order.objects.count() == 1


def test_bulk_keeps_the_valid_orders_and_says_which_failed(api_a):
    orders = [api_order(external_id=f"B-{i}") for i in range(5)]
    orders[1]["phone"] = "nonsense"
    orders[3]["items"] = [{"sku": "A-1", "quantity": 0}]
    api_a.post("/api/v1/orders/", api_order(external_id="B-4"))

    response = api_a.post("/api/v1/orders/bulk/", {"orders": orders})

    body = response.json()
    assert response.status_code == 200
    assert (body["created"], body["existing"], body["failed"]) == (2, 1, 2)
    assert [r["result"] for r in body["results"]] == ["created", "error", "created", "error", "exists"]
    assert "phone" in body["results"][1]["errors"]
    assert "items[0].quantity" in body["results"][3]["errors"]
    assert Order.objects.count() == 3


def test_bulk_refuses_more_than_a_thousand(api_a):
    response = api_a.post(
        "/api/v1/orders/bulk/", {"orders": [api_order(external_id=str(i)) for i in range(1001)]}
    )

    assert response.status_code == 400
    assert "At most 1000" in _error(response)["message"]
    assert not Order.objects.exists()


def test_list_filters_and_cursor_pages(api_a, partner_a, product_a):
    for i in range(5):
        api_a.post("/api/v1/orders/", api_order(external_id=f"L-{i}", city="Шымкент" if i == 2 else "Алматы"))

    first = api_a.get("/api/v1/orders/", {"page_size": 2}).json()
    second = api_a.get("/api/v1/orders/", {"page_size": 2, "cursor": first["next_cursor"]}).json()
    third = api_a.get("/api/v1/orders/", {"page_size": 2, "cursor": second["next_cursor"]}).json()

    ids = [o["external_id"] for page in (first, second, third) for o in page["results"]]
    assert ids == ["L-4", "L-3", "L-2", "L-1", "L-0"]
    assert third["next_cursor"] is None
    assert [
        o["external_id"] for o in api_a.get("/api/v1/orders/", {"city": "Шымкент"}).json()["results"]
    ] == ["L-2"]
    assert [
        o["external_id"] for o in api_a.get("/api/v1/orders/", {"external_id": "L-3"}).json()["results"]
    ] == ["L-3"]
    assert api_a.get("/api/v1/orders/", {"status": "to_send,calling"}).json()["results"]
    assert api_a.get("/api/v1/orders/", {"status": "teleported"}).status_code == 400


LIST_ENDPOINTS = ["/api/v1/orders/", "/api/v1/stock/movements/", "/api/v1/balance/entries/"]
PAGE_SIZE_REFUSED = "page_size must be a whole number from 1 to 500."


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
@pytest.mark.parametrize("page_size", ["0", "-1", "501", "12345678901234567890", "9" * 5000, "ten", "1.5"])
def test_a_page_size_outside_1_to_500_is_a_400_naming_it_never_clamped(api_a, endpoint, page_size):
    response = api_a.get(endpoint, {"page_size": page_size})

    assert response.status_code == 400
    assert _error(response) == {
        "code": "validation_error",
        "message": PAGE_SIZE_REFUSED,
        "details": {"page_size": [PAGE_SIZE_REFUSED]},
    }


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_a_page_size_from_1_to_500_is_taken(api_a, endpoint):
    assert [api_a.get(endpoint, {"page_size": size}).status_code for size in ("1", "500", "")] == [
        200,
        200,
        200,
    ]


def test_the_schema_declares_page_sizes_from_1_to_500_and_the_entry_kinds(client):
    spec = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    spec = json.loads(spec.content)

    for path in LIST_ENDPOINTS:
        [page_size] = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "page_size"]
        assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 500)
    [kind] = [
        p for p in spec["paths"]["/api/v1/balance/entries/"]["get"]["parameters"] if p["name"] == "kind"
    ]
    assert "bogus" not in kind["schema"]["enum"] and {"cod", "payout", "order_fee"} <= set(
        kind["schema"]["enum"]
    )


def test_an_unknown_choice_in_a_filter_is_a_400_on_every_endpoint(api_a):
    statuses = api_a.get("/api/v1/orders/", {"status": "to_send,bogus,zzz"})
    kinds = api_a.get("/api/v1/balance/entries/", {"kind": "bogus"})
    known = api_a.get("/api/v1/balance/entries/", {"kind": "cod"})

    assert (statuses.status_code, _error(statuses)) == (
        400,
        {
            "code": "validation_error",
            "message": "Unknown status: bogus, zzz.",
            "details": {"status": ["Unknown status: bogus, zzz."]},
        },
    )
    assert (kinds.status_code, _error(kinds)) == (
        400,
        {
            "code": "validation_error",
            "message": "Unknown kind: bogus.",
            "details": {"kind": ["Unknown kind: bogus."]},
        },
    )
    assert (known.status_code, known.json()["results"]) == (200, [])


@pytest.mark.parametrize(
    ("endpoint", "parameter", "value", "message"),
    [
        ("/api/v1/orders/", "city", "Атлантида", "Unknown city “Атлантида”."),
        ("/api/v1/orders/", "updated_since", "yesterday", "updated_since must be an ISO 8601 date and time."),
        # well formed but no date: was a 500
        (
            "/api/v1/orders/",
            "updated_since",
            "2026-13-01T00:00:00",
            "updated_since must be an ISO 8601 date and time.",
        ),
        ("/api/v1/stock/", "city", "Атлантида", "Unknown city “Атлантида”."),
        ("/api/v1/stock/movements/", "city", "Атлантида", "Unknown city “Атлантида”."),
        (
            "/api/v1/balance/entries/",
            "since",
            "23.11.2026",
            "Dates are written as 2026-11-23 (years 2000 to 2100).",
        ),
        (
            "/api/v1/balance/entries/",
            "until",
            "1999-12-31",
            "Dates are written as 2026-11-23 (years 2000 to 2100).",
        ),
        ("/api/v1/balance/entries/", "order", "-5", "order must be an order number."),
    ],
)
def test_a_bad_filter_value_is_a_400_validation_error_naming_the_parameter(
    api_a, api_a_test, endpoint, parameter, value, message
):
    for client in (api_a, api_a_test):  # a sandbox key's lists are empty, but the parameters are checked
        response = client.get(endpoint, {parameter: value})

        assert response.status_code == 400
        assert _error(response) == {
            "code": "validation_error",
            "message": message,
            "details": {parameter: [message]},
        }


def test_every_bad_filter_is_named_at_once(api_a):
    response = api_a.get("/api/v1/balance/entries/", {"since": "nope", "kind": "bogus", "order": "x"})

    assert set(_error(response)["details"]) == {"since", "kind", "order"}


def test_the_schemas_list_parameters_are_their_filtersets(client):
    from integrations.api import filters
    from orders.statuses import OrderStatus

    spec = json.loads(client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    lists = {
        "/api/v1/orders/": filters.OrderFilter,
        "/api/v1/products/": filters.ProductFilter,
        "/api/v1/stock/": filters.StockFilter,
        "/api/v1/stock/movements/": filters.StockMoveFilter,
        "/api/v1/balance/entries/": filters.BalanceEntryFilter,
    }

    for path, filterset in lists.items():
        names = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert names - {"cursor", "page_size"} == set(filterset.base_filters), path
    [status] = [p for p in spec["paths"]["/api/v1/orders/"]["get"]["parameters"] if p["name"] == "status"]
    assert (status["schema"]["items"]["enum"], status["explode"]) == (OrderStatus.values, False)


def test_updated_since_returns_changes_oldest_first(api_a, make_user, partner_a, product_a):
    put_stock(product_a, "Алматы", 10)
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    a = api_a.post("/api/v1/orders/", api_order(external_id="U-1")).json()
    b = api_a.post("/api/v1/orders/", api_order(external_id="U-2")).json()
    mark = timezone.now()
    order_send(order=Order.objects.get(pk=a["id"]), actor=head)

    changed = api_a.get("/api/v1/orders/", {"updated_since": mark.isoformat()}).json()["results"]

    assert [o["id"] for o in changed] == [a["id"]]
    assert changed[0]["status"] == "calling"
    assert b["id"] not in [o["id"] for o in changed]


def test_detail_history_and_cancel(api_a):
    order = api_a.post("/api/v1/orders/", api_order()).json()

    assert api_a.get(f"/api/v1/orders/{order['id']}/").json()["external_id"] == "CRM-1"
    cancelled = api_a.post(f"/api/v1/orders/{order['id']}/cancel/", {"reason": "дубль"})
    history = api_a.get(f"/api/v1/orders/{order['id']}/history/").json()

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert [(h["from_status"], h["to_status"], h["source"]) for h in history] == [
        ("", "to_send", "api"),
        ("to_send", "cancelled", "api"),
    ]
    assert history[1]["reason"] == "дубль"


def test_cancel_after_work_started_is_a_conflict(api_a, make_user, partner_a, product_a):
    put_stock(product_a, "Алматы", 10)
    order = api_a.post("/api/v1/orders/", api_order()).json()
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    order_send(order=Order.objects.get(pk=order["id"]), actor=head)

    response = api_a.post(f"/api/v1/orders/{order['id']}/cancel/", {})

    assert response.status_code == 409
    assert _error(response)["code"] == "not_allowed"
    assert Order.objects.get(pk=order["id"]).status == "calling"


def test_another_partners_key_gets_404_everywhere(api_a, api_b):
    order = api_a.post("/api/v1/orders/", api_order()).json()

    for path in (f"/api/v1/orders/{order['id']}/", f"/api/v1/orders/{order['id']}/history/"):
        response = api_b.get(path)
        assert response.status_code == 404, path
        assert "CRM-1" not in response.content.decode()
    assert api_b.post(f"/api/v1/orders/{order['id']}/cancel/", {}).status_code == 404
    assert api_b.get("/api/v1/orders/").json()["results"] == []
    assert api_b.get("/api/v1/orders/", {"external_id": "CRM-1"}).json()["results"] == []
    assert Order.objects.get(pk=order["id"]).status == "to_send"


def test_a_smuggled_foreign_sku_is_unknown(api_a, api_b):
    response = api_b.post("/api/v1/orders/", api_order(items=[{"sku": "A-1", "quantity": 1}]))

    assert response.status_code == 400
    assert "items[0].sku" in _error(response)["details"]


def test_authentication_errors(partner_a, product_a):
    anonymous = ApiClient("")
    anonymous.headers = {}
    assert anonymous.get("/api/v1/orders/").status_code == 401
    assert ApiClient("kl_live_deadbeef_nope").get("/api/v1/orders/").status_code == 401
    issued = api_key_create(partner=partner_a, name="old")
    api_key_revoke(
        key=issued.record,
        actor=type(
            "A",
            (),
            {"role": "administrator", "is_authenticated": True, "partner_id": partner_a.id, "pk": None},
        )(),
    )
    response = ApiClient(issued.key).get("/api/v1/orders/")
    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"


def test_keys_are_stored_only_hashed_and_remember_last_use(partner_a, product_a):
    issued = api_key_create(partner=partner_a, name="CRM")

    record = ApiKey.objects.get()
    assert issued.key not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert issued.key.startswith(record.prefix + "_")
    ApiClient(issued.key).get("/api/v1/orders/")
    record.refresh_from_db()
    assert record.last_used_at is not None


def test_read_only_key_reads_but_cannot_write(partner_a, product_a):
    key = ApiClient(api_key_create(partner=partner_a, name="reader", read_only=True).key)

    assert key.get("/api/v1/orders/").status_code == 200
    assert key.get("/api/v1/products/").status_code == 200
    assert key.post("/api/v1/orders/", api_order()).status_code == 403
    assert key.post("/api/v1/products/", {"sku": "X", "name": "X"}).status_code == 403
    assert not Order.objects.exists()


def test_sandbox_key_makes_test_orders_and_walks_them_through(api_a_test, api_a, partner_a):
    assert api_a_test.post("/api/v1/products/", {"sku": "A-1", "name": "Чайник"}).status_code == 201
    created = api_a_test.post("/api/v1/orders/", api_order(external_id="SB-1")).json()

    assert created["is_test"] is True
    assert api_a.get(f"/api/v1/orders/{created['id']}/").status_code == 404  # live keys never see test orders
    assert api_a.get("/api/v1/orders/").json()["results"] == []
    statuses = []
    for _step in range(6):
        response = api_a_test.post(f"/api/v1/sandbox/orders/{created['id']}/advance/", {})
        assert response.status_code == 200, response.content
        statuses.append(response.json()["status"])
    assert statuses == ["sent", "calling", "delivery_agreed", "in_registry", "with_courier", "paid"]
    assert api_a_test.post(f"/api/v1/sandbox/orders/{created['id']}/advance/", {}).status_code == 409

    other = api_a_test.post("/api/v1/orders/", api_order(external_id="SB-2")).json()
    api_a_test.post(f"/api/v1/sandbox/orders/{other['id']}/advance/", {})
    api_a_test.post(f"/api/v1/sandbox/orders/{other['id']}/advance/", {})
    refused = api_a_test.post(
        f"/api/v1/sandbox/orders/{other['id']}/advance/", {"action": "refuse", "reason": "test refusal"}
    )
    assert refused.json()["status"] == "refused"


def test_live_keys_cannot_use_the_sandbox(api_a):
    order = api_a.post("/api/v1/orders/", api_order()).json()

    response = api_a.post(f"/api/v1/sandbox/orders/{order['id']}/advance/", {})

    assert response.status_code == 403
    assert Order.objects.get(pk=order["id"]).status == "to_send"


def test_status_graph_has_names_transitions_and_finals(client):
    body = client.get("/api/v1/statuses/").json()

    statuses = {s["code"]: s for s in body["statuses"]}
    assert statuses["to_send"]["name_ru"] == "На отправку" and statuses["to_send"]["name_en"] == "To send"
    assert statuses["to_send"]["next"] == ["cancelled", "sent"]
    assert statuses["paid"]["is_final"] and not statuses["calling"]["is_final"]
    assert {
        "action": "cancel",
        "name_ru": "Отменить",
        "name_en": "Cancel",
        "from_statuses": ["to_send"],
        "to_status": "cancelled",
    } in body["actions"]


def test_products_list_create_update_and_isolation(api_a, api_b):
    created = api_a.post("/api/v1/products/", {"sku": "NEW-1", "name": "Фен", "price": "7000.00"})
    duplicate = api_a.post("/api/v1/products/", {"sku": "NEW-1", "name": "Фен 2"})
    updated = api_a.patch(f"/api/v1/products/{created.json()['id']}/", {"price": "6500.00"})

    assert created.status_code == 201
    assert duplicate.status_code == 409 and _error(duplicate)["code"] == "conflict"
    assert updated.json()["price"] == "6500.00"
    assert {p["sku"] for p in api_a.get("/api/v1/products/").json()} == {"A-1", "A-2", "NEW-1"}
    assert {p["sku"] for p in api_b.get("/api/v1/products/").json()} == {"B-1"}
    assert api_b.get(f"/api/v1/products/{created.json()['id']}/").status_code == 404
    assert api_b.patch(f"/api/v1/products/{created.json()['id']}/", {"price": "1"}).status_code == 404


def test_one_error_format_for_bad_bodies(api_a, settings):
    settings.API_MAX_BODY_BYTES = 2000
    cases = {
        "not json": (api_a.post("/api/v1/orders/", raw="{nope"), 400),
        "invalid utf-8": (api_a.post("/api/v1/orders/", raw=b'{"a": "\xff\xfe"}'), 400),
        "deep": (api_a.post("/api/v1/orders/", raw="[" * 50 + "]" * 50), 400),
        "very deep": (api_a.post("/api/v1/orders/", raw="[" * 100000 + "]" * 100000), 413),
        "too large": (api_a.post("/api/v1/orders/bulk/", {"orders": [api_order(comment="x" * 3000)]}), 413),
        "wrong type": (api_a.post("/api/v1/orders/", [1, 2, 3]), 400),
        "not found": (api_a.get("/api/v1/orders/999999/"), 404),
        "method": (api_a.client.delete("/api/v1/orders/", **api_a.headers), 405),
    }
    for name, (response, status) in cases.items():
        assert response.status_code == status, (name, response.content[:200])
        assert set(response.json()) == {"error"}, name
        assert {"code", "message"} <= set(response.json()["error"]), name
    assert not Order.objects.exists()


def test_throttling_per_key(api_a, api_b, settings):
    # no cache.clear(): it would flush the other test workers' keys too; every test has fresh API keys
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min", "api_key_bulk": "3/min"},
    }
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    api_settings.reload()
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        statuses = [api_a.get("/api/v1/orders/").status_code for _ in range(4)]
        other = api_b.get("/api/v1/orders/").status_code
        limited = api_a.get("/api/v1/orders/")
    finally:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"api_key": "1200/min", "api_key_bulk": "120/min"},
        }
        api_settings.reload()
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert statuses == [200, 200, 200, 429]
    assert other == 200
    assert _error(limited)["code"] == "throttled" and "Retry-After" in limited


def test_api_list_queries_do_not_grow_with_rows(api_a, partner_a, product_a):
    make_order(partner_a, product=product_a)
    api_a.get("/api/v1/orders/")  # the key's last use is written at most once a minute
    with CaptureQueriesContext(connection) as few:
        api_a.get("/api/v1/orders/")
    for _ in range(12):
        make_order(partner_a, product=product_a, phones=["+7 701 000 00 01", "+7 701 000 00 02"])
    with CaptureQueriesContext(connection) as many:
        response = api_a.get("/api/v1/orders/")

    assert len(response.json()["results"]) == 13
    assert len(many) == len(few)


def test_schema_is_valid_openapi_and_docs_are_served_locally(client):
    from drf_spectacular.validation import validate_schema

    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    spec = (
        json.loads(schema.content)
        if schema["Content-Type"].startswith("application/vnd.oai.openapi+json")
        else __import__("yaml").safe_load(schema.content)
    )
    validate_schema(spec)
    assert "/api/v1/orders/bulk/" in spec["paths"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"
    docs = client.get("/api/v1/docs/").content.decode()
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs


def test_the_order_api_never_returns_a_plain_phone(api_a):
    api_a.post("/api/v1/orders/", api_order(phone="+7 702 345 67 89"))

    listing = api_a.get("/api/v1/orders/").content.decode()

    assert "7023456789" not in listing and "345 67 89" not in listing
    assert "+7 *** *** 67 89" in listing
    assert OrderPhone.objects.count() == 1


def test_product_choices_of_b_cannot_be_reached_by_a_key(api_a, partner_b):
    foreign = ProductFactory(partner=partner_b, sku="SECRET")

    assert "SECRET" not in api_a.get("/api/v1/products/").content.decode()
    assert api_a.get("/api/v1/products/", {"sku": "SECRET"}).json() == []
    assert api_a.get(f"/api/v1/products/{foreign.id}/").status_code == 404


@pytest.mark.parametrize(
    "values",
    [["x"], [True, "x"], [["nested"]], [{"t": "dt", "v": "2026-01-01T00:00:00"}]],
    ids=["text-for-id", "bool-and-text", "a-list", "a-time-for-id"],
)
def test_a_cursor_holding_values_of_the_wrong_type_is_refused_not_a_500(client_a, api_a, values):
    """A cursor that decodes but holds a string or a list where the sort puts a number reached PostgreSQL in the
    row comparison and failed there: every keyset list (the order pages, the API, the delivery log) answered 500."""
    import base64
    import json

    from ketlogistic.core.pagination import InvalidCursor, keyset_paginate
    from orders.models import Order

    raw = json.dumps({"v": values, "d": "n"}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    with pytest.raises(InvalidCursor):
        keyset_paginate(Order.objects.all(), ordering=["-id"], cursor=cursor, page_size=10)
    assert client_a.get(reverse("orders:list"), {"cursor": cursor}).status_code == 302
    answer = api_a.get("/api/v1/orders/", {"cursor": cursor})
    assert answer.status_code == 400 and answer.json()["error"]["code"] in {
        "invalid_request",
        "validation_error",
    }


# -- post to all of Kazakhstan (issue 20 item 5) -----------------------------------------------------------------------


def test_a_post_order_to_any_settlement_of_kazakhstan_with_its_postal_index_is_created(api_a):
    """Seed 000: «+ почтовые отправки» — post goes beyond the 40 settlements; the API field is `postal_index`."""
    response = api_a.post(
        "/api/v1/orders/", api_order(city="Щучинск", delivery_kind="post", postal_index="021700")
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["settlement"], body["postal_index"], body["delivery_kind"]) == ("Щучинск", "021700", "post")
    assert body["city"]["name"] == "Астана"  # the main warehouse's city, which ships it


def test_a_post_order_outside_the_list_without_a_postal_index_is_refused_naming_the_field(api_a):
    """Seed 000: without its index the post cannot find a settlement we do not list."""
    response = api_a.post("/api/v1/orders/", api_order(city="Щучинск", delivery_kind="post"))

    assert response.status_code == 400
    assert set(_error(response)["details"]) == {"postal_index"}
    assert not Order.objects.exists()


def test_a_courier_order_outside_the_list_is_still_an_unknown_city(api_a):
    """Seed 000: couriers serve only the listed settlements."""
    response = api_a.post("/api/v1/orders/", api_order(city="Щучинск", postal_index="021700"))

    assert response.status_code == 400
    assert _error(response)["details"] == {
        "city": ["Unknown city “Щучинск”: use a name from the reference list."]
    }
