"""The weekly charge run (еженедельное списание).

`run_for_week` makes (or finds) the run of a closed week — Monday 00:00 to Monday 00:00, Asia/Almaty —
and `run_compute` fills its draft with set-based SQL: every charge that is due by the week's end and was
never charged before, whatever week it belongs to. `run_approve` posts the draft to the ledger, one posting
per partner and currency, each in its own transaction, so an interrupted approval resumes where it stopped:
approving again, or beat's `billing.resume_approvals` (every 10 minutes) for a run left «approving».

Exactly once: a charge row is unique per order and kind (and per warehouse charge); the inserts say
`ON CONFLICT DO NOTHING`, so two workers, a rerun or a redelivered task add nothing twice; a run posting is
unique per run, partner and currency. Run numbers come from one locked counter, so they have no gaps.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.services import audit_record

from . import ledger
from .models import Account, BillingRun, Charge, ChargeKind, Posting

ALMATY = ZoneInfo("Asia/Almaty")
COURIER_KINDS = ("express", "same_day", "field")


def week_bounds(week_start: date) -> tuple[datetime, datetime]:
    start = datetime.combine(week_start, time(0, 0), tzinfo=ALMATY)
    return start, start + timedelta(days=7)


def last_closed_week(now: datetime | None = None) -> date:
    """The Monday of the last full week (Asia/Almaty)."""
    today = timezone.localtime(now or timezone.now(), ALMATY).date()
    return today - timedelta(days=today.weekday() + 7)


@transaction.atomic
def run_for_week(*, week_start: date, actor=None) -> BillingRun:
    """The run of a closed week: found if it exists, else created with the next number."""
    if week_start.weekday() != 0:
        raise ApplicationError(_("A week starts on a Monday."))
    if week_bounds(week_start)[1] > timezone.now():
        raise ApplicationError(
            _("The week of %(day)s is not over yet.") % {"day": week_start.strftime("%d.%m.%Y")}
        )
    existing = BillingRun.objects.filter(week_start=week_start).first()
    if existing is not None:
        return existing
    with connection.cursor() as cursor:  # one counter for the numbers: no gaps, no duplicates
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('billing_run_number'))")
    existing = BillingRun.objects.filter(week_start=week_start).first()
    if existing is not None:
        return existing
    number = (BillingRun.objects.aggregate(last=Max("number"))["last"] or 0) + 1
    return BillingRun.objects.create(
        number=number,
        week_start=week_start,
        week_end=week_start + timedelta(days=7),
        created_by=actor if getattr(actor, "pk", None) else None,
    )


TARIFF = """
    SELECT tl.id, tl.amount, tl.percent FROM billing_tariffline tl
    WHERE tl.kind = {kind} AND tl.country = {country} AND (tl.partner_id = {partner} OR tl.partner_id IS NULL)
      AND tl.effective_from <= {day}
    ORDER BY tl.partner_id IS NULL, tl.effective_from DESC LIMIT 1
"""


def not_charged(order: str, kind: str) -> str:
    """Not charged yet for this kind (the planner hashes the charges once: cheaper than a probe per candidate)."""
    return f"NOT EXISTS (SELECT 1 FROM billing_charge x WHERE x.order_id = {order} AND x.kind = {kind})"


# The tariff of each (partner, day) is looked up once per pair, not once per order: a week of 100 000 orders has
# a few hundred pairs.
ORDER_FEES = """
WITH due AS (
    SELECT o.id, o.partner_id, o.country, o.city_id, o.currency,
           (o.work_started_at AT TIME ZONE 'Asia/Almaty')::date AS day
    FROM orders_order o
    WHERE o.work_started_at < %(end)s AND o.work_started_at >= %(since)s AND o.is_test = false
      AND {charged}
), price AS MATERIALIZED (
    SELECT k.partner_id, k.country, k.day, t.id AS line_id,
           CASE WHEN %(kind)s = 'order_fee' AND d.percent IS NOT NULL
                THEN round(t.amount * (100 - d.percent) / 100, 2) ELSE t.amount END AS amount,
           CASE WHEN %(kind)s = 'order_fee' THEN d.percent END AS rate
    FROM (SELECT DISTINCT partner_id, country, day FROM due) k
    CROSS JOIN LATERAL ({tariff}) t
    LEFT JOIN LATERAL (
        SELECT tl.percent FROM billing_tariffline tl
        WHERE tl.kind = 'discount' AND tl.partner_id = k.partner_id AND tl.effective_from <= k.day
        ORDER BY tl.effective_from DESC LIMIT 1) d ON true
)
INSERT INTO billing_charge (run_id, partner_id, kind, order_id, warehouse_charge_id, city_id, amount, currency,
                            basis, rate, tariff_line_id, due_on)
