"""Working calendar: hours, weekends, holidays, per country in its own zone."""

from datetime import date, datetime, time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.run import round_the_clock_calendar
from ketlogistic.core import calendar
from ketlogistic.core.calendar import CountryCalendar, calendar_for, calendars_changed
from ketlogistic.core.models import CalendarException, WorkingCalendar
from ketlogistic.core.reference import load_calendars
from ketlogistic.core.roles import Role

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
BISHKEK = ZoneInfo("Asia/Bishkek")


def test_order_arriving_friday_evening_is_worked_from_monday_morning(reference_data):
    kz = calendar_for("KZ")
    friday_evening = datetime(2026, 11, 20, 19, 30, tzinfo=ALMATY)

    assert kz.work_starts_for(friday_evening) == datetime(2026, 11, 23, 9, 0, tzinfo=ALMATY)


def test_order_arriving_in_working_hours_is_worked_at_once(reference_data):
    kz = calendar_for("KZ")
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=ALMATY)

    assert kz.work_starts_for(tuesday_noon) == tuesday_noon
    assert kz.is_working_time(tuesday_noon)


def test_order_arriving_before_opening_waits_for_nine(reference_data):
    kz = calendar_for("KZ")

    assert kz.work_starts_for(datetime(2026, 11, 24, 7, 15, tzinfo=ALMATY)) == datetime(
        2026, 11, 24, 9, 0, tzinfo=ALMATY
    )


def test_public_holidays_are_skipped(reference_data):
    kz = calendar_for("KZ", year_from=2026)
    # 16 December 2026 (Wednesday) is Independence Day in Kazakhstan.
    assert not kz.is_working_day(date(2026, 12, 16))
    assert kz.work_starts_for(datetime(2026, 12, 15, 18, 30, tzinfo=ALMATY)) == datetime(
        2026, 12, 17, 9, 0, tzinfo=ALMATY
    )


def test_a_moved_working_saturday_counts(reference_data):
    CalendarException.objects.create(
        country="KG", date=date(2026, 11, 28), is_working_day=True, name="перенос"
    )
    kg = calendar_for("KG", year_from=2026)

    assert kg.is_working_day(date(2026, 11, 28))
    assert kg.work_starts_for(datetime(2026, 11, 27, 20, 0, tzinfo=BISHKEK)) == datetime(
        2026, 11, 28, 9, 0, tzinfo=BISHKEK
    )


def test_eight_working_hours_run_over_the_evening(reference_data):
    kz = calendar_for("KZ")
    asked = datetime(2026, 11, 24, 15, 0, tzinfo=ALMATY)  # Tuesday 15:00: 3 hours today, 5 tomorrow

    assert kz.add_working_hours(asked, 8) == datetime(2026, 11, 25, 14, 0, tzinfo=ALMATY)


def test_seven_working_days_skip_the_weekend(reference_data):
    kz = calendar_for("KZ")

    assert kz.add_working_days(date(2026, 11, 20), 7) == date(2026, 12, 1)


def test_countries_use_their_own_zone(reference_data):
    same_moment = datetime(
        2026, 11, 24, 3, 30, tzinfo=ZoneInfo("UTC")
    )  # 08:30 in Almaty and 09:30 in Bishkek

    assert not calendar_for("KZ").is_working_time(same_moment)
    assert calendar_for("KG").is_working_time(same_moment)


# -- calendars kept by each process ----------------------------------------------------------------------------------


def _reads(country: str = "KZ") -> tuple[int, CountryCalendar]:
    with CaptureQueriesContext(connection) as queries:
        calendar = calendar_for(country)
    return len(queries.captured_queries), calendar


def test_a_calendar_is_read_once_and_again_after_every_change_through_the_admin(make_user, login):
    client = login(make_user(Role.ADMINISTRATOR))
    saturday = date(2026, 11, 28)
    assert [_reads()[0], _reads()[0]] == [2, 0]  # the hours and the exceptions, then kept

    # a moved working Saturday added: the next read has it
    added = client.post(
        reverse("admin:core_calendarexception_add"),
        {"country": "KZ", "date": "2026-11-28", "is_working_day": "on", "name": "перенос"},
    )
    assert added.status_code == 302
    reads, kz = _reads()
    assert (reads, kz.is_working_day(saturday)) == (2, True)

    # the working day made longer: seen at once
    hours = WorkingCalendar.objects.get(country="KZ")
    changed = client.post(
        reverse("admin:core_workingcalendar_change", args=[hours.pk]),
        {"country": "KZ", "day_starts_at": "08:00", "day_ends_at": "20:00", "working_weekdays": "1,2,3,4,5"},
    )
    assert changed.status_code == 302
    reads, kz = _reads()
    assert (reads, kz.starts_at, kz.ends_at) == (2, time(8, 0), time(20, 0))

    # the Saturday deleted with the list's bulk action: a day off again
    moved = CalendarException.objects.get(country="KZ", date=saturday)
    deleted = client.post(
        reverse("admin:core_calendarexception_changelist"),
        {"action": "delete_selected", "_selected_action": [moved.pk], "post": "yes", "index": "0"},
    )
    assert deleted.status_code == 302
    reads, kz = _reads()
    assert (reads, kz.is_working_day(saturday)) == (2, False)

    # and deleted one by one from its own page
    again = CalendarException.objects.create(country="KZ", date=saturday, is_working_day=True, name="перенос")
    calendars_changed()
    assert _reads()[1].is_working_day(saturday)
    assert (
        client.post(
            reverse("admin:core_calendarexception_delete", args=[again.pk]), {"post": "yes"}
        ).status_code
        == 302
    )
    assert _reads()[1].is_working_day(saturday) is False


def test_the_reference_calendars_are_read_again_once_loaded(reference_data):
    CalendarException.objects.filter(country="KZ").delete()
    assert calendar_for("KZ", year_from=2026).is_working_day(date(2026, 12, 16))  # no holidays yet, and kept

    load_calendars(years=[2026])

    assert not calendar_for("KZ", year_from=2026).is_working_day(date(2026, 12, 16))  # Independence Day


def test_the_round_the_clock_calendar_is_read_again_once_set(reference_data):
    night = datetime(2026, 11, 24, 3, 0, tzinfo=ALMATY)
    assert not calendar_for("KZ").is_working_time(night)

    round_the_clock_calendar()

    assert calendar_for("KZ").is_working_time(night)


def test_a_change_made_by_another_process_is_read_after_the_calendars_lifetime(
    reference_data, settings, monkeypatch
):
    settings.WORKING_CALENDAR_CACHE_SECONDS = 60
    elapsed = [1000.0]
    monkeypatch.setattr(calendar, "clock", SimpleNamespace(monotonic=lambda: elapsed[0]))
    saturday = date(2026, 11, 28)
    assert _reads()[0] == 2
    # another process adds a moved working Saturday: this one does not know
    CalendarException.objects.create(country="KZ", date=saturday, is_working_day=True, name="перенос")

    elapsed[0] += 59.9
    kept_reads, kept = _reads()
    elapsed[0] += 0.1
    fresh_reads, fresh = _reads()

    assert (kept_reads, kept.is_working_day(saturday)) == (0, False)
    assert (fresh_reads, fresh.is_working_day(saturday)) == (2, True)


def test_a_kept_calendar_cannot_be_changed_by_its_reader(reference_data):
    kz = calendar_for("KZ")

    with pytest.raises(TypeError):
        kz.exceptions[date(2026, 11, 28)] = True  # type: ignore[index]
