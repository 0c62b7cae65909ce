"""The hand-over act of a courier's day (акт приёма-передачи): its cash totals are the day's collections, it lists
the goods coming back, and only the day's courier and staff of the whole city open it."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from delivery import selectors, services
from delivery.models import Collection, CourierDay, DeliveryStop, StopOutcome
from ketlogistic.core.roles import Role
from orders.models import PartnerRules
from tests.delivery.conftest import WEDNESDAY
from tests.factories import city
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db
SECRET = "Гульнара Секретова"


@pytest.fixture
def route(agreed, registry, almaty, couriers, courier_admin):
    """`route(*orders)`: the orders on the first courier's route, goods handed over; returns the stops."""

    def make(orders):
        registry()
        services.stops_assign(
            actor=courier_admin, orders=orders, courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )
        services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
        return [DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING) for order in orders]

    return make


@pytest.fixture
def worked_day(agreed, route, couriers, courier_admin, partner_a):
    """Wednesday of the first courier: paid 10 000; refused with the 1 500 fee; 1 of 2 kept (10 000); another day;
    counted 21 500 at hand-over and closed."""
    PartnerRules.objects.create(partner=partner_a, refusal_fee_enabled=True, refusal_fee=Decimal("1500"))
    paid, refused, partial, postponed = route(
        [
            agreed(customer_name=SECRET),
            agreed(),
            agreed(items=[{"sku": "A-1", "quantity": 2, "price": "10000"}]),
            agreed(),
        ]
    )
    courier = couriers[0]
    services.stop_paid(actor=courier, stop=paid, collected="10000")
    services.stop_refused(actor=courier, stop=refused, reason="Дорого", fee_collected=True)
    services.stop_partial(
        actor=courier, stop=partial, kept={partial.order.items.get().pk: 1}, collected="10000"
    )
    services.stop_postponed(actor=courier, stop=postponed, new_date=date(2026, 11, 27))
    day = paid.day
    services.cash_handover(actor=courier_admin, day=day, counted="21500")
    services.day_close(actor=courier_admin, day=day)
    return CourierDay.objects.get(pk=day.pk)


def test_the_act_s_totals_equal_the_day_s_collections(worked_day, couriers):
    orders = worked_day.stops.values("order_id")
    collections = Collection.objects.filter(order__in=orders, courier=couriers[0])

    act = selectors.hand_over_act(worked_day)

    cod = sum(c.amount for c in collections if c.kind == Collection.Kind.COD)
    fees = sum(c.amount for c in collections if c.kind == Collection.Kind.REFUSAL_FEE)
    assert (act.collected, act.fees, act.total) == (cod, fees, cod + fees)
    assert (act.collected, act.fees, act.total) == (Decimal("20000"), Decimal("1500"), Decimal("21500"))
    assert act.counted == act.total
    assert [line.collected + line.fee for line in act.lines] == [
        Decimal("10000"),
        Decimal("1500"),
        Decimal("10000"),
        Decimal("0"),
    ]
    assert (act.delivered, act.refused, act.not_delivered, act.held) == (2, 1, 1, None)


def test_the_act_page_shows_the_totals_in_the_day_s_currency(worked_day, courier_admin, login):
    page = login(courier_admin).get(reverse("delivery:act", args=[worked_day.pk]))

    html = page.content.decode().replace("\u202f", " ").replace("\xa0", " ")
    assert page.status_code == 200
    assert 'data-testid="act-collected">20 000.00 ₸<' in html
    assert 'data-testid="act-fees">1 500.00 ₸<' in html
    assert 'data-testid="act-total"><strong>21 500.00 ₸</strong>' in html
    assert 'data-testid="act-counted">21 500.00 ₸' in html
    assert "@media print" in open_static("css/act.css")
    assert 'data-testid="act-draft"' not in html  # the day is closed: the act is final
    assert SECRET in html


def open_static(path: str) -> str:
    from django.contrib.staticfiles import finders

    return open(finders.find(path), encoding="utf-8").read()


