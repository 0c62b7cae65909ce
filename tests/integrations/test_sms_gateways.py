"""The SMS gateways against local doubles that speak each protocol: an SMSC on loopback (SMPP 3.4,
`tests/smpp_double.py`) and a Mobizon HTTP API (`tests/mobizon_double.py`). No database: a gateway only takes
`OutgoingSms` and gives `Submitted` and `Receipt`s."""

from __future__ import annotations

import binascii
import logging
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import smpplib.consts
import smpplib.smpp
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from integrations import sms_gateways
from integrations.sms_gateways import (
    DELIVERED,
    EXPIRED,
    UNDELIVERABLE,
    LogGateway,
    MobizonConfig,
    MobizonGateway,
    OutgoingSms,
    Receipt,
    SmppConfig,
    SmppGateway,
    SmppReceiver,
    Submitted,
    gateway_from_settings,
    sms_parts,
)
from tests.mobizon_double import MobizonDouble
from tests.smpp_double import SmppDouble, _Counter

PASSWORD = "s3cret!"
ALMATY = ZoneInfo("Asia/Almaty")
CYRILLIC = "Айгерим, заказ №1042 доставим завтра, 12.12. Сумма 14 990 ₸."  # one SMS: 70 at most
# 3 parts of UCS-2 (67 characters a part): 148 characters
LONG = (
    "Здравствуйте, Айгерим! Ваш заказ №1042 от «Алем Трейд» прибыл в Алматы. Курьер позвонит "
    "завтра с 10 до 14. Подготовьте 14 990 ₸. Вопросы: 8 800 000."
)


def phone(n: int) -> str:
    return f"7701{n:07d}"


def sms(n: int, text: str | None = None) -> OutgoingSms:
    return OutgoingSms(id=n, phone=phone(n), text=text if text is not None else f"{CYRILLIC} ({n})")


def smpp_config(smsc: SmppDouble, **changes) -> SmppConfig:
    values = {
        "host": smsc.host,
        "port": smsc.port,
        "system_id": "ketlogistic",
        "password": PASSWORD,
        "source_addr": "KetLogistic",
        "window": 10,
        "timeout": 2,
        "throttle_pause": 0.01,
        **changes,
    }
    return SmppConfig(**values)


@pytest.fixture
def smsc():
    with SmppDouble(password=PASSWORD) as double:
        yield double


@pytest.fixture
def gateway(smsc):
    gateway = SmppGateway(smpp_config(smsc))
    yield gateway
    gateway.close()


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.02)


# -- SMPP: what arrives -----------------------------------------------------------------------------------------------


def test_a_cyrillic_sms_arrives_intact_in_ucs2_from_the_alphanumeric_sender(smsc, gateway):
    [result] = gateway.send([sms(1, CYRILLIC)])

    [message] = smsc.messages
    assert result == Submitted(id=1, gateway_id=message["message_id"])
    assert message["text"] == CYRILLIC
    assert message["destination"] == phone(1)
    assert (message["dest_ton"], message["dest_npi"]) == (1, 1)
    assert (message["source"], message["source_ton"], message["source_npi"]) == ("KetLogistic", 5, 0)
    assert message["data_coding"] == 8
    assert message["registered_delivery"] == 1
    assert message["parts"] == 1


def test_a_three_part_text_arrives_joined_and_is_known_by_its_first_part(smsc, gateway):
    assert len(LONG) == 148

    [result] = gateway.send([sms(1, LONG)])

    [message] = smsc.messages
    assert message["text"] == LONG
    assert message["parts"] == 3
    assert result.gateway_id == message["part_ids"][0]
    assert smsc.submits == 3


def test_a_latin_text_goes_in_gsm_7_bit(smsc, gateway):
    text = "Order 1042 arrives tomorrow 10:00-14:00, pay 14990 KZT. Questions? Call us."

    gateway.send([sms(1, text)])

    [message] = smsc.messages
    assert (message["text"], message["data_coding"], message["parts"]) == (text, 0, 1)


