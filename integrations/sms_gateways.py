"""The SMS gateways: what takes our customers' SMS to the operators, and what tells us they arrived.

The outbox (`integrations.sms`, issue 19 part A) decides what to send and when; it hands a batch of
`OutgoingSms` to `gateway_from_settings().send(batch)` and records one `Submitted` per message, and records the
`Receipt`s that come back: from `Gateway.poll` (HTTP gateways are asked) or from the SMPP receiver process
(`manage.py sms_receiver`, `SmppReceiver`: the operator pushes them). Which gateway: `settings.SMS_GATEWAY`.

* `log` (the default): writes each SMS to the log without its number, accepts all, sends nothing.
* `smpp`: SMPP 3.4 to an operator's or an aggregator's SMSC, through the PyPI `smpplib` (`SmppGateway`).
* `mobizon`: the Mobizon HTTP API v1 (`MobizonGateway`), through the outbound guard (`integrations.outbound`).

A gateway never raises for the gateway's trouble: each message comes back accepted (`gateway_id`), refused for
good (`error`, `transient=False`: the number or the text is wrong) or to be tried again later (`transient=True`: no
connection, a timeout, throttling, a full window, a refused login). A `Submitted.error` never holds the phone, and
no log line here does either (nor the SMPP password or the Mobizon key): numbers are written as the message's id.

**Sent twice, at worst; lost, never.** A message the gateway answered is reported with its answer and never
submitted again. A message whose submit went out but whose answer was lost (the connection broke, the answer
timed out) cannot be told from one that never arrived: it is reported transient and the sweep sends it again, so
the operator may deliver it twice. What keeps that rare: at most `SMPP_WINDOW` submits are ever unanswered at
once (so a break puts at most that many in doubt), a reused connection is checked (`enquire_link` after it stood
idle) before a batch goes into it rather than discovered dead by the batch, answers are matched by sequence number
within their own connection only (a fresh connection starts its own numbering, and an answer never crosses to
another connection), and a throttled submit is retried inside the same call, so throttling alone never makes a
multi-part text go out twice. Mobizon: one HTTP call per message, so at most the calls under way when the
connection broke (`MOBIZON_CONCURRENCY`) are in doubt.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import random
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ketlogistic.core.redaction import redact

from . import outbound

logger = logging.getLogger(__name__)

DELIVERED, UNDELIVERABLE, EXPIRED = "delivered", "undeliverable", "expired"


# -- the contract with the outbox -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingSms:
    id: int  # our SmsMessage.pk
    phone: str = field(repr=False)  # E.164 digits without '+', e.g. "77011234567"
    text: str = field(repr=False)


@dataclass(frozen=True)
class Submitted:
    id: int  # OutgoingSms.id
    gateway_id: str = ""  # the gateway's message id when accepted
    error: str = ""  # why not (never contains the phone)
    transient: bool = False  # True: try again later; False: refused for good

    @property
    def accepted(self) -> bool:
        return bool(self.gateway_id)


@dataclass(frozen=True)
class Receipt:
    gateway_id: str
    status: str  # DELIVERED | UNDELIVERABLE | EXPIRED
    at: datetime | None = None


class Gateway(Protocol):
    name: str  # "smpp" | "mobizon" | "log"

    def send(self, batch: list[OutgoingSms]) -> list[Submitted]: ...  # one Submitted per message, in order

    def poll(self, gateway_ids: list[str]) -> list[Receipt]: ...  # final statuses only; SMPP returns []


def _masked(text: str, *secrets: str) -> str:
    """`text` fit for a log line or a stored error: the secrets replaced, any KZ/KG phone number masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact(text)


def _require(*names: str) -> None:
    """A gateway chosen without what it needs is a configuration error, said at once (not an SMS failing later)."""
    missing = [name for name in names if not getattr(settings, name, "")]
    if missing:
        raise ImproperlyConfigured(f"SMS_GATEWAY={settings.SMS_GATEWAY} needs {', '.join(missing)}")


def _check(sms: OutgoingSms) -> str:
    """Why the message cannot go to any gateway as it is ("" when it can)."""
    if not sms.phone.isdigit() or not 8 <= len(sms.phone) <= 15:
        return "The number is not an international number in digits."
    if not sms.text.strip():
        return "The text is empty."
    return ""


# -- log --------------------------------------------------------------------------------------------------------------


class LogGateway:
    """Development's gateway: each SMS to the log (its id, parts and length; never its number, nor its text, which
    holds the customer's name and address: the order's card shows it to those who may read it), all accepted as
    `log-<id>`, nothing sent anywhere, no receipts ever."""

    name = "log"

    def send(self, batch: list[OutgoingSms]) -> list[Submitted]:
        results = []
        for sms in batch:
            problem = _check(sms)
            if problem:
                results.append(Submitted(id=sms.id, error=problem))
                continue
            try:
                parts, coding, _esm = sms_parts(sms.text)
                shape = f"{len(parts)} part(s), {'UCS-2' if coding == UCS2 else 'GSM 7-bit'}"
            except smpplib.exceptions.MessageTooLong:
                shape = "more than 255 parts"
            logger.info("SMS %s not sent (SMS_GATEWAY=log): %s, %s characters", sms.id, shape, len(sms.text))
            results.append(Submitted(id=sms.id, gateway_id=f"log-{sms.id}"))
        return results

    def poll(self, gateway_ids: list[str]) -> list[Receipt]:
        return []


# -- SMPP: texts into parts -------------------------------------------------------------------------------------------