SELECT %(run)s, due.partner_id, %(kind)s, due.id, NULL, due.city_id, price.amount, due.currency, NULL, price.rate,
       price.line_id, due.day
FROM due JOIN price USING (partner_id, country, day)
WHERE price.amount > 0
ON CONFLICT DO NOTHING
""".format(
    tariff=TARIFF.format(kind="%(kind)s", country="k.country", partner="k.partner_id", day="k.day"),
    charged=not_charged("o.id", "%(kind)s"),
)

COD_COMMISSIONS = """
WITH due AS (
    -- the country from the currency (one per country), so no join to the orders; test orders never reach a
    -- courier or the post, so they have no collections
    SELECT c.order_id, c.partner_id, CASE c.currency WHEN 'KGS' THEN 'KG' ELSE 'KZ' END AS country, c.city_id,
           c.currency, c.amount, CASE c.channel WHEN 'post' THEN 'cod_post' ELSE 'cod_courier' END AS kind,
           (c.collected_at AT TIME ZONE 'Asia/Almaty')::date AS day
    FROM delivery_collection c
    WHERE c.kind = 'cod' AND c.collected_at < %(end)s
      AND (c.id > %(collections_seen)s OR c.collected_at >= %(since)s)
), fresh AS (
    SELECT * FROM due WHERE {charged}
), price AS MATERIALIZED (
    SELECT k.partner_id, k.country, k.kind, k.day, t.id AS line_id, t.percent
    FROM (SELECT DISTINCT partner_id, country, kind, day FROM fresh) k
    CROSS JOIN LATERAL ({tariff}) t
)
INSERT INTO billing_charge (run_id, partner_id, kind, order_id, warehouse_charge_id, city_id, amount, currency,
                            basis, rate, tariff_line_id, due_on)
SELECT %(run)s, f.partner_id, f.kind, f.order_id, NULL, f.city_id, round(f.amount * p.percent / 100, 2), f.currency,
       f.amount, p.percent, p.line_id, f.day
FROM fresh f JOIN price p USING (partner_id, country, kind, day)
WHERE round(f.amount * p.percent / 100, 2) > 0
ON CONFLICT DO NOTHING
""".format(
    tariff=TARIFF.format(kind="k.kind", country="k.country", partner="k.partner_id", day="k.day"),
    charged=not_charged("due.order_id", "due.kind"),
)

# Surcharges of orders a courier took out (they were handed to a courier), charged when the order closed.
TAKEN_OUT = (
    "EXISTS (SELECT 1 FROM orders_orderhistory h WHERE h.order_id = o.id AND h.action = 'hand_to_courier')"
)

CLOSED_TAKEN_OUT = f"""
    SELECT o.id, o.partner_id, o.country, o.city_id, o.currency, o.distance_km,
           (o.closed_at AT TIME ZONE 'Asia/Almaty')::date AS day
    FROM orders_order o
    WHERE o.status IN {{statuses}} AND o.closed_at < %(end)s AND o.closed_at >= %(since)s AND o.is_test = false
      AND o.delivery_kind IN ('express', 'same_day', 'field') AND {TAKEN_OUT}
      AND {not_charged("o.id", "{kind}")}
