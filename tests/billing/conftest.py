"""Billing fixtures: orders whose work started in a known week, their collections, the finance director.

The week under test is Monday 16 — Sunday 22 November 2026 (Asia/Almaty); the clock stands on Monday 23rd."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from billing.tariffs import load_default_tariffs
from delivery.models import Collection
from ketlogistic.core.roles import Role
from orders.intake import orders_create_many
from orders.models import Order
from orders.statuses import OrderStatus
from orders.work import order_mark_work_started
from tests.billing import months
from tests.factories import order_row

ALMATY = ZoneInfo("Asia/Almaty")
WEEK = date(2026, 11, 16)
IN_WEEK = datetime(2026, 11, 18, 12, 0, tzinfo=ALMATY)
MONDAY_AFTER = datetime(2026, 11, 23, 9, 0, tzinfo=ALMATY)


@pytest.fixture(autouse=True)
def ledger_stays_consistent(request):
    """After every billing test, `check_ledger` finds nothing wrong (unless the test broke it on purpose)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or request.node.get_closest_marker("ledger_tampered"):
        yield
        return
    # requested here so the database is still there when the check runs at teardown
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    yield
    from billing import ledger

    assert ledger.check_ledger() == []


@pytest.fixture
def default_tariffs(reference_data):
    load_default_tariffs()


@pytest.fixture
def monday(default_tariffs):
    with time_machine.travel(MONDAY_AFTER, tick=False) as traveller:
        yield traveller


@pytest.fixture
def finance(make_user):
    return make_user(Role.FINANCE_DIRECTOR)


_counter = [0]


def make_worked_orders(
    partner, count, *, kind="express", started=IN_WEEK, city=None, price="10000", product=None, created=None
):
    """n orders created through the intake (at `created`, by default two hours before `started`), put into work and
    their work started (the first call) at `started`; with `started=None` they stay «на отправку», never worked."""
    from catalogue.models import Product

    product = product or Product.objects.filter(partner=partner).first()
    rows = []
    for _ in range(count):
        _counter[0] += 1
        row = order_row(
            external_id=f"B-{_counter[0]:07d}",
            delivery_kind=kind,
            items=[{"sku": product.sku, "quantity": 1, "price": price}],
        )
        if partner.country == "KG":
            row.update(city=city or "Бишкек", phone="+996 555 12 34 56")
        elif city:
            row["city"] = city
        rows.append(row)
    results = orders_create_many(
        partner=partner,
        rows=rows,
        actor=None,
        source="api",
        now=created or (started or MONDAY_AFTER) - timedelta(hours=2),
    )
    orders = [result.order for result in results]
    assert all(result.status == "created" for result in results), [r.errors for r in results]
    if started is not None:
        # put into work an hour before the first call (the status only: the charge run reads when work started)
        Order.objects.filter(pk__in=[o.pk for o in orders]).update(
            status=OrderStatus.SENT, sent_at=started - timedelta(hours=1)
        )
        for order in orders:
            order_mark_work_started(order_id=order.pk, at=started, cause="call")
    return list(Order.objects.filter(pk__in=[o.pk for o in orders]).order_by("pk"))


def make_collection(order, amount, *, channel="courier", at=IN_WEEK, kind="cod"):
    """The cash of a paid order reached the company."""
    return Collection.objects.create(
        order=order,
        partner_id=order.partner_id,
        kind=kind,
        channel=channel,
        amount=Decimal(str(amount)),
        currency=order.currency,
        collected_at=at,
        city_id=order.city_id,
    )


@pytest.fixture
def worked_orders(default_tariffs):
    """`worked_orders(partner, n, kind=..., started=..., city=...)`: see `make_worked_orders`."""
    return make_worked_orders


@pytest.fixture
def collect():
    """`collect(order, amount, channel="courier", at=...)`: see `make_collection`."""
    return make_collection


# -- the monthly documents (tests/billing/months.py) -----------------------------------------------------------------


@pytest.fixture
def december(default_tariffs):
    with time_machine.travel(months.TUESDAY_15_DECEMBER, tick=False) as traveller:
        yield traveller


@pytest.fixture
def four_weeks(partner_a, product_a, worked_orders, collect, finance, december):
    """Four weekly runs of partner A, approved, with work started and cash collected on known days; two collections
    arrive late: one charged by the run of the spanning week (still November), one only by December's first run."""
    worked_orders(partner_a, 3, started=months.at(18))  # week 16.11
    [late_in_november, very_late] = worked_orders(partner_a, 2, started=months.at(25))  # week 23.11
    worked_orders(partner_a, 2, started=months.at(30, hour=10))  # week 30.11, its November day
    december_orders = worked_orders(partner_a, 4, started=months.at(2, 12))  # week 30.11, its December days
    paid_in_november = worked_orders(partner_a, 1, started=months.at(17))[0]  # week 16.11
    collect(paid_in_november, "10000.00", at=months.at(19))
    collect(december_orders[0], "9999.99", at=months.at(3, 12))
    months.run_week(months.WEEKS[0], finance)
    months.run_week(months.WEEKS[1], finance)
    # cash of 27 November reaches us after the week's run: the next run charges it, on its own day
    collect(late_in_november, "12345.67", at=months.at(27))
    months.run_week(months.WEEKS[2], finance)
    # cash of 28 November reaches us after the spanning week's run too: only December's first run charges it
    collect(very_late, "5000.00", at=months.at(28))
    months.run_week(months.WEEKS[3], finance)
    return {"late_in_november": late_in_november, "very_late": very_late}
