"""The delivery day: assigning the registry's orders to couriers, routes, handing over the goods, what
happens at each door, closing a courier's day with the cash hand-over, and post shipments.

Every action at a door is idempotent: a repeated tap or a retry on a bad connection carries the same
`client_token` and finds its event already recorded; a stop whose outcome is recorded is not recorded again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from ketlogistic.core import access, i18n, reactions
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.calendar import calendar_for
from ketlogistic.core.countries import facts
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import User
from ketlogistic.core.money import format_money, parse_money
from ketlogistic.core.roles import Role
from ketlogistic.core.services import audit_record
from orders import amendments, workflow
from orders.models import Order, OrderItem, PartnerRules
from orders.statuses import AmendmentSource, DeliveryKind, OrderSource, OrderStatus
from orders.workflow import OrderMoved

from . import cash
from .events import CollectionsSettled
from .models import (
    CashAccount,
    CashDiscrepancy,
    CashHandover,
    CashMoveKind,
    Collection,
    CourierDay,
    DeliveryEvent,
    DeliveryStop,
    StopOutcome,
)

E = DeliveryEvent.Kind


def collections_settled(collections) -> None:
    reactions.react(CollectionsSettled(collections=list(collections)))


# -- days and couriers ----------------------------------------------------------------------------------------------


def local_today(warehouse) -> date:
    return timezone.localtime(timezone.now(), calendar_for(warehouse.city.country).zone).date()


def couriers_of(warehouse):
    """The active couriers who work in the warehouse's city."""
    return (
        User.objects.filter(role=Role.COURIER, is_active=True, scopes__city=warehouse.city)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def _day(courier, warehouse, day: date) -> CourierDay:
    courier_day, _created = CourierDay.objects.get_or_create(
        courier=courier,
        date=day,
        defaults={"warehouse": warehouse, "currency": facts(warehouse.city.country).currency},
    )
    if courier_day.warehouse_id != warehouse.pk:
        raise ApplicationError(
            _("%(courier)s works in %(city)s on that day.")
            % {"courier": courier.display_name, "city": courier_day.warehouse.city.name}
        )
    if courier_day.status == CourierDay.Status.CLOSED:
        raise ApplicationError(_("The day of %(courier)s is closed.") % {"courier": courier.display_name})
    return courier_day


def _event(
    order: Order,
    kind: str,
    *,
    at: datetime,
    actor: Actor | None = None,
    stop: DeliveryStop | None = None,
    courier=None,
    details: dict | None = None,
    token: str = "",
) -> DeliveryEvent:
    return DeliveryEvent.objects.create(
        order=order,
        partner_id=order.partner_id,
        stop=stop,
        kind=kind,
        at=at,
        courier=courier or (stop.day.courier if stop else None),
        actor=acting_user(actor),
        details=details or {},
        client_token=token[:64],
    )


def _require_city(actor: Actor, warehouse) -> None:
    """Delivery is managed per city: the administrator must serve the warehouse's city."""
    if not access.serves_city(actor, warehouse.city):
        raise PermissionDenied


# -- assignment and routes ------------------------------------------------------------------------------------------

ASSIGNABLE = (OrderStatus.IN_REGISTRY, OrderStatus.WITH_COURIER)


@transaction.atomic
def stops_assign(
    *, actor: Actor, orders, courier, warehouse, day: date, now: datetime | None = None
) -> list[DeliveryStop]:
    """Put orders on a courier's route for the day (at its end); an order on another courier's route is moved."""
    if not access.can(actor, "delivery.manage"):
        raise PermissionDenied
    _require_city(actor, warehouse)
    now = now or timezone.now()
    if not couriers_of(warehouse).filter(pk=courier.pk).exists():
        raise ApplicationError(
            _("%(courier)s is not a courier of %(city)s.")
            % {"courier": courier.display_name, "city": warehouse.city.name}
        )
    courier_day = _day(courier, warehouse, day)
    CourierDay.objects.select_for_update().filter(pk=courier_day.pk).first()
    position = courier_day.stops.aggregate(last=Max("position"))["last"] or 0
    ids = [order.pk if isinstance(order, Order) else int(order) for order in orders]
    locked = list(
        access.scoped(actor, Order.objects.select_for_update(of=("self",))).filter(pk__in=ids).order_by("pk")
    )
    if len(locked) != len(set(ids)):
        raise ApplicationError(_("Some of these orders are not yours to assign."))
    served = {warehouse.city_id}
    stops = []
    for order in locked:
        if order.status not in ASSIGNABLE:
            raise ApplicationError(
                _("Order №%(number)s is %(status)s: only orders in the registry go to couriers.")
                % {"number": order.pk, "status": order.get_status_display().lower()}
            )
        if order.city_id not in served and order.city.served_from_id != warehouse.city_id:
            raise ApplicationError(
                _("Order №%(number)s is not delivered from %(city)s.")
                % {"number": order.pk, "city": warehouse.city.name}
            )
        # of=self: the stops' default ordering joins their day and courier, whose rows must not be locked here
        # (another administrator holds the other courier's day and waits for this order: a deadlock)
        current = (
            DeliveryStop.objects.select_for_update(of=("self",))
            .filter(order=order, outcome=StopOutcome.PENDING)
            .first()
        )
        if current is not None and current.day_id == courier_day.pk:
            stops.append(current)
            continue
        position += 1
        # this courier may have had the order earlier today (taken off, or given away): that stop comes back
        earlier = (
            DeliveryStop.objects.select_for_update(of=("self",)).filter(order=order, day=courier_day).first()
        )
        previous = current.day.courier if current is not None else None
        if current is not None and earlier is None:
            current.day = courier_day
            current.position = position
            current.save(update_fields=["day", "position"])
            target = current
        else:
            if current is not None:
                _finish(current, StopOutcome.UNASSIGNED, now)
            target = earlier or DeliveryStop(
                day=courier_day, order=order, partner_id=order.partner_id, assigned_at=now, assigned_by=actor
            )
            target.outcome, target.outcome_at, target.position = StopOutcome.PENDING, None, position
            target.save()
        if previous is not None:
            _event(
                order,
                E.REASSIGNED,
                at=now,
                actor=actor,
                stop=target,
                courier=courier,
                details={"from": previous.display_name, "to": courier.display_name},
            )
        else:
            _event(
                order, E.ASSIGNED, at=now, actor=actor, stop=target, details={"courier": courier.display_name}
            )
        stops.append(target)
    return stops


@transaction.atomic
def stop_unassign(*, actor: Actor, stop: DeliveryStop, now: datetime | None = None) -> None:
    """Take an order off a route before its goods were handed over (it stays in the registry)."""
    if not access.can(actor, "delivery.manage"):
        raise PermissionDenied
    stop = access.get_scoped_or_404(
        actor,
        DeliveryStop.objects.select_for_update(of=("self",)).select_related("day__courier", "order"),
        pk=stop.pk,
    )
    if not stop.is_open or stop.order.status != OrderStatus.IN_REGISTRY:
        raise ApplicationError(
            _("Only an order whose goods are still at the warehouse can be taken off the route.")
        )
    now = now or timezone.now()
    _finish(stop, StopOutcome.UNASSIGNED, now)
    _event(
        stop.order,
        E.UNASSIGNED,
        at=now,
        actor=actor,
        stop=stop,
        details={"courier": stop.day.courier.display_name},
    )


@transaction.atomic
def route_reorder(*, actor: Actor, day: CourierDay, stop_ids: list[int]) -> None:
    """The courier's route in this order (drag-and-drop or arrows send the whole new order)."""
    if not access.can(actor, "delivery.manage"):
        raise PermissionDenied
    day = access.get_scoped_or_404(actor, CourierDay.objects.select_for_update(of=("self",)), pk=day.pk)
    stops = {stop.pk: stop for stop in day.stops.all()}
    ordered = [stops[pk] for pk in stop_ids if pk in stops]
    ordered += sorted((s for s in stops.values() if s not in ordered), key=lambda s: (s.position, s.pk))
    for index, stop in enumerate(ordered, start=1):
        if stop.position != index:
            DeliveryStop.objects.filter(pk=stop.pk).update(position=index)


def route_move(*, actor: Actor, stop: DeliveryStop, offset: int) -> None:
    """Move one stop up (-1) or down (+1) the route."""
    day = stop.day
    ids = list(day.stops.order_by("position", "pk").values_list("pk", flat=True))
    index = ids.index(stop.pk)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))
    route_reorder(actor=actor, day=day, stop_ids=ids)


