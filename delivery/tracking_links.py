"""The short signed link in a customer's SMS (`/t/<token>/`): it opens the public tracking page of its order without
typing the number and the digits, and expires.

A token is the URL-safe base64 (no padding) of 15 bytes: the order's id (4 bytes; 5 for an id beyond 2³², then the
token is 22 characters), the last day the link opens (days since 1970-01-01 in UTC, 2 bytes), and the first 9
bytes (72 bits) of HMAC-SHA256 over those 6 bytes, keyed by `SECRET_KEY` under a salt of its own
(`django.utils.crypto.salted_hmac`). 20 characters; a link is `PUBLIC_BASE_URL` + `/t/<token>/`.

Why not `django.core.signing`: its tokens carry the value, a timestamp and a 43-character signature, some 50
characters in all. A Russian, Kazakh or Kyrgyz SMS is UCS-2, 70 characters in one part and 67 in each part of a
longer one; every character of the link is one the text cannot use, and every part is billed. Why no row per link:
the registry evening writes 10 000 SMS at 200 a second and more (`bench/sms.py`); a token is made and checked with
one HMAC and no query.

72 bits cannot be guessed: a million tries a second would hit one valid token in about 10⁸ years, and the same
token with another order's id (or another day) needs a MAC of its own. The MAC is compared in constant time, and
checked with the keys of `SECRET_KEY_FALLBACKS` too, so rotating the secret does not break the links already sent.

A link opens nothing for a test (sandbox) order, nor once the order's personal data were erased; the page behind it
shows what `/track/` shows (steps, never a name, an address, a sum or a phone).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from orders.models import Order

SALT = "ketlogistic.delivery.tracking_links"
MAC_BYTES = 9
DAY_BYTES = 2
EPOCH = date(1970, 1, 1)
LAST_DAY = 0xFFFF  # the latest day two bytes hold (2149-06-06)
# 20 characters for an id below 2³², 22 above: nothing else is read
TOKEN = re.compile(r"[A-Za-z0-9_-]{20}|[A-Za-z0-9_-]{22}")


@dataclass(frozen=True)
class Opened:
    """What a token opens: its order, or None (then `is_expired` tells a link we made that ran out from one that is
    not ours)."""

    order: Order | None
    is_expired: bool = False


def day_number(moment: datetime) -> int:
    """The UTC day of `moment`, counted from 1970-01-01."""
    return (moment.astimezone(UTC).date() - EPOCH).days


def _mac(payload: bytes, secret: str) -> bytes:
    return salted_hmac(SALT, payload, secret=secret, algorithm="sha256").digest()[:MAC_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def link_token(order: Order, *, now: datetime | None = None) -> str:
    """The order's token, opening its page until the end (UTC) of the day `SMS_LINK_DAYS` days after `now`."""
    now = now or timezone.now()
    size = 4 if order.pk < 2**32 else 5
    last_day = min(day_number(now) + settings.SMS_LINK_DAYS, LAST_DAY)
    payload = order.pk.to_bytes(size, "big") + last_day.to_bytes(DAY_BYTES, "big")
    return _encode(payload + _mac(payload, settings.SECRET_KEY))


def _read(token: str) -> tuple[int, int] | None:
    """The order id and the last day of a well-formed token whose MAC is ours (any key still accepted)."""
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if _encode(raw) != token:  # one spelling per token: no spare bits in the last character
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    order_id = int.from_bytes(payload[:-DAY_BYTES], "big")
    if (len(payload) - DAY_BYTES == 5) != (order_id >= 2**32):
        return None  # an id written longer than we write it
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(mac, _mac(payload, secret)) for secret in secrets):
        return None
    return order_id, int.from_bytes(payload[-DAY_BYTES:], "big")


def open_link(token: str, *, now: datetime | None = None) -> Opened:
    """The order a token opens now: refused when malformed, not signed by us, expired, or for a test order or one
    whose personal data were erased."""
    found = _read(token)
    if found is None:
        return Opened(None)
    order_id, last_day = found
    if day_number(now or timezone.now()) > last_day:
        return Opened(None, is_expired=True)
    order = (
        Order.objects.filter(pk=order_id, is_test=False, personal_data_erased_at__isnull=True)
        .select_related("city")
        .first()
    )
    return Opened(order)


def order_for_token(token: str, *, now: datetime | None = None) -> Order | None:
    """The order a token opens now, or None (see `open_link`)."""
    return open_link(token, now=now).order
