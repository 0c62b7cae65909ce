"""Working time: hours and working days per country, holidays and moved working days.

Orders that arrive outside working time are worked from the start of the next working day; service
levels count working hours and working days. All computations happen in the country's own zone.

Each process keeps the calendars it read for `WORKING_CALENDAR_CACHE_SECONDS` (the logists' queue asks for them on
every pull, intake for every order): a change made through the admin or the reference data is seen at once in the
process that made it (`calendars_changed`) and within that time in the others.
"""

import time as clock
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .countries import Country, zone_of
from .models import CalendarException, WorkingCalendar

DEFAULT_START = time(9, 0)
DEFAULT_END = time(18, 0)
DEFAULT_WEEKDAYS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class CountryCalendar:
    country: str
    zone: ZoneInfo
    starts_at: time
    ends_at: time
    weekdays: frozenset[int]
    # date → is it a working day; read-only, for one calendar serves every caller in the process
    exceptions: Mapping[date, bool]

    def is_working_day(self, day: date) -> bool:
        if day in self.exceptions:
            return self.exceptions[day]
        return day.isoweekday() in self.weekdays

    def is_working_time(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return self.is_working_day(local.date()) and self.starts_at <= local.time() < self.ends_at

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, self.starts_at, tzinfo=self.zone)

    def day_end(self, day: date) -> datetime:
        return datetime.combine(day, self.ends_at, tzinfo=self.zone)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        candidate = day + timedelta(days=1)
        for _ in range(400):
            if self.is_working_day(candidate):
                return candidate
            candidate += timedelta(days=1)
        raise ValueError(f"No working day within a year after {day} in {self.country}")

    def work_starts_for(self, moment: datetime) -> datetime:
        """When work on something that arrived at `moment` can start: now if in hours, else next opening."""
        local = moment.astimezone(self.zone)
        if self.is_working_day(local.date()):
            if local.time() < self.starts_at:
                return self.day_start(local.date())
            if local.time() < self.ends_at:
                return local
        return self.day_start(self.next_working_day(local.date()))

    def add_working_hours(self, moment: datetime, hours: float) -> datetime:
        """The moment `hours` of working time after `moment` (for "answered within 8 working hours")."""
        remaining = timedelta(hours=hours)
        current = self.work_starts_for(moment)
        while True:
            end = self.day_end(current.date())
            available = end - current
            if remaining <= available:
                return current + remaining
            remaining -= available
            current = self.day_start(self.next_working_day(current.date()))

    def add_working_days(self, day: date, days: int) -> date:
        """The working day `days` working days after `day` (for "within 7 working days")."""
        current = day
        for _ in range(days):
            current = self.next_working_day(current)
        return current


def countries_at_work(moment: datetime) -> list[str]:
    """The countries whose working time `moment` falls in, each in its own zone (KG's day starts an hour before
    KZ's and ends an hour before it; their holidays differ)."""
    return [country for country in Country.values if calendar_for(country).is_working_time(moment)]


# (country, first year of exceptions) → (when it was read, on the monotonic clock; the calendar). Hand-written
# rather than Django's cache: the shared cache is Redis, and a frozen Redis must not hold up intake or the queue
# (each command may wait seconds), while a process's own memory cannot fail.
_calendars: dict[tuple[str, int], tuple[float, CountryCalendar]] = {}
_generation = 0


def calendars_changed() -> None:
    """Forget the calendars this process read: called by every path that writes working calendars or their
    exceptions (the admin, the reference data), and by tests before each test. Again once the change commits: a
    read in between saw the rows as they were."""
    _forget()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_forget)


def _forget() -> None:
    global _generation
    _generation += 1
    _calendars.clear()


def calendar_for(country: str, *, year_from: int | None = None) -> CountryCalendar:
    """The country's calendar as configured (with built-in defaults when nothing is configured), read at most once
    per `WORKING_CALENDAR_CACHE_SECONDS` in this process (None: until `calendars_changed`)."""
    today = timezone.now().astimezone(zone_of(country)).date()
    first_year = year_from if year_from is not None else today.year - 1
    key = (country, first_year)
    lifetime = settings.WORKING_CALENDAR_CACHE_SECONDS
    read_at = clock.monotonic()
    cached = _calendars.get(key)
    if cached is not None and (lifetime is None or read_at - cached[0] < lifetime):
        return cached[1]
    generation = _generation
    calendar = _read_calendar(country, first_year)
    if generation == _generation:  # not changed while it was read: the next caller may have it
        _calendars[key] = (read_at, calendar)
    return calendar


def _read_calendar(country: str, first_year: int) -> CountryCalendar:
    config = WorkingCalendar.objects.filter(country=country).first()
    exceptions = dict(
        CalendarException.objects.filter(country=country, date__year__gte=first_year).values_list(
            "date", "is_working_day"
        )
    )
    return CountryCalendar(
        country=country,
        zone=zone_of(country),
        starts_at=config.day_starts_at if config else DEFAULT_START,
        ends_at=config.day_ends_at if config else DEFAULT_END,
        weekdays=frozenset(config.working_weekdays or DEFAULT_WEEKDAYS)
        if config
        else frozenset(DEFAULT_WEEKDAYS),
        exceptions=MappingProxyType(exceptions),
    )