_DISTRICT = re.compile(r"(мкр\.?|микрорайон|мкрн\.?|ж\.?\s?м\.?)\s*«?([\w-]+)", re.IGNORECASE)
_AREA = re.compile(r"([\w-]+)\s+(?:р-н|район)(?![\w-])", re.IGNORECASE)
_STREET = re.compile(
    r"(?:ул\.?|улица|пр\.?|пр-т|проспект|пер\.?|переулок|бульвар|б-р|шоссе)\s*([^,\d]+)", re.IGNORECASE
)


def district_of(address: str) -> str:
    """The part of an address that says where in the city it is: the microdistrict, else the street."""
    text = (address or "").strip()
    found = _DISTRICT.search(text)
    if found:
        return f"мкр {found.group(2)}".casefold()
    found = _AREA.search(text)
    if found:
        return f"р-н {found.group(1)}".casefold()
    found = _STREET.search(text)
    if found:
        return found.group(1).strip().casefold()
    return text.split(",")[0].strip().casefold()


def suggest_split(orders: list[Order], couriers: list) -> dict[int, list[Order]]:
    """A first split of the day's orders between couriers, by district: same-day orders spread first, then
    each district (largest first) to the courier with the fewest orders so far, so a district stays with
    one courier where the numbers allow. The administrator adjusts it before applying."""
    if not couriers:
        return {}
    plan: dict[int, list[Order]] = {courier.pk: [] for courier in couriers}
    same_day = [order for order in orders if order.delivery_kind == DeliveryKind.SAME_DAY]
    rest = [order for order in orders if order.delivery_kind != DeliveryKind.SAME_DAY]
    for order in same_day:
        min(plan.values(), key=len).append(order)
    districts: dict[str, list[Order]] = defaultdict(list)
    for order in rest:
        districts[district_of(order.address)].append(order)
    for _name, group in sorted(districts.items(), key=lambda item: (-len(item[1]), item[0])):
        min(plan.values(), key=len).extend(sorted(group, key=lambda order: order.address))
    return plan


