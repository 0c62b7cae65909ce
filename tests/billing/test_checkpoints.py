"""Balance checkpoints: each approved run writes the balance of every partner account up to its last entry; a balance
is the latest checkpoint plus the entries after it and always equals the sum of all the entries; the database sums
each checkpoint itself and refuses to change one; `check_ledger` proves each; the data migration writes for an older
ledger the checkpoints its approvals would have written."""

import importlib
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import Error as DatabaseError
from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from billing import accruals, ledger, runs, selectors
from billing.models import Account, BalanceCheckpoint, BillingRun, Charge, Entry, Posting
from tests.billing import months
from tests.billing.conftest import ALMATY, IN_WEEK, WEEK
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _adjust(partner, amount, *, at=None):
    """A manual adjustment crediting the partner (`amount` > 0: we owe it more)."""
    return ledger.post(
        kind=Posting.Kind.ADJUSTMENT,
        partner=partner,
        currency=partner.currency,
        description="adjustment",
        at=at,
        lines=[
            ledger.Line(ledger.account(Account.Kind.ADJUSTMENTS, partner.currency), Decimal(amount)),
            ledger.Line(ledger.partner_account(partner, partner.currency), -Decimal(amount)),
        ],
    )


def _sum_of_entries(partner, until=None) -> Decimal:
    """The partner's balance the long way: minus the sum of every entry on its account (before `until`)."""
    entries = Entry.objects.filter(account=ledger.partner_account(partner, partner.currency))
    if until is not None:
        entries = entries.filter(at__lt=until)
    return -(entries.aggregate(total=Sum("amount"))["total"] or Decimal("0.00"))


def _week_approved(finance, week=WEEK):
    run = runs.run_for_week(week_start=week, actor=finance)
    runs.run_compute(run=run, actor=finance)
    return runs.run_approve(run=run, actor=finance)


def test_an_approved_run_writes_the_partner_s_checkpoint_with_its_exact_balance(
    partner_a, product_a, worked_orders, collect, finance, monday
):
    orders = worked_orders(partner_a, 3)
    accruals.accrue([collect(orders[0], "12000.00"), collect(orders[1], "7500.50")])

    run = _week_approved(finance)

    account = ledger.partner_account(partner_a, "KZT")
    [checkpoint] = BalanceCheckpoint.objects.filter(account=account)
    # cash 19 500.50 in; 3 × 2 500 fees and 6 % of the cash (720.00 + 450.03) out
    assert -checkpoint.balance == Decimal("19500.50") - 3 * Decimal("2500") - Decimal("1170.03")
    assert -checkpoint.balance == Decimal("10830.47")
    assert (checkpoint.run_id, checkpoint.after_entry, checkpoint.currency) == (run.pk, 0, "KZT")
    assert checkpoint.upto_entry == Entry.objects.filter(account=account).aggregate(last=Max("id"))["last"]
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("10830.47") == _sum_of_entries(partner_a)


def test_a_balance_is_the_latest_checkpoint_plus_the_entries_after_it_and_equals_the_full_sum(
    partner_a, product_a, worked_orders, collect, finance, monday
):
    [order] = worked_orders(partner_a, 1)
    accruals.accrue([collect(order, "10000.00")])
    _week_approved(finance)
    checkpoint = BalanceCheckpoint.objects.get(account=ledger.partner_account(partner_a, "KZT"))

    _adjust(partner_a, "333.33")
    _adjust(partner_a, "-33.33")

    assert ledger.partner_balance(partner_a, "KZT") == -checkpoint.balance + Decimal("300.00")
    assert ledger.partner_balance(partner_a, "KZT") == _sum_of_entries(partner_a) == Decimal("7200.00")
    assert ledger.balances([partner_a.pk]) == {(partner_a.pk, "KZT"): Decimal("7200.00")}
    assert selectors.balance_summary(partner_a)[0]["balance"] == Decimal("7200.00")


def test_a_correction_after_the_checkpoint_is_counted(partner_a, product_a, worked_orders, finance, monday):
    worked_orders(partner_a, 2)
    run = _week_approved(finance)
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("-5000.00")

    ledger.reverse(posting=Posting.objects.get(run=run, partner=partner_a), reason="Ошибочное списание")

    assert BalanceCheckpoint.objects.filter(account__partner=partner_a).count() == 1
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("0.00") == _sum_of_entries(partner_a)


