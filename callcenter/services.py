"""Writes of the call center: the queue, calls and their outcomes, PBX events, registries, the hotline,
escalations and quality reviews."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import EmptyResultSet, PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from geography.models import Warehouse
from ketlogistic.core import access, crypto, reactions
from ketlogistic.core.actors import Actor, acting_user, role_of
from ketlogistic.core.calendar import calendar_for, countries_at_work
from ketlogistic.core.countries import Country
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message, ngettext_message
from ketlogistic.core.money import parse_money
from ketlogistic.core.phones import PhoneError, mask_phone, normalize_phone
from ketlogistic.core.roles import Role
from ketlogistic.core.services import audit_record
from ketlogistic.core.sql import Rows, Table
from orders import workflow
from orders.amendments import OrderAmended, order_amend
from orders.models import CustomerMark, Order, OrderPhone, PartnerRules
from orders.selectors import customer_profile, do_not_contact_mark
from orders.services import CustomerMarked, discussion_post
from orders.statuses import CALLED_STATUSES, AmendmentSource, DeliveryKind, OrderSource, OrderStatus
from orders.work import order_mark_work_started
from orders.workflow import OrderMoved
from warehouses.fulfilment import serving_warehouse

from . import scheduling, telephony
from .events import CallAttempted
from .models import (
    UNANSWERED,
    CallAttempt,
    CallClaim,
    CallState,
    CustomerRequest,
    DeliveryRegistry,
    Escalation,
    InboundCall,
    Outcome,
    QualityReview,
    RegistryEntry,
    Script,
    ScriptSection,
)
from .quality import CHECKLIST

ESCALATION_WORKING_HOURS = 4


def _claim_minutes() -> int:
    return settings.CALL_CLAIM_MINUTES


# -- keeping the calling state in step with the workflow -------------------------------------------------------------


def on_order_moved(moved: OrderMoved) -> None:
    """An order entering calling gets its next call time; leaving calling frees its claim."""
    order, context = moved.order, moved.context
    if order.is_test:
        return
    if order.status == OrderStatus.CALLING:
        due = (
            scheduling.start_of(calendar_for(order.country), context.call_on)
            if context.call_on is not None
            else scheduling.first_call_at(order, context.now)
        )
        state, created = CallState.objects.get_or_create(
            order=order, defaults={"partner_id": order.partner_id, "next_call_at": due}
        )
        if not created:
            state.next_call_at = due
            state.is_callback = False
            state.save(update_fields=["next_call_at", "is_callback"])
        mark = do_not_contact_mark(order)
        if mark is not None:
            escalation_for_head(order=order, actor=context.actor, mark_reason=mark.reason, now=context.now)
    else:
        CallClaim.objects.filter(order=order).delete()


def on_customer_marked(marked: CustomerMarked) -> None:
    """A customer marked «do not contact» (seed 001: «НЕ КОНТАКТИРОВАТЬ – таким клиентам заказы НЕ ОФОРМЛЯЕМ»): each
    of the customer's orders the call center works on, of any partner, goes to the head of department's decision;
    the queue hands none of them out meanwhile (`queue`)."""
    if not marked.do_not_contact:
        return
    orders = Order.objects.filter(
        id__in=OrderPhone.objects.filter(blind_index__in=marked.phone_indexes).values("order_id"),
        status__in=CALLED_STATUSES,
        is_test=False,
    ).order_by("pk")
    now = timezone.now()
    for order in orders:
        escalation_for_head(order=order, actor=marked.actor, mark_reason=marked.reason, now=now)


# -- the queue ------------------------------------------------------------------------------------------------------


def queue(actor: Actor, *, now: datetime | None = None, at_work: list[str] | None = None):
    """Orders due for a call that this logist serves, in priority order: same-day orders, call-backs that are
    due, new orders (goods in the city, for next-day delivery), then the rest oldest first; only customers whose
    working hours it is, in their own zone (a call due at 17:30 and not made waits for the next morning).

    The ranking is the calling state's (`CallState.priority`, kept with the order by the database), so the best
    few come from the first rows of the `call_state_queue` index whatever the number of orders (or of
    `call_state_queue_country` while only one country is at work). `at_work`: `countries_at_work(now)`, when the
    caller has it already (a pull asks the queue several times at one moment)."""
    now = now or timezone.now()
    if at_work is None:
        at_work = countries_at_work(now)
    # `is_calling` is the order's status = calling and not a test, copied in the same transaction; asking the order
    # again would make the planner expect to skip most states and rank them all. The same holds for the country.
    due = Order.objects.filter(call_state__is_calling=True, call_state__next_call_at__lte=now)
    if not at_work:
        due = due.none()
    elif len(at_work) < len(Country.values):
        due = due.filter(call_state__country__in=at_work)
    return (
        access.scoped(actor, due)
        .exclude(call_claim__expires_at__gt=now)
        # an order passed to a supervisor waits for the decision, not for the next logist
        .exclude(Exists(Escalation.objects.filter(order=OuterRef("pk"), status=Escalation.Status.OPEN)))
        # nor is a customer marked «do not contact» handed out, whatever was decided: it is the head of
        # department's decision (`on_customer_marked`), and the mark must be lifted before anyone calls
        .exclude(
            Exists(
                OrderPhone.objects.filter(
                    order_id=OuterRef("pk"),
                    blind_index__in=CustomerMark.objects.filter(do_not_contact=True).values("phone_index"),
                )
            )
        )
        .annotate(priority=F("call_state__priority"))
        .order_by(
            "call_state__priority",
            "call_state__next_call_at",
            "call_state__order_created_at",
            "call_state__id",
        )
    )


QUEUE_LOOKAHEAD = 20
# A pull runs the same two statements of the queue every time for a logist: the best-ranked due ids, and «is this
# one still due». Building them through the ORM cost a pull most of its time (the queue's joins, subqueries and
# scope compiled again for every look), so each process compiles them once per logist's scope and countries at work
# (`_queue_statements`) with stand-ins for the moment and the order, and binds the real ones on every pull.
_THEN = datetime(1970, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)  # stands for the moment of the pull
_THE_ORDER = -707070707070  # stands for the order looked at again
_compiled_queues: dict[tuple, tuple[tuple[str, list], tuple[str, list]] | None] = {}
_COMPILED_QUEUES_KEPT = 500


def _queue_statements(actor: Actor, at_work: list[str]):
    """(the ranked ids, the order still due) of `queue` for this actor, compiled once per process for its scope and
    the countries at work; None when the actor sees no order at all."""
    key = (access.scope_key(actor), tuple(at_work))
    if key in _compiled_queues:
        return _compiled_queues[key]
    then = queue(actor, now=_THEN, at_work=at_work)
    try:
        statements = (
            then.values_list("pk", flat=True)[:QUEUE_LOOKAHEAD].query.sql_with_params(),
            then.filter(pk=_THE_ORDER).order_by().values_list("pk")[:1].query.sql_with_params(),
        )
    except EmptyResultSet:  # a scope that sees nothing
        statements = None
    if len(_compiled_queues) >= _COMPILED_QUEUES_KEPT:
        _compiled_queues.clear()
    _compiled_queues[key] = statements
    return statements


def _bound(statement: tuple[str, list], *, now: datetime, order_id: int | None = None) -> tuple[str, list]:
    sql, params = statement
    return sql, [
        now
        if isinstance(param, datetime) and param == _THEN
        else order_id
        if type(param) is int and param == _THE_ORDER
        else param
        for param in params
    ]


_ORDER = Rows(Order, "o")
_HELD = (
    f"SELECT {_ORDER} FROM {Table(CallClaim, 'c')} JOIN {Table(Order, 'o')} ON o.id = c.order_id "
    "WHERE c.operator_id = %s AND c.expires_at > %s ORDER BY c.id LIMIT 1"
)
# the first of the ranked ids that no other logist has locked, in their rank
_LOCK_FIRST_FREE = (
    f"SELECT {_ORDER} FROM {Table(Order, 'o')} WHERE o.id = ANY(%s::bigint[]) "
    "ORDER BY array_position(%s::bigint[], o.id) LIMIT 1 FOR UPDATE SKIP LOCKED"
)


def _first_order(sql: str, params: list) -> Order | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return _ORDER.instance(row) if row is not None else None


def _claimed_by(actor: Actor, now: datetime) -> Order | None:
    """The order this logist holds now, while it is still being called."""
    order = _first_order(_HELD, [actor.pk, now])
    return order if order is not None and order.status == OrderStatus.CALLING else None


def _lock_first_due(
    actor: Actor, now: datetime, at_work: list[str], ranked: tuple[str, list]
) -> Order | None:
    """The best-ranked due order that no other logist holds, locked (None when none is free).

    The ranking reads ids only and locks nothing (a locking query must lock as it goes, and waits or skips on
    every row another logist holds); then the first of the best few that nobody else has locked is locked (SKIP
    LOCKED, in their rank): ten logists pulling at once each take a different one.
    """
    with connection.cursor() as cursor:
        cursor.execute(*_bound(ranked, now=now))
        ranked_ids = [row[0] for row in cursor.fetchall()]
    if not ranked_ids:
        return None
    order = _first_order(_LOCK_FIRST_FREE, [ranked_ids, ranked_ids])
    # every one of the best few is being taken at this moment: rank again once their claims are visible
    return order if order is not None else _lock_any_due(actor, now, at_work)


def _lock_any_due(actor: Actor, now: datetime, at_work: list[str]) -> Order | None:
    return queue(actor, now=now, at_work=at_work).select_for_update(skip_locked=True, of=("self",)).first()


def _claim(actor: Actor, order: Order, now: datetime, still_due: tuple[str, list]) -> bool:
    """The locked order made this logist's, if it is still due: another logist may have claimed it, or called it
    and let it go, between the ranking's snapshot and the lock; the check is a statement of its own, with a
    snapshot taken now that the row is ours. The order's expired claim and this logist's previous one go."""
    claims = Table(CallClaim)
    due_sql, due_params = _bound(still_due, now=now, order_id=order.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH due AS ({due_sql}), gone AS (DELETE FROM {claims} "
            f"WHERE ({claims.order} = %s OR {claims.operator} = %s) AND EXISTS (SELECT 1 FROM due)) "
            "SELECT EXISTS (SELECT 1 FROM due)",
            [*due_params, order.pk, actor.pk],
        )
        if not cursor.fetchone()[0]:
            return False
        cursor.execute(
            f"INSERT INTO {claims} ({claims.order}, {claims.operator}, {claims.claimed_at}, {claims.expires_at}) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            [order.pk, actor.pk, now, now + timedelta(minutes=_claim_minutes())],
        )
        return cursor.fetchone() is not None


def queue_next(*, actor: Actor, now: datetime | None = None) -> Order | None:
    """Give the logist the next customer to call; two logists never get the same order at the same time."""
    if not access.can(actor, "callcenter.queue"):
        raise PermissionDenied
    now = now or timezone.now()
    held = _claimed_by(actor, now)
    if held is not None:
        return held
    at_work = countries_at_work(now)  # once per pull: the same moment for every look at the queue
    if not at_work:
        return None
    statements = _queue_statements(actor, at_work)
    if statements is None:
        return None
    ranked, still_due = statements
    for _attempt in range(5):
        with transaction.atomic():
            candidate = _lock_first_due(actor, now, at_work, ranked)
            if candidate is None:
                return None
            if _claim(actor, candidate, now, still_due):
                return candidate
    return None


def claim_release(*, actor: Actor, order: Order) -> None:
    CallClaim.objects.filter(order=order, operator=actor).delete()


def claim_for(actor: Actor, order: Order, now: datetime | None = None) -> CallClaim | None:
    return CallClaim.objects.filter(order=order, operator=actor, expires_at__gt=now or timezone.now()).first()


# -- calls ----------------------------------------------------------------------------------------------------------

ATTEMPT_KINDS = {
    "logist": CallAttempt.Kind.LOGIST,
    "hotline": CallAttempt.Kind.HOTLINE,
    "courier_admin": CallAttempt.Kind.COURIER_ADMIN,
    "courier": CallAttempt.Kind.COURIER,
}


def _kind_for(actor: Actor) -> str:
    return ATTEMPT_KINDS.get(role_of(actor), CallAttempt.Kind.LOGIST)


# Whose customer a call may be placed to, by the permission it is placed under: the call center while the order is
# being called (the statuses `call_outcome` records outcomes in), couriers and their administrators while the order is
# on its delivery day. An order «на отправку», still on its way to the city, shipped by post or closed (paid, refused,
# returned, not reached, cancelled) is never dialled. The hotline returns a customer's own missed call through
# `inbound_call_back`: the number that phoned us, not an order's call.
DIALLED_IN = {
    "callcenter.call": CALLED_STATUSES,
    "delivery.call": frozenset({OrderStatus.IN_REGISTRY, OrderStatus.WITH_COURIER}),
}


def dial_refusal(order: Order, permission: str = "callcenter.call") -> str | None:
    """Why the customer of this order may not be called now (None: a call may be placed). For screens, to offer
    «Call» only where `call_dial` places it; `call_dial` asks again under the order's lock."""
    if order.is_test:
        return _("Test orders are never called.")
    if order.status not in DIALLED_IN.get(permission, frozenset()):
        if permission == "delivery.call":
            return _(
                "The customer is called from the delivery screens only while the order is on its delivery day "
                "(status: %(status)s)."
            ) % {"status": order.get_status_display()}
        return _(
            "The customer is called only while the order is being called or its delivery is agreed "
            "(status: %(status)s)."
        ) % {"status": order.get_status_display()}
    return None


