"""Values from query strings and forms that views turn into ids and days: anything else is "not given", never a
crash (`int("²")` raises although `"²".isdigit()` is true; `date.max + 1 day` overflows)."""

from __future__ import annotations

import re
from datetime import UTC, date

import django_filters
from django.core.exceptions import BadRequest, ValidationError
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField

# NUL and unpaired surrogates (JSON may escape them: "\u0000", a lone "\ud83d") cannot be stored by PostgreSQL,
# nor compared with what it stores (a filter on them fails in the database), and UTF-8 cannot encode the
# surrogates. Query strings and forms are refused whole (`middleware.UnstorableInputMiddleware`), so is a JSON
# body (`integrations.api.parsers`); other sources, such as pull connectors, have them stripped by the intake.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def parse_id(value) -> int | None:
    """A database id, or None for anything else."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def parse_count(value, *, default: int, maximum: int) -> int:
    """A positive whole number (days to look back, rows to show) up to `maximum`; `default` for anything else.

    `int()` of a 10 000-digit text raises, and `timedelta(days=10**17)` overflows: both were 500s."""
    number = parse_id(value)
    if not number:
        return default
    return min(number, maximum)


def parse_day(value) -> date | None:
    """An ISO date (2026-11-23) within the years the business can mean, or None."""
    try:
        day = date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None
    return day if EARLIEST_DAY <= day <= LATEST_DAY else None


class UnstorableParameter(BadRequest):
    """A query-string or form parameter holds text that cannot be stored; answered 400 with this message."""

    def __init__(self, name: str) -> None:
        shown = UNSTORABLE.sub("?", name)[:100]
        self.parameter = shown
        self.message = _(
            "The parameter «%(name)s» holds a NUL character or an unpaired surrogate, which cannot be stored; "
            "nothing was done. Remove the character and try again."
        ) % {"name": shown}
        super().__init__(self.message)


def first_unstorable(parameters) -> str | None:
    """The name of the first parameter (a QueryDict) whose name or any value holds unstorable text, or None."""
    for name, values in parameters.lists():
        if UNSTORABLE.search(name) or any(isinstance(v, str) and UNSTORABLE.search(v) for v in values):
            return name
    return None


class InstantField(IsoDateTimeField):
    """An ISO 8601 moment with any offset Python accepts (±23:59), as the same moment in UTC. PostgreSQL takes
    offsets up to ±15:59 only ("time zone displacement out of range"): given as they came, `…-23:44` was a 500.
    A moment whose UTC falls past year 9999 is invalid input."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class InstantFilter(django_filters.IsoDateTimeFilter):
    """`IsoDateTimeFilter` that hands the database the moment in UTC (`InstantField`): every filter by a moment."""

    field_class = InstantField