def test_a_balance_at_a_past_moment_starts_from_the_checkpoint_before_it_and_counts_a_late_entry(
    partner_a, product_a, worked_orders, collect, finance, december
):
    def approved_on_monday(week):  # as the finance director does, the Monday after the week
        run = runs.run_for_week(week_start=week, actor=finance)
        runs.run_compute(run=run, actor=finance)
        return runs.run_approve(run=run, actor=finance, now=runs.week_bounds(week)[1] + timedelta(hours=11))

    orders = worked_orders(partner_a, 6, started=months.at(18))
    accruals.accrue([collect(orders[0], "10000.00", at=months.at(19))], at=months.at(20))
    approved_on_monday(months.WEEKS[0])
    accruals.accrue([collect(orders[1], "20000.00", at=months.at(25))], at=months.at(26))
    approved_on_monday(months.WEEKS[1])
    # a remittance entered only now, dated back into the first week: after both checkpoints by id, before them by time
    accruals.accrue([collect(orders[2], "5000.00", at=months.at(19))], at=months.at(21))
    approved_on_monday(months.WEEKS[2])
    _adjust(partner_a, "100.00")
    assert BalanceCheckpoint.objects.filter(account__partner=partner_a).count() == 3

    for moment in [
        months.at(16, hour=0),
        months.at(20, hour=11),
        months.at(21, hour=13),
        months.at(23, hour=10),
        months.at(24),
        months.at(30),
        months.at(1, month=12),
        months.at(7, month=12, hour=11),
        months.at(14, month=12),
        timezone.now() + timedelta(days=1),
    ]:
        balance = ledger.partner_balance(partner_a, "KZT", until=moment)
        assert balance == _sum_of_entries(partner_a, moment), moment
    _entries, opening, closing = selectors.statement(
        partner_a, since=months.at(21).date(), until=months.at(29).date()
    )
    assert opening == _sum_of_entries(partner_a, datetime(2026, 11, 21, tzinfo=ALMATY))
    assert closing == _sum_of_entries(partner_a, datetime(2026, 11, 30, tzinfo=ALMATY))
    assert selectors.weekly_chart(partner_a)[-1]["balance"] == _sum_of_entries(partner_a)


def test_a_partner_the_run_did_not_charge_gets_its_checkpoint_too(
    partner_a, partner_b, product_a, worked_orders, finance, monday
):
    worked_orders(partner_a, 1)
    _adjust(partner_b, "50.00")  # an entry on B's balance, no charge of B this week

    run = _week_approved(finance)

    checkpoint = BalanceCheckpoint.objects.get(account=ledger.partner_account(partner_b, "KZT"))
    assert (checkpoint.run_id, -checkpoint.balance) == (run.pk, Decimal("50.00"))
    again = runs.run_approve(run=run, actor=finance)  # nothing more to write
    assert again.status == BillingRun.Status.APPROVED
    assert BalanceCheckpoint.objects.count() == 2


