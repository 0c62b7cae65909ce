"""Factories for the whole suite. Reference geography is loaded once per database by `reference_data`."""

import factory
from django.contrib.auth.hashers import make_password

from catalogue.models import Product
from geography.models import City
from ketlogistic.core.models import Partner, StaffScope, User
from ketlogistic.core.roles import PARTNER_ROLES, Role

PASSWORD = "test-pass-12345"
_HASHED = make_password(PASSWORD)


def city(name: str, country: str | None = None) -> City:
    from tests.conftest import ensure_reference_data

    ensure_reference_data()
    cities = City.objects.filter(name=name)
    if country:
        cities = cities.filter(country=country)
    return cities.get()


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Магазин {n}")
    legal_form = "ТОО"
    legal_name = factory.LazyAttribute(lambda o: f"«{o.name}»")
    country = "KZ"
    currency = factory.LazyAttribute(lambda o: "KZT" if o.country == "KZ" else "KGS")
    contact_phone = "+7 700 000 00 00"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Тест"
    last_name = factory.Sequence(lambda n: f"Пользователь{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.kz")
    role = Role.PARTNER_ADMIN
    partner = factory.LazyAttribute(lambda o: PartnerFactory() if o.role in PARTNER_ROLES else None)
    home_country = factory.LazyAttribute(lambda o: o.partner.country if o.partner else "KZ")
    password = _HASHED
    is_staff = factory.LazyAttribute(lambda o: o.role == Role.ADMINISTRATOR)
    is_superuser = factory.LazyAttribute(lambda o: o.role == Role.ADMINISTRATOR)

    @factory.post_generation
    def scopes(self, create, extracted, **kwargs):
        """`UserFactory(role=LOGIST, scopes=[{"country": "KZ"}, {"partner": p}])`."""
        if not create or not extracted:
            return
        for scope in extracted:
            StaffScope.objects.create(
                user=self,
                country=scope.get("country", ""),
                partner=scope.get("partner"),
                city=scope.get("city"),
            )


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    partner = factory.SubFactory(PartnerFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Товар {n}")
    price = factory.Sequence(lambda n: 1000 + n)


def order_row(**overrides) -> dict:
    """A valid intake row for a KZ partner with a product "A-1" (see `OrderFactory`)."""
    row = {
        "external_id": "EXT-1",
        "customer_name": "Айгерим Сапарова",
        "phone": "+7 701 123 45 67",
        "city": "Алматы",
        "address": "ул. Абая, 10, кв. 5",
        "delivery_kind": "express",
        "items": [{"sku": "A-1", "quantity": 1, "price": "15000"}],
        "comment": "",
    }
    row.update(overrides)
    return row


_order_counter = [0]


def put_stock(product, city_name: str, quantity: int = 100, *, country: str | None = None):
    """Units on the shelf of a city's warehouse (a count surplus: the simplest honest ledger entry)."""
    from geography.models import Warehouse
    from warehouses import ledger
    from warehouses.models import MoveKind, Place

    warehouse = Warehouse.objects.get(city=city(city_name, country))
    ledger.apply_moves(
        [ledger.Move(product, quantity, ledger.OUTSIDE[Place.FOUND], ledger.stock(warehouse.pk))],
        kind=MoveKind.ADJUST,
        partner_id=product.partner_id,
    )
    return warehouse


def make_order(partner, *, product=None, actor=None, source="api", stock=True, **overrides):
    """An order through the real intake path ("на отправку"); by default its goods are in stock where it is
    served, so putting it into work sends it to calling (stock=False to test waiting for stock)."""
    from orders.intake import orders_create_many

    product = (
        product
        or Product.objects.filter(partner=partner, is_test=False).first()
        or ProductFactory(partner=partner)
    )
    _order_counter[0] += 1
    defaults = {
        "external_id": f"T-{_order_counter[0]:06d}",
        "items": [{"sku": product.sku, "quantity": 1, "price": "10000"}],
    }
    if partner.country == "KG":
        defaults.update({"city": "Бишкек", "phone": "+996 555 12 34 56"})
    result = orders_create_many(
        partner=partner, rows=[order_row(**{**defaults, **overrides})], actor=actor, source=source
    )[0]
    assert result.status == "created", result.errors
    if stock:
        from warehouses.fulfilment import serving_warehouse

        order = result.order
        warehouse = serving_warehouse(order)
        for item in order.items.select_related("product"):
            put_stock(item.product, warehouse.city.name, item.quantity, country=warehouse.city.country)
    return result.order
