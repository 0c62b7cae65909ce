"""Goods coming in, moving between the main warehouse and the cities, and going back.

* Receipts: a partner's goods arrive at the main warehouse (expected vs counted; a pick-up from the
  partner's own warehouse carries its agreed price to billing).
* Supply transfers: the scheduler prepares drafts from demand; warehouse staff adjust and ship
  (units go "in transit"); the city counts what arrived, explains discrepancies and attaches a
  photo report; the units enter the city's stock and waiting orders are released.
* Returns: each month from the 4th to the 6th goods without demand are proposed for a free return;
  a return at any other time is allowed and the partner pays its transport: the real cost, which the warehouse
  enters before it ships (the tariff's amount is only a suggestion; seed 000 names no flat fee).
* Between cities only on the partner's request, at the transport cost it accepted (`warehouses.transport`).
A paid transfer's transport is charged once, when it ships (a warehouse charge per transfer, unique).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue.models import Product
from geography.models import City, ShippingGroup, Warehouse
from ketlogistic.core import access, i18n, reactions
from ketlogistic.core.actors import Actor, acting_user
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.i18n import gettext_message
from ketlogistic.core.models import Partner
from orders import workflow
from orders.models import Order, OrderItem
from orders.statuses import OrderSource, OrderStatus

from . import fulfilment, ledger
from .ledger import Move
from .models import (
    MoveKind,
    Place,
    Receipt,
    ReceiptLine,
    StockBalance,
    Transfer,
    TransferLine,
    TransportRequest,
    WarehouseCharge,
)

DEMAND_WEEKS = 4
RETURN_WINDOW_DAYS = (4, 5, 6)
MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def _require(actor: Actor, permission: str) -> None:
    if actor is not None and not access.can(actor, permission):
        raise PermissionDenied


# -- receipts at the main warehouse ---------------------------------------------------------------------------------


@transaction.atomic
def receipt_create(
    *,
    actor: Actor,
    partner: Partner,
    lines: list[tuple[Product, int]],
    expected_on: date | None = None,
    is_pickup: bool = False,
    pickup_from: str = "",
    pickup_price: Decimal | None = None,
    note: str = "",
) -> Receipt:
    _require(actor, "receipts.manage")
    if not lines:
        raise ValidationError(_("Add at least one product."))
    if any(product.partner_id != partner.id for product, _q in lines):
        raise ValidationError(_("A product of another partner cannot be received for this one."))
    if is_pickup and (pickup_price is None or not pickup_from):
        raise ValidationError(_("A pick-up needs where from and its agreed price."))
    receipt = Receipt.objects.create(
        partner=partner,
        warehouse=fulfilment.main_warehouse(),
        expected_on=expected_on,
        is_pickup=is_pickup,
        pickup_from=pickup_from,
        pickup_price=pickup_price if is_pickup else None,
        note=note,
        created_by=acting_user(actor),
    )
    ReceiptLine.objects.bulk_create(
        ReceiptLine(receipt=receipt, partner=partner, product=product, expected_quantity=quantity)
        for product, quantity in lines
    )
    return receipt


@transaction.atomic
def receipt_confirm(*, actor: Actor, receipt: Receipt, counted: dict[int, tuple[int, str]]) -> Receipt:
    """Counted quantities per line (and the reason of any difference) enter the main warehouse's stock."""
    _require(actor, "receipts.manage")
    receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
    if receipt.status != Receipt.Status.EXPECTED:
        raise ApplicationError(_("This receipt was confirmed already."))
    lines = list(receipt.lines.select_related("product"))
    moves = []
    for line in lines:
        quantity, reason = counted.get(line.pk, (None, ""))
        if quantity is None or quantity < 0:
            raise ValidationError(_("Count every line (%(product)s).") % {"product": line.product.name})
        if quantity != line.expected_quantity and not (reason or "").strip():
            raise ValidationError(
                _("Explain the difference for %(product)s: expected %(expected)s, counted %(counted)s.")
                % {"product": line.product.name, "expected": line.expected_quantity, "counted": quantity}
            )
        line.counted_quantity, line.discrepancy_reason = quantity, (reason or "").strip()[:300]
        moves.append(
            Move(line.product, quantity, ledger.OUTSIDE[Place.PARTNER], ledger.stock(receipt.warehouse_id))
        )
    ReceiptLine.objects.bulk_update(lines, ["counted_quantity", "discrepancy_reason"])
    ledger.apply_moves(
        moves, kind=MoveKind.RECEIPT, partner_id=receipt.partner_id, actor=actor, receipt_id=receipt.pk
    )
    receipt.status = Receipt.Status.RECEIVED
    receipt.received_at = timezone.now()
    receipt.received_by = acting_user(actor)
    receipt.save(update_fields=["status", "received_at", "received_by"])
    if receipt.is_pickup and receipt.pickup_price:
        description = gettext_message("Pick-up from %(place)s, receipt №%(number)s") % {
            "place": receipt.pickup_from,
            "number": receipt.pk,
        }
        WarehouseCharge.objects.get_or_create(
            key=f"pickup:receipt:{receipt.pk}",
            defaults={
                "partner_id": receipt.partner_id,
                "kind": WarehouseCharge.Kind.PICKUP,
                "amount": receipt.pickup_price,
                "currency": receipt.partner.currency,
                "occurred_on": timezone.localdate(),
                "receipt": receipt,
                "description": description,
                "message": i18n.stored(description),
            },
        )
    fulfilment.release_waiting(warehouse=receipt.warehouse, partner_id=receipt.partner_id)
    return receipt


