"""Payouts: never above the balance, even ten at once; each step posted and told to the partner; the registry
of what a payout settles."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from billing import accruals, ledger, payouts, runs
from billing.models import Payout, Posting
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import Notice
from tests.billing.conftest import WEEK
from tests.concurrency import run_in_parallel

pytestmark = pytest.mark.django_db
IBAN = "KZ86125KZT5004100100, Halyk Bank"


@pytest.fixture
def funded(partner_a, product_a, worked_orders, collect, monday):
    """Partner A has 30 000 ₸ of buyout on its balance."""
    orders = worked_orders(partner_a, 2)
    accruals.accrue([collect(orders[0], 20000), collect(orders[1], 10000)])
    return orders


def test_a_payout_takes_the_money_off_the_balance_at_once(funded, user_a):
    payout = payouts.payout_request(
        actor=user_a, amount="12 000", currency="KZT", method="bank", details=IBAN
    )

    assert payout.status == "requested"
    assert ledger.partner_balance(user_a.partner, "KZT") == Decimal("18000.00")
    with pytest.raises(ValidationError, match="18"):
        payouts.payout_request(actor=user_a, amount="18000.01", currency="KZT", method="bank", details=IBAN)


def test_approved_and_paid_the_partner_sees_each_step(funded, user_a, finance):
    payout = payouts.payout_request(
        actor=user_a, amount="30000", currency="KZT", method="webmoney", details="R123456789012"
    )

    payouts.payout_approve(actor=finance, payout=payout)
    with pytest.raises(ValidationError, match="reference"):
        payouts.payout_mark_paid(actor=finance, payout=payout, reference=" ")
    payouts.payout_mark_paid(actor=finance, payout=payout, reference="WM-55120")
    payouts.payout_mark_paid(actor=finance, payout=payout, reference="WM-55120")  # a double click

    payout.refresh_from_db()
    assert (payout.status, payout.reference) == ("paid", "WM-55120")
    assert Posting.objects.filter(payout=payout).count() == 2  # requested, paid
    assert Notice.objects.filter(partner=user_a.partner, key__startswith=f"payout-{payout.pk}").count() == 2
    assert ledger.partner_balance(user_a.partner, "KZT") == 0
    assert ledger.check_ledger() == []


def test_a_rejected_or_cancelled_payout_returns_the_money(funded, user_a, finance):
    first = payouts.payout_request(
        actor=user_a, amount="10000", currency="KZT", method="card", details="4400 4301 2345 6789"
    )
    second = payouts.payout_request(
        actor=user_a,
        amount="5000",
        currency="KZT",
        method="cash",
        details="Айгерим Сапарова, удостоверение 012345678",
    )

    with pytest.raises(ValidationError, match="why"):
        payouts.payout_reject(actor=finance, payout=first, reason="")
    payouts.payout_reject(actor=finance, payout=first, reason="Карта не принадлежит ИП")
    payouts.payout_cancel(actor=user_a, payout=second)

    assert ledger.partner_balance(user_a.partner, "KZT") == Decimal("30000.00")
    with pytest.raises(ApplicationError):
        payouts.payout_approve(actor=finance, payout=first)


@pytest.mark.parametrize(
    ("method", "details", "message"),
    [
        ("bank", "мой счёт", "IBAN"),
        ("card", "4400 4301 2345 6788", "card number"),
        ("webmoney", "Z123456789012", "WMR"),
        ("cash", "я", "who will collect"),
    ],
)
def test_where_the_money_goes_is_checked(funded, user_a, method, details, message):
    with pytest.raises(ValidationError, match=message):
        payouts.payout_request(actor=user_a, amount="100", currency="KZT", method=method, details=details)


def test_a_partner_cannot_approve_its_own_payout(funded, user_a):
    payout = payouts.payout_request(actor=user_a, amount="100", currency="KZT", method="bank", details=IBAN)

    with pytest.raises(PermissionDenied):
        payouts.payout_approve(actor=user_a, payout=payout)
    assert Payout.objects.get(pk=payout.pk).status == "requested"


def test_the_registry_lists_what_the_payout_settles(funded, user_a, worked_orders, collect, partner_a):
    first = payouts.payout_request(actor=user_a, amount="1000", currency="KZT", method="bank", details=IBAN)
    [later] = worked_orders(partner_a, 1)
    accruals.accrue([collect(later, 5000)])
    second = payouts.payout_request(actor=user_a, amount="1000", currency="KZT", method="bank", details=IBAN)

    assert sorted(e.order_id for e in payouts.registry_entries(first)) == sorted(o.pk for o in funded)
    assert [e.order_id for e in payouts.registry_entries(second)] == [later.pk]


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_requests_never_overdraw(partner_a, product_a, worked_orders, collect, monday, user_a):
    [order] = worked_orders(partner_a, 1)
    accruals.accrue([collect(order, 30000)])

    results = run_in_parallel(
        lambda i: payouts.payout_request(
            actor=user_a, amount="7000", currency="KZT", method="bank", details=IBAN
        ),
        10,
    )

    made = [r for r in results if isinstance(r, Payout)]
    assert len(made) == 4  # 4 × 7 000 ≤ 30 000 < 5 × 7 000
    assert all(isinstance(r, ValidationError) for r in results if not isinstance(r, Payout))
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("2000.00")
    assert ledger.check_ledger() == []


def test_a_payout_never_takes_what_the_week_s_draft_already_charges(funded, user_a, finance):
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)  # 2 × 2 500 + 6 % of 30 000 = 6 800 owed

    assert payouts.available(user_a.partner, "KZT") == Decimal("23200.00")
    with pytest.raises(ValidationError, match="23"):
        payouts.payout_request(actor=user_a, amount="30000", currency="KZT", method="bank", details=IBAN)
    payouts.payout_request(actor=user_a, amount="23200", currency="KZT", method="bank", details=IBAN)
    runs.run_approve(run=run, actor=finance)

    assert ledger.partner_balance(user_a.partner, "KZT") == 0


def test_after_a_cancelled_payout_the_next_registry_still_lists_everything(
    funded, user_a, worked_orders, collect, partner_a
):
    cancelled = payouts.payout_request(
        actor=user_a, amount="5000", currency="KZT", method="bank", details=IBAN
    )
    payouts.payout_cancel(actor=user_a, payout=cancelled)
    [later] = worked_orders(partner_a, 1)
    accruals.accrue([collect(later, 7000)])

    payout = payouts.payout_request(actor=user_a, amount="37000", currency="KZT", method="bank", details=IBAN)

    cod = [e.amount for e in payouts.registry_entries(payout) if e.kind == "cod"]
    assert sorted(cod) == [Decimal("-20000.00"), Decimal("-10000.00"), Decimal("-7000.00")]
