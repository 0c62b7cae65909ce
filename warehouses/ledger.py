"""The stock ledger: every movement of a partner's units is an append-only `StockMove`, and the
balance of each place (`StockBalance`) changes in the same transaction.

A balance is keyed by its *slot*: `stock:w<warehouse>`, `reserved:w<warehouse>:o<order>`,
`transit:w<destination>:t<transfer>[:o<order>]`, `courier:w<warehouse>:o<order>`, `post:w<warehouse>:o<order>`.
The world outside (the partner, the customer, a write-off, a count surplus) has no balance.

Stock never goes negative: the source balance row is locked (`SELECT … FOR UPDATE`) and checked
before it is decremented, and the database refuses a negative quantity anyway. Rows are always
locked in one order (by product, then slot) so concurrent moves cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue.models import Product
from geography.models import Warehouse
from ketlogistic.core import i18n
from ketlogistic.core.actors import Actor, acting_user, actor_login
from ketlogistic.core.errors import ApplicationError

from .models import BALANCE_PLACES, Place, StockBalance, StockMove


class StockError(ApplicationError):
    """A movement the stock does not allow (not enough units); the message says what is missing."""


@dataclass(frozen=True)
class Slot:
    place: str
    warehouse_id: int | None = None
    order_id: int | None = None
    transfer_id: int | None = None

    @property
    def key(self) -> str:
        if self.place not in BALANCE_PLACES:
            return ""
        parts = [self.place, f"w{self.warehouse_id}"]
        if self.transfer_id:
            parts.append(f"t{self.transfer_id}")
        if self.order_id:
            parts.append(f"o{self.order_id}")
        return ":".join(parts)

    @property
    def has_balance(self) -> bool:
        return self.place in BALANCE_PLACES


def stock(warehouse_id: int) -> Slot:
    return Slot(Place.STOCK, warehouse_id)


def reserved(warehouse_id: int, order_id: int) -> Slot:
    return Slot(Place.RESERVED, warehouse_id, order_id=order_id)


def transit(destination_id: int, transfer_id: int, order_id: int | None = None) -> Slot:
    return Slot(Place.TRANSIT, destination_id, order_id=order_id, transfer_id=transfer_id)


def courier(warehouse_id: int, order_id: int) -> Slot:
    return Slot(Place.COURIER, warehouse_id, order_id=order_id)


def post(warehouse_id: int, order_id: int) -> Slot:
    return Slot(Place.POST, warehouse_id, order_id=order_id)


OUTSIDE = {place: Slot(place) for place in (Place.PARTNER, Place.DELIVERED, Place.WRITTEN_OFF, Place.FOUND)}


@dataclass(frozen=True)
class Move:
    product: Product
    quantity: int
    source: Slot
    target: Slot


def _names(product_ids) -> dict[int, str]:
    return dict(Product.objects.filter(id__in=product_ids).values_list("id", "name"))


def _describe(slot: Slot) -> str:
    if slot.place == Place.STOCK:
        name = Warehouse.objects.filter(pk=slot.warehouse_id).values_list("name", flat=True).first() or ""
        return _("on the shelf of %(warehouse)s") % {"warehouse": name}
    return str(Place(slot.place).label).lower()


def apply_moves(
    moves: list[Move],
    *,
    kind: str,
    partner_id: int,
    actor: Actor | None = None,
    order_id: int | None = None,
    transfer_id: int | None = None,
    receipt_id: int | None = None,
    note: str = "",
    at=None,
) -> list[StockMove]:
    """Apply several moves atomically: all of them, or none (StockError says which unit is missing)."""
    moves = [m for m in moves if m.quantity > 0]
    if not moves:
        return []
    at = at or timezone.now()
    with transaction.atomic():
        # Lock every source balance in a fixed order first, then check, then write.
        needed: dict[tuple[int, str], int] = {}
        for move in moves:
            if move.product.partner_id != partner_id:
                raise StockError(_("The product does not belong to this partner."))
            if move.source.has_balance:
                needed[(move.product.id, move.source.key)] = (
                    needed.get((move.product.id, move.source.key), 0) + move.quantity
                )
        locked = {}
        if needed:
            rows = (
                StockBalance.objects.select_for_update()
                .filter(product_id__in={p for p, _s in needed}, slot__in={s for _p, s in needed})
                .order_by("product_id", "slot")
            )
            locked = {(row.product_id, row.slot): row for row in rows}
        short = []
        for (product_id, slot_key), quantity in needed.items():
            have = locked[(product_id, slot_key)].quantity if (product_id, slot_key) in locked else 0
            if have < quantity:
                short.append((product_id, slot_key, have, quantity))
        if short:
            names = _names([p for p, *_rest in short])
            source = next(
                m.source for m in moves if (m.product.id, m.source.key) == (short[0][0], short[0][1])
            )
            product_id, _slot, have, quantity = short[0]
            raise StockError(
                _("Not enough “%(product)s” %(where)s: %(have)s available, %(need)s needed.")
                % {
                    "product": names.get(product_id, product_id),
                    "where": _describe(source),
                    "have": have,
                    "need": quantity,
                },
                code="insufficient_stock",
                extra={"product_id": product_id, "available": have, "needed": quantity},
            )
        for (product_id, slot_key), quantity in needed.items():
            StockBalance.objects.filter(pk=locked[(product_id, slot_key)].pk).update(
                quantity=locked[(product_id, slot_key)].quantity - quantity, updated_at=at
            )
            locked[(product_id, slot_key)].quantity -= quantity
        incoming: dict[tuple[int, Slot], int] = {}
        for move in moves:
            if move.target.has_balance:
                incoming[(move.product.id, move.target)] = (
                    incoming.get((move.product.id, move.target), 0) + move.quantity
                )
        if incoming:
            _add(incoming, partner_id=partner_id, at=at)
        note_message = i18n.stored(note)  # a note the system wrote: read in the reader's language
        entries = [
            StockMove(
                partner_id=partner_id,
                product=move.product,
                quantity=move.quantity,
                kind=kind,
                from_place=move.source.place,
                from_slot=move.source.key,
                from_warehouse_id=move.source.warehouse_id,
                to_place=move.target.place,
                to_slot=move.target.key,
                to_warehouse_id=move.target.warehouse_id,
                order_id=order_id or move.source.order_id or move.target.order_id,
                transfer_id=transfer_id or move.source.transfer_id or move.target.transfer_id,
                receipt_id=receipt_id,
                actor=acting_user(actor),
                actor_label=actor_login(actor)[:150],
                note=note[:300],
                note_message=note_message,
                at=at,
            )
            for move in moves
        ]
        return StockMove.objects.bulk_create(entries)


def _add(incoming: dict[tuple[int, Slot], int], *, partner_id: int, at) -> None:
    """Upsert destination balances in one statement (locked in the same fixed order)."""
    rows = sorted(incoming.items(), key=lambda item: (item[0][0], item[0][1].key))
    values = []
    params = []
    for (product_id, slot), quantity in rows:
        values.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s)")
        params += [
            partner_id,
            product_id,
            slot.place,
            slot.key,
            slot.warehouse_id,
            slot.order_id,
            slot.transfer_id,
            quantity,
            at,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO warehouses_stockbalance (partner_id, product_id, place, slot, warehouse_id, order_id,"
            " transfer_id, quantity, updated_at) VALUES "
            + ", ".join(values)
            + " ON CONFLICT (product_id, slot) DO UPDATE SET quantity = warehouses_stockbalance.quantity"
            " + EXCLUDED.quantity, updated_at = EXCLUDED.updated_at",
            params,
        )


def available(product_id: int, slot: Slot) -> int:
    return (
        StockBalance.objects.filter(product_id=product_id, slot=slot.key)
        .values_list("quantity", flat=True)
        .first()
        or 0
    )


def check_ledger() -> list[str]:
    """Every balance equals its ledger (in minus out); returns the differences found (none means consistent)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH flows AS (
                SELECT product_id, to_slot AS slot, quantity AS delta FROM warehouses_stockmove WHERE to_slot <> ''
                UNION ALL
                SELECT product_id, from_slot, -quantity FROM warehouses_stockmove WHERE from_slot <> ''
            ), ledger AS (
                SELECT product_id, slot, SUM(delta) AS quantity FROM flows GROUP BY product_id, slot
            )
            SELECT COALESCE(b.product_id, l.product_id), COALESCE(b.slot, l.slot),
                   COALESCE(b.quantity, 0), COALESCE(l.quantity, 0)
            FROM warehouses_stockbalance b
            FULL OUTER JOIN ledger l ON l.product_id = b.product_id AND l.slot = b.slot
            WHERE COALESCE(b.quantity, 0) <> COALESCE(l.quantity, 0)
            ORDER BY 1, 2
            """
        )
        problems = [
            f"product {p} at {slot}: balance {b}, ledger {ledger}" for p, slot, b, ledger in cursor.fetchall()
        ]
        cursor.execute("SELECT product_id, slot, quantity FROM warehouses_stockbalance WHERE quantity < 0")
        problems += [f"product {p} at {slot}: negative balance {q}" for p, slot, q in cursor.fetchall()]
    return problems
