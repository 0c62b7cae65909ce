"""At the door, issue 18: «open in map» links built from the stop's address and settlement (and the city's point A),
escaped; one label per finished visit on the board and the route; no drag hints on a closed day."""

import re
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.urls import reverse

from delivery import maps, services
from delivery.models import CourierDay, DeliveryStop, StopOutcome
from geography.models import City
from tests.delivery.conftest import WEDNESDAY
from tests.factories import city

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_route(agreed, registry, almaty, couriers, courier_admin):
    """`on_route(**order)`: one order on the first courier's route, the goods handed over."""

    def make(**overrides):
        order = agreed(**overrides)
        registry()
        services.stops_assign(
            actor=courier_admin, orders=[order], courier=couriers[0], warehouse=almaty, day=WEDNESDAY
        )
        services.goods_hand_over(actor=courier_admin, day=CourierDay.objects.get(courier=couriers[0]))
        return DeliveryStop.objects.get(order=order, outcome=StopOutcome.PENDING)

    return make


def _hrefs(html: str, testid: str) -> list[str]:
    block = re.search(rf'data-testid="{testid}".*?</p>', html, re.S).group(0)
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', block)]


# -- the links -----------------------------------------------------------------------------------------------------


def test_map_links_search_the_address_within_its_city(reference_data):
    links = maps.links_for(city("Алматы"), "ул. Абая, 5, кв. 12")

    assert links.query == "Алматы, ул. Абая, 5, кв. 12"
    assert links.two_gis == (
        "https://2gis.kz/almaty/search/"
        "%D0%90%D0%BB%D0%BC%D0%B0%D1%82%D1%8B%2C%20%D1%83%D0%BB.%20%D0%90%D0%B1%D0%B0%D1%8F%2C%205%2C"
        "%20%D0%BA%D0%B2.%2012"
    )
    assert urlsplit(links.yandex)[:3] == ("https", "yandex.kz", "/maps/")
    assert parse_qs(urlsplit(links.yandex).query) == {"text": ["Алматы, ул. Абая, 5, кв. 12"]}


def test_a_slash_question_mark_or_markup_in_an_address_stays_inside_the_search(reference_data):
    address = 'мкр. Самал-2, 33/1 ?a=1&b=<script>"#'

    links = maps.links_for(city("Алматы"), address)

    two_gis = urlsplit(links.two_gis)
    assert two_gis.path.count("/") == 3 and not two_gis.query and not two_gis.fragment  # one path segment
    assert unquote(two_gis.path.rsplit("/", 1)[1]) == f"Алматы, {address}"
    assert parse_qs(urlsplit(links.yandex).query) == {"text": [f"Алматы, {address}"]}
    assert not urlsplit(links.yandex).fragment


def test_an_address_that_names_its_city_is_searched_as_written(reference_data):
    assert maps.links_for(city("Алматы"), "г. Алматы, ул. Абая, 5").query == "г. Алматы, ул. Абая, 5"
    assert maps.links_for(city("Алматы"), "ул. Алматинская, 7").query == "Алматы, ул. Алматинская, 7"


def test_a_field_settlement_is_searched_on_the_map_of_the_city_that_serves_it(reference_data):
    talgar = city("Талгар")

    links = maps.links_for(talgar, "ул. Лермонтова, 1")

    assert talgar.served_from.name == "Алматы"
    assert links.two_gis.startswith("https://2gis.kz/almaty/search/")
    assert unquote(urlsplit(links.two_gis).path).endswith("/Талгар, ул. Лермонтова, 1")


def test_a_city_without_a_known_2gis_map_is_searched_by_its_name(reference_data):
    shieli = city("Шиели")

    links = maps.links_for(shieli, "ул. Абая, 1")

    assert links.two_gis.startswith("https://2gis.kz/search/")
    assert "Шиели" in unquote(links.two_gis)


def test_a_kyrgyz_address_opens_the_kyrgyz_2gis(reference_data):
    links = maps.links_for(city("Бишкек"), "ул. Киевская, 95")

    assert links.two_gis.startswith("https://2gis.kg/bishkek/search/")
    assert parse_qs(urlsplit(links.yandex).query) == {"text": ["Бишкек, ул. Киевская, 95"]}


