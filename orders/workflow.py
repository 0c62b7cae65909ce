"""The order status machine: every allowed move as data, its guards, and the history it writes.

`perform(order, action=..., actor=..., source=...)` is the only way an order's status changes. It
locks the order row (so two concurrent moves cannot both win), checks the move is allowed from the
current status, by this actor, with the data it needs, applies it, and writes the history row in
the same transaction. An illegal move raises `TransitionError` and changes nothing.

Other apps react to a move (`OrderMoved`) and to new orders (`OrdersCreated`) inside the same transaction,
through `ketlogistic.core.reactions`: the list of who reacts, in order, is `ketlogistic/wiring.py` (the
warehouses move stock, the call center schedules calls, the delivery day closes stops, integrations record
webhook events). The route an order takes right after it is sent is the wiring's `ROUTE_SENT_ORDER`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ketlogistic.core import access, i18n, reactions
from ketlogistic.core.actors import Actor, acting_user, actor_label, is_read_only, partner_id_of, role_of
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import PARTNER_ROLES, Role

from .guard import order_door
from .models import REASON_MESSAGE, Order, OrderHistory
from .statuses import FINAL_STATUSES, DeliveryKind, OrderSource, OrderStatus, RefusalFault
from .work import order_mark_work_started

S = OrderStatus
R = Role
PARTNERS = frozenset(PARTNER_ROLES)

# How far ahead a delivery may be agreed or asked for: two months (as the courier's «another day» always allowed).
# One rule for the agreement itself, the call screen's agreed, postponed and call-back dates, the courier's «another
# day» and staff's dates on the order card. Any day of the week: couriers deliver every day (the day's registry is
# built for every day), and a call due on a day off moves to the next working morning (`callcenter.scheduling`).
DELIVERY_DAYS_AHEAD = 60


def latest_delivery_day(today: date) -> date:
    """The furthest day a delivery may be agreed for, `today` being the customer's local day."""
    return today + timedelta(days=DELIVERY_DAYS_AHEAD)


def too_far_ahead(day: date, today: date) -> str | None:
    """Why `day` is too far ahead to agree a delivery for (None when it is not)."""
    latest = latest_delivery_day(today)
    if day <= latest:
        return None
    return _("At most two months ahead: %(day)s at the latest.") % {"day": latest.strftime("%d.%m.%Y")}


def local_today(order: Order, now: datetime) -> date:
    """The order's own day at `now`: the date in its city's time zone, where the customer and the courier are.
    The one «today» of every delivery date (`delivery_date_refusal`)."""
    return timezone.localtime(now, ZoneInfo(order.city.timezone)).date()


def delivery_date_refusal(
    day: date, order: Order, now: datetime, *, same_day_allowed: bool | None = None
) -> str | None:
    """Why `day` cannot be the order's delivery day (None when it can): not in the past, at most two months ahead
    (`too_far_ahead`), and today only where `same_day_allowed` — by default (None) for a same-day (ДВД) order only,
    as for an agreed date (the call screen, staff's dates); False for another day the customer asks for (a
    postponement, the courier's «another day»); True where today is any order's (the workflow's own guard, the
    sandbox, the day a customer asks for on the order card). One rule for every channel, one «today»
    (`local_today`)."""
    today = local_today(order, now)
    if day < today:
        return _("The delivery date %(day)s is in the past.") % {"day": day.strftime("%d.%m.%Y")}
    if day == today and same_day_allowed is False:
        return _("Give a date after today.")
    if day == today and same_day_allowed is None and order.delivery_kind != DeliveryKind.SAME_DAY:
        return _("Delivery today is for same-day (ДВД) orders only.")
    return too_far_ahead(day, today)


class TransitionError(ApplicationError):
    """A move that is not allowed; the message says why."""


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    system: bool = False  # may a task do it with no user
    requires: tuple[str, ...] = ()  # keys that `data` must hold
    delivery_kinds: frozenset[str] | None = None  # only for these kinds of delivery
    bulk: bool = False  # offered as a bulk action in the lists
    # the goods leave us (to a courier, to the post): work on the order has started, whatever came before
    # (`orders.work.order_mark_work_started`); no status by itself says a customer was called
    starts_work: bool = False


