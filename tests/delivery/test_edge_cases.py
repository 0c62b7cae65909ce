"""What goes wrong in real days: counts sent twice, surpluses, orders moved by someone else, junk input,
planning tomorrow while today runs, curious staff of another partner."""

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from delivery import cash, services
from delivery.models import CashDiscrepancy, CashHandover, CourierDay, DeliveryStop, StopOutcome
from ketlogistic.core.roles import Role
from orders import workflow
from orders.models import Order
from orders.statuses import OrderSource
from tests.clock import ALMATY
from tests.delivery.conftest import WEDNESDAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_day(agreed, registry, almaty, couriers, courier_admin):
    orders = [agreed(), agreed()]
    registry()
    services.stops_assign(
        actor=courier_admin, orders=orders, courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    day = CourierDay.objects.get(courier=couriers[0])
    services.goods_hand_over(actor=courier_admin, day=day)
    services.stop_paid(
        actor=couriers[0],
        stop=DeliveryStop.objects.get(order=orders[0], outcome="pending"),
        collected="10000",
    )
    return day, orders


def test_a_count_sent_twice_is_one_count(paid_day, courier_admin):
    day, _orders = paid_day

    first = services.cash_handover(actor=courier_admin, day=day, counted="10000", token="count-1")
    again = services.cash_handover(actor=courier_admin, day=day, counted="10000", token="count-1")

    assert first.pk == again.pk and CashHandover.objects.count() == 1
    assert not CashDiscrepancy.objects.exists()
    assert cash.balance(cash.desk(day.warehouse_id, "KZT")) == Decimal("10000.00")


def test_a_surplus_stays_out_of_the_desk_until_it_is_found(paid_day, courier_admin, make_user):
    day, _orders = paid_day
    services.cash_handover(actor=courier_admin, day=day, counted="100000")  # a typo: one zero too many
    typo = CashDiscrepancy.objects.get()

    assert cash.balance(cash.desk(day.warehouse_id, "KZT")) == Decimal("10000.00")
    services.discrepancy_resolve(
        actor=make_user(Role.SUPERVISOR),
        discrepancy=typo,
        resolution="written_off",
        reason="Опечатка при вводе",
    )
    assert cash.balance(cash.desk(day.warehouse_id, "KZT")) == Decimal("10000.00")
    assert cash.check_ledger() == []


def test_an_order_refused_on_the_phone_while_on_the_route_does_not_block_the_day(
    paid_day, courier_admin, make_user
):
    day, orders = paid_day
    hotline = make_user(Role.HOTLINE)
    workflow.perform(
        orders[1], action="refuse", actor=hotline, source=OrderSource.STAFF, reason="Позвонил, отказался"
    )
    services.cash_handover(actor=courier_admin, day=day, counted="10000")

    services.day_close(actor=courier_admin, day=day)

    assert DeliveryStop.objects.get(order=orders[1]).outcome == StopOutcome.RETURNED
    assert CourierDay.objects.get(pk=day.pk).status == "closed"
    assert Order.objects.get(pk=orders[1].pk).status == "refused"


@pytest.mark.parametrize("junk", ["NaN", "Infinity", "1e15", "-5", "десять", ""])
def test_junk_sums_are_clear_errors_not_crashes(paid_day, courier_admin, couriers, login, junk):
    day, orders = paid_day
    stop = DeliveryStop.objects.get(order=orders[1])

    door = login(couriers[0]).post(
        reverse("delivery:stop", args=[stop.pk]), {"action": "paid", "collected": junk, "token": f"t-{junk}"}
    )
    count = login(courier_admin).post(reverse("delivery:handover", args=[day.pk]), {"counted": junk})

    assert door.status_code == 200 and door.context["forms"]["paid"].errors
    assert count.status_code == 302 and not CashHandover.objects.exists()


def test_junk_ids_and_dates_are_ignored_not_crashes(paid_day, courier_admin, login, almaty):
    day, _orders = paid_day
    client = login(courier_admin)

    responses = [
        client.post(
            reverse("delivery:assign"),
            {"city": almaty.pk, "date": "2026-11-25", "courier": "abc", "orders": ["x"]},
        ),
        client.post(
            reverse("delivery:assign"), {"city": almaty.pk, "date": "2026-11-25", "plan": ["1:abc", "1:2:3"]}
        ),
        client.post(reverse("delivery:reorder", args=[day.pk]), {"order": "²,1"}),
        client.get(reverse("delivery:board"), {"city": almaty.pk, "date": "0001-01-01"}),
        client.post(reverse("delivery:post"), {"action": "ship", "order": "abc", "tracking_number": "x"}),
    ]

    assert [r.status_code for r in responses] == [302, 302, 302, 200, 403]  # the post desk is not theirs


def test_a_route_planned_for_tomorrow_does_not_hide_today(
    paid_day, couriers, courier_admin, agreed, almaty, wednesday, login
):
    from callcenter import services as calls

    later = agreed(day=date(2026, 11, 26))
    wednesday.move_to(datetime(2026, 11, 25, 17, 0, tzinfo=ALMATY))
    calls.registry_build(warehouse=almaty, day=date(2026, 11, 26))
    services.stops_assign(
        actor=courier_admin, orders=[later], courier=couriers[0], warehouse=almaty, day=date(2026, 11, 26)
    )

    route = login(couriers[0]).get(reverse("delivery:my_route"))

    assert route.context["day"].date == WEDNESDAY


def test_a_courier_cannot_reopen_yesterday_s_customers(paid_day, couriers, courier_admin, wednesday, login):
    day, orders = paid_day
    done = DeliveryStop.objects.get(order=orders[0])
    wednesday.move_to(datetime(2026, 11, 26, 10, 0, tzinfo=ALMATY))

    assert login(couriers[0]).get(reverse("delivery:stop", args=[done.pk])).status_code == 404


def test_the_partner_sees_today_s_moved_orders(
    agreed, registry, almaty, couriers, courier_admin, user_a, login
):
    order = agreed()
    registry()
    services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
    services.stop_postponed(
        actor=couriers[0], stop=DeliveryStop.objects.get(order=order), new_date=date(2026, 11, 27)
    )

    [row] = login(user_a).get(reverse("delivery:today")).context["rows"]

    assert (row["city__name"], row["moved"], row["total"]) == ("Алматы", 1, 1)


def test_staff_of_another_partner_see_no_company_cash_on_the_board(
    paid_day, partner_b, make_user, login, almaty
):
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])

    page = login(head_b).get(reverse("delivery:board"), {"city": almaty.pk, "date": "2026-11-25"})

    assert page.context["live"] == [] and list(page.context["events"]) == []


