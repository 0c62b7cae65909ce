"""SMS to customers: an outbox written with the change that caused it, and a sweep that sends it through a gateway.

The operator script promises the customer an SMS at every step (seed 001: «ожидайте смс-оповещения», «следите по
смс»): when the goods are in their city, when delivery is agreed, when the courier sets off, when a post parcel
ships and arrives, when we could not reach them, when the order is returned or cancelled (after which nothing more
is sent), and a thank-you after a paid delivery. Each is a reaction (`ketlogistic/wiring.py`) that writes an
`SmsMessage` row inside the transaction of the change:

* a rolled-back change sends nothing, and a crash after the commit loses nothing (the row waits for the sweep);
* one SMS per order and event: a replayed status change, a retried task or a second worker insert `ON CONFLICT DO
  NOTHING` against the unique (order, event);
* the text is rendered then, in the partner's language, from its own text or the company's default
  (`sms_texts`), and never names another partner or holds a phone number;
* «do not contact» customers, events the partner switched off, and orders cancelled before work get nothing;
  a test order's SMS is recorded as sent to the sandbox and never reaches a gateway;
* an SMS due during the quiet hours of the customer's country (21:00–09:00 by default, `SMS_QUIET_HOURS`), in
  the zone of the customer's city, is held until their end.

The sweep (`sms_send_due`, beat every 15 s and kicked after each commit that queued one) claims due rows with
`FOR UPDATE SKIP LOCKED` under a token and a lease, so parallel sweeps never send a message twice; it decrypts each
phone only then, in the worker, hands the batch to the gateway (`sms_gateways`) and records what the gateway said:
accepted (its id), refused for good (failed, with the reason), or a passing failure (retried with back-off, for a
day). Delivery reports (`sms_receipts_record`) come from the gateway: pushed by SMPP, asked for from HTTP gateways
by `sms_poll_statuses`. Nothing here logs a phone: log lines carry ids and counts.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from callcenter.events import CallAttempted
from delivery.events import PostParcelArrived
from ketlogistic.core import access, crypto, i18n
from ketlogistic.core.actors import Actor, acting_user, partner_id_of
from ketlogistic.core.broker import kick
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from ketlogistic.core.redaction import redact
from orders.models import CustomerMark, Order, OrderPhone
from orders.statuses import FINAL_STATUSES, DeliveryKind, OrderStatus
from orders.workflow import OrderMoved

from .models import SmsEarlyReceipt, SmsMessage, SmsSettings, SmsTemplate
from .sms_gateways import Gateway, OutgoingSms, Receipt, Submitted, gateway_from_settings
from .sms_quiet_hours import held_until
from .sms_texts import (
    MAX_TEMPLATE_LENGTH,
    PLACEHOLDERS,
    SmsEvent,
    SmsLanguage,
    default_text,
    fill,
    measure,
    order_values,
    unknown_placeholders,
)

logger = logging.getLogger(__name__)

State = SmsMessage.State
E = SmsEvent

# The moves of the workflow that send, and their event.
MOVE_EVENTS = {
    "start_calling": E.IN_CITY,
    "agree_delivery": E.DELIVERY_AGREED,
    "hand_to_courier": E.ON_THE_WAY,
    "ship_by_post": E.POST_SHIPPED,
    "refuse": E.CANCELLED,
    "post_returned": E.CANCELLED,
    "close_not_reached": E.CANCELLED,
    "mark_paid": E.THANKS,
    "post_paid": E.THANKS,
}
# Call outcomes that mean we could not reach the customer (a wrong number is not theirs: nothing is sent to it).
UNREACHED_OUTCOMES = frozenset({"no_answer", "busy"})
SANDBOX_GATEWAY = "sandbox"
WAITING = (State.QUEUED, State.HELD)
# An SMS goes out within this long of the change that wrote it, or not at all: a passing failure is tried again with
# back-off until then (then failed), and one still waiting then (a long outage) is too late to be news.
GIVE_UP_AFTER = timedelta(hours=24)
# While it waits (the quiet hours, a gateway outage) an SMS stays true only while the order is still at its step: a
# «courier on the way» is false the next morning, «delivery agreed» after the order went back to calling. None: a
# closing SMS (thanks, returned or cancelled), true whatever follows.
STILL_TRUE_WHILE = {
    E.IN_CITY: frozenset({OrderStatus.CALLING}),
    E.NOT_REACHED: frozenset({OrderStatus.CALLING}),
    E.DELIVERY_AGREED: frozenset({OrderStatus.DELIVERY_AGREED, OrderStatus.IN_REGISTRY}),
    E.ON_THE_WAY: frozenset({OrderStatus.WITH_COURIER}),
    E.POST_SHIPPED: frozenset({OrderStatus.POST_SHIPPED}),
    E.POST_ARRIVED: frozenset({OrderStatus.POST_SHIPPED}),
    E.CANCELLED: None,
    E.THANKS: None,
}
# HTTP gateways are asked for statuses of messages sent within this window, each at most this often.
POLL_WINDOW = timedelta(hours=72)
POLL_EVERY = timedelta(minutes=5)
POLL_BATCH = 500
POLL_CHUNK = 100  # ids per status request (Mobizon's GetSMSStatus takes up to 100)
# A report for an id no message carries yet waits this long for the sweep to record it (`SmsEarlyReceipt`): longer
# than a sweep holds its claim. Most such reports are for ids that never will be: a long text's later parts (the
# gateway knows a message by its first part's id), which is why they are not kept longer.
EARLY_RECEIPTS_KEPT = timedelta(minutes=15)
RECEIPT_STATES = {
    "delivered": State.DELIVERED,
    "undeliverable": State.UNDELIVERABLE,
    "expired": State.EXPIRED,
}


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, 8 … capped at one hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


# -- texts -------------------------------------------------------------------------------------------------------------


def settings_for(partner_id: int) -> SmsSettings:
    """The partner's SMS settings (all events on, in Russian, until it chose otherwise)."""
    return SmsSettings.objects.filter(partner_id=partner_id).first() or SmsSettings(partner_id=partner_id)


