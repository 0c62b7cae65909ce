"""Assignment and routes: who may assign what, a suggested split by district, the route's order,
re-assignment during the day."""

import pytest
from django.core.exceptions import PermissionDenied

from delivery import services
from delivery.models import CourierDay, DeliveryEvent, DeliveryStop, StopOutcome
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.delivery.conftest import WEDNESDAY
from tests.factories import city

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("address", "district"),
    [
        ("мкр. Самал-2, д. 33, кв. 14", "мкр самал-2"),
        ("Алматы, микрорайон Аксай-4, 12", "мкр аксай-4"),
        ("ул. Жандосова, 58, кв. 12", "жандосова"),
        ("пр. Абая 150", "абая"),
        ("Бостандыкский р-н, ул. Тимирязева 42", "р-н бостандыкский"),
    ],
)
def test_the_district_of_an_address(address, district):
    assert services.district_of(address) == district


def test_the_suggested_split_keeps_districts_together_and_spreads_same_day(couriers):
    def order(pk, address, kind="express"):
        return Order(pk=pk, address=address, delivery_kind=kind)

    orders = [
        order(1, "мкр. Самал-2, 1"),
        order(2, "мкр. Самал-2, 5"),
        order(3, "мкр. Самал-2, 9"),
        order(4, "ул. Абая, 1"),
        order(5, "ул. Абая, 3"),
        order(6, "мкр. Аксай-4, 7"),
        order(7, "ул. Розыбакиева, 1", "same_day"),
        order(8, "ул. Сатпаева, 2", "same_day"),
    ]

    plan = services.suggest_split(orders, couriers[:2])

    routes = [[o.pk for o in plan[c.pk]] for c in couriers[:2]]
    assert sorted(pk for route in routes for pk in route) == list(range(1, 9))
    assert not any(7 in route and 8 in route for route in routes)  # the two same-day orders apart
    assert any({1, 2, 3} <= set(route) for route in routes)  # Самал-2 with one courier
    assert abs(len(routes[0]) - len(routes[1])) <= 1


def test_only_registry_orders_of_the_city_go_to_its_couriers(
    agreed, registry, almaty, couriers, courier_admin, calling_order, make_user
):
    in_registry = agreed()
    still_calling = calling_order()
    registry()

    with pytest.raises(ApplicationError, match="only orders in the registry"):
        services.stops_assign(
            actor=courier_admin, orders=[still_calling], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )
    astana_courier = make_user(Role.COURIER, scopes=[{"city": city("Астана")}])
    with pytest.raises(ApplicationError, match="not a courier of"):
        services.stops_assign(
            actor=courier_admin, orders=[in_registry], courier=astana_courier, warehouse=almaty, day=WEDNESDAY
        )
    assert not DeliveryStop.objects.exists()


def test_another_city_s_administrator_cannot_assign(agreed, registry, almaty, couriers, make_user):
    order = agreed()
    registry()
    astana_admin = make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Астана")}])

    with pytest.raises(PermissionDenied):  # not their city
        services.stops_assign(
            actor=astana_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )


def test_reassignment_during_the_day_moves_the_order_and_says_so(
    agreed, registry, almaty, couriers, courier_admin
):
    order = agreed()
    registry()
    services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))

    services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[1], warehouse=almaty, day=WEDNESDAY
    )
    services.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )

    stop = DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)
    assert stop.day.courier == couriers[0]
    assert DeliveryStop.objects.filter(order=order).count() <= 2
    kinds = list(DeliveryEvent.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == ["assigned", "goods_handed", "reassigned", "reassigned"]


def test_the_route_order_by_arrows_and_by_dragging(agreed, registry, almaty, couriers, courier_admin):
    orders = [agreed() for _ in range(3)]
    registry()
    stops = services.stops_assign(
        actor=courier_admin, orders=orders, courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    day = stops[0].day

    services.route_move(actor=courier_admin, stop=stops[2], offset=-1)
    assert list(day.stops.order_by("position").values_list("pk", flat=True)) == [
        stops[0].pk,
        stops[2].pk,
        stops[1].pk,
    ]
    services.route_reorder(actor=courier_admin, day=day, stop_ids=[stops[1].pk, stops[0].pk, stops[2].pk])
    assert list(day.stops.order_by("position").values_list("pk", flat=True)) == [
        stops[1].pk,
        stops[0].pk,
        stops[2].pk,
    ]


def test_an_order_is_taken_off_the_route_only_before_the_goods_leave(
    agreed, registry, almaty, couriers, courier_admin
):
    first, second = agreed(), agreed()
    registry()
    stops = services.stops_assign(
        actor=courier_admin, orders=[first, second], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    services.stop_unassign(actor=courier_admin, stop=stops[0])
    services.goods_hand_over(actor=courier_admin, day=stops[0].day)

    with pytest.raises(ApplicationError, match="still at the warehouse"):
        services.stop_unassign(actor=courier_admin, stop=stops[1])
    assert Order.objects.get(pk=first.pk).status == "in_registry"
    assert Order.objects.get(pk=second.pk).status == "with_courier"
    # and it can go on a route again later
    services.stops_assign(
        actor=courier_admin, orders=[first], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    assert DeliveryStop.objects.get(order=first, outcome=StopOutcome.PENDING).day == stops[0].day
