"""The SMS sweep (issue 19): due messages claimed and sent through the gateway once, the phone decrypted only then
and never logged; passing failures retried with back-off, refusals failed; night holds; delivery reports recorded
idempotently; two sweeps at once send each message once (real PostgreSQL, two threads)."""

import logging
import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from integrations import sms
from integrations.models import SmsEarlyReceipt, SmsMessage
from integrations.sms_gateways import LogGateway, OutgoingSms, Receipt, Submitted, gateway_from_settings
from ketlogistic.core.roles import Role
from orders.services import customer_mark_set, order_send
from tests.clock import ALMATY, TUESDAY_10
from tests.concurrency import run_in_parallel
from tests.delivery import conftest as delivery_day
from tests.factories import make_order

pytestmark = pytest.mark.django_db

agreed = delivery_day.agreed

State = SmsMessage.State
PHONE_DIGITS = "77011234567"  # the factories' +7 701 123 45 67


class GatewayDouble:
    """A gateway that answers as the test scripts it: `answers[id]` is a list of `Submitted` kwargs used one per
    send (accepted with an id of its own by default); `failure` raised instead of answering; `statuses` the reports
    `poll` returns. Thread-safe: two sweeps may share it."""

    name = "double"

    def __init__(self, *, answers=None, failure=None, statuses=None):
        self.answers = answers or {}
        self.failure = failure
        self.statuses = statuses or {}
        self.sent: list[OutgoingSms] = []
        self.polled: list[list[str]] = []
        self.lock = threading.Lock()

    def send(self, batch):
        with self.lock:
            self.sent.extend(batch)
        if self.failure is not None:
            raise self.failure
        answers = []
        for sms_ in batch:
            scripted = self.answers.get(sms_.id) or []
            kwargs = scripted.pop(0) if scripted else {"gateway_id": f"gw-{sms_.id}"}
            if kwargs is not None:
                answers.append(Submitted(id=sms_.id, **kwargs))
        return answers

    def poll(self, gateway_ids):
        self.polled.append(list(gateway_ids))
        return [Receipt(gateway_id=i, status=self.statuses[i]) for i in gateway_ids if i in self.statuses]


@pytest.fixture
def queued(calling_order, at_tuesday_10):
    """`queued()`: an order in calling with its «goods in the city» SMS waiting (Tuesday 10:00 in Almaty)."""

    def make(**overrides):
        order = calling_order(**overrides)
        return SmsMessage.objects.get(order=order)

    return make


def test_a_due_message_goes_through_the_gateway_with_the_number_decrypted_now(queued):
    message = queued()
    gateway = GatewayDouble()

    sent = sms.sms_send_due(gateway=gateway)

    assert sent == 1
    assert gateway.sent == [OutgoingSms(id=message.pk, phone=PHONE_DIGITS, text=message.text)]
    message.refresh_from_db()
    assert (message.state, message.gateway, message.gateway_id, message.attempts) == (
        State.SENT,
        "double",
        f"gw-{message.pk}",
        1,
    )
    assert message.sent_at == TUESDAY_10
    assert (message.claim_token, message.claimed_until, message.error) == (None, None, "")


def test_a_second_sweep_sends_nothing_more(queued):
    queued()
    gateway = GatewayDouble()

    sms.sms_send_due(gateway=gateway)
    sms.sms_send_due(gateway=gateway)

    assert len(gateway.sent) == 1


