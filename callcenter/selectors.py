"""Reads of the call center: the order's calls on its timeline, calling summaries, registries,
escalations, quality samples and dashboards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, Exists, F, Min, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.countries import zone_of
from orders.models import Order
from orders.selectors import TimelineEntry
from orders.statuses import OrderStatus

from .models import UNANSWERED, CallAttempt, CallState, Escalation, InboundCall, Outcome, QualityReview
from .services import queue


def timeline_entries(order: Order, actor: Actor) -> list[TimelineEntry]:
    """Calls (with their recordings) and escalations on the order's timeline, for staff and the partner."""
    entries = []
    can_listen = access.can(actor, "recordings.listen")
    for attempt in (
        CallAttempt.objects.filter(order=order).select_related("operator").order_by("started_at", "id")
    ):
        # a call without an outcome (a courier's or an administrator's call for help): its line state says it
        outcome = attempt.get_outcome_display() if attempt.outcome else attempt.get_line_state_display()
        details = attempt.note
        if attempt.agreed_date:
            details = _("Delivery on %(day)s") % {"day": attempt.agreed_date.strftime("%d.%m.%Y")} + (
                f" · {details}" if details else ""
            )
        if attempt.next_call_at and attempt.outcome in (
            Outcome.NO_ANSWER,
            Outcome.BUSY,
            Outcome.CALLBACK,
            Outcome.POSTPONED,
        ):
            details = (details + " · " if details else "") + _("next call %(when)s") % {
                "when": timezone.localtime(attempt.next_call_at).strftime("%d.%m %H:%M")
            }
        entries.append(
            TimelineEntry(
                at=attempt.started_at,
                kind="call",
                title=_("Call (%(kind)s): %(outcome)s")
                % {"kind": attempt.get_kind_display(), "outcome": outcome},
                actor=attempt.operator.display_name,
                details=details,
                extra={
                    "recording_url": reverse("callcenter:recording", args=[attempt.pk])
                    if attempt.recording and can_listen
                    else "",
                    "duration": attempt.duration_seconds,
                },
                sequence=attempt.id,
            )
        )
    for escalation in (
        Escalation.objects.filter(order=order)
        .select_related("raised_by", "resolved_by")
        .order_by("raised_at", "id")
    ):
        entries.append(
            TimelineEntry(
                at=escalation.raised_at,
                kind="escalation",
                title=_("Passed to a supervisor: %(reason)s") % {"reason": escalation.reason},
                actor=escalation.raised_by.display_name,
                details=escalation.needed,
                sequence=escalation.id,
            )
        )
        if escalation.resolved_at:
            entries.append(
                TimelineEntry(
                    at=escalation.resolved_at,
                    kind="escalation",
                    title=_("Supervisor resolved it"),
                    actor=escalation.resolved_by.display_name if escalation.resolved_by else "",
                    details=escalation.resolution,
                    sequence=escalation.id,
                )
            )
    return entries


def calling_summary(order: Order) -> dict | None:
    state = CallState.objects.filter(order=order).first()
    if state is None:
        return None
    return {
        "attempts": state.attempts,
        "last_outcome": Outcome(state.last_outcome).label if state.last_outcome else "",
        "last_attempt_at": state.last_attempt_at,
        "next_call_at": state.next_call_at if order.status == OrderStatus.CALLING else None,
    }


def unanswered_calls(phone_indexes: list[str]) -> int:
    """How many calls to this customer (by phone, across partners) went unanswered: for the reliability signal."""
    return CallAttempt.objects.filter(
        order__phones__blind_index__in=phone_indexes, outcome__in=list(UNANSWERED)
    ).count()


