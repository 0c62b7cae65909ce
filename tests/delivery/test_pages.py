"""The delivery pages through the browser's eyes: the board, routes and cash for the administrator; the
courier's own route only; the partner's timeline and today's deliveries; isolation on every URL."""

import pytest
from django.urls import reverse

from delivery import services
from delivery.models import CourierDay, DeliveryStop, StopOutcome
from geography.models import Warehouse
from ketlogistic.core.roles import Role
from orders.models import Order
from tests.delivery.conftest import WEDNESDAY
from tests.factories import ProductFactory, city, make_order, put_stock
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db
SECRET = "Жанар Секретова"


@pytest.fixture
def day_in_progress(agreed, registry, almaty, couriers, courier_admin):
    orders = [agreed(customer_name=SECRET), agreed(), agreed(delivery_kind="same_day")]
    registry()
    services.stops_assign(
        actor=courier_admin, orders=orders[:2], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    services.stops_assign(
        actor=courier_admin, orders=orders[2:], courier=couriers[1], warehouse=almaty, day=WEDNESDAY
    )
    for courier in couriers[:2]:
        services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=courier))
    return orders


def _stop(order):
    return DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)


def test_the_administrator_assigns_from_the_board(agreed, registry, almaty, couriers, courier_admin, login):
    orders = [agreed(), agreed(delivery_kind="same_day")]
    registry()
    client = login(courier_admin)

    board = client.get(reverse("delivery:board"), {"city": almaty.pk, "date": "2026-11-25"})
    client.post(
        reverse("delivery:assign"),
        {
            "city": almaty.pk,
            "date": "2026-11-25",
            "courier": couriers[2].pk,
            "orders": [o.pk for o in orders],
        },
    )

    rows = board.context["rows"]
    assert [row["order"].pk for row in rows][0] == orders[1].pk  # same-day first
    assert set(DeliveryStop.objects.values_list("order_id", flat=True)) == {o.pk for o in orders}
    assert DeliveryStop.objects.filter(day__courier=couriers[2]).count() == 2


def test_the_suggested_split_is_checked_then_applied(
    agreed, registry, almaty, couriers, courier_admin, login
):
    orders = [agreed(address=f"мкр. Самал-2, д. {n}") for n in range(3)] + [agreed(address="ул. Абая, 5")]
    registry()
    client = login(courier_admin)

    preview = client.post(
        reverse("delivery:suggest"),
        {"city": almaty.pk, "date": "2026-11-25", "couriers": [couriers[0].pk, couriers[1].pk]},
    )
    plan = [f"{o.pk}:{c.pk}" for c, planned in preview.context["plan"] for o in planned]
    client.post(reverse("delivery:assign"), {"city": almaty.pk, "date": "2026-11-25", "plan": plan})

    assert not DeliveryStop.objects.exists() or DeliveryStop.objects.count() == 4
    assert DeliveryStop.objects.count() == 4 and len(plan) == 4
    samal = DeliveryStop.objects.filter(order__in=orders[:3]).values_list("day__courier", flat=True)
    assert len(set(samal)) == 1


def test_the_courier_works_the_route_on_the_phone(day_in_progress, couriers, login):
    client = login(couriers[0])
    first = day_in_progress[0]

    assert client.get(reverse("home")).url == reverse("delivery:my_route")
    route = client.get(reverse("delivery:my_route")).content.decode()
    page = client.get(reverse("delivery:stop", args=[_stop(first).pk]))
    token = page.context["forms"]["paid"]["token"].value()
    client.post(
        reverse("delivery:stop", args=[_stop(first).pk]),
        {"action": "paid", "collected": "10000", "token": token},
    )
    client.post(
        reverse("delivery:stop", args=[DeliveryStop.objects.get(order=first).pk]),
        {"action": "paid", "collected": "10000", "token": token},
    )  # the tap again

    assert SECRET in route and str(day_in_progress[2].pk) not in route  # another courier's order is not here
    assert Order.objects.get(pk=first.pk).status == "paid"
    assert "10\u202f000.00" in client.get(reverse("delivery:my_route")).content.decode()  # the cash held