def test_a_passing_failure_is_retried_later_with_back_off(queued, at_tuesday_10):
    message = queued()
    transient = {"error": "throttled", "transient": True}
    gateway = GatewayDouble(answers={message.pk: [transient, transient]})

    sms.sms_send_due(gateway=gateway)
    message.refresh_from_db()
    assert (message.state, message.attempts, message.error) == (State.QUEUED, 1, "throttled")
    assert message.next_attempt_at == TUESDAY_10 + timedelta(minutes=1)

    at_tuesday_10.move_to(TUESDAY_10 + timedelta(seconds=59))
    sms.sms_send_due(gateway=gateway)
    assert len(gateway.sent) == 1  # not due yet

    at_tuesday_10.move_to(TUESDAY_10 + timedelta(minutes=1))
    sms.sms_send_due(gateway=gateway)
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.QUEUED, 2)
    assert message.next_attempt_at == TUESDAY_10 + timedelta(minutes=3)  # then 2 minutes

    at_tuesday_10.move_to(TUESDAY_10 + timedelta(minutes=3))
    sms.sms_send_due(gateway=gateway)
    message.refresh_from_db()
    assert (message.state, message.attempts, message.error) == (State.SENT, 3, "")
    assert len(gateway.sent) == 3


def test_a_refusal_fails_the_message_for_good(queued, at_tuesday_10):
    message = queued()
    gateway = GatewayDouble(answers={message.pk: [{"error": "invalid destination", "transient": False}]})

    sms.sms_send_due(gateway=gateway)
    at_tuesday_10.move_to(TUESDAY_10 + timedelta(hours=2))
    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert (message.state, message.attempts, message.error) == (State.FAILED, 1, "invalid destination")
    assert len(gateway.sent) == 1


def test_a_gateway_that_fails_retries_the_whole_batch_and_says_no_number(queued):
    first, second = queued(), queued()
    gateway = GatewayDouble(
        failure=ConnectionError("connection to smsc lost while sending to +7 701 123 45 67")
    )

    assert sms.sms_send_due(gateway=gateway) == 0

    for message in (first, second):
        message.refresh_from_db()
        assert (message.state, message.attempts) == (State.QUEUED, 1)
        assert message.error == "connection to smsc lost while sending to [phone]"


def test_a_message_the_gateway_did_not_answer_for_is_tried_again(queued):
    message = queued()
    gateway = GatewayDouble(answers={message.pk: [None]})

    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.QUEUED, 1)
    assert message.shown_error == "The gateway gave no answer for this message."


def test_passing_failures_stop_after_a_day(queued, at_tuesday_10):
    message = queued()
    gateway = GatewayDouble(failure=TimeoutError("timed out"))

    at_tuesday_10.move_to(TUESDAY_10 + timedelta(hours=24))
    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert (message.state, message.error) == (State.FAILED, "timed out")


def test_a_message_held_at_night_goes_at_nine_in_the_morning(partner_a, product_a, head):
    order = make_order(partner_a, product=product_a)
    gateway = GatewayDouble()
    with time_machine.travel(datetime(2026, 11, 24, 23, 0, tzinfo=ALMATY), tick=False) as clock:
        order_send(order=order, actor=head)
        clock.move_to(datetime(2026, 11, 25, 8, 59, tzinfo=ALMATY))
        sms.sms_send_due(gateway=gateway)
        assert gateway.sent == []

        clock.move_to(datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY))
        sms.sms_send_due(gateway=gateway)

    assert [sms_.id for sms_ in gateway.sent] == [SmsMessage.objects.get(order=order).pk]
    assert SmsMessage.objects.get(order=order).state == State.SENT


def test_a_retry_that_falls_into_the_night_is_held_until_the_morning(queued, at_tuesday_10):
    message = queued()
    SmsMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=datetime(2026, 11, 24, 21, 0, tzinfo=ALMATY)
    )
    at_tuesday_10.move_to(datetime(2026, 11, 24, 21, 0, tzinfo=ALMATY))
    gateway = GatewayDouble()

    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert gateway.sent == []
    assert (message.state, message.next_attempt_at) == (
        State.HELD,
        datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY),
    )


def test_a_customer_marked_do_not_contact_after_the_sms_was_queued_gets_nothing(queued, make_user):
    message = queued()
    customer_mark_set(
        actor=make_user(Role.SUPERVISOR), order=message.order, do_not_contact=True, reason="просил не писать"
    )
    gateway = GatewayDouble()

    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert gateway.sent == []
    assert (message.state, message.shown_error) == (
        State.CANCELLED,
        "Not sent: the customer asked not to be contacted.",
    )


