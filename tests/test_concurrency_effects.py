"""Effects that must happen once, whoever presses at the same moment: real parallel PostgreSQL transactions
(threads, each with its own connection, started together by a barrier — `tests.concurrency.run_in_parallel`).

Where each concurrency case of issue 10 is proven (they existed before this module; not repeated here):

* the same API order 20 times at once with one Idempotency-Key → one order, every 201 the same bytes, the
  others 409 "in flight": tests/integrations/test_idempotency.py::
  test_twenty_identical_requests_at_once_over_http_create_one_order
* the same order (same partner external id) 20 times without a key → one order, 19 × 409:
  tests/integrations/test_idempotency.py::test_twenty_identical_requests_without_a_key_still_create_one_order
  (over HTTP) and tests/orders/test_intake.py::test_twenty_parallel_submissions_of_one_order_create_one (intake)
* a weekly run computed and approved by four workers at once → every charge once, one posting per partner:
  tests/billing/test_runs.py::test_two_workers_computing_and_approving_at_once_charge_once
* ten payout requests at once never overdraw: tests/billing/test_payouts.py::test_ten_parallel_requests_never_overdraw
* twenty reservations of the last five units → exactly five win, stock never negative:
  tests/warehouses/test_ledger.py::test_twenty_parallel_reservations_of_the_last_units
* a courier's double tap on "paid" → one cash entry, one collection:
  tests/delivery/test_door.py::test_two_phones_pressing_paid_at_the_same_moment_record_it_once
  (and a retried request: ::test_the_same_request_retried_in_parallel_records_once)
* cancel and send of one order at once → one wins: tests/orders/test_workflow.py::
  test_concurrent_cancel_and_send_do_not_both_win
* ten logists pulling the queue at once never get one order: tests/callcenter/test_queue.py::
  test_ten_logists_pulling_at_once_never_get_the_same_order

New here, the same kind of race on the other once-only effects: a payout decided by several people at once, a
transfer received on two devices, a courier's cash counted twice from one form, one order put on two couriers'
routes, one customer agreed by two logists, and the last unit both reserved for an order and shipped away.
"""

from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine

from billing import accruals, payouts
from billing import ledger as billing_ledger
from billing.models import Payout, Posting
from billing.tariffs import load_default_tariffs
from callcenter import services as calls
from callcenter.models import Outcome, RegistryEntry
from delivery import cash
from delivery import services as delivery
from delivery.models import CashHandover, CashMove, CourierDay, DeliveryStop
from geography.models import Warehouse
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import Role
from orders.models import Order, OrderHistory
from orders.services import order_send
from tests.billing.conftest import make_collection, make_worked_orders
from tests.clock import ALMATY, TUESDAY_10
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory, UserFactory, city, make_order, put_stock
from tests.warehouses.conftest import photo
from warehouses import fulfilment, transfers
from warehouses import ledger as stock_ledger
from warehouses.models import Transfer

pytestmark = pytest.mark.django_db(transaction=True)

IBAN = "KZ86125KZT5004100100, Halyk Bank"
WEDNESDAY = date(2026, 11, 25)


@pytest.fixture
def clock(reference_data):
    with time_machine.travel(TUESDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def shop(clock):
    """A partner with a product in Almaty and the people who serve it."""
    partner = PartnerFactory(country="KZ")
    product = ProductFactory(partner=partner, sku="A-1")
    almaty = city("Алматы")
    people = {
        "partner": partner,
        "product": product,
        "owner": UserFactory(role=Role.PARTNER_ADMIN, partner=partner),
        "head": UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}]),
        "logists": [
            UserFactory(role=Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension=f"10{n}")
            for n in range(4)
        ],
        "admin": UserFactory(role=Role.COURIER_ADMIN, scopes=[{"city": almaty}], phone_extension="400"),
        "couriers": [
            UserFactory(role=Role.COURIER, scopes=[{"city": almaty}], phone_extension=f"30{n}")
            for n in range(2)
        ],
        "keeper": UserFactory(role=Role.WAREHOUSE, scopes=[{"country": "KZ"}]),
        "finances": [UserFactory(role=Role.FINANCE_DIRECTOR) for _ in range(3)],
        "almaty": Warehouse.objects.get(city=almaty),
    }
    return type("Shop", (), people)