def test_a_part_boundary_never_cuts_a_character_in_two(smsc, gateway):
    # a GSM escape pair (€ is 1B 65) across the 153rd byte, and an emoji (a UTF-16 surrogate pair) across the 67th
    # character: cut at a fixed size, each would arrive as two halves of nothing
    euro = "a" * 152 + "€ and the rest of the text" * 3
    emoji = "б" * 66 + "🚚" + "в" * 80

    gsm_parts, gsm_coding, _ = sms_parts(euro)
    ucs_parts, ucs_coding, _ = sms_parts(emoji)
    gateway.send([sms(1, euro), sms(2, emoji)])

    assert gsm_coding == 0 and ucs_coding == 8
    assert len(gsm_parts[0]) - 6 == 152  # the escape moved to the next part
    assert len(ucs_parts[0]) - 6 == 132  # the surrogate pair moved to the next part
    assert sorted(smsc.texts()) == sorted([euro, emoji])


# -- SMPP: windowing, throttling, failures ----------------------------------------------------------------------------


def test_windowing_keeps_at_most_the_window_outstanding():
    with SmppDouble(password=PASSWORD, delay=0.05) as smsc:
        gateway = SmppGateway(smpp_config(smsc, window=10))
        results = gateway.send([sms(n) for n in range(100)])
        gateway.close()

    assert smsc.max_in_flight == 10
    assert [r.gateway_id != "" for r in results] == [True] * 100


def test_a_window_of_one_waits_for_each_answer():
    with SmppDouble(password=PASSWORD, delay=0.005) as smsc:
        gateway = SmppGateway(smpp_config(smsc, window=1))
        gateway.send([sms(n) for n in range(20)])
        gateway.close()

    assert smsc.max_in_flight == 1
    assert len(smsc.messages) == 20


def test_two_thousand_sms_go_through_with_the_window_full():
    texts = [f"{CYRILLIC} ({n})" for n in range(2000)]
    with SmppDouble(password=PASSWORD, delay=0.003, receipts=False) as smsc:
        gateway = SmppGateway(smpp_config(smsc, window=10))
        results = gateway.send([sms(n, texts[n]) for n in range(2000)])
        gateway.close()

    assert smsc.max_in_flight == 10
    assert sorted(smsc.texts()) == sorted(texts)
    assert len({r.gateway_id for r in results}) == 2000
    assert [r.error for r in results] == [""] * 2000


def test_throttled_submits_are_submitted_again_within_the_call_and_arrive_once(smsc, gateway):
    smsc.throttle_next(3)

    results = gateway.send([sms(n) for n in range(10)])

    assert [r.error for r in results] == [""] * 10
    assert sorted(smsc.texts()) == sorted(f"{CYRILLIC} ({n})" for n in range(10))
    assert smsc.submits == 13


def test_throttling_that_does_not_pass_makes_the_messages_transient(smsc):
    smsc.throttle_always = True
    gateway = SmppGateway(smpp_config(smsc, throttle_retries=2))

    results = gateway.send([sms(n) for n in range(3)])
    gateway.close()

    assert [r.transient for r in results] == [True, True, True]
    assert [r.gateway_id for r in results] == ["", "", ""]
    assert results[0].error == "The SMSC answered ESME_RTHROTTLED (0x00000058)."
    assert smsc.messages == []


def test_a_queue_full_answer_is_transient(smsc):
    gateway = SmppGateway(smpp_config(smsc, throttle_retries=0))
    smsc.refuse[phone(1)] = smpplib.consts.SMPP_ESME_RMSGQFUL

    [result] = gateway.send([sms(1)])
    gateway.close()

    assert result == Submitted(id=1, error="The SMSC answered ESME_RMSGQFUL (0x00000014).", transient=True)


def test_a_refused_number_is_refused_for_good_by_the_status_name_without_the_number(smsc, gateway):
    smsc.refuse[phone(2)] = smpplib.consts.SMPP_ESME_RINVDSTADR

    results = gateway.send([sms(1), sms(2), sms(3)])

    assert results[1] == Submitted(
        id=2, error="The SMSC refused: ESME_RINVDSTADR (0x0000000B).", transient=False
    )
    assert [bool(results[0].gateway_id), bool(results[2].gateway_id)] == [True, True]
    assert phone(2) not in results[1].error