def customer_number(order: Order) -> str:
    phone = OrderPhone.objects.filter(order=order).order_by("position").first()
    if phone is None:
        raise ApplicationError(_("The order has no phone to call."))
    return crypto.decrypt(phone.ciphertext)


@transaction.atomic
def call_dial(
    *,
    actor: Actor,
    order: Order,
    request=None,
    now: datetime | None = None,
    permission: str = "callcenter.call",
) -> CallAttempt:
    """Place the call through the telephony: the operator's extension rings, then the customer's number.
    Couriers and their administrators call from the delivery screens (`permission="delivery.call"`).

    A call placed to the customer is what starts work on an order (and its fee), whatever comes of it; recording
    an outcome without a call, or passing the order to a supervisor, does not. Only the customers of orders being
    called (or, from the delivery screens, on their delivery day) are dialled (`DIALLED_IN`); never a test order
    nor a customer who asked not to be contacted."""
    if not access.can(actor, permission):
        raise PermissionDenied
    order = access.get_scoped_or_404(actor, Order.objects.select_for_update(of=("self",)), pk=order.pk)
    refusal = dial_refusal(order, permission)
    if refusal:
        raise ApplicationError(refusal)
    now = now or timezone.now()

    if customer_profile(order).do_not_contact:
        raise ApplicationError(_("The customer asked not to be contacted."))
    backend = telephony.backend()
    call_id = telephony.new_call_id()
    attempt = CallAttempt.objects.create(
        order=order,
        partner_id=order.partner_id,
        operator=actor,
        kind=_kind_for(actor),
        started_at=now,
        telephony_call_id=call_id,
    )
    try:
        result = backend.dial(
            call_id=call_id,
            extension=actor.phone_extension or str(actor.pk),
            number=customer_number(order),
            request=request,
        )
    except telephony.TelephonyError as exc:
        raise ApplicationError(_("The call could not be placed: %(error)s") % {"error": exc}) from exc
    order_mark_work_started(order_id=order.pk, at=now, cause="call")
    if result.connected:
        attempt.line_state = CallAttempt.Line.CONNECTED
        if hasattr(backend, "local_recording"):
            attempt.recording.save(f"call-{attempt.pk}.wav", backend.local_recording(), save=False)
        attempt.save(update_fields=["line_state", "recording"])
    return attempt