# -- supply planning ------------------------------------------------------------------------------------------------


def plan_supply(*, ship_date: date, now=None, partner_ids=None) -> list[Transfer]:
    """Draft supply transfers for every city that ships on `ship_date`, with a suggested quantity per product
    (for the partners named by `partner_ids` only, when given: the ones the person planning serves).

    Suggested = demand (orders per day over the last four weeks) × days until the following shipment
    arrives + units that waiting orders still need − free stock in the city − what is already on the way;
    never more than the main warehouse has free. Running it twice updates the same drafts.
    """
    now = now or timezone.now()
    main = fulfilment.main_warehouse()
    since = now - timedelta(weeks=DEMAND_WEEKS)
    drafts = []
    cities = (
        City.objects.filter(shipping_group__isnull=False)
        .select_related("warehouse")
        .exclude(warehouse__kind=Warehouse.Kind.MAIN)
    )
    main_free: dict[tuple[int, int], int] = {}
    for partner_id, product_id, quantity in StockBalance.objects.filter(
        warehouse=main, place=Place.STOCK, quantity__gt=0
    ).values_list("partner_id", "product_id", "quantity"):
        main_free[(partner_id, product_id)] = quantity
    active = Partner.objects.filter(status=Partner.Status.ACTIVE)
    if partner_ids is not None:
        active = active.filter(id__in=partner_ids)
    partners = set(active.values_list("id", flat=True))
    for city in cities:
        if not hasattr(city, "warehouse") or ship_date.isoweekday() not in _weekdays(city):
            continue
        destination = city.warehouse
        following = fulfilment.next_ship_date(city, after=ship_date)
        cover_days = (following - ship_date).days + (city.effective_transit_days or 1)
        demand = defaultdict(int)
        for partner_id, product_id, quantity in (
            OrderItem.objects.filter(order__created_at__gte=since, order__is_test=False)
            .filter(Q(order__city=city) | Q(order__city__served_from=city))
            .exclude(order__status=OrderStatus.CANCELLED)
            .exclude(order__delivery_kind="post")
            .values_list("order__partner_id", "product_id")
            .annotate(total=Sum("quantity"))
        ):
            demand[(partner_id, product_id)] += quantity
        waiting = defaultdict(int)
        for partner_id, product_id, quantity in (
            OrderItem.objects.filter(order__status=OrderStatus.AWAITING_STOCK, order__is_test=False)
            .filter(Q(order__city=city) | Q(order__city__served_from=city))
            .exclude(order__delivery_kind="post")
            .values_list("order__partner_id", "product_id")
            .annotate(total=Sum("quantity"))
        ):
            waiting[(partner_id, product_id)] += quantity
        free = defaultdict(int)
        for partner_id, product_id, quantity in StockBalance.objects.filter(
            warehouse=destination, place=Place.STOCK
        ).values_list("partner_id", "product_id", "quantity"):
            free[(partner_id, product_id)] += quantity
        on_way = defaultdict(int)
        for partner_id, product_id, quantity in StockBalance.objects.filter(
            warehouse=destination, place=Place.TRANSIT, order__isnull=True
        ).values_list("partner_id", "product_id", "quantity"):
            on_way[(partner_id, product_id)] += quantity
        planned = defaultdict(int)
        for key in set(demand) | set(waiting):
            partner_id, product_id = key
            if partner_id not in partners:
                continue
            rate = demand[key] / (DEMAND_WEEKS * 7)
            target = math.ceil(rate * cover_days) + waiting[key]
            want = max(0, target - free[key] - on_way[key])
            give = min(want, main_free.get(key, 0))
            if give > 0:
                planned[key] = give
                main_free[key] -= give
        by_partner = defaultdict(dict)
        for (partner_id, product_id), quantity in planned.items():
            by_partner[partner_id][product_id] = quantity
        for partner_id, products in by_partner.items():
            with transaction.atomic():
                transfer = fulfilment.supply_transfer_for(partner_id, destination, ship_date)
                if transfer.status != Transfer.Status.DRAFT:
                    continue
                for product_id, quantity in products.items():
                    line, created = TransferLine.objects.get_or_create(
                        transfer=transfer,
                        product_id=product_id,
                        order=None,
                        defaults={
                            "partner_id": partner_id,
                            "suggested_quantity": quantity,
                            "quantity": quantity,
                        },
                    )
                    if not created and line.suggested_quantity != quantity:
                        line.suggested_quantity = quantity
                        line.save(update_fields=["suggested_quantity"])
                drafts.append(transfer)
    return drafts