@transaction.atomic
def goods_hand_over(*, actor: Actor, day: CourierDay, now: datetime | None = None) -> int:
    """The courier takes the goods of every order on the route that are still at the warehouse."""
    if not access.can(actor, "delivery.manage"):
        raise PermissionDenied
    day = access.get_scoped_or_404(actor, CourierDay.objects.select_for_update(of=("self",)), pk=day.pk)
    if day.status == CourierDay.Status.CLOSED:
        raise ApplicationError(_("This courier's day is closed."))
    now = now or timezone.now()
    handed = 0
    for stop in (
        day.stops.filter(outcome=StopOutcome.PENDING, order__status=OrderStatus.IN_REGISTRY)
        .select_related("order")
        .order_by("position")
    ):
        workflow.perform(
            stop.order,
            action="hand_to_courier",
            actor=actor,
            source=OrderSource.STAFF,
            now=now,
            data={"courier": day.courier.display_name},
            from_route=True,
        )
        _event(stop.order, E.GOODS_HANDED, at=now, actor=actor, stop=stop, courier=day.courier)
        handed += 1
    if handed:
        day.goods_handed_at = now
        day.save(update_fields=["goods_handed_at"])
    return handed


# -- at the door ----------------------------------------------------------------------------------------------------


def _door(actor: Actor, stop: DeliveryStop, token: str, kind: str):
    """Lock the stop for an action at the door. Returns (stop, done): done is True when this very action was
    recorded already (a repeated tap, a retried request) and nothing must happen again."""
    if not access.can(actor, "delivery.record"):
        raise PermissionDenied
    order_id = access.get_scoped_or_404(actor, DeliveryStop.objects.all(), pk=stop.pk).order_id
    # the order first, then the stop: the same order assignment takes its locks in
    Order.objects.select_for_update(of=("self",)).filter(pk=order_id).first()
    stop = access.get_scoped_or_404(
        actor,
        DeliveryStop.objects.select_for_update(of=("self",)).select_related(
            "day__courier", "day__warehouse__city", "order__city"
        ),
        pk=stop.pk,
    )
    if token and DeliveryEvent.objects.filter(client_token=token[:64]).exists():
        return stop, True
    if not stop.is_open:
        if stop.outcome == kind:
            return stop, True
        raise ApplicationError(
            _("Order №%(number)s is already recorded as “%(outcome)s”.")
            % {"number": stop.order_id, "outcome": stop.get_outcome_display()}
        )
    if stop.order.status != OrderStatus.WITH_COURIER:
        raise ApplicationError(
            _("The goods of order №%(number)s were not handed to the courier yet.")
            % {"number": stop.order_id}
        )
    return stop, False