def _parse_sum(value) -> Decimal | None:
    """The sum the customer confirmed, read by the one money parser (plain decimal only; "1e3" is refused)."""
    if value in (None, ""):
        return None
    return parse_money(value, "confirmed_sum")


# What only a call placed to the customer can come to: without one there is nothing to record.
CALL_RESULTS = frozenset({Outcome.NO_ANSWER, Outcome.BUSY, Outcome.WRONG_NUMBER})


@transaction.atomic
def call_outcome(
    *,
    actor: Actor,
    order: Order,
    outcome: str,
    agreed_date: date | None = None,
    confirmed_address: str | None = None,
    confirmed_sum=None,
    address_confirmed: bool = False,
    sum_confirmed: bool = False,
    goods_confirmed: bool = False,
    callback_at: datetime | None = None,
    postponed_to: date | None = None,
    reason: str = "",
    needed: str = "",
    note: str = "",
    refusal_fault: str = "",
    now: datetime | None = None,
) -> CallAttempt | None:
    """Record how the call went; the order moves on accordingly. Work started when the call was placed
    (`call_dial`): an outcome recorded without a call starts nothing.

    A call is what `call_dial` placed through the telephony (the operator never sees the number, so there is no
    other way to phone the customer): the outcome is recorded on this operator's open attempt, counts in the
    calling state and is the partner's `call.attempted`. Without one (the operator did not press «Call»; or the
    customer phoned us) nothing counts as a call: no attempt, the calling state's counts, first and last call as
    they were, no `call.attempted`. Then an escalation is only the supervisor's task; the customer's own decision
    (agreed, refused, postponed, call back) moves the order or its next call; and what only a call can come to
    (no answer, busy, wrong number) is refused. A refusal may be marked as not the customer's fault
    (`refusal_fault`, a `RefusalFault`): the workflow sets it on the order with the status, in its history.
    Returns the attempt, or None when there was no call."""
    if not access.can(actor, "callcenter.call"):
        raise PermissionDenied
    if outcome not in Outcome.values:
        raise ValidationError({"outcome": _("Choose the outcome of the call.")})
    now = now or timezone.now()
    order = _lock_called_order(actor, order, outcome)
    attempt = _lock_open_attempt(actor, order)
    reason = (reason or "").strip()
    new_sum, reagreement = _validate_outcome(
        order=order,
        attempt=attempt,
        outcome=outcome,
        agreed_date=agreed_date,
        confirmed_sum=confirmed_sum,
        all_confirmed=address_confirmed and sum_confirmed and goods_confirmed,
        callback_at=callback_at,
        postponed_to=postponed_to,
        reason=reason,
        needed=needed,
        now=now,
    )
    if outcome == Outcome.AGREED:
        _amend_what_changed(
            actor=actor,
            order=order,
            new_sum=new_sum,
            confirmed_address=confirmed_address,
            new_date=agreed_date if reagreement else None,
            reason=reason,
            now=now,
        )
    _handle_customer_requests(actor=actor, order=order, outcome=outcome, now=now)
    if attempt is None:
        _decision_without_a_call(
            actor=actor,
            order=order,
            outcome=outcome,
            agreed_date=agreed_date,
            callback_at=callback_at,
            postponed_to=postponed_to,
            reason=reason,
            needed=needed,
            note=(note or "").strip(),
            refusal_fault=refusal_fault,
            now=now,
        )
        return None
    _close_attempt(attempt, outcome=outcome, agreed_date=agreed_date, note=note, reason=reason, now=now)
    state = _count_the_call(order, attempt, outcome=outcome, now=now)
    _schedule_next_call(
        order, attempt, state, outcome=outcome, callback_at=callback_at, postponed_to=postponed_to, now=now
    )
    attempt.save()
    state.save()
    CallClaim.objects.filter(order=order).delete()
    _move_after_the_call(
        actor=actor,
        order=order,
        outcome=outcome,
        agreed_date=agreed_date,
        reason=reason,
        needed=needed,
        refusal_fault=refusal_fault,
        now=now,
    )
    reactions.react(CallAttempted(attempt=attempt))
    return attempt


