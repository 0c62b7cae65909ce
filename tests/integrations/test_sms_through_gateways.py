"""An order's whole life through the real gateways (issue 19: «each event sends exactly once through each gateway
double»): the outbox's SMS swept through `gateway_from_settings()` to the local SMSC (SMPP 3.4, `tests/smpp_double.py`)
and to the local Mobizon (`tests/mobizon_double.py`), each text once to the customer's number, and the delivery
reports (pushed by the SMSC to the receiver, asked of Mobizon) recorded on the messages."""

import threading
import time

import pytest

from callcenter import services as calls
from callcenter.models import Outcome
from delivery import services as delivery
from delivery.models import CourierDay, DeliveryStop, StopOutcome
from integrations import sms
from integrations.models import SmsMessage
from integrations.sms_gateways import SmppConfig, SmppReceiver
from tests.delivery import conftest as delivery_day
from tests.mobizon_double import MobizonDouble
from tests.smpp_double import SmppDouble

pytestmark = pytest.mark.django_db

almaty = delivery_day.almaty
courier_admin = delivery_day.courier_admin
couriers = delivery_day.couriers
registry = delivery_day.registry

PASSWORD = "smsc-pw"  # SMPP 3.4: a password is at most 8 characters
NUMBER = "77011234567"  # the factories' +7 701 123 45 67, as a gateway is given it
State = SmsMessage.State


def an_order_s_life(calling_order, logist, registry, almaty, couriers, courier_admin):
    """Goods in the city, then agreed (Tuesday), with the courier and paid (Wednesday morning), swept after each
    step (an SMS whose step the order passed before it went out is not sent at all)."""
    order = calling_order()
    assert sms.sms_send_due() == 1
    calls.call_dial(actor=logist, order=order)
    calls.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=delivery_day.WEDNESDAY,
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )
    assert sms.sms_send_due() == 1
    registry()
    delivery.stops_assign(
        actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=delivery_day.WEDNESDAY
    )
    delivery.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
    stop = DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)
    assert sms.sms_send_due() == 1
    delivery.stop_paid(actor=couriers[0], stop=stop, collected="10000", token="paid-1")
    assert sms.sms_send_due() == 1
    assert sms.sms_send_due() == 0  # nothing twice
    return order


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.02)


def test_each_sms_of_an_order_s_life_goes_once_through_smpp_and_its_receipts_are_recorded(
    settings, at_tuesday_10, calling_order, logist, registry, almaty, couriers, courier_admin
):
    with SmppDouble(password=PASSWORD) as smsc:
        settings.SMS_GATEWAY = "smpp"
        settings.SMPP_HOST, settings.SMPP_PORT = smsc.host, smsc.port
        settings.SMPP_SYSTEM_ID, settings.SMPP_PASSWORD = "ketlogistic", PASSWORD
        settings.SMPP_SOURCE_ADDR, settings.SMPP_TIMEOUT = "KetLogistic", 3

        order = an_order_s_life(calling_order, logist, registry, almaty, couriers, courier_admin)

        messages = list(SmsMessage.objects.filter(order=order).order_by("id"))
        assert [(m.event, m.state, m.gateway) for m in messages] == [
            ("in_city", State.SENT, "smpp"),
            ("delivery_agreed", State.SENT, "smpp"),
            ("on_the_way", State.SENT, "smpp"),
            ("thanks", State.SENT, "smpp"),
        ]
        assert [(m["destination"], m["text"]) for m in smsc.messages] == [(NUMBER, m.text) for m in messages]
        assert [m["message_id"] for m in smsc.messages] == [m.gateway_id for m in messages]

        # the receipts the SMSC pushes, through the receiver, recorded by the outbox
        received, lock = [], threading.Lock()

        def collect(receipts):
            with lock:
                received.extend(receipts)

        parts = sum(
            m["parts"] for m in smsc.messages
        )  # a receipt per part: a long text's first part names it
        stop = threading.Event()
        receiver = SmppReceiver(SmppConfig.from_settings(), collect, batch_seconds=0.05)
        thread = threading.Thread(target=receiver.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: len(received) == parts)
        finally:
            stop.set()
            thread.join(10)

    recorded = sms.sms_receipts_record(receipts=received)

    # UCS-2: the goods in the city and the agreed delivery carry the tracking link (three parts), the courier's day
    # its link in two, the thanks no link
    assert parts == 10
    assert (recorded.updated, recorded.unknown) == (4, 6)  # the later parts' receipts name no message
    assert set(SmsMessage.objects.filter(order=order).values_list("state", flat=True)) == {State.DELIVERED}


def test_each_sms_of_an_order_s_life_goes_once_through_mobizon_and_its_statuses_are_asked(
    settings, at_tuesday_10, calling_order, logist, registry, almaty, couriers, courier_admin
):
    with MobizonDouble() as mobizon:
        settings.SMS_GATEWAY = "mobizon"
        settings.MOBIZON_URL, settings.MOBIZON_API_KEY = mobizon.url, mobizon.api_key
        settings.MOBIZON_SENDER = "KetLogistic"

        order = an_order_s_life(calling_order, logist, registry, almaty, couriers, courier_admin)

        messages = list(SmsMessage.objects.filter(order=order).order_by("id"))
        assert [(m.event, m.state, m.gateway) for m in messages] == [
            ("in_city", State.SENT, "mobizon"),
            ("delivery_agreed", State.SENT, "mobizon"),
            ("on_the_way", State.SENT, "mobizon"),
            ("thanks", State.SENT, "mobizon"),
        ]
        sent = [mobizon.messages[m.gateway_id] for m in messages]
        assert [(m["recipient"], m["text"]) for m in sent] == [(NUMBER, m.text) for m in messages]

        for message in messages[:3]:
            mobizon.set_status(message.gateway_id, "DELIVRD")
        mobizon.set_status(messages[3].gateway_id, "UNDELIV")
        assert sms.sms_poll_statuses() == 4

    assert list(SmsMessage.objects.filter(order=order).order_by("id").values_list("state", flat=True)) == [
        State.DELIVERED,
        State.DELIVERED,
        State.DELIVERED,
        State.UNDELIVERABLE,
    ]