def _collect(stop: DeliveryStop, *, kind: str, amount: Decimal, actor: Actor, at: datetime) -> None:
    """The courier now holds the cash; billing will accrue it to the partner (the collection)."""
    order, day = stop.order, stop.day
    Collection.objects.create(
        order=order,
        partner_id=order.partner_id,
        kind=kind,
        channel=Collection.Channel.COURIER,
        amount=amount,
        currency=order.currency,
        collected_at=at,
        city_id=order.city_id,
        courier=day.courier,
    )
    cash.move(
        kind=CashMoveKind.COLLECTED if kind == Collection.Kind.COD else CashMoveKind.REFUSAL_FEE,
        source=cash.outside(CashAccount.CUSTOMER, order.currency),
        target=cash.courier(day.courier_id, order.currency, day.warehouse_id),
        amount=amount,
        courier_id=day.courier_id,
        warehouse_id=day.warehouse_id,
        day_id=day.pk,
        order_id=order.pk,
        partner_id=order.partner_id,
        actor=actor,
        at=at,
    )


def _finish(stop: DeliveryStop, outcome: str, at: datetime, **fields) -> None:
    stop.outcome = outcome
    stop.outcome_at = at
    for name, value in fields.items():
        setattr(stop, name, value)
    stop.save()


@transaction.atomic
def stop_paid(
    *, actor: Actor, stop: DeliveryStop, collected, token: str = "", now: datetime | None = None
) -> DeliveryStop:
    """Delivered and paid in full: the order is paid, the units delivered, the cash with the courier."""
    stop, done = _door(actor, stop, token, StopOutcome.PAID)
    if done:
        return stop
    now = now or timezone.now()
    order = stop.order
    amount = parse_money(collected, "collected")
    if amount != order.cod_amount:
        raise ValidationError(
            {
                "collected": _(
                    "The order's sum is %(sum)s. If the customer kept only some goods, record a partial buyout."
                )
                % {"sum": format_money(order.cod_amount, order.currency)}
            }
        )
    workflow.perform(
        order,
        action="mark_paid",
        actor=actor,
        source=OrderSource.STAFF,
        now=now,
        data={"collected_amount": str(amount), "courier": stop.day.courier.display_name},
        from_route=True,
    )
    if amount > 0:
        _collect(stop, kind=Collection.Kind.COD, amount=amount, actor=actor, at=now)
    _finish(stop, StopOutcome.PAID, now, collected_amount=amount)
    _event(
        order,
        E.PAID,
        at=now,
        actor=actor,
        stop=stop,
        token=token,
        details={"collected": str(amount), "currency": order.currency},
    )
    return stop


