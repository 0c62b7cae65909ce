"""Post to all of Kazakhstan (issue 20 item 5): a post order may go to any settlement of Kazakhstan, named freely with
its six-digit postal index, served from the main warehouse; couriers serve only the listed settlements."""

import pytest
from django.urls import reverse

from geography.models import Warehouse
from orders.intake import orders_create_many
from orders.models import Order
from orders.services import order_send
from tests.factories import PartnerFactory, ProductFactory, order_row, put_stock
from warehouses.fulfilment import serving_warehouse

pytestmark = pytest.mark.django_db


def _create(partner, **overrides):
    [result] = orders_create_many(partner=partner, rows=[order_row(**overrides)], actor=None, source="api")
    return result


def _main_city():
    return Warehouse.objects.get(kind=Warehouse.Kind.MAIN).city


def test_a_post_order_to_a_settlement_outside_the_list_with_its_index_goes_through(partner_a, product_a):
    """Seed 000: «40 населённых пунктов … + почтовые отправки» — post reaches the rest of Kazakhstan."""
    result = _create(partner_a, city="Щучинск", delivery_kind="post", postal_index="021700")

    assert result.status == "created", result.errors
    order = Order.objects.get(pk=result.order.pk)
    assert (order.settlement, order.postal_index, order.city) == ("Щучинск", "021700", _main_city())
    assert order.place_name == "Щучинск" and order.postal_address == "021700, Щучинск"
    assert serving_warehouse(order).kind == Warehouse.Kind.MAIN


def test_a_post_order_outside_the_list_without_an_index_is_refused(partner_a, product_a):
    """Seed 000: the settlement is named freely, so its postal index is what the post needs to find it."""
    result = _create(partner_a, city="Щучинск", delivery_kind="post")

    assert result.status == "error"
    assert result.errors == {
        "postal_index": [
            "Required for post to “Щучинск”, which is outside our list of cities: its six-digit postal index, "
            "e.g. 021700."
        ]
    }
    assert not Order.objects.exists()


@pytest.mark.parametrize("kind", ["express", "field", "same_day", None])
def test_a_courier_order_to_an_unknown_settlement_still_gets_the_unknown_city_error(
    partner_a, product_a, kind
):
    """Seed 000: couriers serve the 40 listed settlements only, whatever postal index comes with the order."""
    result = _create(partner_a, city="Щучинск", delivery_kind=kind, postal_index="021700")

    assert result.status == "error"
    assert result.errors == {"city": ["Unknown city “Щучинск”: use a name from the reference list."]}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("021700", "021700"),
        ("021 700", "021700"),
        (21700, "021700"),
        (160000.0, "160000"),
        ("010000", "010000"),
    ],
)
def test_a_postal_index_is_read_as_partners_write_it(partner_a, product_a, sent, stored):
    """Seed 000: six digits; a number cell that lost its leading zero gets it back."""
    result = _create(partner_a, city="Щучинск", delivery_kind="post", postal_index=sent)

    assert result.status == "created", result.errors
    assert Order.objects.get().postal_index == stored


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ("02170", "A postal index is six digits, e.g. 021700."),
        ("0217000", "A postal index is six digits, e.g. 021700."),
        ("02I700", "A postal index is six digits, e.g. 021700."),
        ("٠٢١٧٠٠", "A postal index is six digits, e.g. 021700."),
        ("A10A0A0", "A postal index is six digits, e.g. 021700."),
        ("720000", "720000 is no postal index of Kazakhstan: they start with a region's 01 to 16."),
        ("000100", "000100 is no postal index of Kazakhstan: they start with a region's 01 to 16."),
        (["021700"], "Must be text, not a list, an object or true/false."),
    ],
)
def test_a_postal_index_of_kazakhstan_is_six_digits_starting_with_a_region(partner_a, product_a, sent, error):
    """Seed 000 (Kazpost): six digits, the first two the region — 01 Astana … 16 Turkestan region."""
    result = _create(partner_a, city="Щучинск", delivery_kind="post", postal_index=sent)

    assert result.status == "error"
    assert result.errors["postal_index"] == [error]
    assert not Order.objects.exists()


@pytest.mark.parametrize("sent", ["12345", "720000", "индекс"])
def test_a_courier_order_leaves_out_a_postal_index_it_does_not_need(partner_a, product_a, sent):
    """Seed 000: couriers need no index; a column of indexes in a partner's export never blocks its courier orders
    (a good index is kept, one that is none is left out)."""
    bad = _create(partner_a, postal_index=sent)
    good = _create(partner_a, external_id="EXT-2", postal_index="050000")

    assert (bad.status, good.status) == ("created", "created"), (bad.errors, good.errors)
    assert (bad.order.postal_index, good.order.postal_index) == ("", "050000")