def test_a_connection_killed_mid_batch_loses_and_doubles_nothing(smsc, gateway):
    # given: the SMSC answers 25 submits, then the connection breaks
    smsc.drop_after(25)
    batch = [sms(n) for n in range(60)]

    first = gateway.send(batch)

    # then: the answered ones are accepted, every other one is to be sent again
    assert [bool(r.gateway_id) for r in first] == [True] * 25 + [False] * 35
    assert [r.transient for r in first[25:]] == [True] * 35
    assert len(smsc.messages) == 25

    # when: the sweep sends the transient ones again (the gateway connects anew)
    again = gateway.send([m for m, r in zip(batch, first, strict=True) if r.transient])

    assert [r.error for r in again] == [""] * 35
    assert sorted(smsc.texts()) == sorted(m.text for m in batch)  # each text exactly once
    assert [b["accepted"] for b in smsc.binds] == [True, True]


def test_answers_lost_with_the_connection_send_at_most_those_messages_twice(smsc, gateway):
    # the SMSC took the 26th submit but its answer was lost with the connection: the documented duplicate
    smsc.drop_after(25, record_unanswered=True)
    batch = [sms(n) for n in range(60)]

    first = gateway.send(batch)
    gateway.send([m for m, r in zip(batch, first, strict=True) if r.transient])

    texts = smsc.texts()
    doubled = sorted({t for t in texts if texts.count(t) > 1})
    assert doubled == [batch[25].text]
    assert set(texts) == {m.text for m in batch}


def test_an_answer_that_does_not_come_in_time_is_transient_and_the_next_call_connects_again(smsc):
    gateway = SmppGateway(smpp_config(smsc, timeout=0.3))
    smsc.delay = 1.0

    results = gateway.send([sms(n) for n in range(5)])
    smsc.delay = 0.0
    again = gateway.send([sms(n) for n in range(5)])
    gateway.close()

    assert [r.transient for r in results] == [True] * 5
    assert results[0].error == "SMPP: no answer within 0.3 s; not answered."
    assert [r.error for r in again] == [""] * 5
    assert len(smsc.binds) == 2


def test_the_bound_connection_serves_the_next_batch(smsc, gateway):
    gateway.send([sms(1)])
    gateway.send([sms(2)])

    assert len(smsc.binds) == 1
    assert smsc.binds[0]["mode"] == "transmitter"


def test_a_connection_the_smsc_closed_between_batches_is_noticed_before_the_batch(smsc, gateway):
    gateway.send([sms(1)])
    smsc.kill_connections()

    results = gateway.send([sms(n) for n in range(2, 12)])

    assert [r.error for r in results] == [""] * 10
    assert len(smsc.binds) == 2


def test_an_idle_connection_is_asked_whether_it_lives_before_the_batch(smsc):
    gateway = SmppGateway(smpp_config(smsc, enquire_link_seconds=0))
    gateway.send([sms(1)])
    gateway.send([sms(2)])
    gateway.close()

    assert len(smsc.binds) == 1
    assert [r["text"] for r in smsc.messages] == [sms(1).text, sms(2).text]


def test_a_refused_bind_makes_every_message_transient(smsc):
    gateway = SmppGateway(smpp_config(smsc, password="wrong"))

    results = gateway.send([sms(1), sms(2)])

    assert results == [
        Submitted(id=1, error="SMPP: the SMSC refused the bind: ESME_RINVPASWD (0x0000000E)", transient=True),
        Submitted(id=2, error="SMPP: the SMSC refused the bind: ESME_RINVPASWD (0x0000000E)", transient=True),
    ]  # fmt: skip


def test_no_smsc_listening_makes_every_message_transient():
    with SmppDouble(password=PASSWORD) as smsc:
        config = smpp_config(smsc)
    gateway = SmppGateway(config)

    [result] = gateway.send([sms(1)])

    assert result.transient and result.error.startswith(f"SMPP: no connection to 127.0.0.1:{config.port}")


def test_a_message_that_cannot_go_is_refused_before_any_connection(smsc, gateway):
    results = gateway.send(
        [OutgoingSms(id=1, phone="+7 701", text="x"), OutgoingSms(id=2, phone=phone(2), text=" ")]
    )

    assert results == [
        Submitted(id=1, error="The number is not an international number in digits."),
        Submitted(id=2, error="The text is empty."),
    ]
    assert smsc.binds == []