@transaction.atomic
def stop_partial(
    *,
    actor: Actor,
    stop: DeliveryStop,
    kept: dict[int, int],
    collected,
    token: str = "",
    now: datetime | None = None,
) -> DeliveryStop:
    """Partly bought out: the customer keeps some items (`kept`: {order item id: quantity}) and pays for them;
    the rest go back to the city's stock."""
    stop, done = _door(actor, stop, token, StopOutcome.PARTIAL)
    if done:
        return stop
    now = now or timezone.now()
    order = stop.order
    items = list(order.items.select_related("product"))
    errors = {}
    kept_quantities = {}
    for item in items:
        try:
            quantity = int(kept.get(item.pk, kept.get(str(item.pk), 0)) or 0)
        except (TypeError, ValueError):
            quantity = -1
        if not 0 <= quantity <= item.quantity:
            errors[f"kept_{item.pk}"] = _("Between 0 and %(max)s.") % {"max": item.quantity}
        kept_quantities[item.pk] = quantity
    if not errors:
        if sum(kept_quantities.values()) == 0:
            errors["kept"] = _("The customer kept nothing: record a refusal instead.")
        elif all(kept_quantities[item.pk] == item.quantity for item in items):
            errors["kept"] = _("The customer kept everything: record it as paid.")
    amount = parse_money(collected, "collected")
    if not errors:
        # the kept goods at the partner's prices; less only within the discount the partner allows, measured
        # from the partner's own figures (the amendment below checks the same)
        limits = amendments.cod_limits(
            order,
            value=amendments.goods_value(
                [OrderItem(unit_price=item.unit_price, quantity=kept_quantities[item.pk]) for item in items]
            ),
        )
        if amount <= 0 or amount > limits.base or amount < limits.floor:
            errors["collected"] = _(
                "The kept goods cost %(expected)s: collect that sum (a discount only within the partner's rules)."
            ) % {"expected": format_money(limits.base, order.currency)}
    if errors:
        raise ValidationError(errors)
    by_product: dict[int, int] = defaultdict(int)
    for item in items:
        by_product[item.product_id] += kept_quantities[item.pk]
    lines = [
        {
            "product": item.product.name,
            "sku": item.product.sku,
            "ordered": item.quantity,
            "kept": kept_quantities[item.pk],
        }
        for item in items
    ]
    # the order now says what the customer bought: the kept goods and the sum paid for them
    amendments.order_amend(
        order=order,
        actor=actor,
        source=AmendmentSource.COURIER,
        reason=gettext_message("Partial buyout"),
        items=kept_quantities,
        cod_amount=amount,
        now=now,
    )
    workflow.perform(
        order,
        action="mark_paid",
        actor=actor,
        source=OrderSource.STAFF,
        now=now,
        reason=gettext_message("Partial buyout"),
        data={
            "collected_amount": str(amount),
            "partial": True,
            "kept": dict(by_product),
            "lines": lines,
            "courier": stop.day.courier.display_name,
        },
        from_route=True,
        kept=dict(by_product),
    )
    _collect(stop, kind=Collection.Kind.COD, amount=amount, actor=actor, at=now)
    _finish(stop, StopOutcome.PARTIAL, now, collected_amount=amount)
    _event(
        order,
        E.PARTIAL,
        at=now,
        actor=actor,
        stop=stop,
        token=token,
        details={"collected": str(amount), "currency": order.currency, "lines": lines},
    )
    return stop


@transaction.atomic
def stop_refused(
    *,
    actor: Actor,
    stop: DeliveryStop,
    reason: str,
    fee_collected: bool = False,
    refusal_fault: str = "",
    token: str = "",
    now: datetime | None = None,
) -> DeliveryStop:
    """Refused at the door: the goods go back to the city's stock; the refusal fee if the partner's rule says so.
    `refusal_fault`: the refusal was not the customer's fault (a `RefusalFault`: wrong goods, damage, …), set on the
    order by the workflow with the status."""
    stop, done = _door(actor, stop, token, StopOutcome.REFUSED)
    if done:
        return stop
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Write why the customer refused.")})
    now = now or timezone.now()
    order = stop.order
    rules = PartnerRules.objects.filter(partner_id=order.partner_id).first()
    fee = rules.refusal_fee if rules and rules.refusal_fee_enabled and rules.refusal_fee else None
    if fee_collected and fee is None:
        raise ValidationError({"fee_collected": _("The partner charges no refusal fee.")})
    workflow.perform(
        order,
        action="refuse",
        actor=actor,
        source=OrderSource.STAFF,
        reason=reason,
        now=now,
        data={
            "courier": stop.day.courier.display_name,
            **({workflow.FAULT_KEY: refusal_fault} if refusal_fault else {}),
        },
        from_route=True,
    )
    if fee_collected:
        _collect(stop, kind=Collection.Kind.REFUSAL_FEE, amount=fee, actor=actor, at=now)
    _finish(stop, StopOutcome.REFUSED, now, refusal_fee=fee if fee_collected else None, note=reason[:500])
    _event(
        order,
        E.REFUSED,
        at=now,
        actor=actor,
        stop=stop,
        token=token,
        details={
            "reason": reason,
            "fault": refusal_fault,
            "fee": str(fee) if fee_collected else "",
            "fee_due": str(fee) if fee and not fee_collected else "",
            "currency": order.currency,
        },
    )
    return stop