GSM7 = smpplib.consts.SMPP_ENCODING_DEFAULT
UCS2 = smpplib.consts.SMPP_ENCODING_ISO10646
UDHI = smpplib.consts.SMPP_GSMFEAT_UDHI
_GSM_ESCAPE = 0x1B


def sms_parts(text: str) -> tuple[list[bytes], int, int]:
    """The text as `submit_sm` short messages: (parts, data_coding, esm_class).

    GSM 7-bit (data_coding 0, a septet a byte as SMPP carries it) when every character is in the GSM alphabet,
    else UCS-2 (data_coding 8: 70 characters in one SMS, 67 a part). A longer text is cut into parts that each
    start with a concatenation header (UDH, esm_class 0x40), by `smpplib.gsm.make_parts`; where its fixed-size cut
    falls inside a character (a GSM escape pair such as €, or a UTF-16 surrogate pair such as an emoji), the
    text is cut again one byte (two) earlier so that every part holds whole characters.
    Raises smpplib.exceptions.MessageTooLong past 255 parts.
    """
    if "`" in text:  # smpplib's GSM table uses the backtick as its filler: it would not come out as sent
        parts, coding, esm_class = smpplib.gsm.make_parts(text, encoding=UCS2)
    else:
        parts, coding, esm_class = smpplib.gsm.make_parts(text)
    if len(parts) == 1 or not any(_cut_inside_a_character(part[6:], coding) for part in parts[:-1]):
        return parts, coding, esm_class
    encoded = text.encode("utf-16-be") if coding == UCS2 else smpplib.gsm.gsm_encode(text)
    size = smpplib.consts.UCS2_PART_SIZE if coding == UCS2 else smpplib.consts.SEVENBIT_PART_SIZE
    chunks, start = [], 0
    while start < len(encoded):
        end = min(start + size, len(encoded))
        if end < len(encoded) and _cut_inside_a_character(encoded[start:end], coding):
            end -= 2 if coding == UCS2 else 1
        chunks.append(encoded[start:end])
        start = end
    if len(chunks) > 255:
        raise smpplib.exceptions.MessageTooLong()
    reference = random.randint(0, 255)
    header = bytes([0x05, 0x00, 0x03, reference, len(chunks)])
    return [header + bytes([number]) + chunk for number, chunk in enumerate(chunks, start=1)], coding, UDHI


def _cut_inside_a_character(chunk: bytes, coding: int) -> bool:
    if coding == UCS2:
        return len(chunk) >= 2 and 0xD8 <= chunk[-2] <= 0xDB  # ends on a high surrogate
    trailing_escapes = len(chunk) - len(chunk.rstrip(bytes([_GSM_ESCAPE])))
    return trailing_escapes % 2 == 1


# -- SMPP: the protocol's words ---------------------------------------------------------------------------------------

_STATUS_NAMES = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(smpplib.consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}
ESME_ROK = smpplib.consts.SMPP_ESME_ROK
# The SMSC asks us to slow down, or its queue is full for now: the same submit later will do.
TRANSIENT_STATUSES = frozenset(
    {
        smpplib.consts.SMPP_ESME_RTHROTTLED,  # 0x58
        smpplib.consts.SMPP_ESME_RMSGQFUL,  # 0x14
        smpplib.consts.SMPP_ESME_RSYSERR,  # 0x08: the SMSC's own failure
        0x64,  # ESME_RX_T_APPN: "temporary application error"
    }
)
THROTTLING = frozenset({smpplib.consts.SMPP_ESME_RTHROTTLED, smpplib.consts.SMPP_ESME_RMSGQFUL})
# What we answer a deliver_sm we cannot take now (the recorder failed, or it came on the sending connection): the
# SMSC keeps the receipt and delivers it again, to the receiver.
ESME_RX_T_APPN = 0x64
RECEIPT_ESM_CLASS = 0x04  # esm_class bits 2-5: "SMSC delivery receipt"
MESSAGE_STATES = {2: DELIVERED, 3: EXPIRED, 4: UNDELIVERABLE, 5: UNDELIVERABLE, 8: UNDELIVERABLE}
RECEIPT_STATS = {
    "DELIVRD": DELIVERED,
    "UNDELIV": UNDELIVERABLE,
    "REJECTD": UNDELIVERABLE,
    "DELETED": UNDELIVERABLE,
    "EXPIRED": EXPIRED,
}
_RECEIPT_ID = re.compile(r"\bid:(\S+)", re.IGNORECASE)
_RECEIPT_STAT = re.compile(r"\bstat:(\w+)", re.IGNORECASE)
_RECEIPT_DONE = re.compile(r"\bdone date:(\d{10}(?:\d{2})?)", re.IGNORECASE)


def status_name(status: int) -> str:
    name = _STATUS_NAMES.get(status, "unknown status")
    return f"{name} (0x{status:08X})"


