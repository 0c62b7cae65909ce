"""Journey (issue 19): a logist agrees delivery and the customer's SMS is on the order's timeline; the customer opens
the link from that SMS in a browser of their own, sees the steps and asks for another day; the logist finds the
order among the call-backs due, with the request on the card and on the call screen."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from callcenter.models import CustomerRequest
from integrations.models import SmsMessage
from ketlogistic.core.roles import Role
from orders.services import order_send
from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order, put_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))


def test_the_customer_s_sms_link_asks_for_another_day_and_the_logist_sees_the_call_back(
    browser, page, live_server, browser_login, screenshot, settings, reference_data
):
    settings.PUBLIC_BASE_URL = live_server.url  # the SMS carry links to this server
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        partner = PartnerFactory(name="Алтын Маркет")
        product = ProductFactory(partner=partner, sku="AM-9", name="Блендер", price=18000)
        put_stock(product, "Алматы", 3)
        head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
        UserFactory(
            username="logist_dana", role=Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension="107"
        )
        order = make_order(
            partner,
            product=product,
            customer_name="Жанар Абдрахманова",
            address="мкр. Самал-2, 77, кв. 14",
            items=[{"sku": "AM-9", "quantity": 1, "price": "18000"}],
        )
        order_send(order=order, actor=head)

        # the logist pulls the customer from the queue and agrees delivery for tomorrow
        browser_login(page, "logist_dana")
        page.goto("/callcenter/")
        page.get_by_test_id("next").click()
        page.get_by_test_id("dial").click()
        page.get_by_label("Доставка согласована").check()
        page.get_by_label("Адрес подтверждён").check()
        page.get_by_label("Сумма подтверждена").check()
        page.get_by_label("Товар и количество подтверждены").check()
        page.get_by_role("button", name="Сохранить", exact=True).click()
        expect(page.locator(".flash-success").first).to_contain_text("Сохранено")

        # the order's timeline lists the customer's SMS of the agreement, its link's token hidden from staff
        page.goto(f"/orders/{order.pk}/")
        sms = page.locator('[data-testid="timeline"] li[data-kind="sms"]').filter(
            has_text="Доставка согласована"
        )
        expect(sms).to_have_count(1)
        expect(sms).to_contain_text("/t/…/")
        screenshot(page, "sms-link-1-timeline-with-the-sms")
        message = SmsMessage.objects.get(order=order, event="delivery_agreed")
        link = message.text.rsplit(" ", 1)[1]
        assert link.startswith(f"{live_server.url}/t/") and link.endswith("/")
        assert link not in page.content()

        # the customer opens the link in a browser of their own: the steps, nothing personal, and asks for Friday
        customer = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ru-RU")
        phone = customer.new_page()
        phone.set_default_timeout(15_000)
        try:
            phone.goto(link)
            steps = phone.get_by_test_id("steps")
            expect(steps).to_contain_text("25.11.2026")
            body = phone.locator("body").inner_text()
            for secret in ("Жанар", "Абдрахманова", "Самал", "18 000", "Алтын Маркет", "45 67"):
                assert secret not in body, secret
            phone.locator("#id_wanted_date").select_option("2026-11-27")
            phone.get_by_test_id("ask-another-day").click()
            expect(phone.get_by_test_id("asked")).to_contain_text("27.11.2026")
            expect(phone.get_by_test_id("customer-actions")).to_have_count(0)
            screenshot(phone, "sms-link-2-customer-asked-for-another-day")
        finally:
            customer.close()

        # the logist: the order is among the call-backs due, the request on its card and on the call screen
        page.goto("/callcenter/queue/?kind=callback")
        queue = page.get_by_test_id("queue")
        expect(queue.get_by_role("link", name=str(order.pk), exact=True)).to_be_visible()
        expect(queue).to_contain_text("Пора перезвонить")
        page.goto(f"/orders/{order.pk}/")
        request_entry = page.locator('[data-testid="timeline"] li[data-kind="customer_request"]')
        expect(request_entry).to_have_count(1)
        expect(request_entry).to_contain_text("27.11.2026")
        expect(page.get_by_test_id("customer-request")).to_contain_text("27.11.2026")
        screenshot(page, "sms-link-3-card-with-the-request")
        page.goto("/callcenter/")
        page.get_by_test_id("next").click()
        expect(page.get_by_test_id("customer-request")).to_contain_text("27.11.2026")
        screenshot(page, "sms-link-4-call-screen")

    order.refresh_from_db()
    assert (order.status, order.delivery_date) == ("calling", None)
    request = CustomerRequest.objects.get(order=order)
    assert (request.kind, str(request.wanted_date), request.handled_at) == ("another_day", "2026-11-27", None)
