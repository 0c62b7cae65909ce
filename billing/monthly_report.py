"""The monthly partner report's figures: buyout by city, product and week; calls per order; time from intake to
delivery; refusals by reason. Each is one grouped query over the partner's live orders (test orders apart), the
month cut in the partner's country's zone.

The figures are what a report keeps (`MonthlyReport.figures`, JSON): counts, sums as text, durations in seconds,
names as they were. The page and the Excel format them for their reader (`monthly_report_rows`).

Buyout (выкуп) is as the cabinet counts it: paid / (paid + refused + returned), of the orders closed in the month.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Min,
    Q,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import Lower, Trim, TruncWeek

from ketlogistic.core.countries import zone_of
from ketlogistic.core.redaction import redact
from orders.models import Order, OrderHistory, OrderItem
from orders.statuses import OrderStatus

PAID = Q(status=OrderStatus.PAID)
REFUSED = Q(status__in=[OrderStatus.REFUSED, OrderStatus.RETURNED])
CLOSED_STATUSES = [OrderStatus.PAID, OrderStatus.REFUSED, OrderStatus.RETURNED]
# The reasons listed by name; the rest are counted together
TOP_REASONS = 20
# Where a refusal happened, by the status it left
REFUSAL_STAGES = {
    "phone": [OrderStatus.CALLING, OrderStatus.DELIVERY_AGREED],
    "door": [OrderStatus.IN_REGISTRY, OrderStatus.WITH_COURIER],
    "post": [OrderStatus.POST_SHIPPED],
}
# Calls per order, in bands
CALL_BANDS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3–5", 3, 5), ("6–10", 6, 10), ("11+", 11, None))


class Percentile(Aggregate):
    """PostgreSQL's `percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


class Seconds(Func):
    """An interval as seconds."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def _rate(paid: int, refused: int) -> str | None:
    total = paid + refused
    return str((Decimal(paid) * 100 / total).quantize(Decimal("0.1"))) if total else None


def _money(value) -> str:
    return str(value if value is not None else Decimal("0.00"))


def _seconds(value) -> int | None:
    return None if value is None else round(value)


def _bounds(partner, month: date) -> tuple[datetime, datetime]:
    zone = zone_of(partner.country)
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(month, time(0), tzinfo=zone), datetime.combine(following, time(0), tzinfo=zone)


def _buyout(rows, key) -> list[dict]:
    return [
        {
            **key(row),
            "paid": row["paid"],
            "refused": row["refused"],
            "rate": _rate(row["paid"], row["refused"]),
            "cod": _money(row["cod"]),
        }
        for row in rows
    ]


BUYOUT = {
    "paid": Count("id", filter=PAID),
    "refused": Count("id", filter=REFUSED),
    "cod": Sum("cod_amount", filter=PAID),
}


def figures(partner, month: date) -> dict:
    """The report of a partner's month, as kept."""
    start, end = _bounds(partner, month)
    zone = zone_of(partner.country)
    orders = Order.objects.filter(partner=partner, is_test=False)
    closed = orders.filter(status__in=CLOSED_STATUSES, closed_at__gte=start, closed_at__lt=end)
    summary = orders.aggregate(
        received=Count("id", filter=Q(created_at__gte=start, created_at__lt=end)),
        paid=Count("id", filter=PAID & Q(closed_at__gte=start, closed_at__lt=end)),
        refused=Count("id", filter=REFUSED & Q(closed_at__gte=start, closed_at__lt=end)),
        not_reached=Count(
            "id", filter=Q(status=OrderStatus.NOT_REACHED, closed_at__gte=start, closed_at__lt=end)
        ),
        cod=Sum("cod_amount", filter=PAID & Q(closed_at__gte=start, closed_at__lt=end)),
    )
    cities = _buyout(
        closed.values("city__name").annotate(**BUYOUT).order_by("-paid", "city__name"),
        lambda row: {"city": row["city__name"] or ""},
    )
    weeks = _buyout(
        closed.annotate(week=TruncWeek("closed_at", tzinfo=zone))
        .values("week")
        .annotate(**BUYOUT)
        .order_by("week"),
        lambda row: _week_span(row["week"], month, zone),
    )
    products = [
        {
            "sku": row["product__sku"],
            "name": row["product__name"],
            "paid": row["paid"],
            "refused": row["refused"],
            "rate": _rate(row["paid"], row["refused"]),
            "quantity": row["quantity"] or 0,
        }
        for row in OrderItem.objects.filter(order__in=closed)
        .values("product__sku", "product__name")
        .annotate(
            paid=Count("order", distinct=True, filter=Q(order__status=OrderStatus.PAID)),
            refused=Count(
                "order",
                distinct=True,
                filter=Q(order__status__in=[OrderStatus.REFUSED, OrderStatus.RETURNED]),
            ),
            quantity=Sum("quantity", filter=Q(order__status=OrderStatus.PAID)),
        )
        .order_by("-paid", "product__sku")
    ]
    return {
        "version": 1,
        "currency": partner.currency,
        "summary": {
            "received": summary["received"],
            "paid": summary["paid"],
            "refused": summary["refused"],
            "not_reached": summary["not_reached"],
            "rate": _rate(summary["paid"], summary["refused"]),
            "cod": _money(summary["cod"]),
        },
        "cities": cities,
        "products": products,
        "weeks": weeks,
        "calls": _calls(orders, start, end),
        "intake_to_delivery": _intake_to_delivery(closed),
        "refusals": _refusals(partner, start, end),
    }


