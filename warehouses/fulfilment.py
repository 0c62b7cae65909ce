"""Orders and stock: which warehouse serves an order, reservations, waiting for stock, and the
units that follow an order through the courier, the post, a refusal.

Two fulfilment modes per partner (its rules):

* **city stock** (default): when an order is put into work its goods are reserved in the serving
  warehouse; if they are not all there the order waits for stock, and is released oldest first
  as soon as goods arrive.
* **packed at the main warehouse**: the goods are reserved (packed) at the main warehouse for this
  order and travel as a parcel with the next transfer; the order goes to calling only after the
  city confirms the parcel's receipt (with a photo report).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from geography.models import ShippingGroup, Warehouse
from ketlogistic.core.actors import Actor
from ketlogistic.core.broker import kick
from ketlogistic.core.i18n import gettext_message
from orders import workflow
from orders.models import Order, OrderItem, PartnerRules
from orders.statuses import DeliveryKind, OrderSource, OrderStatus
from orders.workflow import Context, OrderMoved

from . import ledger
from .ledger import Move, StockError
from .models import MoveKind, Place, StockBalance, Transfer, TransferLine


def main_warehouse() -> Warehouse:
    return Warehouse.objects.select_related("city").get(kind=Warehouse.Kind.MAIN)


def serving_warehouse(order: Order) -> Warehouse:
    """Post orders ship from the main warehouse; a field-trip settlement is served by its express city."""
    if order.delivery_kind == DeliveryKind.POST:
        return main_warehouse()
    city = order.city
    if not city.is_express and city.served_from_id:
        city = city.served_from
    warehouse = Warehouse.objects.filter(city=city).first()
    return warehouse or main_warehouse()


def fulfilment_mode(order: Order) -> str:
    return (
        PartnerRules.objects.filter(partner_id=order.partner_id)
        .values_list("fulfilment_mode", flat=True)
        .first()
        or "city_stock"
    )


def _items(order: Order) -> list[OrderItem]:
    return list(OrderItem.objects.filter(order=order).select_related("product").order_by("product_id"))


def reserve_for_order(order: Order, warehouse: Warehouse, *, actor: Actor | None = None) -> bool:
    """Reserve all of the order's goods at `warehouse`, or nothing (False if any unit is missing)."""
    moves = [
        Move(item.product, item.quantity, ledger.stock(warehouse.pk), ledger.reserved(warehouse.pk, order.pk))
        for item in _items(order)
    ]
    try:
        with transaction.atomic():
            ledger.apply_moves(
                moves, kind=MoveKind.RESERVE, partner_id=order.partner_id, actor=actor, order_id=order.pk
            )
    except StockError:
        return False
    return True


def next_ship_date(city, *, after: date) -> date:
    """The next day (after `after`) on which the city's shipping group ships."""
    weekdays = ShippingGroup.objects.filter(number=city.shipping_group).values_list(
        "weekdays", flat=True
    ).first() or ([1, 3, 5] if city.shipping_group != 2 else [2, 4, 6])
    day = after + timedelta(days=1)
    for _ in range(14):
        if day.isoweekday() in weekdays:
            return day
        day += timedelta(days=1)
    return after + timedelta(days=1)


def supply_transfer_for(partner_id: int, destination: Warehouse, ship_date: date) -> Transfer:
    """The draft supply transfer of this partner to this city on that day (created once)."""
    main = main_warehouse()
    transfer, _created = Transfer.objects.get_or_create(
        partner_id=partner_id,
        destination=destination,
        planned_ship_date=ship_date,
        kind=Transfer.Kind.SUPPLY,
        is_auto=True,
        defaults={
            "origin": main,
            "expected_arrival": ship_date + timedelta(days=destination.city.effective_transit_days or 1),
        },
    )
    return transfer


def add_parcel(order: Order, destination: Warehouse) -> Transfer:
    """Put the order's packed parcel on the next supply transfer to its city."""
    today = timezone.localdate()
    transfer = supply_transfer_for(
        order.partner_id, destination, next_ship_date(destination.city, after=today)
    )
    for item in _items(order):
        TransferLine.objects.get_or_create(
            transfer=transfer,
            product=item.product,
            order=order,
            defaults={
                "partner_id": order.partner_id,
                "quantity": item.quantity,
                "suggested_quantity": item.quantity,
            },
        )
    return transfer