def _lock_called_order(actor: Actor, order: Order, outcome: str) -> Order:
    """The order, locked, as this actor may see it; refused unless it is being called (an escalation excepted)."""
    order = access.get_scoped_or_404(
        actor, Order.objects.select_for_update(of=("self",)).select_related("city", "partner"), pk=order.pk
    )
    if order.status not in CALLED_STATUSES and outcome != Outcome.ESCALATED:
        raise ApplicationError(
            _("The order is not being called now (status: %(status)s).")
            % {"status": order.get_status_display()}
        )
    return order


def _lock_open_attempt(actor: Actor, order: Order) -> CallAttempt | None:
    """The call this outcome is of, locked: the one this operator placed and has not recorded yet."""
    return (
        CallAttempt.objects.select_for_update()
        .filter(order=order, operator=actor, outcome="")
        .order_by("-started_at")
        .first()
    )


def _validate_outcome(
    *,
    order: Order,
    attempt: CallAttempt | None,
    outcome: str,
    agreed_date: date | None,
    confirmed_sum,
    all_confirmed: bool,
    callback_at: datetime | None,
    postponed_to: date | None,
    reason: str,
    needed: str,
    now: datetime,
) -> tuple[Decimal | None, bool]:
    """What the outcome needs, all checked at once (ValidationError, field → why). Returns the sum the customer
    confirmed (an agreement's only) and whether an agreed order is agreed again."""
    errors: dict[str, str] = {}
    if attempt is None and outcome in CALL_RESULTS:
        errors["outcome"] = _(
            "Press «Call» first: “%(outcome)s” is what a call placed through the telephony came to."
        ) % {"outcome": Outcome(outcome).label}
    # the delivery dates: the one rule and «today» of every channel (workflow.delivery_date_refusal)
    if outcome == Outcome.AGREED:
        if agreed_date is None:
            errors["agreed_date"] = _("Give the agreed delivery date.")
        elif refusal := workflow.delivery_date_refusal(agreed_date, order, now):
            errors["agreed_date"] = refusal
        if not all_confirmed:
            errors["confirmations"] = _("Confirm the address, the sum, and the goods with their quantities.")
    if outcome == Outcome.CALLBACK and callback_at is None:
        errors["callback_at"] = _("Give the time to call back.")
    elif outcome == Outcome.CALLBACK and (
        too_far := workflow.too_far_ahead(
            workflow.local_today(order, callback_at), workflow.local_today(order, now)
        )
    ):
        errors["callback_at"] = too_far
    if outcome == Outcome.POSTPONED and postponed_to is None:
        errors["postponed_to"] = _("Give a date after today.")
    elif outcome == Outcome.POSTPONED and (
        refusal := workflow.delivery_date_refusal(postponed_to, order, now, same_day_allowed=False)
    ):
        errors["postponed_to"] = refusal
    if outcome == Outcome.REFUSED and not reason:
        errors["reason"] = _("Write why the customer refused.")
    if outcome == Outcome.ESCALATED and (not reason or not (needed or "").strip()):
        errors["reason"] = _("Write the reason and what is needed from the supervisor.")
    new_sum = _parse_sum(confirmed_sum) if outcome == Outcome.AGREED else None
    reagreement = outcome == Outcome.AGREED and order.status == OrderStatus.DELIVERY_AGREED
    if reagreement and not reason:
        errors["reason"] = _(
            "The delivery is agreed already (for %(day)s): write why it is agreed again."
        ) % {"day": order.delivery_date.strftime("%d.%m.%Y") if order.delivery_date else "—"}
    if errors:
        raise ValidationError(errors)
    return new_sum, reagreement


def _amend_what_changed(
    *,
    actor: Actor,
    order: Order,
    new_sum: Decimal | None,
    confirmed_address: str | None,
    new_date: date | None,
    reason: str,
    now: datetime,
) -> None:
    """An agreement that changes the sum, the address or (agreed again) the date: through the amendment door."""
    new_address = confirmed_address if confirmed_address and confirmed_address.strip() else None
    if (
        (new_sum is not None and new_sum != order.cod_amount)
        or (new_address is not None and new_address != order.address)
        or (new_date is not None and new_date != order.delivery_date)
    ):
        # what the customer changed goes through the one door for changing an order: the partner's discount
        # ceiling, the history, the partner's webhook; an agreed order agreed again changes its date there too.
        # Confirmed as it is (the order is locked and read already), nothing is asked of the door.
        _amend_from_call(
            actor=actor,
            order=order,
            # never the operator's free note (it often holds a new address or another phone): it stays on the call
            reason=reason or gettext_message("Confirmed with the customer on the call"),
            cod_amount=new_sum,
            address=new_address,
            delivery_date=new_date,
            now=now,
        )


def _close_attempt(
    attempt: CallAttempt, *, outcome: str, agreed_date: date | None, note: str, reason: str, now: datetime
) -> None:
    """The outcome on the operator's attempt (not saved yet); the dev telephony's line ends with it."""
    attempt.outcome = outcome
    attempt.outcome_at = now
    attempt.note = (note or reason or "").strip()[:2000]
    attempt.agreed_date = agreed_date if outcome == Outcome.AGREED else None
    if (
        attempt.line_state in (CallAttempt.Line.DIALING, CallAttempt.Line.CONNECTED)
        and telephony.backend().name == "dev"
    ):
        attempt.line_state = CallAttempt.Line.COMPLETED
        attempt.duration_seconds = max(int((now - attempt.started_at).total_seconds()), 1)


def _count_the_call(order: Order, attempt: CallAttempt, *, outcome: str, now: datetime) -> CallState:
    """The call in the order's calling state, locked (not saved yet): the day's and all calls, the last outcome,
    the first call (the attempt is then the first)."""
    state, _created = CallState.objects.select_for_update().get_or_create(
        order=order, defaults={"partner_id": order.partner_id, "next_call_at": now}
    )
    day = scheduling.local_day(order, now)
    state.calls_that_day = (state.calls_that_day if state.day == day else 0) + 1
    state.day = day
    state.attempts += 1
    state.last_outcome = outcome
    state.last_attempt_at = now
    if state.first_attempt_at is None:
        state.first_attempt_at = now
        attempt.is_first = True
    return state


