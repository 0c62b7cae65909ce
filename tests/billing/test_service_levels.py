"""Service levels (seeds 003, 004): each promise's share met in a month, counted from the records on the country's
working calendar — here a controlled one: 09:00–18:00 Monday to Friday, and Wednesday 14 October 2026 a holiday in
Kazakhstan (nothing else)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from billing import service_levels
from billing.service_levels import (
    PROMISES,
    missed_calls_returned,
    partner_questions_answered,
)
from billing.service_levels import (
    service_levels as measure_all,
)
from callcenter.models import InboundCall
from callcenter.services import inbound_log
from ketlogistic.core.calendar import calendars_changed
from ketlogistic.core.models import CalendarException, WorkingCalendar
from ketlogistic.core.roles import Role
from orders.services import discussion_close, discussion_post
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
BISHKEK = ZoneInfo("Asia/Bishkek")
OCTOBER = date(2026, 10, 1)
HOLIDAY = date(2026, 10, 14)  # a Wednesday


def at(day: int, hour: int, minute: int = 0, *, month: int = 10, zone=ALMATY) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


@pytest.fixture(autouse=True)
def october_calendar(reference_data):
    for country in ("KZ", "KG"):
        WorkingCalendar.objects.update_or_create(
            country=country,
            defaults={"day_starts_at": time(9), "day_ends_at": time(18), "working_weekdays": [1, 2, 3, 4, 5]},
        )
    CalendarException.objects.all().delete()
    CalendarException.objects.create(
        country="KZ", date=HOLIDAY, is_working_day=False, name="Тестовый праздник"
    )
    calendars_changed()


def missed_call(order, received_at, called_back_at=None, *, country="KZ"):
    call = inbound_log(
        actor=None,
        order=order,
        missed=True,
        phone="+7 701 222 33 44",
        country=country,
        received_at=received_at,
    )
    if called_back_at:
        InboundCall.objects.filter(pk=call.pk).update(called_back_at=called_back_at)
    return call


def test_missed_calls_are_returned_by_the_end_of_their_working_day_holidays_excluded(
    partner_a, partner_b, product_a, make_user
):
    # given: partner A's missed calls of October, and others that must not count
    order = make_order(partner_a, product=product_a)
    missed_call(order, at(12, 10), at(12, 17, 30))  # Monday, returned the same day: met
    missed_call(order, at(13, 17, 30), at(14, 10))  # Tuesday before closing, returned the next day: late
    missed_call(
        order, at(13, 19), at(15, 17)
    )  # Tuesday after hours: due Thursday (Wednesday is a holiday): met
    missed_call(order, at(16, 20))  # Friday night, due Monday 19th at 18:00, never returned
    missed_call(
        order, at(31, 23, 30), at(2, 10, month=11)
    )  # Saturday 31st late evening in Almaty: due Monday
    missed_call(order, at(1, 0, 30, month=11), None)  # November in Almaty (still 31 October in UTC)
    missed_call(order, at(30, 23, 30, month=9), None)  # September
    inbound_log(
        actor=None, order=order, phone="+7 701 222 33 44", received_at=at(12, 11)
    )  # answered, not missed
    missed_call(
        make_order(partner_b, product=ProductFactory(partner=partner_b)), at(12, 10)
    )  # another partner
    supervisor = make_user(Role.SUPERVISOR)

    # when
    measure = missed_calls_returned(
        supervisor, month=OCTOBER, partner_id=partner_a.pk, now=at(20, 12, month=11)
    )

    # then
    assert (measure.met, measure.total, measure.pending, measure.share) == (3, 5, 0, 60)
    assert [(b.due_at, b.done_at, b.late_by) for b in measure.breaches] == [
        (at(13, 18), at(14, 10), timedelta(hours=16)),
        (at(19, 18), None, at(20, 12, month=11) - at(19, 18)),
    ]
    assert measure.breaches[0].record == "Missed call from +7 *** *** 33 44"
    assert measure.breaches[0].url == reverse("orders:detail", args=[order.pk])


def test_a_missed_call_not_due_yet_is_waiting_not_missed(partner_a, product_a, make_user):
    order = make_order(partner_a, product=product_a)
    missed_call(order, at(30, 16))  # Friday 30th: due at 18:00

    measure = missed_calls_returned(make_user(Role.SUPERVISOR), month=OCTOBER, now=at(30, 17))

    assert (measure.met, measure.total, measure.pending, measure.share, measure.breaches) == (
        0,
        0,
        1,
        None,
        [],
    )


def test_a_kg_call_counts_in_bishkek_s_month_and_calendar(partner_kg, make_user):
    order = make_order(partner_kg, product=ProductFactory(partner=partner_kg))
    # Wednesday 14th is a holiday in Kazakhstan only: a Bishkek call of Tuesday evening is due on Wednesday
    missed_call(order, at(13, 19, zone=BISHKEK), at(15, 10, zone=BISHKEK), country="KG")
    missed_call(order, at(1, 0, 30, month=11, zone=BISHKEK), None, country="KG")  # November in Bishkek

    measure = missed_calls_returned(make_user(Role.SUPERVISOR), month=OCTOBER, now=at(20, 12, month=11))

    assert (measure.met, measure.total) == (0, 1)
    assert measure.breaches[0].due_at == at(14, 18, zone=BISHKEK)
    assert measure.breaches[0].zone == "Asia/Bishkek"


def _post(actor, order, moment, text="?"):
    with time_machine.travel(moment, tick=False):
        return discussion_post(actor=actor, order=order, text=text)


def test_partner_questions_are_answered_within_8_working_hours_holidays_excluded(
    partner_a, partner_b, product_a, user_a, head, logist, make_user
):
    # given: partner A's questions of October on its orders' discussions
    first, second, third, fourth, fifth = (make_order(partner_a, product=product_a) for _ in range(5))
    _post(user_a, first, at(12, 15))  # Monday 15:00: due Tuesday 14:00
    _post(user_a, first, at(12, 16))  # adds to the same question
    _post(head, first, at(13, 13))  # answered in time
    _post(user_a, second, at(13, 16))  # Tuesday 16:00: 2 h, the holiday, 6 h → due Thursday 15:00
    _post(head, second, at(15, 14, 59))  # met only because Wednesday is a holiday
    _post(user_a, first, at(16, 17))  # a new question after our answer: Friday 17:00 → due Monday 16:00
    _post(head, first, at(20, 10))  # answered Tuesday: 18 hours late
    _post(logist, third, at(16, 11))  # our question to the partner is not one of theirs
    _post(user_a, third, at(19, 10))  # their reply awaits our word like a question: due Monday 18:00 … +1 h
    _post(logist, third, at(19, 11))
    _post(user_a, fourth, at(20, 9))  # never answered, its thread closed: not counted
    with time_machine.travel(at(20, 10), tick=False):
        discussion_close(actor=user_a, order=fourth)
    _post(user_a, fifth, at(30, 16))  # Friday 16:00: due Monday 2 November 15:00, not answered yet
    _post(
        make_user(Role.PARTNER_ADMIN, partner=partner_b),
        make_order(partner_b, product=ProductFactory(partner=partner_b)),
        at(12, 10),
    )
    now = at(2, 12, month=11)

    # when
    measure = partner_questions_answered(
        make_user(Role.SUPERVISOR), month=OCTOBER, partner_id=partner_a.pk, now=now
    )

    # then
    assert (measure.met, measure.total, measure.pending, measure.not_counted) == (3, 4, 1, 1)
    assert measure.share == 75
    [late] = measure.breaches
    assert (late.due_at, late.done_at, late.late_by) == (at(19, 16), at(20, 10), timedelta(hours=18))
    assert late.record == f"Question on order №{first.pk}"
    assert late.url == reverse("orders:detail", args=[first.pk]) + "#discussion"


def test_a_partner_measures_itself_only_and_a_head_the_partners_served(
    partner_a, partner_b, product_a, user_a, user_b, head, make_user
):
    order_a = make_order(partner_a, product=product_a)
    order_b = make_order(partner_b, product=ProductFactory(partner=partner_b))
    missed_call(order_a, at(12, 10), at(12, 11))
    missed_call(order_b, at(12, 10), None)
    _post(user_a, order_a, at(12, 10))
    _post(user_b, order_b, at(12, 10))
    now = at(20, 12, month=11)

    def figures(actor, partner_id=None):
        measured = measure_all(actor, month=OCTOBER, partner_id=partner_id, now=now)
        return [(m.met, m.total) for _promise, m in measured[:2]]

    assert figures(user_a) == [(1, 1), (0, 1)]
    assert figures(user_b) == [(0, 1), (0, 1)]
    assert figures(user_b, partner_id=partner_a.pk) == [
        (0, 0),
        (0, 0),
    ]  # a partner asking for another's: nothing
    assert figures(head) == [(1, 1), (0, 1)]  # the head serves partner A only
    assert figures(make_user(Role.SUPERVISOR)) == [(1, 2), (0, 2)]


def test_every_promise_is_in_the_registry_and_those_without_records_say_not_measured(
    partner_a, make_user, monkeypatch
):
    assert [promise.name for promise in PROMISES] == [
        "inbound_calls",
        "partner_questions",
        "claims",
        "monthly_report",
        "monthly_documents",
    ]
    monkeypatch.setattr(service_levels, "_billing_model", lambda name: None)

    measured = measure_all(make_user(Role.SUPERVISOR), month=OCTOBER, now=at(20, 12, month=11))

    assert [m.measured for _promise, m in measured] == [True, True, False, False, False]


def test_the_page_shows_the_partner_its_own_shares_and_breaches(
    client_a, partner_a, partner_b, product_a, user_b, login
):
    order = make_order(partner_a, product=product_a)
    missed_call(order, at(12, 10), at(12, 11))
    missed_call(order, at(13, 17, 30), at(14, 10))
    missed_call(make_order(partner_b, product=ProductFactory(partner=partner_b)), at(12, 10), at(12, 11))

    with time_machine.travel(at(20, 12, month=11), tick=False):
        response = client_a.get(reverse("billing:service_levels"), {"month": "2026-10"})
        other = login(user_b).get(
            reverse("billing:service_levels"), {"month": "2026-10", "partner": partner_a.pk}
        )

    assert response.status_code == 200
    inbound = measures(response)["inbound_calls"]
    assert (inbound.met, inbound.total) == (1, 2)
    breaches = text_of(response, "breaches-inbound_calls")
    assert "13.10.2026 18:00" in breaches and "14.10.2026 10:00" in breaches and "16\u00a0ч" in breaches
    assert "50\u00a0%" in text_of(response, "summary-inbound_calls")
    assert other.status_code == 200
    assert measures(other)["inbound_calls"].total == 1  # B's own


def measures(response) -> dict:
    return {row["promise"].name: row["measure"] for row in response.context["rows"]}


def text_of(response, test_id: str) -> str:
    """The text of the element with that data-testid (up to its closing tag of the same name)."""
    import re

    page = response.content.decode()
    match = re.search(rf'<(\w+)[^>]*data-testid="{test_id}".*?</\1>', page, re.DOTALL)
    assert match, test_id
    return re.sub(r"<[^>]+>", " ", match.group(0))


@pytest.mark.parametrize(
    "query",
    [
        {"month": "2026-13"},
        {"month": "abc"},
        {"month": "99999-01"},
        {"month": "1999-12"},
        {"partner": "99999999999999999999999"},
        {"partner": "²"},
        {"partner": "-1", "month": ""},
    ],
)
def test_the_page_takes_any_input_without_an_error(query, make_user, login, partner_a):
    for user in (make_user(Role.SUPERVISOR), make_user(Role.PARTNER_ADMIN, partner=partner_a)):
        response = login(user).get(reverse("billing:service_levels"), query)
        assert response.status_code == 200, (user.role, query)
