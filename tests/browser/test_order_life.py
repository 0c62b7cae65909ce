"""One order's whole life, in a real browser, with a real Celery worker on the real Redis.

The partner's CRM sends the order through the API with a key made in the cabinet; the head of department puts
it into work; the goods are in Astana only, so the main warehouse ships them to Almaty and the city confirms
the receipt; a logist agrees the delivery; the courier administrator builds the registry, gives the order to a
courier and counts the cash the courier collected on the phone; on Monday the worker computes the weekly run
(what beat asks it to do), the finance director approves it; the partner sees the balance, withdraws part of
it and sees the payout paid. All along the worker delivers the partner's webhooks, signed.

The story's week is Monday 23 — Sunday 29 November 2026 (Almaty ships on Mondays, transit 2 days); the server
and the worker share its clock (`story_clock`).
"""

import io
import json
from collections import Counter
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests

from billing import ledger
from billing.models import BillingRun, Charge, Entry, Payout, Posting
from billing.tariffs import load_default_tariffs
from callcenter.scripts import load_default_script
from delivery.models import CashHandover, CashMove, Collection, CourierDay
from geography.models import Warehouse
from integrations import webhooks
from integrations.models import WebhookDelivery
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.factories import PartnerFactory, ProductFactory, UserFactory, city, put_stock
from tests.faults_support import wait_until
from tests.http_servers import Recorder
from warehouses.models import Transfer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ALMATY = ZoneInfo("Asia/Almaty")
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=ALMATY)  # intake, into work, shipped to Almaty
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=ALMATY)  # arrived; called; agreed for Thursday; registry
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=ALMATY)  # delivered, paid, cash counted
NEXT_MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=ALMATY)  # the weekly run, the payout
PRICE = Decimal("12000.00")
ORDER_FEE, COD_COMMISSION = Decimal("2500.00"), Decimal("720.00")  # KZ: 2 500 per order, 6 % of 12 000
PAYOUT = Decimal("8000.00")
NBSP = "\u202f"


class WebhookInbox:
    """What the partner's CRM received: the signed requests of the worker, checked against the secret."""

    def __init__(self, recorder):
        self.recorder = recorder
        self.secret = ""

    def events(self) -> list[dict]:
        received = []
        for request in list(self.recorder.requests):
            headers = {name.lower(): value for name, value in request["headers"].items()}
            event = json.loads(request["body"])
            # signed with the secret, within five minutes of the change (the worker shares the story's clock)
            recorded_at = int(datetime.fromisoformat(event["created_at"]).timestamp())
            assert webhooks.verify(self.secret, headers, request["body"], now=recorded_at), event
            received.append(event)
        return received

    def statuses(self) -> list[str]:
        changes = [e for e in self.events() if e["type"] == "order.status_changed"]
        return [e["data"]["to"] for e in sorted(changes, key=lambda e: e["created_at"])]

    def wait_for_status(self, status: str) -> None:
        wait_until(lambda: status in self.statuses(), f"the webhook of the move to {status}")


@pytest.fixture
def crm():
    """The partner's CRM: a local HTTP server that receives the webhooks."""
    with Recorder() as recorder:
        yield recorder


def fits_the_screen(page) -> bool:
    """No horizontal scrolling of the whole page (a wide table scrolls inside its own box)."""
    return page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def logout(page):
    page.get_by_role("button", name="Выйти").click()