def _schedule_next_call(
    order: Order,
    attempt: CallAttempt,
    state: CallState,
    *,
    outcome: str,
    callback_at: datetime | None,
    postponed_to: date | None,
    now: datetime,
) -> None:
    """The next call after this one (`scheduling.next_call_after`), on the attempt and the calling state."""
    next_at = scheduling.next_call_after(
        order,
        outcome=outcome,
        calls_that_day=state.calls_that_day,
        now=now,
        callback_at=callback_at,
        postponed_to=postponed_to,
    )
    attempt.next_call_at = next_at
    if next_at is not None:
        state.next_call_at = next_at
    state.is_callback = outcome == Outcome.CALLBACK


def _move_after_the_call(
    *,
    actor: Actor,
    order: Order,
    outcome: str,
    agreed_date: date | None,
    reason: str,
    needed: str,
    refusal_fault: str,
    now: datetime,
) -> None:
    """What the call came to: delivery agreed, refused, the supervisor's task, or the partner asked for a number."""
    if outcome == Outcome.AGREED:
        _agree_delivery(actor=actor, order=order, agreed_date=agreed_date, reason="", now=now)
    elif outcome == Outcome.REFUSED:
        workflow.perform(
            order,
            action="refuse",
            actor=actor,
            source=OrderSource.STAFF,
            reason=reason,
            data=_fault_data(refusal_fault),
            now=now,
        )
    elif outcome == Outcome.ESCALATED:
        escalation_raise(actor=actor, order=order, reason=reason, needed=needed, now=now)
    elif outcome == Outcome.WRONG_NUMBER:
        discussion_post(
            actor=actor,
            order=order,
            text=_("We cannot reach the customer: the phone number is wrong. Please send a correct number."),
        )


def _fault_data(refusal_fault: str) -> dict:
    """The refusal's data for the workflow: its fault mark when it was not the customer's fault (the workflow checks
    the kind)."""
    return {workflow.FAULT_KEY: refusal_fault} if refusal_fault else {}


def _agree_delivery(
    *, actor: Actor, order: Order, agreed_date: date | None, reason: str, now: datetime
) -> None:
    """An order being called moves to «delivery agreed» (an agreed order stays: a re-agreement is the amendment
    door's) and joins a registry already built for its day."""
    if order.status != OrderStatus.CALLING:
        return
    workflow.perform(
        order,
        action="agree_delivery",
        actor=actor,
        source=OrderSource.STAFF,
        reason=reason,
        # no address: the customer's personal data stays on the order (its changes in the amendments)
        data={"delivery_date": agreed_date, "sum": str(order.cod_amount)},
        now=now,
    )
    registry_add_late(order, now=now)


def _decision_without_a_call(
    *,
    actor: Actor,
    order: Order,
    outcome: str,
    agreed_date: date | None,
    callback_at: datetime | None,
    postponed_to: date | None,
    reason: str,
    needed: str,
    note: str,
    refusal_fault: str,
    now: datetime,
) -> None:
    """An outcome recorded with no call placed (`call_outcome`, checked already): what it decides happens, and
    nothing says a call was made. The calling state keeps its counts, first and last call and last outcome (the
    queue's «new order» rank, «time to first call», «calls per order», the customer's unanswered calls), and the
    partner gets no `call.attempted`: the order's own history says what happened (the supervisor's task, the
    status move with who and why, the next call)."""
    if outcome == Outcome.ESCALATED:
        escalation_raise(
            actor=actor,
            order=order,
            reason=reason,
            needed=f"{needed.strip()}\n{note}" if note else needed,
            now=now,
        )
    elif outcome == Outcome.AGREED:
        _agree_delivery(actor=actor, order=order, agreed_date=agreed_date, reason=note, now=now)
    elif outcome == Outcome.REFUSED:
        workflow.perform(
            order,
            action="refuse",
            actor=actor,
            source=OrderSource.STAFF,
            reason=f"{reason} — {note}" if note else reason,
            data=_fault_data(refusal_fault),
            now=now,
        )
    elif outcome in (Outcome.POSTPONED, Outcome.CALLBACK):
        next_at = scheduling.next_call_after(
            order,
            outcome=outcome,
            calls_that_day=0,
            now=now,
            callback_at=callback_at,
            postponed_to=postponed_to,
        )
        state, created = CallState.objects.select_for_update().get_or_create(
            order=order,
            defaults={
                "partner_id": order.partner_id,
                "next_call_at": next_at,
                "is_callback": outcome == Outcome.CALLBACK,
            },
        )
        if not created:
            state.next_call_at = next_at
            state.is_callback = outcome == Outcome.CALLBACK
            state.save(update_fields=["next_call_at", "is_callback"])
    CallClaim.objects.filter(order=order).delete()


# the call screen's names of what the amendment service checks
CALL_FIELDS = {"cod_amount": "confirmed_sum", "address": "confirmed_address", "delivery_date": "agreed_date"}


def _amend_from_call(*, actor: Actor, order: Order, reason: str, now: datetime, **values) -> None:
    source = AmendmentSource.HOTLINE if role_of(actor) == Role.HOTLINE else AmendmentSource.CALL_CENTER
    try:
        order_amend(order=order, actor=actor, source=source, reason=reason, now=now, **values)
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {CALL_FIELDS.get(field, field): errors for field, errors in exc.error_dict.items()}
        ) from exc


def on_order_amended(amended: OrderAmended) -> None:
    """An agreed order agreed again for another day goes into that day's registry if it was built already (its
    addendum), as a first agreement does."""
    order, amendment = amended.order, amended.amendment
    if (
        "delivery_date" in amendment.changes
        and order.status == OrderStatus.DELIVERY_AGREED
        and not order.is_test
    ):
        registry_add_late(order, now=amendment.at)


def close_unreached(*, now: datetime | None = None) -> int:
    """Daily: orders called for longer than the partner allows without reaching the customer close as not reached."""
    now = now or timezone.now()
    closed = 0
    limits = dict(PartnerRules.objects.values_list("partner_id", "not_reached_after_days"))
    candidates = CallState.objects.filter(
        order__status=OrderStatus.CALLING,
        first_attempt_at__isnull=False,
        last_outcome__in=list(UNANSWERED) + [Outcome.WRONG_NUMBER],
        first_attempt_at__lt=now - timedelta(days=1),
    ).select_related("order")
    for state in candidates:
        days = limits.get(state.partner_id, 30)
        if state.first_attempt_at > now - timedelta(days=days):
            continue
        if (
            CallAttempt.objects.filter(order_id=state.order_id)
            .exclude(outcome__in=list(UNANSWERED) + [Outcome.WRONG_NUMBER, ""])
            .exists()
        ):
            continue  # the customer was reached at some point
        try:
            workflow.perform(
                state.order_id,
                action="close_not_reached",
                actor=None,
                source=OrderSource.TASK,
                reason=ngettext_message(
                    "No contact in %(days)s day of calling", "No contact in %(days)s days of calling", days
                )
                % {"days": days},
                now=now,
            )
        except workflow.TransitionError:
            continue
        closed += 1
    return closed