def test_a_receipt_arriving_on_a_transceiver_sender_is_left_for_the_receiver(smsc):
    smsc.receipts = False
    gateway = SmppGateway(smpp_config(smsc, send_bind="transceiver", enquire_link_seconds=0))
    [first] = gateway.send([sms(1)])
    smsc.send_receipt(first.gateway_id, "DELIVRD")
    wait_for(lambda: smsc._sessions and smsc._sessions[0].receipts_out)

    gateway.send([sms(2)])  # reads what waited on the connection before the batch
    gateway.close()

    assert smsc.receipt_refusals == 1
    assert smsc.receipts_acknowledged == []


# -- SMPP: delivery receipts ------------------------------------------------------------------------------------------


class Recorded:
    def __init__(self, fail_first: int = 0):
        self.receipts: list[Receipt] = []
        self.calls = 0
        self.fail_first = fail_first

    def __call__(self, receipts):
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError("the database is away")
        self.receipts.extend(receipts)


STATS = {
    phone(1): "DELIVRD",
    phone(2): "UNDELIV",
    phone(3): "EXPIRED",
    phone(4): "REJECTD",
    phone(5): "DELETED",
}


def start_receiver(config: SmppConfig, recorder) -> tuple[SmppReceiver, threading.Event, threading.Thread]:
    receiver = SmppReceiver(config, recorder, batch_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=receiver.run, args=(stop,), daemon=True)
    thread.start()
    return receiver, stop, thread


@pytest.mark.parametrize("tlvs", [True, False], ids=["tlvs", "receipt-text-only"])
def test_delivery_receipts_become_statuses(tlvs):
    recorder = Recorded()
    with SmppDouble(
        password=PASSWORD, receipt_tlvs=tlvs, receipt_stat=lambda m: STATS[m["destination"]]
    ) as smsc:
        receiver, stop, thread = start_receiver(smpp_config(smsc), recorder)
        gateway = SmppGateway(smpp_config(smsc))
        results = gateway.send([sms(n) for n in range(1, 6)])
        wait_for(lambda: len(recorder.receipts) == 5)
        stop.set()
        thread.join(5)
        gateway.close()

    by_id = {r.gateway_id: r.status for r in recorder.receipts}
    assert by_id == {
        results[0].gateway_id: DELIVERED,
        results[1].gateway_id: UNDELIVERABLE,
        results[2].gateway_id: EXPIRED,
        results[3].gateway_id: UNDELIVERABLE,
        results[4].gateway_id: UNDELIVERABLE,
    }
    assert sorted(smsc.receipts_acknowledged) == sorted(by_id)
    assert sorted(b["mode"] for b in smsc.binds) == ["receiver", "transmitter"]
    now = datetime.now(ALMATY)
    assert all(r.at is not None and abs((r.at - now).total_seconds()) < 120 for r in recorder.receipts)


def test_a_receipt_that_could_not_be_recorded_is_answered_try_later_and_comes_again(smsc):
    recorder = Recorded(fail_first=1)
    receiver, stop, thread = start_receiver(smpp_config(smsc), recorder)
    gateway = SmppGateway(smpp_config(smsc))
    [result] = gateway.send([sms(1)])

    wait_for(lambda: recorder.receipts)
    stop.set()
    thread.join(5)
    gateway.close()

    assert smsc.receipt_refusals == 1
    assert recorder.receipts == [
        Receipt(gateway_id=result.gateway_id, status=DELIVERED, at=recorder.receipts[0].at)
    ]
    assert smsc.receipts_acknowledged == [result.gateway_id]


def test_the_receiver_binds_again_after_the_connection_is_lost_and_loses_no_receipt(smsc):
    recorder = Recorded()
    receiver, stop, thread = start_receiver(smpp_config(smsc), recorder)
    wait_for(lambda: smsc.bound("receiver") == 1)
    smsc.kill_connections()
    gateway = SmppGateway(smpp_config(smsc))
    results = gateway.send([sms(n) for n in range(5)])  # receipts wait at the SMSC until a receiver binds

    wait_for(lambda: len(recorder.receipts) == 5)
    stop.set()
    thread.join(5)
    gateway.close()

    assert receiver.connections == 2
    assert sorted(r.gateway_id for r in recorder.receipts) == sorted(r.gateway_id for r in results)


