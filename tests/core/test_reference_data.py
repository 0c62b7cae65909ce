"""Reference geography from the company's offer (seed 000): loaded as data, idempotently."""

from decimal import Decimal

import pytest

from geography.loader import find_city, load_geography
from geography.models import City, DistanceBand, Warehouse

pytestmark = pytest.mark.django_db


def test_kazakhstan_has_the_forty_listed_settlements_twenty_eight_express(reference_data):
    assert City.objects.filter(country="KZ").count() == 40
    assert City.objects.filter(country="KZ", delivery_mode="express").count() == 28


def test_kyrgyzstan_keeps_one_alabuka_as_express(reference_data):
    assert City.objects.filter(country="KG").count() == 37
    assert City.objects.filter(country="KG", delivery_mode="express").count() == 18
    assert City.objects.get(country="KG", name="Алабука").delivery_mode == "express"


def test_cities_carry_their_countrys_time_zone(reference_data):
    assert set(City.objects.filter(country="KZ").values_list("timezone", flat=True)) == {"Asia/Almaty"}
    assert set(City.objects.filter(country="KG").values_list("timezone", flat=True)) == {"Asia/Bishkek"}


def test_main_warehouse_is_astana_and_every_express_city_has_one(reference_data):
    main = Warehouse.objects.get(kind="main")
    assert main.city.name == "Астана"
    express = City.objects.filter(delivery_mode="express")
    assert set(Warehouse.objects.values_list("city_id", flat=True)) == set(
        express.values_list("id", flat=True)
    )


def test_field_settlements_are_served_from_an_express_city_of_the_same_country(reference_data):
    for city in City.objects.filter(delivery_mode="field").select_related("served_from"):
        assert city.served_from.is_express, city
        assert city.served_from.country == city.country, city


def test_distance_bands_from_the_seed_table(reference_data):
    aktau = City.objects.get(name="Актау")
    bands = [(b.from_km, b.to_km, b.surcharge) for b in aktau.distance_bands.all()]
    assert bands == [
        (Decimal("18.0"), Decimal("24.0"), Decimal("500.00")),
        (Decimal("24.0"), Decimal("34.0"), Decimal("1000.00")),
        (Decimal("34.0"), Decimal("40.0"), Decimal("2000.00")),
        (Decimal("40.0"), None, Decimal("3000.00")),
    ]
    assert City.objects.get(name="Уральск").distance_bands.first().surcharge == Decimal("0.00")
    assert City.objects.filter(distance_bands__isnull=False).distinct().count() == 27


def test_loading_twice_changes_nothing(reference_data):
    def snapshot():
        return (
            list(City.objects.order_by("id").values()),
            list(DistanceBand.objects.order_by("id").values()),
            list(Warehouse.objects.order_by("id").values()),
        )

    before = snapshot()
    load_geography()
    assert snapshot() == before


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Нур-Султан", "Астана"),
        ("семиполатинск", "Семей"),
        ("Almaty", "Алматы"),
        ("Сарьагаш", "Сарыагаш"),
        ("  Бишкек ", "Бишкек"),
        ("Жетысай", "Жетисай"),
    ],
)
def test_cities_are_found_by_any_usual_spelling(reference_data, written, expected):
    assert find_city(written).name == expected


def test_unknown_city_is_not_guessed(reference_data):
    assert find_city("Москва") is None
    assert find_city("") is None
