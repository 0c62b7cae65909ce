"""Intake: one path for every channel; clear errors per field; a partner's order id never makes a second order."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from orders.intake import orders_create_many
from orders.models import Order, OrderHistory, OrderItem, OrderPhone
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, order_row

pytestmark = pytest.mark.django_db


def _create(partner, *rows, actor=None, source="api"):
    return orders_create_many(partner=partner, rows=list(rows), actor=actor, source=source)


def test_a_valid_row_becomes_an_order_to_send_with_its_history(partner_a, product_a, user_a):
    [result] = _create(partner_a, order_row(), actor=user_a, source="cabinet")

    order = result.order
    assert result.status == "created"
    assert order.status == "to_send"
    assert order.city.name == "Алматы"
    assert order.country == "KZ" and order.currency == "KZT"
    assert OrderItem.objects.get(order=order).unit_price == Decimal("15000.00")
    assert order.cod_amount == Decimal("15000.00")
    history = OrderHistory.objects.get(order=order)
    assert (history.action, history.from_status, history.to_status, history.source, history.actor) == (
        "create",
        "",
        "to_send",
        "cabinet",
        user_a,
    )


def test_the_same_external_id_returns_the_existing_order(partner_a, product_a):
    [first] = _create(partner_a, order_row())
    [second] = _create(partner_a, order_row(customer_name="Другое Имя"))

    assert second.status == "exists"
    assert second.order.pk == first.order.pk
    assert Order.objects.filter(partner=partner_a).count() == 1
    assert Order.objects.get().customer_name == "Айгерим Сапарова"


def test_the_same_external_id_at_two_partners_makes_two_orders(partner_a, partner_b, product_a):
    ProductFactory(partner=partner_b, sku="A-1")

    assert _create(partner_a, order_row())[0].status == "created"
    assert _create(partner_b, order_row())[0].status == "created"


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_submissions_of_one_order_create_one(reference_data):
    partner = PartnerFactory()
    ProductFactory(partner=partner, sku="A-1")

    results = run_in_parallel(lambda i: _create(partner, order_row(external_id="RACE-1"))[0].status, 20)

    assert sorted(results) == ["created"] + ["exists"] * 19
    assert Order.objects.filter(partner=partner, external_id="RACE-1").count() == 1


def test_bulk_keeps_the_valid_rows_and_reports_each_bad_field(partner_a, product_a):
    rows = [
        order_row(external_id="OK-1"),
        order_row(external_id="BAD-1", city="Атлантида", phone="123"),
        order_row(external_id="BAD-2", items=[{"sku": "NOPE", "quantity": 0, "price": "abc"}]),
        order_row(external_id="OK-2", phone="8 702 000 11 22"),
    ]

    results = _create(partner_a, *rows)

    assert [r.status for r in results] == ["created", "error", "error", "created"]
    assert "Unknown city" in results[1].errors["city"][0]
    assert "Kazakhstan number" in results[1].errors["phone"][0]
    assert "Unknown SKU" in results[2].errors["items[0].sku"][0]
    assert "at least 1" in results[2].errors["items[0].quantity"][0]
    assert "sum of money" in results[2].errors["items[0].price"][0]
    assert set(Order.objects.values_list("external_id", flat=True)) == {"OK-1", "OK-2"}


def test_another_partners_sku_is_unknown(partner_a, partner_b):
    ProductFactory(partner=partner_b, sku="B-ONLY")

    [result] = _create(partner_a, order_row(items=[{"sku": "B-ONLY", "quantity": 1}]))

    assert result.status == "error"
    assert "Unknown SKU" in result.errors["items[0].sku"][0]


def test_a_city_of_the_other_country_is_refused(partner_a, product_a):
    [result] = _create(partner_a, order_row(city="Бишкек"))

    assert "not in your country" in result.errors["city"][0]


@pytest.mark.parametrize(
    ("city", "kind", "message"),
    [
        ("Талгар", "express", "field trips"),
        ("Алматы", "field", "has express delivery"),
        ("Алматы", "teleport", "Unknown delivery kind"),
    ],
)
def test_delivery_kind_must_fit_the_city(partner_a, product_a, city, kind, message):
    [result] = _create(partner_a, order_row(city=city, delivery_kind=kind))

    assert message in result.errors["delivery_kind"][0]


def test_field_city_without_a_kind_gets_field_delivery(partner_a, product_a):
    row = order_row(city="Талгар")
    del row["delivery_kind"]

    assert _create(partner_a, row)[0].order.delivery_kind == "field"


def test_cod_defaults_to_the_items_sum_and_catalogue_price(partner_a):
    ProductFactory(partner=partner_a, sku="P1", price=Decimal("1000.50"))
    ProductFactory(partner=partner_a, sku="P2", price=Decimal("250"))

    [result] = _create(
        partner_a, order_row(items=[{"sku": "P1", "quantity": 2}, {"sku": "P2", "quantity": "3"}])
    )

    assert result.order.cod_amount == Decimal("2751.00")


def test_duplicate_external_id_inside_one_batch(partner_a, product_a):
    results = _create(partner_a, order_row(external_id="D"), order_row(external_id="D"))

    assert [r.status for r in results] == ["created", "error"]
    assert "already in this batch (row 1)" in results[1].errors["external_id"][0]


def test_missing_fields_are_named(partner_a):
    [result] = _create(partner_a, {})

    assert set(result.errors) >= {"external_id", "customer_name", "city", "phone", "address", "items"}


def test_phones_are_stored_encrypted_masked_and_indexed(partner_a, product_a):
    [result] = _create(partner_a, order_row(phones=["8 701 123 45 67", "+7 702 555 66 77"]))

    phones = list(OrderPhone.objects.filter(order=result.order).order_by("position"))
    assert [p.masked for p in phones] == ["+7 *** *** 45 67", "+7 *** *** 66 77"]
    assert all("7011234567" not in p.ciphertext for p in phones)


def test_order_outside_working_hours_is_worked_from_the_next_working_day(partner_a, product_a):
    almaty = ZoneInfo("Asia/Almaty")
    with time_machine.travel(datetime(2026, 11, 20, 21, 5, tzinfo=almaty)):  # Friday evening
        [result] = _create(partner_a, order_row())

    assert result.order.work_available_from == datetime(2026, 11, 23, 9, 0, tzinfo=almaty)


def test_order_in_working_hours_is_worked_at_once(partner_a, product_a):
    almaty = ZoneInfo("Asia/Almaty")
    moment = datetime(2026, 11, 24, 11, 0, tzinfo=almaty)
    with time_machine.travel(moment):
        [result] = _create(partner_a, order_row())

    assert result.order.work_available_from == moment


def test_numbers_and_text_as_people_type_them(partner_a):
    ProductFactory(partner=partner_a, sku="12345")

    [result] = _create(
        partner_a,
        order_row(
            external_id=98765.0,
            items=[{"sku": 12345.0, "quantity": "2", "price": "1 500,50"}],
            cod_amount=" 3001 ",
            phone=87011234567,
            distance_km="12,5",
        ),
    )

    assert result.status == "created", result.errors
    assert result.order.external_id == "98765"
    assert result.order.cod_amount == Decimal("3001.00")
    assert result.order.distance_km == Decimal("12.5")
    assert OrderItem.objects.get(order=result.order).unit_price == Decimal("1500.50")