def _calling(shop) -> Order:
    order = make_order(shop.partner, product=shop.product)
    order_send(order=order, actor=shop.head)
    return Order.objects.get(pk=order.pk)


def _agree(shop, order, logist=None) -> Order:
    logist = logist or shop.logists[0]
    calls.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=WEDNESDAY,
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )
    return Order.objects.get(pk=order.pk)


def _in_registry(shop, clock, count: int) -> list[Order]:
    """Orders agreed for Wednesday, Wednesday's registry built on Tuesday evening; the clock on Wednesday 9:00."""
    orders = [_agree(shop, _calling(shop)) for _ in range(count)]
    clock.move_to(datetime(2026, 11, 24, 17, 0, tzinfo=ALMATY))
    calls.registry_build(warehouse=shop.almaty, day=WEDNESDAY)
    clock.move_to(datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY))
    return list(Order.objects.filter(pk__in=[o.pk for o in orders], status="in_registry"))


def _unexpected(results) -> list:
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, ApplicationError)]


def test_a_payout_decided_by_several_people_at_once_is_decided_once(shop):
    load_default_tariffs()
    [order] = make_worked_orders(shop.partner, 1, started=None)
    accruals.accrue([make_collection(order, 30000)])
    payout = payouts.payout_request(
        actor=shop.owner, amount="12000", currency="KZT", method="bank", details=IBAN
    )

    def decide(index):
        finance = shop.finances[index % 3]
        if index % 3 == 0:
            payouts.payout_approve(actor=finance, payout=payout)
            return payouts.payout_mark_paid(actor=finance, payout=payout, reference=f"PP-{index}").status
        if index % 3 == 1:
            return payouts.payout_reject(actor=finance, payout=payout, reason="Реквизиты не совпадают").status
        return payouts.payout_cancel(actor=shop.owner, payout=payout).status

    results = run_in_parallel(decide, 9)

    assert not _unexpected(results), results
    final = Payout.objects.get(pk=payout.pk)
    assert final.status in ("paid", "rejected", "cancelled")
    kinds = sorted(Posting.objects.filter(payout=payout).values_list("kind", flat=True))
    if final.status == "paid":
        assert kinds == ["payout_paid", "payout_requested"]
        assert billing_ledger.partner_balance(shop.partner, "KZT") == Decimal("18000.00")
    else:  # the money came back exactly once
        assert kinds == ["payout_requested", "payout_returned"]
        assert billing_ledger.partner_balance(shop.partner, "KZT") == Decimal("30000.00")
    assert billing_ledger.check_ledger() == []


def test_a_transfer_received_on_two_devices_at_once_enters_the_stock_once(shop):
    main = fulfilment.main_warehouse()
    put_stock(shop.product, main.city.name, 7)
    transfer = transfers.transfer_create(
        actor=shop.keeper,
        partner=shop.partner,
        origin=main,
        destination=shop.almaty,
        lines=[(shop.product, 7)],
    )
    transfers.transfer_ship(actor=shop.keeper, transfer=transfer)
    line = transfer.lines.get()

    results = run_in_parallel(
        lambda i: (
            transfers.transfer_receive(
                actor=shop.keeper, transfer=transfer, received={line.pk: (7, "")}, photo=photo()
            ).status
        ),
        4,
    )

    assert not _unexpected(results), results
    assert results.count("received") == 1
    assert Transfer.objects.get(pk=transfer.pk).status == "received"
    assert stock_ledger.available(shop.product.pk, stock_ledger.stock(shop.almaty.pk)) == 7
    assert stock_ledger.check_ledger() == []