def test_the_receiver_keeps_the_connection_alive_and_unbinds_when_stopped(smsc):
    receiver = SmppReceiver(smpp_config(smsc, enquire_link_seconds=0.1), Recorded())
    stop = threading.Event()
    thread = threading.Thread(target=receiver.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: smsc.enquire_links >= 2)

    stop.set()
    thread.join(5)

    assert not thread.is_alive()
    assert smsc.unbinds == 1


def test_a_deliver_sm_that_is_no_receipt_is_acknowledged_and_not_recorded():
    pdu = smpplib.smpp.make_pdu("deliver_sm", client=_Counter(), esm_class=0, short_message=b"hello")
    receipt = sms_gateways.receipt_from_deliver_sm(pdu, time_zone=ALMATY)

    assert receipt is None


def test_a_receipt_of_a_state_that_is_not_final_is_no_receipt():
    text = b"id:0A1B sub:001 dlvrd:000 submit date:2612071800 done date:2612071801 stat:ENROUTE err:000 text:"
    pdu = smpplib.smpp.make_pdu("deliver_sm", client=_Counter(), esm_class=4, short_message=text)

    assert sms_gateways.receipt_from_deliver_sm(pdu, time_zone=ALMATY) is None


def test_a_receipt_text_is_read_with_its_done_date_in_the_smscs_zone():
    text = b"id:0A1B sub:001 dlvrd:001 submit date:2612071800 done date:2612071801 stat:DELIVRD err:000 text:"
    pdu = smpplib.smpp.make_pdu("deliver_sm", client=_Counter(), esm_class=4, short_message=text)

    assert sms_gateways.receipt_from_deliver_sm(pdu, time_zone=ALMATY) == Receipt(
        gateway_id="0A1B", status=DELIVERED, at=datetime(2026, 12, 7, 18, 1, tzinfo=ALMATY)
    )


# The command keeps its database connection fresh (close_old_connections) as a long-lived process must: after
# another test left the connection open, that needs database access, in autocommit as in production.
@pytest.mark.django_db(transaction=True)
def test_the_sms_receiver_command_records_receipts_until_stopped(smsc, settings, tmp_path):
    settings.SMS_GATEWAY = "smpp"
    settings.SMPP_HOST, settings.SMPP_PORT = smsc.host, smsc.port
    settings.SMPP_SYSTEM_ID, settings.SMPP_PASSWORD = "ketlogistic", PASSWORD
    COMMAND_RECEIPTS.clear()
    heartbeat = tmp_path / "alive"
    gateway = SmppGateway(smpp_config(smsc))
    sender = threading.Timer(0.3, lambda: gateway.send([sms(1), sms(2)]))
    sender.start()

    call_command(
        "sms_receiver",
        recorder="tests.integrations.test_sms_gateways.record_for_the_command",
        heartbeat_file=str(heartbeat),
        for_seconds=6,  # room for a busy machine: the receipts come within a second when it is quiet
    )
    gateway.close()

    assert sorted(r.status for r in COMMAND_RECEIPTS) == [DELIVERED, DELIVERED]
    assert heartbeat.exists()


def test_the_sms_receiver_command_waits_quietly_when_the_gateway_is_not_smpp(settings, caplog):
    settings.SMS_GATEWAY = "log"
    caplog.set_level(logging.INFO, logger="integrations.sms_gateways")

    call_command("sms_receiver", for_seconds=0.2)

    assert "SMS_GATEWAY is log, no SMPP receipts to listen to" in caplog.text


COMMAND_RECEIPTS: list[Receipt] = []


def record_for_the_command(*, receipts):
    COMMAND_RECEIPTS.extend(receipts)


# -- secrets and numbers stay out of the log --------------------------------------------------------------------------


