"""The weekly charge run (еженедельное списание).

`run_for_week` makes (or finds) the run of a closed week — Monday 00:00 to Monday 00:00 in each partner's country's
own zone (KZ: Asia/Almaty, KG: Asia/Bishkek; `ketlogistic.core.countries`), one run for both countries, made once the
week is over in both — and `run_compute` fills its draft with set-based SQL: every charge that is due by the end of
its country's week and was never charged before, whatever week it belongs to, due on its day in that zone.
`run_approve` posts the draft to the ledger, one posting per partner and currency, each in its own transaction, so an
interrupted approval resumes where it stopped: approving again, or beat's `billing.resume_approvals` (every 10
minutes) for a run left «approving». With each posting goes the balance checkpoint of the partner's account, and the
accounts the run did not charge get theirs at the end (`ledger.checkpoint`).

Exactly once: a charge row is unique per order and kind (and per warehouse charge); a computation adds only what
was never charged, one computation at a time (the run's row and an advisory lock), so two workers, a rerun or a
redelivered task add nothing twice, and the unique constraints refuse a second charge whatever writes it; a run posting
is unique per run, partner and currency. Run numbers come from one locked counter, so they have no gaps. No run starts
in a month whose monthly documents are issued (`documents`): its charges go into the next week's run.

The statements read other apps' tables: their names, columns, statuses and kinds come from those apps' models and
enums (imported below), the values passed as parameters.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from delivery.models import Collection
from ketlogistic.core import access, i18n, reactions
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.countries import Country, facts, zone_of
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.services import audit_record
from ketlogistic.core.sql import Table
from orders.models import Order, OrderHistory
from orders.statuses import OrderStatus
from orders.workflow import COURIER_KINDS, TRANSITIONS
from warehouses.models import WarehouseCharge

from . import ledger
from .models import Account, BillingRun, Charge, ChargeKind, Entry, MonthClosing, Posting, TariffLine


def week_bounds(week_start: date, country: str | None = None) -> tuple[datetime, datetime]:
    """When a billing week starts and ends: Monday 00:00 to the next Monday 00:00 in the country's own zone. Without
    a country, the span of both countries' weeks: from the first of them to start to the last to end (Asia/Bishkek
    is an hour ahead of Asia/Almaty, so a KG week starts and ends an hour before the KZ one)."""
    if country is None:
        bounds = [week_bounds(week_start, each) for each in Country.values]
        return min(start for start, _end in bounds), max(end for _start, end in bounds)
    start = datetime.combine(week_start, time(0, 0), tzinfo=zone_of(country))
    return start, start + timedelta(days=7)


def last_closed_week(now: datetime | None = None) -> date:
    """The Monday of the last week that is over in every country (each on its own calendar)."""
    moment = now or timezone.now()
    todays = [timezone.localtime(moment, zone_of(country)).date() for country in Country.values]
    return min(today - timedelta(days=today.weekday() + 7) for today in todays)


@transaction.atomic
def run_for_week(*, week_start: date, actor: Actor | None = None) -> BillingRun:
    """The run of a week over in every country: found if it exists, else created with the next number. One run
    covers every partner, each in its own country's week."""
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
    if MonthClosing.objects.filter(month=week_start.replace(day=1)).exists():
        # its charges would fall in a month whose act is out (`documents`): the next week's run charges them
        raise ApplicationError(
            _(
                "The documents for %(month)s are issued: no weekly run can start in it any more. The charges of the "
                "week of %(day)s go into the next week's run."
            )
            % {"month": week_start.strftime("%m.%Y"), "day": week_start.strftime("%d.%m.%Y")}
        )
    number = (BillingRun.objects.aggregate(last=Max("number"))["last"] or 0) + 1
    return BillingRun.objects.create(
        number=number,
        week_start=week_start,
        week_end=week_start + timedelta(days=7),
        created_by=acting_user(actor),
    )