@dataclass(frozen=True)
class CustomerClock:
    """The customer's time now, for the call screen: the operator sees whether it is morning or late evening where
    the customer is (Bishkek is an hour ahead of Kazakhstan). `epoch_ms` and `offset_minutes` let the page keep
    the clock going without trusting the operator's computer clock."""

    now: datetime
    place: str

    @property
    def time(self) -> str:
        return self.now.strftime("%H:%M")

    @property
    def iso(self) -> str:
        return self.now.isoformat(timespec="minutes")

    @property
    def epoch_ms(self) -> int:
        return int(self.now.timestamp() * 1000)

    @property
    def offset_minutes(self) -> int:
        return int(self.now.utcoffset().total_seconds() // 60)

    @property
    def utc(self) -> str:
        hours, minutes = divmod(abs(self.offset_minutes), 60)
        sign = "+" if self.offset_minutes >= 0 else "−"
        return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def customer_clock(order: Order, now: datetime | None = None) -> CustomerClock:
    """The local time of the order's settlement (its own zone, else its country's)."""
    zone = ZoneInfo(order.city.timezone) if order.city_id and order.city.timezone else zone_of(order.country)
    return CustomerClock(
        now=timezone.localtime(now or timezone.now(), zone),
        place=order.city.name if order.city_id else "",
    )


def previous_attempts(order: Order):
    return CallAttempt.objects.filter(order=order).select_related("operator").order_by("-started_at")


def escalations_visible(actor: Actor):
    return access.scoped(actor, Escalation.objects.select_related("order", "order__partner", "raised_by"))


def missed_calls(actor: Actor):
    calls = InboundCall.objects.filter(is_missed=True, called_back_at__isnull=True).select_related("order")
    return access.scoped(actor, calls) if not access.is_company_wide(actor) else calls


def quality_calls(
    actor: Actor,
    *,
    days: int = 7,
    operator_id: int | None = None,
    partner_id: int | None = None,
    outcome: str | None = None,
    unreviewed: bool = False,
):
    """Calls with a recording of the last `days` days, filtered; `unreviewed`: those nobody has scored yet (what
    quality control still has to listen to)."""
    calls = access.scoped(
        actor,
        CallAttempt.objects.exclude(recording="")
        .filter(started_at__gte=timezone.now() - timedelta(days=days))
        .select_related("operator", "order", "partner"),
    )
    if operator_id:
        calls = calls.filter(operator_id=operator_id)
    if partner_id:
        calls = calls.filter(partner_id=partner_id)
    if outcome:
        calls = calls.filter(outcome=outcome)
    if unreviewed:
        calls = calls.filter(~Exists(QualityReview.objects.filter(attempt=OuterRef("pk"))))
    return calls


def quality_sample(actor: Actor, *, size: int = 10, **filters):
    """Calls with a recording to listen to: a random sample, or filtered (`quality_calls`)."""
    return quality_calls(actor, **filters).order_by("?")[:size]


def dashboard(actor: Actor, *, since: datetime, group: str) -> list[dict]:
    """Per logist, city or partner: calls per order, time from intake to first call, agreement rate, buyout
    rate (of the orders they called), missed inbound calls returned in time."""
    key = {"logist": "operator__username", "city": "order__city__name", "partner": "partner__name"}[group]
    # a logist is shown by name, never by login (grouped by the login, which is unique)
    names = ("operator__first_name", "operator__last_name") if group == "logist" else ()
    attempts = access.scoped(actor, CallAttempt.objects.filter(started_at__gte=since))
    rows = {
        row[key]: row
        for row in attempts.values(key, *names)
        .annotate(
            calls=Count("id"),
            orders=Count("order", distinct=True),
            agreed=Count("order", filter=Q(outcome=Outcome.AGREED), distinct=True),
            paid=Count("order", filter=Q(order__status=OrderStatus.PAID), distinct=True),
            refused=Count(
                "order",
                filter=Q(order__status__in=[OrderStatus.REFUSED, OrderStatus.RETURNED]),
                distinct=True,
            ),
        )
        .order_by(key)
    }
    first_calls = (
        attempts.filter(is_first=True)
        .annotate(wait=F("started_at") - F("order__created_at"))
        .values(key)
        .annotate(average=Avg("wait"))
    )
    waits = {row[key]: row["average"] for row in first_calls}
    result = []
    for name, row in rows.items():
        decided = row["paid"] + row["refused"]
        result.append(
            {
                "name": _person_name(row) if names else (name or "—"),
                "calls": row["calls"],
                "orders": row["orders"],
                "calls_per_order": (Decimal(row["calls"]) / row["orders"]).quantize(Decimal("0.1"))
                if row["orders"]
                else None,
                "first_call_wait": waits.get(name),
                "agreement_rate": (Decimal(row["agreed"]) * 100 / row["orders"]).quantize(Decimal("0.1"))
                if row["orders"]
                else None,
                "buyout_rate": (Decimal(row["paid"]) * 100 / decided).quantize(Decimal("0.1"))
                if decided
                else None,
            }
        )
    return result


def _person_name(row: dict) -> str:
    full = f"{row['operator__first_name']} {row['operator__last_name']}".strip()
    return full or row["operator__username"] or "—"


def missed_returned_in_time(actor: Actor, *, since: datetime) -> dict:
    calls = InboundCall.objects.filter(is_missed=True, received_at__gte=since)
    if not access.is_company_wide(actor):
        calls = access.scoped(actor, calls)
    total = calls.count()
    in_time = calls.filter(called_back_at__isnull=False, called_back_at__lte=F("callback_due_at")).count()
    late_or_open = calls.filter(
        Q(called_back_at__isnull=True, callback_due_at__lt=timezone.now())
        | Q(called_back_at__gt=F("callback_due_at"))
    ).count()
    return {
        "total": total,
        "in_time": in_time,
        "late": late_or_open,
        "rate": (Decimal(in_time) * 100 / total).quantize(Decimal("0.1")) if total else None,
    }


def my_scores(actor: Actor):
    reviews = QualityReview.objects.filter(operator=actor).select_related("attempt", "reviewer")
    return reviews, reviews.aggregate(average=Avg("score"), first=Min("reviewed_at"))


def customer_orders(
    actor: Actor, *, phone_index: str | None = None, name: str | None = None, city_id: int | None = None
):
    """The hotline's customer card: every order of the customer (by phone, or by name within a city)."""
    orders = (
        access.scoped(actor, Order.objects.filter(is_test=False))
        .select_related("partner", "city")
        .prefetch_related("items__product")
    )
    if phone_index:
        return orders.filter(phones__blind_index=phone_index).distinct().order_by("-created_at")[:100]
    if name and city_id:
        return orders.filter(customer_name__icontains=name.strip(), city_id=city_id).order_by("-created_at")[
            :100
        ]
    return orders.none()


# -- the day's figures (the staff home page) and the lists they open ------------------------------------------------

# The queue's kinds, in its order (`CallState.priority`): the `kind` filter of the queue list and the desk's tiles.
QUEUE_KINDS = {
    "same_day": (0, gettext_lazy("Same-day orders")),
    "callback": (1, gettext_lazy("Call-backs due")),
    "new": (2, gettext_lazy("New orders, goods in the city")),
    "other": (3, gettext_lazy("Other orders")),
}


def queue_rows(actor: Actor, *, kind: str = "", now: datetime | None = None):
    """The orders due for a call now that this logist serves, in the queue's order (`services.queue`, the very rows
    «Следующий клиент» hands out), optionally of one kind."""
    rows = queue(actor, now=now)
    if kind in QUEUE_KINDS:
        rows = rows.filter(call_state__priority=QUEUE_KINDS[kind][0])
    return rows.select_related("partner", "city", "call_state")


def queue_counts(actor: Actor, *, now: datetime | None = None) -> dict[str, int]:
    """How many orders are due for a call now, and how many of them are call-backs the customer asked for: one
    query over the queue's own rows."""
    return queue(actor, now=now).aggregate(
        due=Count("pk"), callbacks=Count("pk", filter=Q(call_state__priority=QUEUE_KINDS["callback"][0]))
    )


def _day_range(day: date) -> tuple[datetime, datetime]:
    """A day in the active time zone, as a range on the raw column (an index serves it; `::date` would not)."""
    zone = timezone.get_current_timezone()
    return datetime.combine(day, time.min, tzinfo=zone), datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=zone
    )


