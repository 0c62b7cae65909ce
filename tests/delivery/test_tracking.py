"""The public tracking page: the order's steps in plain words for its number and the phone's last four digits;
never a name, an address, a sum or a partner; guessing is throttled."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from orders.delivery import services
from orders.delivery.models import CourierDay, DeliveryStop, StopOutcome
from tests.delivery.conftest import WEDNESDAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def public(settings):
    # a client address of its own per test: the per-address counter lives in the shared cache
    client = Client(
        REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    )
    return client


@pytest.fixture
def delivered_order(agreed, registry, almaty, couriers, courier_admin):
    order = agreed(customer_name="Гульмира Сейтказиева", address="ул. Толе би, 101, кв. 7")
    registry()
    services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
    stop = DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)
    services.stop_not_home(actor=couriers[0], stop=stop)
    services.stop_paid(actor=couriers[0], stop=stop, collected="10000")
    return order


def _track(client, number, digits):
    return client.post(reverse("track"), {"number": str(number), "last_digits": digits})


def test_the_customer_sees_the_steps_without_personal_data(delivered_order, public, partner_a):
    page = _track(public, delivered_order.pk, "4567")

    text = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    steps = [s.text for s in page.context["result"]["steps"]]
    assert steps[0] == "Магазин оформил заказ"  # the public page speaks Russian
    assert any("25.11.2026" in s for s in steps)  # the agreed day
    assert len(steps) >= 6
    for secret in (
        "Гульмира",
        "Сейткази",
        "Толе би",
        "10 000",
        "10\u202f000",
        "10000",
        partner_a.name,
        "45 67",
    ):
        assert secret not in text, secret


def test_wrong_digits_and_a_wrong_number_get_the_same_answer(delivered_order, public):
    wrong_digits = _track(public, delivered_order.pk, "0000").context["form"].non_field_errors()
    wrong_number = _track(public, 99999999, "4567").context["form"].non_field_errors()

    assert wrong_digits == wrong_number


def test_guessing_the_digits_of_one_order_is_throttled(delivered_order, settings):
    settings.TRACKING_FAILURES_PER_ORDER = 5
    guesses = [_track(Client(REMOTE_ADDR=f"10.9.9.{n}"), delivered_order.pk, f"{n:04d}") for n in range(5)]

    right_but_late = _track(Client(REMOTE_ADDR="10.9.9.200"), delivered_order.pk, "4567")

    assert [g.status_code for g in guesses] == [200] * 5
    assert right_but_late.status_code == 429 and right_but_late.context["result"] is None


def test_scanning_order_numbers_from_one_address_is_throttled(delivered_order, public, settings):
    settings.TRACKING_FAILURES_PER_CLIENT = 3
    for number in range(1, 4):
        _track(public, 1_000_000 + number, "1234")

    assert _track(public, delivered_order.pk, "4567").status_code == 429


def test_the_page_asks_for_both_and_explains(public, reference_data):
    page = public.get(reverse("track"))

    assert page.status_code == 200 and 'name="last_digits"' in page.content.decode()
    assert _track(public, "", "12").status_code == 200