# The tables the statements read and write, under their aliases.
ORDERS = Table(Order, "o")
HISTORY = Table(OrderHistory, "h")
COLLECTIONS = Table(Collection, "c")
WAREHOUSE_CHARGES_TABLE = Table(WarehouseCharge, "w")
PARTNERS = Table(Partner, "p")
LINES = Table(TariffLine, "tl")
CHARGES = Table(Charge)

# The values the statements compare with, from their owners' enums; passed as parameters with every statement.
HANDED_TO_COURIER = TRANSITIONS["hand_to_courier"].action  # the orders a courier took out
VALUES = {
    "order_fee": ChargeKind.ORDER_FEE.value,
    "discount": TariffLine.Kind.DISCOUNT.value,
    "cod": Collection.Kind.COD.value,
    "post": Collection.Channel.POST.value,
    "cod_post": ChargeKind.COD_POST.value,
    "cod_courier": ChargeKind.COD_COURIER.value,
    "distance": ChargeKind.DISTANCE.value,
    "refusal_transport": ChargeKind.REFUSAL_TRANSPORT.value,
    "storage": WarehouseCharge.Kind.STORAGE.value,
    "sms": ChargeKind.SMS.value,
    "handed_to_courier": HANDED_TO_COURIER,
    "courier_kinds": sorted(kind.value for kind in COURIER_KINDS),
    "closed": [OrderStatus.PAID.value, OrderStatus.REFUSED.value],
    "refused": [OrderStatus.REFUSED.value],
}

# Each country's billing week, as rows the statements join on (an order by its country, a collection by its
# currency: one per country): the instant the country's week ends, and the zone whose days its charges are due on.
# The statements also bound their scans by the span of both weeks (`%(since)s`, `%(end)s`), which the indexes serve.
WEEKS = """weeks AS (
    SELECT * FROM unnest(%(countries)s::text[], %(currencies)s::text[], %(zones)s::text[],
                         %(week_ends)s::timestamptz[]) AS w (country, currency, zone, week_end)
)"""


def weeks_params(week_start: date) -> dict:
    """The parameters of `WEEKS` for the week starting on `week_start`, from the countries' registry."""
    countries = Country.values
    return {
        "countries": countries,
        "currencies": [facts(country).currency for country in countries],
        "zones": [facts(country).timezone for country in countries],
        "week_ends": [week_bounds(week_start, country)[1] for country in countries],
    }


def tariff(*, kind: str, country: str, partner: str, day: str) -> str:
    """The tariff line of a kind in force for a partner on a day: its own, else the country's default."""
    return f"""
    SELECT tl.id, tl.amount, tl.percent FROM {LINES}
    WHERE tl.kind = {kind} AND tl.country = {country} AND (tl.partner_id = {partner} OR tl.partner_id IS NULL)
      AND tl.effective_from <= {day}
    ORDER BY tl.partner_id IS NULL, tl.effective_from DESC LIMIT 1
"""


def not_charged(order: str, kind: str) -> str:
    """Not charged yet for this kind: a probe of the unique (order, kind) index per candidate (or one hash of the
    charges, as the planner finds cheaper)."""
    return f"NOT EXISTS (SELECT 1 FROM {Table(Charge, 'x')} WHERE x.order_id = {order} AND x.kind = {kind})"


# What a computation finds due goes first into a staging table of the transaction (`STAGE`: temporary, the charges'
# columns and types without their indexes, constraints or write-ahead log), filled by one set-based statement
# (`STAGED_CHARGES`), then into the charges by one INSERT … SELECT in the order of (partner, order, kind)
# (`CHARGES_FROM_STAGE`): each index of the charges takes its rows in key order, and each partner's charges lie
# together for the approval, which posts them partner by partner. The statement's parts read other apps' tables; each part
# skips what was charged before (`not_charged`: the unique (order, kind) index), so the charges take a plain insert
# (no ON CONFLICT, which probes every unique index before each row): computations are one at a time (`COMPUTING`),
# and the unique constraints still refuse any second charge of an order and kind, whatever writes it.
STAGED_COLUMNS = ", ".join(
    Charge._meta.get_field(name).column
    for name in "partner kind order warehouse_charge city amount currency basis rate tariff_line due_on".split()
)
STAGE = f"""
CREATE TEMPORARY TABLE staged_charges ON COMMIT DROP AS SELECT {STAGED_COLUMNS} FROM {CHARGES} WITH NO DATA
"""
CHARGES_FROM_STAGE = f"""
INSERT INTO {CHARGES} (run_id, {STAGED_COLUMNS})
SELECT %(run)s, {STAGED_COLUMNS} FROM staged_charges ORDER BY partner_id, order_id, kind
"""
# one computation at a time, whatever its run (a run's own row lock orders two computations of the same run)
COMPUTING = "SELECT pg_advisory_xact_lock(hashtext('billing_charges_computing'))"