@transaction.atomic
def stop_postponed(
    *, actor: Actor, stop: DeliveryStop, new_date: date, token: str = "", now: datetime | None = None
) -> DeliveryStop:
    """The customer asks for another day: back to the call center with the date, called on the eve of it."""
    stop, done = _door(actor, stop, token, StopOutcome.POSTPONED)
    if done:
        return stop
    now = now or timezone.now()
    order = stop.order
    calendar = calendar_for(order.country)
    today = workflow.local_today(order, now)
    if new_date is None:
        raise ValidationError({"new_date": _("Give a date after today.")})
    # the one rule of a delivery day (another day: never today)
    if refusal := workflow.delivery_date_refusal(new_date, order, now, same_day_allowed=False):
        raise ValidationError({"new_date": refusal})
    eve = new_date - timedelta(days=1)
    while eve > today and not calendar.is_working_day(eve):
        eve -= timedelta(days=1)
    amendments.order_amend(
        order=order,
        actor=actor,
        source=AmendmentSource.COURIER,
        reason=gettext_message("The customer asked for delivery on %(day)s")
        % {"day": new_date.strftime("%d.%m.%Y")},
        requested_delivery_date=new_date,
        now=now,
    )
    workflow.perform(
        order,
        action="return_to_calling",
        actor=actor,
        source=OrderSource.STAFF,
        now=now,
        reason=gettext_message("The customer asked for delivery on %(day)s")
        % {"day": new_date.strftime("%d.%m.%Y")},
        data={
            "call_on": eve if eve > today else None,
            "requested_date": new_date,
            "courier": stop.day.courier.display_name,
        },
        from_route=True,
        call_on=eve if eve > today else None,
    )
    _finish(stop, StopOutcome.POSTPONED, now, postponed_to=new_date)
    _event(
        order,
        E.POSTPONED,
        at=now,
        actor=actor,
        stop=stop,
        token=token,
        details={"date": new_date.isoformat()},
    )
    return stop


@transaction.atomic
def stop_not_home(
    *, actor: Actor, stop: DeliveryStop, note: str = "", token: str = "", now: datetime | None = None
) -> DeliveryStop:
    """Not at home / no answer: recorded; the order stays on the route for another try (and goes back to
    calling if the day ends without delivery)."""
    stop, done = _door(actor, stop, token, "not_home")
    if done:
        return stop
    now = now or timezone.now()
    stop.not_home_count += 1
    stop.save(update_fields=["not_home_count"])
    _event(
        stop.order,
        E.NOT_HOME,
        at=now,
        actor=actor,
        stop=stop,
        token=token,
        details={"attempt": stop.not_home_count, "note": (note or "").strip()[:300]},
    )
    return stop


def on_order_moved(moved: OrderMoved) -> None:
    """An order that leaves the courier's hands by another path (the hotline refuses it, a supervisor sends it
    back to calling) leaves the route too, so the day can close."""
    order, transition, context = moved.order, moved.transition, moved.context
    if context.from_route or order.status in ASSIGNABLE:
        return  # the delivery day's own moves finish their stops themselves
    for stop in DeliveryStop.objects.select_for_update(of=("self",)).filter(
        order=order, outcome=StopOutcome.PENDING
    ):
        _finish(stop, StopOutcome.RETURNED, context.now, note=str(transition.label))
        _event(
            order,
            E.RETURNED,
            at=context.now,
            actor=context.actor,
            stop=stop,
            details={"reason": str(transition.label)},
        )


# -- closing the day: cash hand-over and discrepancies -------------------------------------------------------------


