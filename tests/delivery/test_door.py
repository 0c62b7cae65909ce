"""At the door: each action once, whatever the taps and retries; clear errors; goods and cash follow."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from delivery import cash, services
from delivery.models import CashMove, Collection, CourierDay, DeliveryEvent, DeliveryStop, StopOutcome
from ketlogistic.core.errors import ApplicationError
from orders.models import Order, OrderHistory, PartnerRules
from tests.concurrency import run_in_parallel
from tests.delivery.conftest import WEDNESDAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_route(agreed, registry, almaty, couriers, courier_admin):
    """`on_route(n)`: n orders on the first courier's route, goods handed over."""

    def make(count=1, **overrides):
        orders = [agreed(**overrides) for _ in range(count)]
        registry()
        services.stops_assign(
            actor=courier_admin, orders=orders, courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )
        services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
        return [DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING) for order in orders]

    return make


def test_a_repeated_paid_tap_records_once(on_route, couriers):
    [stop] = on_route()

    services.stop_paid(actor=couriers[0], stop=stop, collected="10000", token="tap-1")
    services.stop_paid(actor=couriers[0], stop=stop, collected="10000", token="tap-1")  # the retry
    services.stop_paid(actor=couriers[0], stop=stop, collected="10000", token="tap-2")  # a second phone

    assert OrderHistory.objects.filter(order=stop.order, action="mark_paid").count() == 1
    assert Collection.objects.filter(order=stop.order).count() == 1
    assert CashMove.objects.filter(order=stop.order).count() == 1
    assert DeliveryEvent.objects.filter(order=stop.order, kind="paid").count() == 1
    assert cash.balance(cash.courier(couriers[0].pk, "KZT", stop.day.warehouse_id)) == Decimal("10000.00")


def test_a_paid_order_cannot_then_be_refused(on_route, couriers):
    [stop] = on_route()
    services.stop_paid(actor=couriers[0], stop=stop, collected="10000")

    with pytest.raises(ApplicationError, match="already recorded"):
        services.stop_refused(actor=couriers[0], stop=stop, reason="передумал")


def test_a_wrong_sum_is_refused_with_the_way_out(on_route, couriers):
    [stop] = on_route()

    with pytest.raises(ValidationError, match="partial buyout"):
        services.stop_paid(actor=couriers[0], stop=stop, collected="9 000")
    with pytest.raises(ValidationError, match="sum of money"):
        services.stop_paid(actor=couriers[0], stop=stop, collected="десять")

    assert Order.objects.get(pk=stop.order_id).status == "with_courier"
    assert not CashMove.objects.exists()


def test_nothing_at_the_door_before_the_goods_are_handed_over(
    agreed, registry, almaty, couriers, courier_admin
):
    order = agreed()
    registry()
    [stop] = services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )

    with pytest.raises(ApplicationError, match="not handed"):
        services.stop_paid(actor=couriers[0], stop=stop, collected="10000")


def test_a_courier_cannot_record_on_another_couriers_order(on_route, couriers):
    [stop] = on_route()

    with pytest.raises(Http404):
        services.stop_paid(actor=couriers[1], stop=stop, collected="10000")


def test_partial_buyout_checks_what_was_kept(on_route, couriers, partner_a):
    [stop] = on_route(items=[{"sku": "A-1", "quantity": 2, "price": "10000"}])
    item = stop.order.items.get()

    for kept, collected, message in [
        ({item.pk: 0}, "1", "kept nothing"),
        ({item.pk: 2}, "20000", "kept everything"),
        ({item.pk: 3}, "1", "Between 0 and 2"),
        ({item.pk: 1}, "25000", "kept goods cost"),
        ({item.pk: 1}, "1", "kept goods cost"),
    ]:
        with pytest.raises(ValidationError, match=message):
            services.stop_partial(actor=couriers[0], stop=stop, kept=kept, collected=collected)

    services.stop_partial(actor=couriers[0], stop=stop, kept={item.pk: 1}, collected="10000")
    assert Collection.objects.get(order=stop.order).amount == Decimal("10000.00")


def test_refusal_fee_only_when_the_partner_charges_it(on_route, couriers, partner_a):
    first, second = on_route(2)

    with pytest.raises(ValidationError, match="no refusal fee"):
        services.stop_refused(actor=couriers[0], stop=first, reason="Дорого", fee_collected=True)
    PartnerRules.objects.create(partner=partner_a, refusal_fee_enabled=True, refusal_fee=Decimal("1500"))
    services.stop_refused(actor=couriers[0], stop=first, reason="Дорого", fee_collected=True)
    services.stop_refused(actor=couriers[0], stop=second, reason="Не заказывал")  # did not pay the fee

    assert Collection.objects.get(order=first.order).amount == Decimal("1500.00")
    assert not Collection.objects.filter(order=second.order).exists()
    assert DeliveryEvent.objects.get(order=second.order, kind="refused").details["fee_due"] == "1500.00"


def test_another_day_needs_a_future_date(on_route, couriers):
    [stop] = on_route()

    with pytest.raises(ValidationError, match="after today"):
        services.stop_postponed(actor=couriers[0], stop=stop, new_date=WEDNESDAY)

    services.stop_postponed(actor=couriers[0], stop=stop, new_date=date(2026, 11, 26))
    assert Order.objects.get(pk=stop.order_id).status == "calling"


def test_not_at_home_counts_each_visit_once(on_route, couriers):
    [stop] = on_route()

    services.stop_not_home(actor=couriers[0], stop=stop, token="visit-1")
    services.stop_not_home(actor=couriers[0], stop=stop, token="visit-1")
    services.stop_not_home(actor=couriers[0], stop=stop, token="visit-2")

    assert DeliveryStop.objects.get(pk=stop.pk).not_home_count == 2
    assert Order.objects.get(pk=stop.order_id).status == "with_courier"  # still in work, another try today


@pytest.mark.django_db(transaction=True)
def test_two_phones_pressing_paid_at_the_same_moment_record_it_once(on_route, couriers):
    [stop] = on_route()

    results = run_in_parallel(
        lambda i: services.stop_paid(actor=couriers[0], stop=stop, collected="10000", token=f"phone-{i}"), 6
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert OrderHistory.objects.filter(order=stop.order, action="mark_paid").count() == 1
    assert CashMove.objects.filter(order=stop.order).count() == 1
    assert Collection.objects.filter(order=stop.order).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_request_retried_in_parallel_records_once(on_route, couriers):
    [stop] = on_route()

    results = run_in_parallel(lambda i: services.stop_not_home(actor=couriers[0], stop=stop, token="same"), 5)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert DeliveryStop.objects.get(pk=stop.pk).not_home_count == 1