def _leaks(records, *secrets: str) -> list[str]:
    forms = set()
    for secret in secrets:
        forms |= {secret, binascii.b2a_hex(secret.encode()).decode(), secret.encode().hex().upper()}
    return [r.getMessage() for r in records for form in forms if form in r.getMessage()]


def test_no_phone_and_no_password_in_any_smpp_log_record_even_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    recorder = Recorded()
    with SmppDouble(password=PASSWORD, receipt_stat=lambda m: STATS.get(m["destination"], "DELIVRD")) as smsc:
        smsc.refuse[phone(3)] = smpplib.consts.SMPP_ESME_RINVDSTADR
        receiver, stop, thread = start_receiver(smpp_config(smsc), recorder)
        gateway = SmppGateway(smpp_config(smsc))
        gateway.send([sms(1), sms(2), sms(3), sms(4, LONG)])
        wait_for(lambda: len(recorder.receipts) == 5)  # 1, 2 and the three parts of 4
        smsc.drop_after(0)
        gateway.send([sms(5)])
        SmppGateway(smpp_config(smsc, password="wrong-one")).send([sms(6)])
        stop.set()
        thread.join(5)
        gateway.close()

    assert caplog.records
    assert _leaks(caplog.records, PASSWORD, "wrong-one", *(phone(n) for n in range(1, 7))) == []


# -- the log gateway and the choice -----------------------------------------------------------------------------------


def test_the_log_gateway_accepts_all_and_logs_neither_the_text_nor_the_number(caplog):
    caplog.set_level(logging.INFO, logger="integrations.sms_gateways")

    results = LogGateway().send([sms(1), sms(2, LONG)])

    assert results == [Submitted(id=1, gateway_id="log-1"), Submitted(id=2, gateway_id="log-2")]
    assert "3 part(s)" in caplog.text and f"{len(LONG)} characters" in caplog.text
    assert LONG[:20] not in caplog.text  # the text holds the customer's name and address
    assert phone(1) not in caplog.text and phone(2) not in caplog.text
    assert LogGateway().poll(["log-1"]) == []


def test_the_gateway_is_chosen_by_settings_and_an_smpp_one_is_kept_per_process(settings):
    settings.SMS_GATEWAY = "log"
    assert isinstance(gateway_from_settings(), LogGateway)

    settings.SMS_GATEWAY = "mobizon"
    settings.MOBIZON_API_KEY = "k" * 40
    assert isinstance(gateway_from_settings(), MobizonGateway)

    settings.SMS_GATEWAY = "smpp"
    settings.SMPP_HOST, settings.SMPP_SYSTEM_ID, settings.SMPP_PASSWORD = "127.0.0.1", "ketlogistic", PASSWORD
    first = gateway_from_settings()
    assert isinstance(first, SmppGateway) and gateway_from_settings() is first
    settings.SMPP_WINDOW = 20
    assert gateway_from_settings() is not first

    settings.SMS_GATEWAY = "carrier-pigeon"
    with pytest.raises(ValueError, match="SMS_GATEWAY must be log, smpp or mobizon"):
        gateway_from_settings()


def test_a_gateway_chosen_without_its_settings_is_a_configuration_error(settings):
    settings.SMS_GATEWAY, settings.SMPP_HOST, settings.SMPP_SYSTEM_ID = "smpp", "", ""
    with pytest.raises(
        ImproperlyConfigured, match="SMS_GATEWAY=smpp needs SMPP_HOST, SMPP_SYSTEM_ID, SMPP_PASSWORD"
    ):
        gateway_from_settings()

    settings.SMS_GATEWAY, settings.MOBIZON_API_KEY = "mobizon", ""
    with pytest.raises(ImproperlyConfigured, match="SMS_GATEWAY=mobizon needs MOBIZON_API_KEY"):
        gateway_from_settings()


def test_the_password_and_the_key_are_not_in_the_configurations_repr():
    assert PASSWORD not in repr(SmppConfig(host="h", port=1, system_id="s", password=PASSWORD))
    assert "k" * 40 not in repr(MobizonConfig(url="https://api.mobizon.kz", api_key="k" * 40))
    assert phone(1) not in repr(sms(1))


# -- Mobizon ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def mobizon():
    with MobizonDouble() as double:
        yield double