def test_a_courier_never_reaches_another_courier_s_orders(day_in_progress, couriers, login):
    other = _stop(day_in_progress[2])
    client = login(couriers[0])

    assert_hidden(client, reverse("delivery:stop", args=[other.pk]), leaks=[str(other.order_id)])
    assert_hidden(
        client,
        reverse("delivery:stop", args=[other.pk]),
        method="post",
        data={"action": "paid", "collected": "10000", "token": "x"},
    )
    assert client.get(reverse("delivery:board")).status_code == 403
    assert client.get(reverse("delivery:day", args=[other.day_id])).status_code == 403
    assert client.get(reverse("orders:detail", args=[other.order_id])).status_code in (403, 404)
    assert Order.objects.get(pk=other.order_id).status == "with_courier"


def test_the_administrator_sees_it_live_and_the_partner_on_the_timeline(
    day_in_progress, couriers, login, courier_admin, client_a, almaty
):
    first = day_in_progress[0]
    from delivery import services as door

    door.stop_refused(actor=couriers[0], stop=_stop(first), reason="Нет денег")

    live = login(courier_admin).get(reverse("delivery:live"), {"city": almaty.pk, "date": "2026-11-25"})
    timeline = client_a.get(reverse("orders:detail", args=[first.pk])).content.decode()

    row = next(r for r in live.context["live"] if r["courier"] == couriers[0])
    assert (row["refused"], row["pending"]) == (1, 1)
    assert "Нет денег" in timeline and couriers[0].first_name in timeline


def test_the_partner_sees_today_s_deliveries_per_city(day_in_progress, client_a, client_b, at_tuesday_10):
    page = client_a.get(reverse("delivery:today"))

    [row] = page.context["rows"]
    assert (row["city__name"], row["total"], row["with_courier"], row["same_day"]) == ("Алматы", 3, 3, 1)
    assert client_b.get(reverse("delivery:today")).context["rows"] == []


def test_cash_pages_count_and_close(day_in_progress, couriers, courier_admin, login):
    from delivery import services as door

    door.stop_paid(actor=couriers[1], stop=_stop(day_in_progress[2]), collected="10000")
    day = CourierDay.objects.get(courier=couriers[1])
    client = login(courier_admin)

    client.post(reverse("delivery:handover", args=[day.pk]), {"counted": "9000"})
    page = client.get(reverse("delivery:day", args=[day.pk])).content.decode()
    discrepancy = day.discrepancies.get()
    client.post(
        reverse("delivery:resolve", args=[discrepancy.pk]),
        {"resolution": "charged", "reason": "Удержать из зарплаты"},
    )
    client.post(reverse("delivery:close", args=[day.pk]))

    assert 'data-testid="discrepancy"' in page
    assert CourierDay.objects.get(pk=day.pk).status == "closed"


# -- isolation --------------------------------------------------------------------------------------------------------


def test_partner_b_and_other_cities_reach_nothing(
    day_in_progress, couriers, client_b, make_user, login, partner_b, almaty
):
    stop = _stop(day_in_progress[0])
    day = stop.day
    urls = [
        ("get", reverse("delivery:day", args=[day.pk]), None),
        ("get", reverse("delivery:stop", args=[stop.pk]), None),
        ("post", reverse("delivery:stop", args=[stop.pk]), {"action": "paid", "collected": "10000"}),
        ("post", reverse("delivery:stop_action", args=[stop.pk]), {"action": "unassign"}),
        ("post", reverse("delivery:reorder", args=[day.pk]), {"order": str(stop.pk)}),
        ("post", reverse("delivery:goods", args=[day.pk]), None),
        ("post", reverse("delivery:handover", args=[day.pk]), {"counted": "0"}),
        ("post", reverse("delivery:close", args=[day.pk]), None),
    ]
    astana_admin = make_user(Role.COURIER_ADMIN, scopes=[{"city": city("Астана")}])
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])
    for intruder in (client_b, login(astana_admin), login(head_b), login(couriers[2])):
        for method, url, data in urls:
            response = intruder.get(url) if method == "get" else intruder.post(url, data or {})
            assert response.status_code in (403, 404), (url, response.status_code)
            assert SECRET not in response.content.decode()
        for name in ("delivery:board", "delivery:today", "delivery:my_route", "delivery:post"):
            response = intruder.get(reverse(name), {"city": almaty.pk, "date": "2026-11-25"})
            assert SECRET not in response.content.decode(), name
    assert Order.objects.get(pk=stop.order_id).status == "with_courier"