def test_point_a_is_searched_in_its_city_and_a_city_without_one_has_no_links(reference_data):
    shymkent = maps.point_a_links(city("Шымкент"))

    assert shymkent.query == "ТД Шымкент Plaza"  # it names its city already
    assert maps.point_a_links(city("Тараз")).query == "Тараз"  # the seed's point A is the city itself
    assert maps.point_a_links(city("Алматы")) is None  # the offer names no point A for Almaty


def test_the_stop_page_links_the_address_and_the_city_s_point_a(on_route, couriers, login):
    City.objects.filter(name="Алматы", country="KZ").update(point_a="ТРЦ Mega Alma-Ata")
    stop = on_route(address="ул. Жандосова, 58 <b>кв. 12</b>")

    html = login(couriers[0]).get(reverse("delivery:stop", args=[stop.pk])).content.decode()

    two_gis, yandex = _hrefs(html, "map-links")
    assert unquote(urlsplit(two_gis).path) == "/almaty/search/Алматы, ул. Жандосова, 58 <b>кв. 12</b>"
    assert parse_qs(urlsplit(yandex).query) == {"text": ["Алматы, ул. Жандосова, 58 <b>кв. 12</b>"]}
    assert "<b>кв. 12</b>" not in html  # the address is text on the page, never markup
    assert html.count('target="_blank" rel="noopener noreferrer"') == 4
    point_a = _hrefs(html, "point-a")
    assert [unquote(urlsplit(point_a[0]).path), parse_qs(urlsplit(point_a[1]).query)["text"]] == [
        "/almaty/search/Алматы, ТРЦ Mega Alma-Ata",
        ["Алматы, ТРЦ Mega Alma-Ata"],
    ]


# -- the board and the route ---------------------------------------------------------------------------------------


def test_a_finished_visit_is_labelled_once_on_the_board_and_the_route(
    on_route, couriers, courier_admin, login
):
    stop = on_route()
    services.stop_refused(actor=couriers[0], stop=stop, reason="Передумал")
    client = login(courier_admin)

    board = client.get(reverse("delivery:board"), {"city": stop.day.warehouse_id, "date": "2026-11-25"})
    route = client.get(reverse("delivery:day", args=[stop.day_id]))

    rows = [
        re.search(rf'<tr data-order="{stop.order_id}">.*?</tr>', board.content.decode(), re.S).group(0),
        re.search(rf'<li data-id="{stop.pk}".*?</li>', route.content.decode(), re.S).group(0),
    ]
    for row in rows:
        assert row.count("Отказ") == 1, row
        assert 'data-outcome="refused"' in row and "data-status=" not in row


def test_an_open_visit_shows_the_order_s_status(on_route, courier_admin, login):
    stop = on_route()

    html = login(courier_admin).get(reverse("delivery:day", args=[stop.day_id])).content.decode()

    assert 'data-status="with_courier"' in html and "data-outcome=" not in html


def test_a_closed_day_shows_no_drag_hints(on_route, couriers, courier_admin, login):
    stop = on_route()
    client = login(courier_admin)
    open_day = client.get(reverse("delivery:day", args=[stop.day_id])).content.decode()
    services.stop_paid(actor=couriers[0], stop=stop, collected="10000")
    services.cash_handover(actor=courier_admin, day=stop.day, counted="10000")
    services.day_close(actor=courier_admin, day=stop.day)

    closed_day = client.get(reverse("delivery:day", args=[stop.day_id])).content.decode()

    assert 'data-testid="drag-hint"' in open_day and "data-sortable" in open_day
    assert 'data-testid="drag-hint"' not in closed_day
    assert "data-sortable" not in closed_day and 'draggable="true"' not in closed_day


def test_a_route_with_every_visit_over_shows_no_drag_hint(on_route, couriers, courier_admin, login):
    stop = on_route()
    services.stop_paid(actor=couriers[0], stop=stop, collected="10000")

    html = login(courier_admin).get(reverse("delivery:day", args=[stop.day_id])).content.decode()

    assert 'data-testid="drag-hint"' not in html