def mobizon_gateway(double: MobizonDouble, **changes) -> MobizonGateway:
    values = {"url": double.url, "api_key": double.api_key, "sender": "KetLogistic", "deadline": 2, **changes}
    return MobizonGateway(MobizonConfig(**values))


def test_mobizon_gets_the_number_the_text_and_the_sender_and_gives_message_ids(mobizon):
    results = mobizon_gateway(mobizon, concurrency=1).send([sms(1, CYRILLIC), sms(2, LONG)])

    assert [r.gateway_id for r in results] == list(mobizon.messages)
    first, second = mobizon.messages.values()
    assert (first["recipient"], first["text"], first["from"]) == (phone(1), CYRILLIC, "KetLogistic")
    assert (second["text"], second["segNum"]) == (LONG, 3)
    request = mobizon.requests[0]
    assert request["method"] == "POST"
    assert request["path"] == "/service/message/sendsmsmessage"
    assert {k: v[0] for k, v in request["query"].items()} == {"output": "json", "api": "v1",
                                                               "apiKey": mobizon.api_key}  # fmt: skip


def test_mobizon_an_invalid_recipient_is_refused_for_good_without_the_number(mobizon):
    mobizon.refuse[phone(2)] = "Номер в чёрном списке"

    results = mobizon_gateway(mobizon, concurrency=1).send([sms(1), sms(2), sms(3)])

    assert results[1] == Submitted(
        id=2, error="Mobizon refused: code 1, validation error (recipient): Ошибка валидации", transient=False
    )
    assert [bool(results[0].gateway_id), bool(results[2].gateway_id)] == [True, True]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            ("code", 30, "Слишком много запросов"),
            "Mobizon: code 30, too many requests: Слишком много запросов",
        ),
        (("code", 8, "Ошибка авторизации"), "Mobizon: code 8, login error (the API key): Ошибка авторизации"),
        (("code", 14, "Аккаунт заблокирован"), "Mobizon: code 14, account blocked: Аккаунт заблокирован"),
        (("code", 999, "Сервис недоступен"), "Mobizon: code 999, general service error: Сервис недоступен"),
        (("code", 3, ""), "Mobizon: code 3, unidentified application error: "),
        (("http", 503), "Mobizon answered HTTP 503."),
        (("http", 429), "Mobizon answered HTTP 429."),
        (("drop",), "Mobizon did not answer: No answer: "),
    ],
    ids=["rate-limit", "login", "blocked", "service", "unidentified", "http-503", "http-429", "no-answer"],
)
def test_mobizon_trouble_of_the_service_or_the_account_is_transient_and_stops_the_batch(
    mobizon, answer, error
):
    mobizon.fail_next(answer)

    results = mobizon_gateway(mobizon, concurrency=1).send([sms(1), sms(2), sms(3)])

    assert results[0].transient and results[0].error.startswith(error)
    assert [r.transient for r in results] == [True, True, True]
    assert results[1].error == f"Not tried: {results[0].error}"
    assert len(mobizon.requests) == 1
    assert mobizon.messages == {}


def test_mobizon_an_answer_slower_than_the_deadline_is_transient(mobizon):
    mobizon.fail_next(("slow", 1.5))

    [result] = mobizon_gateway(mobizon, deadline=0.5).send([sms(1)])

    assert result.transient
    # then: the deadline's own words or the socket's time-out, whichever came first
    assert result.error.startswith("Mobizon did not answer: ")


def test_mobizon_a_malformed_request_is_refused_for_good(mobizon):
    mobizon.fail_next(("code", 5, "Incorrect method"))

    [result] = mobizon_gateway(mobizon).send([sms(1)])

    assert result == Submitted(
        id=1, error="Mobizon refused the request: code 5, wrong method: Incorrect method", transient=False
    )