def route_sent_order(order: Order, context: Context) -> None:
    """The route the workflow takes right after an order is put into work (the wiring's ROUTE_SENT_ORDER)."""
    place_order(order, now=context.now)


def place_order(order: Order, *, now=None) -> str:
    """Try to give a sent (or waiting) order its goods; returns the status it ends in."""
    warehouse = serving_warehouse(order)
    main = main_warehouse()
    packed = fulfilment_mode(order) == "packed_at_main" and warehouse.pk != main.pk
    source = main if packed else warehouse
    if reserve_for_order(order, source):
        if packed:
            add_parcel(order, warehouse)
            workflow.perform(order, action="await_receipt", actor=None, source=OrderSource.TASK, now=now)
            return OrderStatus.AWAITING_RECEIPT
        workflow.perform(order, action="start_calling", actor=None, source=OrderSource.TASK, now=now)
        return OrderStatus.CALLING
    if order.status == OrderStatus.SENT:
        workflow.perform(
            order,
            action="wait_for_stock",
            actor=None,
            source=OrderSource.TASK,
            now=now,
            reason=gettext_message("No stock in the warehouse"),
        )
    return OrderStatus.AWAITING_STOCK


def release_waiting(*, warehouse: Warehouse, partner_id: int | None = None) -> list[int]:
    """Orders waiting for stock that this warehouse can now serve, oldest first; returns those released."""
    main = main_warehouse()
    waiting = Order.objects.filter(status=OrderStatus.AWAITING_STOCK, is_test=False).select_related(
        "city", "city__served_from"
    )
    if partner_id:
        waiting = waiting.filter(partner_id=partner_id)
    if warehouse.pk != main.pk:
        waiting = waiting.filter(Q(city=warehouse.city) | Q(city__served_from=warehouse.city)).exclude(
            delivery_kind=DeliveryKind.POST
        )
    released = []
    for order in waiting.order_by("sent_at", "id"):
        served_by = serving_warehouse(order)
        packed = fulfilment_mode(order) == "packed_at_main" and served_by.pk != main.pk
        if (main if packed else served_by).pk != warehouse.pk:
            continue
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            if locked.status != OrderStatus.AWAITING_STOCK:
                continue
            if place_order(locked) != OrderStatus.AWAITING_STOCK:
                released.append(order.pk)
    return released


def _order_balances(order: Order, place: str) -> list[StockBalance]:
    return list(
        StockBalance.objects.filter(order=order, place=place, quantity__gt=0).select_related("product")
    )


def move_order_units(order: Order, *, from_place: str, to: str, kind: str, actor: Actor | None = None) -> int:
    """Move whatever units of the order are at `from_place` to a place of the same warehouse (or outside)."""
    moves = []
    for balance in _order_balances(order, from_place):
        source = ledger.Slot(
            balance.place, balance.warehouse_id, order_id=order.pk, transfer_id=balance.transfer_id
        )
        if to == Place.STOCK:
            target = ledger.stock(balance.warehouse_id)
        elif to == Place.RESERVED:
            target = ledger.reserved(balance.warehouse_id, order.pk)
        elif to in (Place.COURIER, Place.POST):
            target = ledger.Slot(to, balance.warehouse_id, order_id=order.pk)
        else:
            target = ledger.OUTSIDE[to]
        moves.append(Move(balance.product, balance.quantity, source, target))
    ledger.apply_moves(moves, kind=kind, partner_id=order.partner_id, actor=actor, order_id=order.pk)
    return sum(m.quantity for m in moves)