def test_the_next_address_never_leaves_the_site(paid_day, courier_admin, login):
    day, orders = paid_day
    stop = DeliveryStop.objects.get(order=orders[1])

    response = login(courier_admin).post(
        reverse("delivery:stop_action", args=[stop.pk]), {"action": "up", "next": "https://evil.example/"}
    )

    assert response.url == reverse("delivery:day", args=[day.pk])


@pytest.mark.parametrize(
    "number, found",
    [("0{pk}", True), ("00{pk}", True), ("№{pk}", True), ("²", False), ("１２", False), ("x" * 64, False)],
)
def test_tracking_number_spellings_are_answered_and_counted_against_the_client(
    paid_day, settings, number, found
):
    _day, orders = paid_day
    settings.TRACKING_FAILURES_PER_CLIENT = 2
    # addresses of this test's own: the counters live in the shared cache
    client = Client(REMOTE_ADDR=f"2001:db8:{uuid.uuid4().int % 65536:x}::1")
    typed = number.format(pk=orders[0].pk)

    answers = [client.post(reverse("track"), {"number": typed, "last_digits": "0000"}) for _n in range(3)]
    right = Client(REMOTE_ADDR=f"2001:db8:{uuid.uuid4().int % 65536:x}::2").post(
        reverse("track"), {"number": typed, "last_digits": "4567"}
    )

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert (right.context["result"] or {}).get("number") == (orders[0].pk if found else None)
