"""Reads of billing: a partner's balance and statement, buyout by city, weekly summaries and the chart; the
finance director's desk and the period report. Sums are computed in the database.

A partner's own reads count days, weeks and months in its country's zone (KZ: Asia/Almaty, KG: Asia/Bishkek), the
zone its pages show times in and its billing weeks are cut in; reads across partners (the API's entries, the period
report) in the project's default zone (`TIME_ZONE`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from delivery.models import CashBalance
from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.countries import zone_of
from ketlogistic.core.models import Partner

from . import ledger
from .models import Account, BillingRun, Charge, ChargeKind, Entry, Payout, Posting

ZERO = Decimal("0.00")


def partners_for(actor: Actor):
    return access.visible_partners(actor).order_by("name")


def balance_summary(partner) -> list[dict]:
    """Per currency the partner works in: the balance, payouts in progress, collected and charged this month."""
    zone = zone_of(partner.country)
    month_start = datetime.combine(timezone.localdate(timezone=zone).replace(day=1), time(0), tzinfo=zone)
    entries = Entry.objects.filter(
        account__kind=Account.Kind.PARTNER, account__partner=partner, account__currency=partner.currency
    )
    month = entries.filter(at__gte=month_start).aggregate(
        collected=Sum("amount", filter=Q(kind__in=["cod", "refusal_fee"])),
        charged=Sum("amount", filter=Q(kind__in=ChargeKind.values)),
    )
    pending = Payout.objects.filter(
        partner=partner, status__in=[Payout.Status.REQUESTED, Payout.Status.APPROVED]
    )
    return [
        {
            "currency": partner.currency,
            "balance": ledger.partner_balance(partner, partner.currency),
            "pending": pending.aggregate(total=Sum("amount"))["total"] or ZERO,
            "collected_month": -(month["collected"] or ZERO),
            "charged_month": month["charged"] or ZERO,
        }
    ]


def day_bounds(since: date | None, until: date | None, zone=None) -> tuple[datetime | None, datetime | None]:
    """A period of whole days in `zone` (by default the project's, `TIME_ZONE`) as the instants it starts and ends."""
    zone = zone or timezone.get_default_timezone()
    start = datetime.combine(since, time(0), tzinfo=zone) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=zone) if until else None
    return start, end


def balance_entries(
    entries,
    *,
    since: date | None = None,
    until: date | None = None,
    kind: str | None = None,
    city_id: int | None = None,
    order_id: int | None = None,
    zone=None,
):
    """The entries on partners' balances among `entries` (already scoped to the reader), filtered; the days in
    `zone` (by default the project's)."""
    entries = entries.filter(account__kind=Account.Kind.PARTNER)
    start, end = day_bounds(since, until, zone)
    if start:
        entries = entries.filter(at__gte=start)
    if end:
        entries = entries.filter(at__lt=end)
    if kind:
        entries = entries.filter(kind=kind)
    if city_id:
        entries = entries.filter(city_id=city_id)
    if order_id:
        entries = entries.filter(order_id=order_id)
    return entries


def statement(
    partner,
    *,
    since: date | None = None,
    until: date | None = None,
    kind: str | None = None,
    city_id: int | None = None,
):
    """Every entry on the partner's balance, with its order and city, newest first; plus the opening and
    closing balance of the period (days in the partner's country's zone)."""
    zone = zone_of(partner.country)
    # the partner's accounts by id (one, in its currency): the (account, at) index then gives the newest entries first
    accounts = list(
        Account.objects.filter(kind=Account.Kind.PARTNER, partner=partner).values_list("pk", flat=True)
    )
    entries = balance_entries(
        Entry.objects.filter(account__in=accounts),
        since=since,
        until=until,
        kind=kind,
        city_id=city_id,
        zone=zone,
    ).select_related("order", "city", "posting")
    start, end = day_bounds(since, until, zone)
    opening = ledger.partner_balance(partner, partner.currency, until=start) if start else ZERO
    closing = ledger.partner_balance(partner, partner.currency, until=end)
    return entries.order_by("-at", "-id"), opening, closing


def buyout_by_city(partner, *, since: date | None = None, until: date | None = None) -> list[dict]:
    """How much buyout money came from each city (the collected cash accrued to the partner)."""
    entries = balance_entries(
        Entry.objects.filter(account__partner=partner),
        since=since,
        until=until,
        kind="cod",
        zone=zone_of(partner.country),
    )
    return [
        {"city": row["city__name"] or "—", "orders": row["orders"], "total": -row["total"]}
        for row in entries.values("city__name")
        .annotate(orders=Count("order", distinct=True), total=Sum("amount"))
        .order_by("total")
    ]


def run_summaries(partner, limit: int = 12) -> list[dict]:
    """The partner's last `limit` approved weekly runs: charges by kind, COD they were computed on, the run's total.
    The runs first (newest first, those that charged the partner), then their charges: a partner's years of charges
    are never read for its last weeks."""
    recent = (
        BillingRun.objects.filter(status=BillingRun.Status.APPROVED)
        .filter(Exists(Charge.objects.filter(run=OuterRef("pk"), partner=partner)))
        .order_by("-week_start")
        .values_list("pk", flat=True)[:limit]
    )
    rows = {}
    for row in (
        Charge.objects.filter(partner=partner, run__in=recent)
        .values("run_id", "run__number", "run__week_start", "kind")
        .annotate(count=Count("id"), total=Sum("amount"), basis=Sum("basis"), quantity=Sum("quantity"))
        .order_by("-run__week_start")
    ):
        entry = rows.setdefault(
            row["run_id"],
            {"number": row["run__number"], "week_start": row["run__week_start"], "kinds": {}, "total": ZERO},
        )
        entry["kinds"][row["kind"]] = row
        entry["total"] += row["total"]
    return list(rows.values())[:limit]


