"""Reads of the call center: the order's calls on its timeline, calling summaries, registries,
escalations, quality samples and dashboards."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Aggregate, Avg, Count, Exists, F, Min, OuterRef, Q
from django.db.models.functions import TruncWeek
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, pgettext
from django.utils.translation import gettext as _

from ketlogistic.core import access, reactions
from ketlogistic.core.actors import Actor
from ketlogistic.core.countries import zone_of
from orders.models import Order, OrderPhone
from orders.selectors import TimelineEntry
from orders.statuses import OrderStatus

from .models import (
    UNANSWERED,
    CallAttempt,
    CallState,
    CustomerRequest,
    Escalation,
    InboundCall,
    Outcome,
    QualityReview,
)
from .services import customer_request_reason, open_customer_request, queue


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
                title=(
                    _("Passed to the head of department: %(reason)s")
                    if escalation.addressed_to == Escalation.Addressee.HEAD_OF_DEPARTMENT
                    else _("Passed to a supervisor: %(reason)s")
                )
                % {"reason": escalation.reason},
                actor=escalation.raised_by.display_name if escalation.raised_by else _("Automatic"),
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
    entries.extend(_customer_request_entries(order))
    return entries


def customer_request_text(request: CustomerRequest) -> str:
    """«The customer asked by the SMS link: another day — 12.12.2026» / «…: call me back»."""
    return str(customer_request_reason(request))


def _customer_request_entries(order: Order) -> list[TimelineEntry]:
    """What the customer asked through the link in their SMS, and which outcome handled it."""
    entries = []
    zone = ZoneInfo(order.city.timezone)
    for request in (
        CustomerRequest.objects.filter(order=order).select_related("handled_by").order_by("created_at", "id")
    ):
        if request.handled_at:
            details = _("Handled: %(outcome)s, %(who)s, %(when)s") % {
                "outcome": request.get_handled_outcome_display(),
                "who": request.handled_by.display_name if request.handled_by else "—",
                "when": timezone.localtime(request.handled_at, zone).strftime("%d.%m.%Y %H:%M"),
            }
        else:
            details = _("Open: a call-back in the logists' queue")
        entries.append(
            TimelineEntry(
                at=request.created_at,
                kind="customer_request",
                title=customer_request_text(request),
                actor=pgettext("who acted", "customer"),
                details=details,
                extra={"request_kind": request.kind, "is_open": request.handled_at is None},
                sequence=request.id,
            )
        )
    return entries


def calling_summary(order: Order) -> dict | None:
    state = CallState.objects.filter(order=order).first()
    if state is None:
        return None
    request = open_customer_request(order)
    return {
        "attempts": state.attempts,
        "last_outcome": Outcome(state.last_outcome).label if state.last_outcome else "",
        "last_attempt_at": state.last_attempt_at,
        "next_call_at": state.next_call_at if order.status == OrderStatus.CALLING else None,
        "open_request": request,
        "open_request_text": customer_request_text(request) if request else "",
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


class _Median(Aggregate):
    """The median (PostgreSQL's `percentile_cont(0.5)`) of numbers or of intervals."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


# What the quality dashboard's figures are grouped by: the group's key first, then what names it.
DASHBOARD_GROUPS = {
    "logist": ("operator_id", "operator__first_name", "operator__last_name", "operator__username"),
    "city": ("order__city_id", "order__city__name", "order__city__name_en"),
    "partner": ("partner_id", "partner__name"),
}


def _dashboard_calls(actor: Actor, since: datetime):
    return access.scoped(actor, CallAttempt.objects.filter(started_at__gte=since))


def _dashboard_measures() -> dict:
    """The quality figures of a set of calls, as the aggregates of one query: calls, the orders called, those agreed
    on a call of the set, those paid and those refused or returned since (by the order's status now), and the median
    time from the order's intake to its first call (of the first calls in the set).

    The median, not the mean: an order received on Friday night waits the weekend, and a mean would read as if every
    customer had waited most of a day."""
    return {
        "calls": Count("id"),
        "orders": Count("order", distinct=True),
        "agreed": Count("order", filter=Q(outcome=Outcome.AGREED), distinct=True),
        "paid": Count("order", filter=Q(order__status=OrderStatus.PAID), distinct=True),
        "refused": Count(
            "order", filter=Q(order__status__in=[OrderStatus.REFUSED, OrderStatus.RETURNED]), distinct=True
        ),
        "first_call_wait": _Median(F("started_at") - F("order__created_at"), filter=Q(is_first=True)),
    }


def _share(part: int, whole: int, times: int = 1) -> Decimal | None:
    return (Decimal(part) * times / whole).quantize(Decimal("0.1")) if whole else None


def _dashboard_figures(row: dict) -> dict:
    """Calls per order, the median wait for the first call, the agreement rate (orders agreed / orders called) and
    the buyout rate (paid / (paid + refused or returned)) of one aggregated row."""
    return {
        "calls": row["calls"],
        "orders": row["orders"],
        "calls_per_order": _share(row["calls"], row["orders"]),
        "first_call_wait": row["first_call_wait"],
        "agreement_rate": _share(row["agreed"], row["orders"], 100),
        "buyout_rate": _share(row["paid"], row["paid"] + row["refused"], 100),
    }


def dashboard(actor: Actor, *, since: datetime, group: str) -> list[dict]:
    """Per logist, city or partner (`DASHBOARD_GROUPS`), by name: calls per order, the median time from intake to
    the first call, the agreement rate and the buyout rate (of the orders they called) since `since`. One query."""
    fields = DASHBOARD_GROUPS[group]
    rows = (
        _dashboard_calls(actor, since)
        .values(*fields)
        .annotate(**_dashboard_measures())
        .order_by(fields[0])  # never the model's ordering, which would split the groups
    )
    result = [
        {"key": row[fields[0]], "name": _group_name(group, row), **_dashboard_figures(row)} for row in rows
    ]
    return sorted(result, key=lambda row: (row["name"].casefold(), row["key"] or 0))


def dashboard_weeks(actor: Actor, *, since: datetime, now: datetime | None = None) -> list[dict]:
    """The same figures week by week (Monday to Monday in the reader's zone), every week from the one `since` falls
    in to this one; a week without calls has no figures (None). One query."""
    zone = timezone.get_current_timezone()
    first = timezone.localtime(since, zone).date()
    last = timezone.localtime(now or timezone.now(), zone).date()
    first, last = first - timedelta(days=first.weekday()), last - timedelta(days=last.weekday())
    rows = (
        _dashboard_calls(actor, since)
        .annotate(week=TruncWeek("started_at", tzinfo=zone))
        .values("week")
        .annotate(**_dashboard_measures())
        .order_by("week")
    )
    by_week = {row["week"].date(): _dashboard_figures(row) for row in rows}
    nothing = _dashboard_figures({**dict.fromkeys(_dashboard_measures(), 0), "first_call_wait": None})
    return [
        {"week": week, **by_week.get(week, nothing)}
        for week in (first + timedelta(weeks=index) for index in range((last - first).days // 7 + 1))
    ]


def dashboard_totals(actor: Actor, *, since: datetime) -> dict:
    """The same figures for the whole period and everything the actor sees. One query."""
    return _dashboard_figures(_dashboard_calls(actor, since).aggregate(**_dashboard_measures()))


def _group_name(group: str, row: dict) -> str:
    if group == "logist":
        return _person_name(row)
    if group == "city":
        english = get_language() == "en" and row["order__city__name_en"]
        return (english or row["order__city__name"]) or "—"
    return row["partner__name"] or "—"


def _person_name(row: dict) -> str:
    full = f"{row['operator__first_name']} {row['operator__last_name']}".strip()
    return full or row["operator__username"] or "—"


def missed_returned_in_time(actor: Actor, *, since: datetime) -> dict:
    calls = InboundCall.objects.filter(is_missed=True, received_at__gte=since)
    if not access.is_company_wide(actor):
        calls = access.scoped(actor, calls)
    counts = calls.aggregate(
        total=Count("id"),
        in_time=Count("id", filter=Q(called_back_at__isnull=False, called_back_at__lte=F("callback_due_at"))),
        late=Count(
            "id",
            filter=Q(called_back_at__isnull=True, callback_due_at__lt=timezone.now())
            | Q(called_back_at__gt=F("callback_due_at")),
        ),
    )
    return {**counts, "rate": _share(counts["in_time"], counts["total"], 100)}


def my_scores(actor: Actor):
    reviews = QualityReview.objects.filter(operator=actor).select_related("attempt", "reviewer")
    return reviews, reviews.aggregate(average=Avg("score"), first=Min("reviewed_at"))


def customer_orders(
    actor: Actor,
    *,
    phone_index: str | None = None,
    name: str | None = None,
    city_id: int | None = None,
    order_id: int | None = None,
):
    """The customer card: every order of the customer (by phone, by name within a city, or by the numbers of one of
    their orders the actor may see: a reviewed call's order, without the number ever being shown or sent)."""
    orders = (
        access.scoped(actor, Order.objects.filter(is_test=False))
        .select_related("partner", "city")
        .prefetch_related("items__product")
    )
    if phone_index:
        return orders.filter(phones__blind_index=phone_index).distinct().order_by("-created_at")[:100]
    if order_id:
        known = access.scoped(actor, Order.objects.filter(pk=order_id, is_test=False))
        indexes = OrderPhone.objects.filter(order__in=known).values("blind_index")
        return orders.filter(phones__blind_index__in=indexes).distinct().order_by("-created_at")[:100]
    if name and city_id:
        return orders.filter(customer_name__icontains=name.strip(), city_id=city_id).order_by("-created_at")[
            :100
        ]
    return orders.none()


# The apps above show their part of a customer on the customer card (the hotline's search, `views.customer_card`):
# the wiring's CUSTOMER_CARD_PANELS, each `panel(orders, actor)` returning (template name, context) or None, called
# once for all the orders the card shows, so that a panel reads them in one query, never one per order.
CustomerCardPanel = Callable[[Sequence[Order], Actor], tuple[str, dict] | None]


def customer_card_panels(orders: Sequence[Order], actor: Actor) -> list[tuple[str, dict]]:
    panels: tuple[CustomerCardPanel, ...] = reactions.extension("CUSTOMER_CARD_PANELS")
    return [found for panel in panels if (found := panel(orders, actor)) is not None]


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