# The per-order fees: the fee, and packaging where the country's tariff has it, of every order whose work started. The
# tariff of each (partner, day, kind) is looked up once, not once per order: a week of 100 000 orders has a few hundred;
# what was charged before is skipped after the price (a kind without a tariff line, packaging in KZ, costs no lookup).
ORDER_FEES = """
worked AS (
    SELECT {o.id} AS id, {o.partner} AS partner_id, {o.country} AS country, {o.city} AS city_id,
           {o.currency} AS currency, ({o.work_started_at} AT TIME ZONE w.zone)::date AS day
    FROM {o} JOIN weeks w ON w.country = {o.country}
    WHERE {o.work_started_at} < w.week_end
      AND {o.work_started_at} < %(end)s AND {o.work_started_at} >= %(since)s AND {o.is_test} = false
), fee_price AS MATERIALIZED (
    SELECT k.partner_id, k.country, k.day, kinds.kind, t.id AS line_id,
           CASE WHEN kinds.kind = %(order_fee)s AND d.percent IS NOT NULL
                THEN round(t.amount * (100 - d.percent) / 100, 2) ELSE t.amount END AS amount,
           CASE WHEN kinds.kind = %(order_fee)s THEN d.percent END AS rate
    FROM (SELECT DISTINCT partner_id, country, day FROM worked) k
    CROSS JOIN unnest(%(fee_kinds)s::text[]) AS kinds (kind)
    CROSS JOIN LATERAL ({tariff}) t
    LEFT JOIN LATERAL (
        SELECT tl.percent FROM {lines}
        WHERE tl.kind = %(discount)s AND tl.partner_id = k.partner_id AND tl.effective_from <= k.day
        ORDER BY tl.effective_from DESC LIMIT 1) d ON true
), fees AS (
    SELECT worked.partner_id, fee_price.kind, worked.id AS order_id, NULL::bigint AS warehouse_charge_id,
           worked.city_id, fee_price.amount, worked.currency, NULL::numeric AS basis, fee_price.rate,
           fee_price.line_id AS tariff_line_id, worked.day AS due_on
    FROM worked JOIN fee_price USING (partner_id, country, day)
    WHERE fee_price.amount > 0 AND {charged}
)""".format(
    o=ORDERS,
    lines=LINES,
    tariff=tariff(kind="kinds.kind", country="k.country", partner="k.partner_id", day="k.day"),
    charged=not_charged("worked.id", "fee_price.kind"),
)

