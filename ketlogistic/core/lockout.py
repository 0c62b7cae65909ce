"""Login lockout: after repeated failures an account name is locked for a cool-off period.

Counted per account name in the database, so neither a changed client address nor a spoofed
X-Forwarded-For header resets it, and several web workers agree on the count.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import LoginThrottle


def _key(username: str) -> str:
    return (username or "").strip().casefold()[:150]


def locked_until(username: str) -> datetime | None:
    row = LoginThrottle.objects.filter(username=_key(username)).only("locked_until").first()
    if row and row.locked_until and row.locked_until > timezone.now():
        return row.locked_until
    return None


@transaction.atomic
def login_failed(username: str) -> datetime | None:
    """Count a failure; returns the lock's end if this failure locks the account name."""
    now = timezone.now()
    row, _created = LoginThrottle.objects.select_for_update().get_or_create(username=_key(username))
    if row.first_failure_at is None or now - row.first_failure_at > settings.LOGIN_LOCKOUT_WINDOW:
        row.failures = 0
        row.first_failure_at = now
    row.failures += 1
    if row.failures >= settings.LOGIN_LOCKOUT_THRESHOLD:
        row.locked_until = now + settings.LOGIN_LOCKOUT_COOLOFF
        row.failures = 0
        row.first_failure_at = None
    row.save(update_fields=["failures", "first_failure_at", "locked_until"])
    return row.locked_until if row.locked_until and row.locked_until > now else None


def login_succeeded(username: str) -> None:
    LoginThrottle.objects.filter(username=_key(username)).delete()


def failures_left(username: str) -> int:
    """How many more failures the account name may have before it is locked (the threshold when none counts)."""
    row = LoginThrottle.objects.filter(username=_key(username)).only("failures", "first_failure_at").first()
    if row is None or row.first_failure_at is None:
        return settings.LOGIN_LOCKOUT_THRESHOLD
    if timezone.now() - row.first_failure_at > settings.LOGIN_LOCKOUT_WINDOW:
        return settings.LOGIN_LOCKOUT_THRESHOLD
    return max(settings.LOGIN_LOCKOUT_THRESHOLD - row.failures, 0)
