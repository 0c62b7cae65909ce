"""Journey: a logist works the call screen by keyboard — a digit chooses the outcome (not while typing a note), and
Ctrl+Enter saves and takes the next customer; the script greets with the logist's name and the customer's time."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from callcenter.scripts import load_default_script
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.services import order_send
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order, put_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))


def test_a_digit_chooses_the_outcome_and_ctrl_enter_saves_and_takes_the_next(
    page, browser_login, screenshot, reference_data
):
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        load_default_script()
        partner = PartnerFactory(name="Алтын Маркет")
        product = ProductFactory(partner=partner, sku="AM-7", name="Мультиварка", price=32000)
        put_stock(product, "Алматы", 3)
        head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
        UserFactory(
            username="logist_aru",
            first_name="Ару",
            role=Role.LOGIST,
            scopes=[{"country": "KZ"}],
            phone_extension="105",
        )
        order = make_order(
            partner,
            product=product,
            customer_name="Сауле Нурланова",
            items=[{"sku": "AM-7", "quantity": 1, "price": "32000"}],
        )
        order_send(order=order, actor=head)

        browser_login(page, "logist_aru")
        page.goto("/callcenter/")
        page.get_by_test_id("next").click()
        assert "Меня зовут Ару," in page.get_by_test_id("script").inner_text()
        assert page.get_by_test_id("customer-time").first.inner_text().startswith("10:")
        page.get_by_test_id("dial").click()
        page.wait_for_selector("form[data-call-keys][data-keys-ready]")  # after the call: its keys work

        page.locator("body").press("4")  # «Доставка согласована», the fourth outcome
        expect(page.locator("input[name=outcome][value=agreed]")).to_be_checked()
        expect(page.locator("#id_agreed_date")).to_be_visible()
        page.get_by_label("Адрес подтверждён").check()
        page.get_by_label("Сумма подтверждена").check()
        page.get_by_label("Товар и количество подтверждены").check()
        page.locator("#id_note").fill("Позвонить за час, ")
        page.locator("#id_note").press("2")  # typed into the note, not a shortcut
        expect(page.locator("#id_note")).to_have_value("Позвонить за час, 2")
        expect(page.locator("input[name=outcome][value=agreed]")).to_be_checked()
        screenshot(page, "callcenter-keys-1-call-screen")
        page.locator("#id_note").press("Control+Enter")
        page.wait_for_load_state("networkidle")

        assert "Сохранено" in page.locator(".flash-success").first.inner_text()
    order.refresh_from_db()
    assert order.status == "delivery_agreed"
    assert Order.objects.get(pk=order.pk).call_state.last_outcome == "agreed"