def _weekdays(city: City) -> list[int]:
    found = (
        ShippingGroup.objects.filter(number=city.shipping_group).values_list("weekdays", flat=True).first()
    )
    return found or ([1, 3, 5] if city.shipping_group != 2 else [2, 4, 6])


# -- transfers ------------------------------------------------------------------------------------------------------


@transaction.atomic
def transfer_set_quantities(
    *,
    actor: Actor,
    transfer: Transfer,
    quantities: dict[int, int],
    additions: list[tuple[Product, int]] | None = None,
) -> Transfer:
    """Warehouse staff adjust a draft: quantities of its lines, and products to add."""
    _require(actor, "transfers.manage")
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status != Transfer.Status.DRAFT:
        raise ApplicationError(_("Only a draft can be changed."))
    for line in transfer.lines.filter(order__isnull=True):
        if line.pk in quantities:
            if quantities[line.pk] < 0:
                raise ValidationError(_("Quantities cannot be negative."))
            line.quantity = quantities[line.pk]
            line.save(update_fields=["quantity"])
    for product, quantity in additions or []:
        if product.partner_id != transfer.partner_id:
            raise ValidationError(_("A product of another partner cannot travel on this transfer."))
        line, _created = TransferLine.objects.get_or_create(
            transfer=transfer, product=product, order=None, defaults={"partner_id": transfer.partner_id}
        )
        line.quantity = quantity
        line.save(update_fields=["quantity"])
    return transfer


# The transfers whose transport the partner pays, and the warehouse charge each ships with.
PAID_TRANSPORT = {
    Transfer.Kind.UNSCHEDULED_RETURN: WarehouseCharge.Kind.UNSCHEDULED_RETURN,
    Transfer.Kind.CITY_TRANSFER: WarehouseCharge.Kind.TRANSPORT,
}


