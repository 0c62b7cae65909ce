"""Journey: warehouse staff ship a transfer, the city confirms it with a photo, the partner sees the stock change."""

import io

import pytest
from playwright.sync_api import expect

from geography.models import Warehouse
from ketlogistic.core.roles import Role
from tests.factories import PartnerFactory, ProductFactory, UserFactory, city, put_stock
from warehouses import transfers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ship_receive_with_photo_partner_sees_stock(
    page, browser_login, screenshot, reference_data, tmp_path
):
    partner = PartnerFactory(name="Степь Маркет")
    product = ProductFactory(partner=partner, sku="ST-1", name="Термос 1 л", price=7000)
    UserFactory(username="step_owner", role=Role.PARTNER_ADMIN, partner=partner)
    UserFactory(username="main_keeper", role=Role.WAREHOUSE, scopes=[{"country": "KZ"}])
    UserFactory(username="almaty_keeper", role=Role.WAREHOUSE, scopes=[{"city": city("Алматы")}])
    put_stock(product, "Астана", 20)
    main = Warehouse.objects.get(kind="main")
    almaty = Warehouse.objects.get(city=city("Алматы"))
    transfer = transfers.transfer_create(
        actor=None, partner=partner, origin=main, destination=almaty, lines=[(product, 12)]
    )

    browser_login(page, "main_keeper")
    page.goto(f"/warehouses/transfers/{transfer.pk}/")
    page.fill(f"input[name=quantity_{transfer.lines.get().pk}]", "10")
    page.get_by_role("button", name="Сохранить количество").click()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Отгрузить").click()
    assert page.get_by_test_id("transfer-status").inner_text() == "В пути"
    screenshot(page, "warehouse-1-shipped")
    page.get_by_role("button", name="Выйти").click()

    from PIL import Image

    picture = tmp_path / "arrival.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 230, 220)).save(buffer, format="JPEG")
    picture.write_bytes(buffer.getvalue())
    browser_login(page, "almaty_keeper")
    page.goto(f"/warehouses/transfers/{transfer.pk}/")
    page.fill(f"input[name=received_{transfer.lines.get().pk}]", "9")
    page.fill(f"input[name=reason_{transfer.lines.get().pk}]", "Одна коробка вскрыта")
    page.set_input_files("#photo", str(picture))
    page.get_by_role("button", name="Подтвердить приёмку").click()
    assert page.get_by_test_id("transfer-status").inner_text() == "Принято"
    expect(page.get_by_test_id("photo")).to_be_visible()
    screenshot(page, "warehouse-2-received")
    page.get_by_role("button", name="Выйти").click()

    browser_login(page, "step_owner")
    page.get_by_role("link", name="Остатки").click()
    stock = page.get_by_test_id("stock").inner_text()
    assert "ST-1" in stock and "алматы" in stock.lower()
    cells = page.get_by_test_id("stock").locator("tbody tr").first.locator("td")
    assert [cells.nth(i).inner_text().split("\n")[0] for i in range(1, 3)] == ["9", "10"]  # Алматы, Астана
    screenshot(page, "warehouse-3-partner-stock")