def test_sandbox_messages_never_reach_the_gateway(queued):
    message = queued()
    SmsMessage.objects.filter(pk=message.pk).update(is_test=True)  # as a test order's would be
    gateway = GatewayDouble()

    sms.sms_send_due(gateway=gateway)

    assert gateway.sent == []


def test_the_log_gateway_sends_and_logs_no_phone(queued, caplog, settings):
    """`SMS_GATEWAY=log` (development, the tests): every message accepted, its id in the log, never its number."""
    settings.SMS_GATEWAY = "log"
    messages = [queued(), queued(phone="+7 702 765 43 21")]
    assert isinstance(gateway_from_settings(), LogGateway)

    with caplog.at_level(logging.DEBUG):
        sent = sms.sms_send_due()

    assert sent == 2
    assert [SmsMessage.objects.get(pk=m.pk).state for m in messages] == [State.SENT, State.SENT]
    assert any(f"SMS {messages[0].pk} not sent (SMS_GATEWAY=log)" in r.getMessage() for r in caplog.records)
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    digits = "".join(ch for ch in logged if ch.isdigit())
    for number in ("7011234567", "7027654321"):
        assert number not in digits.replace(" ", "")
        assert number not in logged.replace(" ", "").replace("-", "")


# -- delivery reports -------------------------------------------------------------------------------------------------


def test_delivery_reports_update_statuses_once_and_count_the_unknown(queued, at_tuesday_10):
    first, second = queued(), queued()
    sms.sms_send_due(gateway=GatewayDouble())
    at = TUESDAY_10 + timedelta(minutes=2)
    reports = [
        Receipt(gateway_id=f"gw-{first.pk}", status="delivered", at=at),
        Receipt(gateway_id=f"gw-{second.pk}", status="undeliverable"),
        Receipt(gateway_id="gw-unknown", status="delivered"),
    ]

    recorded = sms.sms_receipts_record(receipts=reports)
    again = sms.sms_receipts_record(receipts=reports)
    late = sms.sms_receipts_record(receipts=[Receipt(gateway_id=f"gw-{first.pk}", status="expired")])

    assert (recorded.updated, recorded.unchanged, recorded.unknown) == (2, 0, 1)
    assert (again.updated, again.unchanged, again.unknown) == (0, 2, 1)
    assert (late.updated, late.unchanged, late.unknown) == (0, 1, 0)
    assert list(SmsEarlyReceipt.objects.values_list("gateway_id", "status")) == [("gw-unknown", "delivered")]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.delivered_at, first.reported_at) == (State.DELIVERED, at, TUESDAY_10)
    assert (second.state, second.delivered_at) == (State.UNDELIVERABLE, None)


def test_a_report_that_comes_before_the_sweep_recorded_its_id_is_applied_by_the_sweep(queued):
    """The SMSC rejects a number at once and the receiver records the report while the sweep is still submitting
    the batch: the report waits and is applied when the sweep records the gateway's ids."""
    message = queued()
    report = Receipt(gateway_id=f"gw-{message.pk}", status="undeliverable")

    class RacingGateway(GatewayDouble):
        def send(self, batch):
            answers = super().send(batch)
            early = sms.sms_receipts_record(
                receipts=[report]
            )  # the receiver, before the sweep records anything
            assert (early.updated, early.unknown) == (0, 1)
            return answers

    sms.sms_send_due(gateway=RacingGateway())

    message.refresh_from_db()
    assert (message.state, message.gateway_id) == (State.UNDELIVERABLE, f"gw-{message.pk}")
    assert not SmsEarlyReceipt.objects.exists()


def test_an_early_report_kept_a_moment_too_late_for_the_sweep_is_applied_by_the_next_poll(queued):
    message = queued()
    sms.sms_send_due(gateway=GatewayDouble())
    SmsEarlyReceipt.objects.create(gateway_id=f"gw-{message.pk}", status="delivered", received_at=TUESDAY_10)
    gateway = GatewayDouble()
    gateway.name = "smpp"

    assert sms.sms_poll_statuses(gateway=gateway) == 1

    assert SmsMessage.objects.get(pk=message.pk).state == State.DELIVERED
    assert not SmsEarlyReceipt.objects.exists()