"""

# The band of each order's distance, by a join on the city's lines (a few per city), not a lookup per order.
DISTANCE = """
WITH due AS MATERIALIZED ({due}), best AS (
    SELECT DISTINCT ON (d.id) d.*, tl.id AS line_id, tl.amount
    FROM due d
    JOIN billing_tariffline tl ON tl.kind = 'distance' AND tl.city_id = d.city_id AND tl.country = d.country
         AND (tl.partner_id = d.partner_id OR tl.partner_id IS NULL) AND tl.effective_from <= d.day
         AND tl.from_km < d.distance_km AND (tl.to_km IS NULL OR tl.to_km >= d.distance_km)
    ORDER BY d.id, tl.partner_id IS NULL, tl.effective_from DESC
)
INSERT INTO billing_charge (run_id, partner_id, kind, order_id, warehouse_charge_id, city_id, amount, currency,
                            basis, rate, tariff_line_id, due_on)
SELECT %(run)s, partner_id, 'distance', id, NULL, city_id, amount, currency, NULL, NULL, line_id, day
FROM best WHERE amount > 0
ON CONFLICT DO NOTHING
""".format(
    due=CLOSED_TAKEN_OUT.format(statuses="('paid', 'refused')", kind="'distance'") + " AND o.distance_km > 0"
)

REFUSAL_TRANSPORT = """
WITH due AS MATERIALIZED ({due}), price AS MATERIALIZED (
    SELECT k.partner_id, k.country, k.day, t.id AS line_id, t.amount
    FROM (SELECT DISTINCT partner_id, country, day FROM due) k
    CROSS JOIN LATERAL ({tariff}) t
)
INSERT INTO billing_charge (run_id, partner_id, kind, order_id, warehouse_charge_id, city_id, amount, currency,
                            basis, rate, tariff_line_id, due_on)
SELECT %(run)s, due.partner_id, 'refusal_transport', due.id, NULL, due.city_id, price.amount, due.currency,
       NULL, NULL, price.line_id, due.day
FROM due JOIN price USING (partner_id, country, day)
WHERE price.amount > 0
ON CONFLICT DO NOTHING
""".format(
    due=CLOSED_TAKEN_OUT.format(statuses="('refused')", kind="'refusal_transport'"),
    tariff=TARIFF.format(
        kind="'refusal_transport'", country="k.country", partner="k.partner_id", day="k.day"
    ),
)

WAREHOUSE_CHARGES = """
INSERT INTO billing_charge (run_id, partner_id, kind, order_id, warehouse_charge_id, city_id, amount, currency,
                            basis, rate, tariff_line_id, due_on)
SELECT %(run)s, w.partner_id, w.kind, NULL, w.id, NULL,
       CASE WHEN w.kind = 'pickup' OR t.id IS NULL THEN w.amount ELSE t.amount END, w.currency, NULL, NULL, t.id,
       w.occurred_on
FROM warehouses_warehousecharge w
JOIN core_partner p ON p.id = w.partner_id
LEFT JOIN LATERAL ({tariff}) t ON w.kind <> 'pickup'
WHERE w.occurred_on < %(end_day)s
  AND NOT EXISTS (SELECT 1 FROM billing_charge c WHERE c.warehouse_charge_id = w.id)
  AND (CASE WHEN w.kind = 'pickup' OR t.id IS NULL THEN w.amount ELSE t.amount END) > 0