COD_COMMISSIONS = """
collected AS (
    -- the country from the currency (one per country), so no join to the orders; test orders never reach a
    -- courier or the post, so they have no collections
    SELECT {c.order} AS order_id, {c.partner} AS partner_id, w.country, {c.city} AS city_id,
           {c.currency} AS currency, {c.amount} AS amount,
           CASE {c.channel} WHEN %(post)s THEN %(cod_post)s ELSE %(cod_courier)s END AS kind,
           ({c.collected_at} AT TIME ZONE w.zone)::date AS day
    FROM {c} JOIN weeks w ON w.currency = {c.currency}
    WHERE {c.kind} = %(cod)s AND {c.collected_at} < w.week_end AND {c.collected_at} < %(end)s
      AND ({c.id} > %(collections_seen)s OR {c.collected_at} >= %(since)s)
), fresh AS (
    SELECT * FROM collected WHERE {charged}
), cod_price AS MATERIALIZED (
    SELECT k.partner_id, k.country, k.kind, k.day, t.id AS line_id, t.percent
    FROM (SELECT DISTINCT partner_id, country, kind, day FROM fresh) k
    CROSS JOIN LATERAL ({tariff}) t
), commissions AS (
    SELECT f.partner_id, f.kind, f.order_id, NULL::bigint AS warehouse_charge_id, f.city_id,
           round(f.amount * p.percent / 100, 2) AS amount, f.currency, f.amount AS basis, p.percent AS rate,
           p.line_id AS tariff_line_id, f.day AS due_on
    FROM fresh f JOIN cod_price p USING (partner_id, country, kind, day)
    WHERE round(f.amount * p.percent / 100, 2) > 0
)""".format(
    c=COLLECTIONS,
    tariff=tariff(kind="k.kind", country="k.country", partner="k.partner_id", day="k.day"),
    charged=not_charged("collected.order_id", "collected.kind"),
)

# Surcharges of orders a courier took out (they were handed to a courier), charged when the order closed in its
# country's week: the distance band of any closed order, the refusal's transport of a refused one. The closed orders
# are read once for both.
TAKEN_OUT = (
    f"EXISTS (SELECT 1 FROM {HISTORY} WHERE {HISTORY.order} = {ORDERS.id}"
    f" AND {HISTORY.action} = %(handed_to_courier)s)"
)

# The band of each order's distance, by a join on the city's lines (a few per city), not a lookup per order.
SURCHARGES = """
closed AS MATERIALIZED (
    SELECT {o.id} AS id, {o.partner} AS partner_id, {o.country} AS country, {o.city} AS city_id,
           {o.currency} AS currency, {o.distance_km} AS distance_km, {o.status} AS status,
           ({o.closed_at} AT TIME ZONE w.zone)::date AS day
    FROM {o} JOIN weeks w ON w.country = {o.country}
    WHERE {o.status} = ANY(%(closed)s) AND {o.closed_at} < w.week_end
      AND {o.closed_at} < %(end)s AND {o.closed_at} >= %(since)s AND {o.is_test} = false
      AND {o.delivery_kind} = ANY(%(courier_kinds)s) AND {taken_out}
), far AS (
    SELECT DISTINCT ON (d.id) d.*, tl.id AS line_id, tl.amount
    FROM closed d
    JOIN {lines} ON tl.kind = %(distance)s AND tl.city_id = d.city_id AND tl.country = d.country
         AND (tl.partner_id = d.partner_id OR tl.partner_id IS NULL) AND tl.effective_from <= d.day
         AND tl.from_km < d.distance_km AND (tl.to_km IS NULL OR tl.to_km >= d.distance_km)
    WHERE d.distance_km > 0 AND {distance_not_charged}
    ORDER BY d.id, tl.partner_id IS NULL, tl.effective_from DESC
), refused AS (
    SELECT * FROM closed d WHERE d.status = ANY(%(refused)s) AND {refusal_not_charged}
), refusal_price AS MATERIALIZED (
    SELECT k.partner_id, k.country, k.day, t.id AS line_id, t.amount
    FROM (SELECT DISTINCT partner_id, country, day FROM refused) k
    CROSS JOIN LATERAL ({tariff}) t
), surcharges AS (
    SELECT partner_id, %(distance)s AS kind, id AS order_id, NULL::bigint AS warehouse_charge_id, city_id, amount,
           currency, NULL::numeric AS basis, NULL::numeric AS rate, line_id AS tariff_line_id, day AS due_on
    FROM far WHERE amount > 0
    UNION ALL
    SELECT refused.partner_id, %(refusal_transport)s, refused.id, NULL, refused.city_id, refusal_price.amount,
           refused.currency, NULL, NULL, refusal_price.line_id, refused.day
    FROM refused JOIN refusal_price USING (partner_id, country, day)
    WHERE refusal_price.amount > 0
)""".format(
    o=ORDERS,
    lines=LINES,
    taken_out=TAKEN_OUT,
    distance_not_charged=not_charged("d.id", "%(distance)s"),
    refusal_not_charged=not_charged("d.id", "%(refusal_transport)s"),
    tariff=tariff(kind="%(refusal_transport)s", country="k.country", partner="k.partner_id", day="k.day"),
)

