"""The weekly charge run: the seed's worked example exact to the tiyn, what is charged and what never is,
exactly once whatever reruns, approvals and workers do."""

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from billing import ledger, runs
from billing.models import BillingRun, Charge, Posting
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import Role
from orders import workflow
from orders.models import Order
from orders.statuses import OrderSource
from tests.billing.conftest import IN_WEEK, MONDAY_AFTER, WEEK
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _pct(amount, rate):
    return (Decimal(amount) * Decimal(rate) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _week_run(finance):
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)
    return run


def test_the_seed_worked_example_for_kazakhstan(
    partner_a, product_a, worked_orders, collect, finance, monday
):
    courier = worked_orders(partner_a, 100)
    post = worked_orders(partner_a, 50, kind="post", city="Шымкент")
    courier_sums = [Decimal(10000 + 137 * n) for n in range(60)]  # 60 of 100 bought out, known sums
    post_sums = [Decimal(7000 + 251 * n) for n in range(20)]  # 20 of 50 paid at the post
    for order, amount in zip(courier, courier_sums, strict=False):
        collect(order, amount)
    for order, amount in zip(post, post_sums, strict=False):
        collect(order, amount, channel="post")

    run = _week_run(finance)
    runs.run_approve(run=run, actor=finance)

    charged = Charge.objects.filter(run=run)
    expected_courier = 100 * Decimal(2500) + sum(_pct(a, 6) for a in courier_sums)
    expected_post = 50 * Decimal(2500) + sum(_pct(a, 9) for a in post_sums)
    assert sum(c.amount for c in charged) == expected_courier + expected_post
    assert charged.filter(kind="order_fee").count() == 150
    assert charged.filter(kind="cod_courier").count() == 60 and charged.filter(kind="cod_post").count() == 20
    assert ledger.partner_balance(partner_a, "KZT") == -(
        expected_courier + expected_post
    )  # nothing accrued here
    assert ledger.check_ledger() == []


def test_a_kyrgyz_week_is_440_per_order_and_3_percent(partner_kg, worked_orders, collect, finance, monday):
    ProductFactory(partner=partner_kg, sku="KG-1")
    orders = worked_orders(partner_kg, 10)
    for order in orders[:4]:
        collect(order, "1234.50")

    run = _week_run(finance)

    fees = Charge.objects.filter(run=run, kind__in=["order_fee", "packaging"])
    assert sum(c.amount for c in fees) == 10 * Decimal(440)
    commissions = Charge.objects.filter(run=run, kind="cod_courier")
    assert [c.amount for c in commissions] == [Decimal("37.04")] * 4  # 3 % of 1 234.50 = 37.035 → 37.04
    assert {c.currency for c in Charge.objects.filter(run=run)} == {"KGS"}


def test_kg_partner_week_is_a_bishkek_week(
    partner_a, product_a, partner_kg, worked_orders, collect, finance, monday
):
    """A KG partner's week runs Monday 00:00 to Monday 00:00 Asia/Bishkek, its charges due on Bishkek days; a KZ
    one's, Asia/Almaty. Bishkek is an hour ahead: Monday 00:30 there is still Sunday 23:30 in Almaty."""
    bishkek, almaty = ZoneInfo("Asia/Bishkek"), ZoneInfo("Asia/Almaty")
    ProductFactory(partner=partner_kg, sku="KG-1")
    # Monday 00:30 in Bishkek, Sunday 23:30 in Almaty: the week before's there
    first_hour = datetime(2026, 11, 16, 0, 30, tzinfo=bishkek)
    next_first_hour = datetime(2026, 11, 23, 0, 30, tzinfo=bishkek)  # Sunday 22nd, 23:30 in Almaty
    assert next_first_hour == datetime(2026, 11, 22, 23, 30, tzinfo=almaty)
    [opens_the_week] = worked_orders(partner_kg, 1, started=first_hour)
    [opens_the_next] = worked_orders(partner_kg, 1, started=next_first_hour)
    collect(opens_the_week, "1000.00", at=next_first_hour)
    [kz_same_instant] = worked_orders(partner_a, 1, started=next_first_hour)

    run = _week_run(finance)

    assert sorted(run.charges.values_list("order_id", "kind", "due_on")) == sorted(
        [
            (opens_the_week.pk, "order_fee", date(2026, 11, 16)),
            (opens_the_week.pk, "packaging", date(2026, 11, 16)),
            (kz_same_instant.pk, "order_fee", date(2026, 11, 22)),  # still the KZ week
        ]
    )
    monday.shift(timedelta(days=7))
    later = runs.run_for_week(week_start=WEEK + timedelta(days=7), actor=finance)
    runs.run_compute(run=later, actor=finance)
    assert sorted(later.charges.values_list("order_id", "kind", "due_on", "amount")) == sorted(
        [
            (opens_the_next.pk, "order_fee", date(2026, 11, 23), Decimal("400")),
            (opens_the_next.pk, "packaging", date(2026, 11, 23), Decimal("40")),
            (opens_the_week.pk, "cod_courier", date(2026, 11, 23), Decimal("30.00")),
        ]
    )