def _check_cost(cost: Decimal | None) -> None:
    if cost is not None and (not isinstance(cost, Decimal) or cost < 0 or not cost.is_finite()):
        raise ValidationError(
            {"transport_cost": _("Give the transport cost as a sum of money (zero or more).")}
        )


@transaction.atomic
def transfer_create(
    *,
    actor: Actor,
    partner: Partner,
    origin: Warehouse,
    destination: Warehouse,
    lines: list[tuple[Product, int]],
    ship_date: date | None = None,
    kind: str = Transfer.Kind.SUPPLY,
    transport_cost: Decimal | None = None,
) -> Transfer:
    """A transfer by hand. Goods move between the main warehouse and a city; from city to city only as a transfer
    the partner asked for and pays (`warehouses.transport`, with the cost it accepted)."""
    _require(actor, "transfers.manage")
    _check_cost(transport_cost)
    if origin.pk == destination.pk:
        raise ValidationError(_("A transfer goes from one warehouse to another."))
    if kind == Transfer.Kind.CITY_TRANSFER:
        if Warehouse.Kind.MAIN in (origin.kind, destination.kind):
            raise ValidationError(_("A transfer between cities goes from one city's warehouse to another's."))
        if not transport_cost:
            raise ValidationError(
                _("A transfer between cities needs the transport cost the partner accepted.")
            )
    elif Warehouse.Kind.MAIN not in (origin.kind, destination.kind):
        raise ValidationError(
            _(
                "Goods move only between the main warehouse and a city; from city to city only on the partner's "
                "request, at the transport cost it accepted."
            )
        )
    if kind == Transfer.Kind.SUPPLY and origin.kind != Warehouse.Kind.MAIN:
        kind = Transfer.Kind.UNSCHEDULED_RETURN
    ship_date = ship_date or timezone.localdate()
    transfer = Transfer.objects.create(
        partner=partner,
        kind=kind,
        origin=origin,
        destination=destination,
        planned_ship_date=ship_date,
        expected_arrival=ship_date
        + timedelta(
            days=(destination.city.effective_transit_days or origin.city.effective_transit_days or 1)
        ),
        created_by=acting_user(actor),
        transport_cost=transport_cost if kind in PAID_TRANSPORT else None,
    )
    transfer_set_quantities(actor=actor, transfer=transfer, quantities={}, additions=lines)
    return transfer


@transaction.atomic
def transfer_ship(*, actor: Actor, transfer: Transfer) -> Transfer:
    """Pick and ship: the units leave the origin's shelf (and packed parcels their reservation) for "in transit"."""
    _require(actor, "transfers.manage")
    transfer = (
        Transfer.objects.select_for_update()
        .select_related("origin", "destination", "partner")
        .get(pk=transfer.pk)
    )
    if transfer.status != Transfer.Status.DRAFT:
        raise ApplicationError(_("This transfer was shipped already."))
    if transfer.kind in PAID_TRANSPORT and transfer.transport_cost is None:
        raise ApplicationError(
            _(
                "Enter the transport cost of this return before shipping it: the partner pays what the transport "
                "really costs (zero if it is free)."
            )
        )
    lines = list(transfer.lines.select_related("product", "order"))
    moves = []
    for line in lines:
        if line.quantity <= 0:
            continue
        if line.order_id:
            source = ledger.reserved(transfer.origin_id, line.order_id)
            target = ledger.transit(transfer.destination_id, transfer.pk, order_id=line.order_id)
        else:
            source = ledger.stock(transfer.origin_id)
            target = ledger.transit(transfer.destination_id, transfer.pk)
        moves.append(Move(line.product, line.quantity, source, target))
    if not moves:
        raise ApplicationError(_("Nothing to ship: every quantity is zero."))
    ledger.apply_moves(
        moves, kind=MoveKind.SHIP, partner_id=transfer.partner_id, actor=actor, transfer_id=transfer.pk
    )
    for line in lines:
        line.shipped_quantity = line.quantity
    TransferLine.objects.bulk_update(lines, ["shipped_quantity"])
    transfer.status = Transfer.Status.SHIPPED
    transfer.shipped_at = timezone.now()
    transfer.shipped_by = acting_user(actor)
    transfer.save(update_fields=["status", "shipped_at", "shipped_by"])
    if transfer.kind in PAID_TRANSPORT:
        _charge_transport(transfer)
    return transfer


