"""The public tracking page: the order's steps in plain words for its number and the phone's last four digits;
never a name, an address, a sum or a partner; guessing is throttled."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from delivery import services
from delivery.models import CourierDay, DeliveryStop, StopOutcome
from orders.selectors import order_timeline
from tests.delivery.conftest import WEDNESDAY
from tests.factories import make_order

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


def test_guessing_is_limited_per_client_not_per_order(delivered_order, settings):
    settings.TRACKING_FAILURES_PER_CLIENT = 3
    # thirty strangers, each from an address of its own, guess the digits of one order
    strangers = [_track(Client(REMOTE_ADDR=f"10.9.9.{n}"), delivered_order.pk, f"{n:04d}") for n in range(30)]
    prober = Client(REMOTE_ADDR="10.9.8.1")
    probes = [_track(prober, delivered_order.pk, f"{n:04d}") for n in range(4)]

    customer = _track(Client(REMOTE_ADDR="10.9.9.200"), delivered_order.pk, "4567")

    assert [g.status_code for g in strangers] == [200] * 30
    assert [p.status_code for p in probes] == [200, 200, 200, 429]
    assert customer.status_code == 200 and customer.context["result"]["number"] == delivered_order.pk
    # the client that used up its allowance is refused even the right digits
    assert _track(prober, delivered_order.pk, "4567").status_code == 429


def test_a_made_up_forwarded_header_gives_no_fresh_allowance(delivered_order, settings):
    settings.TRACKING_FAILURES_PER_CLIENT = 3
    settings.TRACKING_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    client = Client(REMOTE_ADDR="10.0.0.2")  # the proxy

    # the proxy appends the address it saw to whatever the client sent
    answers = [
        client.post(
            reverse("track"),
            {"number": str(delivered_order.pk), "last_digits": f"{n:04d}"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7",
        ).status_code
        for n in range(4)
    ]

    assert answers == [200, 200, 200, 429]


def test_an_ipv6_client_counts_as_its_network(delivered_order, settings):
    settings.TRACKING_FAILURES_PER_CLIENT = 3

    answers = [
        _track(Client(REMOTE_ADDR=f"2001:db8:7:7::{n + 1:x}"), delivered_order.pk, f"{n:04d}").status_code
        for n in range(4)
    ]

    assert answers == [200, 200, 200, 429]


def test_tracking_by_the_shops_order_number(delivered_order, public):
    page = _track(public, delivered_order.external_id, "4567")
    wrong = _track(public, delivered_order.external_id, "0000")

    assert page.status_code == 200 and page.context["result"]["number"] == delivered_order.pk
    assert wrong.context["result"] is None
    assert (
        wrong.context["form"].non_field_errors()
        == _track(public, "NO-SUCH-1", "4567").context["form"].non_field_errors()
    )


def test_a_shops_number_two_shops_share_asks_for_ours(delivered_order, public, partner_b):
    make_order(partner_b, external_id=delivered_order.external_id)  # the same last four digits

    shared = _track(public, delivered_order.external_id, "4567")
    ours = _track(public, delivered_order.pk, "4567")

    assert shared.status_code == 200 and shared.context["result"] is None
    with translation.override("ru"):  # the public page speaks Russian
        asked = _(
            "Orders of several shops have this number. Enter the KetLogistic order number from our SMS or the "
            "courier's receipt instead."
        )
    assert shared.context["form"].errors["number"] == [asked]
    assert ours.context["result"]["number"] == delivered_order.pk


def test_equal_times_keep_their_real_order(delivered_order, public):
    # the clock stands still in this test: the hand-over, the visit nobody answered and the payment all happen
    # at Wednesday 09:00
    steps = _track(public, delivered_order.pk, "4567").context["result"]["steps"]

    assert [step.text for step in steps[-3:]] == [
        "Курьер везёт ваш заказ",
        "Курьер не застал вас дома",
        "Доставлен и оплачен. Спасибо!",
    ]


def test_equal_times_keep_their_real_order_on_the_timeline(delivered_order, logist):
    entries = order_timeline(delivered_order, logist)

    # the clock stands still: Tuesday 10:00 sent, called, agreed; Wednesday 09:00 assigned, handed over, nobody
    # at home, paid; each customer's SMS right after the status change that wrote it
    assert [(entry.kind, entry.to_status or entry.title) for entry in entries] == [
        ("status", "to_send"),
        ("status", "sent"),
        ("status", "calling"),
        ("sms", "SMS: Goods in the city, we will call"),
        ("call", "Call (Logist): Delivery agreed"),
        ("status", "delivery_agreed"),
        ("sms", "SMS: Delivery agreed"),
        ("status", "in_registry"),
        ("courier", "Assigned to courier Арман Курьер"),
        ("status", "with_courier"),
        ("sms", "SMS: Courier on the way"),
        ("courier", "Goods handed to the courier"),
        ("courier", "Customer not at home (attempt 1)"),
        ("status", "paid"),
        ("sms", "SMS: Thanks after payment"),
        ("courier", "Delivered and paid: 10\u202f000.00\xa0₸ collected"),
    ]


def test_scanning_order_numbers_from_one_address_is_throttled(delivered_order, public, settings):
    settings.TRACKING_FAILURES_PER_CLIENT = 3
    for number in range(1, 4):
        _track(public, 1_000_000 + number, "1234")

    assert _track(public, delivered_order.pk, "4567").status_code == 429


def test_the_page_asks_for_both_and_explains(public, reference_data):
    page = public.get(reverse("track"))

    assert page.status_code == 200 and 'name="last_digits"' in page.content.decode()
    assert _track(public, "", "12").status_code == 200


def test_twenty_wrong_guesses_an_hour_are_answered_and_the_twenty_first_is_refused(delivered_order, public):
    """The README's number at its default, counted exactly: lookups that find the order use none of the
    allowance (a customer who checks their order twice and then mistypes it still has all twenty)."""
    found = [_track(public, delivered_order.pk, "4567") for _n in range(3)]
    wrong = [_track(public, 1_000_000 + n, "1234") for n in range(20)]

    refused = _track(public, 1_000_020, "1234")

    assert [page.context["result"]["number"] for page in found] == [delivered_order.pk] * 3
    assert [page.status_code for page in wrong] == [200] * 20
    assert [page.context["result"] for page in wrong] == [None] * 20
    assert refused.status_code == 429
