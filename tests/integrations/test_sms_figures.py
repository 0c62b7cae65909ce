"""The partner's SMS in figures (issue 19, item 6): per week of its country, the SMS sent, delivered, undeliverable,
expired and waiting, the delivery rate and the parts, on its SMS page (and our staff's view of it); sandbox SMS
never counted; a partner sees only its own."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from integrations import sms_reports
from tests.factories import make_order
from tests.isolation import assert_hidden
from tests.sms_rows import sms_row

pytestmark = pytest.mark.django_db

ALMATY = ZoneInfo("Asia/Almaty")
BISHKEK = ZoneInfo("Asia/Bishkek")
NOW = datetime(
    2026, 11, 25, 12, 0, tzinfo=ALMATY
)  # a Wednesday: this week from Monday 23rd, the last from 16th
THIS_WEEK = datetime(2026, 11, 24, 11, 0, tzinfo=ALMATY)
LAST_WEEK = datetime(2026, 11, 18, 15, 0, tzinfo=ALMATY)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def week_of(figures, monday: date):
    [week] = [week for week in figures if week.week == monday]
    return week


def test_each_week_counts_sent_delivered_undeliverable_expired_waiting_the_rate_and_the_parts(
    partner_a, product_a, user_a, clock
):
    orders = [make_order(partner_a, product=product_a) for _ in range(3)]
    sms_row(orders[0], state="delivered", sent_at=LAST_WEEK, segments=2)
    sms_row(orders[0], state="delivered", sent_at=LAST_WEEK, segments=1)
    sms_row(orders[0], state="undeliverable", sent_at=LAST_WEEK, segments=1)
    sms_row(orders[1], state="expired", sent_at=LAST_WEEK, segments=3)
    sms_row(orders[1], state="sent", sent_at=LAST_WEEK, segments=1)  # no report yet
    sms_row(orders[1], state="failed", created_at=LAST_WEEK)  # refused by the gateway: never sent
    sms_row(orders[2], state="delivered", sent_at=THIS_WEEK, segments=1)
    sms_row(orders[2], state="queued", created_at=THIS_WEEK)
    sms_row(orders[2], state="held", created_at=THIS_WEEK)

    figures = sms_reports.weekly_figures(user_a, partner_a)

    assert (
        len(figures) == 12 and figures[-1].week == date(2026, 11, 23) and figures[0].week == date(2026, 9, 7)
    )
    last = week_of(figures, date(2026, 11, 16))
    assert (last.sent, last.delivered, last.undeliverable, last.expired, last.waiting, last.parts) == (
        5,
        2,
        1,
        1,
        0,
        8,
    )
    assert last.delivery_rate == Decimal("50.0")  # 2 delivered of the 4 with a final report
    this = week_of(figures, date(2026, 11, 23))
    assert (this.sent, this.delivered, this.waiting, this.parts, this.delivery_rate) == (
        1,
        1,
        2,
        1,
        Decimal("100.0"),
    )
    assert all(week.sent == 0 and week.delivery_rate is None for week in figures[:-2])


def test_a_sandbox_sms_is_never_counted_with_the_live_ones(partner_a, product_a, user_a, clock):
    order = make_order(partner_a, product=product_a)
    sms_row(order, state="delivered", sent_at=THIS_WEEK, segments=1)
    sms_row(order, state="sent", sent_at=THIS_WEEK, segments=2, is_test=True)

    this = week_of(sms_reports.weekly_figures(user_a, partner_a), date(2026, 11, 23))

    assert (this.sent, this.delivered, this.parts) == (1, 1, 1)


def test_the_delivery_rate_counts_only_sms_with_a_final_report(partner_a, product_a, user_a, clock):
    order = make_order(partner_a, product=product_a)
    sms_row(order, state="delivered", sent_at=THIS_WEEK)
    sms_row(order, state="undeliverable", sent_at=THIS_WEEK)
    sms_row(order, state="sent", sent_at=THIS_WEEK)
    sms_row(order, state="sent", sent_at=THIS_WEEK)

    this = week_of(sms_reports.weekly_figures(user_a, partner_a), date(2026, 11, 23))

    assert (this.sent, this.reported, this.delivery_rate) == (4, 2, Decimal("50.0"))


def test_an_sms_counts_in_the_week_it_went_out_in_the_partner_s_country(partner_kg, make_user, clock):
    """Monday 00:30 in Bishkek is still Sunday 23:30 in Almaty: a KG partner's SMS of that moment is of the new
    week; one written on Sunday and sent on Monday morning is of the week it went out."""
    user = make_user("partner_admin", partner=partner_kg)
    order = make_order(partner_kg)
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 23, 0, 30, tzinfo=BISHKEK))
    sms_row(
        order,
        state="sent",
        created_at=datetime(2026, 11, 22, 22, 0, tzinfo=BISHKEK),
        sent_at=datetime(2026, 11, 23, 9, 0, tzinfo=BISHKEK),
    )
    sms_row(order, state="delivered", sent_at=datetime(2026, 11, 22, 23, 30, tzinfo=BISHKEK))

    figures = sms_reports.weekly_figures(user, partner_kg)

    assert week_of(figures, date(2026, 11, 23)).sent == 2
    assert week_of(figures, date(2026, 11, 16)).sent == 1


def test_the_weekly_figures_are_one_query_whatever_the_number_of_sms(
    partner_a, product_a, user_a, clock, django_assert_num_queries
):
    order = make_order(partner_a, product=product_a)
    for state in ("delivered", "undeliverable", "expired", "sent"):
        sms_row(order, state=state, sent_at=LAST_WEEK)

    with django_assert_num_queries(1):
        sms_reports.weekly_figures(user_a, partner_a)


def test_the_partner_s_sms_page_shows_the_weeks_as_a_chart_and_a_table(client_a, partner_a, product_a, clock):
    order = make_order(partner_a, product=product_a)
    sms_row(order, state="delivered", sent_at=LAST_WEEK, segments=2)
    sms_row(order, state="undeliverable", sent_at=LAST_WEEK, segments=1)

    response = client_a.get(reverse("integrations:sms"))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="sms-weeks-table"' in body and "kl-chart-svg" in body
    last = week_of(response.context["figures"], date(2026, 11, 16))
    assert (last.sent, last.parts, last.delivery_rate) == (2, 3, Decimal("50.0"))


def test_our_staff_see_a_partner_s_weeks_on_its_sms_page(partner_a, product_a, head, login, clock):
    order = make_order(partner_a, product=product_a)
    sms_row(order, state="delivered", sent_at=THIS_WEEK, segments=2)

    response = login(head).get(reverse("integrations:partner_sms", args=[partner_a.pk]))

    assert response.status_code == 200
    assert week_of(response.context["figures"], date(2026, 11, 23)).parts == 2


def test_a_partner_sees_only_its_own_figures(client_a, client_b, partner_a, partner_b, product_a, clock):
    own = make_order(partner_a, product=product_a)
    other = make_order(partner_b)
    sms_row(own, state="delivered", sent_at=THIS_WEEK, segments=1)
    for _ in range(3):
        sms_row(other, state="delivered", sent_at=THIS_WEEK, segments=4)

    mine = client_a.get(reverse("integrations:sms"))
    theirs = client_b.get(reverse("integrations:sms"))

    assert week_of(mine.context["figures"], date(2026, 11, 23)).parts == 1
    assert week_of(theirs.context["figures"], date(2026, 11, 23)).parts == 12
    assert_hidden(client_b, reverse("integrations:partner_sms", args=[partner_a.pk]))


def test_a_scoped_staff_member_counts_only_the_sms_they_may_see(partner_a, product_a, make_user, clock):
    """The figures come through `access.scoped`: staff of another country see none of the partner's SMS."""
    order = make_order(partner_a, product=product_a)
    sms_row(order, state="delivered", sent_at=THIS_WEEK)
    elsewhere = make_user("head_of_department", scopes=[{"country": "KG"}])

    figures = sms_reports.weekly_figures(elsewhere, partner_a)

    assert sum(week.sent for week in figures) == 0
