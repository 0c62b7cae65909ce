"""Journey: a partner creates an order, filters the list, opens the timeline, exports Excel."""

import openpyxl
import pytest

from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_partner_creates_filters_opens_timeline_and_exports(
    page, browser_login, screenshot, reference_data, tmp_path
):
    partner = PartnerFactory(name="Байтерек Шоп")
    ProductFactory(partner=partner, sku="BT-1", name="Пылесос ручной", price=45000)
    UserFactory(username="bayterek", role=Role.PARTNER_ADMIN, partner=partner)
    make_order(partner, city="Шымкент", customer_name="Старый Клиент", external_id="OLD-1")

    browser_login(page, "bayterek")
    page.get_by_role("link", name="Новый заказ").first.click()
    page.fill("#id_external_id", "WEB-1001")
    page.fill("#id_customer_name", "Айжан Берикова")
    page.fill("#id_phone", "8 (701) 300-20-10")
    page.select_option("#id_city", label="Алматы")
    page.fill("#id_address", "мкр. Самал-2, д. 33, кв. 14")
    page.select_option("#id_delivery_kind", value="express")
    page.select_option("#id_items-0-product", label="BT-1 — Пылесос ручной")
    page.fill("#id_items-0-quantity", "2")
    screenshot(page, "orders-1-create")
    page.get_by_role("button", name="Создать заказ").click()

    assert "создан" in page.locator(".flash-success").inner_text()
    assert page.get_by_test_id("phones").inner_text() == "+7 *** *** 20 10"
    assert "90\u202f000.00" in page.content()

    page.get_by_role("link", name="Заказы").first.click()
    page.fill("#id_customer", "берикова")
    page.get_by_role("button", name="Показать").click()
    rows = page.get_by_test_id("orders").locator("tbody tr")
    assert rows.count() == 1
    assert "Айжан Берикова" in rows.first.inner_text()
    screenshot(page, "orders-2-filtered")

    rows.first.get_by_role("link").first.click()
    timeline = page.get_by_test_id("timeline")
    assert "На отправку" in timeline.inner_text()
    assert "Кабинет" in timeline.inner_text()
    screenshot(page, "orders-3-timeline")

    page.go_back()
    with page.expect_download() as download_info:
        page.get_by_test_id("export").click()
    path = tmp_path / "orders.xlsx"
    download_info.value.save_as(path)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(min_row=2, values_only=True))
    assert [(row[1], row[7]) for row in rows] == [("WEB-1001", "Айжан Берикова")]