def test_the_act_lists_the_goods_that_come_back(worked_day):
    act = selectors.hand_over_act(worked_day)

    returned = {line.stop.outcome: line.returned for line in act.returns}
    assert returned == {
        StopOutcome.REFUSED: ["Чайник А × 1"],
        StopOutcome.PARTIAL: ["Чайник А × 1"],  # 2 ordered, 1 kept
        StopOutcome.POSTPONED: ["Чайник А × 1"],
    }


def test_goods_the_partner_hides_are_named_by_their_article_on_the_act(worked_day, partner_a):
    PartnerRules.objects.filter(partner=partner_a).update(hide_product_names=True)

    act = selectors.hand_over_act(worked_day)

    assert {tuple(line.returned) for line in act.returns} == {("item 1 (A-1) × 1",)}


def test_an_open_day_s_act_is_marked_as_not_final(agreed, route, couriers, courier_admin, login):
    [stop] = route([agreed()])
    services.stop_paid(actor=couriers[0], stop=stop, collected="10000")

    page = login(courier_admin).get(reverse("delivery:act", args=[stop.day_id]))

    assert 'data-testid="act-draft"' in page.content.decode()
    assert page.context["act"].held == Decimal("10000.00")


def test_the_courier_opens_the_act_of_their_own_day(worked_day, couriers, login):
    client = login(couriers[0])

    page = client.get(reverse("delivery:act", args=[worked_day.pk]))

    assert page.status_code == 200 and SECRET in page.content.decode()


def test_the_act_is_refused_to_another_courier(worked_day, couriers, login):
    assert_hidden(login(couriers[1]), reverse("delivery:act", args=[worked_day.pk]), leaks=[SECRET])


def test_the_act_is_refused_to_staff_of_one_partner_and_to_other_partners(
    worked_day, partner_a, partner_b, client_a, client_b, make_user, login
):
    url = reverse("delivery:act", args=[worked_day.pk])
    # a courier administrator who serves one partner in Almaty sees that partner's stops, not the whole day's cash
    admin_of_a = make_user(Role.COURIER_ADMIN, scopes=[{"partner": partner_a, "city": city("Алматы")}])
    admin_of_b = make_user(Role.COURIER_ADMIN, scopes=[{"partner": partner_b, "city": city("Алматы")}])
    astana_admin = make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Астана")}])
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])

    for intruder in (login(admin_of_a), login(admin_of_b), login(astana_admin)):
        assert_hidden(intruder, url, leaks=[SECRET])
    for intruder in (client_a, client_b, login(head_b)):  # no act without the permission at all
        assert_hidden(intruder, url, leaks=[SECRET], status=403)


def test_the_day_page_links_the_act_only_for_those_who_may_open_it(
    worked_day, courier_admin, partner_a, make_user, login
):
    head_a = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])

    for_admin = login(courier_admin).get(reverse("delivery:day", args=[worked_day.pk])).content.decode()
    for_head = login(head_a).get(reverse("delivery:day", args=[worked_day.pk])).content.decode()

    assert 'data-testid="act-link"' in for_admin and 'data-testid="act-link"' not in for_head


def test_the_act_takes_the_same_queries_for_one_stop_or_many(
    agreed, registry, couriers, courier_admin, login, almaty
):
    orders = [agreed() for _ in range(4)]
    registry()
    for courier, given in ((couriers[0], orders[:1]), (couriers[1], orders[1:])):
        services.stops_assign(
            actor=courier_admin, orders=given, courier=courier, warehouse=almaty, day=WEDNESDAY
        )
        day = CourierDay.objects.get(courier=courier)
        services.goods_hand_over(actor=courier_admin, day=day)
        for stop in day.stops.all():
            services.stop_refused(actor=courier, stop=stop, reason="Нет денег")
    client = login(courier_admin)

    counts = []
    for courier in couriers[:2]:
        day = CourierDay.objects.get(courier=courier)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("delivery:act", args=[day.pk])).status_code == 200
        counts.append(len(queries.captured_queries))

    lines = [len(selectors.hand_over_act(CourierDay.objects.get(courier=c)).lines) for c in couriers[:2]]
    assert lines == [1, 3]
    assert counts[0] == counts[1]