def weekly_chart(partner, weeks: int = 12) -> list[dict]:
    """Balance at each week's end and the buyout accrued in the week, for the last `weeks` weeks: the partner's
    weeks, as its charge runs cut them (Monday 00:00 in its country's zone)."""
    zone = zone_of(partner.country)
    today = timezone.localdate(timezone=zone)
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    start = datetime.combine(first, time(0), tzinfo=zone)
    entries = Entry.objects.filter(account__kind=Account.Kind.PARTNER, account__partner=partner)
    opening = ledger.partner_balance(partner, partner.currency, until=start)
    by_week = {
        row["week"].date() if hasattr(row["week"], "date") else row["week"]: row
        for row in entries.filter(at__gte=start)
        .annotate(week=TruncWeek("at", tzinfo=zone))
        .values("week")
        .annotate(change=Sum("amount"), buyout=Sum("amount", filter=Q(kind="cod")))
    }
    points, balance = [], opening
    for index in range(weeks):
        week = first + timedelta(days=7 * index)
        row = by_week.get(week, {})
        balance -= row.get("change") or ZERO
        points.append({"week": week, "balance": balance, "buyout": -(row.get("buyout") or ZERO)})
    return points


# -- the finance director -------------------------------------------------------------------------------------------


def all_balances() -> list[dict]:
    balances = ledger.balances()
    partners = {p.pk: p for p in Partner.objects.filter(pk__in={pid for pid, _c in balances})}
    pending = {
        (row["partner_id"], row["currency"]): row["total"]
        for row in Payout.objects.filter(status__in=[Payout.Status.REQUESTED, Payout.Status.APPROVED])
        .values("partner_id", "currency")
        .annotate(total=Sum("amount"))
    }
    return sorted(
        (
            {
                "partner": partners[pid],
                "currency": currency,
                "balance": amount,
                "pending": pending.get((pid, currency), ZERO),
            }
            for (pid, currency), amount in balances.items()
            if pid in partners
        ),
        key=lambda row: (row["currency"], row["partner"].name),
    )


def couriers_cash() -> list[dict]:
    """Cash still with couriers (collected, not handed over), per courier."""
    return list(
        CashBalance.objects.filter(account="courier", amount__gt=0)
        .select_related("courier", "warehouse__city")
        .order_by("-amount")
    )


def period_report(*, since: date, until: date) -> dict:
    """Revenue by kind, by country (currency) and by partner for a period; buyout accrued and payouts made."""
    start, end = day_bounds(since, until)
    revenue = Entry.objects.filter(account__kind=Account.Kind.REVENUE, at__gte=start, at__lt=end)
    by_kind = list(
        revenue.values("account__revenue_kind", "currency")
        .annotate(total=Sum("amount"))
        .order_by("currency", "account__revenue_kind")
    )
    by_partner = list(
        revenue.values("partner__name", "currency")
        .annotate(total=Sum("amount"))
        .order_by("currency", "total")
    )
    partner_side = Entry.objects.filter(account__kind=Account.Kind.PARTNER, at__gte=start, at__lt=end)
    totals = list(
        partner_side.values("currency")
        .annotate(
            buyout=Sum("amount", filter=Q(kind="cod")),
            paid_out=Sum("amount", filter=Q(posting__kind=Posting.Kind.PAYOUT_PAID)),
        )
        .order_by("currency")
    )
    paid = {
        row["currency"]: row["total"]
        for row in Posting.objects.filter(
            kind=Posting.Kind.PAYOUT_PAID, posted_at__gte=start, posted_at__lt=end
        )
        .values("currency")
        .annotate(total=Sum("payout__amount"))
    }
    return {
        "by_kind": [
            {
                "kind": ChargeKind(row["account__revenue_kind"]).label,
                "currency": row["currency"],
                "total": -row["total"],
            }
            for row in by_kind
        ],
        "by_partner": [
            {"partner": row["partner__name"], "currency": row["currency"], "total": -row["total"]}
            for row in by_partner
        ],
        "totals": [
            {
                "currency": row["currency"],
                "buyout": -(row["buyout"] or ZERO),
                "paid_out": paid.get(row["currency"], ZERO),
            }
            for row in totals
        ],
    }


def draft_runs() -> list[BillingRun]:
    """Weekly charge runs still in draft, oldest week first, each with how many partners it charges (`partners`: the
    rows of the run's page) — one query. The runs are the finance director's, company-wide."""
    return list(
        BillingRun.objects.filter(status=BillingRun.Status.DRAFT)
        .annotate(partners=Count("charges__partner", distinct=True))
        .order_by("week_start")
    )


def payouts_waiting(actor: Actor) -> dict[str, int]:
    """Payouts this user sees that wait for the finance director: requested (to approve), approved (to pay)."""
    return access.scoped(actor, Payout.objects.all()).aggregate(
        requested=Count("pk", filter=Q(status=Payout.Status.REQUESTED)),
        approved=Count("pk", filter=Q(status=Payout.Status.APPROVED)),
    )
