"""Journey: a partner downloads the template, uploads a file with errors, sees them, fixes it, imports, sees the orders.

A real Celery worker checks and imports the files (the page follows its progress)."""

import openpyxl
import pytest
from playwright.sync_api import expect

from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_template_errors_fix_import(page, browser_login, screenshot, reference_data, tmp_path, celery_worker):
    partner = PartnerFactory(name="Маркет Плюс")
    ProductFactory(partner=partner, sku="ART-1", name="Кофемолка", price=15000)
    ProductFactory(partner=partner, sku="ART-2", name="Турка", price=4900)
    UserFactory(username="market", role=Role.PARTNER_ADMIN, partner=partner)

    browser_login(page, "market")
    page.get_by_role("link", name="Загрузка Excel").click()
    with page.expect_download() as download_info:
        page.get_by_test_id("template").click()
    template = tmp_path / "template.xlsx"
    download_info.value.save_as(template)

    book = openpyxl.load_workbook(template)
    sheet = book["Заказы"]
    sheet.append(
        [
            "20001",
            "Ольга Ким",
            "8 701 12",
            "",
            "Алматы",
            "ул. Жандосова, 2",
            "",
            "express",
            "ART-1",
            1,
            "",
            "",
            "",
            "",
        ]
    )
    sheet.append(
        [
            "20002",
            "Нурлан Асанов",
            "+7 702 222 33 44",
            "",
            "Караганда",
            "ул. Ленина, 1",
            "",
            "express",
            "ART-2",
            2,
            "",
            "",
            "",
            "",
        ]
    )
    with_errors = tmp_path / "orders.xlsx"
    book.save(with_errors)

    page.set_input_files("#id_file", str(with_errors))
    page.get_by_role("button", name="Проверить файл").click()
    errors = page.get_by_test_id("errors")
    assert "Не номер Казахстана" in errors.inner_text()
    row_cells = errors.locator("tbody tr").first.locator("td")
    assert row_cells.nth(0).inner_text() == "4" and row_cells.nth(1).inner_text() == "Телефон *"
    screenshot(page, "excel-1-errors")

    sheet["C4"] = "+7 701 120 30 40"
    fixed = tmp_path / "orders-fixed.xlsx"
    book.save(fixed)
    page.get_by_role("link", name="Загрузить другой файл").click()
    page.set_input_files("#id_file", str(fixed))
    page.get_by_role("button", name="Проверить файл").click()
    expect(page.get_by_text("Проблем не найдено.")).to_be_visible()
    screenshot(page, "excel-2-checked")
    page.get_by_test_id("import").click()

    assert "Загружено 3 новых заказа." in page.locator(".flash-success").inner_text()
    table = page.get_by_test_id("orders").inner_text()
    assert "Ольга Ким" in table and "Нурлан Асанов" in table
    screenshot(page, "excel-3-imported")
