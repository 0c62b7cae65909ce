"""Orders as the API answers with them (`OrderOutSerializer`'s shape), made straight from the rows.

`OrderOutSerializer` describes the answer in the schema; building 100 orders with it took most of a list request
(a DRF field object asked for each of 27 attributes of each order, a related manager cloned for each order's items
and phones, a status label found by rebuilding the status choices per order). These functions make the same
dictionaries, key for key and value for value (the same field objects format the sums and dates), from:

* the orders of a page and their items and phones read in two queries of plain values (`orders_out`);
* an order the intake has just written, from what it wrote, without reading it back (`created_order_out`).

`tests/integrations/test_api_representation.py` proves the bytes equal to the serializer's for every kind of order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.utils import translation
from rest_framework import serializers

from ketlogistic.core.phones import mask_phone
from ketlogistic.core.times import utc_rfc3339
from orders.intake import RowResult
from orders.models import Order, OrderItem, OrderPhone
from orders.statuses import OrderStatus

# the serializer's own formats: OrderOutSerializer's and OrderItemOutSerializer's fields of these kinds
_MONEY = serializers.DecimalField(max_digits=14, decimal_places=2)
_DISTANCE = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
_DATE = serializers.DateField(allow_null=True)

# language → status → its name in that language (`get_status_display` rebuilds the choices on every call)
_status_names: dict[str | None, dict[str, str]] = {}

Item = tuple[str, str, int, Decimal]  # sku, product name, quantity, unit price
# what `order_out` reads of an order and its city (a list reads only these: the other columns, four of them times,
# cost a page of 100 orders more to turn into Python values than the answer needed)
ORDER_COLUMNS = (
    "id",
    "external_id",
    "is_test",
    "status",
    "status_changed_at",
    "customer_name",
    "city__id",
    "city__name",
    "city__name_en",
    "settlement",
    "postal_index",
    "refusal_fault",
    "address",
    "distance_km",
    "delivery_kind",
    "cod_amount",
    "currency",
    "comment",
    "requested_delivery_date",
    "delivery_date",
    "work_available_from",
    "created_at",
    "updated_at",
)


def status_name(status: str) -> str:
    language = translation.get_language()
    names = _status_names.get(language)
    if names is None:
        names = _status_names[language] = {value: str(label) for value, label in OrderStatus.choices}
    return str(names.get(status, status))


def _date(value):
    return None if value is None else _DATE.to_representation(value)


def order_out(order: Order, *, items: Iterable[Item], phones: Iterable[str]) -> dict:
    """One order as `OrderOutSerializer(order).data` has it: `items` in the order's item order (by id), `phones`
    masked, by position."""
    city = order.city
    return {
        "id": order.pk,
        "external_id": str(order.external_id),
        "is_test": bool(order.is_test),
        "status": str(order.status),
        "status_name": status_name(order.status),
        "status_changed_at": utc_rfc3339(order.status_changed_at),
        "customer_name": str(order.customer_name),
        "phones": list(phones),
        "city": {"id": city.pk, "name": str(city.name), "name_en": str(city.name_en)},
        "settlement": str(order.settlement),
        "postal_index": str(order.postal_index),
        "refusal_fault": str(order.refusal_fault),
        "address": str(order.address),
        "distance_km": None if order.distance_km is None else _DISTANCE.to_representation(order.distance_km),
        "delivery_kind": str(order.delivery_kind),
        "items": [
            {
                "sku": str(sku),
                "name": str(name),
                "quantity": int(quantity),
                "price": _MONEY.to_representation(price),
            }
            for sku, name, quantity, price in items
        ],
        "cod_amount": _MONEY.to_representation(order.cod_amount),
        "currency": str(order.currency),
        "comment": str(order.comment),
        "requested_delivery_date": _date(order.requested_delivery_date),
        "delivery_date": _date(order.delivery_date),
        "work_available_from": utc_rfc3339(order.work_available_from),
        "created_at": utc_rfc3339(order.created_at),
        "updated_at": utc_rfc3339(order.updated_at),
    }


def orders_out(orders: Sequence[Order]) -> list[dict]:
    """The orders (their cities selected with them) with their items and phones, read in two queries."""
    ids = [order.pk for order in orders]
    items: dict[int, list[Item]] = defaultdict(list)
    phones: dict[int, list[str]] = defaultdict(list)
    if ids:
        for order_id, *item in (
            OrderItem.objects.filter(order_id__in=ids)
            .order_by("id")
            .values_list("order_id", "product__sku", "product__name", "quantity", "unit_price")
        ):
            items[order_id].append(item)
        for order_id, masked in (
            OrderPhone.objects.filter(order_id__in=ids)
            .order_by("order", "position")
            .values_list("order_id", "masked")
        ):
            phones[order_id].append(masked)
    return [order_out(order, items=items[order.pk], phones=phones[order.pk]) for order in orders]


def order_out_by_id(order_id: int) -> dict:
    """The order as it is in the database now (after a change: a cancel, the sandbox's step)."""
    order = Order.objects.select_related("city").only(*ORDER_COLUMNS).get(pk=order_id)
    return orders_out([order])[0]


def created_order_out(result: RowResult) -> dict:
    """An order the intake has just created, from what it wrote (`RowResult.clean`): nothing read back."""
    clean = result.clean
    return order_out(
        result.order,
        items=[(item.product.sku, item.product.name, item.quantity, item.unit_price) for item in clean.items],
        phones=[mask_phone(phone) for phone in clean.phones],
    )
