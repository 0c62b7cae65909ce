"""Daily registries (реестр на доставку): exactly the customers who agreed, per city, built once; late ones in
an addendum; same-day orders at once; printable and exported to Excel; isolation between partners."""

import io
from datetime import date, datetime

import openpyxl
import pytest
import time_machine
from django.urls import reverse

from callcenter import services, tasks
from callcenter.models import DeliveryRegistry, Outcome, RegistryEntry
from geography.models import Warehouse
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.statuses import OrderStatus
from tests.clock import ALMATY
from tests.factories import ProductFactory, make_order, put_stock

pytestmark = pytest.mark.django_db
WEDNESDAY = date(2026, 11, 25)


def _agree(logist, order, day=WEDNESDAY):
    services.call_dial(actor=logist, order=order)
    return services.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=day,
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )


@pytest.fixture
def almaty():
    return Warehouse.objects.get(city__name="Алматы")


@pytest.fixture
def agreed_mix(calling_order, logist, partner_a, product_a, head, at_tuesday_10):
    """Orders in every situation a registry must tell apart."""
    from orders.services import order_send

    def called(**overrides):
        order = make_order(partner_a, product=product_a, **overrides)
        order_send(order=order, actor=head)
        return Order.objects.get(pk=order.pk)

    put_stock(product_a, "Астана", 10)
    orders = {
        "almaty": calling_order(),
        "talgar": called(
            city="Талгар", delivery_kind="field", address="Талгар, ул. Лермонтова, 5"
        ),  # a field settlement of Almaty
        "astana": called(city="Астана"),
        "thursday": calling_order(),
        "not_agreed": calling_order(),
        "refused": calling_order(),
    }
    for name in ("almaty", "talgar", "astana"):
        _agree(logist, orders[name])
    _agree(logist, orders["thursday"], date(2026, 11, 26))
    services.call_dial(actor=logist, order=orders["refused"])
    services.call_outcome(actor=logist, order=orders["refused"], outcome=Outcome.REFUSED, reason="Дорого")
    return orders


def test_the_registry_holds_exactly_the_customers_of_the_city_who_agreed_for_that_day(agreed_mix, almaty):
    registry = services.registry_build(warehouse=almaty, day=WEDNESDAY)

    in_registry = set(registry.entries.values_list("order_id", flat=True))
    assert in_registry == {agreed_mix["almaty"].pk, agreed_mix["talgar"].pk}
    assert set(Order.objects.filter(pk__in=in_registry).values_list("status", flat=True)) == {
        OrderStatus.IN_REGISTRY
    }
    astana = services.registry_build(warehouse=Warehouse.objects.get(city__name="Астана"), day=WEDNESDAY)
    assert list(astana.entries.values_list("order_id", flat=True)) == [agreed_mix["astana"].pk]
    assert Order.objects.get(pk=agreed_mix["thursday"].pk).status == OrderStatus.DELIVERY_AGREED


def test_building_twice_adds_nothing(agreed_mix, almaty):
    first = services.registry_build(warehouse=almaty, day=WEDNESDAY)
    again = services.registry_build(warehouse=almaty, day=WEDNESDAY)

    assert first.pk == again.pk
    assert RegistryEntry.objects.filter(registry=first).count() == 2
    assert not RegistryEntry.objects.filter(registry=first, is_addendum=True).exists()


def test_an_agreement_after_the_cut_off_goes_into_the_addendum(agreed_mix, almaty, calling_order, logist):
    registry = services.registry_build(warehouse=almaty, day=WEDNESDAY)
    late = calling_order()

    _agree(logist, late)

    entry = RegistryEntry.objects.get(order=late)
    assert (entry.registry_id, entry.is_addendum) == (registry.pk, True)
    assert Order.objects.get(pk=late.pk).status == OrderStatus.IN_REGISTRY


def test_a_same_day_order_agreed_today_enters_today_s_registry_at_once(
    calling_order, logist, almaty, at_tuesday_10
):
    order = calling_order(delivery_kind="same_day")

    _agree(logist, order, date(2026, 11, 24))

    registry = DeliveryRegistry.objects.get(warehouse=almaty, date=date(2026, 11, 24))
    assert list(registry.entries.values_list("order_id", flat=True)) == [order.pk]


