"""SMS rows as the outbox and its sweep leave them (issue 19), written directly: for the figures, the costs report, the
customer card and the weekly charge run, which read what was sent, not how.

    sms_row(order, state="delivered", sent_at=moment, segments=2)

Each row takes the order's next event (an order has one SMS per event); a message that went out (sent, delivered,
undeliverable, expired) needs `sent_at`, one that did not has none."""

from datetime import timedelta

from django.utils import timezone

from integrations.models import SmsMessage
from integrations.sms_texts import SmsEvent

WENT_OUT = {"sent", "delivered", "undeliverable", "expired"}
MASKED = "+7 *** *** 45 67"


def sms_row(order, *, state="sent", sent_at=None, segments=1, created_at=None, is_test=None) -> SmsMessage:
    assert (sent_at is not None) == (state in WENT_OUT), (
        "a message that went out has sent_at, no other one has"
    )
    used = set(SmsMessage.objects.filter(order=order).values_list("event", flat=True))
    event = next(event for event in SmsEvent.values if event not in used)
    created = created_at or (sent_at - timedelta(minutes=2) if sent_at else timezone.now())
    return SmsMessage.objects.create(
        partner_id=order.partner_id,
        order=order,
        event=event,
        language="ru",
        text="Здравствуйте! Ваш заказ в пути.",
        segments=segments,
        encoding="ucs2",
        phone_masked=MASKED,
        state=state,
        is_test=order.is_test if is_test is None else is_test,
        gateway="smpp" if sent_at else "",
        gateway_id=f"gw-{order.pk}-{event}" if sent_at else "",
        next_attempt_at=created,
        created_at=created,
        sent_at=sent_at,
        delivered_at=sent_at + timedelta(minutes=1) if state == "delivered" else None,
        reported_at=sent_at + timedelta(minutes=1)
        if state in {"delivered", "undeliverable", "expired"}
        else None,
    )
