"""The hotline (горячая линия): find the customer by phone or by name and city, the customer card with
every order, log the call; a missed call is owed a call back the same working day."""

from datetime import datetime

import pytest
import time_machine
from django.urls import reverse

from callcenter import services
from callcenter.models import InboundCall
from ketlogistic.core.roles import Role
from tests.clock import ALMATY
from tests.factories import ProductFactory, city, make_order, put_stock

pytestmark = pytest.mark.django_db
PHONE = "+7 701 555 44 33"


@pytest.fixture
def hotline(make_user):
    return make_user(Role.HOTLINE, phone_extension="201")


@pytest.fixture
def customer_orders(at_tuesday_10, partner_a, partner_b, product_a):
    """One customer who bought from two partners, and a namesake in another city."""
    product_b = ProductFactory(partner=partner_b, name="Фен Б")
    put_stock(product_b, "Алматы", 5)
    return {
        "a": make_order(partner_a, product=product_a, phone=PHONE, customer_name="Динара Ахметова"),
        "b": make_order(partner_b, product=product_b, phone=PHONE, customer_name="Динара Ахметова"),
        "namesake": make_order(
            partner_a,
            product=product_a,
            phone="+7 702 000 00 01",
            city="Астана",
            customer_name="Динара Ахметова",
        ),
    }


def test_finding_by_phone_shows_every_order_of_the_customer_with_its_script(customer_orders, hotline, login):
    from callcenter.scripts import load_default_script

    load_default_script()
    page = login(hotline).get(reverse("callcenter:hotline"), {"phone": "8 (701) 555-44-33"}, follow=True)

    found = [order.pk for order, _script in page.context["cards"]]
    assert sorted(found) == sorted([customer_orders["a"].pk, customer_orders["b"].pk])
    assert PHONE.replace(" ", "") not in page.content.decode()


def test_finding_by_name_needs_the_city_as_the_script_says(customer_orders, hotline, login):
    client = login(hotline)

    without_city = client.get(reverse("callcenter:hotline"), {"name": "Динара"})
    with_city = client.get(reverse("callcenter:hotline"), {"name": "динара", "city": city("Астана").pk})

    assert "city" in without_city.context["search"].errors
    assert [order.pk for order, _s in with_city.context["cards"]] == [customer_orders["namesake"].pk]


def test_a_wrong_number_in_the_search_is_a_clear_error(hotline, login, reference_data):
    page = login(hotline).get(reverse("callcenter:hotline"), {"phone": "12"}, follow=True)

    assert page.context["search"].errors["phone"]


def test_logging_an_answered_call_links_it_to_the_order(customer_orders, hotline, login):
    order = customer_orders["a"]

    response = login(hotline).post(
        reverse("callcenter:hotline") + f"?phone={PHONE}",
        {
            "phone": PHONE,
            "topic": InboundCall.Topic.WHERE_IS_PARCEL,
            "result": "Сказали дату доставки",
            "order": order.pk,
        },
    )

    assert response.status_code == 302
    call = InboundCall.objects.get()
    assert (call.order_id, call.partner_id, call.is_missed, call.operator) == (
        order.pk,
        order.partner_id,
        False,
        hotline,
    )
    assert call.masked_phone.endswith("44 33") and call.callback_due_at is None


def test_a_missed_call_in_working_hours_is_due_back_the_same_day(customer_orders, hotline):
    call = services.inbound_log(actor=hotline, phone=PHONE, missed=True)

    assert call.callback_due_at == datetime(2026, 11, 24, 18, 0, tzinfo=ALMATY)
    assert call.order_id == customer_orders["b"].pk  # the customer's latest order


def test_a_missed_call_at_night_is_due_back_by_the_end_of_the_next_working_day(hotline, reference_data):
    with time_machine.travel(datetime(2026, 11, 27, 22, 30, tzinfo=ALMATY), tick=False):  # Friday night
        call = services.inbound_log(actor=hotline, phone=PHONE, missed=True)

    assert call.callback_due_at == datetime(2026, 11, 30, 18, 0, tzinfo=ALMATY)


def test_calling_back_a_missed_call_uses_the_telephony_and_counts_in_time(customer_orders, hotline, login):
    call = services.inbound_log(actor=hotline, phone=PHONE, missed=True)
    client = login(hotline)
    assert "44 33" in client.get(reverse("callcenter:hotline")).content.decode()

    client.post(reverse("callcenter:call_back", args=[call.pk]))
    client.post(reverse("callcenter:call_back", args=[call.pk]))  # a double click

    call.refresh_from_db()
    assert call.called_back_by == hotline and call.called_back_at is not None
    from callcenter.selectors import missed_returned_in_time

    assert missed_returned_in_time(hotline, since=datetime(2026, 11, 24, tzinfo=ALMATY))["in_time"] == 1


def test_scoped_logists_see_only_missed_calls_of_their_partners(
    customer_orders, hotline, make_user, partner_a, partner_b, login
):
    call_b = services.inbound_log(actor=hotline, order=customer_orders["b"], missed=True, phone=PHONE)
    logist_a = make_user(Role.LOGIST, scopes=[{"partner": partner_a, "country": "KZ"}])

    client = login(logist_a)

    assert call_b not in client.get(reverse("callcenter:hotline")).context["missed"]
    assert client.post(reverse("callcenter:call_back", args=[call_b.pk])).status_code == 404
    assert InboundCall.objects.get(pk=call_b.pk).called_back_at is None


def test_partners_have_no_hotline(client_a):
    assert client_a.get(reverse("callcenter:hotline")).status_code == 403