def test_reports_for_ids_none_of_ours_are_forgotten_after_fifteen_minutes(at_tuesday_10, reference_data):
    """A long text's later parts are reported too, and name no message: they are kept only briefly."""
    sms.sms_receipts_record(receipts=[Receipt(gateway_id="a-second-part", status="delivered")])

    at_tuesday_10.move_to(TUESDAY_10 + timedelta(minutes=15))
    assert sms.sms_forget_early_receipts() == 0
    at_tuesday_10.move_to(TUESDAY_10 + timedelta(minutes=15, seconds=1))
    assert sms.sms_forget_early_receipts() == 1
    assert not SmsEarlyReceipt.objects.exists()


def test_an_http_gateway_is_asked_for_statuses_at_most_every_five_minutes(queued, at_tuesday_10):
    message = queued()
    gateway = GatewayDouble()
    sms.sms_send_due(gateway=gateway)
    gateway.statuses = {}

    assert sms.sms_poll_statuses(gateway=gateway) == 0
    assert sms.sms_poll_statuses(gateway=gateway) == 0  # asked a moment ago: not again
    at_tuesday_10.move_to(TUESDAY_10 + timedelta(minutes=5, seconds=1))
    gateway.statuses = {f"gw-{message.pk}": "delivered"}
    assert sms.sms_poll_statuses(gateway=gateway) == 1
    at_tuesday_10.move_to(TUESDAY_10 + timedelta(minutes=11))
    assert sms.sms_poll_statuses(gateway=gateway) == 0  # delivered: nothing to ask

    assert gateway.polled == [[f"gw-{message.pk}"], [f"gw-{message.pk}"]]
    assert SmsMessage.objects.get(pk=message.pk).state == State.DELIVERED


def test_smpp_is_not_polled(queued):
    queued()
    gateway = GatewayDouble()
    sms.sms_send_due(gateway=gateway)
    gateway.name = "smpp"

    assert sms.sms_poll_statuses(gateway=gateway) == 0
    assert gateway.polled == []


def test_the_texts_of_erased_orders_are_forgotten(queued):
    message = queued()
    order = message.order
    type(order).objects.filter(pk=order.pk).update(personal_data_erased_at=timezone.now())

    assert sms.sms_forget_erased_texts() == 1
    assert sms.sms_forget_erased_texts() == 0
    message.refresh_from_db()
    assert (message.text, message.phone_masked, message.event) == ("", "", "in_city")


# -- two sweeps at once ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_each_message_once(partner_a, product_a, head):
    with time_machine.travel(TUESDAY_10, tick=True):
        orders = [make_order(partner_a, product=product_a) for _ in range(12)]
        for order in orders:
            order_send(order=order, actor=head)
        ids = set(SmsMessage.objects.filter(order__in=orders).values_list("id", flat=True))
        assert len(ids) == 12
        gateway = GatewayDouble()

        results = run_in_parallel(lambda _index: sms.sms_send_due(gateway=gateway, limit=5), 2)

    assert sorted(sms_.id for sms_ in gateway.sent) == sorted(ids)  # each once, none twice
    assert sum(results) == 12
    assert set(SmsMessage.objects.filter(id__in=ids).values_list("state", flat=True)) == {State.SENT}


# -- a waiting SMS goes out only while it still tells the truth ----------------------------------------------------------