def _week_span(week, month: date, zone) -> dict:
    """A week of the month, cut to the month: its first and last day in it."""
    first = week.astimezone(zone).date() if hasattr(week, "astimezone") else week
    last = first + timedelta(days=6)
    month_last = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return {"from": max(first, month).isoformat(), "to": min(last, month_last).isoformat()}


def _calls(orders, start, end) -> dict:
    """Calls per order, of the orders that ended in the month (paid, refused, returned, not reached): every call
    placed about them (logists, hotline, courier administrators, couriers), whenever it was."""
    # the calls counted per order in a grouped subquery, then summed over the orders (Django nests the two)
    ended = orders.filter(
        status__in=[*CLOSED_STATUSES, OrderStatus.NOT_REACHED], closed_at__gte=start, closed_at__lt=end
    ).annotate(calls=Count("call_attempts"))
    bands = {
        f"band_{index}": Count(
            "id", filter=Q(calls__gte=low) & (Q(calls__lte=high) if high is not None else Q())
        )
        for index, (_label, low, high) in enumerate(CALL_BANDS)
    }
    row = ended.aggregate(
        orders=Count("id"),
        all_calls=Sum("calls"),
        paid_orders=Count("id", filter=PAID),
        paid_calls=Sum("calls", filter=PAID),
        refused_orders=Count("id", filter=REFUSED),
        refused_calls=Sum("calls", filter=REFUSED),
        not_reached_orders=Count("id", filter=Q(status=OrderStatus.NOT_REACHED)),
        not_reached_calls=Sum("calls", filter=Q(status=OrderStatus.NOT_REACHED)),
        **bands,
    )

    def per_order(calls, count) -> str | None:
        return str((Decimal(calls or 0) / count).quantize(Decimal("0.1"))) if count else None

    return {
        "orders": row["orders"],
        "calls": row["all_calls"] or 0,
        "per_order": per_order(row["all_calls"], row["orders"]),
        "per_paid": per_order(row["paid_calls"], row["paid_orders"]),
        "per_refused": per_order(row["refused_calls"], row["refused_orders"]),
        "per_not_reached": per_order(row["not_reached_calls"], row["not_reached_orders"]),
        "bands": [
            {"calls": label, "orders": row[f"band_{index}"]}
            for index, (label, _low, _high) in enumerate(CALL_BANDS)
        ],
    }


def _intake_to_delivery(closed) -> dict:
    """From intake (the order received) to delivery (paid), of the orders paid in the month: the median, the
    average and the slowest tenth's threshold, overall, by delivery kind and by city."""
    waited = ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField())
    seconds = Seconds(waited)
    measures = {
        "orders": Count("id"),
        "median": Percentile(seconds, 0.5),
        "average": Avg(seconds),
        "p90": Percentile(seconds, 0.9),
    }
    paid = closed.filter(PAID)
    overall = paid.aggregate(**measures)

    def shown(row) -> dict:
        return {
            "orders": row["orders"],
            "median": _seconds(row["median"]),
            "average": _seconds(row["average"]),
            "p90": _seconds(row["p90"]),
        }

    return {
        **shown(overall),
        "kinds": [
            {"kind": row["delivery_kind"], **shown(row)}
            for row in paid.values("delivery_kind").annotate(**measures).order_by("delivery_kind")
        ],
        "cities": [
            {"city": row["city__name"] or "", **shown(row)}
            for row in paid.values("city__name").annotate(**measures).order_by("median", "city__name")
        ],
    }


WHITESPACE = re.compile(r"\s+")


def _refusals(partner, start, end) -> dict:
    """The month's refusals and returns (each a status change into «refused» or «returned»), grouped by their reason
    as written (case and spacing aside), the most frequent first, and by where they happened: on the phone, at the
    door, back from the post. A reason is kept with any phone number in it masked."""
    reason = Lower(
        Trim(
            Func(
                F("reason"),
                Value(r"\s+"),
                Value(" "),
                Value("g"),
                function="regexp_replace",
                output_field=TextField(),
            )
        )
    )
    moves = OrderHistory.objects.filter(
        partner=partner,
        order__is_test=False,
        to_status__in=[OrderStatus.REFUSED, OrderStatus.RETURNED],
        at__gte=start,
        at__lt=end,
    )
    stages = {
        stage: Count("id", filter=Q(from_status__in=statuses)) for stage, statuses in REFUSAL_STAGES.items()
    }
    rows = list(
        moves.annotate(key=reason)
        .values("key")
        .annotate(count=Count("id"), example=Min("reason"), **stages)
        .order_by("-count", "key")
    )
    listed, rest = rows[:TOP_REASONS], rows[TOP_REASONS:]

    def shown(row) -> dict:
        text = WHITESPACE.sub(" ", row["example"] or "").strip()
        return {
            "reason": redact(text)[:200],
            "count": row["count"],
            **{stage: row[stage] for stage in REFUSAL_STAGES},
        }

    other = {
        "count": sum(row["count"] for row in rest),
        **{stage: sum(row[stage] for row in rest) for stage in REFUSAL_STAGES},
    }
    return {
        "total": sum(row["count"] for row in rows),
        "reasons": [shown(row) for row in listed],
        "other": other,
        "by_stage": {stage: sum(row[stage] for row in rows) for stage in REFUSAL_STAGES},
    }
