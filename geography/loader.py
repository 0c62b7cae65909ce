"""Loading the reference geography (settlements, distance bands, warehouses) from `data/geography.json`.

The file is the company's own list (seed 000); loading it twice changes nothing.
"""

import json
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from ketlogistic.core.kept import reference_changed

from .models import City, DistanceBand, ShippingGroup, Warehouse

DATA_FILE = Path(__file__).resolve().parent / "data" / "geography.json"

# The two shipping groups of the offer (seed 000): group 1 receives on Mon/Wed/Fri, group 2 on Tue/Thu/Sat. Created
# when missing; the weekdays an administrator changed in the admin are kept.
SHIPPING_GROUPS = ((1, [1, 3, 5]), (2, [2, 4, 6]))


def _bands(limits: list[int], surcharges: list[int]) -> list[tuple[Decimal, Decimal | None, Decimal]]:
    """Thresholds are where each surcharge starts: free up to the first, the last band is open-ended.

    The seed's columns read "доставка с доплатой 18 км / 24 км / 34 км / 40 км": beyond 18 km from
    point A costs 500, beyond 24 km 1 000, beyond 34 km 2 000, beyond 40 km 3 000.
    """
    bands = []
    for index, (start, surcharge) in enumerate(zip(limits, surcharges, strict=True)):
        end = limits[index + 1] if index + 1 < len(limits) else None
        bands.append((Decimal(start), Decimal(end) if end is not None else None, Decimal(surcharge)))
    return bands


@transaction.atomic
def load_geography(*, path: Path = DATA_FILE) -> dict[str, int]:
    data = json.loads(path.read_text(encoding="utf-8"))
    limits = data["distance_band_limits_km"]
    cities: dict[tuple[str, str], City] = {}
    for row in data["cities"]:
        city, _created = City.objects.update_or_create(
            country=row["country"],
            name=row["name"],
            defaults={
                "name_en": row["name_en"],
                "aliases": sorted(set(row.get("aliases") or [])),
                "delivery_mode": row["delivery_mode"],
                "timezone": row["timezone"],
                "shipping_group": row.get("shipping_group"),
                "transit_days": row.get("transit_days"),
                "point_a": row.get("point_a") or "",
            },
        )
        cities[(row["country"], row["name"])] = city
    for row in data["cities"]:
        city = cities[(row["country"], row["name"])]
        served_from = cities[(row["country"], row["served_from"])] if row.get("served_from") else None
        if city.served_from_id != (served_from.id if served_from else None):
            city.served_from = served_from
            city.save(update_fields=["served_from"])
        wanted = _bands(limits, row["distance_surcharges"]) if row.get("distance_surcharges") else []
        existing = [(b.from_km, b.to_km, b.surcharge) for b in city.distance_bands.order_by("from_km")]
        if existing != wanted:
            city.distance_bands.all().delete()
            DistanceBand.objects.bulk_create(
                DistanceBand(city=city, from_km=start, to_km=end, surcharge=surcharge, currency="KZT")
                for start, end, surcharge in wanted
            )
    main_city = next(c for (country, name), c in cities.items() if name == data["main_warehouse_city"])
    Warehouse.objects.update_or_create(
        city=main_city, defaults={"kind": Warehouse.Kind.MAIN, "name": f"Основной склад — {main_city.name}"}
    )
    for city in cities.values():
        if city.is_express and city.id != main_city.id:
            Warehouse.objects.get_or_create(
                city=city, defaults={"kind": Warehouse.Kind.CITY, "name": f"Склад {city.name}"}
            )
    for number, weekdays in SHIPPING_GROUPS:
        ShippingGroup.objects.get_or_create(number=number, defaults={"weekdays": weekdays})
    reference_changed()  # the reference data each process keeps is read again (`core.kept`)
    return {
        "cities": len(cities),
        "express": sum(1 for c in cities.values() if c.is_express),
        "bands": DistanceBand.objects.count(),
        "warehouses": Warehouse.objects.count(),
        "shipping_groups": ShippingGroup.objects.count(),
    }


def find_city(text: str, *, country: str | None = None) -> City | None:
    """A city by id, its name, English name or any alias (case-insensitive), as partners write them."""
    value = (text or "").strip()
    if not value:
        return None
    cities = City.objects.all()
    if country:
        cities = cities.filter(country=country)
    if value.isdigit():
        return cities.filter(id=int(value)).first()
    lowered = value.casefold().replace("ё", "е")
    for city in cities:
        names = [city.name, city.name_en, *city.aliases]
        if any(lowered == n.casefold().replace("ё", "е") for n in names):
            return city
    return None
