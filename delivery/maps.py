"""«Open in map» links for a stop's address and for a city's point A: 2GIS and Yandex Maps, by their public URL
schemes, so the courier's phone opens the map application (or the site) already searching the place.

No map script and no key: a link is all a courier needs at the door, and it costs the page nothing. The query is
the settlement and the address, as a person would type it in the map's search box; the settlement keeps a street
of another town with the same name out of the answer.

2GIS searches inside one city's map («project»): `https://2gis.kz/<project>/search/<query>`. Where we do not know
a settlement's project, the link names none (`https://2gis.kz/search/<query>`) and 2GIS looks where the phone is,
with the settlement's name in the query. Yandex Maps searches the whole map: `https://yandex.kz/maps/?text=<query>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

# 2GIS sites and Yandex Maps sites by country
TWO_GIS_SITES = {"KZ": "https://2gis.kz", "KG": "https://2gis.kg"}
YANDEX_MAPS_SITES = {"KZ": "https://yandex.kz/maps/", "KG": "https://yandex.ru/maps/"}

# The 2GIS city map («project») of each express city that has one, by the city's name in our reference data. A
# field-trip settlement uses the map of the city that serves it (2GIS maps take in their suburbs and villages).
TWO_GIS_PROJECTS = {
    ("KZ", "Астана"): "astana",
    ("KZ", "Алматы"): "almaty",
    ("KZ", "Шымкент"): "shymkent",
    ("KZ", "Караганда"): "karaganda",
    ("KZ", "Актобе"): "aktobe",
    ("KZ", "Тараз"): "taraz",
    ("KZ", "Павлодар"): "pavlodar",
    ("KZ", "Усть-Каменогорск"): "ust-kamenogorsk",
    ("KZ", "Семей"): "semey",
    ("KZ", "Атырау"): "atyrau",
    ("KZ", "Костанай"): "kostanay",
    ("KZ", "Кызылорда"): "kyzylorda",
    ("KZ", "Уральск"): "uralsk",
    ("KZ", "Петропавловск"): "petropavlovsk",
    ("KZ", "Актау"): "aktau",
    ("KZ", "Туркестан"): "turkestan",
    ("KZ", "Кокшетау"): "kokshetau",
    ("KZ", "Талдыкорган"): "taldykorgan",
    ("KZ", "Экибастуз"): "ekibastuz",
    ("KZ", "Жезказган"): "zhezkazgan",
    ("KG", "Бишкек"): "bishkek",
    ("KG", "Ош"): "osh",
}


@dataclass(frozen=True)
class MapLinks:
    """What to search and where: the query as typed, and the two links that search it."""

    query: str
    two_gis: str
    yandex: str


def _project(city) -> str | None:
    project = TWO_GIS_PROJECTS.get((city.country, city.name))
    if project is None and city.served_from_id:
        served_from = city.served_from
        project = TWO_GIS_PROJECTS.get((served_from.country, served_from.name))
    return project


def search_query(city, place: str) -> str:
    """The settlement, then the place in it («Алматы, ул. Абая, 5»); a place that names its settlement already
    («г. Алматы, …», «ТД Шымкент Plaza») is left as written («ул. Алматинская» does not name Алматы)."""
    place = " ".join((place or "").split())
    if not place or place.casefold() == city.name.casefold():
        return city.name
    if re.search(rf"(?<!\w){re.escape(city.name.casefold())}(?!\w)", place.casefold()):
        return place
    return f"{city.name}, {place}"


def links_for(city, place: str) -> MapLinks | None:
    """The 2GIS and Yandex Maps links that search `place` in `city`; None when there is nothing to search."""
    if city is None or not (place or "").strip():
        return None
    query = search_query(city, place)
    site = TWO_GIS_SITES.get(city.country, TWO_GIS_SITES["KZ"])
    project = _project(city)
    path = f"/{project}/search/" if project else "/search/"
    return MapLinks(
        query=query,
        # the query is one path segment: a «/» or «?» in an address must not end it
        two_gis=f"{site}{path}{quote(query, safe='')}",
        yandex=f"{YANDEX_MAPS_SITES.get(city.country, YANDEX_MAPS_SITES['KZ'])}?{urlencode({'text': query})}",
    )


def address_links(order) -> MapLinks | None:
    """The order's delivery address in its settlement."""
    return links_for(order.city, order.address)


def point_a_links(city) -> MapLinks | None:
    """The city's point A (точка А: where delivery distance is measured from, seed 000); None where the offer
    names none (Астана, Алматы, Караганда and the Kyrgyz cities)."""
    return links_for(city, city.point_a) if city is not None and city.point_a else None