def _charge_transport(transfer: Transfer) -> WarehouseCharge | None:
    """The transport of a paid transfer, charged once at the cost agreed or entered (zero: nothing to charge). The
    key and the unique transfer make a retried or repeated shipment the same charge; billing posts it once."""
    cost = transfer.transport_cost
    if not cost:
        return None
    if transfer.kind == Transfer.Kind.CITY_TRANSFER:
        key = f"transport:transfer:{transfer.pk}"
        description = gettext_message(
            "Transport %(origin)s → %(destination)s on your request, transfer №%(number)s"
        )
    else:
        key = f"return:transfer:{transfer.pk}"
        description = gettext_message("Unscheduled return %(origin)s → main warehouse, transfer №%(number)s")
    description = description % {
        "origin": transfer.origin.city.name,
        "destination": transfer.destination.city.name,
        "number": transfer.pk,
    }
    charge, _created = WarehouseCharge.objects.get_or_create(
        key=key,
        defaults={
            "partner_id": transfer.partner_id,
            "kind": PAID_TRANSPORT[transfer.kind],
            "amount": cost,
            "currency": transfer.partner.currency,
            "occurred_on": timezone.localdate(),
            "transfer": transfer,
            "description": description,
            "message": i18n.stored(description),
        },
    )
    return charge


def suggested_return_cost(partner: Partner, day: date | None = None) -> Decimal | None:
    """What finance configured for an unscheduled return (billing's tariff line, the wiring's WAREHOUSE_FEE): shown to
    the warehouse as a suggestion beside the cost it enters, never charged by itself."""
    return reactions.extension("WAREHOUSE_FEE")(
        partner=partner, kind=WarehouseCharge.Kind.UNSCHEDULED_RETURN, day=day or timezone.localdate()
    )


@transaction.atomic
def transfer_set_transport_cost(*, actor: Actor, transfer: Transfer, cost: Decimal | None) -> Transfer:
    """The warehouse enters what an unscheduled return's transport really costs (zero: free), before it ships. A
    transfer between cities keeps the cost the partner accepted."""
    _require(actor, "transfers.manage")
    _check_cost(cost)
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if actor is not None and not access.scoped(actor, Transfer.objects.filter(pk=transfer.pk)).exists():
        raise PermissionDenied
    if transfer.kind != Transfer.Kind.UNSCHEDULED_RETURN:
        raise ApplicationError(_("Only an unscheduled return's transport cost is entered by the warehouse."))
    if transfer.status != Transfer.Status.DRAFT:
        raise ApplicationError(_("The transport cost is entered before the return ships."))
    transfer.transport_cost = cost
    transfer.save(update_fields=["transport_cost"])
    return transfer


def check_photo(upload) -> None:
    """A real JPEG/PNG/WEBP image of a reasonable size (not an SVG or a script with an image's name)."""
    from PIL import Image, UnidentifiedImageError

    if upload.size > MAX_PHOTO_BYTES:
        raise ValidationError({"photo": _("The photo is larger than 10 MB.")})
    try:
        upload.seek(0)
        image = Image.open(upload)
        image.verify()
        kind = image.format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError({"photo": _("This is not a photo (JPEG, PNG or WEBP).")}) from exc
    finally:
        upload.seek(0)
    if kind not in PHOTO_FORMATS:
        raise ValidationError({"photo": _("This is not a photo (JPEG, PNG or WEBP).")})