@transaction.atomic
def cash_handover(
    *, actor: Actor, day: CourierDay, counted, token: str = "", now: datetime | None = None
) -> CashHandover:
    """The administrator counts the courier's cash and enters the sum; a mismatch becomes a discrepancy.

    What the ledger expects moves to the city's cash desk (what was counted, if less); a surplus stays out of
    the desk until someone finds where it came from. The form's token makes a repeated submit the same count.
    """
    if not access.can(actor, "delivery.cash"):
        raise PermissionDenied
    day = access.get_scoped_or_404(actor, CourierDay.objects.select_for_update(of=("self",)), pk=day.pk)
    if token and (earlier := CashHandover.objects.filter(client_token=token[:64]).first()) is not None:
        return earlier
    if day.status == CourierDay.Status.CLOSED:
        raise ApplicationError(_("This courier's day is closed."))
    if day.discrepancies.filter(resolution="").exists():
        raise ApplicationError(_("Resolve the open discrepancy first."))
    counted = parse_money(counted, "counted")
    now = now or timezone.now()
    courier_account = cash.courier(day.courier_id, day.currency, day.warehouse_id)
    expected = cash.balance(courier_account, lock=True)  # no "paid" can slip in between the read and the move
    if min(counted, expected) > 0:
        cash.move(
            kind=CashMoveKind.HANDED_OVER,
            source=courier_account,
            target=cash.desk(day.warehouse_id, day.currency),
            amount=min(counted, expected),
            courier_id=day.courier_id,
            warehouse_id=day.warehouse_id,
            day_id=day.pk,
            actor=actor,
            at=now,
        )
    handover = CashHandover.objects.create(
        day=day,
        expected=expected,
        counted=counted,
        currency=day.currency,
        counted_by=actor,
        counted_at=now,
        client_token=token[:64],
    )
    if counted != expected:
        CashDiscrepancy.objects.create(
            handover=handover,
            day=day,
            amount=abs(counted - expected),
            currency=day.currency,
            kind=CashDiscrepancy.Kind.SURPLUS if counted > expected else CashDiscrepancy.Kind.SHORTFALL,
        )
    # the day's collections are now the company's: the partners' balances get them (the CollectionsSettled reaction)
    collections_settled(
        Collection.objects.filter(
            channel=Collection.Channel.COURIER,
            courier_id=day.courier_id,
            order_id__in=day.stops.values("order_id"),
        ).order_by("pk")
    )
    audit_record(
        actor=actor,
        action="delivery.cash_counted",
        obj=handover,
        summary=gettext_message("%(courier)s's day %(date)s: %(counted)s counted, %(expected)s expected")
        % {
            "courier": day.courier.display_name,
            "date": day.date.strftime("%d.%m.%Y"),
            "expected": format_money(expected, day.currency),
            "counted": format_money(counted, day.currency),
        },
    )
    return handover


