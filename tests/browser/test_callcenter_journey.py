"""Journey: a logist takes the next customer, reads the script, records «agreed for tomorrow»; the city's
courier administrator finds the customer in tomorrow's registry."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from callcenter.scripts import load_default_script
from ketlogistic.core.roles import Role
from orders.services import order_send
from tests.factories import PartnerFactory, ProductFactory, UserFactory, city, make_order, put_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))


def test_logist_agrees_delivery_and_the_customer_is_in_tomorrow_s_registry(
    page, browser_login, screenshot, reference_data
):
    # the clock of the server (not of the browser) is a Tuesday morning, inside working hours
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        load_default_script()
        partner = PartnerFactory(name="Алтын Маркет")
        product = ProductFactory(partner=partner, sku="AM-7", name="Мультиварка", price=32000)
        put_stock(product, "Алматы", 3)
        head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
        UserFactory(
            username="logist_aru", role=Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension="105"
        )
        UserFactory(username="admin_almaty", role=Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}])
        order = make_order(
            partner,
            product=product,
            customer_name="Сауле Нурланова",
            address="ул. Жандосова, 58, кв. 12",
            items=[{"sku": "AM-7", "quantity": 1, "price": "32000"}],
        )
        order_send(order=order, actor=head)

        browser_login(page, "logist_aru")
        page.goto("/callcenter/")
        assert page.get_by_test_id("due").inner_text() == "1"
        page.get_by_test_id("next").click()
        script = page.get_by_test_id("script").inner_text()
        assert "Здравствуйте, Сауле Нурланова!" in script and "Мультиварка × 1" in script
        assert page.get_by_test_id("masked-phone").inner_text() == "+7 *** *** 45 67"
        page.get_by_test_id("dial").click()
        assert "звонит" in page.locator(".flash-success").inner_text().lower()
        expect(page.locator("#id_agreed_date")).to_be_hidden()  # only what the chosen outcome needs
        page.get_by_label("Доставка согласована").check()
        expect(page.locator("#id_reason")).to_be_hidden()
        assert page.locator("#id_agreed_date").input_value() == "2026-11-25"
        page.get_by_label("Адрес подтверждён").check()
        page.get_by_label("Сумма подтверждена").check()
        page.get_by_label("Товар и количество подтверждены").check()
        screenshot(page, "callcenter-1-call-screen")
        page.get_by_test_id("save-next").click()
        assert "Сохранено" in page.locator(".flash-success").first.inner_text()
        page.get_by_role("button", name="Выйти").click()

        browser_login(page, "admin_almaty")
        page.goto("/callcenter/registries/")
        page.get_by_role("button", name="Сформировать реестр сейчас").click()
        registry = page.get_by_test_id("registry").inner_text()
        screenshot(page, "callcenter-2-registry")

    assert "Сауле Нурланова" in registry and "ул. Жандосова, 58, кв. 12" in registry
    assert "Мультиварка × 1" in registry
    order.refresh_from_db()
    assert (order.status, str(order.delivery_date)) == ("in_registry", "2026-11-25")