def test_the_last_closed_week_is_over_in_both_countries(monday):
    """Between Monday 00:00 Bishkek and Monday 00:00 Almaty only the KG week is over: the run waits for the KZ one."""
    sunday_late = datetime(2026, 11, 22, 23, 30, tzinfo=ZoneInfo("Asia/Almaty"))
    assert runs.last_closed_week(sunday_late) == WEEK - timedelta(days=7)
    assert runs.last_closed_week(sunday_late + timedelta(hours=1)) == WEEK
    monday.move_to(sunday_late)
    with pytest.raises(ApplicationError, match="not over"):
        runs.run_for_week(week_start=WEEK)


def test_an_order_cancelled_before_work_is_never_charged_nor_one_never_worked(
    partner_a, product_a, worked_orders, finance, monday, user_a, make_user
):
    """All three orders arrive in the charged week: only the one whose customer was called is charged."""
    from tests.factories import put_stock

    put_stock(product_a, "Алматы", 1)
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    [worked] = worked_orders(partner_a, 1)
    cancelled, never_called = worked_orders(partner_a, 2, started=None, created=IN_WEEK)
    workflow.perform(cancelled, action="cancel", actor=user_a, source=OrderSource.CABINET, now=IN_WEEK)
    workflow.perform(never_called, action="send", actor=head, source=OrderSource.STAFF, now=IN_WEEK)

    run = _week_run(finance)

    assert list(run.charges.values_list("order_id", "kind", "amount")) == [
        (worked.pk, "order_fee", Decimal("2500"))
    ]
    assert list(
        Order.objects.filter(pk__in=[cancelled.pk, never_called.pk])
        .order_by("pk")
        .values_list("status", "created_at", "work_started_at")
    ) == [("cancelled", IN_WEEK, None), ("calling", IN_WEEK, None)]


def test_refused_after_a_call_is_charged_the_fee_only(
    partner_a, product_a, worked_orders, finance, monday, make_user
):
    from callcenter import services as calls
    from callcenter.models import Outcome
    from tests.factories import put_stock

    put_stock(product_a, "Алматы", 1)
    [order] = worked_orders(partner_a, 1, started=None, created=IN_WEEK - timedelta(hours=2))
    logist = make_user(Role.LOGIST, scopes=[{"country": "KZ"}])
    head = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])
    workflow.perform(
        order, action="send", actor=head, source=OrderSource.STAFF, now=IN_WEEK - timedelta(hours=1)
    )
    calls.call_dial(actor=logist, order=order, now=IN_WEEK)
    calls.call_outcome(actor=logist, order=order, outcome=Outcome.REFUSED, reason="Передумал", now=IN_WEEK)

    _week_run(finance)

    assert list(Charge.objects.filter(order=order).values_list("kind", "amount")) == [
        ("order_fee", Decimal("2500"))
    ]


def test_a_run_computed_and_approved_twice_charges_once(
    partner_a, product_a, worked_orders, collect, finance, monday
):
    orders = worked_orders(partner_a, 5)
    collect(orders[0], 12000)
    run = _week_run(finance)
    runs.run_compute(run=run, actor=finance)
    runs.run_approve(run=run, actor=finance)
    runs.run_approve(run=run, actor=finance)

    assert Charge.objects.count() == 6
    assert Posting.objects.filter(kind="run").count() == 1
    with pytest.raises(ApplicationError, match="approved"):
        runs.run_compute(run=run, actor=finance)
    # the next week's run finds nothing new to charge for these orders
    monday.shift(timedelta(days=7))
    later = runs.run_for_week(week_start=WEEK + timedelta(days=7), actor=finance)
    assert runs.run_compute(run=later, actor=finance) == 0


def test_late_news_is_charged_in_the_next_run(partner_a, product_a, worked_orders, collect, finance, monday):
    [order] = worked_orders(partner_a, 1)
    runs.run_approve(run=_week_run(finance), actor=finance)
    collect(order, 15000)  # the post's remittance arrives after the run, dated in the week before

    monday.shift(timedelta(days=7))
    later = runs.run_for_week(week_start=WEEK + timedelta(days=7), actor=finance)
    runs.run_compute(run=later, actor=finance)

    assert list(later.charges.values_list("kind", "amount")) == [("cod_courier", Decimal("900.00"))]


