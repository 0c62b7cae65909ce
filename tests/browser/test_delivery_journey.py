"""Journey at phone size: a courier marks one order paid and one refused; the administrator sees it on the
board; the partner's timeline shows it."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from callcenter import services as calls
from delivery import services
from delivery.models import CourierDay
from geography.models import Warehouse
from ketlogistic.core.roles import Role
from orders import workflow
from orders.services import order_send
from orders.statuses import OrderSource
from tests.factories import PartnerFactory, ProductFactory, UserFactory, city, make_order, put_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))


def test_courier_records_paid_and_refused_admin_and_partner_see_it(
    phone_page, page, browser_login, screenshot, reference_data
):
    with time_machine.travel(WEDNESDAY_MORNING, tick=True):
        partner = PartnerFactory(name="Нур Маркет")
        product = ProductFactory(partner=partner, sku="NM-1", name="Чайник", price=12000)
        put_stock(product, "Алматы", 5)
        head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
        UserFactory(username="nur_owner", role=Role.PARTNER_ADMIN, partner=partner)
        courier = UserFactory(
            username="courier_arman",
            role=Role.COURIER,
            first_name="Арман",
            last_name="Курьеров",
            scopes=[{"city": city("Алматы")}],
        )
        admin = UserFactory(
            username="admin_almaty", role=Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}]
        )
        almaty = Warehouse.objects.get(city__name="Алматы")
        orders = []
        for name, address in (("Асель Куатова", "ул. Абая, 10"), ("Ержан Бекмурат", "ул. Сатпаева, 22")):
            order = make_order(
                partner,
                product=product,
                customer_name=name,
                address=address,
                items=[{"sku": "NM-1", "quantity": 1, "price": "12000"}],
            )
            order_send(order=order, actor=head)
            workflow.perform(
                order,
                action="agree_delivery",
                actor=head,
                source=OrderSource.STAFF,
                data={"delivery_date": date(2026, 11, 25)},
            )
            orders.append(order)
        calls.registry_build(warehouse=almaty, day=date(2026, 11, 25))
        services.stops_assign(
            actor=admin, orders=orders, courier=courier, warehouse=almaty, day=date(2026, 11, 25)
        )
        services.goods_hand_over(actor=admin, day=CourierDay.objects.get(courier=courier))

        browser_login(phone_page, "courier_arman")
        assert "Асель Куатова" in phone_page.get_by_test_id("my-route").inner_text()
        screenshot(phone_page, "delivery-1-route")
        phone_page.get_by_text("ул. Абая, 10").click()
        # measured with its stylesheets applied, however busy the machine
        phone_page.wait_for_load_state("load")
        assert phone_page.get_by_test_id("paid").bounding_box()["height"] >= 48  # a thumb-sized button
        phone_page.get_by_test_id("paid").click()
        assert "Записано" in phone_page.locator(".flash-success").inner_text()
        phone_page.get_by_text("ул. Сатпаева, 22").click()
        phone_page.get_by_test_id("refuse-open").click()
        phone_page.fill("#id_reason", "Не устроил цвет")
        screenshot(phone_page, "delivery-2-refusal")
        phone_page.get_by_test_id("refused").click()
        route = phone_page.get_by_test_id("my-route").inner_text()
        assert "Доставлен и оплачен" in route and "Отказ" in route
        assert "12\u202f000.00" in phone_page.get_by_test_id("cash-held").inner_text()

        browser_login(page, "admin_almaty")
        page.goto(f"/delivery/?city={almaty.pk}&date=2026-11-25")
        live = page.get_by_test_id("live-table").inner_text()
        assert "Арман Курьеров" in live
        screenshot(page, "delivery-3-board")
        row = page.get_by_test_id("live-table").locator("tbody tr").first.locator("td")
        assert [row.nth(i).inner_text() for i in (1, 2, 3, 5)] == ["2", "1", "1", "0"]
        page.get_by_role("button", name="Выйти").click()

        browser_login(page, "nur_owner")
        page.goto(f"/orders/{orders[1].pk}/")
        timeline = page.get_by_test_id("timeline").inner_text()
        screenshot(page, "delivery-4-partner-timeline")

    assert "Не устроил цвет" in timeline and "Арман Курьеров" in timeline