def template_for(*, partner_id: int | None, event: str, language: str) -> str:
    """The partner's own text of the event, else the company's default row, else the built-in default."""
    found = dict(
        SmsTemplate.objects.filter(event=event, language=language)
        .filter(Q(partner_id=partner_id) | Q(partner__isnull=True))
        .values_list("partner_id", "text")
    )
    return found.get(partner_id) or found.get(None) or default_text(event, language)


# -- the outbox --------------------------------------------------------------------------------------------------------


def _kick_sweep() -> None:
    """Ask a worker to sweep now; if the broker is down, beat's run does it (the rows are safe in the database)."""
    kick("integrations.send_sms", what="SMS sweep")


def _kick_after_commit() -> None:
    """One sweep asked for per transaction, however many SMS it wrote (a bulk move writes hundreds)."""
    pending = transaction.get_connection().run_on_commit
    if not any(entry[1] is _kick_sweep for entry in pending):
        transaction.on_commit(_kick_sweep)


def _choices_for(partner_id: int, event: str) -> tuple[str, list[str], str]:
    """The partner's language, its events switched off and the event's text in that language (its own, else the
    company's default row, else the built-in), in one query: every status change that sends pays for it."""
    language = Coalesce(
        Subquery(SmsSettings.objects.filter(partner_id=OuterRef("pk")).values("language")[:1]),
        Value(SmsLanguage.RU.value),
    )
    found = (
        Partner.objects.filter(pk=partner_id)
        .annotate(sms_language=language)
        .annotate(
            sms_disabled=Subquery(
                SmsSettings.objects.filter(partner_id=OuterRef("pk")).values("disabled_events")[:1]
            ),
            sms_text=Subquery(
                SmsTemplate.objects.filter(event=event, language=OuterRef("sms_language"))
                .filter(Q(partner_id=OuterRef("pk")) | Q(partner__isnull=True))
                .order_by(F("partner_id").asc(nulls_last=True))
                .values("text")[:1]
            ),
        )
        .values_list("sms_language", "sms_disabled", "sms_text")
        .get()
    )
    language, disabled, text = found
    return language, list(disabled or []), text or default_text(event, language)


