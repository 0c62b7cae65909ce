"""One time format for partners' machines: every time in an API answer or a webhook payload is RFC 3339 in UTC with
`Z` and six fractional digits (`ketlogistic.core.times.utc_rfc3339`); dates stay `YYYY-MM-DD`; inputs take any
offset."""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from billing import ledger
from billing.models import Account, Posting
from integrations import webhooks
from integrations.models import WebhookEvent
from ketlogistic.core.roles import Role
from ketlogistic.core.times import utc_rfc3339
from orders.amendments import OrderAmended
from orders.models import Order
from orders.services import order_send
from tests.factories import ProductFactory, make_order, put_stock
from tests.http_servers import Recorder

from .conftest import api_order

pytestmark = pytest.mark.django_db

LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
LOOKS_LIKE_A_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
UTC_WITH_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def _strings(value, path="$"):
    """Every (path, string) in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _strings(item, f"{path}[{number}]")
    elif isinstance(value, str):
        yield path, value


def _times(document) -> dict[str, str]:
    """Every string that parses as a date and time (a date alone is a date); dates are checked to be bare dates."""
    found = {}
    for path, text in _strings(document):
        if LOOKS_LIKE_A_TIME.match(text):
            datetime.fromisoformat(text)  # parses, or the test fails
            found[path] = text
        elif LOOKS_LIKE_A_DATE.match(text):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", text), (path, text)
    return found


def _assert_utc_with_z(times: dict[str, str]) -> None:
    bad = {path: text for path, text in times.items() if not UTC_WITH_Z.fullmatch(text)}
    assert bad == {}
    for text in times.values():
        assert datetime.fromisoformat(text).utcoffset() == timedelta(0)


def test_utc_rfc3339_is_utc_with_z_whatever_zone_is_active():
    instant = datetime(2026, 12, 7, 10, 58, 0, tzinfo=timezone.get_default_timezone())  # 10:58 in Almaty

    with timezone.override("America/Lima"):
        assert utc_rfc3339(instant) == "2026-12-07T05:58:00.000000Z"
        assert utc_rfc3339(instant.replace(microsecond=123456)) == "2026-12-07T05:58:00.123456Z"
        assert (
            utc_rfc3339(instant.replace(tzinfo=None)) == "2026-12-07T05:58:00.000000Z"
        )  # naive: Django's zone
        assert utc_rfc3339(None) is None


def test_the_api_field_writes_utc_whatever_zone_is_active():
    from integrations.api.serializers import UtcDateTimeField

    instant = datetime(2026, 12, 7, 5, 58, tzinfo=UTC)
    for zone in ("Asia/Almaty", "Asia/Bishkek", "America/Lima", "UTC"):
        with timezone.override(zone):
            assert UtcDateTimeField().to_representation(instant) == "2026-12-07T05:58:00.000000Z"


def test_every_time_in_api_answers_and_webhooks_is_utc_with_z(
    api_a, api_a_test, partner_a, product_a, user_a, make_user
):
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    ProductFactory(partner=partner_a, sku="A-1", name="Тестовый чайник", is_test=True)
    with Recorder() as receiver:
        webhooks.endpoint_create(actor=user_a, url=receiver.url, events=list(webhooks.EVENT_TYPES))
        sandbox_hook, _secret = webhooks.endpoint_create(
            actor=user_a, url=receiver.url, events=list(webhooks.EVENT_TYPES), is_test=True
        )
        put_stock(product_a, "Алматы", 10)
        created = api_a.post("/api/v1/orders/", api_order())
        assert created.status_code == 201, created.content
        order = Order.objects.get(pk=created.json()["id"])
        order_send(order=order, actor=head)
        order.refresh_from_db()
        webhooks.on_order_amended(  # what the amendment door sends, with its own time
            OrderAmended(
                order=order,
                amendment=SimpleNamespace(
                    changes={"cod_amount": {"old": "25000.00", "new": "24500.00"}},
                    reason="r",
                    source="call_center",
                    at=timezone.now(),
                ),
            )
        )
        ledger.post(
            kind=Posting.Kind.ADJUSTMENT,
            partner=partner_a,
            currency="KZT",
            description="test",
            lines=[
                ledger.Line(ledger.account(Account.Kind.ADJUSTMENTS, "KZT"), Decimal("100")),
                ledger.Line(ledger.partner_account(partner_a, "KZT"), Decimal("-100")),
            ],
        )
        sandbox = api_a_test.post("/api/v1/orders/", api_order(external_id="SB-1")).json()
        for body in (
            {},
            {},
            {"action": "call", "outcome": "no_answer"},
            {"action": "call", "outcome": "agreed"},
        ):
            advanced = api_a_test.post(f"/api/v1/sandbox/orders/{sandbox['id']}/advance/", body)
            assert advanced.status_code == 200, advanced.content
        webhooks.endpoint_send_test(actor=user_a, endpoint=sandbox_hook)
        webhooks.deliver_due()

        answers = {
            path: api.get(path)
            for api, path in [
                (api_a, "/api/v1/orders/"),
                (api_a, f"/api/v1/orders/{order.pk}/"),
                (api_a, f"/api/v1/orders/{order.pk}/history/"),
                (api_a, "/api/v1/products/"),
                (api_a, f"/api/v1/products/{product_a.pk}/"),
                (api_a, "/api/v1/stock/movements/"),
                (api_a, "/api/v1/balance/entries/"),
                (api_a, "/api/v1/statuses/"),
                (api_a_test, f"/api/v1/orders/{sandbox['id']}/history/"),
            ]
        }
        assert {path: answer.status_code for path, answer in answers.items()} == dict.fromkeys(answers, 200)
        delivered = [json.loads(request["body"]) for request in receiver.requests]

    api_times = {
        f"{path} {where}": text for path, a in answers.items() for where, text in _times(a.json()).items()
    }
    stored = [event.payload for event in WebhookEvent.objects.all()]
    hook_times = {
        f"{payload['type']} {where}": text
        for payload in stored + delivered
        for where, text in _times(payload).items()
    }

    _assert_utc_with_z(api_times)
    _assert_utc_with_z(hook_times)
    # the walk saw the times it is about
    seen = {where.rsplit(".", 1)[-1] for where in [*api_times, *hook_times]}
    assert {
        "created_at",
        "updated_at",
        "status_changed_at",
        "work_available_from",
        "at",
        "amended_at",
        "attempt_at",
        "next_call_at",
    } <= seen
    assert {p["type"] for p in delivered} >= {
        "order.created",
        "order.status_changed",
        "order.amended",
        "call.attempted",
        "delivery.agreed",
        "ping",
    }
    assert {"/api/v1/stock/movements/ $.results[0].at", "/api/v1/balance/entries/ $.results[0].at"} <= set(
        api_times
    )
    agreed = next(p for p in delivered if p["type"] == "delivery.agreed")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", agreed["data"]["delivery_date"])  # a date stays a date


def test_a_time_read_back_with_any_offset_names_the_same_instant(api_a):
    created = api_a.post("/api/v1/orders/", api_order()).json()
    updated = datetime.fromisoformat(created["updated_at"])
    almaty = updated.astimezone(timezone.get_default_timezone()).isoformat()  # …+05:00

    def since(text):
        return [o["id"] for o in api_a.get("/api/v1/orders/", {"updated_since": text}).json()["results"]]

    assert since(created["updated_at"]) == [created["id"]]
    assert "+05:00" in almaty and since(almaty) == [created["id"]]
    assert since(utc_rfc3339(updated + timedelta(microseconds=1))) == []


def test_a_time_in_event_data_is_written_as_every_other(partner_a, product_a):
    order = make_order(partner_a, product=product_a)
    instant = datetime(2026, 12, 7, 10, 58, tzinfo=timezone.get_default_timezone())

    [event_id] = webhooks.record_events([(partner_a.pk, "order.created", {"when": instant}, order, False)])

    assert WebhookEvent.objects.get(pk=event_id).payload["data"]["when"] == "2026-12-07T05:58:00.000000Z"


def test_the_schema_still_documents_every_time_as_date_time(client):
    spec = client.get("/api/v1/schema/?format=json").json()
    schemas = spec["components"]["schemas"]

    times = {
        (name, field): schema.get("format")
        for name, component in schemas.items()
        for field, schema in component.get("properties", {}).items()
        if field == "at" or field.endswith("_at") or field == "work_available_from"
    }
    assert ("OrderOut", "updated_at") in times and ("Product", "created_at") in times
    assert set(times.values()) == {"date-time"}