# The moves that end an order against the customer unless marked otherwise: a refusal or a return may carry
# `data["fault"]`, a `RefusalFault` (the refusal was not the customer's fault), set on the order with the status.
FAULT_KEY = "fault"
FAULT_MARKED = frozenset({"refuse", "post_returned"})


def _t(action, label, sources, target, roles, **kwargs) -> Transition:
    return Transition(action, label, frozenset(sources), target, frozenset(roles), **kwargs)


COURIER_KINDS = frozenset({DeliveryKind.EXPRESS, DeliveryKind.SAME_DAY, DeliveryKind.FIELD})
CALL_ROLES = {R.LOGIST, R.HOTLINE, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR, R.COURIER_ADMIN}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        _t(
            "cancel",
            gettext_lazy("Cancel"),
            [S.TO_SEND],
            S.CANCELLED,
            PARTNERS | {R.HEAD_OF_DEPARTMENT, R.SUPERVISOR},
            bulk=True,
        ),
        _t(
            "send",
            gettext_lazy("Put into work"),
            [S.TO_SEND],
            S.SENT,
            {R.HEAD_OF_DEPARTMENT, R.SUPERVISOR},
            bulk=True,
        ),
        _t(
            "wait_for_stock",
            gettext_lazy("Wait for stock"),
            [S.SENT],
            S.AWAITING_STOCK,
            {R.WAREHOUSE, R.HEAD_OF_DEPARTMENT},
            system=True,
        ),
        _t(
            "await_receipt",
            gettext_lazy("Await the city's receipt"),
            [S.SENT, S.AWAITING_STOCK],
            S.AWAITING_RECEIPT,
            {R.WAREHOUSE},
            system=True,
        ),
        _t(
            "start_calling",
            gettext_lazy("Start calling"),
            [S.SENT, S.AWAITING_STOCK, S.AWAITING_RECEIPT],
            S.CALLING,
            {R.WAREHOUSE, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR},
            system=True,
            bulk=True,
        ),
        _t(
            "agree_delivery",
            gettext_lazy("Delivery agreed"),
            [S.CALLING],
            S.DELIVERY_AGREED,
            CALL_ROLES,
            system=True,
            requires=("delivery_date",),
        ),
        _t(
            "return_to_calling",
            gettext_lazy("Back to calling"),
            [S.DELIVERY_AGREED, S.IN_REGISTRY, S.WITH_COURIER],
            S.CALLING,
            CALL_ROLES | {R.COURIER},
            system=True,
            requires=("reason",),
        ),
        _t(
            "add_to_registry",
            gettext_lazy("Add to the registry"),
            [S.DELIVERY_AGREED],
            S.IN_REGISTRY,
            {R.COURIER_ADMIN, R.HEAD_OF_DEPARTMENT},
            system=True,
            delivery_kinds=COURIER_KINDS,
        ),
        _t(
            "hand_to_courier",
            gettext_lazy("Hand to the courier"),
            [S.IN_REGISTRY],
            S.WITH_COURIER,
            {R.COURIER_ADMIN, R.COURIER},
            system=True,
            delivery_kinds=COURIER_KINDS,
            starts_work=True,
        ),
        _t(
            "mark_paid",
            gettext_lazy("Paid"),
            [S.WITH_COURIER],
            S.PAID,
            {R.COURIER, R.COURIER_ADMIN, R.SUPERVISOR},
            system=True,
            requires=("collected_amount",),
            delivery_kinds=COURIER_KINDS,
        ),
        _t(
            "refuse",
            gettext_lazy("Refused"),
            [S.CALLING, S.DELIVERY_AGREED, S.IN_REGISTRY, S.WITH_COURIER],
            S.REFUSED,
            CALL_ROLES | {R.COURIER},
            system=True,
            requires=("reason",),
        ),
        _t(
            "ship_by_post",
            gettext_lazy("Shipped by post"),
            [S.CALLING, S.DELIVERY_AGREED],
            S.POST_SHIPPED,
            {R.WAREHOUSE, R.LOGIST, R.HEAD_OF_DEPARTMENT, R.SUPERVISOR},
            system=True,
            requires=("tracking_number",),
            delivery_kinds=frozenset({DeliveryKind.POST}),
            starts_work=True,
        ),
        _t(
            "post_paid",
            gettext_lazy("Paid by post"),
            [S.POST_SHIPPED],
            S.PAID,
            {R.WAREHOUSE, R.FINANCE_DIRECTOR, R.SUPERVISOR},
            system=True,
            requires=("collected_amount",),
            delivery_kinds=frozenset({DeliveryKind.POST}),
        ),
        _t(
            "post_returned",
            gettext_lazy("Returned by post"),
            [S.POST_SHIPPED],
            S.RETURNED,
            {R.WAREHOUSE, R.SUPERVISOR},
            system=True,
            requires=("reason",),
            delivery_kinds=frozenset({DeliveryKind.POST}),
        ),
        _t(
            "close_not_reached",
            gettext_lazy("Close: customer not reached"),
            [S.CALLING],
            S.NOT_REACHED,
            {R.HEAD_OF_DEPARTMENT, R.SUPERVISOR},
            system=True,
        ),
    ]
}


