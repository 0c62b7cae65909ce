"""Reads of the integrations that pages share: the customers' SMS (the order's timeline, the partner's SMS page)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access
from ketlogistic.core.actors import SYSTEM, Actor, shown_actor
from ketlogistic.core.models import Partner
from ketlogistic.core.pagination import KeysetPage, keyset_paginate
from orders.models import Order
from orders.selectors import TimelineEntry

from .models import SmsMessage, SmsTemplate
from .sms import settings_for
from .sms_texts import Length, SmsEvent, default_text, fill, measure, sample_values

SMS_PAGE = 50


def _local(moment, zone: str) -> str:
    return timezone.localtime(moment, ZoneInfo(zone)).strftime("%d.%m %H:%M")


def sms_timeline_entries(order: Order, actor: Actor) -> list[TimelineEntry]:
    """The order's SMS on its timeline (the wiring's TIMELINE_PROVIDERS): the event, its state, the masked number,
    when it went and was delivered, and its text, for everyone who sees the order."""
    entries = []
    zone = order.city.timezone
    for message in access.scoped(actor, SmsMessage.objects.filter(order=order)).order_by("created_at", "id"):
        parts = [str(message.get_state_display())]
        if message.is_test:
            parts.append(_("sandbox: never sent to the customer"))
        if message.phone_masked:
            parts.append(message.phone_masked)
        if message.state == SmsMessage.State.HELD:
            parts.append(
                _("goes out at %(when)s (quiet hours)") % {"when": _local(message.next_attempt_at, zone)}
            )
        if message.sent_at and not message.is_test:
            parts.append(_("sent %(when)s") % {"when": _local(message.sent_at, zone)})
        if message.delivered_at:
            parts.append(_("delivered %(when)s") % {"when": _local(message.delivered_at, zone)})
        if message.error:
            parts.append(message.shown_error)
        if message.text:
            parts.append(f"«{message.shown_text}»")
        entries.append(
            TimelineEntry(
                at=message.created_at,
                kind="sms",
                title=_("SMS: %(event)s") % {"event": SmsEvent(message.event).label},
                actor=shown_actor(SYSTEM),
                details=" · ".join(parts),
                extra={"sms_state": message.state, "sms_event": message.event},
                sequence=message.id,
            )
        )
    return entries


@dataclass
class EventText:
    """One event in the partner's SMS editor: on or off, its own text (empty: the default), the default, and the
    length of the text that goes out (filled with sample values)."""

    event: str
    label: str
    is_on: bool
    own: str
    default: str
    length: Length

    @property
    def field(self) -> str:
        return f"text_{self.event}"

    @property
    def effective(self) -> str:
        return self.own or self.default


def sms_editor(partner: Partner, *, texts: dict[str, str] | None = None) -> dict:
    """What the partner's SMS page shows of its settings: the language, and per event whether it is on, the
    partner's own text, the default and the length and parts of what goes out. `texts` (a form sent back with an
    error) replaces the saved texts in the figures."""
    chosen = settings_for(partner.pk)
    language = chosen.language
    rows = SmsTemplate.objects.filter(language=language, partner_id__in=[partner.pk]).values_list(
        "event", "text"
    )
    own = dict(rows)
    defaults = dict(
        SmsTemplate.objects.filter(language=language, partner__isnull=True).values_list("event", "text")
    )
    samples = sample_values(partner)
    events = []
    for event in SmsEvent:
        default = defaults.get(event.value) or default_text(event.value, language)
        text = (texts or {}).get(event.value, own.get(event.value, ""))
        events.append(
            EventText(
                event=event.value,
                label=str(event.label),
                is_on=chosen.is_on(event.value),
                own=text,
                default=default,
                length=measure(fill(text or default, samples)),
            )
        )
    return {"settings": chosen, "language": language, "events": events, "samples": samples}


def sms_messages_page(
    actor: Actor, partner: Partner, *, sandbox: bool, cursor: str | None, page_size: int = SMS_PAGE
) -> KeysetPage:
    """The partner's SMS, newest first (the live ones, or the sandbox's log), a page at a time."""
    messages = access.scoped(
        actor, SmsMessage.objects.filter(partner=partner, is_test=sandbox)
    ).select_related("order")
    return keyset_paginate(messages, ordering=["-created_at", "-id"], cursor=cursor, page_size=page_size)
