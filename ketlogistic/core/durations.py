"""Durations as people read them: «2 ч 15 мин», «13 дней 10 ч», «1 мин 13 с», never `13 days, 10:57:55.783830`.

The two largest units that matter and no more: an average wait of thirteen days is not read to the second, and a
call of a minute is. Numbers are floored (2 h 59 min is not 3 h). A number and its unit are held together by a
no-break space, so a narrow cell wraps between the parts, never inside one. Days are a word and agree with their
number (ngettext: «1 день, 2 дня, 5 дней»); hours, minutes and seconds are the usual abbreviations, which in Russian
do not change with the number («1 ч, 5 ч»).
"""

from datetime import timedelta
from decimal import Decimal

from django.utils.translation import ngettext, pgettext

NBSP = "\u00a0"


def _days(count: int) -> str:
    return ngettext("%(count)s day", "%(count)s days", count) % {"count": count}


def _hours(value: int) -> str:
    return pgettext("duration", "%(value)s h") % {"value": value}


def _minutes(value: int) -> str:
    return pgettext("duration", "%(value)s min") % {"value": value}


def _seconds(value: int) -> str:
    return pgettext("duration", "%(value)s s") % {"value": value}


def format_duration(value: timedelta | int | float | Decimal | None) -> str:
    """A timedelta (or a number of seconds) for people; "—" for None."""
    if value is None or value == "":
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "−" if seconds < 0 else ""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [_days(days)] + ([_hours(hours)] if hours else [])
    elif hours:
        parts = [_hours(hours)] + ([_minutes(minutes)] if minutes else [])
    elif minutes:
        parts = [_minutes(minutes)] + ([_seconds(secs)] if secs and minutes < 10 else [])
    else:
        parts = [_seconds(secs)]
    return sign + " ".join(part.replace(" ", NBSP) for part in parts)