def graph() -> dict[str, list[str]]:
    """status → the statuses reachable from it in one move."""
    edges: dict[str, set[str]] = {status: set() for status in S.values}
    for transition in TRANSITIONS.values():
        for source in transition.sources:
            edges[source].add(transition.target)
    return {status: sorted(targets) for status, targets in edges.items()}


@dataclass
class Context:
    """What a move carries: who did it, through what, why, the data its history records, and the typed facts the
    reactions read (never keys of `data`)."""

    actor: Actor | None
    source: str
    reason: str = ""
    data: dict = field(default_factory=dict)  # what the history row records (`OrderHistory.details`)
    now: datetime = field(default_factory=timezone.now)
    changed_fields: set[str] = field(default_factory=set)
    # back to calling: the day calling starts again (the eve of a day the customer asked for), or None for now
    call_on: date | None = None
    # a partial buyout: units the customer kept, by product id (the rest goes back to stock)
    kept: Mapping[int, int] | None = None
    # the delivery day's own move (a courier's stop outcome): it finishes its stop itself
    from_route: bool = False


@dataclass(frozen=True)
class OrderMoved:
    """An order changed status: after its history row, inside the move's transaction."""

    order: Order
    transition: Transition
    context: Context
    from_status: str

    @property
    def action(self) -> str:
        return self.transition.action


@dataclass(frozen=True)
class OrdersCreated:
    """Orders were created (by any intake channel), inside the intake's transaction."""

    orders: list[Order]
    source: str
    actor: Actor | None


def announce_created(orders: list[Order], *, source: str, actor: Actor | None) -> None:
    if orders:
        reactions.react(OrdersCreated(orders=list(orders), source=source, actor=actor))


def _route_sent_order(order: Order, context: Context) -> None:
    """Where a just-sent order goes (calling, waiting for stock, awaiting its city's receipt): the wiring's
    ROUTE_SENT_ORDER decides."""
    route = reactions.extension("ROUTE_SENT_ORDER")
    route(order, context)


def allowed_actions(order: Order, actor: Actor) -> list[Transition]:
    """The moves this actor could try on this order now (for buttons)."""
    return [t for t in TRANSITIONS.values() if _refusal(order, t, actor, source=OrderSource.CABINET) is None]


