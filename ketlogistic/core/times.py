"""The one way a time leaves the system for a partner's machine (API answers, webhook payloads): RFC 3339 in UTC
with `Z` and always six digits of fractional seconds, `2026-12-07T05:58:00.000000Z`.

Fixed width and always UTC, whatever time zone is active: such texts sort as the instants they name, and a time
read back (`updated_since=…`) names exactly the instant it was given as. Dates without a time stay `YYYY-MM-DD`.
"""

from datetime import UTC, datetime

from django.utils import timezone


def utc_rfc3339(dt: datetime | None) -> str | None:
    """`dt` as RFC 3339 in UTC with `Z` (None stays None). A naive time is taken in the default time zone, as
    Django stores it."""
    if dt is None:
        return None
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, timezone.get_default_timezone())
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