# -- the customer's requests through the link in their SMS -----------------------------------------------------------

# While a request makes sense: the order is being called, or its courier delivery is agreed or in the day's registry
# (a parcel with the courier is on its way already; the post and a closed order take no delivery day of ours).
REQUEST_STATUSES = frozenset({OrderStatus.CALLING, OrderStatus.DELIVERY_AGREED, OrderStatus.IN_REGISTRY})


def customer_request_refusal(order: Order) -> str | None:
    """Why the customer cannot ask for a call back or another day through the link now (None: they can), in the
    customer's words. The page offers the buttons only where `customer_request` takes them; it asks again under the
    order's lock."""
    if order.is_test or order.personal_data_erased_at is not None:
        return _("This order takes no requests.")
    if order.delivery_kind not in workflow.COURIER_KINDS:
        return _("Your order goes by post: the post office tells you when it arrives.")
    if order.status not in REQUEST_STATUSES:
        return _("Your order is past the point where the delivery day can change here.")
    return None


def customer_request_days(order: Order, *, now: datetime | None = None) -> list[date]:
    """The days the customer may ask delivery for: the working days of their city's calendar after their today, up
    to the horizon of a logist's postponement (`workflow.delivery_date_refusal`, same day never)."""
    now = now or timezone.now()
    calendar = calendar_for(order.country)
    today = workflow.local_today(order, now)
    last = workflow.latest_delivery_day(today)
    days, day = [], calendar.next_working_day(today)
    while day <= last:
        days.append(day)
        day = calendar.next_working_day(day)
    return days


def _wanted_date_refusal(order: Order, wanted_date: date | None, now: datetime) -> str | None:
    if wanted_date is None:
        return _("Choose the day you want the delivery.")
    # the one rule of a delivery day that the customer asks for: not past, not today, within two months
    if refusal := workflow.delivery_date_refusal(wanted_date, order, now, same_day_allowed=False):
        return refusal
    if not calendar_for(order.country).is_working_day(wanted_date):
        return _("%(day)s is not a working day in your city: choose another day.") % {
            "day": wanted_date.strftime("%d.%m.%Y")
        }
    return None


def open_customer_request(order: Order) -> CustomerRequest | None:
    return CustomerRequest.objects.filter(order=order, handled_at__isnull=True).first()


@transaction.atomic
def customer_request(
    *, order: Order, kind: str, wanted_date: date | None = None, now: datetime | None = None
) -> tuple[CustomerRequest, bool]:
    """The customer asks through the link in their SMS to be called back, or for another delivery day; returns the
    request and whether it is new.

    The order is locked first, so parallel asks are taken one after the other: while a request is open (not yet
    handled by a call outcome), asking again, for anything, returns it and changes nothing — a replayed form, a
    double tap, a second tab (the unique open request is the database's backstop). A new one puts the order in the
    logists' queue as a due call-back, now or at the start of the customer's working hours: an agreed order, or one
    in the day's registry, goes back to calling first through the workflow's door (the system moves it; the reason
    says the customer asked by the SMS link, and the history keeps it). The customer's identity is the link: no
    actor. Raises ValidationError (`kind`, `wanted_date`) or ApplicationError, changing nothing."""
    now = now or timezone.now()
    if kind not in CustomerRequest.Kind.values:
        raise ValidationError({"kind": _("Choose what you ask for.")})
    order = Order.objects.select_for_update(of=("self",)).select_related("city", "partner").get(pk=order.pk)
    existing = open_customer_request(order)
    if existing is not None:
        return existing, False
    if refusal := customer_request_refusal(order):
        raise ApplicationError(refusal)
    if kind == CustomerRequest.Kind.ANOTHER_DAY:
        if refusal := _wanted_date_refusal(order, wanted_date, now):
            raise ValidationError({"wanted_date": refusal})
    else:
        wanted_date = None
    try:
        with transaction.atomic():
            request = CustomerRequest.objects.create(
                partner_id=order.partner_id, order=order, kind=kind, wanted_date=wanted_date, created_at=now
            )
    except IntegrityError:  # an open one written past the lock (never through this door): it stands
        return open_customer_request(order), False
    if order.status != OrderStatus.CALLING:
        workflow.perform(
            order,
            action="return_to_calling",
            actor=None,
            source=OrderSource.TASK,
            reason=customer_request_reason(request),
            data={"requested_date": wanted_date} if wanted_date else {},
            now=now,
        )
    due = calendar_for(order.country).work_starts_for(now)
    state, created = CallState.objects.select_for_update().get_or_create(
        order=order, defaults={"partner_id": order.partner_id, "next_call_at": due, "is_callback": True}
    )
    if not created:
        state.next_call_at = due
        state.is_callback = True
        state.save(update_fields=["next_call_at", "is_callback"])
    return request, True


def customer_request_reason(request: CustomerRequest):
    """What the customer asked, as the history and the timeline say it (in the reader's language)."""
    if request.kind == CustomerRequest.Kind.ANOTHER_DAY and request.wanted_date:
        return gettext_message("The customer asked by the SMS link: another day — %(day)s") % {
            "day": request.wanted_date.strftime("%d.%m.%Y")
        }
    return gettext_message("The customer asked by the SMS link: call me back")


def _handle_customer_requests(*, actor: Actor, order: Order, outcome: str, now: datetime) -> None:
    """An outcome recorded on the order (`call_outcome`) handles the customer's open request: the logist has it."""
    CustomerRequest.objects.filter(order=order, handled_at__isnull=True).update(
        handled_at=now, handled_by=acting_user(actor), handled_outcome=outcome
    )


# -- the PBX --------------------------------------------------------------------------------------------------------


@transaction.atomic
def pbx_event(*, payload: dict) -> CallAttempt | InboundCall | None:
    """A PBX webhook (already verified): a finished outbound call, or an inbound call (answered or missed).

    Replays of the same event change nothing the second time.
    """
    kind = payload.get("type", "call")
    call_id = str(payload.get("call_id") or "")[:64]
    if not call_id:
        raise ValidationError(_("call_id is missing"))
    if kind == "inbound":
        return _inbound_from_pbx(payload, call_id)
    attempt = CallAttempt.objects.select_for_update().filter(telephony_call_id=call_id).first()
    if attempt is None:
        return None
    status = payload.get("status")
    attempt.line_state = CallAttempt.Line.COMPLETED if status == "completed" else CallAttempt.Line.FAILED
    try:
        attempt.duration_seconds = max(int(payload.get("duration") or 0), 0)
    except (TypeError, ValueError):
        attempt.duration_seconds = 0
    url = payload.get("recording_url")
    if url and not attempt.recording:
        content = telephony.HttpPbxBackend().fetch_recording(url)
        if telephony.audio_type(content) is None:
            raise ValidationError(_("The recording is not an audio file."))
        attempt.recording.save(
            f"call-{attempt.pk}.{_audio_extension(content)}", ContentFile(content), save=False
        )
    attempt.save(update_fields=["line_state", "duration_seconds", "recording"])
    return attempt


