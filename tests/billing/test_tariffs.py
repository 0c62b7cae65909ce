"""Tariffs: a partner's own price and discount from a date; a change never rewrites what was charged;
distance bands, refusal transport, storage and returns priced as tariff lines."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from billing import runs, tariffs
from billing.models import Charge, TariffLine
from ketlogistic.core.errors import ApplicationError
from tests.billing.conftest import ALMATY, WEEK

pytestmark = pytest.mark.django_db


def _compute(finance, week=WEEK):
    run = runs.run_for_week(week_start=week, actor=finance)
    runs.run_compute(run=run, actor=finance)
    return run


def test_the_country_defaults_are_the_offer_s_numbers(default_tariffs):
    def value(country, kind):
        line = tariffs_line(country, kind)
        return line.percent if line.percent is not None else line.amount

    assert [value("KZ", k) for k in ("order_fee", "cod_courier", "cod_post")] == [2500, 6, 9]
    assert [value("KG", k) for k in ("order_fee", "packaging", "cod_courier")] == [400, 40, 3]
    assert TariffLine.objects.filter(kind="distance", country="KZ").count() > 20


def tariffs_line(country, kind):
    return tariffs.line_for(kind=kind, country=country, partner_id=None, day=date(2026, 11, 1))


def test_a_partner_s_own_price_and_discount_apply_from_their_date(
    partner_a, product_a, worked_orders, finance, monday
):
    tariffs.tariff_line_add(
        actor=finance,
        country="KZ",
        kind="order_fee",
        partner=partner_a,
        amount=Decimal("2000"),
        effective_from=date(2026, 11, 18),
    )
    tariffs.tariff_line_add(
        actor=finance,
        country="KZ",
        kind="discount",
        partner=partner_a,
        percent=Decimal("10"),
        effective_from=date(2026, 11, 19),
    )
    before = worked_orders(partner_a, 1, started=datetime(2026, 11, 17, 12, 0, tzinfo=ALMATY))
    own = worked_orders(partner_a, 1, started=datetime(2026, 11, 18, 12, 0, tzinfo=ALMATY))
    discounted = worked_orders(partner_a, 1, started=datetime(2026, 11, 20, 12, 0, tzinfo=ALMATY))

    _compute(finance)

    fee = {c.order_id: c.amount for c in Charge.objects.filter(kind="order_fee")}
    assert [fee[o[0].pk] for o in (before, own, discounted)] == [
        Decimal("2500"),
        Decimal("2000"),
        Decimal("1800"),
    ]


def test_a_new_price_never_rewrites_a_charge(partner_a, product_a, worked_orders, finance, monday):
    [order] = worked_orders(partner_a, 1)
    runs.run_approve(run=_compute(finance), actor=finance)

    tariffs.tariff_line_add(
        actor=finance,
        country="KZ",
        kind="order_fee",
        partner=partner_a,
        amount=Decimal("1"),
        effective_from=WEEK + timedelta(days=7),  # the first day not charged yet
    )
    monday.shift(timedelta(days=7))
    _compute(finance, WEEK + timedelta(days=7))

    assert list(Charge.objects.filter(order=order).values_list("amount", flat=True)) == [Decimal("2500")]


def test_the_same_line_twice_is_refused_with_a_reason(finance, default_tariffs):
    with pytest.raises(ApplicationError, match="already starts"):
        tariffs.tariff_line_add(
            actor=finance,
            country="KZ",
            kind="order_fee",
            amount=Decimal("3000"),
            effective_from=date(2020, 1, 1),
        )
    with pytest.raises(ApplicationError, match="percentage"):
        tariffs.tariff_line_add(
            actor=finance,
            country="KZ",
            kind="cod_post",
            percent=Decimal("120"),
            effective_from=date(2027, 1, 1),
        )


def test_distance_and_refusal_transport_for_orders_a_courier_took_out(
    partner_a, product_a, worked_orders, finance, monday, make_user
):
    from ketlogistic.core.roles import Role
    from orders import workflow
    from orders.models import Order
    from orders.statuses import OrderSource

    band = (
        TariffLine.objects.filter(kind="distance", country="KZ", city__warehouse__isnull=False)
        .select_related("city")
        .order_by("city__name", "from_km")
        .first()
    )
    tariffs.tariff_line_add(
        actor=finance,
        country="KZ",
        kind="refusal_transport",
        amount=Decimal("700"),
        effective_from=date(2026, 1, 1),
    )
    # work starts when the courier takes the goods (`when`, below)
    far, refused = worked_orders(
        partner_a, 2, city=band.city.name, started=None, created=datetime(2026, 11, 19, 13, 0, tzinfo=ALMATY)
    )
    Order.objects.filter(pk__in=[far.pk, refused.pk]).update(distance_km=band.from_km + Decimal("1"))
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    from tests.factories import put_stock

    put_stock(product_a, band.city.name, 2)
    when = datetime(2026, 11, 19, 15, 0, tzinfo=ALMATY)
    for order, last in ((far, ("mark_paid", {"collected_amount": "10000"})), (refused, ("refuse", {}))):
        workflow.perform(order, action="send", actor=head, source=OrderSource.STAFF, now=when)
        workflow.perform(
            order,
            action="agree_delivery",
            actor=None,
            source=OrderSource.TASK,
            now=when,
            data={"delivery_date": date(2026, 11, 20)},
        )
        for action in ("add_to_registry", "hand_to_courier"):
            workflow.perform(order, action=action, actor=None, source=OrderSource.TASK, now=when)
        workflow.perform(
            order,
            action=last[0],
            actor=None,
            source=OrderSource.TASK,
            now=when,
            data=last[1],
            reason="Не понравился цвет" if last[0] == "refuse" else "",
        )

    _compute(finance)

    kinds = sorted(Charge.objects.exclude(kind="order_fee").values_list("order_id", "kind", "amount"))
    assert kinds == sorted(
        [
            (far.pk, "distance", band.amount),
            (refused.pk, "distance", band.amount),
            (refused.pk, "refusal_transport", Decimal("700")),
        ]
    )


def test_storage_and_returns_are_priced_by_their_tariff_lines(partner_a, finance, monday):
    from warehouses.models import WarehouseCharge

    storage = WarehouseCharge.objects.create(
        partner=partner_a,
        kind="storage",
        key="s-1",
        amount=Decimal("1"),
        currency="KZT",
        occurred_on=date(2026, 11, 20),
        description="день",
    )
    pickup = WarehouseCharge.objects.create(
        partner=partner_a,
        kind="pickup",
        key="p-1",
        amount=Decimal("8000"),
        currency="KZT",
        occurred_on=date(2026, 11, 20),
        description="забор",
    )
    WarehouseCharge.objects.create(
        partner=partner_a,
        kind="storage",
        key="s-2",
        amount=Decimal("1"),
        currency="KZT",
        occurred_on=date(2026, 11, 23),
        description="next week",
    )

    _compute(finance)

    charged = dict(Charge.objects.values_list("warehouse_charge_id", "amount"))
    assert charged == {storage.pk: Decimal("2000"), pickup.pk: Decimal("8000")}


def test_transport_the_partner_pays_is_billed_at_its_agreed_or_entered_cost_never_the_tariffs_flat_fee(
    partner_a, finance, monday
):
    """Seed 000 names no fee for an unscheduled return or a transfer between cities: the partner pays the transport.
    The run used to replace a return's amount with the tariff line's; a line configured now is only a suggestion."""
    from warehouses.models import WarehouseCharge

    tariffs.tariff_line_add(
        actor=finance,
        country="KZ",
        kind="unscheduled_return",
        amount=Decimal("6000"),
        effective_from=date(2026, 11, 16),
    )
    returned = WarehouseCharge.objects.create(
        partner=partner_a,
        kind="unscheduled_return",
        key="r-1",
        amount=Decimal("7350.50"),
        currency="KZT",
        occurred_on=date(2026, 11, 20),
        description="возврат",
    )
    carried = WarehouseCharge.objects.create(
        partner=partner_a,
        kind="transport",
        key="t-1",
        amount=Decimal("15000"),
        currency="KZT",
        occurred_on=date(2026, 11, 20),
        description="Алматы → Шымкент",
    )

    _compute(finance)

    charged = {row[0]: row[1:] for row in Charge.objects.values_list("warehouse_charge_id", "kind", "amount")}
    assert charged == {
        returned.pk: ("unscheduled_return", Decimal("7350.50")),
        carried.pk: ("transport", Decimal("15000.00")),
    }


def test_no_return_fee_is_invented_when_none_is_configured(default_tariffs, partner_a):
    assert not TariffLine.objects.filter(kind="unscheduled_return").exists()
    assert tariffs.warehouse_fee(partner=partner_a, kind="unscheduled_return", day=date(2026, 11, 20)) is None


def test_a_partner_s_own_line_wins_over_the_default(partner_a, finance, default_tariffs):
    tariffs.tariff_line_add(
        actor=finance,
        country="KZ",
        kind="order_fee",
        partner=partner_a,
        amount=Decimal("2000"),
        effective_from=date(2026, 11, 18),
    )

    line = tariffs.line_for(kind="order_fee", country="KZ", partner_id=partner_a.pk, day=date(2026, 11, 20))

    assert (line.partner_id, line.amount) == (partner_a.pk, Decimal("2000.00"))


def test_a_new_price_cannot_start_inside_a_week_already_charged(
    partner_a, product_a, worked_orders, finance, monday
):
    worked_orders(partner_a, 1)
    runs.run_approve(run=_compute(finance), actor=finance)

    with pytest.raises(ApplicationError, match="23.11.2026"):
        tariffs.tariff_line_add(
            actor=finance,
            country="KZ",
            kind="order_fee",
            partner=partner_a,
            amount=Decimal("2000"),
            effective_from=date(2026, 11, 20),
        )