@transaction.atomic
def discrepancy_resolve(
    *, actor: Actor, discrepancy: CashDiscrepancy, resolution: str, reason: str, now: datetime | None = None
) -> CashDiscrepancy:
    """Found (the courier brings the money / the surplus is explained), charged to the courier, or written off
    by a supervisor with a reason."""
    if not access.can(actor, "delivery.cash"):
        raise PermissionDenied
    discrepancy = access.get_scoped_or_404(
        actor,
        CashDiscrepancy.objects.select_for_update(of=("self",)).select_related("day"),
        pk=discrepancy.pk,
    )
    if not discrepancy.is_open:
        raise ApplicationError(_("This discrepancy is resolved already."))
    reason = (reason or "").strip()
    R = CashDiscrepancy.Resolution
    if resolution not in R.values:
        raise ValidationError({"resolution": _("Choose how it was resolved.")})
    if not reason:
        raise ValidationError({"reason": _("Write what happened.")})
    if resolution == R.WRITTEN_OFF and not access.can(actor, "delivery.cash.write_off"):
        raise ApplicationError(_("Only a supervisor writes off a discrepancy."))
    day = discrepancy.day
    if discrepancy.kind == CashDiscrepancy.Kind.SURPLUS and resolution == R.CHARGED:
        raise ValidationError({"resolution": _("A surplus cannot be charged to the courier.")})
    now = now or timezone.now()
    if discrepancy.kind == CashDiscrepancy.Kind.SURPLUS and resolution == R.FOUND:
        # explained (an unrecorded fee, change the courier carried): the extra joins the cash desk
        cash.move(
            kind=CashMoveKind.SURPLUS,
            source=cash.outside(CashAccount.UNEXPLAINED, day.currency),
            target=cash.desk(day.warehouse_id, day.currency),
            amount=discrepancy.amount,
            courier_id=day.courier_id,
            warehouse_id=day.warehouse_id,
            day_id=day.pk,
            actor=actor,
            at=now,
            note=reason,
        )
    if discrepancy.kind == CashDiscrepancy.Kind.SHORTFALL:
        courier_account = cash.courier(day.courier_id, day.currency, day.warehouse_id)
        target = {
            R.FOUND: cash.desk(day.warehouse_id, day.currency),
            R.CHARGED: cash.debt(day.courier_id, day.currency, day.warehouse_id),
            R.WRITTEN_OFF: cash.outside(CashAccount.WRITTEN_OFF, day.currency),
        }[resolution]
        kind = {
            R.FOUND: CashMoveKind.FOUND,
            R.CHARGED: CashMoveKind.CHARGED,
            R.WRITTEN_OFF: CashMoveKind.WRITTEN_OFF,
        }
        cash.move(
            kind=kind[resolution],
            source=courier_account,
            target=target,
            amount=discrepancy.amount,
            courier_id=day.courier_id,
            warehouse_id=day.warehouse_id,
            day_id=day.pk,
            actor=actor,
            at=now,
            note=reason,
        )
    discrepancy.resolution = resolution
    discrepancy.reason = reason
    discrepancy.resolved_by = actor
    discrepancy.resolved_at = now
    discrepancy.save(update_fields=["resolution", "reason", "resolved_by", "resolved_at"])
    audit_record(
        actor=actor,
        action="delivery.discrepancy_resolved",
        obj=discrepancy,
        summary=gettext_message(
            "%(kind)s of %(sum)s on %(courier)s's day %(date)s, resolved: %(resolution)s (%(reason)s)"
        )
        % {
            "courier": day.courier.display_name,
            "date": day.date.strftime("%d.%m.%Y"),
            "kind": CashDiscrepancy.Kind(discrepancy.kind).label,
            "sum": format_money(discrepancy.amount, discrepancy.currency),
            "resolution": R(resolution).label,
            "reason": reason,
        },
    )
    return discrepancy


@transaction.atomic
def day_close(*, actor: Actor, day: CourierDay, now: datetime | None = None) -> CourierDay:
    """Close the courier's day: the cash is handed over and every discrepancy resolved; orders not delivered
    go back to the call center (their goods back to the shelf, still reserved)."""
    if not access.can(actor, "delivery.cash"):
        raise PermissionDenied
    day = access.get_scoped_or_404(
        actor,
        CourierDay.objects.select_for_update(of=("self",)).select_related("courier", "warehouse__city"),
        pk=day.pk,
    )
    if day.status == CourierDay.Status.CLOSED:
        return day
    if day.discrepancies.filter(resolution="").exists():
        raise ApplicationError(_("A cash discrepancy is open: resolve it before closing the day."))
    held = cash.balance(cash.courier(day.courier_id, day.currency, day.warehouse_id))
    if held > 0:
        raise ApplicationError(
            _("%(courier)s still holds %(sum)s: count the hand-over first.")
            % {"courier": day.courier.display_name, "sum": format_money(held, day.currency)}
        )
    now = now or timezone.now()
    for stop in day.stops.filter(outcome=StopOutcome.PENDING).select_related("order").order_by("position"):
        if stop.order.status not in ASSIGNABLE:  # moved by someone else meanwhile (the hotline, a supervisor)
            _finish(stop, StopOutcome.RETURNED, now, note=stop.order.get_status_display())
            continue
        reason = (
            gettext_message("Not delivered: the customer was not at home")
            if stop.not_home_count
            else gettext_message("Not delivered today")
        )
        workflow.perform(
            stop.order,
            action="return_to_calling",
            actor=actor,
            source=OrderSource.STAFF,
            now=now,
            reason=reason,
            data={"courier": day.courier.display_name},
            from_route=True,
        )
        _finish(stop, StopOutcome.RETURNED, now, note=reason)
        _event(
            stop.order, E.RETURNED, at=now, actor=actor, stop=stop, details={"reason": i18n.storable(reason)}
        )
    day.status = CourierDay.Status.CLOSED
    day.closed_at = now
    day.closed_by = actor
    day.save(update_fields=["status", "closed_at", "closed_by"])
    return day
