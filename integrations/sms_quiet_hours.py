"""Quiet hours: no customer's SMS at night in the customer's own zone.

Per country, `SMS_QUIET_HOURS` ("21:00-09:00" by default, a window that may cross midnight; "off" for none), read in
the zone of the customer's city: an SMS due inside the window waits for its end (held until 09:00 local), so a
customer in Bishkek (UTC+6) and one in Almaty (UTC+5) each get theirs at nine in their own morning. A setting that
does not read is reported by `manage.py check` at startup (`integrations.models.sms_settings_read`), not in the first
order's move.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


@lru_cache(maxsize=16)
def _parse_window(text: str) -> tuple[time, time]:
    start, _sep, end = text.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def quiet_hours(country: str) -> tuple[time, time] | None:
    """The country's quiet hours (start, end) from `SMS_QUIET_HOURS` ("21:00-09:00"); None when it has none
    ("off"). ValueError for a setting that does not read."""
    text = ((getattr(settings, "SMS_QUIET_HOURS", {}) or {}).get(country) or "").strip()
    return _parse_window(text) if text and text.lower() != "off" else None


def held_until(*, country: str, zone: str, now: datetime) -> datetime | None:
    """When an SMS due `now` may go out: None if now, else the end of the quiet hours in the customer's zone."""
    window = quiet_hours(country)
    if window is None:
        return None
    start, end = window
    local = timezone.localtime(now, ZoneInfo(zone))
    moment = local.time()
    quiet = (start <= moment or moment < end) if start > end else (start <= moment < end)
    if not quiet:
        return None
    day: date = local.date() if moment < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=ZoneInfo(zone))