def _audio_extension(content: bytes) -> str:
    return {"audio/wav": "wav", "audio/mpeg": "mp3", "audio/ogg": "ogg"}[telephony.audio_type(content)]


def _inbound_from_pbx(payload: dict, call_id: str) -> InboundCall:
    existing = InboundCall.objects.filter(telephony_call_id=call_id).first()
    if existing is not None:
        return existing
    country = payload.get("country") if payload.get("country") in ("KZ", "KG") else "KZ"
    try:
        return inbound_log(  # its own savepoint: a lost race leaves this transaction usable
            actor=None,
            phone=str(payload.get("from") or ""),
            country=country,
            missed=payload.get("status") == "missed",
            telephony_call_id=call_id,
            received_at=timezone.now(),
        )
    except IntegrityError:
        # the same event delivered twice at once (a PBX retrying a slow answer): the other one logged it
        return InboundCall.objects.get(telephony_call_id=call_id)


# -- registries -----------------------------------------------------------------------------------------------------


def _served_orders(warehouse, day: date):
    city = warehouse.city
    return (
        Order.objects.filter(status=OrderStatus.DELIVERY_AGREED, delivery_date=day, is_test=False)
        .filter(Q(city=city) | Q(city__served_from=city))
        .exclude(delivery_kind=DeliveryKind.POST)
    )


@transaction.atomic
def registry_build(*, warehouse, day: date, now: datetime | None = None) -> DeliveryRegistry:
    """The registry of a city for a day: every customer who agreed to delivery that day. Building twice adds nothing."""
    now = now or timezone.now()
    registry, created = DeliveryRegistry.objects.select_for_update().get_or_create(
        warehouse=warehouse, date=day, defaults={"built_at": now}
    )
    for order in _served_orders(warehouse, day).order_by("delivery_kind", "created_at"):
        _enter(registry, order, now=now, addendum=not created)
    return registry


def _enter(registry: DeliveryRegistry, order: Order, *, now: datetime, addendum: bool) -> None:
    _entry, created = RegistryEntry.objects.get_or_create(
        registry=registry,
        order=order,
        defaults={"partner_id": order.partner_id, "is_addendum": addendum, "added_at": now},
    )
    if created and order.status == OrderStatus.DELIVERY_AGREED:
        workflow.perform(order, action="add_to_registry", actor=None, source=OrderSource.TASK, now=now)


def registry_add_late(order: Order, *, now: datetime) -> None:
    """An agreement after the day's registry was built goes into its addendum (same-day orders at once)."""
    if order.delivery_kind == DeliveryKind.POST:
        return
    warehouse = serving_warehouse(order)
    registry = DeliveryRegistry.objects.filter(warehouse=warehouse, date=order.delivery_date).first()
    if (
        registry is None
        and order.delivery_kind == DeliveryKind.SAME_DAY
        and order.delivery_date == scheduling.local_day(order, now)
    ):
        registry = DeliveryRegistry.objects.create(
            warehouse=warehouse, date=order.delivery_date, built_at=now
        )
    if registry is not None:
        _enter(registry, order, now=now, addendum=True)


def registries_build_due(*, now: datetime | None = None) -> int:
    """At the cut-off, every city's registry for tomorrow (run by beat; building twice adds nothing)."""
    now = now or timezone.now()
    cutoff = time.fromisoformat(settings.REGISTRY_CUTOFF)
    built = 0
    for warehouse in Warehouse.objects.filter(is_active=True).select_related("city"):
        calendar = calendar_for(warehouse.city.country)
        local = now.astimezone(calendar.zone)
        if local.time() < cutoff:
            continue
        registry_build(warehouse=warehouse, day=local.date() + timedelta(days=1), now=now)
        built += 1
    return built


# -- the hotline ----------------------------------------------------------------------------------------------------


@transaction.atomic
def inbound_log(
    *,
    actor: Actor,
    phone: str = "",
    country: str = "KZ",
    order: Order | None = None,
    topic: str = "",
    result: str = "",
    missed: bool = False,
    telephony_call_id: str = "",
    received_at: datetime | None = None,
) -> InboundCall:
    """Log an inbound call; a missed one is owed a call back the same working day."""
    if actor is not None and not access.can(actor, "hotline.use"):
        raise PermissionDenied
    received_at = received_at or timezone.now()
    call = InboundCall(
        received_at=received_at,
        operator=acting_user(actor),
        is_missed=missed,
        topic=topic,
        result=(result or "").strip()[:2000],
        country=country,
        telephony_call_id=telephony_call_id,
    )
    if phone:
        try:
            number = normalize_phone(phone, country)
        except PhoneError as exc:
            raise ValidationError({"phone": str(exc)}) from exc
        call.phone_index = crypto.blind_index(number)
        call.masked_phone = mask_phone(number)
        call.phone_ciphertext = crypto.encrypt(number)
        if order is None:  # the customer's latest order (that this operator may see)
            candidates = Order.objects.filter(phones__blind_index=call.phone_index)
            if actor is not None:
                candidates = access.scoped(actor, candidates)
            order = candidates.order_by("-created_at", "-id").first()
    if order is not None:
        if actor is not None:
            order = access.get_scoped_or_404(actor, Order.objects.all(), pk=order.pk)
        call.order, call.partner_id = order, order.partner_id
    if missed:
        calendar = calendar_for(country)
        start = calendar.work_starts_for(received_at)
        call.callback_due_at = calendar.day_end(start.astimezone(calendar.zone).date())
    call.save()
    return call


@transaction.atomic
def inbound_call_back(*, actor: Actor, call: InboundCall, request=None) -> InboundCall:
    """Return a missed call through the telephony (the number stays hidden) and mark it done."""
    if not access.can(actor, "hotline.use"):
        raise PermissionDenied
    call = InboundCall.objects.select_for_update().get(pk=call.pk)
    if call.called_back_at:
        return call
    if call.phone_ciphertext:
        telephony.backend().dial(
            call_id=telephony.new_call_id(),
            extension=actor.phone_extension or str(actor.pk),
            number=crypto.decrypt(call.phone_ciphertext),
            request=request,
        )
    call.called_back_at = timezone.now()
    call.called_back_by = actor
    call.save(update_fields=["called_back_at", "called_back_by"])
    return call