def test_a_kyrgyz_partner_posts_to_the_listed_settlements_only(partner_kg):
    """Seed 000: post is Kazakhstan's («почтовые отправки» are in the Kazakhstan section only)."""
    ProductFactory(partner=partner_kg, sku="A-1")

    result = _create(
        partner_kg, city="Чолпон-Ата", delivery_kind="post", postal_index="722000", phone="+996 555 12 34 56"
    )

    assert result.status == "error"
    assert result.errors["city"] == ["Unknown city “Чолпон-Ата”: use a name from the reference list."]


def test_a_post_order_to_a_listed_city_keeps_its_city_and_index(partner_a, product_a):
    result = _create(partner_a, city="Шымкент", delivery_kind="post", postal_index="160000")

    order = Order.objects.get(pk=result.order.pk)
    assert (order.city.name, order.settlement, order.postal_index) == ("Шымкент", "", "160000")


def test_a_settlement_name_is_at_most_a_hundred_characters(partner_a, product_a):
    result = _create(partner_a, city="Щ" * 101, delivery_kind="post", postal_index="021700")

    assert result.errors == {"city": ["At most 100 characters."]}


def test_the_post_order_is_called_from_the_main_warehouses_stock(partner_a, product_a, head, at_tuesday_10):
    """Seed 000: goods move only from the main warehouse; a parcel to the rest of the country is packed there."""
    order = _create(partner_a, city="Щучинск", delivery_kind="post", postal_index="021700").order
    put_stock(product_a, _main_city().name)

    order_send(order=order, actor=head)

    order.refresh_from_db()
    assert order.status == "calling"
    assert order.city == _main_city() and order.settlement == "Щучинск"


def test_the_settlement_and_its_index_never_change_after_intake(partner_a, product_a):
    """The database guard holds them as it holds the city (orders migration 0017)."""
    from django.db import IntegrityError, transaction

    order = _create(partner_a, city="Щучинск", delivery_kind="post", postal_index="021700").order

    for change in ({"settlement": "Кокшетау"}, {"postal_index": "020000"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Order.objects.filter(pk=order.pk).update(**change)
    assert Order.objects.filter(pk=order.pk, settlement="Щучинск", postal_index="021700").exists()


def test_the_cabinet_form_takes_another_settlement_by_post(client_a, partner_a, product_a):
    """Seed 000: the form accepts the rest of Kazakhstan as the API and Excel do."""
    data = {
        "customer_name": "Айгерим Сапарова",
        "phone": "+7 701 123 45 67",
        "settlement": "Щучинск",
        "postal_index": "021700",
        "address": "ул. Абая, 10",
        "delivery_kind": "post",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-product": product_a.pk,
        "items-0-quantity": "1",
        "items-0-price": "15000",
    }

    created = client_a.post(reverse("orders:create"), data)
    refused = client_a.post(reverse("orders:create"), {**data, "postal_index": "", "external_id": "X-2"})
    courier = client_a.post(
        reverse("orders:create"), {**data, "delivery_kind": "express", "external_id": "X-3"}
    )

    order = Order.objects.get()
    assert created.status_code == 302 and (order.settlement, order.postal_index) == ("Щучинск", "021700")
    assert list(refused.context["form"].errors) == ["postal_index"]
    assert list(courier.context["form"].errors) == ["settlement"]
    assert "Неизвестный город «Щучинск»" in courier.content.decode()
    card = client_a.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "021700, Щучинск" in card


def test_the_cabinet_form_wants_a_city_or_a_settlement_not_both(client_a, partner_a, product_a):
    from geography.models import City

    data = {
        "customer_name": "Айгерим Сапарова",
        "phone": "+7 701 123 45 67",
        "city": City.objects.get(name="Алматы").pk,
        "settlement": "Щучинск",
        "address": "ул. Абая, 10",
        "delivery_kind": "post",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-product": product_a.pk,
        "items-0-quantity": "1",
    }

    both = client_a.post(reverse("orders:create"), data)
    neither = client_a.post(reverse("orders:create"), {**data, "city": "", "settlement": ""})

    assert both.status_code == neither.status_code == 200
    assert list(both.context["form"].errors) == ["settlement"]
    assert list(neither.context["form"].errors) == ["city"]
    assert not Order.objects.exists()


def test_an_unlisted_settlement_of_another_partner_country_is_never_taken_for_a_city(reference_data):
    """A name the list does not hold stays the partner's own text; it never becomes a listed city."""
    partner = PartnerFactory(country="KZ")
    ProductFactory(partner=partner, sku="A-1")

    result = _create(partner, city="Бишкек", delivery_kind="post", postal_index="021700")

    assert result.errors == {"city": ["Бишкек is not in your country."]}
