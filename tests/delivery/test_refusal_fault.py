"""Whose fault a refusal at the door or a post return was (issue 20 item 8, seed 001 «Клиент "возвратник"»): recorded
where the refusal is recorded, through the workflow, with the history; it keeps the customer from being a returner."""

import pytest
from django.urls import reverse

from delivery import post, services
from delivery.models import CourierDay, DeliveryEvent, DeliveryStop, StopOutcome
from orders.models import Order
from orders.selectors import customer_profile
from tests.delivery.conftest import WEDNESDAY
from tests.delivery.test_post import keeper, post_order  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_route(agreed, registry, almaty, couriers, courier_admin):
    """`on_route(**order)`: one order on the first courier's route, the goods handed over."""

    def make(**overrides):
        order = agreed(**overrides)
        registry()
        services.stops_assign(
            actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )
        services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
        return DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)

    return make


def test_a_refusal_at_the_door_carries_its_fault_mark(on_route, couriers):
    """Seed 001: «возвраты … не по вине клиента» — the courier says so at the door (the parcel came damaged)."""
    stop = on_route()

    services.stop_refused(actor=couriers[0], stop=stop, reason="Коробка разбита", refusal_fault="damaged")

    order = Order.objects.get(pk=stop.order_id)
    assert (order.status, order.refusal_fault) == ("refused", "damaged")
    assert order.history.get(action="refuse").details["fault"] == "damaged"
    assert DeliveryEvent.objects.get(order=order, kind="refused").details["fault"] == "damaged"
    assert customer_profile(order).excluded == {"damaged": 1}


def test_the_stop_page_records_the_fault_mark(on_route, couriers, login):
    stop = on_route()

    login(couriers[0]).post(
        reverse("delivery:stop", args=[stop.pk]),
        {"action": "refused", "reason": "Не тот товар", "refusal_fault": "wrong_goods", "token": "t-1"},
    )

    assert Order.objects.get(pk=stop.order_id).refusal_fault == "wrong_goods"


def test_a_post_return_carries_its_fault_mark(post_order, keeper):  # noqa: F811 - the fixture
    """Seed 001: a parcel sent to a wrong address comes back — «посылка отправлена не на тот адрес»: our error."""
    order = post_order()
    shipment = post.post_ship(actor=keeper, order=order, tracking_number=post.make_tracking_number(3001))

    post.post_status(actor=keeper, shipment=shipment, status="returned", refusal_fault="our_error")

    order.refresh_from_db()
    assert (order.status, order.refusal_fault) == ("returned", "our_error")
    assert order.history.get(action="post_returned").details["fault"] == "our_error"
