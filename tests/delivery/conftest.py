"""A delivery day in Almaty: orders agreed for Wednesday by the call center, the registry built on Tuesday
evening, three couriers and their administrator; the clock on Wednesday morning."""

from datetime import date, datetime

import pytest

from callcenter import services as calls
from callcenter.models import Outcome
from geography.models import Warehouse
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.clock import ALMATY
from tests.factories import city

WEDNESDAY = date(2026, 11, 25)
WEDNESDAY_9 = datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY)


@pytest.fixture
def almaty(reference_data):
    return Warehouse.objects.get(city__name="Алматы")


@pytest.fixture
def couriers(make_user):
    return [
        make_user(
            Role.COURIER,
            scopes=[{"city": city("Алматы")}],
            first_name=name,
            last_name="Курьер",
            phone_extension=f"30{n}",
        )
        for n, name in enumerate(["Арман", "Бауыржан", "Данияр"], start=1)
    ]


@pytest.fixture
def courier_admin(make_user):
    return make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}], phone_extension="400")


@pytest.fixture
def agreed(calling_order, logist, at_tuesday_10):
    """`agreed(**order overrides)`: an order the call center agreed for Wednesday (before the registry)."""

    def make(day=WEDNESDAY, **overrides):
        order = calling_order(**overrides)
        calls.call_dial(actor=logist, order=order)
        calls.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=day,
            address_confirmed=True,
            sum_confirmed=True,
            goods_confirmed=True,
        )
        return Order.objects.get(pk=order.pk)

    return make


@pytest.fixture
def registry(almaty, at_tuesday_10):
    """`registry()`: Tuesday 17:00, Wednesday's registry is built; then the clock moves to Wednesday 09:00."""

    def build():
        at_tuesday_10.move_to(datetime(2026, 11, 24, 17, 0, tzinfo=ALMATY))
        built = calls.registry_build(warehouse=almaty, day=WEDNESDAY)
        at_tuesday_10.move_to(WEDNESDAY_9)
        return built

    return build


@pytest.fixture
def wednesday(at_tuesday_10):
    return at_tuesday_10
