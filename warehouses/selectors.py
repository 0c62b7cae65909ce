"""Reads of the warehouses: stock by product and city (from balances, never by summing the ledger),
a product's movements, transfers and receipts — always through the access module."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import EmptyResultSet
from django.db.models import Count, Q, Sum

from catalogue.models import Product
from geography.models import Warehouse
from ketlogistic.core import access
from ketlogistic.core.actors import Actor
from ketlogistic.core.db_routing import connection_for_read
from ketlogistic.core.kept import Kept

from . import ledger
from .models import Place, Receipt, StockBalance, StockMove, Transfer, TransportRequest


@dataclass
class StockCell:
    free: int = 0
    reserved: int = 0
    in_transit: int = 0
    with_courier: int = 0
    in_post: int = 0

    @property
    def total(self) -> int:
        return self.free + self.reserved + self.in_transit + self.with_courier + self.in_post


@dataclass
class StockRow:
    product_id: int
    sku: str
    name: str
    partner: str
    cities: dict = field(default_factory=dict)  # (country, city name) → StockCell

    @property
    def total(self) -> StockCell:
        cell = StockCell()
        for part in self.cities.values():
            cell.free += part.free
            cell.reserved += part.reserved
            cell.in_transit += part.in_transit
            cell.with_courier += part.with_courier
            cell.in_post += part.in_post
        return cell


PLACE_FIELD = {
    Place.STOCK: "free",
    Place.RESERVED: "reserved",
    Place.TRANSIT: "in_transit",
    Place.COURIER: "with_courier",
    Place.POST: "in_post",
}


def stock_rows(
    actor: Actor,
    *,
    product_id: int | None = None,
    city_id: int | None = None,
    country: str | None = None,
    sku: str | None = None,
    partner_id: int | None = None,
) -> tuple[list[StockRow], list[tuple[str, str, int]]]:
    """Products × cities with free / reserved / in transit (towards that city) / with couriers / in the post."""
    balances = access.scoped(actor, StockBalance.objects.filter(quantity__gt=0))
    if partner_id:
        balances = balances.filter(partner_id=partner_id)
    if product_id:
        balances = balances.filter(product_id=product_id)
    if sku:
        balances = balances.filter(product__sku=sku)
    if city_id:
        balances = balances.filter(warehouse__city_id=city_id)
    if country:
        balances = balances.filter(warehouse__city__country=country)
    # Sum by ids only (the index answers it); names come from two small lookups, not from a join per balance. The
    # thousands of sums are read as the plain tuples the driver gives (the ORM's row iterator and per-value
    # converters cost more than the query), the warehouses' cities from the process's own copy.
    grouped = _fetched(
        balances.values("product_id", "warehouse_id", "place")
        .annotate(quantity=Sum("quantity"))
        .values_list("product_id", "warehouse_id", "place", "quantity")
    )
    products = {
        product_id: (sku, name, partner)
        for product_id, sku, name, partner in Product.objects.filter(
            pk__in={item[0] for item in grouped}
        ).values_list("id", "sku", "name", "partner__name")
    }
    places = warehouse_places()
    rows: dict[int, StockRow] = {}
    cities: dict[tuple[str, str], int] = {}
    for product_id, warehouse_id, place, quantity in grouped:
        row = rows.get(product_id)
        if row is None:
            row = rows[product_id] = StockRow(product_id, *products[product_id])
        country_, city_name, city_pk = places[warehouse_id]
        key = (country_, city_name)
        cities[key] = city_pk
        cell = row.cities.get(key)
        if cell is None:
            cell = row.cities[key] = StockCell()
        name = PLACE_FIELD[place]
        setattr(cell, name, getattr(cell, name) + quantity)
    # The same order on every read (the grouped query comes in whatever order PostgreSQL aggregates it): products
    # by partner and SKU, each product's cities by country and name.
    for row in rows.values():
        row.cities = dict(sorted(row.cities.items()))
    ordered_cities = [(country_, name, cities[(country_, name)]) for country_, name in sorted(cities)]
    return sorted(rows.values(), key=lambda row: (row.partner, row.sku, row.product_id)), ordered_cities


def _fetched(queryset) -> list[tuple]:
    """The rows of a values_list query as the driver gives them (none for a query that can match nothing)."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return []
    with connection_for_read(queryset.model).cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _read_places() -> dict[int, tuple[str, str, int]]:
    return {w.pk: (w.city.country, w.city.name, w.city_id) for w in Warehouse.objects.select_related("city")}


_kept_places = Kept(_read_places)


def warehouse_places() -> dict[int, tuple[str, str, int]]:
    """Every warehouse → (its city's country, the city's name, the city's id): reference data each process keeps
    (`ketlogistic.core.kept`), read again when the geography is written (`kept.reference_changed`)."""
    return _kept_places.get()


def stock_by_country(rows: list[StockRow]) -> list[dict]:
    """The map-like view: per country, per city, how many units in all (and how many products)."""
    countries: OrderedDict[str, OrderedDict[str, dict]] = OrderedDict()
    for row in rows:
        for (country, city), cell in row.cities.items():
            entry = countries.setdefault(country, OrderedDict()).setdefault(
                city, {"free": 0, "total": 0, "products": 0}
            )
            entry["free"] += cell.free
            entry["total"] += cell.total
            entry["products"] += 1
    return [
        {"country": country, "cities": [{"name": name, **data} for name, data in sorted(cities.items())]}
        for country, cities in sorted(countries.items())
    ]


def moves_visible(actor: Actor):
    return access.scoped(
        actor,
        StockMove.objects.select_related(
            "product", "from_warehouse__city", "to_warehouse__city", "order", "transfer", "actor"
        ),
    )


def transfers_visible(actor: Actor):
    return access.scoped(
        actor, Transfer.objects.select_related("partner", "origin__city", "destination__city")
    )


def transfer_counts(actor: Actor, *, today: date) -> dict[str, int]:
    """Transfers this user sees: drafts due to ship by today (overdue ones too), and those on their way to be
    received; one query (the `transfer_status_date` index)."""
    return transfers_visible(actor).aggregate(
        to_ship=Count("pk", filter=Q(status=Transfer.Status.DRAFT, planned_ship_date__lte=today)),
        in_transit=Count("pk", filter=Q(status=Transfer.Status.SHIPPED)),
    )


def receipts_visible(actor: Actor, *, status: str | None = None):
    """The partners' deliveries to the main warehouse this user sees, newest first; optionally of one status."""
    receipts = access.scoped(actor, Receipt.objects.select_related("partner"))
    if status:
        receipts = receipts.filter(status=status)
    return receipts.order_by("-created_at", "-pk")


def transport_requests_visible(actor: Actor):
    return access.scoped(
        actor,
        TransportRequest.objects.select_related(
            "partner",
            "origin__city",
            "destination__city",
            "requested_by",
            "priced_by",
            "accepted_by",
            "transfer",
        ),
    )


def free_at(request: TransportRequest) -> dict[int, int]:
    """Each requested product's units on the shelf of the request's origin now (product id → units)."""
    product_ids = list(request.lines.values_list("product_id", flat=True))
    return dict(
        StockBalance.objects.filter(
            product_id__in=product_ids, slot=ledger.stock(request.origin_id).key
        ).values_list("product_id", "quantity")
    )