def deliver_kept_units(order: Order, *, kept: dict, actor: Actor | None = None) -> int:
    """A partial buyout: the units the customer kept are delivered, the rest go back to the city's shelf.
    `kept` is {product id: quantity}; returns how many units went back to stock."""
    kept = {int(product_id): int(quantity) for product_id, quantity in kept.items()}
    moves = []
    returned = 0
    for balance in _order_balances(order, Place.COURIER):
        source = ledger.Slot(balance.place, balance.warehouse_id, order_id=order.pk)
        keep = min(kept.get(balance.product_id, 0), balance.quantity)
        kept[balance.product_id] = kept.get(balance.product_id, 0) - keep
        if keep:
            moves.append(
                (Move(balance.product, keep, source, ledger.OUTSIDE[Place.DELIVERED]), MoveKind.DELIVER)
            )
        if balance.quantity - keep:
            returned += balance.quantity - keep
            moves.append(
                (
                    Move(
                        balance.product, balance.quantity - keep, source, ledger.stock(balance.warehouse_id)
                    ),
                    MoveKind.REFUSAL,
                )
            )
    for kind in (MoveKind.DELIVER, MoveKind.REFUSAL):
        ledger.apply_moves(
            [m for m, k in moves if k == kind],
            kind=kind,
            partner_id=order.partner_id,
            actor=actor,
            order_id=order.pk,
        )
    return returned


def on_order_moved(moved: OrderMoved) -> None:
    """The units follow the order (a reaction to every move; runs in the order's transaction)."""
    order, transition, context = moved.order, moved.transition, moved.context
    if order.is_test:
        return
    action = transition.action
    try:
        if action == "hand_to_courier":
            if not move_order_units(
                order,
                from_place=Place.RESERVED,
                to=Place.COURIER,
                kind=MoveKind.TO_COURIER,
                actor=context.actor,
            ):
                warehouse = serving_warehouse(order)
                ledger.apply_moves(
                    [
                        Move(
                            item.product,
                            item.quantity,
                            ledger.stock(warehouse.pk),
                            ledger.courier(warehouse.pk, order.pk),
                        )
                        for item in _items(order)
                    ],
                    kind=MoveKind.TO_COURIER,
                    partner_id=order.partner_id,
                    actor=context.actor,
                    order_id=order.pk,
                )
        elif action == "return_to_calling":
            # The courier brings the goods back: still reserved for the order until it is delivered or refused.
            move_order_units(
                order, from_place=Place.COURIER, to=Place.RESERVED, kind=MoveKind.RESERVE, actor=context.actor
            )
        elif action == "mark_paid" and context.kept is not None:
            if deliver_kept_units(order, kept=context.kept, actor=context.actor):
                _release_later(serving_warehouse(order).pk, order.partner_id)
        elif action == "mark_paid":
            move_order_units(
                order,
                from_place=Place.COURIER,
                to=Place.DELIVERED,
                kind=MoveKind.DELIVER,
                actor=context.actor,
            )
        elif action in ("refuse", "close_not_reached"):
            returned = 0
            for place in (Place.COURIER, Place.RESERVED):
                returned += move_order_units(
                    order,
                    from_place=place,
                    to=Place.STOCK,
                    kind=MoveKind.REFUSAL if action == "refuse" else MoveKind.RELEASE,
                    actor=context.actor,
                )
            if returned:
                _release_later(serving_warehouse(order).pk, order.partner_id)
        elif action == "ship_by_post":
            move_order_units(
                order, from_place=Place.RESERVED, to=Place.POST, kind=MoveKind.TO_POST, actor=context.actor
            )
        elif action == "post_paid":
            move_order_units(
                order, from_place=Place.POST, to=Place.DELIVERED, kind=MoveKind.DELIVER, actor=context.actor
            )
        elif action == "post_returned":
            move_order_units(
                order, from_place=Place.POST, to=Place.STOCK, kind=MoveKind.POST_RETURN, actor=context.actor
            )
    except StockError as exc:
        raise workflow.TransitionError(exc.message, code="insufficient_stock", extra=exc.extra) from exc


def _release_later(warehouse_id: int, partner_id: int) -> None:
    """After the commit, let a worker give the returned units to orders waiting for them."""

    def release():
        # the next receipt or transfer releases them anyway if the broker is down
        kick("warehouses.release_waiting", (warehouse_id, partner_id), what="release of waiting orders")

    transaction.on_commit(release)
