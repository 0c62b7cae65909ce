"""The customers' SMS in figures, for the people who need them (issue 19):

* the partner's weeks (`weekly_figures`, on its SMS page): per week of its country (Monday 00:00 in its zone, the
  weeks its charge runs cut) the SMS sent, delivered, undeliverable, expired and still waiting, the delivery rate and
  the parts sent;
* the SMS of a customer's orders (`customer_messages`), which the call center's customer card shows through the
  wiring's CUSTOMER_CARD_PANELS (`views.sms_customer_panel`): event, time, state, masked number;
* what the SMS cost the company (`costs`): per partner and month, the parts sent × the aggregator's price of a part
  in the partner's country (`settings.SMS_SEGMENT_PRICE`), in the partner's currency;
* the parts each partner's customers were sent on each day of a week (`parts_sent`), which the weekly charge run
  bills to a partner whose tariff has an «SMS, per part» line (the wiring's SMS_PARTS_SENT: billing is below
  integrations and never names this table).

Sandbox (test orders') messages are never counted. What went out is what a gateway accepted: sent, then delivered,
undeliverable or expired; a message refused by the gateway, cancelled or still waiting costs nothing and is no part
sent. A message counts in the week (or month) it went out, one not sent yet in the week it was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.countries import Country, facts, zone_of
from ketlogistic.core.excel import SafeWorkbook
from ketlogistic.core.models import Partner
from ketlogistic.core.money import round_money
from ketlogistic.core.sql import Table
from orders.models import Order

from .models import SmsMessage
from .sms import GIVE_UP_AFTER

State = SmsMessage.State

# Accepted by a gateway: what the customer may have received and what the company pays the aggregator for.
WENT_OUT = (State.SENT, State.DELIVERED, State.UNDELIVERABLE, State.EXPIRED)
# With the gateway's final delivery report: what the delivery rate is counted over.
REPORTED = (State.DELIVERED, State.UNDELIVERABLE, State.EXPIRED)
STILL_WAITING = (State.QUEUED, State.HELD, State.SENDING)
WEEKS_SHOWN = 12
# A message goes out within a day of being written or is given up (`sms.GIVE_UP_AFTER`; one held for the morning goes
# within it too), so the messages of a week were all written after this long before it: a bound the partner's index
# (`sms_partner_created`) serves.
WRITTEN_BEFORE_SENT = GIVE_UP_AFTER + timedelta(days=1)
CUSTOMER_CARD_MESSAGES = 100


# -- the partner's weeks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsWeek:
    """One week of a partner's live SMS."""

    week: date  # its Monday
    sent: int  # accepted by the gateway (delivered, undeliverable and expired included)
    delivered: int
    undeliverable: int
    expired: int
    waiting: int  # queued, held for the morning or being sent
    parts: int  # the parts of those sent

    @property
    def reported(self) -> int:
        return self.delivered + self.undeliverable + self.expired

    @property
    def delivery_rate(self) -> Decimal | None:
        """Delivered of those with a final delivery report, in percent (one decimal); None without any report."""
        if not self.reported:
            return None
        return (Decimal(self.delivered) * 100 / self.reported).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )


def weekly_figures(
    actor: Actor, partner: Partner, *, weeks: int = WEEKS_SHOWN, now: datetime | None = None
) -> list[SmsWeek]:
    """The partner's live SMS of its last `weeks` weeks, oldest first (every week, empty ones too): one aggregate
    query over what the actor may see."""
    zone = zone_of(partner.country)
    today = timezone.localdate(now or timezone.now(), timezone=zone)
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    start = datetime.combine(first, time(0), tzinfo=zone)
    rows = (
        access.scoped(
            actor,
            SmsMessage.objects.filter(
                partner=partner, is_test=False, created_at__gte=start - WRITTEN_BEFORE_SENT
            ),
        )
        .annotate(moment=Coalesce("sent_at", "created_at"))
        .filter(moment__gte=start)
        .annotate(week=TruncWeek("moment", tzinfo=zone))
        .values("week")
        .annotate(
            sent=Count("pk", filter=Q(state__in=WENT_OUT)),
            delivered=Count("pk", filter=Q(state=State.DELIVERED)),
            undeliverable=Count("pk", filter=Q(state=State.UNDELIVERABLE)),
            expired=Count("pk", filter=Q(state=State.EXPIRED)),
            waiting=Count("pk", filter=Q(state__in=STILL_WAITING)),
            parts=Coalesce(Sum("segments", filter=Q(state__in=WENT_OUT)), 0),
        )
        .order_by()
    )
    by_week = {timezone.localtime(row["week"], zone).date(): row for row in rows}
    figures = []
    for index in range(weeks):
        week = first + timedelta(days=7 * index)
        row = by_week.get(week, {})
        figures.append(
            SmsWeek(
                week=week,
                sent=row.get("sent", 0),
                delivered=row.get("delivered", 0),
                undeliverable=row.get("undeliverable", 0),
                expired=row.get("expired", 0),
                waiting=row.get("waiting", 0),
                parts=row.get("parts", 0),
            )
        )
    return figures


# -- the customer card -----------------------------------------------------------------------------------------------


def customer_messages(
    actor: Actor, orders: Sequence[Order], *, limit: int = CUSTOMER_CARD_MESSAGES
) -> list[SmsMessage]:
    """The live SMS of a customer's orders, newest first, in one query for all of them: what the actor may see of
    them, with the masked number only (the number itself is never stored with a message)."""
    order_ids = [order.pk for order in orders]
    if not order_ids:
        return []
    return list(
        access.scoped(actor, SmsMessage.objects.filter(order_id__in=order_ids, is_test=False))
        .only(
            "id",
            "partner_id",
            "order_id",
            "event",
            "state",
            "phone_masked",
            "created_at",
            "sent_at",
            "delivered_at",
        )
        .order_by("-created_at", "-id")[:limit]
    )


# -- the company's costs ---------------------------------------------------------------------------------------------


def segment_price(country: str) -> Decimal:
    """What one SMS part costs the company at the aggregator in a country, in its currency (`SMS_SEGMENT_PRICE`)."""
    return Decimal(settings.SMS_SEGMENT_PRICE[country])


def month_bounds(month: date, country: str) -> tuple[datetime, datetime]:
    """A calendar month in the country's zone, as the instants it starts and ends."""
    zone = zone_of(country)
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time(0), tzinfo=zone), datetime.combine(following, time(0), tzinfo=zone)


@dataclass(frozen=True)
class SmsCost:
    """What one partner's SMS of a month cost the company."""

    partner_id: int
    partner: str
    country: str
    currency: str
    messages: int
    parts: int
    price: Decimal  # of one part

    @property
    def cost(self) -> Decimal:
        return round_money(self.price * self.parts)

    @property
    def country_label(self) -> str:
        return str(Country(self.country).label)


def costs(actor: Actor, *, month: date, country: str | None = None) -> list[SmsCost]:
    """Per partner the actor may see, the live SMS that went out in the month (in the partner's country's zone),
    their parts, the price of a part and the cost; one query. `country` keeps one country's partners."""
    countries = [country] if country else list(Country.values)
    period = Q()
    for each in countries:
        start, end = month_bounds(month, each)
        period |= Q(partner__country=each, sent_at__gte=start, sent_at__lt=end)
    rows = (
        access.scoped(actor, SmsMessage.objects.filter(period, is_test=False, state__in=WENT_OUT))
        .values("partner_id", "partner__name", "partner__country", "partner__currency")
        .annotate(messages=Count("pk"), parts=Sum("segments"))
        .order_by("partner__country", "partner__name", "partner_id")
    )
    return [
        SmsCost(
            partner_id=row["partner_id"],
            partner=row["partner__name"],
            country=row["partner__country"],
            currency=row["partner__currency"],
            messages=row["messages"],
            parts=row["parts"] or 0,
            price=segment_price(row["partner__country"]),
        )
        for row in rows
    ]