@transaction.atomic
def transfer_receive(
    *, actor: Actor, transfer: Transfer, received: dict[int, tuple[int, str]], photo, note: str = ""
) -> Transfer:
    """The destination counts what arrived (with a photo report); units enter its stock; waiting orders go on."""
    _require(actor, "transfers.receive")
    transfer = (
        Transfer.objects.select_for_update().select_related("destination", "origin").get(pk=transfer.pk)
    )
    if actor is not None and not access.scoped(actor, Transfer.objects.filter(pk=transfer.pk)).exists():
        raise PermissionDenied
    if transfer.status != Transfer.Status.SHIPPED:
        raise ApplicationError(_("Only a transfer in transit can be received."))
    if photo is None:
        raise ValidationError({"photo": _("Attach the photo report of the arrival.")})
    check_photo(photo)
    lines = list(transfer.lines.select_related("product", "order"))
    moves, shortages, surpluses, parcels = [], [], [], []
    for line in lines:
        shipped = line.shipped_quantity or 0
        if shipped == 0:
            continue
        quantity, reason = received.get(line.pk, (None, ""))
        if quantity is None or quantity < 0:
            raise ValidationError(_("Count every line (%(product)s).") % {"product": line.product.name})
        reason = (reason or "").strip()
        if quantity != shipped and not reason:
            raise ValidationError(
                _("Explain the difference for %(product)s: shipped %(shipped)s, received %(received)s.")
                % {"product": line.product.name, "shipped": shipped, "received": quantity}
            )
        line.received_quantity, line.discrepancy_reason = quantity, reason[:300]
        source = ledger.transit(transfer.destination_id, transfer.pk, order_id=line.order_id)
        arrived = min(quantity, shipped)
        if line.order_id:
            target = ledger.reserved(transfer.destination_id, line.order_id)
            if arrived == shipped:
                parcels.append(line.order_id)
        else:
            target = ledger.stock(transfer.destination_id)
        if arrived:
            moves.append(Move(line.product, arrived, source, target))
        if quantity < shipped:
            shortages.append(
                Move(line.product, shipped - quantity, source, ledger.OUTSIDE[Place.WRITTEN_OFF])
            )
        elif quantity > shipped:
            surpluses.append(Move(line.product, quantity - shipped, ledger.OUTSIDE[Place.FOUND], target))
    ledger.apply_moves(
        moves, kind=MoveKind.RECEIVE, partner_id=transfer.partner_id, actor=actor, transfer_id=transfer.pk
    )
    ledger.apply_moves(
        shortages,
        kind=MoveKind.SHORTAGE,
        partner_id=transfer.partner_id,
        actor=actor,
        transfer_id=transfer.pk,
        note=gettext_message("missing on arrival"),
    )
    ledger.apply_moves(
        surpluses,
        kind=MoveKind.SURPLUS,
        partner_id=transfer.partner_id,
        actor=actor,
        transfer_id=transfer.pk,
        note=gettext_message("more than shipped"),
    )
    TransferLine.objects.bulk_update(lines, ["received_quantity", "discrepancy_reason"])
    transfer.receipt_photo.save(f"transfer-{transfer.pk}.{_extension(photo)}", photo, save=False)
    transfer.status = Transfer.Status.RECEIVED
    transfer.received_at = timezone.now()
    transfer.received_by = acting_user(actor)
    transfer.receipt_note = note
    transfer.save(update_fields=["status", "received_at", "received_by", "receipt_photo", "receipt_note"])

    for order in Order.objects.filter(pk__in=set(parcels), status=OrderStatus.AWAITING_RECEIPT).order_by(
        "sent_at"
    ):
        workflow.perform(
            order,
            action="start_calling",
            actor=None,
            source=OrderSource.TASK,
            reason=gettext_message("Parcel received in the city"),
        )
    fulfilment.release_waiting(warehouse=transfer.destination, partner_id=transfer.partner_id)
    return transfer


