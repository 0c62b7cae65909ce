"""SMS to customers (issue 19): each step of an order's life writes its SMS once, in the change's own transaction;
the rules of sending (quiet hours in the customer's zone, do not contact, cancelled before work, the sandbox); the
texts (placeholders, languages, parts)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction

from callcenter import services as calls
from callcenter.models import Outcome
from delivery import post
from delivery import services as delivery
from delivery.models import CourierDay, DeliveryStop, StopOutcome
from delivery.tracking_links import link_token
from integrations import sms
from integrations.models import SmsMessage, SmsSettings, SmsTemplate
from integrations.sandbox import sandbox_advance
from integrations.sms_quiet_hours import held_until
from integrations.sms_texts import (
    DEFAULT_TEXTS,
    SmsEvent,
    fill,
    first_name,
    measure,
    order_values,
    sum_text,
    unknown_placeholders,
)
from ketlogistic.core.roles import Role
from orders import workflow
from orders.intake import orders_create_many
from orders.models import Order
from orders.services import customer_mark_set, order_send
from tests.clock import ALMATY
from tests.delivery import conftest as delivery_day
from tests.factories import ProductFactory, make_order, order_row

pytestmark = pytest.mark.django_db

# the delivery day's fixtures (an agreed order, the registry, Almaty's couriers)
agreed = delivery_day.agreed
almaty = delivery_day.almaty
courier_admin = delivery_day.courier_admin
couriers = delivery_day.couriers
registry = delivery_day.registry
WEDNESDAY = delivery_day.WEDNESDAY

BISHKEK = ZoneInfo("Asia/Bishkek")
E = SmsEvent
State = SmsMessage.State


def messages(order) -> list[tuple[str, str]]:
    return list(SmsMessage.objects.filter(order=order).order_by("id").values_list("event", "state"))


@pytest.fixture
def keeper(make_user):
    return make_user(Role.WAREHOUSE, scopes=[{"country": "KZ"}])


@pytest.fixture
def on_route(agreed, registry, almaty, couriers, courier_admin):
    def make(**overrides):
        order = agreed(**overrides)
        registry()
        delivery.stops_assign(
            actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )
        delivery.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
        return DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)

    return make


@pytest.fixture
def post_order(partner_a, product_a, head, logist, at_tuesday_10):
    def make():
        order = make_order(partner_a, product=product_a, delivery_kind="post", city="Шымкент")
        order_send(order=order, actor=head)
        calls.call_dial(actor=logist, order=order)
        calls.call_outcome(
            actor=logist,
            order=order,
            outcome=Outcome.AGREED,
            agreed_date=date(2026, 11, 25),
            address_confirmed=True,
            sum_confirmed=True,
            goods_confirmed=True,
        )
        return Order.objects.get(pk=order.pk)

    return make


# -- each event, once ----------------------------------------------------------------------------------------------


def test_goods_in_the_city_write_one_sms_queued_now(calling_order, at_tuesday_10):
    order = calling_order()

    [message] = SmsMessage.objects.filter(order=order)

    assert (message.event, message.state, message.is_test) == (E.IN_CITY, State.QUEUED, False)
    assert message.partner_id == order.partner_id
    assert message.text == (
        f"Айгерим, ваш заказ {order.external_id} (Партнёр А) уже в вашем городе. Мы позвоним, чтобы согласовать "
        f"доставку. http://127.0.0.1:8000/t/{link_token(order)}/"
    )
    assert (message.encoding, message.segments) == ("ucs2", 3)  # two parts without the link
    assert message.phone_masked == "+7 *** *** 45 67"
    assert message.next_attempt_at == message.created_at == datetime(2026, 11, 24, 10, 0, tzinfo=ALMATY)


def test_the_reaction_heard_twice_writes_one_sms(calling_order, at_tuesday_10):
    """A replayed status change (a redelivered task, the reaction run again) inserts nothing the second time."""
    order = calling_order()
    moved = workflow.OrderMoved(
        order=Order.objects.select_related("city", "partner").get(pk=order.pk),
        transition=workflow.TRANSITIONS["start_calling"],
        context=workflow.Context(actor=None, source="task"),
        from_status="sent",
    )

    sms.on_order_moved(moved)
    sms.on_order_moved(moved)

    assert messages(order) == [(E.IN_CITY, State.QUEUED)]


def test_an_agreed_delivery_tells_the_date_the_address_and_the_sum(agreed):
    order = agreed()

    message = SmsMessage.objects.get(order=order, event=E.DELIVERY_AGREED)

    assert message.text == (
        f"Айгерим, доставка заказа {order.external_id} (Партнёр А) назначена на 25.11.2026. "
        f"Адрес: ул. Абая, 10, кв. 5. Приготовьте 10 000 тг. http://127.0.0.1:8000/t/{link_token(order)}/"
    )
    assert [event for event, _state in messages(order)] == [E.IN_CITY, E.DELIVERY_AGREED]


def test_the_courier_setting_off_sends_on_the_way_once(on_route, courier_admin, couriers):
    stop = on_route()
    day = CourierDay.objects.get(courier=couriers[0])

    delivery.goods_hand_over(actor=courier_admin, day=day)  # pressed again: nothing more to hand over

    assert [event for event, _state in messages(stop.order)] == [E.IN_CITY, E.DELIVERY_AGREED, E.ON_THE_WAY]
    assert "курьер привезёт ваш заказ" in SmsMessage.objects.get(order=stop.order, event=E.ON_THE_WAY).text


def test_a_paid_delivery_thanks_with_the_hotline(on_route, couriers):
    stop = on_route()

    delivery.stop_paid(actor=couriers[0], stop=stop, collected="10000", token="tap-1")

    message = SmsMessage.objects.get(order=stop.order, event=E.THANKS)
    assert message.text == (
        f"Айгерим, спасибо за покупку в Партнёр А! Вопросы по заказу {stop.order.external_id}: 8 800 080 47 47"
    )


def test_a_post_parcel_sends_when_shipped_and_when_at_the_post_office(post_order, keeper):
    order = post_order()
    number = post.make_tracking_number(1001)

    shipment = post.post_ship(actor=keeper, order=order, tracking_number=number)
    post.post_ship(actor=keeper, order=order, tracking_number=number)  # a resubmit
    post.post_status(actor=keeper, shipment=shipment, status="arrived", note="ОПС 160000")
    post.post_status(actor=keeper, shipment=shipment, status="arrived")  # the same report again

    assert [event for event, _state in messages(order)] == [E.DELIVERY_AGREED, E.POST_SHIPPED, E.POST_ARRIVED]
    shipped = SmsMessage.objects.get(order=order, event=E.POST_SHIPPED)
    arrived = SmsMessage.objects.get(order=order, event=E.POST_ARRIVED)
    assert f"Трек-номер {number}" in shipped.text
    assert f"почтовом отделении: ОПС 160000. Трек {number}. К оплате 10 000 тг" in arrived.text


def test_a_post_order_has_no_goods_in_the_city_sms(post_order):
    assert not SmsMessage.objects.filter(order=post_order(), event=E.IN_CITY).exists()


def test_could_not_reach_is_sent_once_per_order_not_per_call(calling_order, logist, at_tuesday_10):
    order = calling_order()

    for hours in (0, 4):
        at_tuesday_10.move_to(datetime(2026, 11, 24, 10 + hours, 0, tzinfo=ALMATY))
        calls.call_dial(actor=logist, order=order)
        calls.call_outcome(actor=logist, order=order, outcome=Outcome.NO_ANSWER)

    message = SmsMessage.objects.get(order=order, event=E.NOT_REACHED)
    assert message.text == (
        f"Айгерим, мы не дозвонились до вас по заказу {order.external_id} (Партнёр А). "
        "Перезвоните нам: 8 800 080 47 47"
    )


def test_a_wrong_number_gets_no_sms(calling_order, logist):
    order = calling_order()

    calls.call_dial(actor=logist, order=order)
    calls.call_outcome(actor=logist, order=order, outcome=Outcome.WRONG_NUMBER)

    assert not SmsMessage.objects.filter(order=order, event=E.NOT_REACHED).exists()


def test_a_refusal_sends_the_cancellation_and_stops_what_waits(calling_order, logist, at_tuesday_10):
    """«Звонки и смс прекратятся»: the messages still waiting are cancelled, only the closing one goes."""
    order = calling_order()
    at_tuesday_10.move_to(datetime(2026, 11, 24, 22, 0, tzinfo=ALMATY))
    calls.call_dial(actor=logist, order=order)
    calls.call_outcome(actor=logist, order=order, outcome=Outcome.NO_ANSWER)  # held until the morning
    assert SmsMessage.objects.get(order=order, event=E.NOT_REACHED).state == State.HELD

    calls.call_dial(actor=logist, order=order)
    calls.call_outcome(actor=logist, order=order, outcome=Outcome.REFUSED, reason="передумал")

    assert messages(order) == [
        (E.IN_CITY, State.CANCELLED),  # never sent (no sweep ran in this test): too late now
        (E.NOT_REACHED, State.CANCELLED),
        (E.CANCELLED, State.HELD),
    ]


def test_an_order_cancelled_before_work_sends_nothing(partner_a, product_a, user_a):
    order = make_order(partner_a, product=product_a)

    workflow.perform(order, action="cancel", actor=user_a, source="cabinet")

    assert messages(order) == []


def test_a_refusal_without_any_call_sends_no_cancellation(calling_order, logist):
    """The customer phoned us to refuse before we ever called: the order never had work started, nothing to
    close in words."""
    order = calling_order()

    calls.call_outcome(actor=logist, order=order, outcome=Outcome.REFUSED, reason="передумал")

    assert Order.objects.get(pk=order.pk).status == "refused"
    assert [event for event, _state in messages(order)] == [E.IN_CITY]


def test_a_change_rolled_back_writes_no_sms(partner_a, product_a, head, at_tuesday_10):
    order = make_order(partner_a, product=product_a)

    with pytest.raises(RuntimeError), transaction.atomic():
        order_send(order=order, actor=head)
        assert messages(order) == [(E.IN_CITY, State.QUEUED)]  # written inside the change
        raise RuntimeError("the change fails after its SMS was written")

    assert messages(order) == []
    assert Order.objects.get(pk=order.pk).status == "to_send"


def test_a_do_not_contact_customer_gets_nothing(partner_a, product_a, head, make_user, at_tuesday_10):
    order = make_order(partner_a, product=product_a)
    supervisor = make_user(Role.SUPERVISOR)
    customer_mark_set(actor=supervisor, order=order, do_not_contact=True, reason="просил не писать")

    order_send(order=order, actor=head)

    assert Order.objects.get(pk=order.pk).status == "calling"
    assert messages(order) == []


def test_an_event_the_partner_switched_off_sends_nothing(partner_a, calling_order, at_tuesday_10):
    SmsSettings.objects.create(partner=partner_a, disabled_events=[E.IN_CITY])

    order = calling_order()

    assert messages(order) == []


def test_a_test_order_is_recorded_for_the_sandbox_and_never_queued(partner_a, user_a, at_tuesday_10):
    ProductFactory(partner=partner_a, sku="A-1", is_test=True)
    [created] = orders_create_many(
        partner=partner_a, rows=[order_row(external_id="SBX-1")], actor=None, source="sandbox", is_test=True
    )
    order = created.order

    for _step in range(3):  # sent, calling, delivery agreed
        order = sandbox_advance(actor=user_a, order=order)

    assert messages(order) == [(E.IN_CITY, State.SENT), (E.DELIVERY_AGREED, State.SENT)]
    assert set(SmsMessage.objects.filter(order=order).values_list("is_test", "gateway")) == {
        (True, "sandbox")
    }


# -- quiet hours -----------------------------------------------------------------------------------------------------


def test_quiet_hours_hold_until_nine_in_the_morning_in_kazakhstan(partner_a, product_a, head):
    order = make_order(partner_a, product=product_a)
    with time_machine.travel(datetime(2026, 11, 24, 22, 30, tzinfo=ALMATY), tick=False):
        order_send(order=order, actor=head)

    message = SmsMessage.objects.get(order=order)
    assert message.state == State.HELD
    assert message.next_attempt_at == datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY)
    assert message.next_attempt_at == datetime(2026, 11, 25, 4, 0, tzinfo=ZoneInfo("UTC"))  # UTC+5


def test_quiet_hours_hold_until_nine_in_the_morning_in_kyrgyzstan(partner_kg, make_user):
    head_kg = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_kg, "country": "KG"}])
    order = make_order(partner_kg)
    with time_machine.travel(datetime(2026, 11, 25, 6, 30, tzinfo=BISHKEK), tick=False):
        order_send(order=order, actor=head_kg)

    message = SmsMessage.objects.get(order=order)
    assert message.state == State.HELD
    assert message.next_attempt_at == datetime(2026, 11, 25, 9, 0, tzinfo=BISHKEK)
    assert message.next_attempt_at == datetime(2026, 11, 25, 3, 0, tzinfo=ZoneInfo("UTC"))  # UTC+6


@pytest.mark.parametrize(
    ("local", "until"),
    [
        (datetime(2026, 11, 24, 20, 59), None),
        (datetime(2026, 11, 24, 21, 0), datetime(2026, 11, 25, 9, 0)),
        (datetime(2026, 11, 25, 0, 10), datetime(2026, 11, 25, 9, 0)),
        (datetime(2026, 11, 25, 8, 59), datetime(2026, 11, 25, 9, 0)),
        (datetime(2026, 11, 25, 9, 0), None),
    ],
)
def test_the_quiet_hours_run_from_21_00_to_09_00_local(local, until):
    for zone in (ALMATY, BISHKEK):
        found = held_until(country="KZ", zone=zone.key, now=local.replace(tzinfo=zone))
        assert found == (until.replace(tzinfo=zone) if until else None)


def test_quiet_hours_are_configured_per_country(settings):
    settings.SMS_QUIET_HOURS = {"KZ": "22:00-08:00", "KG": "off"}
    late = datetime(2026, 11, 24, 21, 30, tzinfo=ALMATY)

    assert held_until(country="KZ", zone="Asia/Almaty", now=late) is None
    assert held_until(country="KZ", zone="Asia/Almaty", now=late + timedelta(hours=1)) == datetime(
        2026, 11, 25, 8, 0, tzinfo=ALMATY
    )
    assert held_until(country="KG", zone="Asia/Bishkek", now=late + timedelta(hours=2)) is None


# -- texts -----------------------------------------------------------------------------------------------------------


def shape(text: str) -> tuple[str, int, int]:
    length = measure(text)
    return length.encoding, length.units, length.parts


def test_segments_gsm7_160_153_and_ucs2_70_67():
    assert shape("a" * 160) == ("gsm7", 160, 1)
    assert shape("a" * 161) == ("gsm7", 161, 2)
    assert shape("a" * 306) == ("gsm7", 306, 2)
    assert shape("a" * 307) == ("gsm7", 307, 3)
    assert shape("€" * 80) == ("gsm7", 160, 1)  # an extension character takes two places
    assert shape("€" * 81) == ("gsm7", 162, 2)
    assert shape("я" * 70) == ("ucs2", 70, 1)
    assert shape("я" * 71) == ("ucs2", 71, 2)
    assert shape("я" * 134) == ("ucs2", 134, 2)
    assert shape("я" * 135) == ("ucs2", 135, 3)
    assert shape("Hello, Айгерим")[0] == "ucs2"  # one Cyrillic letter makes the whole text UCS-2
    assert shape("🙂" * 35) == ("ucs2", 70, 1)  # beyond the BMP: two UTF-16 units each
    assert shape("") == ("gsm7", 0, 0)


def test_unknown_placeholders_are_named_as_written():
    assert unknown_placeholders("{first_name}, {имя} {first name} {} {sum}") == [
        "{имя}",
        "{first name}",
        "{}",
    ]
    assert unknown_placeholders("Заказ {order_number}: {link}") == []


def test_rendering_fills_only_our_placeholders_and_tidies_an_empty_link():
    text = fill("{first_name}, заказ {order_number} {link}. {unknown} {link}", {"first_name": "{sum}"})

    assert text == "{sum}, заказ. {unknown}"


def test_a_text_never_carries_a_phone_from_an_address_or_a_name(partner_a, product_a):
    order = make_order(
        partner_a,
        product=product_a,
        customer_name="Айгерим 87011112233",
        address="ул. Абая, 10, звонить +7 701 111 22 33",
    )

    values = order_values(order)

    assert "7011112233" not in values["address"].replace(" ", "")
    assert "[phone]" in values["address"]
    assert values["first_name"] == "Айгерим"
    assert values["partner"] == "Партнёр А"  # the order's own partner, never another


@pytest.mark.parametrize(
    ("written", "name"),
    [
        ("Айгерим Сапарова", "Айгерим"),
        ("Сапарова Айгерим", "Айгерим"),
        ("Иванов Иван Иванович", "Иван"),
        ("Нурлан Абенов Серикулы", "Абенов"),  # three words without a patronymic ending: read as written
        ("Асель", "Асель"),
        ("", ""),
    ],
)
def test_the_customers_first_name(written, name):
    assert first_name(written) == name


def test_sums_read_as_an_sms_can_carry_them():
    from decimal import Decimal

    assert sum_text(Decimal("15000"), "KZT") == "15 000 тг"
    assert sum_text(Decimal("1250.5"), "KGS") == "1 250,50 сом"


def test_every_default_text_exists_in_three_languages_with_known_placeholders_and_fits_three_parts():
    # a link as long as production's would be: https://office.ketlogistic.kz/t/ + the token's 20 characters + /
    link = "https://office.ketlogistic.kz/t/" + "x" * 20 + "/"
    for language, texts in DEFAULT_TEXTS.items():
        assert set(texts) == set(SmsEvent.values), language
        for event, text in texts.items():
            assert unknown_placeholders(text) == [], (language, event)
            rendered = fill(
                text,
                {
                    "first_name": "Айгерим",
                    "order_number": "100234",
                    "partner": "Алем Трейд",
                    "date": "12.12.2026",
                    "sum": "15 000 тг",
                    "address": "ул. Абая, 10, кв. 5",
                    "tracking": "RR123456785KZ",
                    "post_office": "Алматы",
                    "hotline": "8 800 080 47 47",
                    "link": link,
                },
            )
            assert measure(rendered).parts <= 3, (language, event, rendered)


def test_the_partner_s_own_text_and_language_are_used(partner_a, calling_order, at_tuesday_10):
    SmsSettings.objects.create(partner=partner_a, language="kk")
    SmsTemplate.objects.create(partner=partner_a, event=E.IN_CITY, language="kk", text="Сәлем, {first_name}!")

    order = calling_order()

    message = SmsMessage.objects.get(order=order)
    assert (message.language, message.text) == ("kk", "Сәлем, Айгерим!")


def test_the_company_default_row_edited_in_the_admin_is_used(calling_order, at_tuesday_10):
    SmsTemplate.objects.filter(partner=None, event=E.IN_CITY, language="ru").update(
        text="Заказ {order_number}"
    )

    order = calling_order()

    assert SmsMessage.objects.get(order=order).text == f"Заказ {order.external_id}"


def test_quiet_hours_that_do_not_read_are_reported_at_startup(settings):
    from integrations.models import sms_settings_read

    settings.SMS_QUIET_HOURS = {"KZ": "21:00-09:00", "KG": "21-9"}

    assert [error.id for error in sms_settings_read()] == ["integrations.E301"]


def test_the_admin_refuses_a_default_text_with_an_unknown_placeholder():
    from integrations.admin import SmsTemplateForm

    form = SmsTemplateForm({"event": E.THANKS, "language": "ru", "text": "Спасибо, {имя}!"})

    assert not form.is_valid()
    assert "{имя}" in str(form.errors["text"])


def test_every_reaction_heard_twice_writes_one_sms_of_its_event(calling_order, logist, at_tuesday_10):
    """Each event's reaction run twice (a replayed change, a redelivered task) leaves one SMS of that event."""
    from callcenter.events import CallAttempted
    from callcenter.models import CallAttempt
    from delivery.events import PostParcelArrived
    from delivery.models import PostShipment

    order = calling_order()
    calls.call_dial(actor=logist, order=order)  # work started: a closing SMS is due too
    order = Order.objects.select_related("city", "partner").get(pk=order.pk)
    context = workflow.Context(actor=None, source="task", data={"tracking_number": "RR123456785KZ"})
    for action in sms.MOVE_EVENTS:
        moved = workflow.OrderMoved(
            order=order, transition=workflow.TRANSITIONS[action], context=context, from_status="calling"
        )
        sms.on_order_moved(moved)
        sms.on_order_moved(moved)
    unanswered = CallAttempted(
        attempt=CallAttempt(order=order, partner_id=order.partner_id, outcome="no_answer")
    )
    sms.on_call_attempt(unanswered)
    sms.on_call_attempt(unanswered)
    arrived = PostParcelArrived(
        shipment=PostShipment(order=order, tracking_number="RR123456785KZ"), note="ОПС 1"
    )
    sms.on_post_arrived(arrived)
    sms.on_post_arrived(arrived)

    counts = {event: SmsMessage.objects.filter(order=order, event=event).count() for event in E.values}
    assert counts == dict.fromkeys(E.values, 1)


@pytest.mark.django_db(transaction=True)
def test_the_same_sms_written_by_two_transactions_at_once_is_one_row(partner_a, product_a, head):
    """Two workers replaying one change at the same moment: the unique (order, event) lets one insert win, the
    other inserts nothing (no error, no second SMS)."""
    from tests.concurrency import run_in_parallel

    with time_machine.travel(datetime(2026, 11, 24, 10, 0, tzinfo=ALMATY), tick=True):
        order = make_order(partner_a, product=product_a)
        order_send(order=order, actor=head)
        SmsMessage.objects.filter(order=order).delete()

        def write(_index):
            with transaction.atomic():
                locked = Order.objects.select_related("city", "partner").get(pk=order.pk)
                return sms.sms_enqueue(order=locked, event=E.IN_CITY) is not None

        results = run_in_parallel(write, 2)

    assert sorted(results) == [False, True]
    assert SmsMessage.objects.filter(order=order, event=E.IN_CITY).count() == 1
