"""The quality dashboard's figures, week by week and per logist, city and partner, against sums done by hand; its
page with its charts for each role that may open it, in a fixed number of queries."""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from callcenter import selectors
from callcenter.models import CallAttempt, Outcome
from callcenter.templatetags.quality_charts import GROUP_CHART_LIMIT, quality_group_chart
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.statuses import OrderStatus
from tests.clock import ALMATY
from tests.factories import make_order

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ALMATY)  # a Wednesday
SINCE = NOW - timedelta(days=21)  # Wednesday 4 November: the weeks of 2, 9, 16 and 23 November


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ALMATY)


_call_numbers = [0]


def _call(order, logist, started_at, outcome, *, first=False):
    _call_numbers[0] += 1
    return CallAttempt.objects.create(
        order=order,
        partner_id=order.partner_id,
        operator=logist,
        started_at=started_at,
        outcome=outcome,
        is_first=first,
        telephony_call_id=f"quality-{_call_numbers[0]}",
    )


def _order(partner, *, city: str, created_at: datetime, status: str):
    order = make_order(partner, city=city, stock=False)
    Order.objects.filter(pk=order.pk).update(created_at=created_at, status=status)
    return order


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def logists(make_user):
    return (
        make_user(Role.LOGIST, first_name="Айгерим", last_name="Нурланова", scopes=[{"country": "KZ"}]),
        make_user(Role.LOGIST, first_name="Борис", last_name="Ким", scopes=[{"country": "KZ"}]),
    )


@pytest.fixture
def calls(clock, partner_a, partner_b, logists):
    """Four orders called over three of the four weeks (and one before the period):

    week of 9.11   o1 (A, Almaty, paid):     Aigerim 10:30 first, no answer (30 min after intake); 14:00 agreed
                   o2 (A, Almaty, refused):  Boris 11:00 first, agreed (2 h after intake)
    week of 16.11  o3 (B, Almaty, not reached): Aigerim 08:20 first, busy (20 min); 17.11 no answer;
                                              Boris 18.11 refused
                   o4 (B, Astana, paid):     Boris 16.11 09:00 first, agreed (63 h after intake on Friday 13.11)
    week of 23.11  o2 again: Aigerim 10:00, call back
    2.10           o5 (A): Aigerim, before the period
    """
    aigerim, boris = logists
    o1 = _order(partner_a, city="Алматы", created_at=at(9, 10), status=OrderStatus.PAID)
    o2 = _order(partner_a, city="Алматы", created_at=at(10, 9), status=OrderStatus.REFUSED)
    o3 = _order(partner_b, city="Алматы", created_at=at(16, 8), status=OrderStatus.NOT_REACHED)
    o4 = _order(partner_b, city="Астана", created_at=at(13, 18), status=OrderStatus.PAID)
    o5 = _order(partner_a, city="Алматы", created_at=at(1, 9, month=10), status=OrderStatus.PAID)
    _call(o1, aigerim, at(9, 10, 30), Outcome.NO_ANSWER, first=True)
    _call(o1, aigerim, at(9, 14), Outcome.AGREED)
    _call(o2, boris, at(10, 11), Outcome.AGREED, first=True)
    _call(o3, aigerim, at(16, 8, 20), Outcome.BUSY, first=True)
    _call(o3, aigerim, at(17, 10), Outcome.NO_ANSWER)
    _call(o3, boris, at(18, 10), Outcome.REFUSED)
    _call(o4, boris, at(16, 9), Outcome.AGREED, first=True)
    _call(o2, aigerim, at(23, 10), Outcome.CALLBACK)
    _call(o5, aigerim, at(2, 10, month=10), Outcome.AGREED, first=True)
    return o1, o2, o3, o4


def _figures(calls, orders, calls_per_order, wait, agreement, buyout) -> dict:
    return {
        "calls": calls,
        "orders": orders,
        "calls_per_order": None if calls_per_order is None else Decimal(calls_per_order),
        "first_call_wait": wait,
        "agreement_rate": None if agreement is None else Decimal(agreement),
        "buyout_rate": None if buyout is None else Decimal(buyout),
    }


def _without_keys(rows: list[dict]) -> list[dict]:
    return [{name: value for name, value in row.items() if name != "key"} for row in rows]


def test_the_figures_week_by_week(calls, make_user):
    qc = make_user(Role.QUALITY_CONTROL)

    weeks = selectors.dashboard_weeks(qc, since=SINCE)

    assert weeks == [
        {"week": at(2, 0).date(), **_figures(0, 0, None, None, None, None)},
        # o1, o2: 3 calls; both agreed; o1 paid, o2 refused; waits 30 min and 2 h
        {"week": at(9, 0).date(), **_figures(3, 2, "1.5", timedelta(hours=1, minutes=15), "100.0", "50.0")},
        # o3, o4: 4 calls; o4 agreed and paid, o3 neither paid nor refused; waits 20 min and 63 h
        {"week": at(16, 0).date(), **_figures(4, 2, "2.0", timedelta(hours=31, minutes=40), "50.0", "100.0")},
        # o2 again: a call back, no first call; o2 refused
        {"week": at(23, 0).date(), **_figures(1, 1, "1.0", None, "0.0", "0.0")},
    ]