def test_a_remittance_dated_weeks_back_is_charged_by_the_next_run(
    partner_a, product_a, worked_orders, collect, finance, monday
):
    [order] = worked_orders(partner_a, 1, kind="post", city="Шымкент")
    runs.run_approve(run=_week_run(finance), actor=finance)
    for week in (1, 2):  # two more weeks charged before the post's paper arrives
        monday.shift(timedelta(days=7))
        run = runs.run_for_week(week_start=WEEK + timedelta(days=7 * week), actor=finance)
        runs.run_compute(run=run, actor=finance)
        runs.run_approve(run=run, actor=finance)
    collect(order, 10000, channel="post")  # remitted in the week of the first run, entered only now

    monday.shift(timedelta(days=7))
    latest = runs.run_for_week(week_start=WEEK + timedelta(days=21), actor=finance)
    runs.run_compute(run=latest, actor=finance)

    assert list(latest.charges.values_list("kind", "amount")) == [("cod_post", Decimal("900.00"))]


@pytest.mark.django_db(transaction=True)
def test_two_workers_computing_and_approving_at_once_charge_once(worked_orders, collect, finance, monday):
    partners = [PartnerFactory() for _ in range(3)]
    for partner in partners:
        ProductFactory(partner=partner)
        for order in worked_orders(partner, 4)[:2]:
            collect(order, 10000)
    run = runs.run_for_week(week_start=WEEK, actor=finance)

    computed = run_in_parallel(lambda i: runs.run_compute(run=run, actor=finance), 4)
    approved = run_in_parallel(lambda i: runs.run_approve(run=run, actor=finance), 4)

    assert not [r for r in computed + approved if isinstance(r, Exception)], computed + approved
    assert Charge.objects.count() == 3 * (4 + 2)
    assert Posting.objects.filter(kind="run").count() == 3
    assert BillingRun.objects.get(pk=run.pk).status == "approved"
    assert ledger.check_ledger() == []


def test_an_interrupted_approval_resumes_without_posting_twice(
    partner_a, partner_b, product_a, worked_orders, finance, monday, monkeypatch
):
    ProductFactory(partner=partner_b)
    worked_orders(partner_a, 2)
    worked_orders(partner_b, 2)
    run = _week_run(finance)
    real = runs._post_partner
    calls = []

    def dies_after_the_first(*args, **kwargs):
        if calls:
            raise RuntimeError("the worker was killed")
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "_post_partner", dies_after_the_first)
    with pytest.raises(RuntimeError):
        runs.run_approve(run=run, actor=finance)
    assert (BillingRun.objects.get(pk=run.pk).status, Posting.objects.filter(kind="run").count()) == (
        "approving",
        1,
    )

    monkeypatch.setattr(runs, "_post_partner", real)
    runs.run_approve(run=run, actor=finance)

    assert BillingRun.objects.get(pk=run.pk).status == "approved"
    assert Posting.objects.filter(kind="run").count() == 2
    assert ledger.check_ledger() == []


def test_runs_are_numbered_without_gaps_and_only_for_closed_weeks(finance, monday):
    first = runs.run_for_week(week_start=WEEK - timedelta(days=14), actor=finance)
    second = runs.run_for_week(week_start=WEEK, actor=finance)
    again = runs.run_for_week(week_start=WEEK, actor=finance)

    assert (first.number, second.number, again.pk) == (1, 2, second.pk)
    with pytest.raises(ApplicationError, match="not over"):
        runs.run_for_week(week_start=date(2026, 11, 23), actor=finance)
    with pytest.raises(ApplicationError, match="Monday"):
        runs.run_for_week(week_start=date(2026, 11, 17), actor=finance)


def test_the_scheduled_task_drafts_last_week(partner_a, product_a, worked_orders, monday):
    from billing.tasks import weekly_charge_run

    worked_orders(partner_a, 3)

    assert weekly_charge_run() == 3
    assert weekly_charge_run() == 0  # a second beat, or a redelivered task
    assert BillingRun.objects.get().week_start == WEEK


def test_stale_draft_run_is_recomputed_by_the_sweep(partner_a, product_a, worked_orders, monday):
    from billing.tasks import compute_stale_drafts

    worked_orders(partner_a, 3)
    # Monday 09:00: the scheduled task made the draft, and its worker was killed as a whole before computing it
    run = runs.run_for_week(week_start=runs.last_closed_week())

    monday.shift(timedelta(minutes=5))
    fresh = compute_stale_drafts()  # the task may still be computing it
    monday.shift(timedelta(minutes=6))
    swept = compute_stale_drafts()
    again = compute_stale_drafts()

    run.refresh_from_db()
    assert (fresh, swept, again) == (0, 1, 0)
    assert (run.status, run.computed_at) == ("draft", MONDAY_AFTER + timedelta(minutes=11))
    assert Charge.objects.filter(run=run).count() == 3


def test_the_sweep_is_on_beat_every_ten_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["compute-stale-charge-run-drafts"]

    assert entry["task"] == "billing.compute_stale_drafts"
    assert sorted(entry["schedule"].minute) == [5, 15, 25, 35, 45, 55]