def test_a_courier_s_cash_counted_twice_at_once_from_one_form_is_one_hand_over(shop, clock):
    orders = _in_registry(shop, clock, 2)
    courier = shop.couriers[0]
    delivery.stops_assign(
        actor=shop.admin, orders=orders, courier=courier, warehouse=shop.almaty, day=WEDNESDAY
    )
    day = CourierDay.objects.get(courier=courier, date=WEDNESDAY)
    delivery.goods_hand_over(actor=shop.admin, day=day)
    for stop in DeliveryStop.objects.filter(day=day):
        delivery.stop_paid(actor=courier, stop=stop, collected="10000")

    results = run_in_parallel(
        lambda i: delivery.cash_handover(actor=shop.admin, day=day, counted="20000", token="form-1").pk, 5
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1 and CashHandover.objects.filter(day=day).count() == 1
    assert CashMove.objects.filter(day=day, kind="handed_over").count() == 1
    assert cash.balance(cash.desk(shop.almaty.pk, "KZT")) == Decimal("20000.00")
    assert cash.balance(cash.courier(courier.pk, "KZT", shop.almaty.pk)) == 0
    assert Posting.objects.filter(kind="accrual").count() == 2
    assert billing_ledger.partner_balance(shop.partner, "KZT") == Decimal("20000.00")
    assert cash.check_ledger() == [] and billing_ledger.check_ledger() == []


def test_one_order_put_on_two_couriers_routes_at_once_has_one_open_stop(shop, clock):
    """Both administrators win in turn (the order moves to the last one); neither deadlocks on the other's day."""
    [order] = _in_registry(shop, clock, 1)

    for _round in range(3):
        results = run_in_parallel(
            lambda i: delivery.stops_assign(
                actor=shop.admin,
                orders=[order],
                courier=shop.couriers[i % 2],
                warehouse=shop.almaty,
                day=WEDNESDAY,
            ),
            6,
        )

        assert not [r for r in results if isinstance(r, Exception)], results
        assert DeliveryStop.objects.filter(order=order, outcome="pending").count() == 1
    assert Order.objects.get(pk=order.pk).status == "in_registry"


def test_one_customer_agreed_by_two_logists_at_once_is_agreed_and_entered_once(shop, clock):
    calls.registry_build(warehouse=shop.almaty, day=WEDNESDAY)  # built early: agreements go to its addendum
    order = _calling(shop)

    results = run_in_parallel(lambda i: _agree(shop, order, shop.logists[i]).status, 4)

    assert not _unexpected(results), results
    assert "in_registry" in results
    assert OrderHistory.objects.filter(order=order, action="agree_delivery").count() == 1
    assert OrderHistory.objects.filter(order=order, action="add_to_registry").count() == 1
    assert RegistryEntry.objects.filter(order=order).count() == 1
    assert Order.objects.get(pk=order.pk).status == "in_registry"


def test_the_last_unit_reserved_and_shipped_away_at_once_goes_one_way(shop):
    order = make_order(shop.partner, product=shop.product, stock=False)
    put_stock(shop.product, "Алматы", 1)
    back = transfers.transfer_create(
        actor=shop.keeper,
        partner=shop.partner,
        origin=shop.almaty,
        destination=fulfilment.main_warehouse(),
        lines=[(shop.product, 1)],
    )

    def act(index):
        if index == 0:
            return order_send(order=order, actor=shop.head).status
        return transfers.transfer_ship(actor=shop.keeper, transfer=back).status

    results = run_in_parallel(act, 2)

    assert not _unexpected(results), results
    sent, shipped = Order.objects.get(pk=order.pk).status, Transfer.objects.get(pk=back.pk).status
    assert (sent, shipped) in (("calling", "draft"), ("awaiting_stock", "shipped")), results
    assert stock_ledger.available(shop.product.pk, stock_ledger.stock(shop.almaty.pk)) == 0
    assert stock_ledger.check_ledger() == []