# -- escalations ----------------------------------------------------------------------------------------------------


@transaction.atomic
def escalation_raise(
    *, actor: Actor, order: Order, reason: str, needed: str, now: datetime | None = None
) -> Escalation:
    if not access.can(actor, "escalations.raise"):
        raise PermissionDenied
    now = now or timezone.now()
    order = access.get_scoped_or_404(actor, Order.objects.all(), pk=order.pk)
    if not (reason or "").strip() or not (needed or "").strip():
        raise ValidationError(_("Write the reason and what is needed from the supervisor."))
    due = calendar_for(order.country).add_working_hours(now, ESCALATION_WORKING_HOURS)
    return Escalation.objects.create(
        order=order,
        partner_id=order.partner_id,
        raised_by=actor,
        raised_at=now,
        reason=reason.strip()[:300],
        needed=needed.strip(),
        due_at=due,
    )


# What the head of department is asked when a «do not contact» customer's order is being called: written in the
# company's language (an escalation's texts are stored as written).
DO_NOT_CONTACT_REASON = gettext_noop("The customer is marked «do not contact»: %(reason)s")
DO_NOT_CONTACT_NEEDED = gettext_noop(
    "Decide what happens to the order: the queue does not hand it out while the customer is marked «do not "
    "contact». Lift the mark on the order card if the customer may be called, or close the order."
)


def escalation_for_head(
    *, order: Order, actor: Actor | None, mark_reason: str, now: datetime
) -> Escalation | None:
    """The head of department's decision on an order of a customer marked «do not contact»: one open escalation
    per order (None when it has one already). Raised by the system for whoever marked the customer or moved the
    order (`raised_by` empty for a task)."""
    if Escalation.objects.filter(
        order=order, status=Escalation.Status.OPEN, addressed_to=Escalation.Addressee.HEAD_OF_DEPARTMENT
    ).exists():
        return None
    with translation.override(settings.LANGUAGE_CODE):
        reason = _(DO_NOT_CONTACT_REASON) % {"reason": mark_reason or "—"}
        needed = _(DO_NOT_CONTACT_NEEDED)
    return Escalation.objects.create(
        order=order,
        partner_id=order.partner_id,
        raised_by=acting_user(actor),
        raised_at=now,
        reason=reason[:300],
        needed=needed,
        due_at=calendar_for(order.country).add_working_hours(now, ESCALATION_WORKING_HOURS),
        addressed_to=Escalation.Addressee.HEAD_OF_DEPARTMENT,
    )


@transaction.atomic
def escalation_resolve(*, actor: Actor, escalation: Escalation, resolution: str) -> Escalation:
    if not access.can(actor, "escalations.resolve"):
        raise PermissionDenied
    escalation = access.get_scoped_or_404(actor, Escalation.objects.select_for_update(), pk=escalation.pk)
    if escalation.status == Escalation.Status.RESOLVED:
        raise ApplicationError(_("This escalation was resolved already."))
    if not (resolution or "").strip():
        raise ValidationError(_("Write how it was resolved."))
    escalation.status = Escalation.Status.RESOLVED
    escalation.resolved_by = actor
    escalation.resolved_at = timezone.now()
    escalation.resolution = resolution.strip()
    escalation.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
    # an order being called is due again at once; any other waits for its own next step
    CallState.objects.filter(order_id=escalation.order_id, order__status=OrderStatus.CALLING).update(
        next_call_at=timezone.now()
    )
    return escalation


# -- scripts --------------------------------------------------------------------------------------------------------


@transaction.atomic
def script_copy_sample(*, actor: Actor) -> int:
    """The sample script (seed 001: another company's real operator script) copied into the partner's own script,
    made if it has none, after its sections: each section the partner's script does not have already (the same
    topic, title and text), so copying twice adds nothing. The partner then edits it to its own terms (the sample
    speaks of Почта России and a Moscow PO box); its sections replace the company's default topic by topic.
    Returns how many sections were copied."""
    if not access.can(actor, "scripts.edit_own") or not access.is_partner_actor(actor):
        raise PermissionDenied
    sample = Script.objects.filter(is_sample=True).first()
    if sample is None:
        raise ApplicationError(_("There is no sample script to copy."))
    partner = actor.partner
    own, _created = Script.objects.select_for_update().get_or_create(
        partner=partner, defaults={"name": partner.name}
    )
    have = set(ScriptSection.objects.filter(script=own).values_list("topic", "status", "title", "body"))
    last = ScriptSection.objects.filter(script=own).order_by("-position").values_list("position", flat=True)
    position = (last.first() or 0) + 1
    copies = []
    for section in ScriptSection.objects.filter(script=sample).order_by("position", "id"):
        if (section.topic, section.status, section.title, section.body) in have:
            continue
        copies.append(
            ScriptSection(
                script=own,
                partner=partner,
                topic=section.topic,
                status=section.status,
                title=section.title,
                body=section.body,
                position=position,
            )
        )
        position += 1
    ScriptSection.objects.bulk_create(copies)
    if copies:
        audit_record(
            actor=actor,
            action="script.sample_copied",
            partner=partner,
            obj=own,
            summary=ngettext_message(
                "%(count)s section of the sample script copied into the partner's script",
                "%(count)s sections of the sample script copied into the partner's script",
                len(copies),
            )
            % {"count": len(copies)},
        )
    return len(copies)


# -- quality control ------------------------------------------------------------------------------------------------


@transaction.atomic
def quality_review(
    *, reviewer, attempt: CallAttempt, answers: dict[str, bool], comment: str = ""
) -> QualityReview:
    if not access.can(reviewer, "qc.review"):
        raise PermissionDenied
    attempt = access.get_scoped_or_404(reviewer, CallAttempt.objects.all(), pk=attempt.pk)
    scores = {code: bool(answers.get(code)) for code, _label in CHECKLIST}
    score = (Decimal(sum(scores.values())) * 100 / len(scores)).quantize(Decimal("0.1"))
    review, _created = QualityReview.objects.update_or_create(
        attempt=attempt,
        reviewer=reviewer,
        defaults={
            "partner_id": attempt.partner_id,
            "operator_id": attempt.operator_id,
            "scores": scores,
            "score": score,
            "comment": (comment or "").strip(),
            "reviewed_at": timezone.now(),
        },
    )
    audit_record(
        actor=reviewer,
        action="quality.reviewed",
        partner=attempt.partner,
        obj=review,
        summary=gettext_message("Call №%(number)s of %(operator)s scored %(score)s%%")
        % {"number": attempt.pk, "operator": attempt.operator.display_name, "score": score},
    )
    return review