def _extension(upload) -> str:
    from PIL import Image

    upload.seek(0)
    kind = Image.open(upload).format
    upload.seek(0)
    return {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(kind, "bin")


@transaction.atomic
def transfer_cancel(*, actor: Actor, transfer: Transfer) -> Transfer:
    _require(actor, "transfers.manage")
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status != Transfer.Status.DRAFT:
        raise ApplicationError(_("Only a draft can be cancelled."))
    if transfer.lines.filter(order__isnull=False).exists():
        raise ApplicationError(_("Packed parcels are on this transfer; ship it or move them first."))
    transfer.status = Transfer.Status.CANCELLED
    transfer.save(update_fields=["status"])
    if transfer.kind == Transfer.Kind.CITY_TRANSFER:
        # the partner's request it carried out will not be carried: closed, with the reason, never charged
        TransportRequest.objects.filter(transfer=transfer, status=TransportRequest.Status.ACCEPTED).update(
            status=TransportRequest.Status.DECLINED,
            closed_reason=_("The warehouse cancelled the transfer before it shipped.")[:300],
        )
    return transfer


# -- returns to the main warehouse ----------------------------------------------------------------------------------


def propose_monthly_returns(*, today: date, idle_days: int | None = None) -> list[Transfer]:
    """From the 4th to the 6th: goods with no orders in a city for `idle_days` are proposed for a free return."""
    if today.day not in RETURN_WINDOW_DAYS:
        return []
    idle_days = idle_days or settings.RETURN_IDLE_DAYS
    since = timezone.now() - timedelta(days=idle_days)
    main = fulfilment.main_warehouse()
    proposals = []
    stock_rows = (
        StockBalance.objects.filter(place=Place.STOCK, quantity__gt=0)
        .exclude(warehouse=main)
        .select_related("warehouse__city")
    )
    demanded = set(
        OrderItem.objects.filter(order__created_at__gte=since)
        .exclude(order__status=OrderStatus.CANCELLED)
        .values_list("product_id", "order__city_id")
    ) | set(
        OrderItem.objects.filter(order__created_at__gte=since)
        .exclude(order__status=OrderStatus.CANCELLED)
        .values_list("product_id", "order__city__served_from_id")
    )
    idle = defaultdict(list)
    for row in stock_rows:
        if (row.product_id, row.warehouse.city_id) not in demanded:
            idle[(row.partner_id, row.warehouse_id)].append((row.product_id, row.quantity))
    for (partner_id, warehouse_id), products in idle.items():
        with transaction.atomic():
            # One open proposal per city and partner for the whole window (the 4th, 5th and 6th).
            transfer, created = Transfer.objects.get_or_create(
                partner_id=partner_id,
                origin_id=warehouse_id,
                destination=main,
                kind=Transfer.Kind.RETURN,
                status=Transfer.Status.DRAFT,
                is_auto=True,
                defaults={"planned_ship_date": today, "expected_arrival": today + timedelta(days=3)},
            )
            if created:
                TransferLine.objects.bulk_create(
                    TransferLine(
                        transfer=transfer,
                        partner_id=partner_id,
                        product_id=product_id,
                        suggested_quantity=quantity,
                        quantity=quantity,
                    )
                    for product_id, quantity in products
                )
            proposals.append(transfer)
    return proposals


def is_return_window(day: date) -> bool:
    return day.day in RETURN_WINDOW_DAYS


def return_create(
    *,
    actor: Actor,
    partner: Partner,
    origin: Warehouse,
    lines: list[tuple[Product, int]],
    transport_cost: Decimal | None = None,
) -> Transfer:
    """A return to the main warehouse asked for now: free in the monthly window; outside it the partner pays the
    transport's real cost, entered now or before it ships."""
    kind = (
        Transfer.Kind.RETURN if is_return_window(timezone.localdate()) else Transfer.Kind.UNSCHEDULED_RETURN
    )
    return transfer_create(
        actor=actor,
        partner=partner,
        origin=origin,
        destination=fulfilment.main_warehouse(),
        lines=lines,
        kind=kind,
        transport_cost=transport_cost,
    )
