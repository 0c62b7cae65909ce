"""The partner's money explained: «available to withdraw» is the balance less the charges of a weekly run computed
but not approved yet, and the balance and payout pages show that sum with its amounts and the run's week."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import accruals, payouts, runs
from tests.billing.conftest import WEEK

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(partner_a, product_a, worked_orders, collect, monday):
    """Partner A: 30 000 ₸ of buyout on its balance from two orders worked last week."""
    orders = worked_orders(partner_a, 2)
    accruals.accrue([collect(orders[0], 20000), collect(orders[1], 10000)])
    return orders


@pytest.fixture
def drafted(funded, finance):
    """Last week's run computed, not approved: 2 × 2 500 + 6 % of 30 000 = 6 800 ₸ owed."""
    run = runs.run_for_week(week_start=WEEK, actor=finance)
    runs.run_compute(run=run, actor=finance)
    return run


def _plain(html: str) -> str:
    return re.sub(r"\s+", " ", html.replace("\u202f", " ").replace("\xa0", " "))


def test_available_is_the_balance_less_the_draft_run_s_charges(drafted, partner_a):
    availability = payouts.availability(partner_a, "KZT")

    [draft] = availability.drafts
    assert (draft.number, draft.week_start.isoformat(), draft.last_day.isoformat()) == (
        drafted.number,
        "2026-11-16",
        "2026-11-22",
    )
    assert (availability.balance, draft.total, availability.available) == (
        Decimal("30000.00"),
        Decimal("6800.00"),
        Decimal("23200.00"),
    )
    assert payouts.available(partner_a, "KZT") == availability.available


def test_an_approved_run_is_on_the_balance_and_nothing_is_held_back(drafted, partner_a, finance):
    runs.run_approve(run=drafted, actor=finance)

    availability = payouts.availability(partner_a, "KZT")

    assert availability.drafts == ()
    assert availability.balance == availability.available == Decimal("23200.00")


def test_the_balance_page_explains_available_with_the_amounts(drafted, client_a):
    html = _plain(client_a.get(reverse("billing:balance")).content.decode())

    assert 'data-testid="availability-balance">30 000.00 ₸<' in html
    assert 'data-testid="availability-draft">−6 800.00 ₸<' in html
    assert 'data-testid="available">23 200.00 ₸<' in html
    assert f"№{drafted.number} (" in html and "16.11.2026–22.11.2026" in html


def test_the_payout_page_explains_available_with_the_amounts(drafted, client_a):
    html = _plain(client_a.get(reverse("billing:payouts")).content.decode())

    assert 'data-testid="availability-balance">30 000.00 ₸<' in html
    assert 'data-testid="availability-draft">−6 800.00 ₸<' in html
    assert 'data-testid="available">23 200.00 ₸<' in html


def test_without_a_draft_run_the_page_says_the_whole_balance_is_available(funded, client_a):
    html = _plain(client_a.get(reverse("billing:payouts")).content.decode())

    assert 'data-testid="available">30 000.00 ₸<' in html
    assert 'data-testid="availability-draft"' not in html


def test_staff_see_a_partner_s_available_sum_and_partner_b_does_not(
    drafted, partner_a, finance, login, client_b
):
    url = reverse("billing:partner", args=[partner_a.pk])

    staff = _plain(login(finance).get(url).content.decode())

    assert 'data-testid="available">23 200.00 ₸<' in staff
    assert client_b.get(url).status_code == 404
    assert "23 200" not in _plain(client_b.get(reverse("billing:balance")).content.decode())