# Warehouse charges are dated (their day in their country), so the week's last day bounds them for both countries.
# Each is billed at its own amount: the price agreed (a pick-up, a transfer between cities the partner accepted) or
# entered (an unscheduled return's real transport cost), never a tariff's flat fee in its place. Only storage after
# the contract ended is a tariff's price per day: the line in force on that day (the amount the charge was made with).
WAREHOUSE_CHARGES = """
stored AS (
    SELECT {w.partner} AS partner_id, {w.kind} AS kind, NULL::bigint AS order_id, {w.id} AS warehouse_charge_id,
           NULL::bigint AS city_id, CASE WHEN t.id IS NULL THEN {w.amount} ELSE t.amount END AS amount,
           {w.currency} AS currency, NULL::numeric AS basis, NULL::numeric AS rate, t.id AS tariff_line_id,
           {w.occurred_on} AS due_on
    FROM {w}
    JOIN {p} ON {p.id} = {w.partner}
    LEFT JOIN LATERAL ({tariff}) t ON {w.kind} = %(storage)s
    WHERE {w.occurred_on} < %(end_day)s
      AND NOT EXISTS (SELECT 1 FROM {c} WHERE c.warehouse_charge_id = {w.id})
      AND (CASE WHEN t.id IS NULL THEN {w.amount} ELSE t.amount END) > 0
)""".format(
    w=WAREHOUSE_CHARGES_TABLE,
    p=PARTNERS,
    c=Table(Charge, "c"),
    tariff=tariff(
        kind=WAREHOUSE_CHARGES_TABLE.kind,
        country=PARTNERS.country,
        partner=WAREHOUSE_CHARGES_TABLE.partner,
        day=WAREHOUSE_CHARGES_TABLE.occurred_on,
    ),
)

# Every charge due, in one statement: the parts above over the shared `weeks`.
STAGED_CHARGES = f"""
WITH {WEEKS},
{ORDER_FEES},
{COD_COMMISSIONS},
{SURCHARGES},
{WAREHOUSE_CHARGES}
INSERT INTO staged_charges ({STAGED_COLUMNS})
SELECT * FROM fees
UNION ALL SELECT * FROM commissions
UNION ALL SELECT * FROM surcharges
UNION ALL SELECT * FROM stored
"""

# The SMS to each partner's customers in its country's week, billed when its tariff has an «SMS to customers, per
# part» line (its own, else the country's; the line in force on the day each went out; none, or a zero price: SMS are
# included). The parts sent per partner and day come from integrations, which owns the messages, as a SELECT (the
# wiring's SMS_PARTS_SENT) this statement starts with: `WITH sms (partner_id, day, parts) AS (…)`. One charge per run
# and partner (`quantity`: the parts charged), due on the week's last day; a draft computed again brings it up to date
# (an SMS recorded late), and leaves it as it is when nothing changed. A week's SMS are its run's alone (never «since
# the previous run», as order charges are): a week whose run was never made is billed when that week's run is made.
SMS_CHARGES = """
, priced AS (
    SELECT s.partner_id, s.day, s.parts, t.id AS line_id, t.amount
    FROM sms s
    JOIN {p} ON {p.id} = s.partner_id
    CROSS JOIN LATERAL ({tariff}) t
    WHERE t.amount > 0
), week AS (
    SELECT partner_id, sum(parts) AS parts, sum(parts * amount) AS amount,
           (array_agg(line_id ORDER BY day DESC))[1] AS line_id
    FROM priced GROUP BY partner_id
)
INSERT INTO {charges} AS c (run_id, partner_id, kind, order_id, warehouse_charge_id, city_id, amount, currency,
                            basis, rate, tariff_line_id, due_on, quantity)
SELECT %(run)s, w.partner_id, %(sms)s, NULL, NULL, NULL, w.amount, {p.currency}, NULL, NULL, w.line_id,
       %(last_day)s, w.parts
FROM week w JOIN {p} ON {p.id} = w.partner_id
ON CONFLICT (run_id, partner_id) WHERE kind = '{sms}' DO UPDATE SET
    amount = EXCLUDED.amount, quantity = EXCLUDED.quantity, tariff_line_id = EXCLUDED.tariff_line_id,
    currency = EXCLUDED.currency, due_on = EXCLUDED.due_on
WHERE (c.amount, c.quantity, c.tariff_line_id)
      IS DISTINCT FROM (EXCLUDED.amount, EXCLUDED.quantity, EXCLUDED.tariff_line_id)
""".format(
    p=PARTNERS,
    charges=CHARGES,
    sms=ChargeKind.SMS.value,
    tariff=tariff(kind="%(sms_part)s", country=PARTNERS.country, partner="s.partner_id", day="s.day"),
)