def test_the_figures_per_logist_city_and_partner(calls, make_user):
    qc = make_user(Role.QUALITY_CONTROL)

    by_logist = selectors.dashboard(qc, since=SINCE, group="logist")
    by_city = selectors.dashboard(qc, since=SINCE, group="city")
    by_partner = selectors.dashboard(qc, since=SINCE, group="partner")

    assert _without_keys(by_logist) == [
        # o1 ×2, o3 ×2, o2 ×1; o1 agreed; o1 paid, o2 refused; first calls 30 and 20 min
        {"name": "Айгерим Нурланова", **_figures(5, 3, "1.7", timedelta(minutes=25), "33.3", "50.0")},
        # o2, o3, o4; o2 and o4 agreed; o4 paid, o2 refused; first calls 2 h and 63 h
        {"name": "Борис Ким", **_figures(3, 3, "1.0", timedelta(hours=32, minutes=30), "66.7", "50.0")},
    ]
    assert _without_keys(by_city) == [
        # o1 ×2, o2 ×2, o3 ×3; o1, o2 agreed; o1 paid, o2 refused; first calls 30 min, 2 h, 20 min
        {"name": "Almaty", **_figures(7, 3, "2.3", timedelta(minutes=30), "66.7", "50.0")},
        {"name": "Astana", **_figures(1, 1, "1.0", timedelta(hours=63), "100.0", "100.0")},
    ]
    assert _without_keys(by_partner) == [
        {"name": "Партнёр А", **_figures(4, 2, "2.0", timedelta(hours=1, minutes=15), "100.0", "50.0")},
        {"name": "Партнёр Б", **_figures(4, 2, "2.0", timedelta(hours=31, minutes=40), "50.0", "100.0")},
    ]
    # the whole period: 8 calls of 4 orders; o1, o2, o4 agreed; o1, o4 paid, o2 refused; waits 20 min to 63 h
    assert selectors.dashboard_totals(qc, since=SINCE) == _figures(
        8, 4, "2.0", timedelta(hours=1, minutes=15), "75.0", "66.7"
    )


def test_a_head_of_department_counts_only_the_calls_of_their_partners(calls, head, partner_a):
    assert _without_keys(selectors.dashboard(head, since=SINCE, group="partner")) == [
        {"name": "Партнёр А", **_figures(4, 2, "2.0", timedelta(hours=1, minutes=15), "100.0", "50.0")}
    ]
    assert selectors.dashboard_totals(head, since=SINCE) == _figures(
        4, 2, "2.0", timedelta(hours=1, minutes=15), "100.0", "50.0"
    )
    assert [week["calls"] for week in selectors.dashboard_weeks(head, since=SINCE)] == [0, 3, 0, 1]


def _page(client, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("callcenter:quality_dashboard"), {"days": 21, **params})
    assert response.status_code == 200
    return response.content.decode(), [query["sql"] for query in queries.captured_queries]


def _more_calls(partner_b, make_user):
    """Another logist, another city and another week: more groups, more weeks, more rows."""
    third = make_user(Role.LOGIST, first_name="Вера", last_name="Ли", scopes=[{"country": "KZ"}])
    for day in (5, 12, 19, 24):
        order = _order(partner_b, city="Шымкент", created_at=at(day, 8), status=OrderStatus.PAID)
        _call(order, third, at(day, 9), Outcome.AGREED, first=True)
        _call(order, third, at(day, 10), Outcome.AGREED)


@pytest.mark.parametrize("role", [Role.QUALITY_CONTROL, Role.SUPERVISOR, Role.HEAD_OF_DEPARTMENT])
@pytest.mark.parametrize("group", ["logist", "city", "partner"])
def test_the_dashboard_draws_its_charts_in_the_same_queries_whatever_the_rows(
    role, group, calls, make_user, partner_a, partner_b, login
):
    reader = make_user(
        role,
        **({"scopes": [{"partner": partner_a, "country": "KZ"}]} if role == Role.HEAD_OF_DEPARTMENT else {}),
    )
    client = login(reader)

    page, queries = _page(client, group=group)
    _more_calls(partner_b, make_user)
    more_page, more_queries = _page(client, group=group)

    assert len(more_queries) == len(queries)
    # one query for the groups, one for the weeks, one for the whole period; one for the missed calls
    assert len([sql for sql in queries if "callcenter_callattempt" in sql]) == 3
    assert len([sql for sql in queries if "callcenter_inboundcall" in sql]) == 1
    assert page.count('role="img"') == 6  # rates, calls per order and the first call: by week and by group
    assert more_page.count('role="img"') == 6
    if role == Role.HEAD_OF_DEPARTMENT:  # partner A's calls only, whatever was added for partner B
        assert "Партнёр Б" not in more_page and "Вера Ли" not in more_page and "Шымкент" not in more_page
    elif group == "logist":
        assert "Вера Ли" in more_page and "Вера Ли" not in page


def test_with_no_calls_the_dashboard_says_what_it_would_show(clock, make_user, login):
    page, _queries = _page(login(make_user(Role.QUALITY_CONTROL)))

    assert 'data-testid="no-calls"' in page
    assert "kl-chart-svg" not in page


def test_a_chart_of_many_names_shows_those_with_the_most_orders_and_says_so():
    rows = [
        {"key": n, "name": f"Logist {n:02d}", "orders": n, "calls": n, "calls_per_order": Decimal("1.5")}
        for n in range(1, GROUP_CHART_LIMIT + 6)
    ]

    chart = quality_group_chart(rows, "logist", "calls")

    bars = re.findall(r'<rect class="kl-bar".*?<title>(Logist \d+)', chart)
    assert bars == [f"Logist {n:02d}" for n in range(6, GROUP_CHART_LIMIT + 6)]
    assert "The 20 rows with the most orders are shown; all 25 are in the table below." in chart