def my_calls(actor: Actor, *, day: date, outcome: str | None = None):
    """The calls this user placed on a day (the company's day, as the desk's «my calls today»), newest first."""
    start, end = _day_range(day)
    calls = access.scoped(
        actor, CallAttempt.objects.filter(operator=actor, started_at__gte=start, started_at__lt=end)
    )
    if outcome:
        calls = calls.filter(outcome=outcome)
    return calls.select_related("order", "partner").order_by("-started_at", "-id")


def my_calls_counts(actor: Actor, *, day: date) -> dict[str, int]:
    """The user's calls on a day and the deliveries agreed on them: one query over `my_calls`."""
    return my_calls(actor, day=day).aggregate(
        calls=Count("pk"), agreed=Count("pk", filter=Q(outcome=Outcome.AGREED))
    )


def _end_of_today(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=local.tzinfo)


# The escalations list's `due` filter and the figures by due time: late, due by the end of today, later.
ESCALATION_DUE = {
    "overdue": gettext_lazy("Overdue"),
    "today": gettext_lazy("Due today"),
    "later": gettext_lazy("Due later"),
}


def escalation_due_condition(due: str, *, now: datetime) -> Q | None:
    """The `due` filter as a condition on `due_at` (None for anything else: no filter)."""
    end = _end_of_today(now)
    return {
        "overdue": Q(due_at__lt=now),
        "today": Q(due_at__gte=now, due_at__lt=end),
        "later": Q(due_at__gte=end),
    }.get(due)


def escalation_counts(actor: Actor, *, now: datetime) -> dict[str, int]:
    """Open escalations this user sees, by due time: one query (the `escalation_open` index)."""
    rows = escalations_visible(actor).filter(status=Escalation.Status.OPEN)
    return rows.aggregate(
        **{due: Count("pk", filter=escalation_due_condition(due, now=now)) for due in ESCALATION_DUE}
    )


def missed_calls_count(actor: Actor) -> int:
    """Missed calls not yet returned: the hotline's list of calls to return (`missed_calls`)."""
    return missed_calls(actor).count()


def calls_to_review_count(actor: Actor, *, days: int) -> int:
    """Recorded calls of the last `days` days that nobody has scored yet."""
    return quality_calls(actor, days=days, unreviewed=True).count()