def test_one_order_from_the_api_to_the_partners_paid_payout(
    page,
    phone_page,
    browser_login,
    screenshot,
    reference_data,
    live_server,
    celery_worker,
    broker_namespace,
    story_clock,
    crm,
    tmp_path,
):
    inbox = WebhookInbox(crm)
    load_default_tariffs()
    load_default_script()
    partner = PartnerFactory(name="Сапа Маркет")
    product = ProductFactory(partner=partner, sku="SP-9", name="Блендер", price=12000)
    UserFactory(username="sapa_owner", role=Role.PARTNER_ADMIN, partner=partner)
    UserFactory(
        username="sapa_head", role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}]
    )
    UserFactory(username="main_keeper", role=Role.WAREHOUSE, scopes=[{"country": "KZ"}])
    UserFactory(username="almaty_keeper", role=Role.WAREHOUSE, scopes=[{"city": city("Алматы")}])
    UserFactory(username="logist_dana", role=Role.LOGIST, scopes=[{"country": "KZ"}], phone_extension="107")
    UserFactory(username="admin_almaty", role=Role.COURIER_ADMIN, scopes=[{"city": city("Алматы")}])
    courier = UserFactory(
        username="courier_timur",
        role=Role.COURIER,
        first_name="Тимур",
        last_name="Курьеров",
        scopes=[{"city": city("Алматы")}],
    )
    UserFactory(username="finance_dir", role=Role.FINANCE_DIRECTOR)
    put_stock(product, "Астана", 10)  # the goods are at the main warehouse only
    almaty = Warehouse.objects.get(city__name="Алматы")

    with story_clock.travel(MONDAY):
        # the partner's administrator makes an API key and a webhook endpoint for its CRM
        browser_login(page, "sapa_owner")
        page.goto("/integrations/keys/")
        page.fill("#id_name", "CRM")
        page.get_by_role("button", name="Создать ключ").click()
        key = page.get_by_test_id("key-value").inner_text().strip()
        page.goto("/integrations/webhooks/")
        assert page.locator("label label").count() == 0  # each event's checkbox has a label of its own
        page.fill("#id_url", f"{crm.url}/ketlogistic")
        page.get_by_role("button", name="Добавить", exact=True).click()
        inbox.secret = page.get_by_test_id("secret").inner_text().strip()

        # 1. intake: the CRM posts the order
        answer = requests.post(
            f"{live_server.url}/api/v1/orders/",
            json={
                "external_id": "CRM-5501",
                "customer_name": "Динара Сапарова",
                "phone": "8 (701) 555-44-33",
                "city": "Алматы",
                "address": "ул. Тимирязева, 42, кв. 7",
                "items": [{"sku": "SP-9", "quantity": 1, "price": "12000"}],
            },
            headers={"Authorization": f"Api-Key {key}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        order = Order.objects.get(pk=answer.json()["id"])
        assert (order.status, order.cod_amount) == ("to_send", PRICE)
        page.goto(f"/orders/{order.pk}/")
        assert "API" in page.get_by_test_id("timeline").inner_text()
        screenshot(page, "order_life_01_intake")
        logout(page)

        # 2. the head of department puts it into work: no goods in Almaty, it waits for stock
        browser_login(page, "sapa_head")
        page.goto(f"/orders/{order.pk}/")
        page.get_by_role("button", name="Передать в работу").click()
        assert "Передать в работу" in page.locator(".flash-success").inner_text()
        order.refresh_from_db()
        assert order.status == "awaiting_stock"
        screenshot(page, "order_life_02_waiting_for_stock")
        logout(page)

        # 3. the main warehouse drafts today's supply from demand and ships it to Almaty
        browser_login(page, "main_keeper")
        page.goto("/warehouses/transfers/")
        page.get_by_role("button", name="Подготовить черновики").click()
        transfer = Transfer.objects.get(partner=partner, destination=almaty)
        page.get_by_test_id("transfers").get_by_role("link", name=str(transfer.pk), exact=True).click()
        line = transfer.lines.get(product=product)
        assert line.quantity >= 1  # at least what the waiting order needs
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Отгрузить").click()
        assert page.get_by_test_id("transfer-status").inner_text() == "В пути"
        screenshot(page, "order_life_03_in_transit")
        logout(page)
        inbox.wait_for_status("awaiting_stock")

    # 4. Wednesday: Almaty counts the arrival, with a photo; the waiting order goes to calling
    from PIL import Image

    picture = tmp_path / "arrival.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (210, 220, 240)).save(buffer, format="JPEG")
    picture.write_bytes(buffer.getvalue())
    with story_clock.travel(WEDNESDAY):
        browser_login(page, "almaty_keeper")
        page.goto(f"/warehouses/transfers/{transfer.pk}/")
        assert page.locator(f"input[name=received_{line.pk}]").input_value() == str(line.quantity)
        page.set_input_files("#photo", str(picture))
        page.get_by_role("button", name="Подтвердить приёмку").click()
        assert page.get_by_test_id("transfer-status").inner_text() == "Принято"
        screenshot(page, "order_life_04_city_receipt")
        logout(page)
        order.refresh_from_db()
        assert order.status == "calling"

        # 5. the logist takes the next customer and agrees the delivery for tomorrow
        browser_login(page, "logist_dana")
        page.goto("/callcenter/")
        assert page.get_by_test_id("due").inner_text() == "1"
        page.get_by_test_id("next").click()
        assert "Динара Сапарова" in page.get_by_test_id("script").inner_text()
        page.get_by_test_id("dial").click()
        page.get_by_label("Доставка согласована").check()
        assert page.locator("#id_agreed_date").input_value() == "2026-11-26"
        page.get_by_label("Адрес подтверждён").check()
        page.get_by_label("Сумма подтверждена").check()
        page.get_by_label("Товар и количество подтверждены").check()
        screenshot(page, "order_life_05_delivery_agreed")
        page.get_by_test_id("save-next").click()
        assert "Сохранено" in page.locator(".flash-success").first.inner_text()
        logout(page)

        # 6. the courier administrator builds tomorrow's registry
        browser_login(page, "admin_almaty")
        page.goto("/callcenter/registries/")
        page.get_by_role("button", name="Сформировать реестр сейчас").click()
        assert "Динара Сапарова" in page.get_by_test_id("registry").inner_text()
        screenshot(page, "order_life_06_registry")
        logout(page)
        order.refresh_from_db()
        assert (order.status, str(order.delivery_date)) == ("in_registry", "2026-11-26")

    with story_clock.travel(THURSDAY):
        # 7. Thursday: the administrator gives the order to the courier with its goods
        browser_login(page, "admin_almaty")
        page.goto(f"/delivery/?city={almaty.pk}&date=2026-11-26")
        page.get_by_label(f"№{order.pk}", exact=True).check()
        page.select_option("#courier", label="Тимур Курьеров")
        page.get_by_test_id("assign").click()
        page.get_by_test_id("board").get_by_role("link", name="Тимур Курьеров").click()
        page.get_by_test_id("hand-goods").click()
        assert "выдан курьеру" in page.locator(".flash-success").inner_text()
        assert fits_the_screen(page)
        screenshot(page, "order_life_07_courier_route")

        # 8. the courier, on the phone, marks it paid at the door
        browser_login(phone_page, "courier_timur")
        phone_page.get_by_text("ул. Тимирязева, 42, кв. 7").click()
        phone_page.get_by_test_id("paid").click()
        assert "Записано" in phone_page.locator(".flash-success").inner_text()
        assert f"12{NBSP}000.00" in phone_page.get_by_test_id("cash-held").inner_text()
        screenshot(phone_page, "order_life_08_courier_paid")

        # 9. back at the warehouse the administrator counts the courier's cash
        day = CourierDay.objects.get(courier=courier)
        page.goto(f"/delivery/days/{day.pk}/")
        assert page.get_by_test_id("held").inner_text() == f"12{NBSP}000.00\u00a0₸"
        page.fill("#id_counted", "12000")
        page.get_by_test_id("count").click()
        assert "сходится" in page.locator(".flash-success").inner_text()
        assert fits_the_screen(page)
        screenshot(page, "order_life_09_cash_handover")
        logout(page)
        inbox.wait_for_status("paid")

    with story_clock.travel(NEXT_MONDAY):
        # 10. Monday: beat asks the worker for last week's run; the finance director reviews and approves it
        broker_namespace.send("billing.weekly_charge_run")  # to the worker's queue, as beat sends it
        run = wait_until(
            lambda: BillingRun.objects.filter(computed_at__isnull=False).first(), "the worker's weekly run"
        )
        assert run.week_start.isoformat() == "2026-11-23"
        browser_login(page, "finance_dir")
        page.goto("/billing/desk/")
        page.get_by_role("link", name=f"№{run.number} · 23.11.2026").click()
        summary = page.get_by_test_id("run-summary").inner_text()
        assert "Сапа Маркет" in summary and f"3{NBSP}220.00" in summary  # 2 500 + 720
        screenshot(page, "order_life_10_run_draft")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("approve-run").click()
        assert page.get_by_test_id("run-status").inner_text() == "Утверждено"
        logout(page)

        # 11. the partner sees its balance and asks for a payout
        browser_login(page, "sapa_owner")
        page.goto("/billing/")
        assert page.get_by_test_id("balance").inner_text().startswith(f"8{NBSP}780.00")  # 12 000 − 3 220
        screenshot(page, "order_life_11_partner_balance")
        page.get_by_role("link", name="Запросить выплату").click()
        page.fill("#id_amount", "8000")
        page.select_option("#id_method", "webmoney")
        page.fill("#id_details", "R123456789012")
        page.get_by_role("button", name="Запросить", exact=True).click()
        assert page.get_by_test_id("payout-status").inner_text() == "Запрошена"
        screenshot(page, "order_life_12_payout_requested")
        logout(page)

        # 12. the finance director approves it and marks it paid
        payout = Payout.objects.get(partner=partner)
        browser_login(page, "finance_dir")
        page.goto("/billing/desk/")
        page.get_by_test_id("to-process").get_by_role("link", name=f"№{payout.pk}").click()
        page.get_by_test_id("approve").click()
        page.fill("#reference", "WM-5501")
        page.get_by_test_id("mark-paid").click()
        assert page.get_by_test_id("payout-status").inner_text() == "Выплачена"
        screenshot(page, "order_life_13_payout_paid")
        logout(page)

        # 13. the partner sees it paid, its balance what is left, and every webhook delivered
        browser_login(page, "sapa_owner")
        page.goto(f"/billing/payouts/{payout.pk}/")
        assert "WM-5501" in page.get_by_test_id("payout-steps").inner_text()
        screenshot(page, "order_life_14_partner_sees_paid")
        page.goto("/billing/")
        shown_balance = page.get_by_test_id("balance").inner_text()
        wait_until(
            lambda: not WebhookDelivery.objects.exclude(state="succeeded").exists(),
            "every webhook delivery to be recorded as delivered",
        )
        page.goto("/integrations/webhooks/")
        page.get_by_role("link", name=f"{crm.url}/ketlogistic").click()
        deliveries = page.get_by_test_id("deliveries").inner_text()
        assert fits_the_screen(page) and page.locator("label label").count() == 0
        screenshot(page, "order_life_15_webhooks_delivered")
        received = inbox.events()
        statuses = inbox.statuses()

    # the order's whole life, as the database keeps it
    order.refresh_from_db()
    assert order.status == "paid"
    history = list(order.history.order_by("id").values_list("to_status", flat=True))
    assert history == [
        "to_send",
        "sent",
        "awaiting_stock",
        "calling",
        "delivery_agreed",
        "in_registry",
        "with_courier",
        "paid",
    ]
    # the CRM was told every move, in order, once each
    assert statuses == history[1:]
    assert Counter(e["type"] for e in received)["order.created"] == 1
    assert deliveries.count("Доставлено") == len(received) and "Ожидает" not in deliveries
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}
    # one cash collection, handed over once
    assert Collection.objects.filter(order=order).count() == 1
    assert list(CashMove.objects.filter(order=order).values_list("kind", "amount")) == [("collected", PRICE)]
    assert CashHandover.objects.get(day=day).counted == PRICE
    # charged once per kind
    charges = Charge.objects.filter(order=order)
    assert sorted(charges.values_list("kind", "amount")) == [
        ("cod_courier", COD_COMMISSION),
        ("order_fee", ORDER_FEE),
    ]
    assert all(charge.run_id == run.pk for charge in charges)
    # the payout is paid; the balance is what the ledger's postings sum to
    payout.refresh_from_db()
    assert (payout.status, payout.amount, payout.reference) == ("paid", PAYOUT, "WM-5501")
    postings = Posting.objects.filter(partner=partner)
    assert sorted(postings.values_list("kind", flat=True)) == [
        "accrual",  # the cash, when the administrator counted it
        "payout_paid",
        "payout_requested",
        "run",  # the week's charges, when the director approved them
    ]
    balance = ledger.partner_balance(partner, "KZT")
    assert balance == PRICE - ORDER_FEE - COD_COMMISSION - PAYOUT
    posted = Entry.objects.filter(posting__in=postings, account__kind="partner").values_list(
        "amount", flat=True
    )
    assert -sum(posted) == balance
    assert shown_balance.startswith(f"{balance:,.2f}".replace(",", NBSP))
    assert ledger.check_ledger() == []
