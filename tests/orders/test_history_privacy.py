"""The customer's personal data lives on the order (its changes in the amendment history), never in the status
history's `details`, where retention would not find it; retention takes it out of rows written before that rule,
and so does the upgrade (orders migration 0012)."""

import importlib
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from callcenter import services as calls
from callcenter.models import Outcome
from orders import workflow
from orders.models import Order, OrderHistory, RetentionPolicy
from orders.services import personal_data_erase_expired
from orders.statuses import OrderSource

pytestmark = pytest.mark.django_db

WEDNESDAY = date(2026, 11, 25)
ADDRESS = "ул. Абая, 12, кв. 7"


def _agreed_on_a_call(calling_order, logist, **order_fields):
    order = calling_order(**order_fields)
    calls.call_dial(actor=logist, order=order)
    calls.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=WEDNESDAY,
        confirmed_address=ADDRESS,
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )
    return Order.objects.get(pk=order.pk)


def _details(order, action="agree_delivery") -> dict:
    return OrderHistory.objects.get(order=order, action=action).details


def _as_the_old_code_wrote_it(order) -> None:
    """The «delivery agreed» row as the call center wrote it before: with the customer's address."""
    OrderHistory.objects.filter(order=order, action="agree_delivery").update(
        details={"delivery_date": "2026-11-25", "address": ADDRESS, "sum": "25000.00"}
    )


def test_status_history_never_keeps_a_customers_address(calling_order, logist, at_tuesday_10):
    agreed = _agreed_on_a_call(calling_order, logist, address="ул. Абая, 10")
    # a move that carries the customer's data anyway (any caller of the workflow): the history leaves it out
    other = calling_order()
    workflow.perform(
        other,
        action="agree_delivery",
        actor=logist,
        source=OrderSource.STAFF,
        data={
            "delivery_date": WEDNESDAY,
            "address": ADDRESS,
            "customer_name": "Айгерим",
            "phone": "+77011234567",
            "sum": "100",
        },
    )

    assert agreed.address == ADDRESS  # on the order, where it belongs
    assert _details(agreed) == {"delivery_date": "2026-11-25", "sum": str(agreed.cod_amount)}
    assert _details(other) == {"delivery_date": "2026-11-25", "sum": "100"}
    rows = OrderHistory.objects.filter(order__in=[agreed, other]).values_list("details", flat=True)
    assert [ADDRESS in str(details) or "Айгерим" in str(details) for details in rows] == [False] * len(rows)


def test_retention_erases_addresses_from_the_status_history(calling_order, logist, at_tuesday_10):
    RetentionPolicy.objects.create(country="KZ", days_after_close=30)
    expired = _agreed_on_a_call(calling_order, logist)
    kept = _agreed_on_a_call(calling_order, logist)
    for order in (expired, kept):
        _as_the_old_code_wrote_it(order)
    Order.objects.filter(pk=expired.pk).update(status="paid", closed_at=timezone.now() - timedelta(days=31))
    Order.objects.filter(pk=kept.pk).update(status="paid", closed_at=timezone.now() - timedelta(days=29))

    assert personal_data_erase_expired() == 1

    assert _details(expired) == {"delivery_date": "2026-11-25", "sum": "25000.00"}
    assert _details(kept) == {"delivery_date": "2026-11-25", "address": ADDRESS, "sum": "25000.00"}


def test_the_upgrade_takes_the_addresses_out_of_the_status_history(calling_order, logist, at_tuesday_10):
    order = _agreed_on_a_call(calling_order, logist)
    _as_the_old_code_wrote_it(order)
    untouched = {
        row.pk: row.details
        for row in OrderHistory.objects.filter(order=order).exclude(action="agree_delivery")
    }
    migration = importlib.import_module("orders.migrations.0012_status_history_without_personal_data")

    with connection.cursor() as cursor:
        cursor.execute(migration.FORGET_PERSONAL_DETAILS, {"keys": migration.PERSONAL_DETAIL_KEYS})

    assert _details(order) == {"delivery_date": "2026-11-25", "sum": "25000.00"}
    assert {
        row.pk: row.details
        for row in OrderHistory.objects.filter(order=order).exclude(action="agree_delivery")
    } == untouched
    assert migration.PERSONAL_DETAIL_KEYS == list(workflow.PERSONAL_DETAIL_KEYS)
