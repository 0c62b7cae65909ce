"""No parameter value gives a 500: every page and API list of the catalogue, asked with a NUL byte, an encoded lone
surrogate, a 10 000-character value and the largest id in every query parameter it reads, answers below 500; a NUL
is refused with a 400 everywhere.

The parameters a URL reads are found by asking it once and recording every name its view, forms and
filters look up (`request.GET.get(...)`, django-filter's widgets, DRF's `query_params`); a fixed set of common
names is added to each. NUL is refused at the door for the whole product (`UnstorableInputMiddleware`); the other
values reach the views."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.core.handlers import wsgi
from django.http import QueryDict
from django.urls import reverse

from orders.models import Order
from tests.url_catalogue import EXEMPT_ARGUMENTS, build_world, fill, rolled_back, routes

pytestmark = pytest.mark.django_db

COMMON_NAMES = ("q", "sku", "external_id", "status", "page", "cursor", "date", "city", "partner", "country")
BAD_VALUES = {
    "NUL": "%00",
    "lone surrogate": "%ED%A0%80",
    "10 000 digits": "9" * 10_000,  # text to a text filter, a number too long for int() to an id or a count
    "the largest id": "9" * 18,  # what `params.parse_id` still takes: past any day, page or row that exists
}
NOT_SWEPT = {
    "accounts/logout/": "logs the sweeping user out",
    "callcenter/telephony/webhook/": "the PBX's webhook, POST only and signed",
}
READ_NAMES: set[str] = set()
UNREAD = "sweep-marker"


class RecordingQueryDict(QueryDict):
    """A QueryDict that notes every name looked up in it."""

    def __getitem__(self, key):
        READ_NAMES.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        READ_NAMES.add(key)
        return super().get(key, default)

    def getlist(self, key, default=None):
        READ_NAMES.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        READ_NAMES.add(key)
        return super().__contains__(key)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with rolled_back(django_db_blocker):
        yield build_world()


def _pages(world) -> list[tuple[str, object]]:
    """Every URL of the catalogue that answers a GET, with a client that reaches it (A's owner, admin or A's key)."""
    clients = {
        "owner_a": world.client("owner_a"),
        "admin": world.client("admin"),
        "api_a": world.api(world.api_key_a),
    }
    pages = []
    for route in routes():
        if route.route in NOT_SWEPT or route.route in EXEMPT_ARGUMENTS:
            continue
        url = fill(route, world)
        for who in ("api_a",) if route.is_api else ("owner_a", "admin"):
            response = clients[who].get(url)
            if response.status_code in (200, 302) and "/accounts/login/" not in response.get("Location", ""):
                pages.append((url, clients[who]))
                break
    return pages


def _names_read(client, url: str, monkeypatch) -> set[str]:
    READ_NAMES.clear()
    with monkeypatch.context() as patch:
        patch.setattr(wsgi, "QueryDict", RecordingQueryDict)
        client.get(
            f"{url}?{UNREAD}=1"
        )  # a query that is not empty binds the forms built on `request.GET or None`
    return READ_NAMES - {UNREAD}


def _status(client, url: str) -> int | str:
    try:
        return client.get(url).status_code
    except Exception as exc:  # noqa: BLE001 - the test client re-raises what would be a 500
        return f"{type(exc).__name__}: {str(exc)[:160]}"


def test_no_parameter_value_gives_a_500(world, db, monkeypatch):
    pages = _pages(world)
    orders_before = Order.objects.count()
    failures = []

    for url, client in pages:
        # every name the URL reads, one at a time; the common names all at once (a view may read the whole query)
        asked = [[name] for name in sorted(_names_read(client, url, monkeypatch))] + [list(COMMON_NAMES)]
        for names in asked:
            for kind, value in BAD_VALUES.items():
                status = _status(client, f"{url}?" + "&".join(f"{quote(name)}={value}" for name in names))
                expected = status == 400 if kind == "NUL" else isinstance(status, int) and status < 500
                if not expected:
                    failures.append(f"{url}?{'&'.join(names)[:120]} = <{kind}> → {status}")

    assert failures == []
    assert Order.objects.count() == orders_before
    # the sweep reached the product: the lists, the API and their filters
    swept = {url for url, _client in pages}
    assert {
        reverse("orders:list"),
        "/api/v1/orders/",
        "/api/v1/products/",
        reverse("warehouses:stock"),
    } <= swept