def cost_totals(rows: Sequence[SmsCost]) -> list[dict]:
    """The report's totals, one per currency (never summed across currencies)."""
    totals: dict[str, dict] = {}
    for row in rows:
        total = totals.setdefault(
            row.currency, {"currency": row.currency, "messages": 0, "parts": 0, "cost": Decimal("0.00")}
        )
        total["messages"] += row.messages
        total["parts"] += row.parts
        total["cost"] += row.cost
    return list(totals.values())


def prices() -> list[dict]:
    """The price of a part in each country, as the report states it."""
    return [
        {
            "country": country,
            "label": label,
            "price": segment_price(country),
            "currency": facts(country).currency,
        }
        for country, label in Country.choices
    ]


def costs_workbook_response(rows: Sequence[SmsCost], *, month: date, country: str | None):
    """The costs report in Excel (the one safe writer): a row per partner, then the totals per currency."""
    book = SafeWorkbook()
    sheet = book.sheet(
        _("SMS costs"),
        [
            _("Partner"),
            _("Country"),
            _("SMS sent"),
            _("SMS parts"),
            _("Price of a part"),
            _("Cost"),
            _("Currency"),
        ],
        widths=[36, 16, 12, 12, 14, 16, 10],
    )
    for row in rows:
        sheet.append(
            [row.partner, row.country_label, row.messages, row.parts, row.price, row.cost, row.currency]
        )
    for total in cost_totals(rows):
        sheet.append(
            [_("Total"), "", total["messages"], total["parts"], "", total["cost"], total["currency"]]
        )
    suffix = f"-{country}" if country else ""
    return book.response(f"sms-costs-{month:%Y-%m}{suffix}.xlsx")


# -- the weekly charge run (the wiring's SMS_PARTS_SENT) --------------------------------------------------------------

SMS = Table(SmsMessage, "m")
PARTNERS = Table(Partner, "p")

PARTS_SENT = f"""
SELECT {SMS.partner} AS partner_id, ({SMS.sent_at} AT TIME ZONE w.zone)::date AS day, sum({SMS.segments})::bigint AS parts
FROM {SMS}
JOIN {PARTNERS} ON {PARTNERS.id} = {SMS.partner}
JOIN unnest(%(sms_countries)s::text[], %(sms_zones)s::text[], %(sms_starts)s::timestamptz[],
            %(sms_ends)s::timestamptz[]) AS w (country, zone, starts, ends) ON w.country = {PARTNERS.country}
WHERE NOT {SMS.is_test} AND {SMS.state} = ANY(%(sms_states)s)
  AND {SMS.sent_at} >= w.starts AND {SMS.sent_at} < w.ends
  AND {SMS.sent_at} >= %(sms_since)s AND {SMS.sent_at} < %(sms_until)s
GROUP BY 1, 2
"""


def parts_sent(*, weeks: dict[str, tuple[datetime, datetime]]) -> tuple[str, dict]:
    """A SELECT of (partner_id, day, parts): the parts of the live SMS a gateway accepted, per partner and day, each
    partner within its country's week (`weeks`: country → the instants it starts and ends; the days in its zone).
    Given as SQL with named parameters (all `sms_…`), so the charge run bills the week in one INSERT … SELECT."""
    countries = sorted(weeks)
    return PARTS_SENT, {
        "sms_countries": countries,
        "sms_zones": [facts(country).timezone for country in countries],
        "sms_starts": [weeks[country][0] for country in countries],
        "sms_ends": [weeks[country][1] for country in countries],
        "sms_states": [state.value for state in WENT_OUT],
        "sms_since": min(start for start, _end in weeks.values()),
        "sms_until": max(end for _start, end in weeks.values()),
    }
