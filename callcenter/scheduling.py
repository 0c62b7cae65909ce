"""When to call a customer next, in the customer's time and within working hours.

* No answer / busy: a second call the same day 3–5 hours later (two calls a day); then every
  working day, from the start of the day, for up to a month (the partner's rule, 30 days by default);
  after that the order closes as "not reached".
* The customer asks to be called back at a time: exactly then (moved into working hours).
* The customer postpones to a date: the start of that working day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ketlogistic.core.calendar import CountryCalendar, calendar_for

from .models import Outcome

SECOND_CALL_AFTER = timedelta(hours=4)
SECOND_CALL_AT_LEAST = timedelta(hours=3)
SECOND_CALL_AT_MOST = timedelta(hours=5)
CALLS_PER_DAY = 2


def _calendar(order) -> CountryCalendar:
    return calendar_for(order.country)


def first_call_at(order, now: datetime) -> datetime:
    """An order that reaches calling is called at once, or when working time starts."""
    calendar = _calendar(order)
    return calendar.work_starts_for(max(now, order.work_available_from))


def second_call_same_day(calendar: CountryCalendar, now: datetime) -> datetime | None:
    """3–5 hours later, if that is still within today's working hours."""
    local = now.astimezone(calendar.zone)
    end = calendar.day_end(local.date())
    for delay in (SECOND_CALL_AFTER, SECOND_CALL_AT_LEAST):
        candidate = local + delay
        if candidate <= end and calendar.is_working_time(candidate):
            return candidate
    return None


def next_working_start(calendar: CountryCalendar, now: datetime) -> datetime:
    local = now.astimezone(calendar.zone)
    return calendar.day_start(calendar.next_working_day(local.date()))


def start_of(calendar: CountryCalendar, day: date) -> datetime:
    if not calendar.is_working_day(day):
        day = calendar.next_working_day(day)
    return calendar.day_start(day)


def next_call_after(
    order,
    *,
    outcome: str,
    calls_that_day: int,
    now: datetime,
    callback_at: datetime | None = None,
    postponed_to: date | None = None,
) -> datetime | None:
    """When the order is due again after an attempt with this outcome (None: no more calls needed)."""
    calendar = _calendar(order)
    if outcome in (Outcome.NO_ANSWER, Outcome.BUSY):
        if calls_that_day < CALLS_PER_DAY:
            same_day = second_call_same_day(calendar, now)
            if same_day is not None:
                return same_day
        return next_working_start(calendar, now)
    if outcome == Outcome.CALLBACK and callback_at is not None:
        return calendar.work_starts_for(callback_at)
    if outcome == Outcome.POSTPONED and postponed_to is not None:
        return start_of(calendar, postponed_to)
    if outcome in (Outcome.WRONG_NUMBER, Outcome.ESCALATED):
        return next_working_start(calendar, now)
    return None


def local_day(order, moment: datetime) -> date:
    return moment.astimezone(_calendar(order).zone).date()