def test_an_sms_whose_step_the_order_passed_while_it_waited_is_not_sent(queued, logist, at_tuesday_10):
    """«Goods in the city, we will call» held (here: a gateway outage) until after the customer agreed a day is no
    longer news: the sweep cancels it instead of sending it."""
    from callcenter import services as calls
    from callcenter.models import Outcome

    message = queued()
    sms.sms_send_due(gateway=GatewayDouble(failure=TimeoutError("down")))
    order = message.order
    calls.call_dial(actor=logist, order=order)
    calls.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=datetime(2026, 11, 25).date(),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )
    at_tuesday_10.move_to(TUESDAY_10 + timedelta(hours=1))
    gateway = GatewayDouble()

    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert [sent.id for sent in gateway.sent] == [
        SmsMessage.objects.get(order=order, event="delivery_agreed").pk
    ]
    assert message.state == State.CANCELLED
    assert message.error == "Not sent: the order moved on before it could go out."


def test_a_courier_on_the_way_held_overnight_is_not_sent_the_next_morning(queued):
    message = queued()
    SmsMessage.objects.filter(pk=message.pk).update(
        event="on_the_way", created_at=datetime(2026, 11, 24, 21, 30, tzinfo=ALMATY)
    )
    from orders.models import Order

    Order.objects.filter(pk=message.order_id).update(status="with_courier")
    gateway = GatewayDouble()
    with time_machine.travel(datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY), tick=False):
        sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert gateway.sent == []
    assert (message.state, message.error) == (
        State.CANCELLED,
        "Not sent: the courier's day it announced is over.",
    )


def test_an_agreed_day_that_passed_while_the_sms_waited_is_not_announced(agreed, at_tuesday_10):
    """Delivery agreed for today at 14:00, the gateway down until the next morning: «delivery on Tuesday» is not sent
    on Wednesday."""
    at_tuesday_10.move_to(datetime(2026, 11, 24, 14, 0, tzinfo=ALMATY))
    down = GatewayDouble(failure=TimeoutError("down"))
    order = agreed(day=datetime(2026, 11, 24).date(), delivery_kind="same_day")
    sms.sms_send_due(gateway=down)
    message = SmsMessage.objects.get(order=order, event="delivery_agreed")
    gateway = GatewayDouble()

    at_tuesday_10.move_to(datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY))
    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert message.pk not in [sent.id for sent in gateway.sent]
    assert (message.state, message.error) == (State.CANCELLED, "Not sent: the agreed day has passed.")


def test_an_sms_that_could_not_go_out_within_a_day_is_not_sent_late(queued, at_tuesday_10):
    message = queued()
    at_tuesday_10.move_to(TUESDAY_10 + timedelta(hours=24, minutes=1))
    gateway = GatewayDouble()

    sms.sms_send_due(gateway=gateway)

    message.refresh_from_db()
    assert gateway.sent == []
    assert message.state == State.CANCELLED
    assert message.error == "Not sent: it could not go out within a day, and would no longer be news."


def test_a_thanks_held_overnight_still_goes_in_the_morning(queued):
    """A closing SMS stays true whatever follows: held at night, it goes at nine."""
    message = queued()
    from orders.models import Order

    Order.objects.filter(pk=message.order_id).update(status="paid")
    SmsMessage.objects.filter(pk=message.pk).update(
        event="thanks", created_at=datetime(2026, 11, 24, 21, 30, tzinfo=ALMATY)
    )
    gateway = GatewayDouble()
    with time_machine.travel(datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY), tick=False):
        sms.sms_send_due(gateway=gateway)

    assert [sent.id for sent in gateway.sent] == [message.pk]


def test_the_sms_of_a_move_is_written_at_the_move_s_time(calling_order, at_tuesday_10):
    """A move made for an earlier moment (the demo's order lives, a late-recorded outcome) writes its SMS then."""
    from orders import workflow

    order = calling_order()
    SmsMessage.objects.filter(order=order).delete()
    moment = TUESDAY_10 - timedelta(hours=2)
    sms.on_order_moved(
        workflow.OrderMoved(
            order=order,
            transition=workflow.TRANSITIONS["start_calling"],
            context=workflow.Context(actor=None, source="system", now=moment),
            from_status="sent",
        )
    )

    assert SmsMessage.objects.get(order=order).created_at == moment