def test_mobizon_a_wrong_key_is_transient_for_every_message_and_the_key_is_never_written(mobizon, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "w" * 40

    results = mobizon_gateway(mobizon, api_key=wrong, concurrency=1).send([sms(1), sms(2)])

    assert [r.transient for r in results] == [True, True]
    assert (
        results[0].error
        == "Mobizon: code 8, login error (the API key): Ошибка авторизации: неверный ключ API"
    )
    assert _leaks(caplog.records, wrong, phone(1), phone(2)) == []
    assert all(wrong not in r.error for r in results)


def test_mobizon_the_key_and_the_numbers_are_never_in_a_log_record(mobizon, caplog):
    caplog.set_level(logging.DEBUG)
    mobizon.refuse[phone(3)] = "Неверный номер"
    gateway = mobizon_gateway(mobizon, concurrency=1)

    sent = gateway.send([sms(1), sms(2), sms(3)])
    gateway.poll([r.gateway_id for r in sent if r.gateway_id])
    mobizon.fail_next(("drop",))
    gateway.send([sms(4)])
    mobizon.fail_next(("http", 502))
    gateway.poll(["1"])

    assert caplog.records
    assert _leaks(caplog.records, mobizon.api_key, *(phone(n) for n in range(1, 5))) == []


def test_mobizon_calls_go_through_the_outbound_guard(mobizon, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = False

    [result] = mobizon_gateway(mobizon).send([sms(1)])

    assert result.transient
    assert (
        result.error
        == "Mobizon's address is refused: The address points into a private network, which is not allowed."
    )
    assert mobizon.requests == []


def test_mobizon_poll_maps_final_statuses_and_leaves_the_others(mobizon):
    gateway = mobizon_gateway(mobizon)
    statuses = ["DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "DELETED", "NEW", "ENQUEUD", "ACCEPTD", "PDLIVRD"]
    sent = gateway.send([sms(n) for n in range(len(statuses))])
    for result, status in zip(sent, statuses, strict=True):
        mobizon.set_status(result.gateway_id, status, at="2026-12-07 18:05:00")

    receipts = gateway.poll([r.gateway_id for r in sent] + ["99999999"])

    at = datetime(2026, 12, 7, 18, 5, tzinfo=ALMATY)
    assert receipts == [
        Receipt(gateway_id=sent[0].gateway_id, status=DELIVERED, at=at),
        Receipt(gateway_id=sent[1].gateway_id, status=UNDELIVERABLE, at=at),
        Receipt(gateway_id=sent[2].gateway_id, status=UNDELIVERABLE, at=at),
        Receipt(gateway_id=sent[3].gateway_id, status=EXPIRED, at=at),
        Receipt(gateway_id=sent[4].gateway_id, status=UNDELIVERABLE, at=at),
    ]
    [request] = [r for r in mobizon.requests if r["path"].endswith("getsmsstatus")]
    assert request["form"]["ids[0]"] == [sent[0].gateway_id]


def test_mobizon_poll_asks_a_hundred_ids_a_call(mobizon):
    gateway = mobizon_gateway(mobizon)
    sent = gateway.send([sms(n, f"Заказ {n}") for n in range(250)])
    for result in sent:
        mobizon.set_status(result.gateway_id, "DELIVRD")
    mobizon.requests.clear()

    receipts = gateway.poll([r.gateway_id for r in sent])

    assert [len(r["form"]) for r in mobizon.requests] == [100, 100, 50]
    assert len(receipts) == 250


def test_mobizon_poll_that_fails_answers_nothing_and_raises_nothing(mobizon):
    gateway = mobizon_gateway(mobizon)
    [sent] = gateway.send([sms(1)])
    mobizon.set_status(sent.gateway_id, "DELIVRD")
    mobizon.fail_next(("http", 500))

    assert gateway.poll([sent.gateway_id]) == []
    assert gateway.poll([sent.gateway_id]) == [Receipt(gateway_id=sent.gateway_id, status=DELIVERED,
                                                       at=datetime(2026, 12, 7, 18, 5, tzinfo=ALMATY))]  # fmt: skip


def test_mobizon_sends_several_at_once_each_exactly_once(mobizon):
    texts = [f"{CYRILLIC} ({n})" for n in range(40)]

    results = mobizon_gateway(mobizon, concurrency=4).send([sms(n, texts[n]) for n in range(40)])

    assert [r.id for r in results] == list(range(40))
    assert sorted(mobizon.texts()) == sorted(texts)
    assert len({r.gateway_id for r in results}) == 40