def test_the_cut_off_task_builds_tomorrow_s_registries_once_after_the_cut_off(agreed_mix, almaty, settings):
    settings.REGISTRY_CUTOFF = "17:00"
    with time_machine.travel(datetime(2026, 11, 24, 16, 59, tzinfo=ALMATY), tick=False):
        tasks.build_registries()
    # 16:59 in Almaty is 17:59 in Bishkek: only Kyrgyzstan is past its cut-off
    assert set(DeliveryRegistry.objects.values_list("warehouse__city__country", flat=True)) == {"KG"}

    with time_machine.travel(datetime(2026, 11, 24, 17, 0, tzinfo=ALMATY), tick=False):
        tasks.build_registries()
        tasks.build_registries()  # a re-run changes nothing

    registry = DeliveryRegistry.objects.get(warehouse=almaty, date=WEDNESDAY)
    assert registry.entries.count() == 2
    assert (
        DeliveryRegistry.objects.filter(date=WEDNESDAY).count()
        == Warehouse.objects.filter(is_active=True).count()
    )


def test_courier_administrator_sees_prints_and_exports_the_city_registry(
    agreed_mix, almaty, make_user, login
):
    registry = services.registry_build(warehouse=almaty, day=WEDNESDAY)
    admin = make_user(Role.COURIER_ADMIN, scopes=[{"city": almaty.city}])
    client = login(admin)
    order = agreed_mix["talgar"]

    listing = client.get(reverse("callcenter:registries")).content.decode()
    page = client.get(reverse("callcenter:registry", args=[registry.pk])).content.decode()
    export = client.get(reverse("callcenter:registry", args=[registry.pk]), {"format": "xlsx"})

    assert reverse("callcenter:registry", args=[registry.pk]) in listing
    assert "Талгар, ул. Лермонтова, 5" in page and "data-print" in page
    rows = list(
        openpyxl.load_workbook(io.BytesIO(b"".join(export.streaming_content))).active.iter_rows(
            values_only=True
        )
    )
    assert [row[0] for row in rows[1:]] == [agreed_mix["almaty"].pk, order.pk]
    assert rows[2][4] == "Талгар, ул. Лермонтова, 5"


def test_another_city_s_courier_administrator_cannot_open_the_registry(agreed_mix, almaty, make_user, login):
    from tests.factories import city

    registry = services.registry_build(warehouse=almaty, day=WEDNESDAY)
    other = login(make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Астана")}]))

    assert other.get(reverse("callcenter:registry", args=[registry.pk])).status_code == 404
    assert (
        reverse("callcenter:registry", args=[registry.pk])
        not in other.get(reverse("callcenter:registries")).content.decode()
    )
    assert (
        other.post(
            reverse("callcenter:registry_build"), {"warehouse": almaty.pk, "date": "2026-11-25"}
        ).status_code
        == 404
    )


def test_a_head_of_one_partner_sees_only_that_partner_s_rows_in_a_shared_registry(
    agreed_mix, almaty, logist, partner_b, make_user, login, head
):
    from orders.services import order_send

    product_b = ProductFactory(partner=partner_b)
    put_stock(product_b, "Алматы", 5)
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    order_b = make_order(partner_b, product=product_b, customer_name="Клиент Партнёра Б")
    order_send(order=order_b, actor=head_b)
    _agree(logist, order_b)
    registry = services.registry_build(warehouse=almaty, day=WEDNESDAY)

    page_a = login(head).get(reverse("callcenter:registry", args=[registry.pk])).content.decode()
    page_b = login(head_b).get(reverse("callcenter:registry", args=[registry.pk])).content.decode()

    assert "Клиент Партнёра Б" not in page_a and agreed_mix["almaty"].customer_name in page_a
    assert "Клиент Партнёра Б" in page_b and agreed_mix["almaty"].customer_name not in page_b


def test_a_head_serving_one_partner_is_not_offered_to_build_a_city_s_registry(
    agreed_mix, almaty, partner_b, make_user, login
):
    head_b = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}]))

    page = head_b.get(reverse("callcenter:registries")).content.decode()
    refused = head_b.post(
        reverse("callcenter:registry_build"), {"warehouse": almaty.pk, "date": "2026-11-25"}
    )

    assert reverse("callcenter:registry_build") not in page
    assert refused.status_code == 404
    assert not DeliveryRegistry.objects.exists()


def test_partners_have_no_registries(client_a):
    assert client_a.get(reverse("callcenter:registries")).status_code == 403


def test_registry_page_queries_do_not_grow_with_its_rows(
    agreed_mix, almaty, make_user, login, calling_order, logist, django_assert_max_num_queries
):
    registry = services.registry_build(warehouse=almaty, day=WEDNESDAY)
    client = login(make_user(Role.COURIER_ADMIN, scopes=[{"city": almaty.city}]))
    client.get(reverse("callcenter:registry", args=[registry.pk]))
    with django_assert_max_num_queries(20) as small:
        client.get(reverse("callcenter:registry", args=[registry.pk]))
    for _ in range(5):
        _agree(logist, calling_order())

    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(reverse("callcenter:registry", args=[registry.pk]))
