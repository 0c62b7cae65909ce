"""Working calendar: hours, weekends, holidays, per country in its own zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.models import CalendarException

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
