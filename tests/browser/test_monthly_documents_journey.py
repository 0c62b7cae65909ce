"""Journey: a partner downloads the month's act. November's weekly runs are approved, beat's hourly task issues the
month's documents; the partner's administrator opens *Документы* in the cabinet, opens the act (an A4 page that prints,
or saves as PDF, without the menu), downloads it in Excel and finds there the act's total, which is the sum of the
month's weekly charges; on a phone the act reads in the width of the screen."""

import io
from decimal import Decimal

import openpyxl
import pytest
import time_machine

from billing import tasks
from billing.models import Charge, MonthlyDocument
from billing.tariffs import load_default_tariffs
from ketlogistic.core.roles import Role
from tests.billing import months
from tests.billing.conftest import make_collection, make_worked_orders
from tests.factories import PartnerFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_partner_downloads_the_months_act(page, phone_page, browser_login, screenshot, reference_data):
    load_default_tariffs()
    with time_machine.travel(months.TUESDAY_15_DECEMBER, tick=True):
        partner = PartnerFactory(name="Нур Маркет", legal_name="«Нур Маркет»", legal_form="ТОО")
        ProductFactory(partner=partner, sku="NM-1", name="Чайник", price=12000)
        UserFactory(username="nur_owner", role=Role.PARTNER_ADMIN, partner=partner)
        finance = UserFactory(username="finance_dir", role=Role.FINANCE_DIRECTOR)
        make_worked_orders(partner, 3, started=months.at(18))
        [paid] = make_worked_orders(partner, 1, started=months.at(30, hour=10))
        make_worked_orders(partner, 2, started=months.at(2, 12))  # the spanning week's December days
        make_collection(paid, "12000.00", at=months.at(30, hour=15))
        for week in months.WEEKS[:3]:
            months.run_week(week, finance)
        tasks.issue_monthly_documents()  # what beat does every hour
        act = MonthlyDocument.objects.get(partner=partner, kind="act")
        november = sum(
            charge.amount
            for charge in Charge.objects.filter(partner=partner).select_related("run")
            if max(charge.due_on, charge.run.week_start) < months.DECEMBER
        )
        assert act.total == november == 4 * Decimal("2500") + Decimal("720.00")

        browser_login(page, "nur_owner")
        page.get_by_test_id("nav").get_by_role("link", name="Документы").click()
        documents = page.get_by_test_id("documents")
        assert "Ноябрь 2026" in documents.inner_text()
        screenshot(page, "monthly-1-documents")
        documents.get_by_role("link", name=f"Акт выполненных работ (оказанных услуг) №{act.number}").click()
        assert (
            page.get_by_test_id("document-title")
            .inner_text()
            .startswith(f"Акт выполненных работ (оказанных услуг) №{act.number} от 15.12.2026")
        )
        assert (
            page.get_by_test_id("document-period")
            .inner_text()
            .startswith("За период с 01.11.2026 по 30.11.2026")
        )
        assert page.get_by_test_id("buyer").inner_text() == "ТОО «Нур Маркет»"
        assert page.get_by_test_id("document-total").inner_text() == "10\u202f720.00\u00a0₸"
        screenshot(page, "monthly-2-act")

        page.emulate_media(media="print")  # what the browser prints or saves as PDF: the act alone
        assert not page.get_by_test_id("nav").is_visible()
        assert not page.get_by_test_id("print").is_visible()
        assert page.get_by_test_id("document-lines").is_visible()
        page.pdf(path=_artifact("monthly-act.pdf"), format="A4")
        page.emulate_media(media="screen")

        with page.expect_download() as download:
            page.get_by_test_id("document-xlsx").click()
        assert download.value.suggested_filename == f"act-2026-{act.number}-2026-11.xlsx"
        book = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read()), read_only=True)
        services = list(book.worksheets[1].iter_rows(values_only=True))
        assert services[-1][0] == "Итого" and Decimal(str(services[-1][-1])) == act.total
        detail = list(book.worksheets[2].iter_rows(values_only=True))
        assert sum(Decimal(str(row[-1])) for row in detail[1:-1]) == act.total

        browser_login(phone_page, "nur_owner")
        phone_page.goto(f"/billing/documents/{act.pk}/")
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the act scrolls sideways on a phone: {width}px"
        screenshot(phone_page, "monthly-3-act-phone")


def _artifact(name: str) -> str:
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)