def test_the_database_refuses_to_change_or_delete_a_checkpoint(
    partner_a, product_a, worked_orders, finance, monday
):
    worked_orders(partner_a, 1)
    _week_approved(finance)
    checkpoint = BalanceCheckpoint.objects.get()

    for statement in (
        lambda: BalanceCheckpoint.objects.filter(pk=checkpoint.pk).update(balance=0),
        lambda: BalanceCheckpoint.objects.filter(pk=checkpoint.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            statement()
    assert BalanceCheckpoint.objects.get().balance == Decimal("2500.00")


def test_the_database_sums_a_checkpoint_itself_and_refuses_one_not_ending_on_the_account_s_next_entries(
    partner_a, product_a, worked_orders, finance, monday
):
    worked_orders(partner_a, 1)
    _week_approved(finance)
    first = BalanceCheckpoint.objects.get()
    later = _adjust(partner_a, "40.00").entries.get(account=first.account)
    other_account = Entry.objects.exclude(account=first.account).latest("id")
    asked = {
        "account": first.account,
        "after_entry": 0,
        "balance": Decimal("999999.99"),
        "currency": "KGS",
        "first_at": later.at - timedelta(days=30),
        "last_at": later.at - timedelta(days=30),
    }

    for upto, why in [
        (first.upto_entry, "covered by the latest checkpoint already"),
        (later.pk + 1000, "no such entry"),
        (other_account.pk, "another account's entry"),
    ]:
        with pytest.raises(DatabaseError, match="not on an entry of the account"), transaction.atomic():
            BalanceCheckpoint.objects.create(**asked, upto_entry=upto)
        assert BalanceCheckpoint.objects.count() == 1, why

    written = BalanceCheckpoint.objects.create(**asked, upto_entry=later.pk)
    written.refresh_from_db()
    assert (written.after_entry, written.balance, written.currency) == (
        first.upto_entry,
        first.balance - Decimal("40.00"),
        "KZT",
    )
    assert (written.first_at, written.last_at) == (later.at, later.at)
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("-2460.00") == _sum_of_entries(partner_a)


@pytest.mark.ledger_tampered
def test_a_balance_reads_the_checkpoint_and_check_ledger_catches_one_changed_behind_the_database_s_back(
    partner_a, product_a, worked_orders, finance, monday
):
    worked_orders(partner_a, 2)
    _week_approved(finance)
    checkpoint = BalanceCheckpoint.objects.get()
    assert ledger.check_ledger() == []

    with connection.cursor() as cursor:  # a superuser working around the trigger
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's foreign keys are deferred checks
        cursor.execute("ALTER TABLE billing_balancecheckpoint DISABLE TRIGGER billing_checkpoint_immutable")
        cursor.execute("UPDATE billing_balancecheckpoint SET balance = 0 WHERE id = %s", [checkpoint.pk])
        cursor.execute("ALTER TABLE billing_balancecheckpoint ENABLE TRIGGER billing_checkpoint_immutable")

    # read from the checkpoint, not summed from the entries
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("0.00")
    assert _sum_of_entries(partner_a) == Decimal("-5000.00")
    assert ledger.check_ledger() == [
        f"balance checkpoint {checkpoint.pk} of account {checkpoint.account_id}: 0.00 up to entry "
        f"{checkpoint.upto_entry}, but its entries sum to 5000.00"
    ]


@pytest.mark.django_db(transaction=True)
def test_approvals_of_one_run_at_once_write_one_checkpoint_per_account(
    worked_orders, collect, finance, monday
):
    partners = [PartnerFactory() for _ in range(3)]
    for partner in partners:
        ProductFactory(partner=partner)
        for order in worked_orders(partner, 3)[:2]:
            accruals.accrue([collect(order, 10000)])
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)

    approved = run_in_parallel(lambda i: runs.run_approve(run=run, actor=finance), 4)

    assert not [r for r in approved if isinstance(r, Exception)], approved
    assert BalanceCheckpoint.objects.filter(run=run).count() == 3
    for partner in partners:
        assert ledger.partner_balance(partner, "KZT") == _sum_of_entries(partner) == Decimal("11300.00")
    assert ledger.check_ledger() == []


@pytest.mark.django_db(transaction=True)
def test_two_weeks_computed_at_once_charge_each_order_once(worked_orders, finance, monday):
    partner = PartnerFactory()
    ProductFactory(partner=partner)
    # the first week's last day is in both runs' windows (the second looks back a day)
    worked_orders(partner, 3, started=datetime(2026, 11, 15, 20, 0, tzinfo=ALMATY))
    worked_orders(partner, 2, started=IN_WEEK)
    monday.shift(timedelta(days=7))
    first = runs.run_for_week(week_start=WEEK - timedelta(days=7), actor=finance)
    second = runs.run_for_week(week_start=WEEK, actor=finance)

    added = run_in_parallel(lambda i: runs.run_compute(run=[first, second][i], actor=finance), 2)

    assert not [r for r in added if isinstance(r, Exception)], added
    assert sum(added) == 5
    assert Charge.objects.count() == 5
    assert Charge.objects.values("order_id", "kind").distinct().count() == 5


def test_the_migration_writes_the_checkpoints_the_approvals_would_have(
    partner_a, partner_b, product_a, worked_orders, collect, finance, december
):
    ProductFactory(partner=partner_b)
    for week, day in zip(months.WEEKS[:3], (18, 25, 2), strict=True):
        month = 12 if day < 10 else 11
        for partner in (partner_a, partner_b):
            [order] = worked_orders(partner, 1, started=months.at(day, month))
            collection = collect(order, "1000.00", at=months.at(day, month))
            accruals.accrue([collection], at=months.at(day + 1, month))
        months.run_week(week, finance)
    written = list(BalanceCheckpoint.objects.order_by("account_id", "upto_entry").values())
    assert len(written) == 6

    backfill = importlib.import_module("billing.migrations.0012_checkpoints_of_approved_runs").BACKFILL
    # a ledger from before the checkpoints (TRUNCATE is not a row's change)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's foreign keys are deferred checks
        cursor.execute("TRUNCATE billing_balancecheckpoint")
        cursor.execute(backfill)

    made = list(BalanceCheckpoint.objects.order_by("account_id", "upto_entry").values())
    keys = ("account_id", "run_id", "after_entry", "upto_entry", "balance", "currency", "first_at", "last_at")
    assert [{k: row[k] for k in keys} for row in made] == [{k: row[k] for k in keys} for row in written]
    assert ledger.check_ledger() == []