def sms_enqueue(
    *,
    order: Order,
    event: str,
    tracking: str = "",
    post_office: str = "",
    now: datetime | None = None,
) -> SmsMessage | None:
    """Write the event's SMS for the order inside the caller's transaction (None when nothing is to be sent, or the
    order has that SMS already). Renders the text now, in the partner's language, from the order's data. Three
    queries: the partner's choices and text, the phones with their «do not contact» marks, the insert."""
    now = now or timezone.now()
    if order.status == OrderStatus.CANCELLED and order.work_started_at is None:
        return None
    language, disabled, template = _choices_for(order.partner_id, event)
    if event in disabled:
        return None
    phones = list(
        OrderPhone.objects.filter(order_id=order.pk)
        .annotate(
            marked=Exists(
                CustomerMark.objects.filter(phone_index=OuterRef("blind_index"), do_not_contact=True)
            )
        )
        .order_by("position")
        .values_list("masked", "marked")
    )
    if not phones:
        return None  # the number was erased: there is nobody to write to
    if not order.is_test and any(marked for _masked, marked in phones):
        return None
    text = fill(template, order_values(order, tracking=tracking, post_office=post_office))
    length = measure(text)
    if order.is_test:
        state, gateway, sent_at, due = State.SENT, SANDBOX_GATEWAY, now, now
    else:
        hold = held_until(country=order.country, zone=order.city.timezone, now=now)
        state, gateway, sent_at, due = (State.HELD if hold else State.QUEUED), "", None, hold or now
    message = SmsMessage(
        partner_id=order.partner_id,
        order_id=order.pk,
        event=event,
        language=language,
        text=text,
        segments=length.parts,
        encoding=length.encoding,
        phone_masked=phones[0][0],
        state=state,
        is_test=order.is_test,
        gateway=gateway,
        next_attempt_at=due,
        created_at=now,
        sent_at=sent_at,
    )
    table = SmsMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table}
                (partner_id, order_id, event, language, text, segments, encoding, phone_masked, state, is_test,
                 gateway, gateway_id, attempts, next_attempt_at, error, error_message, created_at, sent_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', 0, %s, '', '{{}}'::jsonb, %s, %s)
            ON CONFLICT (order_id, event) DO NOTHING
            RETURNING id
            """,
            [
                message.partner_id,
                message.order_id,
                message.event,
                message.language,
                message.text,
                message.segments,
                message.encoding,
                message.phone_masked,
                message.state,
                message.is_test,
                message.gateway,
                message.next_attempt_at,
                message.created_at,
                message.sent_at,
            ],
        )
        inserted = cursor.fetchone()
    if inserted is None:
        return None
    message.pk = inserted[0]
    message._state.adding = False
    if state == State.QUEUED:
        _kick_after_commit()
    return message


def _stop_waiting(order: Order, *, keep: str | None) -> int:
    """The order's life ended: what still waits to be sent is not sent any more (the script promises the calls and
    SMS stop), except the SMS that says so."""
    waiting = SmsMessage.objects.filter(order_id=order.pk, state__in=WAITING)
    if keep:
        waiting = waiting.exclude(event=keep)
    reason = gettext_message("Not sent: the order was closed before it went out.")
    return waiting.update(
        state=State.CANCELLED,
        error=reason,
        error_message=i18n.stored(reason),
        claimed_until=None,
        claim_token=None,
    )


# -- reactions (ketlogistic/wiring.py), inside the transaction of the change -------------------------------------------


def on_order_moved(moved: OrderMoved) -> None:
    """A status change that the customer hears of (`MOVE_EVENTS`); a final status stops what still waits."""
    order, action = moved.order, moved.transition.action
    event = MOVE_EVENTS.get(action)
    if order.status in FINAL_STATUSES:
        _stop_waiting(order, keep=event)
    if event is None:
        return
    if event == E.IN_CITY and order.delivery_kind == DeliveryKind.POST:
        return  # a post parcel leaves the main warehouse: its SMS come when it ships and arrives
    if event == E.CANCELLED and order.work_started_at is None:
        return  # cancelled before any work: the customer was never told anything
    tracking = str(moved.context.data.get("tracking_number") or "") if event == E.POST_SHIPPED else ""
    sms_enqueue(order=order, event=event, tracking=tracking, now=moved.context.now)


def on_call_attempt(attempted: CallAttempted) -> None:
    """A call the customer did not answer (no answer, busy): «we could not reach you», once per order."""
    attempt = attempted.attempt
    if attempt.outcome not in UNREACHED_OUTCOMES:
        return
    order = attempt.order
    if order.status in FINAL_STATUSES:
        return
    sms_enqueue(order=order, event=E.NOT_REACHED)


def on_post_arrived(arrived: PostParcelArrived) -> None:
    """The parcel waits at the post office: its tracking number and the office the post named (else the city)."""
    shipment = arrived.shipment
    order = Order.objects.select_related("city", "partner").get(pk=shipment.order_id)
    if order.status in FINAL_STATUSES:
        return
    sms_enqueue(
        order=order,
        event=E.POST_ARRIVED,
        tracking=shipment.tracking_number,
        post_office=arrived.note or order.settlement or order.city.name,
    )


# -- the sweep ---------------------------------------------------------------------------------------------------------


def _claim_lifetime() -> timedelta:
    return timedelta(seconds=max(getattr(settings, "SMS_CLAIM_SECONDS", 300), 30))


def _claim(*, limit: int, now: datetime) -> tuple[uuid.UUID, list[int]]:
    """Due rows (waiting, held past their morning, or claimed by a sweep whose lease ran out), oldest first, locked
    with SKIP LOCKED and marked `sending` under this sweep's token: a parallel sweep takes other rows."""
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(
            SmsMessage.objects.select_for_update(skip_locked=True)
            .filter(is_test=False, state__in=(*WAITING, State.SENDING), next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            SmsMessage.objects.filter(id__in=ids).update(
                state=State.SENDING, claim_token=token, claimed_until=now + _claim_lifetime()
            )
    return token, ids


@dataclass
class SweepResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    cancelled: int = 0


def sms_send_due(
    *, gateway: Gateway | None = None, limit: int | None = None, now: datetime | None = None
) -> int:
    """Send every SMS that is due, batch by batch, through `gateway` (the configured one by default). Safe to run in
    several workers at once. Returns how many the gateway accepted."""
    gateway = gateway or gateway_from_settings()
    limit = limit or settings.SMS_SEND_BATCH
    total = SweepResult()
    while True:
        moment = now or timezone.now()
        token, ids = _claim(limit=limit, now=moment)
        if not ids:
            break
        result = _send_batch(gateway, ids=ids, token=token, now=moment)
        for name in ("sent", "retried", "failed", "held", "cancelled"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        if now is not None:
            break  # a fixed clock: one batch (the rows it retried are due again at once on that clock)
    if total.sent or total.retried or total.failed or total.cancelled:
        logger.info(
            "SMS sweep through %s: %s sent, %s to retry, %s failed, %s held, %s cancelled",
            gateway.name,
            total.sent,
            total.retried,
            total.failed,
            total.held,
            total.cancelled,
        )
    return total.sent


def _send_batch(gateway: Gateway, *, ids: list[int], token: uuid.UUID, now: datetime) -> SweepResult:
    result = SweepResult()
    rows = list(
        SmsMessage.objects.filter(id__in=ids, claim_token=token)
        .select_related("order__city")
        .order_by("next_attempt_at", "id")
    )
    partner_settings = {
        row.partner_id: row for row in SmsSettings.objects.filter(partner_id__in={r.partner_id for r in rows})
    }
    phones: dict[int, list[tuple[str, str, str]]] = {}
    for order_id, ciphertext, index, masked in (
        OrderPhone.objects.filter(order_id__in={r.order_id for r in rows})
        .order_by("order_id", "position")
        .values_list("order_id", "ciphertext", "blind_index", "masked")
    ):
        phones.setdefault(order_id, []).append((ciphertext, index, masked))
    marked = set(
        CustomerMark.objects.filter(
            phone_index__in={index for found in phones.values() for _c, index, _m in found},
            do_not_contact=True,
        ).values_list("phone_index", flat=True)
    )
    outgoing: list[OutgoingSms] = []
    masked_of: dict[int, str] = {}
    for row in rows:
        found = phones.get(row.order_id, [])
        chosen = partner_settings.get(row.partner_id)
        if chosen is not None and not chosen.is_on(row.event):
            _finish(row, token=token, state=State.CANCELLED, error=gettext_message("Not sent: switched off."))
            result.cancelled += 1
            continue
        stale = _no_longer_true(row, now=now)
        if stale is not None:
            _finish(row, token=token, state=State.CANCELLED, error=stale)
            result.cancelled += 1
            continue
        if any(index in marked for _c, index, _m in found):
            _finish(
                row,
                token=token,
                state=State.CANCELLED,
                error=gettext_message("Not sent: the customer asked not to be contacted."),
            )
            result.cancelled += 1
            continue
        if not found:
            _finish(row, token=token, state=State.FAILED, error=gettext_message("The order has no phone."))
            result.failed += 1
            continue
        hold = held_until(country=row.order.country, zone=row.order.city.timezone, now=now)
        if hold is not None:
            _hold(row, token=token, until=hold)
            result.held += 1
            continue
        ciphertext, _index, masked = found[0]
        try:
            number = crypto.decrypt(ciphertext)
        except crypto.DecryptionError:
            _finish(
                row,
                token=token,
                state=State.FAILED,
                error=gettext_message("The phone could not be decrypted."),
            )
            result.failed += 1
            continue
        outgoing.append(OutgoingSms(id=row.pk, phone=number.lstrip("+"), text=row.text))
        masked_of[row.pk] = masked
    if not outgoing:
        return result
    try:
        answers = gateway.send(outgoing)
    except Exception as exc:  # noqa: BLE001 - whatever the gateway raised, the batch waits for the next try
        logger.warning(
            "SMS gateway %s failed on a batch of %s: %s", gateway.name, len(outgoing), type(exc).__name__
        )
        error = redact(str(exc))[:300] or type(exc).__name__
        answers = [Submitted(id=sms.id, error=error, transient=True) for sms in outgoing]
    del outgoing  # the numbers leave memory with the batch
    by_id = {answer.id: answer for answer in answers}
    rows_by_id = {row.pk: row for row in rows}
    accepted: list[tuple[int, str, str]] = []
    retries: dict[tuple[int, str], list[int]] = {}
    for sms_id in masked_of:
        answer = by_id.get(sms_id)
        row = rows_by_id[sms_id]
        if answer is None:
            answer = Submitted(
                id=sms_id,
                error=gettext_message("The gateway gave no answer for this message."),
                transient=True,
            )
        if answer.gateway_id and not answer.error:
            accepted.append((sms_id, answer.gateway_id[:64], masked_of[sms_id]))
            continue
        error = answer.error if isinstance(answer.error, i18n.Message) else redact(answer.error or "")[:500]
        if answer.transient and now - row.created_at < GIVE_UP_AFTER:
            retries.setdefault((row.attempts, error), []).append(row.pk)
            result.retried += 1
        else:
            _finish(
                row,
                token=token,
                state=State.FAILED,
                error=error or gettext_message("Refused by the gateway."),
                tried=True,
            )
            result.failed += 1
    # a gateway down fails the whole batch alike: one statement per attempt count and error, not one per message
    for (attempts, error), ids in retries.items():
        SmsMessage.objects.filter(pk__in=ids, claim_token=token, state=State.SENDING).update(
            state=State.QUEUED,
            next_attempt_at=now + backoff(attempts + 1),
            attempts=attempts + 1,
            error=str(error)[:500],
            error_message=i18n.stored(error),
            claimed_until=None,
            claim_token=None,
        )
    result.sent = _record_accepted(accepted, gateway=gateway.name, token=token, now=now)
    return result


def _no_longer_true(row: SmsMessage, *, now: datetime) -> i18n.Message | None:
    """Why a waiting SMS would no longer tell the truth when sent now, or None. Checked as the sweep takes it (the
    order's status is read with the row), so a held message is weighed in the morning, not when it was written."""
    if now - row.created_at > GIVE_UP_AFTER:
        return gettext_message("Not sent: it could not go out within a day, and would no longer be news.")
    order = row.order
    statuses = STILL_TRUE_WHILE.get(row.event)
    if statuses is not None and order.status not in statuses:
        return gettext_message("Not sent: the order moved on before it could go out.")
    zone = ZoneInfo(order.city.timezone)
    if (
        row.event == E.ON_THE_WAY
        and timezone.localtime(row.created_at, zone).date() != timezone.localtime(now, zone).date()
    ):
        return gettext_message("Not sent: the courier's day it announced is over.")
    if (
        row.event == E.DELIVERY_AGREED
        and order.delivery_date is not None
        and order.delivery_date < timezone.localtime(now, zone).date()
    ):
        return gettext_message("Not sent: the agreed day has passed.")
    return None


def _record_accepted(
    accepted: list[tuple[int, str, str]], *, gateway: str, token: uuid.UUID, now: datetime
) -> int:
    """The accepted messages as sent, with the gateway's ids, in one statement; only rows still this sweep's."""
    if not accepted:
        return 0
    table = SmsMessage._meta.db_table
    values = ", ".join(["(%s::bigint, %s::text, %s::text)"] * len(accepted))
    params: list = [State.SENT, gateway, now]
    for row in accepted:
        params.extend(row)
    params.extend([token, State.SENDING])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS m SET
                state = %s, gateway = %s, sent_at = %s, gateway_id = v.gateway_id, phone_masked = v.masked,
                attempts = m.attempts + 1, error = '', error_message = '{{}}'::jsonb,
                claimed_until = NULL, claim_token = NULL
            FROM (VALUES {values}) AS v(id, gateway_id, masked)
            WHERE m.id = v.id AND m.claim_token = %s AND m.state = %s
            """,
            params,
        )
        recorded = cursor.rowcount
    if recorded != len(accepted):
        logger.warning(
            "SMS sweep: %s of %s accepted messages were claimed by another sweep meanwhile",
            len(accepted) - recorded,
            len(accepted),
        )
    _apply_early([gateway_id for _id, gateway_id, _masked in accepted], now=now)
    return recorded


def _finish(row: SmsMessage, *, token: uuid.UUID, state: str, error: str, tried: bool = False) -> None:
    SmsMessage.objects.filter(pk=row.pk, claim_token=token, state=State.SENDING).update(
        state=state,
        error=str(error)[:500],
        error_message=i18n.stored(error),
        attempts=row.attempts + (1 if tried else 0),
        claimed_until=None,
        claim_token=None,
    )


def _hold(row: SmsMessage, *, token: uuid.UUID, until: datetime) -> None:
    """Back to waiting, for the morning: it is night in the customer's zone."""
    SmsMessage.objects.filter(pk=row.pk, claim_token=token, state=State.SENDING).update(
        state=State.HELD, next_attempt_at=until, claimed_until=None, claim_token=None
    )


# -- delivery reports --------------------------------------------------------------------------------------------------


@dataclass
class ReceiptsRecorded:
    updated: int = 0  # messages whose status the reports changed
    unchanged: int = 0  # reports already recorded (or after another final status)
    unknown: int = 0  # reports for ids no message carries: kept a while, the sweep may be recording them now


def sms_receipts_record(*, receipts: list[Receipt], now: datetime | None = None) -> ReceiptsRecorded:
    """Record the gateway's delivery reports by its message ids. Idempotent: a report recorded before, or one that
    comes after another final status, changes nothing. A report for an id no message carries is counted as unknown
    and kept 15 minutes (`SmsEarlyReceipt`): the SMSC may report a message before the sweep that sent it has
    recorded the gateway's answers, and the sweep applies it then; an id that is none of ours (a long text's later
    parts) is forgotten."""
    now = now or timezone.now()
    result = ReceiptsRecorded()
    wanted: dict[str, Receipt] = {}
    for receipt in receipts:
        if receipt.gateway_id and receipt.status in RECEIPT_STATES:
            wanted[receipt.gateway_id] = receipt
        else:
            result.unknown += 1
    if not wanted:
        return result
    with transaction.atomic():
        rows = list(
            SmsMessage.objects.select_for_update()
            .filter(gateway_id__in=list(wanted), is_test=False)
            .exclude(gateway_id="")
            .order_by("pk")
        )
        found = set()
        for row in rows:
            found.add(row.gateway_id)
            receipt = wanted[row.gateway_id]
            target = RECEIPT_STATES[receipt.status]
            if row.state != State.SENT:
                result.unchanged += 1
                continue
            row.state = target
            row.reported_at = now
            fields = ["state", "reported_at"]
            if target == State.DELIVERED:
                row.delivered_at = receipt.at or now
                fields.append("delivered_at")
            row.save(update_fields=fields)
            result.updated += 1
        unmatched = [wanted[gateway_id] for gateway_id in sorted(set(wanted) - found)]
        result.unknown += len(unmatched)
        _keep_early(unmatched, now=now)
    if result.unknown:
        logger.info(
            "SMS delivery reports: %s for ids no message carries (yet): kept 15 minutes", result.unknown
        )
    return result


def _keep_early(receipts: list[Receipt], *, now: datetime) -> None:
    """Reports for ids no message carries yet, kept for when the sweep records them (the newest report wins)."""
    if not receipts:
        return
    table = SmsEarlyReceipt._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s)"] * len(receipts))
    params: list = []
    for receipt in receipts:
        params.extend([receipt.gateway_id[:64], receipt.status, receipt.at, now])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (gateway_id, status, at, received_at) VALUES {values}
            ON CONFLICT (gateway_id) DO UPDATE SET
                status = EXCLUDED.status, at = EXCLUDED.at, received_at = EXCLUDED.received_at
            """,
            params,
        )


def _apply_early(gateway_ids: list[str], *, now: datetime) -> int:
    """Reports that came before their messages' gateway ids were recorded: applied now that they are."""
    early = list(SmsEarlyReceipt.objects.filter(gateway_id__in=gateway_ids))
    if not early:
        return 0
    SmsEarlyReceipt.objects.filter(pk__in=[row.pk for row in early]).delete()
    receipts = [Receipt(gateway_id=row.gateway_id, status=row.status, at=row.at) for row in early]
    return sms_receipts_record(receipts=receipts, now=now).updated


def sms_forget_early_receipts(*, now: datetime | None = None) -> int:
    """Reports kept 15 minutes without their message: ids that are none of ours (a long text's later parts)."""
    cutoff = (now or timezone.now()) - EARLY_RECEIPTS_KEPT
    deleted, _by_model = SmsEarlyReceipt.objects.filter(received_at__lt=cutoff).delete()
    return deleted


def sms_poll_statuses(
    *, gateway: Gateway | None = None, limit: int = POLL_BATCH, now: datetime | None = None
) -> int:
    """Ask an HTTP gateway for the status of messages it accepted and has not reported on (sent within three days,
    each at most every five minutes) and record the answers. SMPP reports by itself (`deliver_sm`). First, reports
    kept early whose message now carries its id are applied, and those kept too long forgotten. Returns how many
    messages changed status."""
    gateway = gateway or gateway_from_settings()
    now = now or timezone.now()
    applied = _apply_early_recorded(now=now)
    sms_forget_early_receipts(now=now)
    if gateway.name == "smpp":
        return applied
    with transaction.atomic():
        due = list(
            SmsMessage.objects.select_for_update(skip_locked=True)
            .filter(state=State.SENT, gateway=gateway.name, is_test=False, sent_at__gte=now - POLL_WINDOW)
            .exclude(gateway_id="")
            .filter(Q(polled_at__isnull=True) | Q(polled_at__lt=now - POLL_EVERY))
            .order_by("sent_at", "id")
            .values_list("id", "gateway_id")[:limit]
        )
        SmsMessage.objects.filter(id__in=[pk for pk, _gid in due]).update(polled_at=now)
    gateway_ids = [gateway_id for _pk, gateway_id in due]
    receipts: list[Receipt] = []
    for start in range(0, len(gateway_ids), POLL_CHUNK):
        try:
            receipts.extend(gateway.poll(gateway_ids[start : start + POLL_CHUNK]))
        except Exception as exc:  # noqa: BLE001 - the gateway is asked again at the next run
            logger.warning("SMS gateway %s: statuses not read (%s)", gateway.name, type(exc).__name__)
            break
    return applied + (sms_receipts_record(receipts=receipts, now=now).updated if receipts else 0)


def _apply_early_recorded(*, now: datetime) -> int:
    """Early reports whose message has its gateway id by now (one a receiver kept while the sweep was recording
    the very id: the sweep looked for early reports a moment before this one was kept)."""
    ids = list(
        SmsEarlyReceipt.objects.filter(
            Exists(SmsMessage.objects.filter(gateway_id=OuterRef("gateway_id"), is_test=False))
        ).values_list("gateway_id", flat=True)[:POLL_BATCH]
    )
    return _apply_early(ids, now=now) if ids else 0


def sms_forget_erased_texts(*, limit: int = 50_000) -> int:
    """The texts and masked numbers of SMS whose order's personal data retention erased (`orders.services`)."""
    ids = list(
        SmsMessage.objects.filter(order__personal_data_erased_at__isnull=False)
        .exclude(text="", phone_masked="")
        .values_list("id", flat=True)[:limit]
    )
    return SmsMessage.objects.filter(id__in=ids).update(text="", phone_masked="")


# -- the partner's settings ---------------------------------------------------------------------------------------------


def can_edit(actor: Actor, partner: Partner) -> bool:
    """The partner's administrator edits its SMS settings; our staff read them."""
    return access.can(actor, "sms.manage") and partner_id_of(actor) == partner.pk


@transaction.atomic
def sms_settings_save(
    *,
    actor: Actor,
    partner: Partner,
    language: str,
    enabled_events: list[str],
    texts: dict[str, str],
    texts_language: str | None = None,
) -> SmsSettings:
    """Save which events send, the language, and the partner's own texts (of `texts_language`, the one the editor
    showed; the new language by default). An empty text, or the default itself, means the default. Unknown
    placeholders are refused, naming them, per event."""
    if not can_edit(actor, partner):
        raise PermissionDenied
    if language not in SmsLanguage.values:
        raise ValidationError({"language": _("Choose a language from the list.")})
    texts_language = texts_language if texts_language in SmsLanguage.values else language
    unknown_events = sorted(set(enabled_events) - set(SmsEvent.values))
    if unknown_events:
        raise ValidationError(
            {"enabled_events": _("Unknown events: %(names)s.") % {"names": ", ".join(unknown_events)}}
        )
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for event in SmsEvent.values:
        text = (texts.get(event) or "").strip()
        field = f"text_{event}"
        if unknown := unknown_placeholders(text):
            errors[field] = [
                _("Unknown placeholder %(names)s. Use: %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)}
            ]
        elif len(text) > MAX_TEMPLATE_LENGTH:
            errors[field] = [
                ngettext(
                    "This text has %(length)s character; at most %(limit)s are allowed.",
                    "This text has %(length)s characters; at most %(limit)s are allowed.",
                    len(text),
                )
                % {"limit": MAX_TEMPLATE_LENGTH, "length": len(text)}
            ]
        cleaned[event] = text
    if errors:
        raise ValidationError(errors)
    chosen, _created = SmsSettings.objects.select_for_update().get_or_create(partner=partner)
    chosen.language = language
    chosen.disabled_events = [event for event in SmsEvent.values if event not in enabled_events]
    chosen.updated_by = acting_user(actor)
    chosen.save()
    for event, text in cleaned.items():
        default = template_for(partner_id=None, event=event, language=texts_language)
        own = SmsTemplate.objects.filter(partner=partner, event=event, language=texts_language)
        if not text or text == default:
            own.delete()
        else:
            updated = own.update(text=text, updated_by=acting_user(actor), updated_at=timezone.now())
            if not updated:
                SmsTemplate.objects.create(
                    partner=partner,
                    event=event,
                    language=texts_language,
                    text=text,
                    updated_by=acting_user(actor),
                )
    return chosen