def sms_charges_statement(week_start: date) -> tuple[str, dict]:
    """The SMS statement of a week and the parameters of its first part (integrations' SELECT of the parts sent,
    each partner within its country's week)."""
    sent, sent_params = reactions.extension("SMS_PARTS_SENT")(
        weeks={country: week_bounds(week_start, country) for country in Country.values}
    )
    return "WITH sms (partner_id, day, parts) AS (" + sent + ")" + SMS_CHARGES, sent_params


@transaction.atomic
def run_compute(*, run: BillingRun, actor: Actor | None = None) -> int:
    """Fill (or refresh) the draft: add every charge due by the week's end that was never charged. Returns how
    many charges were added. A draft computed twice, or by two workers at once, gets each charge once."""
    if actor is not None and not access.can(actor, "billing.finance"):
        raise PermissionDenied
    run = BillingRun.objects.select_for_update().get(pk=run.pk)
    if run.status != BillingRun.Status.DRAFT:
        raise ApplicationError(_("Run №%(number)s is approved: it cannot change.") % {"number": run.number})
    # What a run looks at: facts recorded as they happen (a work start, a courier's closing) from the previous
    # run's week end on (the first country's; less a day: a transaction still open then, a clock a little off);
    # collections, which may be dated in the past (a post remittance entered weeks later), also whenever they were
    # recorded after the previous run was computed. What was charged before is skipped by the anti-join on the
    # unique (order, kind). Each country's facts up to the end of its own week (`WEEKS`).
    end = week_bounds(run.week_start)[1]
    previous = BillingRun.objects.filter(week_start__lt=run.week_start).order_by("-week_start").first()
    since = (
        min(week_bounds(previous.week_start, country)[1] for country in Country.values) - timedelta(days=1)
        if previous
        else datetime(2000, 1, 1, tzinfo=UTC)
    )
    collections_seen = (
        BillingRun.objects.filter(week_start__lt=run.week_start).aggregate(seen=Max("collections_seen"))[
            "seen"
        ]
        or 0
    )
    params = {
        **VALUES,
        **weeks_params(run.week_start),
        "fee_kinds": [ChargeKind.ORDER_FEE.value, ChargeKind.PACKAGING.value],
        "run": run.pk,
        "end": end,
        "end_day": run.week_end,
        "since": since,
        "collections_seen": collections_seen,
    }
    seen_now = Collection.objects.aggregate(seen=Max("id"))["seen"] or 0
    with connection.cursor() as cursor:
        cursor.execute(COMPUTING)
        cursor.execute(STAGE)
        # JIT compiling the one statement (its estimate is all its parts') would cost more than running it
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        jit = cursor.fetchone()[0]
        cursor.execute(STAGED_CHARGES, params)
        cursor.execute("SELECT set_config('jit', %s, true)", [jit])
        cursor.execute(CHARGES_FROM_STAGE, params)
        added = cursor.rowcount
        cursor.execute("DROP TABLE staged_charges")
        statement, sent_params = sms_charges_statement(run.week_start)
        cursor.execute(
            statement,
            {
                **params,
                **sent_params,
                "sms_part": TariffLine.Kind.SMS_PART.value,
                "last_day": run.week_end - timedelta(days=1),
            },
        )
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
    """Every kind's revenue account in the currency (one query when they exist, as they do after the first run)."""
    have = set(
        Account.objects.filter(
            kind=Account.Kind.REVENUE, currency=currency, partner=None, revenue_kind__in=ChargeKind.values
        ).values_list("revenue_kind", flat=True)
    )
    for kind in set(ChargeKind.values) - have:
        ledger.account(Account.Kind.REVENUE, currency, revenue_kind=kind)


