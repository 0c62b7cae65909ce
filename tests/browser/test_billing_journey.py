"""Journey: the finance director reviews and approves the weekly run; the partner sees the charges on its
balance and requests a payout; the director approves it and marks it paid; the partner sees it paid."""

from decimal import Decimal

import pytest
import time_machine

from billing import accruals, tasks
from billing.models import BillingRun, Payout
from billing.tariffs import load_default_tariffs
from ketlogistic.core.roles import Role
from tests.billing.conftest import MONDAY_AFTER, make_collection, make_worked_orders
from tests.factories import PartnerFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_director_approves_the_run_partner_requests_a_payout_director_pays_it(
    page, browser_login, screenshot, reference_data
):
    load_default_tariffs()
    with time_machine.travel(MONDAY_AFTER, tick=True):
        partner = PartnerFactory(name="Нур Маркет")
        ProductFactory(partner=partner, sku="NM-1", name="Чайник", price=12000)
        UserFactory(username="nur_owner", role=Role.PARTNER_ADMIN, partner=partner)
        UserFactory(username="finance_dir", role=Role.FINANCE_DIRECTOR)
        orders = make_worked_orders(partner, 3, price="12000")
        accruals.accrue(
            [make_collection(orders[0], "12000"), make_collection(orders[1], "12000")]
        )  # two bought out
        tasks.weekly_charge_run()  # what beat does on Monday morning
        run = BillingRun.objects.get()

        browser_login(page, "finance_dir")
        page.goto("/billing/desk/")
        page.get_by_role("link", name=f"№{run.number} · 16.11.2026").click()
        summary = page.get_by_test_id("run-summary").inner_text()
        assert "Нур Маркет" in summary and "8\u202f940.00" in summary  # 3 × 2 500 + 6 % of 24 000
        screenshot(page, "billing-1-draft")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("approve-run").click()
        assert page.get_by_test_id("run-status").inner_text() == "Утверждено"
        page.get_by_role("button", name="Выйти").click()

        browser_login(page, "nur_owner")
        page.goto("/billing/")
        assert page.get_by_test_id("balance").inner_text().startswith("15\u202f060.00")  # 24 000 − 8 940
        statement = page.get_by_test_id("statement").inner_text()
        assert "Сбор за заказ" in statement and "Комиссия с наложенного платежа, курьер" in statement
        screenshot(page, "billing-2-partner-balance")
        page.get_by_role("link", name="Запросить выплату").click()
        page.fill("#id_amount", "15000")
        page.select_option("#id_method", "webmoney")
        page.fill("#id_details", "R123456789012")
        page.get_by_role("button", name="Запросить", exact=True).click()
        assert page.get_by_test_id("payout-status").inner_text() == "Запрошена"
        screenshot(page, "billing-3-payout-requested")
        page.get_by_role("button", name="Выйти").click()

        payout = Payout.objects.get()
        browser_login(page, "finance_dir")
        page.goto("/billing/desk/")
        page.get_by_test_id("to-process").get_by_role("link", name=f"№{payout.pk}").click()
        page.get_by_test_id("approve").click()
        page.fill("#reference", "WM-7731")
        page.get_by_test_id("mark-paid").click()
        assert page.get_by_test_id("payout-status").inner_text() == "Выплачена"
        page.get_by_role("button", name="Выйти").click()

        browser_login(page, "nur_owner")
        page.goto(f"/billing/payouts/{payout.pk}/")
        steps = page.get_by_test_id("payout-steps").inner_text()
        screenshot(page, "billing-4-partner-payout-paid")

    assert "WM-7731" in steps
    payout.refresh_from_db()
    assert (payout.status, payout.amount) == ("paid", Decimal("15000.00"))
