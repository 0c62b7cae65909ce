from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from ketlogistic.core.roles import Role
from orders.services import order_send
from tests.factories import make_order

ALMATY = ZoneInfo("Asia/Almaty")
TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=ALMATY)


@pytest.fixture
def logist(make_user):
    return make_user(Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension="101")


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


@pytest.fixture
def at_tuesday_10():
    with time_machine.travel(TUESDAY_10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def calling_order(partner_a, product_a, head):
    """An order in calling (goods reserved in Almaty)."""

    def make(**overrides):
        order = make_order(partner_a, product=product_a, **overrides)
        order_send(order=order, actor=head)
        order.refresh_from_db()
        assert order.status == "calling"
        return order

    return make
