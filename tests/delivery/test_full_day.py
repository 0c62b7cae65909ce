"""A full day in Almaty: registry, assignment, three couriers; paid, partial, refused (with the fee),
postponed, not at home; the cash counted (one shortfall), the days closed. Every order, every stock unit
and every courier's cash must come out exactly right."""

from datetime import date
from decimal import Decimal

import pytest

from callcenter.models import CallState
from delivery import cash, services
from delivery.models import (
    CashAccount,
    CashBalance,
    CashDiscrepancy,
    Collection,
    CourierDay,
    DeliveryEvent,
    DeliveryStop,
    StopOutcome,
)
from orders.models import Order, OrderHistory, PartnerRules
from tests.delivery.conftest import WEDNESDAY
from tests.factories import ProductFactory, put_stock
from warehouses import ledger
from warehouses.models import Place, StockBalance, StockMove

pytestmark = pytest.mark.django_db


def _shelf(product, warehouse):
    return (
        StockBalance.objects.filter(product=product, slot=ledger.stock(warehouse.pk).key)
        .values_list("quantity", flat=True)
        .first()
        or 0
    )


def _units(order, place):
    return sum(StockBalance.objects.filter(order=order, place=place).values_list("quantity", flat=True))


def test_a_full_day_leaves_orders_stock_and_cash_exactly_right(
    agreed, registry, almaty, couriers, courier_admin, partner_a, product_a
):
    PartnerRules.objects.create(partner=partner_a, refusal_fee_enabled=True, refusal_fee=Decimal("1500"))
    scarf = ProductFactory(partner=partner_a, sku="A-2", name="Шарф А", price=4000)
    put_stock(scarf, "Алматы", 10)
    shelf_kettles, shelf_scarves = _shelf(product_a, almaty), _shelf(scarf, almaty)
    paid = agreed(items=[{"sku": "A-1", "quantity": 1, "price": "10000"}])
    partial = agreed(
        items=[
            {"sku": "A-1", "quantity": 2, "price": "10000"},
            {"sku": "A-2", "quantity": 1, "price": "4000"},
        ]
    )
    refused = agreed()
    postponed = agreed()
    not_home = agreed()
    paid_too = agreed(delivery_kind="same_day")
    registry()
    arman, bauyrzhan, daniyar = couriers

    services.stops_assign(
        actor=courier_admin, orders=[paid, partial], courier=arman, warehouse=almaty, day=WEDNESDAY
    )
    services.stops_assign(
        actor=courier_admin,
        orders=[refused, postponed, not_home],
        courier=bauyrzhan,
        warehouse=almaty,
        day=WEDNESDAY,
    )
    services.stops_assign(
        actor=courier_admin, orders=[paid_too], courier=daniyar, warehouse=almaty, day=WEDNESDAY
    )
    # during the day the administrator gives the not-at-home order to Daniyar
    services.stops_assign(
        actor=courier_admin, orders=[not_home], courier=daniyar, warehouse=almaty, day=WEDNESDAY
    )
    days = {c.pk: CourierDay.objects.get(courier=c, date=WEDNESDAY) for c in couriers}
    for day in days.values():
        services.goods_hand_over(actor=courier_admin, day=day)

    def stop(order):
        return DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)

    services.stop_paid(actor=arman, stop=stop(paid), collected="10000", token="t-paid")
    item_a, item_b = partial.items.order_by("id")
    services.stop_partial(
        actor=arman, stop=stop(partial), kept={item_a.pk: 1, item_b.pk: 0}, collected="10000"
    )
    services.stop_refused(actor=bauyrzhan, stop=stop(refused), reason="Передумал", fee_collected=True)
    services.stop_postponed(actor=bauyrzhan, stop=stop(postponed), new_date=date(2026, 11, 28))
    services.stop_not_home(actor=daniyar, stop=stop(not_home), token="t-nh-1")
    services.stop_paid(actor=daniyar, stop=stop(paid_too), collected="10000")

    services.cash_handover(actor=courier_admin, day=days[arman.pk], counted="20000")
    short = services.cash_handover(actor=courier_admin, day=days[bauyrzhan.pk], counted="1000")
    services.cash_handover(actor=courier_admin, day=days[daniyar.pk], counted="10000")
    discrepancy = CashDiscrepancy.objects.get(handover=short)
    assert (discrepancy.kind, discrepancy.amount) == ("shortfall", Decimal("500.00"))
    services.discrepancy_resolve(
        actor=courier_admin,
        discrepancy=discrepancy,
        resolution="charged",
        reason="Не хватило 500 ₸, удержать из зарплаты",
    )
    for day in days.values():
        services.day_close(actor=courier_admin, day=day)

    status = {
        o.pk: o.status
        for o in Order.objects.filter(
            pk__in=[paid.pk, partial.pk, refused.pk, postponed.pk, not_home.pk, paid_too.pk]
        )
    }
    assert status == {
        paid.pk: "paid",
        partial.pk: "paid",
        refused.pk: "refused",
        postponed.pk: "calling",
        not_home.pk: "calling",
        paid_too.pk: "paid",
    }
    # stock (each order's units were put on the shelf and reserved at intake): the refused kettle, the kettle
    # and the scarf the partial buyer did not keep are back on the shelf; three kettles went to customers
    assert _shelf(product_a, almaty) == shelf_kettles + 2
    assert _shelf(scarf, almaty) == shelf_scarves + 1
    delivered = StockMove.objects.filter(to_place=Place.DELIVERED).values_list("order_id", "quantity")
    assert sorted(delivered) == sorted([(paid.pk, 1), (partial.pk, 1), (paid_too.pk, 1)])
    assert (_units(postponed, Place.RESERVED), _units(not_home, Place.RESERVED)) == (1, 1)
    for order in (paid, partial, refused, paid_too):
        assert _units(order, Place.COURIER) == 0 and _units(order, Place.RESERVED) == 0
    assert ledger.check_ledger() == []
    # cash: couriers hold nothing; the desk has everything counted; Bauyrzhan owes 500
    currency = "KZT"
    for courier in couriers:
        assert cash.balance(cash.courier(courier.pk, currency, almaty.pk)) == 0
    assert cash.balance(cash.desk(almaty.pk, currency)) == Decimal("31000.00")  # 20 000 + 1 000 + 10 000
    assert cash.balance(cash.debt(bauyrzhan.pk, currency, almaty.pk)) == Decimal("500.00")
    assert cash.check_ledger() == []
    collections = {(c.order_id, c.kind): c.amount for c in Collection.objects.all()}
    assert collections == {
        (paid.pk, "cod"): Decimal("10000.00"),
        (partial.pk, "cod"): Decimal("10000.00"),
        (refused.pk, "refusal_fee"): Decimal("1500.00"),
        (paid_too.pk, "cod"): Decimal("10000.00"),
    }
    # the postponed order is called on the eve of the customer's date; the not-at-home one at once
    assert Order.objects.get(pk=postponed.pk).requested_delivery_date == date(2026, 11, 28)
    assert CallState.objects.get(order=postponed).next_call_at.date() == date(2026, 11, 27)
    assert (
        OrderHistory.objects.filter(order=not_home, action="return_to_calling")
        .get()
        .reason.startswith("Not delivered")
    )
    assert DeliveryEvent.objects.filter(order=not_home).values_list("kind", flat=True).count() >= 4
    assert set(CourierDay.objects.values_list("status", flat=True)) == {"closed"}
    assert not CashBalance.objects.filter(account=CashAccount.COURIER, amount__gt=0).exists()