def _refusal(order: Order, transition: Transition, actor: Actor, *, source: str) -> str | None:
    if order.status not in transition.sources:
        return _("“%(action)s” is not possible for an order in status “%(status)s”.") % {
            "action": transition.label,
            "status": order.get_status_display(),
        }
    if transition.delivery_kinds is not None and order.delivery_kind not in transition.delivery_kinds:
        return _("“%(action)s” does not apply to %(kind)s delivery.") % {
            "action": transition.label,
            "kind": order.get_delivery_kind_display(),
        }
    if transition.target == S.CANCELLED and order.work_started_at is not None:
        # only an order marked worked before the rule of `order_mark_work_started` held (the database refuses a
        # cancelled order with work started): a refusal, never a 500
        return _("Work on this order has started: it can no longer be cancelled.")
    if order.is_test and source != OrderSource.SANDBOX:
        return _("Test orders move only through the sandbox API.")
    if source == OrderSource.SANDBOX:
        if not order.is_test:
            return _("Only test orders can be moved through the sandbox.")
        if actor is None or partner_id_of(actor) != order.partner_id:
            return _("Only the order's partner can move its test orders.")
        return None
    if actor is None:
        if not transition.system:
            return _("“%(action)s” needs a person to do it.") % {"action": transition.label}
        return None
    role = role_of(actor) or None
    if is_read_only(actor):
        return _("This key may only read.")
    if role != R.ADMINISTRATOR and role not in transition.roles:
        return _("Your role may not “%(action)s”.") % {"action": transition.label}
    return None


def _check_data(order: Order, transition: Transition, context: Context) -> None:
    for key in transition.requires:
        value = context.reason if key == "reason" else context.data.get(key)
        if value in (None, ""):
            names = {
                "reason": _("a reason"),
                "delivery_date": _("the delivery date"),
                "tracking_number": _("the tracking number"),
                "collected_amount": _("the collected sum"),
            }
            raise TransitionError(
                _("“%(action)s” needs %(what)s.") % {"action": transition.label, "what": names.get(key, key)},
                code="missing_data",
                extra={"field": key},
            )
    fault = context.data.get(FAULT_KEY)
    if fault not in (None, "") and (
        transition.action not in FAULT_MARKED or fault not in RefusalFault.values
    ):
        raise TransitionError(
            _(
                "“%(action)s” cannot be marked “%(fault)s”: a refusal or a return is marked with one of %(kinds)s."
            )
            % {"action": transition.label, "fault": str(fault)[:40], "kinds": ", ".join(RefusalFault.values)},
            code="invalid",
            extra={"field": FAULT_KEY},
        )
    if "delivery_date" in transition.requires:
        day = context.data["delivery_date"]
        if not isinstance(day, date):
            raise TransitionError(
                _("The delivery date is not a date."), code="invalid", extra={"field": "delivery_date"}
            )
        if refusal := delivery_date_refusal(day, order, context.now, same_day_allowed=True):
            raise TransitionError(refusal, code="invalid", extra={"field": "delivery_date"})


def _apply(order: Order, transition: Transition, context: Context) -> None:
    fields = {"status", "status_changed_at"}
    order.status = transition.target
    order.status_changed_at = context.now
    if transition.action == "send":
        order.sent_at = context.now
        fields.add("sent_at")
    if transition.action == "agree_delivery":
        order.delivery_date = context.data["delivery_date"]
        fields.add("delivery_date")
    if transition.action == "return_to_calling":
        order.delivery_date = None
        fields.add("delivery_date")
    if transition.action in FAULT_MARKED and context.data.get(FAULT_KEY):
        order.refusal_fault = context.data[FAULT_KEY]
        fields.add("refusal_fault")
    if transition.target in FINAL_STATUSES:
        order.closed_at = context.now
        fields.add("closed_at")
    context.changed_fields |= fields
    # The agreed date and the refusal's fault mark are the order's data: the database takes them only through the
    # workflow's door, with the status (orders migrations 0010, 0017). A move that leaves them alone meets no guard
    # and needs no door.
    with order_door("workflow") if fields & {"delivery_date", "refusal_fault"} else nullcontext():
        order.save(update_fields=[*sorted(fields), "updated_at"])
    if transition.starts_work and order.work_started_at is None:
        # imported here: the services move orders through this module
        if order_mark_work_started(order_id=order.pk, at=context.now, cause=transition.action):
            order.work_started_at = context.now
            context.changed_fields.add("work_started_at")