@dataclass(frozen=True)
class SmppConfig:
    """Where the SMSC is and how to talk to it (settings SMPP_*; see the README's «SMS gateways»)."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    source_addr: str = ""
    source_ton: int = smpplib.consts.SMPP_TON_ALNUM  # 5: an alphanumeric sender
    source_npi: int = smpplib.consts.SMPP_NPI_UNK  # 0
    system_type: str = ""
    window: int = 10  # submit_sm sent and not yet answered, at most
    timeout: float = 10.0  # seconds for a connection, a bind, an answer
    # how the sender binds: "transmitter" leaves every receipt to the receiver process; "transceiver" for an SMSC
    # that takes nothing else (a receipt arriving on it is answered "try later", and comes again to the receiver)
    send_bind: str = "transmitter"
    receive_bind: str = "receiver"
    max_per_second: float = 0.0  # the SMSC's agreed rate (submits a second); 0: as fast as the window allows
    throttle_retries: int = 3  # a throttled submit is tried again this many times within the call
    throttle_pause: float = 0.2  # seconds before the first retry, doubling each time
    enquire_link_seconds: float = (
        30.0  # a connection idle this long is checked (sender) or kept alive (receiver)
    )
    receipt_time_zone: str = "Asia/Almaty"  # the zone of the receipts' "done date"

    @classmethod
    def from_settings(cls) -> SmppConfig:
        _require("SMPP_HOST", "SMPP_SYSTEM_ID", "SMPP_PASSWORD")
        return cls(
            host=settings.SMPP_HOST,
            port=settings.SMPP_PORT,
            system_id=settings.SMPP_SYSTEM_ID,
            password=settings.SMPP_PASSWORD,
            source_addr=settings.SMPP_SOURCE_ADDR,
            source_ton=settings.SMPP_SOURCE_TON,
            source_npi=settings.SMPP_SOURCE_NPI,
            system_type=settings.SMPP_SYSTEM_TYPE,
            window=max(1, settings.SMPP_WINDOW),
            timeout=settings.SMPP_TIMEOUT,
            send_bind=settings.SMPP_SEND_BIND,
            receive_bind=settings.SMPP_RECEIVE_BIND,
            max_per_second=settings.SMPP_MAX_PER_SECOND,
            throttle_retries=settings.SMPP_THROTTLE_RETRIES,
            throttle_pause=settings.SMPP_THROTTLE_PAUSE,
            enquire_link_seconds=settings.SMPP_ENQUIRE_LINK_SECONDS,
            receipt_time_zone=settings.SMPP_RECEIPT_TIME_ZONE,
        )


class SmppLinkError(Exception):
    """The connection is gone or unusable (no answer in time, closed, a broken PDU, a refused bind)."""


# smpplib writes every PDU it sends and reads, in hex, at DEBUG: the bind's password and each message's number and
# text. Its lines go to a logger of ours that logs only its warnings, whatever LOG_LEVEL says.
WIRE_LOGGER = "integrations.sms_gateways.wire"
logging.getLogger(WIRE_LOGGER).setLevel(logging.WARNING)


class SmppLink:
    """One bound SMPP connection through smpplib's Client: PDUs out, PDUs in, each read given a deadline (the
    socket is waited on with select, then the PDU read whole, so a read never stops half-way through a PDU)."""

    def __init__(self, config: SmppConfig, *, mode: str):
        self.config = config
        self.mode = mode
        self.client = smpplib.client.Client(
            config.host,
            config.port,
            timeout=config.timeout,
            logger_name=WIRE_LOGGER,
            allow_unknown_opt_params=True,
        )
        self.last_used = time.monotonic()
        self.bound = False

    def open(self) -> None:
        """Connect and bind, or raise SmppLinkError saying why (never with the password)."""
        try:
            self.client.connect()
            # each submit_sm goes out at once: Nagle's algorithm would hold the window's small PDUs back until the
            # SMSC acknowledges the first (40 ms a time with delayed ACKs)
            self.client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            response = getattr(self.client, f"bind_{self.mode}")(
                system_id=self.config.system_id,
                password=self.config.password,
                system_type=self.config.system_type,
            )
        except smpplib.exceptions.PDUError as exc:
            self.close()
            status = exc.args[1] if len(exc.args) > 1 else None
            raise SmppLinkError(
                f"the SMSC refused the bind: {status_name(status)}" if status is not None else "bind refused"
            ) from exc
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            self.close()
            raise SmppLinkError(
                f"no connection to {self.config.host}:{self.config.port} ({exc.__class__.__name__})"
            ) from exc
        if response is None or response.is_error():
            self.close()
            raise SmppLinkError("bind refused")
        self.bound = True
        self.last_used = time.monotonic()

    @property
    def socket(self):
        return self.client._socket

    def send(self, pdu) -> None:
        try:
            self.client.send_pdu(pdu)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            raise SmppLinkError(f"the connection broke while sending ({exc.__class__.__name__})") from exc
        self.last_used = time.monotonic()

    def make(self, command: str, **fields):
        return smpplib.smpp.make_pdu(command, client=self.client, **fields)

    def reply(self, request, command: str, status: int = ESME_ROK) -> None:
        response = smpplib.smpp.make_pdu(command, client=self.client, status=status)
        response.sequence = request.sequence  # smpplib's responses take the client's counter unless told
        self.send(response)

    def readable(self, seconds: float) -> bool:
        if self.socket is None:
            raise SmppLinkError("the connection is closed")
        try:
            ready, _w, _x = select.select([self.socket], [], [], max(seconds, 0))
        except (OSError, ValueError) as exc:
            raise SmppLinkError("the connection is closed") from exc
        return bool(ready)

    def read(self, seconds: float):
        """The next PDU within `seconds`, or SmppLinkError."""
        if not self.readable(seconds):
            raise SmppLinkError(f"no answer within {seconds:g} s")
        try:
            pdu = self.client.read_pdu()
        except TimeoutError as exc:
            raise SmppLinkError("a PDU stopped half-way") from exc
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            raise SmppLinkError("the SMSC closed the connection") from exc
        except (smpplib.exceptions.PDUError, smpplib.exceptions.UnknownCommandError, ValueError) as exc:
            raise SmppLinkError(f"a broken PDU ({exc.__class__.__name__})") from exc
        if pdu is None:
            raise SmppLinkError("a PDU of an unknown command")
        self.last_used = time.monotonic()
        return pdu

    def answer_housekeeping(self, pdu) -> bool:
        """Answer what the SMSC may send at any time; True when `pdu` was one of those. An unbind closes the link
        (SmppLinkError after answering it)."""
        if pdu.command == "enquire_link":
            self.reply(pdu, "enquire_link_resp")
            return True
        if pdu.command == "enquire_link_resp":
            return True
        if pdu.command == "unbind":
            with contextlib.suppress(SmppLinkError):
                self.reply(pdu, "unbind_resp")
            self.close()
            raise SmppLinkError("the SMSC unbound")
        return False

    def check_alive(self) -> None:
        """Before a batch goes into a connection that stood idle: answer what waited in it, and ask the SMSC
        (enquire_link) if it is still there. SmppLinkError when not."""
        while self.readable(0):
            pdu = self.read(self.config.timeout)
            if not self.answer_housekeeping(pdu) and pdu.command == "deliver_sm":
                self.reply(pdu, "deliver_sm_resp", ESME_RX_T_APPN)
        if time.monotonic() - self.last_used < self.config.enquire_link_seconds:
            return
        request = self.make("enquire_link")
        self.send(request)
        deadline = time.monotonic() + self.config.timeout
        while True:
            pdu = self.read(deadline - time.monotonic())
            if pdu.command == "enquire_link_resp" and pdu.sequence == request.sequence:
                return
            if not self.answer_housekeeping(pdu) and pdu.command == "deliver_sm":
                self.reply(pdu, "deliver_sm_resp", ESME_RX_T_APPN)

    def close(self, *, unbind: bool = False) -> None:
        if unbind and self.bound and self.socket is not None:
            with contextlib.suppress(SmppLinkError):
                request = self.make("unbind")
                self.send(request)
                deadline = time.monotonic() + min(self.config.timeout, 2)
                while time.monotonic() < deadline:
                    if self.read(deadline - time.monotonic()).command == "unbind_resp":
                        break
        self.bound = False
        # without an unbind smpplib warns that it disconnects "in the bound state": said once here, not by it
        self.client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
        with contextlib.suppress(Exception):
            self.client.disconnect()


@dataclass
class _Outcome:
    parts: int
    ids: dict[int, str] = field(default_factory=dict)  # part index → the SMSC's message id
    error: str = ""
    transient: bool = False
    throttled: int = 0  # times a part of it was throttled in this call

    @property
    def settled(self) -> bool:
        return bool(self.error) or len(self.ids) == self.parts


class SmppGateway:
    """SMPP 3.4 with windowing: up to `window` submit_sm out before waiting for their submit_sm_resp.

    The connection is kept bound across calls within a process (Celery's worker child) and checked before each
    batch; after any failure it is closed, and the next call connects again. A text of several parts is several
    submit_sm (each with its concatenation header); its `gateway_id` is the message id of its **first** part,
    the one its receipt is matched by (receipts of the other parts name ids we do not keep and are ignored).
    What each answer means for the message: the module's docstring and `send`.
    """

    name = "smpp"

    def __init__(self, config: SmppConfig):
        self.config = config
        self.link: SmppLink | None = None
        self._lock = threading.Lock()

    def poll(self, gateway_ids: list[str]) -> list[Receipt]:
        return []  # SMPP receipts come to the receiver process (manage.py sms_receiver)

    def close(self) -> None:
        with self._lock:
            if self.link is not None:
                self.link.close(unbind=True)
                self.link = None

    def _connected(self) -> SmppLink:
        if self.link is not None:
            try:
                self.link.check_alive()
                return self.link
            except SmppLinkError as exc:
                logger.info("SMPP: the kept connection is gone (%s); connecting again", exc)
                self.link.close()
                self.link = None
        link = SmppLink(self.config, mode=self.config.send_bind)
        link.open()
        self.link = link
        return link

    def send(self, batch: list[OutgoingSms]) -> list[Submitted]:
        """Each message's parts submitted through the window. Per message:

        * every part answered ESME_ROK → accepted, `gateway_id` = the first part's message id;
        * a part refused with any other status than the transient ones → refused for good, with the status's
          name (e.g. "ESME_RINVDSTADR (0x0000000B)");
        * a part throttled (ESME_RTHROTTLED, ESME_RMSGQFUL): sending pauses (`throttle_pause`, doubling) and
          the part is submitted again, up to `throttle_retries` times; then transient;
        * a part still unanswered when the connection broke or the answer timed out, or never sent because of it →
          transient (and the rest of the batch too), the connection closed.
        """
        with self._lock:
            started = time.monotonic()
            results = self._send(batch)
            accepted = sum(1 for r in results if r.gateway_id)
            transient = sum(1 for r in results if r.transient)
            logger.info(
                "SMPP: %s SMS, %s accepted, %s to try again, %s refused, in %.2f s",
                len(batch),
                accepted,
                transient,
                len(batch) - accepted - transient,
                time.monotonic() - started,
            )
            return results

    def _send(self, batch: list[OutgoingSms]) -> list[Submitted]:
        outcomes: list[_Outcome] = []
        pdus: list[list[dict]] = []
        queue: deque[tuple[int, int]] = deque()
        for index, sms in enumerate(batch):
            problem = _check(sms)
            try:
                parts, coding, esm_class = sms_parts(sms.text) if not problem else ([], 0, 0)
            except smpplib.exceptions.MessageTooLong:
                problem, parts = "The text is longer than 255 SMS parts.", []
            outcomes.append(_Outcome(parts=len(parts), error=problem))
            pdus.append(
                [
                    {
                        "short_message": part,
                        "data_coding": coding,
                        "esm_class": esm_class,
                        "destination_addr": sms.phone,
                    }
                    for part in parts
                ]
            )
            queue.extend((index, part) for part in range(len(parts)))
        if not queue:
            return self._results(batch, outcomes)
        try:
            link = self._connected()
        except SmppLinkError as exc:
            self._give_up(outcomes, f"SMPP: {exc}")
            return self._results(batch, outcomes)
        in_flight: dict[int, tuple[int, int]] = {}
        paused_until = 0.0
        next_submit_at = 0.0
        spacing = 1 / self.config.max_per_second if self.config.max_per_second > 0 else 0.0
        try:
            while queue or in_flight:
                while queue and len(in_flight) < self.config.window:
                    now = time.monotonic()
                    if now < paused_until:
                        break
                    index, part = queue.popleft()
                    if outcomes[index].error:
                        continue  # a part of this message was refused: the rest need not go
                    if spacing:
                        if now < next_submit_at:
                            time.sleep(next_submit_at - now)
                        next_submit_at = max(now, next_submit_at) + spacing
                    pdu = link.make(
                        "submit_sm",
                        source_addr_ton=self.config.source_ton,
                        source_addr_npi=self.config.source_npi,
                        source_addr=self.config.source_addr,
                        dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                        dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                        registered_delivery=1,
                        **pdus[index][part],
                    )
                    in_flight[pdu.sequence] = (index, part)
                    link.send(pdu)
                if not in_flight:
                    if queue:  # paused by throttling, nothing left to wait for
                        time.sleep(max(paused_until - time.monotonic(), 0))
                    continue
                pdu = link.read(self.config.timeout)
                if pdu.command in ("submit_sm_resp", "generic_nack") and pdu.sequence in in_flight:
                    index, part = in_flight.pop(pdu.sequence)
                    outcome = outcomes[index]
                    if pdu.status == ESME_ROK and pdu.command == "submit_sm_resp":
                        outcome.ids[part] = _text(pdu.message_id)
                    elif pdu.status in THROTTLING and outcome.throttled < self.config.throttle_retries:
                        outcome.throttled += 1
                        paused_until = time.monotonic() + self.config.throttle_pause * 2 ** (
                            outcome.throttled - 1
                        )
                        queue.appendleft((index, part))
                    elif pdu.status in TRANSIENT_STATUSES:
                        if not outcome.error:
                            outcome.error = f"The SMSC answered {status_name(pdu.status)}."
                            outcome.transient = True
                    elif pdu.status == ESME_ROK:  # a generic_nack with no status: the SMSC did not read it
                        outcome.error, outcome.transient = "The SMSC could not read the submit.", True
                    elif not outcome.error or outcome.transient:
                        outcome.error = f"The SMSC refused: {status_name(pdu.status)}."
                        outcome.transient = False
                elif pdu.command == "deliver_sm":
                    # a receipt on the sending connection (a transceiver bind): the receiver takes it next time
                    link.reply(pdu, "deliver_sm_resp", ESME_RX_T_APPN)
                elif not link.answer_housekeeping(pdu):
                    logger.warning("SMPP: an unexpected %s while sending; ignored", pdu.command)
        except SmppLinkError as exc:
            logger.warning(
                "SMPP: the connection failed with %s submits unanswered and %s not sent: %s",
                len(in_flight),
                len(queue),
                exc,
            )
            link.close()
            self.link = None
            self._give_up(outcomes, f"SMPP: {exc}; not answered.")
        return self._results(batch, outcomes)

    @staticmethod
    def _give_up(outcomes: list[_Outcome], error: str) -> None:
        for outcome in outcomes:
            if not outcome.settled:
                outcome.error, outcome.transient = error, True

    @staticmethod
    def _results(batch: list[OutgoingSms], outcomes: list[_Outcome]) -> list[Submitted]:
        results = []
        for sms, outcome in zip(batch, outcomes, strict=True):
            if outcome.error:
                results.append(
                    Submitted(id=sms.id, error=_masked(outcome.error), transient=outcome.transient)
                )
            elif len(outcome.ids) == outcome.parts and outcome.ids[0]:
                results.append(Submitted(id=sms.id, gateway_id=outcome.ids[0]))
            else:  # ESME_ROK without a message id
                results.append(
                    Submitted(id=sms.id, error="The SMSC accepted it without a message id.", transient=False)
                )
        return results


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").rstrip("\x00")
    return (value or "").rstrip("\x00")


# -- SMPP: delivery receipts ------------------------------------------------------------------------------------------


def receipt_from_deliver_sm(pdu, *, time_zone: ZoneInfo) -> Receipt | None:
    """The delivery receipt a deliver_sm carries, or None (a message from a subscriber, a receipt of a state that
    is not final: ENROUTE, ACCEPTD, UNKNOWN). The message id and state from the TLVs (receipted_message_id,
    message_state) where present, else from the receipt's text ("id:… sub:… dlvrd:… submit date:… done date:…
    stat:DELIVRD err:… text:…", SMPP 3.4 appendix B)."""
    if (pdu.esm_class or 0) & 0x3C != RECEIPT_ESM_CLASS:
        return None
    text = _text(pdu.short_message or pdu.message_payload or b"")
    message_id = _text(pdu.receipted_message_id)
    if not message_id and (match := _RECEIPT_ID.search(text)):
        message_id = match.group(1)
    status = MESSAGE_STATES.get(pdu.message_state) if pdu.message_state is not None else None
    if status is None and (match := _RECEIPT_STAT.search(text)):
        status = RECEIPT_STATS.get(match.group(1).upper())
    if not message_id or status is None:
        return None
    at = None
    if match := _RECEIPT_DONE.search(text):
        digits = match.group(1)
        with contextlib.suppress(ValueError):
            at = datetime.strptime(digits, "%y%m%d%H%M%S" if len(digits) == 12 else "%y%m%d%H%M").replace(
                tzinfo=time_zone
            )
    return Receipt(gateway_id=message_id, status=status, at=at)


class SmppReceiver:
    """The long-running receipt listener (`manage.py sms_receiver`): binds as a receiver, takes the deliver_sm the
    SMSC pushes, hands their receipts to `on_receipts` (a batch at a time), and only then answers deliver_sm_resp —
    ESME_ROK when they were recorded, ESME_RX_T_APPN when recording failed (the SMSC delivers them again).
    Keeps the connection alive with enquire_link, and after a loss connects again with back-off (1 s doubling to
    `max_backoff`). `run(stop)` returns once `stop` is set."""

    def __init__(
        self,
        config: SmppConfig,
        on_receipts: Callable[[list[Receipt]], object],
        *,
        max_backoff: float = 60.0,
        batch_size: int = 200,
        batch_seconds: float = 0.2,
        heartbeat: Callable[[], object] | None = None,
    ):
        self.config = config
        self.on_receipts = on_receipts
        self.max_backoff = max_backoff
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.heartbeat = heartbeat or (lambda: None)
        self.time_zone = ZoneInfo(config.receipt_time_zone)
        self.link: SmppLink | None = None
        self.connections = 0  # successful binds so far
        self.recorded = 0  # receipts handed over and acknowledged

    def run(self, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            self.heartbeat()
            link = SmppLink(self.config, mode=self.config.receive_bind)
            try:
                link.open()
            except SmppLinkError as exc:
                logger.warning("SMPP receiver: %s; trying again in %s s", exc, f"{backoff:g}")
                self._pause(stop, backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            self.link = link
            self.connections += 1
            logger.info("SMPP receiver: bound as %s to %s:%s", link.mode, self.config.host, self.config.port)
            bound_at = time.monotonic()
            try:
                self._serve(link, stop)
            except SmppLinkError as exc:
                logger.warning("SMPP receiver: connection lost (%s)", exc)
            finally:
                link.close(unbind=stop.is_set())
                self.link = None
            if time.monotonic() - bound_at > self.max_backoff:
                backoff = 1.0
            if not stop.is_set():
                self._pause(stop, backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _pause(self, stop: threading.Event, seconds: float) -> None:
        """Wait, still beating the heartbeat (a back-off of a minute must not look like a hung process)."""
        until = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < until:
            self.heartbeat()
            stop.wait(min(5.0, until - time.monotonic()))

    def _serve(self, link: SmppLink, stop: threading.Event) -> None:
        keepalive = self.config.enquire_link_seconds
        waiting_for: int | None = None  # the sequence of our enquire_link not yet answered
        asked_at = 0.0
        while not stop.is_set():
            self.heartbeat()
            if not link.readable(min(0.5, keepalive)):
                idle = time.monotonic() - link.last_used
                if waiting_for is not None and time.monotonic() - asked_at > self.config.timeout:
                    raise SmppLinkError("no answer to enquire_link")
                if waiting_for is None and idle >= keepalive:
                    request = link.make("enquire_link")
                    link.send(request)
                    waiting_for, asked_at = request.sequence, time.monotonic()
                continue
            pdu = link.read(self.config.timeout)
            if pdu.command == "enquire_link_resp":
                waiting_for = None
            elif pdu.command == "deliver_sm":
                self._take(link, [pdu])
            elif not link.answer_housekeeping(pdu):
                if pdu.is_request():
                    link.reply(pdu, "generic_nack", smpplib.consts.SMPP_ESME_RINVCMDID)
                logger.warning("SMPP receiver: an unexpected %s; ignored", pdu.command)

    def _take(self, link: SmppLink, pdus: list) -> None:
        """A batch of deliver_sm: the first and those that follow within `batch_seconds`; recorded together."""
        until = time.monotonic() + self.batch_seconds
        while len(pdus) < self.batch_size and link.readable(until - time.monotonic()):
            pdu = link.read(self.config.timeout)
            if pdu.command == "deliver_sm":
                pdus.append(pdu)
            elif not link.answer_housekeeping(pdu):
                logger.warning("SMPP receiver: an unexpected %s; ignored", pdu.command)
        receipts, others = [], 0
        for pdu in pdus:
            receipt = receipt_from_deliver_sm(pdu, time_zone=self.time_zone)
            if receipt is None:
                others += 1
            else:
                receipts.append(receipt)
        status = ESME_ROK
        if receipts:
            try:
                self.on_receipts(receipts)
                self.recorded += len(receipts)
            except Exception:
                logger.exception("SMPP receiver: recording %s receipts failed; the SMSC will send them again",
                                 len(receipts))  # fmt: skip
                status = ESME_RX_T_APPN
        if others:
            logger.info("SMPP receiver: %s deliver_sm that are no final receipts; acknowledged", others)
        for pdu in pdus:
            link.reply(pdu, "deliver_sm_resp", status)


# -- Mobizon ----------------------------------------------------------------------------------------------------------

MOBIZON_STATUSES = {
    "DELIVRD": DELIVERED,
    "UNDELIV": UNDELIVERABLE,
    "REJECTD": UNDELIVERABLE,
    "DELETED": UNDELIVERABLE,
    "EXPIRED": EXPIRED,
}  # NEW, ENQUEUD, ACCEPTD, PDLIVRD: not final, no receipt yet
# API codes (Mobizon's «API response codes»): the message itself is wrong → refused for good.
MOBIZON_REFUSED = {1: "validation error", 2: "record not found", 12: "a parameter out of its limits"}
# Our request is malformed (module, method, format, access, a missing parameter): no retry will help either.
MOBIZON_MALFORMED = {4: "wrong module", 5: "wrong method", 6: "wrong format", 9: "no access to the method",
                     11: "a required parameter is missing"}  # fmt: skip
# The account or the service: the same call later, or after the key, the domain or the balance is fixed, will do.
# These stop the batch: the rest would get the same answer.
MOBIZON_ACCOUNT_WIDE = {3: "unidentified application error", 8: "login error (the API key)",
                        10: "saving failed", 13: "wrong API server for this account", 14: "account blocked",
                        15: "operation failed", 30: "too many requests", 999: "general service error"}  # fmt: skip
MOBIZON_POLL_CHUNK = 100  # GetSMSStatus takes at most 100 ids


@dataclass(frozen=True)
class MobizonConfig:
    url: str  # https://api.mobizon.kz
    api_key: str = field(repr=False)
    sender: str = ""  # a registered alphaname; empty: the account's default
    deadline: float = 10.0
    concurrency: int = 4
    time_zone: str = "Asia/Almaty"

    @classmethod
    def from_settings(cls) -> MobizonConfig:
        _require("MOBIZON_URL", "MOBIZON_API_KEY")
        return cls(
            url=settings.MOBIZON_URL,
            api_key=settings.MOBIZON_API_KEY,
            sender=settings.MOBIZON_SENDER,
            deadline=settings.MOBIZON_DEADLINE_SECONDS,
            concurrency=max(1, settings.MOBIZON_CONCURRENCY),
            time_zone=settings.MOBIZON_TIME_ZONE,
        )


class MobizonTrouble(Exception):
    """A call that did not do its work: `transient` as in Submitted; `account_wide` when every other call would
    fare the same (stop the batch)."""

    def __init__(self, message: str, *, transient: bool, account_wide: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.account_wide = account_wide


class MobizonGateway:
    """Mobizon's HTTP API v1: `message/sendsmsmessage` per SMS (`recipient`, `text`, `from`), `message/getsmsstatus`
    for up to 100 ids a call. The key travels in the query string (`apiKey`), as Mobizon requires; the outbound
    guard logs paths without their query, and every error written here has the key masked. Answers are
    `{"code", "data", "message"}`; `code` 0 is success (API codes in MOBIZON_* above)."""

    name = "mobizon"

    def __init__(self, config: MobizonConfig):
        self.config = config

    def _call(self, method: str, form: list[tuple[str, str]]) -> object:
        query = urlencode({"output": "json", "api": "v1", "apiKey": self.config.api_key})
        url = f"{self.config.url.rstrip('/')}/service/message/{method}?{query}"
        try:
            answer = outbound.request(
                "POST",
                url,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "User-Agent": "KetLogistic-SMS/1",
                },  # fmt: skip
                body=urlencode(form).encode(),
                deadline=self.config.deadline,
                max_bytes=256 * 1024,
            )
        except outbound.OutboundURLError as exc:
            raise MobizonTrouble(
                self._mask(f"Mobizon's address is refused: {exc}"), transient=True, account_wide=True
            ) from exc
        except outbound.OutboundError as exc:
            raise MobizonTrouble(
                self._mask(f"Mobizon did not answer: {exc}"), transient=True, account_wide=True
            ) from exc
        if answer.status == 429 or answer.status >= 500 or not 200 <= answer.status < 300:
            # 3xx (a moved endpoint), 401/403/404 (a proxy's answer: Mobizon itself answers 200 with a code) and
            # 5xx alike: our configuration or their service, nothing about this message
            raise MobizonTrouble(f"Mobizon answered HTTP {answer.status}.", transient=True, account_wide=True)
        try:
            payload = json.loads(answer.body)
            code = int(payload["code"])
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise MobizonTrouble(
                "Mobizon's answer is not its JSON.", transient=True, account_wide=True
            ) from exc
        if code in (0, 100):
            return payload.get("data")
        said = str(payload.get("message") or "")[:200]
        if code in MOBIZON_REFUSED:
            fields = payload.get("data")
            named = (
                f" ({', '.join(sorted(str(k) for k in fields))})"
                if isinstance(fields, dict) and fields
                else ""
            )
            raise MobizonTrouble(
                self._mask(f"Mobizon refused: code {code}, {MOBIZON_REFUSED[code]}{named}: {said}"),
                transient=False,
            )
        if code in MOBIZON_MALFORMED:
            raise MobizonTrouble(
                self._mask(f"Mobizon refused the request: code {code}, {MOBIZON_MALFORMED[code]}: {said}"),
                transient=False,
            )
        meaning = MOBIZON_ACCOUNT_WIDE.get(code, "unknown code")
        raise MobizonTrouble(
            self._mask(f"Mobizon: code {code}, {meaning}: {said}"), transient=True, account_wide=True
        )

    def _mask(self, text: str) -> str:
        return _masked(text, self.config.api_key)

    def send(self, batch: list[OutgoingSms]) -> list[Submitted]:
        """One call per SMS, `concurrency` at a time. Per message: code 0 → accepted (`data.messageId`); codes 1, 2,
        12 and the malformed-request codes → refused for good; no answer, HTTP 429/5xx, the account's codes (login,
        blocked, rate limit, service errors) → transient, and the calls not yet made are not made (transient too)."""
        stopped: list[MobizonTrouble] = []
        lock = threading.Lock()

        def one(sms: OutgoingSms) -> Submitted:
            problem = _check(sms)
            if problem:
                return Submitted(id=sms.id, error=problem)
            with lock:
                if stopped:
                    return Submitted(id=sms.id, error=f"Not tried: {stopped[0].message}", transient=True)
            form = [("recipient", sms.phone), ("text", sms.text)]
            if self.config.sender:
                form.append(("from", self.config.sender))
            try:
                data = self._call("sendsmsmessage", form)
            except MobizonTrouble as trouble:
                if trouble.account_wide:
                    with lock:
                        stopped.append(trouble)
                return Submitted(
                    id=sms.id, error=_masked(trouble.message, sms.phone), transient=trouble.transient
                )
            message_id = str(data.get("messageId") or "") if isinstance(data, dict) else ""
            if not message_id:
                return Submitted(
                    id=sms.id, error="Mobizon accepted it without a message id.", transient=False
                )
            return Submitted(id=sms.id, gateway_id=message_id)

        started = time.monotonic()
        if self.config.concurrency > 1 and len(batch) > 1:
            with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(batch))) as pool:
                results = list(pool.map(one, batch))
        else:
            results = [one(sms) for sms in batch]
        accepted = sum(1 for r in results if r.gateway_id)
        transient = sum(1 for r in results if r.transient)
        logger.info(
            "Mobizon: %s SMS, %s accepted, %s to try again, %s refused, in %.2f s%s",
            len(batch),
            accepted,
            transient,
            len(batch) - accepted - transient,
            time.monotonic() - started,
            f" (stopped: {stopped[0].message})" if stopped else "",
        )
        return results

    def poll(self, gateway_ids: list[str]) -> list[Receipt]:
        """The final statuses of these messages (not yet final ones and unknown ids: nothing). A call that fails
        is logged and its ids simply not answered this time: the outbox asks again later."""
        receipts = []
        zone = ZoneInfo(self.config.time_zone)
        ids = [str(i) for i in gateway_ids if str(i)]
        for start in range(0, len(ids), MOBIZON_POLL_CHUNK):
            chunk = ids[start : start + MOBIZON_POLL_CHUNK]
            try:
                data = self._call("getsmsstatus", [(f"ids[{n}]", value) for n, value in enumerate(chunk)])
            except MobizonTrouble as trouble:
                logger.warning("Mobizon: statuses of %s messages not read: %s", len(chunk), trouble.message)
                if trouble.account_wide:
                    break
                continue
            for row in data if isinstance(data, list) else []:
                if not isinstance(row, dict):
                    continue
                status = MOBIZON_STATUSES.get(str(row.get("status") or "").upper())
                if status is None or not row.get("id"):
                    continue
                receipts.append(
                    Receipt(
                        gateway_id=str(row["id"]),
                        status=status,
                        at=_mobizon_time(row.get("statusUpdateTs"), zone),
                    )
                )
        return receipts


def _mobizon_time(value, zone: ZoneInfo) -> datetime | None:
    """Mobizon's "YYYY-MM-DD HH:MM:SS" (its documentation writes HH-MM-SS; both are read) in the account's zone."""
    if not value:
        return None
    text = str(value).strip()
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H-%M-%S"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(text, layout).replace(tzinfo=zone)
    return None


# -- which one --------------------------------------------------------------------------------------------------------

_GATEWAYS: dict[tuple, Gateway] = {}
_GATEWAYS_LOCK = threading.Lock()


def gateway_from_settings() -> Gateway:
    """The gateway `settings.SMS_GATEWAY` names ("log", "smpp", "mobizon"). An SMPP gateway is kept per process (its
    bound connection serves the next batch too) and per configuration; it unbinds when the process exits."""
    kind = settings.SMS_GATEWAY
    if kind == "log":
        return LogGateway()
    if kind == "mobizon":
        return MobizonGateway(MobizonConfig.from_settings())
    if kind == "smpp":
        config = SmppConfig.from_settings()
        key = (os.getpid(), config)
        with _GATEWAYS_LOCK:
            gateway = _GATEWAYS.get(key)
            if gateway is None:
                for stale in [k for k in _GATEWAYS if k[0] != os.getpid()]:
                    del _GATEWAYS[
                        stale
                    ]  # a forked child's copy of its parent's: never used, never closed here
                gateway = _GATEWAYS[key] = SmppGateway(config)
            return gateway
    raise ValueError(f"SMS_GATEWAY must be log, smpp or mobizon, not {kind!r}")


@atexit.register
def _close_gateways() -> None:
    for (pid, _config), gateway in list(_GATEWAYS.items()):
        if pid == os.getpid() and isinstance(gateway, SmppGateway):
            with contextlib.suppress(Exception):
                gateway.close()
    _GATEWAYS.clear()