ON CONFLICT DO NOTHING
""".format(
    tariff=TARIFF.format(kind="w.kind", country="p.country", partner="w.partner_id", day="w.occurred_on")
)


@transaction.atomic
def run_compute(*, run: BillingRun, actor=None) -> int:
    """Fill (or refresh) the draft: add every charge due by the week's end that was never charged. Returns how
    many charges were added. A draft computed twice, or by two workers at once, gets each charge once."""
    if actor is not None and not access.can(actor, "billing.finance"):
        raise PermissionDenied
    run = BillingRun.objects.select_for_update().get(pk=run.pk)
    if run.status != BillingRun.Status.DRAFT:
        raise ApplicationError(_("Run №%(number)s is approved: it cannot change.") % {"number": run.number})
    # What a run looks at: facts recorded as they happen (a work start, a courier's closing) from the previous
    # run's week end on (less a day: a transaction still open then, a clock a little off); collections, which may
    # be dated in the past (a post remittance entered weeks later), also whenever they were recorded after the
    # previous run was computed. What was charged before is skipped by the anti-join on the unique (order, kind).
    _start, end = week_bounds(run.week_start)
    previous = BillingRun.objects.filter(week_start__lt=run.week_start).order_by("-week_start").first()
    since = (
        week_bounds(previous.week_start)[1] - timedelta(days=1)
        if previous
        else datetime(2000, 1, 1, tzinfo=ALMATY)
    )
    collections_seen = (
        BillingRun.objects.filter(week_start__lt=run.week_start).aggregate(seen=Max("collections_seen"))[
            "seen"
        ]
        or 0
    )
    params = {
        "run": run.pk,
        "end": end,
        "end_day": run.week_end,
        "since": since,
        "collections_seen": collections_seen,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM delivery_collection")
        seen_now = cursor.fetchone()[0]
    added = 0
    with connection.cursor() as cursor:
        for kind in (ChargeKind.ORDER_FEE, ChargeKind.PACKAGING):
            cursor.execute(ORDER_FEES, {**params, "kind": kind})
            added += cursor.rowcount
        for statement in (COD_COMMISSIONS, DISTANCE, REFUSAL_TRANSPORT, WAREHOUSE_CHARGES):
            cursor.execute(statement, params)
            added += cursor.rowcount
    run.computed_at = timezone.now()
    run.collections_seen = max(run.collections_seen, seen_now)
    run.save(update_fields=["computed_at", "collections_seen"])
    return added


# A draft is computed within seconds of being made (by the Monday task, or by the finance director's form); one
# still uncomputed this long after was left by a worker killed as a whole (the broker hands its task back only
# after the visibility timeout, an hour) or a request cut off between making and computing it.
STALE_DRAFT_AFTER = timedelta(minutes=10)


def stale_drafts(now: datetime | None = None):
    """Drafts made more than `STALE_DRAFT_AFTER` ago and never computed, oldest week first."""
    made_before = (now or timezone.now()) - STALE_DRAFT_AFTER
    return BillingRun.objects.filter(
        status=BillingRun.Status.DRAFT, computed_at__isnull=True, created_at__lte=made_before
    ).order_by("week_start")


def stale_draft_compute(*, run: BillingRun) -> bool:
    """Compute a stale draft unless someone is computing it now (its row locked: skipped, not waited for).
    True if it was computed here."""
    with transaction.atomic():
        locked = BillingRun.objects.select_for_update(skip_locked=True).filter(pk=run.pk).first()
        if locked is None or locked.status != BillingRun.Status.DRAFT or locked.computed_at is not None:
            return False
        run_compute(run=locked)
    return True


def _revenue_accounts(currency: str) -> None:
    for kind in ChargeKind.values:
        ledger.account(Account.Kind.REVENUE, currency, revenue_kind=kind)


POST_RUN = """
INSERT INTO billing_entry (posting_id, account_id, amount, currency, partner_id, kind, order_id, charge_id, city_id, at)
SELECT %(posting)s, %(partner_account)s, c.amount, c.currency, c.partner_id, c.kind, c.order_id, c.id, c.city_id, %(at)s
FROM billing_charge c
WHERE c.run_id = %(run)s AND c.partner_id = %(partner)s AND c.currency = %(currency)s AND c.amount > 0
UNION ALL
SELECT %(posting)s, a.id, -SUM(c.amount), c.currency, c.partner_id, c.kind, NULL, NULL, NULL, %(at)s
FROM billing_charge c
JOIN billing_account a ON a.kind = 'revenue' AND a.revenue_kind = c.kind AND a.currency = c.currency
                      AND a.partner_id IS NULL