POST_RUN = """
WITH charged AS MATERIALIZED (  -- the partner's charges of the run, read once for both sides
    SELECT c.id, c.amount, c.currency, c.partner_id, c.kind, c.order_id, c.city_id FROM {c}
    WHERE c.run_id = %(run)s AND c.partner_id = %(partner)s AND c.currency = %(currency)s AND c.amount > 0
)
INSERT INTO {entries} (posting_id, account_id, amount, currency, partner_id, kind, order_id, charge_id, city_id, at)
SELECT %(posting)s, %(partner_account)s, c.amount, c.currency, c.partner_id, c.kind, c.order_id, c.id, c.city_id, %(at)s
FROM charged c
UNION ALL
SELECT %(posting)s, a.id, -SUM(c.amount), c.currency, c.partner_id, c.kind, NULL, NULL, NULL, %(at)s
FROM charged c
JOIN {a} ON a.kind = %(revenue)s AND a.revenue_kind = c.kind AND a.currency = c.currency
                      AND a.partner_id IS NULL
GROUP BY a.id, c.currency, c.partner_id, c.kind
""".format(entries=Table(Entry), c=Table(Charge, "c"), a=Table(Account, "a"))


def _post_partner(run: BillingRun, partner_id: int, currency: str, actor: Actor, at: datetime) -> bool:
    """Post one partner's charges of the run, once: False when it was posted already."""
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
        description = gettext_message("Weekly charges, run №%(number)s (%(start)s–%(end)s)") % {
            "number": run.number,
            "start": run.week_start.strftime("%d.%m"),
            "end": (run.week_end - timedelta(days=1)).strftime("%d.%m.%Y"),
        }
        try:
            with transaction.atomic():
                posting = Posting.objects.create(
                    kind=Posting.Kind.RUN,
                    partner=partner,
                    currency=currency,
                    run=run,
                    posted_at=at,
                    actor=acting_user(actor),
                    description=description,
                    message=i18n.stored(description),
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
                    "revenue": Account.Kind.REVENUE.value,
                },
            )
        ledger.seal(posting.pk)
        ledger.checkpoint(account, run=run, locked=True)  # its balance up to this posting, for good
    return True


def run_approve(*, run: BillingRun, actor: Actor, now: datetime | None = None) -> BillingRun:
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
            run.approved_by = acting_user(actor)
            run.save(update_fields=["status", "approved_by"])
            audit_record(
                actor=actor,
                action="billing.run_approved",
                obj=run,
                summary=gettext_message("Charge run №%(number)s approved, week from %(start)s")
                % {"number": run.number, "start": run.week_start.strftime("%d.%m.%Y")},
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
    # the partners with collections but no charge this week: a checkpoint all the same
    for account_id in ledger.accounts_behind(run):
        ledger.checkpoint(account_id, run=run)
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
        .annotate(count=Count("id"), total=Sum("amount"), basis=Sum("basis"), quantity=Sum("quantity"))
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
        entry["kinds"][row["kind"]] = {
            "count": row["count"],
            "total": row["total"],
            "basis": row["basis"],
            "quantity": row["quantity"],
        }
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
