"""The ledger keeps its own rules: balanced, immutable, sealed; `check_ledger` proves it and catches tampering;
collected cash accrues to partners when it reaches the company, once."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import Error as DatabaseError
from django.db import connection, transaction

from billing import accruals, ledger
from billing.models import Account, Entry, Posting
from tests.billing.conftest import WEEK  # noqa: F401 - the week the fixtures speak of

pytestmark = pytest.mark.django_db


def _post(partner, amount="100.00"):
    return ledger.post(
        kind=Posting.Kind.ADJUSTMENT,
        partner=partner,
        currency="KZT",
        description="test",
        lines=[
            ledger.Line(ledger.account(Account.Kind.ADJUSTMENTS, "KZT"), Decimal(amount)),
            ledger.Line(ledger.partner_account(partner, "KZT"), -Decimal(amount)),
        ],
    )


def test_a_partner_s_balance_is_the_sum_of_its_entries(partner_a, reference_data):
    _post(partner_a, "100.00")
    _post(partner_a, "250.50")

    assert ledger.partner_balance(partner_a, "KZT") == Decimal("350.50")
    assert ledger.check_ledger() == []


def test_an_unbalanced_posting_is_refused_before_it_is_written(partner_a, reference_data):
    with pytest.raises(ledger.LedgerError, match="does not balance"):
        ledger.post(
            kind=Posting.Kind.ADJUSTMENT,
            partner=partner_a,
            currency="KZT",
            description="x",
            lines=[
                ledger.Line(ledger.account(Account.Kind.ADJUSTMENTS, "KZT"), Decimal("100")),
                ledger.Line(ledger.partner_account(partner_a, "KZT"), Decimal("-99.99")),
            ],
        )
    with pytest.raises(ledger.LedgerError, match="KGS"):
        ledger.post(
            kind=Posting.Kind.ADJUSTMENT,
            partner=partner_a,
            currency="KZT",
            description="x",
            lines=[
                ledger.Line(ledger.account(Account.Kind.ADJUSTMENTS, "KGS"), Decimal("100")),
                ledger.Line(ledger.partner_account(partner_a, "KZT"), Decimal("-100")),
            ],
        )
    assert not Posting.objects.exists()


def test_the_database_refuses_an_unbalanced_or_unsealed_posting(partner_a, reference_data):
    account = ledger.partner_account(partner_a, "KZT")
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        posting = Posting.objects.create(
            kind="adjustment",
            partner=partner_a,
            currency="KZT",
            description="x",
            posted_at="2026-11-20T10:00:00+05:00",
        )
        Entry.objects.create(
            posting=posting,
            account=account,
            amount=Decimal("5"),
            currency="KZT",
            partner=partner_a,
            at=posting.posted_at,
        )
        Entry.objects.create(
            posting=posting,
            account=account,
            amount=Decimal("-4"),
            currency="KZT",
            partner=partner_a,
            at=posting.posted_at,
        )
        ledger.seal(posting.pk)
    with pytest.raises(DatabaseError, match="not sealed"), transaction.atomic():
        Posting.objects.create(
            kind="adjustment",
            partner=partner_a,
            currency="KZT",
            description="x",
            posted_at="2026-11-20T10:00:00+05:00",
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS billing_posting_balanced IMMEDIATE")


def test_entries_and_postings_are_never_changed_or_deleted(partner_a, reference_data):
    posting = _post(partner_a)
    entry = posting.entries.first()

    for statement in (
        lambda: Entry.objects.filter(pk=entry.pk).update(amount=1),
        lambda: Entry.objects.filter(pk=entry.pk).delete(),
        lambda: Posting.objects.filter(pk=posting.pk).update(description="changed"),
        lambda: Posting.objects.filter(pk=posting.pk).update(digest="0" * 64),
        lambda: Entry.objects.create(
            posting=posting, account=entry.account, amount=1, currency="KZT", partner=partner_a, at=entry.at
        ),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            statement()
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("100.00")


def test_a_correction_is_a_reversing_posting(partner_a, reference_data, make_user):
    from ketlogistic.core.roles import Role

    posting = _post(partner_a, "300")

    reversal = ledger.reverse(
        posting=posting, reason="Ошибочное начисление", actor=make_user(Role.FINANCE_DIRECTOR)
    )

    assert reversal.reverses == posting
    assert ledger.partner_balance(partner_a, "KZT") == 0
    with pytest.raises(ledger.LedgerError, match="already"):
        ledger.reverse(posting=posting, reason="ещё раз")


@pytest.mark.ledger_tampered
def test_check_ledger_catches_an_entry_changed_behind_the_database_s_back(partner_a, reference_data):
    posting = _post(partner_a, "100")
    entries = list(posting.entries.order_by("id"))
    out, err = io.StringIO(), io.StringIO()
    call_command("check_ledger", stdout=out)
    assert "consistent" in out.getvalue()

    with connection.cursor() as cursor:  # a superuser working around the trigger, changing both sides
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's foreign keys are deferred checks
        cursor.execute("ALTER TABLE billing_entry DISABLE TRIGGER billing_entry_immutable")
        cursor.execute(
            "UPDATE billing_entry SET amount = amount * 2 WHERE id IN (%s, %s)",
            [entries[0].pk, entries[1].pk],
        )
        cursor.execute("ALTER TABLE billing_entry ENABLE TRIGGER billing_entry_immutable")

    assert any("entries changed" in problem for problem in ledger.check_ledger())
    with pytest.raises(SystemExit) as exit_code:
        call_command("check_ledger", stdout=out, stderr=err)
    assert exit_code.value.code == 1 and f"posting {posting.pk}" in err.getvalue()


@pytest.mark.ledger_tampered
def test_check_ledger_catches_an_unbalanced_tamper(partner_a, reference_data):
    posting = _post(partner_a, "100")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's foreign keys are deferred checks
        cursor.execute("ALTER TABLE billing_entry DISABLE TRIGGER billing_entry_immutable")
        cursor.execute("UPDATE billing_entry SET amount = 1 WHERE id = %s", [posting.entries.first().pk])
        cursor.execute("ALTER TABLE billing_entry ENABLE TRIGGER billing_entry_immutable")

    problems = ledger.check_ledger()

    assert any("sum to" in problem for problem in problems)


@pytest.mark.ledger_tampered
def test_check_ledger_catches_an_entry_pointing_at_another_partner_s_order(
    partner_a, partner_b, product_a, worked_orders, collect, monday
):
    from tests.factories import ProductFactory

    ProductFactory(partner=partner_b)
    [order] = worked_orders(partner_a, 1)
    [foreign] = worked_orders(partner_b, 1)
    accruals.accrue([collect(order, "15000")])
    assert ledger.check_ledger() == []

    with (
        connection.cursor() as cursor
    ):  # the order id is a copy without a foreign key: only the check sees it
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE billing_entry DISABLE TRIGGER billing_entry_immutable")
        cursor.execute("UPDATE billing_entry SET order_id = %s WHERE order_id = %s", [foreign.pk, order.pk])
        cursor.execute("ALTER TABLE billing_entry ENABLE TRIGGER billing_entry_immutable")

    assert any("does not match its order" in problem for problem in ledger.check_ledger())


def test_collected_cash_accrues_once(partner_a, product_a, worked_orders, collect, monday):
    [order] = worked_orders(partner_a, 1)
    collection = collect(order, "15000")

    assert accruals.accrue([collection]) == 1
    assert accruals.accrue([collection]) == 0

    assert ledger.partner_balance(partner_a, "KZT") == Decimal("15000.00")
    entry = Entry.objects.get(account__kind="partner")
    assert (entry.order_id, entry.city_id, entry.kind) == (order.pk, order.city_id, "cod")
