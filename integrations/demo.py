"""Demo integration: a sandbox API key for «Алем Трейд», made for this installation and printed by `make run`,
and a sandbox catalogue (copies of its live products) so that test orders can be sent with it at once; the demo
orders' SMS as a working gateway would have left them (`sms_history`).

The key is random, issued once per installation like any other key (only its hash is in the database), and its
text is kept beside the uploaded files (`MEDIA_ROOT/demo/sandbox-api-key.txt`, readable by its owner only) so
that every `make run` can print it again. A key that no longer works there (another database, revoked) is
replaced. The fixed key earlier versions published (`kl_test_demo0000_…`) is revoked wherever it is found.
"""

import os
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from catalogue.models import Product
from ketlogistic.core import i18n
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from orders.models import OrderHistory

from .api_keys import active_key, api_key_create
from .models import ApiKey, SmsMessage
from .sms import STILL_TRUE_WHILE
from .sms_quiet_hours import held_until

DEMO_PARTNER = "Алем Трейд"
DEMO_KEY_NAME = "Демо: песочница"
PUBLISHED_PREFIX = "kl_test_demo0000"  # the key every installation shared before: never valid again


def key_file() -> Path:
    return Path(settings.MEDIA_ROOT) / "demo" / "sandbox-api-key.txt"


def _working(raw: str) -> bool:
    key = active_key(raw)
    return key is not None and key.is_test and key.partner.name == DEMO_PARTNER


def demo_sandbox_key() -> str | None:
    """This installation's demo sandbox key, if it has one that works."""
    try:
        raw = key_file().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return raw if raw and _working(raw) else None


def _write(raw: str) -> None:
    path = key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(raw + "\n")


@transaction.atomic
def seed(context: dict | None = None) -> dict:
    ApiKey.objects.filter(prefix=PUBLISHED_PREFIX, revoked_at__isnull=True).update(revoked_at=timezone.now())
    partner = Partner.objects.get(name=DEMO_PARTNER)
    for product in Product.objects.filter(partner=partner, is_test=False).order_by("sku"):
        Product.objects.get_or_create(
            partner=partner,
            sku=product.sku,
            is_test=True,
            defaults={"name": product.name, "price": product.price, "weight_grams": product.weight_grams},
        )
    raw = demo_sandbox_key()
    if raw is None:
        ApiKey.objects.filter(
            partner=partner, name=DEMO_KEY_NAME, is_test=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        raw = api_key_create(partner=partner, name=DEMO_KEY_NAME, is_test=True).key
        _write(raw)
    history = sms_history(now=timezone.now())
    return {"demo_sandbox_key": raw, "demo_sms": history}


# The demo orders lived their lives in a moment (setup.order_lives, at their own past times): their SMS were written
# then, but no sweep ran between the steps, so the orders that closed since would show every earlier SMS «not sent:
# closed before it went out». What a working gateway would have made of them instead, decided by each message's own
# times. Messages of the last hour are left to the real sweep (`make run`'s worker sends them through the configured
# gateway, or holds them for the morning).
RECENT = timedelta(hours=1)
State = SmsMessage.State
SIMULATED_GATEWAY = "smpp"
OUTCOMES = (  # by the message's id, modulo 40: most delivered, and each other ending a few times
    (0, State.FAILED),
    (1, State.UNDELIVERABLE),
    (2, State.UNDELIVERABLE),
    (3, State.EXPIRED),
)


def _sent_at(message: SmsMessage) -> datetime:
    order = message.order
    held = held_until(country=order.country, zone=order.city.timezone, now=message.created_at)
    return (held or message.created_at) + timedelta(seconds=2 + message.pk % 7)


def _ending(message: SmsMessage, sent_at: datetime, now: datetime) -> None:
    """Sent at `sent_at`; then what the gateway reported, by the message's id (and a few recent ones unreported)."""
    message.gateway, message.gateway_id, message.attempts = SIMULATED_GATEWAY, f"demo-{message.pk}", 1
    message.sent_at, message.next_attempt_at = sent_at, sent_at
    message.error, message.error_message = "", {}
    ending = dict(OUTCOMES).get(message.pk % 40, State.DELIVERED)
    if ending == State.FAILED:
        reason = gettext_message("Refused by the gateway.")
        message.state, message.sent_at, message.gateway_id = State.FAILED, None, ""
        message.error, message.error_message = str(reason), i18n.stored(reason)
        return
    reported = sent_at + (
        timedelta(hours=24) if ending == State.EXPIRED else timedelta(seconds=8 + message.pk % 50)
    )
    if reported > now or (now - sent_at < timedelta(days=2) and message.pk % 9 == 4):
        message.state = State.SENT  # no report yet
        return
    message.state, message.reported_at = ending, reported
    message.delivered_at = reported if ending == State.DELIVERED else None


@transaction.atomic
def sms_history(*, now: datetime) -> dict[str, int]:
    """The demo orders' older SMS as they would stand: sent at their moment (after the quiet hours), not sent when
    the order moved past their step first, and then delivered, undeliverable, expired or refused. Only messages the
    real sweep has not touched (waiting, or cancelled by the order's close) change; idempotent."""
    closed = str(gettext_message("Not sent: the order was closed before it went out."))
    rows = list(
        SmsMessage.objects.select_for_update()
        .filter(is_test=False, created_at__lt=now - RECENT, attempts=0, gateway_id="")
        .filter(Q(state__in=(State.QUEUED, State.HELD)) | Q(state=State.CANCELLED, error=closed))
        .select_related("order__city")
        .order_by("id")
    )
    moves: dict[int, list[datetime]] = {}
    for order_id, at in (
        OrderHistory.objects.filter(order_id__in={row.order_id for row in rows}).order_by("order_id", "at")
    ).values_list("order_id", "at"):
        moves.setdefault(order_id, []).append(at)
    moved_on = gettext_message("Not sent: the order moved on before it could go out.")
    for row in rows:
        sent_at = _sent_at(row)
        later = [at for at in moves.get(row.order_id, []) if at > row.created_at]
        if STILL_TRUE_WHILE.get(row.event) is not None and later and later[0] <= sent_at:
            row.state, row.error, row.error_message = State.CANCELLED, str(moved_on), i18n.stored(moved_on)
        elif sent_at > now:
            continue
        else:
            _ending(row, sent_at, now)
    SmsMessage.objects.bulk_update(
        rows,
        [
            "state",
            "gateway",
            "gateway_id",
            "attempts",
            "sent_at",
            "next_attempt_at",
            "error",
            "error_message",
            "reported_at",
            "delivered_at",
        ],
        batch_size=500,
    )
    return dict(
        SmsMessage.objects.filter(is_test=False)
        .values("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