# The customer's personal data never goes into the status history, whatever a move carries: it belongs on the order
# (its changes in the amendment history), where retention erases it (`orders.services.personal_data_erase_expired`,
# which also takes these keys out of rows written before this rule).
PERSONAL_DETAIL_KEYS = ("address", "customer_name", "comment", "phone", "phones")


def _reason_message(reason: str) -> dict:
    """A reason the system wrote («Parcel received in the city»), kept as a message in the row's details so that
    the timeline and the API say it in their reader's language (`OrderHistory.shown_reason`)."""
    message = i18n.stored(reason)
    return {REASON_MESSAGE: message} if message else {}


def _json_safe(data: dict) -> dict:
    """The history row's `details`: the move's data as JSON, without personal data."""
    safe = {}
    for key, value in data.items():
        if key in PERSONAL_DETAIL_KEYS:
            continue
        safe[key] = (
            value.isoformat()
            if isinstance(value, date | datetime)
            else (
                str(value)
                if not isinstance(value, str | int | float | bool | type(None) | list | dict)
                else value
            )
        )
    return safe


def perform(
    order: Order | int,
    *,
    action: str,
    actor: Actor | None,
    source: str,
    reason: str = "",
    data: dict | None = None,
    now: datetime | None = None,
    call_on: date | None = None,
    kept: Mapping[int, int] | None = None,
    from_route: bool = False,
) -> Order:
    """Move one order. Locks its row; raises TransitionError (and changes nothing) if not allowed.

    `data` is what the history row records; `call_on`, `kept` and `from_route` are the typed facts the
    reactions read (see `Context`)."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionError(_("Unknown action “%(action)s”.") % {"action": action}, code="unknown_action")
    order_id = order.pk if isinstance(order, Order) else order
    context = Context(
        actor=actor,
        source=source,
        reason=reason if isinstance(reason, i18n.Message) else (reason or "").strip(),
        data=dict(data or {}),
        now=now or timezone.now(),
        call_on=call_on,
        kept=kept,
        from_route=from_route,
    )
    with transaction.atomic():
        queryset = Order.objects.select_for_update(of=("self",)).select_related("city", "partner")
        if actor is not None and source != OrderSource.SANDBOX:
            queryset = access.scoped(actor, queryset)
        elif actor is not None:
            queryset = queryset.filter(partner_id=partner_id_of(actor))
        locked = queryset.filter(pk=order_id).first()
        if locked is None:
            raise TransitionError(_("Order not found."), code="not_found")
        refusal = _refusal(locked, transition, actor, source=source)
        if refusal:
            raise TransitionError(
                refusal, code="not_allowed", extra={"status": locked.status, "action": action}
            )
        _check_data(locked, transition, context)
        from_status = locked.status
        _apply(locked, transition, context)
        OrderHistory.objects.create(
            order=locked,
            partner_id=locked.partner_id,
            at=context.now,
            actor=acting_user(actor),
            actor_label=actor_label(actor)[:150],
            action=action,
            from_status=from_status,
            to_status=locked.status,
            reason=context.reason,
            source=source,
            details={**_json_safe(context.data), **_reason_message(context.reason)},
        )
        reactions.react(
            OrderMoved(order=locked, transition=transition, context=context, from_status=from_status)
        )
        if action == "send" and not locked.is_test:
            _route_sent_order(locked, context)
            locked.refresh_from_db()
        if isinstance(order, Order) and order is not locked:
            order.refresh_from_db()
        return locked


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def perform_many(
    order_ids, *, action: str, actor: Actor, source: str, reason: str = "", data: dict | None = None
) -> BulkResult:
    """The same move on many orders; each passes its own guards and gets its own history row."""
    result = BulkResult()
    for order_id in sorted(set(order_ids)):
        try:
            with transaction.atomic():
                perform(order_id, action=action, actor=actor, source=source, reason=reason, data=data)
        except TransitionError as exc:
            result.failed[order_id] = exc.message
        else:
            result.done.append(order_id)
    return result
