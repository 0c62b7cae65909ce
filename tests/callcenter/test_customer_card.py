"""The customer card shows the SMS the customer was sent (issue 19, item 6): the hotline's search and the customer
card that quality control opens from a reviewed call list every SMS of the customer's orders, with its event, time,
state and masked number, never the number itself; read in one query for all the orders (the wiring's
CUSTOMER_CARD_PANELS: the call center never imports integrations)."""

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from callcenter.models import CallAttempt
from ketlogistic.core.roles import Role
from tests.clock import ALMATY
from tests.factories import ProductFactory, make_order, put_stock
from tests.sms_rows import MASKED, sms_row

pytestmark = pytest.mark.django_db
PHONE = "+7 701 555 44 33"
SENT = datetime(2026, 11, 24, 11, 5, tzinfo=ALMATY)


@pytest.fixture
def customer(at_tuesday_10, partner_a, partner_b, product_a):
    """One customer who bought from two partners, each order with its SMS; another customer with SMS of their own."""
    product_b = ProductFactory(partner=partner_b, name="Фен Б")
    put_stock(product_b, "Алматы", 5)
    a = make_order(partner_a, product=product_a, phone=PHONE, customer_name="Динара Ахметова")
    b = make_order(partner_b, product=product_b, phone=PHONE, customer_name="Динара Ахметова")
    stranger = make_order(
        partner_a, product=product_a, phone="+7 702 000 00 01", customer_name="Другой Клиент"
    )
    sms_row(a, state="delivered", sent_at=SENT)
    sms_row(a, state="held", created_at=SENT)
    sms_row(b, state="undeliverable", sent_at=SENT)
    sms_row(stranger, state="delivered", sent_at=SENT)
    return {"a": a, "b": b, "stranger": stranger}


def panel_of(response):
    [(template, panel)] = [found for found in response.context["panels"] if "sms" in found[0]]
    return panel


def test_the_hotline_s_customer_card_lists_the_sms_of_every_order_of_the_customer(customer, make_user, login):
    hotline = login(make_user(Role.HOTLINE))

    response = hotline.get(reverse("callcenter:hotline"), {"phone": "8 (701) 555-44-33"}, follow=True)

    rows = [(message.order_id, message.state) for message, _order in panel_of(response)["rows"]]
    assert sorted(rows) == sorted(
        [(customer["a"].pk, "delivered"), (customer["a"].pk, "held"), (customer["b"].pk, "undeliverable")]
    )
    body = response.content.decode()
    assert 'data-testid="sms-customer-panel"' in body
    assert "24.11.2026 11:05" in body  # the time it went out, in the customer's zone
    assert MASKED in body
    assert "7015554433" not in body.replace(" ", "").replace("-", "")


def test_quality_control_opens_the_customer_card_of_a_reviewed_call_s_order(
    customer, make_user, login, logist
):
    attempt = CallAttempt.objects.create(
        order=customer["a"],
        partner=customer["a"].partner,
        operator=logist,
        started_at=SENT,
        outcome="no_answer",
        telephony_call_id="qc-card-1",
    )
    quality = login(make_user(Role.QUALITY_CONTROL))

    review = quality.get(reverse("callcenter:review", args=[attempt.pk]))
    card = quality.get(reverse("callcenter:customer"), {"order": customer["a"].pk})

    assert f"{reverse('callcenter:customer')}?order={customer['a'].pk}" in review.content.decode()
    assert sorted(order.pk for order in card.context["orders"]) == sorted(
        [customer["a"].pk, customer["b"].pk]
    )
    assert sorted(message.order_id for message, _order in panel_of(card)["rows"]) == sorted(
        [customer["a"].pk, customer["a"].pk, customer["b"].pk]
    )
    assert "7015554433" not in card.content.decode().replace(" ", "")


def test_quality_control_finds_a_customer_by_phone_on_the_customer_card(customer, make_user, login):
    quality = login(make_user(Role.QUALITY_CONTROL))

    card = quality.get(reverse("callcenter:customer"), {"phone": PHONE}, follow=True)

    assert len(panel_of(card)["rows"]) == 3
    assert quality.get(reverse("callcenter:hotline")).status_code == 403  # the call log stays the hotline's


def test_the_customer_card_reads_the_sms_of_all_orders_in_one_query(
    at_tuesday_10, partner_a, product_a, make_user, login
):
    hotline = login(make_user(Role.HOTLINE))

    def queries_for(orders: int) -> int:
        phone = f"+7 701 555 00 0{orders}"
        for _ in range(orders):
            order = make_order(partner_a, product=product_a, phone=phone)
            sms_row(order, state="delivered", sent_at=SENT)
            sms_row(order, state="expired", sent_at=SENT)
        with CaptureQueriesContext(connection) as queries:
            response = hotline.get(reverse("callcenter:customer"), {"phone": phone}, follow=True)
        assert len(panel_of(response)["rows"]) == 2 * orders
        return len(queries.captured_queries)

    assert queries_for(1) == queries_for(4)


def test_the_customer_card_of_an_order_the_user_may_not_see_finds_nothing(
    customer, partner_a, make_user, login
):
    """A head of department of another partner asks for the customer of partner A's order: nothing of A's shows."""
    head_b = login(
        make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": customer["b"].partner, "country": "KZ"}])
    )

    card = head_b.get(reverse("callcenter:customer"), {"order": customer["a"].pk})

    assert card.status_code == 200
    assert card.context["orders"] == [] and card.context["panels"] == []


def test_partners_cannot_open_the_customer_card(customer, client_a):
    assert client_a.get(reverse("callcenter:customer"), {"phone": PHONE}).status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        {"order": "abc"},
        {"order": "-1"},
        {"order": "99999999999999999999"},
        {"phone": "not a phone"},
        {"phone": "\x00"},
        {"name": "Динара"},
        {"name": "x", "city": "abc"},
    ],
)
def test_junk_on_the_customer_card_is_never_a_server_error(customer, make_user, login, query):
    response = login(make_user(Role.HOTLINE)).get(reverse("callcenter:customer"), query)

    assert response.status_code in (200, 400)


@pytest.mark.parametrize("page", ["callcenter:customer", "callcenter:hotline"])
def test_a_searched_phone_never_stays_in_the_address(customer, make_user, login, page):
    """The hotline typed the customer's number: the page it lands on has only the number's blind index in its address
    (the browser's history keeps addresses), and finds the customer as before (found by a stranger's review)."""
    response = login(make_user(Role.HOTLINE)).get(reverse(page), {"phone": PHONE}, follow=True)

    final = response.redirect_chain[-1][0]
    digits = "".join(ch for ch in PHONE if ch.isdigit())
    assert "phone_key=" in final and "phone=" not in final.replace("phone_key=", "")
    assert digits[-7:] not in final
    assert response.status_code == 200
    assert response.context["orders"] if page == "callcenter:customer" else response.context["cards"]