WHERE c.run_id = %(run)s AND c.partner_id = %(partner)s AND c.currency = %(currency)s AND c.amount > 0
GROUP BY a.id, c.currency, c.partner_id, c.kind
"""


def _post_partner(run: BillingRun, partner_id: int, currency: str, actor, at: datetime) -> bool:
    """Post one partner's charges of the run, once: False when it was posted already."""
    from ketlogistic.core.models import Partner

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [run.pk, partner_id])
        if Posting.objects.filter(
            kind=Posting.Kind.RUN, run=run, partner_id=partner_id, currency=currency
        ).exists():
            return False
        partner = Partner.objects.get(pk=partner_id)
        account = ledger.partner_account(partner, currency)
        Account.objects.select_for_update().filter(
            pk=account.pk
        ).first()  # see ledger.post: ids in commit order
        try:
            with transaction.atomic():
                posting = Posting.objects.create(
                    kind=Posting.Kind.RUN,
                    partner=partner,
                    currency=currency,
                    run=run,
                    posted_at=at,
                    actor=actor if getattr(actor, "pk", None) else None,
                    description=_("Weekly charges, run №%(number)s (%(start)s–%(end)s)")
                    % {
                        "number": run.number,
                        "start": run.week_start.strftime("%d.%m"),
                        "end": (run.week_end - timedelta(days=1)).strftime("%d.%m.%Y"),
                    },
                )
        except IntegrityError:
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                POST_RUN,
                {
                    "posting": posting.pk,
                    "partner_account": account.pk,
                    "at": at,
                    "run": run.pk,
                    "partner": partner_id,
                    "currency": currency,
                },
            )
        ledger.seal(posting.pk)
    return True


def run_approve(*, run: BillingRun, actor, now: datetime | None = None) -> BillingRun:
    """Approve the draft: post it. Each partner's posting is its own transaction, so an approval that stops
    midway (a worker killed, a deploy) resumes on the next call and never posts anything twice. `now` dates
    the postings (the demo's past weeks); by default, the moment of approval."""
    if actor is not None and not access.can(actor, "billing.finance"):
        raise PermissionDenied
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == BillingRun.Status.APPROVED:
            return run
        if run.computed_at is None:
            raise ApplicationError(_("Compute the draft before approving it."))
        if run.status == BillingRun.Status.DRAFT:
            run.status = BillingRun.Status.APPROVING
            run.approved_by = actor if getattr(actor, "pk", None) else None
            run.save(update_fields=["status", "approved_by"])
            audit_record(
                actor=actor,
                action="billing.run_approved",
                obj=run,
                summary=f"run {run.number}, week {run.week_start:%d.%m.%Y}",
            )
    at = now or timezone.now()
    groups = (
        Charge.objects.filter(run=run, amount__gt=0)
        .values_list("partner_id", "currency")
        .distinct()
        .order_by("partner_id", "currency")
    )
    for currency in {currency for _partner, currency in groups}:
        _revenue_accounts(currency)
    for partner_id, currency in groups:
        _post_partner(run, partner_id, currency, actor, at)
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run.pk)
        if run.status != BillingRun.Status.APPROVED:
            run.status = BillingRun.Status.APPROVED
            run.approved_at = at
            run.save(update_fields=["status", "approved_at"])
    return run


def summary(run: BillingRun, *, partner_ids=None) -> list[dict]:
    """Per partner and currency: orders charged by kind, COD sums, commissions, surcharges; the draft's review."""
    charges = Charge.objects.filter(run=run)
    if partner_ids is not None:
        charges = charges.filter(partner_id__in=partner_ids)
    rows = {}
    for row in (
        charges.values("partner_id", "partner__name", "currency", "kind")
        .annotate(count=Count("id"), total=Sum("amount"), basis=Sum("basis"))
        .order_by("partner__name", "currency")
    ):
        key = (row["partner_id"], row["currency"])
        entry = rows.setdefault(
            key,
            {
                "partner_id": row["partner_id"],
                "partner": row["partner__name"],
                "currency": row["currency"],
                "kinds": {},
                "total": 0,
                "cod": 0,
            },
        )
        entry["kinds"][row["kind"]] = {"count": row["count"], "total": row["total"], "basis": row["basis"]}
        entry["total"] += row["total"]
        if row["basis"]:
            entry["cod"] += row["basis"]
    return list(rows.values())


def by_city(run: BillingRun, partner_id: int) -> list[dict]:
    return list(
        Charge.objects.filter(run=run, partner_id=partner_id)
        .values("city__name", "currency", "kind")
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by("city__name", "kind")
    )