def test_a_head_of_partner_b_sees_only_b_s_rows_on_the_board(
    day_in_progress, partner_b, make_user, login, almaty, courier_admin, couriers
):
    product_b = ProductFactory(partner=partner_b)
    put_stock(product_b, "Алматы", 3)
    head_b = make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}])

    rows = (
        login(head_b)
        .get(reverse("delivery:board"), {"city": almaty.pk, "date": "2026-11-25"})
        .context["rows"]
    )

    assert rows == []
    assert (
        len(
            login(courier_admin)
            .get(reverse("delivery:board"), {"city": almaty.pk, "date": "2026-11-25"})
            .context["rows"]
        )
        == 3
    )
    assert make_order  # the factory is used by the fixtures above


def test_the_board_and_the_route_do_not_query_per_order(
    agreed, registry, almaty, couriers, courier_admin, login, django_assert_max_num_queries, at_tuesday_10
):
    from datetime import date, datetime

    from callcenter import services as calls
    from tests.delivery.conftest import ALMATY

    wednesday = [agreed() for _ in range(2)]
    registry()
    thursday = [agreed(day=date(2026, 11, 26)) for _ in range(7)]
    at_tuesday_10.move_to(datetime(2026, 11, 25, 17, 0, tzinfo=ALMATY))
    calls.registry_build(warehouse=almaty, day=date(2026, 11, 26))
    services.stops_assign(
        actor=courier_admin, orders=wednesday, courier=couriers[0], warehouse=almaty, day=WEDNESDAY
    )
    services.stops_assign(
        actor=courier_admin, orders=thursday, courier=couriers[1], warehouse=almaty, day=date(2026, 11, 26)
    )
    admin = login(courier_admin)
    admin.get(reverse("delivery:board"), {"city": almaty.pk, "date": "2026-11-25"})
    with django_assert_max_num_queries(60) as small:
        admin.get(reverse("delivery:board"), {"city": almaty.pk, "date": "2026-11-25"})
    with django_assert_max_num_queries(len(small.captured_queries)):
        admin.get(reverse("delivery:board"), {"city": almaty.pk, "date": "2026-11-26"})

    at_tuesday_10.move_to(datetime(2026, 11, 25, 12, 0, tzinfo=ALMATY))
    courier = login(couriers[0])
    with django_assert_max_num_queries(60) as route_small:
        courier.get(reverse("delivery:my_route"))
    at_tuesday_10.move_to(datetime(2026, 11, 26, 9, 0, tzinfo=ALMATY))
    other = login(couriers[1])
    with django_assert_max_num_queries(len(route_small.captured_queries)):
        assert len(other.get(reverse("delivery:my_route")).context["stops"]) == 7


@pytest.mark.parametrize(
    ("home_country", "opens_on"), [("KZ", "Алматы"), ("KG", "Бишкек")], ids=["lives-in-kz", "lives-in-kg"]
)
def test_the_board_opens_on_the_administrator_s_own_city(make_user, login, home_country, opens_on):
    """An administrator of Almaty and Bishkek opens the board on the city of their home country (Bishkek sorts
    first, KG before KZ, and used to open for everyone); a city asked for in the address still wins."""
    admin = make_user(
        Role.COURIER_ADMIN,
        scopes=[{"city": city("Алматы")}, {"city": city("Бишкек")}],
        home_country=home_country,
    )
    client = login(admin)
    other = Warehouse.objects.get(city__name="Бишкек" if opens_on == "Алматы" else "Алматы")

    assert client.get(reverse("delivery:board")).context["warehouse"].city.name == opens_on
    assert client.get(reverse("delivery:board"), {"city": other.pk}).context["warehouse"] == other


def test_company_wide_staff_open_the_board_on_a_city_of_their_home_country(make_user, login):
    supervisor = make_user(Role.SUPERVISOR, home_country="KZ")

    warehouse = login(supervisor).get(reverse("delivery:board")).context["warehouse"]

    assert warehouse.city.country == "KZ"
