"""The partner's SMS page (issue 19): events on and off, the language, its own texts with their length and parts,
unknown placeholders refused by name; who may read and who may edit; partner B never sees or changes A's texts or
messages; the order's timeline lists its SMS."""

import pytest
from django.urls import reverse

from integrations.models import SmsMessage, SmsSettings, SmsTemplate
from integrations.sandbox import sandbox_advance
from integrations.sms_texts import SmsEvent
from ketlogistic.core.roles import Role
from orders.intake import orders_create_many
from tests.factories import ProductFactory, order_row
from tests.isolation import assert_hidden, assert_isolated

pytestmark = pytest.mark.django_db

E = SmsEvent
OWN_TEXT = "Секретный текст А: {first_name}, заказ {order_number} у нас."


def form_data(**overrides) -> dict:
    data = {"language": "ru", "texts_language": "ru", **{f"on_{event}": "on" for event in E.values}}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_the_partner_admin_switches_events_chooses_the_language_and_writes_its_text(client_a, partner_a):
    response = client_a.post(
        reverse("integrations:sms"),
        form_data(on_thanks=None, text_in_city=OWN_TEXT, language="kk", texts_language="ru"),
    )

    assert response.status_code == 302
    chosen = SmsSettings.objects.get(partner=partner_a)
    assert (chosen.language, chosen.disabled_events) == ("kk", [E.THANKS])
    assert list(SmsTemplate.objects.filter(partner=partner_a).values_list("event", "language", "text")) == [
        (E.IN_CITY, "ru", OWN_TEXT)
    ]


def test_a_text_equal_to_the_default_or_empty_keeps_no_own_text(client_a, partner_a):
    client_a.post(reverse("integrations:sms"), form_data(text_in_city=OWN_TEXT))

    client_a.post(reverse("integrations:sms"), form_data(text_in_city=""))

    assert not SmsTemplate.objects.filter(partner=partner_a).exists()


def test_unknown_placeholders_are_refused_naming_them_and_nothing_is_saved(client_a, partner_a):
    response = client_a.post(
        reverse("integrations:sms"),
        form_data(text_in_city="Здравствуйте, {имя}! Заказ {order_number} {name}"),
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "{имя}, {name}" in body
    assert not SmsTemplate.objects.filter(partner=partner_a).exists()
    assert not SmsSettings.objects.filter(partner=partner_a).exists()


def test_the_page_shows_each_text_s_length_and_parts(client_a, partner_a):
    SmsTemplate.objects.create(
        partner=partner_a, event=E.IN_CITY, language="ru", text="{first_name}: " + "я" * 60
    )
    SmsTemplate.objects.create(partner=partner_a, event=E.THANKS, language="ru", text="Thanks, {first_name}!")

    response = client_a.get(reverse("integrations:sms"))

    events = {item.event: item for item in response.context["editor"]["events"]}
    assert (events[E.IN_CITY].length.units, events[E.IN_CITY].length.parts) == (69, 1)  # «Айгерим: » + 60
    assert (events[E.THANKS].length.encoding, events[E.THANKS].length.units) == ("ucs2", 16)
    body = response.content.decode()
    assert "<b data-chars>69</b>" in body and "<b data-parts>1</b>" in body
    assert 'src="/static/js/sms.js"' in body


def test_partner_staff_read_the_settings_and_cannot_change_them(partner_a, make_user, login):
    staff = login(make_user(Role.PARTNER_STAFF, partner=partner_a))

    page = staff.get(reverse("integrations:sms"))
    refused = staff.post(reverse("integrations:sms"), form_data(on_thanks=None))

    assert page.status_code == 200 and page.context["editable"] is False
    assert 'data-testid="sms-events"' in page.content.decode()
    assert refused.status_code == 403
    assert not SmsSettings.objects.filter(partner=partner_a).exists()


def test_our_staff_read_a_partner_s_settings_by_its_id(partner_a, head, make_user, login):
    for user in (head, make_user(Role.ADMINISTRATOR)):
        client = login(user)
        url = reverse("integrations:partner_sms", args=[partner_a.pk])

        assert client.get(url).status_code == 200
        assert client.post(url, form_data(on_thanks=None)).status_code == 403
    assert not SmsSettings.objects.filter(partner=partner_a).exists()


def test_partner_b_never_sees_nor_changes_a_s_texts_and_messages(
    client_a, client_b, partner_a, partner_b, calling_order, at_tuesday_10
):
    SmsTemplate.objects.create(partner=partner_a, event=E.IN_CITY, language="ru", text=OWN_TEXT)
    order = calling_order(external_id="A-SMS-SECRET")
    url = reverse("integrations:partner_sms", args=[partner_a.pk])

    assert_isolated(owner=client_a, intruder=client_b, url=url, leaks=["Секретный текст А", "A-SMS-SECRET"])
    assert_hidden(client_b, url, method="post", data=form_data(text_in_city="Чужой текст"))
    own = client_b.get(reverse("integrations:sms"))

    assert own.status_code == 200
    body = own.content.decode()
    assert "Секретный текст А" not in body and "A-SMS-SECRET" not in body
    assert list(SmsTemplate.objects.filter(partner__isnull=False).values_list("partner_id", "text")) == [
        (partner_a.pk, OWN_TEXT)
    ]
    assert SmsMessage.objects.filter(order=order).count() == 1
    assert_hidden(client_b, reverse("orders:detail", args=[order.pk]), leaks=["A-SMS-SECRET"])


def test_the_order_timeline_lists_its_sms_with_the_masked_number(client_a, calling_order, at_tuesday_10):
    order = calling_order()

    response = client_a.get(reverse("orders:detail", args=[order.pk]))

    [entry] = [entry for entry in response.context["timeline"] if entry.kind == "sms"]
    assert entry.extra == {"sms_state": "queued", "sms_event": "in_city"}
    assert "+7 *** *** 45 67" in entry.details
    assert "7011234567" not in response.content.decode().replace(" ", "")
    assert 'data-testid="timeline"' in response.content.decode()


def test_the_sandbox_log_lists_the_test_orders_sms(client_a, partner_a, user_a, at_tuesday_10):
    ProductFactory(partner=partner_a, sku="A-1", is_test=True)
    [created] = orders_create_many(
        partner=partner_a,
        rows=[order_row(external_id="SBX-LOG-1")],
        actor=None,
        source="sandbox",
        is_test=True,
    )
    sandbox_advance(actor=user_a, order=sandbox_advance(actor=user_a, order=created.order))

    live = client_a.get(reverse("integrations:sms"))
    log = client_a.get(reverse("integrations:sms") + "?log=sandbox")

    assert "SBX-LOG-1" not in live.content.decode()
    assert [m.order.external_id for m in log.context["page"]] == ["SBX-LOG-1"]
    assert "SBX-LOG-1" in log.content.decode()
