"""Every page and API list without arguments takes the same number of queries whatever the number of rows.

The volume generator fills every app (orders, items, phones, history, calls, stock, collections, ledger, runs);
each URL pattern is opened by a user of each kind, the queries counted; the data grows (a second batch); the
counts must not change. New URLs are covered automatically; an exemption needs its reason below."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

from integrations.api_keys import api_key_create
from ketlogistic.core.models import Partner, StaffScope, User
from ketlogistic.core.roles import Role
from setup.volume import generate

pytestmark = pytest.mark.django_db

EXEMPT = {
    "accounts/logout/": "logs the user out (POST only)",
    "accounts/password_reset/done/": "a static page",
    "accounts/reset/done/": "a static page",
    "i18n/setlang/": "switches the language (POST only)",
    "api/v1/schema/": "the OpenAPI document: no rows",
    "api/v1/docs/": "the API docs page: no rows",
    "callcenter/next/": "takes a customer (a write), measured by the call-center tests and the benchmark",
    "callcenter/telephony/webhook/": "the PBX's signed webhook (POST only)",
    "healthz": "pings the database and the broker",
    "delivery/my/": "a courier's route: counted in tests/delivery/test_pages.py",
}


def _routes(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue  # Django's admin, not ours
            yield from _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and "<" not in route and "(?P" not in route:
            yield route


def _count(client, url, **headers):
    # the log the capture reads keeps the last 9 000 queries: counted from empty, a long run never fills it (a full
    # log counts every later request as none)
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    return response.status_code, len(queries.captured_queries)


def _readers():
    """One logged-in client per kind of reader: a partner, company-wide staff, scoped staff."""
    from tests.second_factor import sign_in

    partner = Partner.objects.filter(name__startswith="Объём-").order_by("pk").first()
    readers = {"partner": User.objects.get(username="volume_01")}
    for role in (
        Role.SUPERVISOR,
        Role.FINANCE_DIRECTOR,
        Role.WAREHOUSE,
        Role.COURIER_ADMIN,
        Role.QUALITY_CONTROL,
    ):
        readers[role] = User.objects.create_user(f"reader_{role}", password="x", role=role)
    head = User.objects.create_user("reader_head", password="x", role=Role.HEAD_OF_DEPARTMENT)
    StaffScope.objects.create(user=head, partner=partner, country=partner.country)
    readers["head"] = head
    readers["logist"] = User.objects.get(username="volume_logist_01")
    clients = {}
    for name, user in readers.items():
        clients[name] = sign_in(user)
    return clients, partner


def _rest(partner, count: int) -> None:
    """Rows the generator does not make: payouts, questions in the orders' discussions, and calls due now (the
    generator's calling orders wait for their next call, so the queue's list would be empty at first and its
    page query missing: an empty page takes one query less whatever the code)."""
    from datetime import timedelta

    from django.utils import timezone

    from billing import payouts
    from callcenter.models import CallState

    due = list(CallState.objects.filter(is_calling=True).order_by("-pk").values_list("pk", flat=True)[:count])
    CallState.objects.filter(pk__in=due).update(next_call_at=timezone.now() - timedelta(minutes=1))
    from orders.models import Order
    from orders.services import discussion_post

    owner = User.objects.get(username="volume_01")
    logist = User.objects.get(username="volume_logist_01")
    for _n in range(count):
        payouts.payout_request(
            actor=owner, amount="1", currency=partner.currency, method="webmoney", details="R123456789012"
        )
    for order in Order.objects.filter(partner=partner).order_by("-id")[:count]:
        discussion_post(actor=logist, order=order, text=f"Вопрос по заказу {order.pk}")


def test_every_list_takes_the_same_queries_for_more_rows(round_the_clock):
    # every hour a working one: the desk counts the due customers at any hour (outside working hours it would
    # count nothing, and a measurement on each side of 09:00 or 18:00 would differ)
    # few rows at first (less than a page of any list), then many: an N+1 shows as more queries
    generate(orders=15, partners=3, weeks=3, products=4)
    clients, partner = _readers()
    _rest(partner, 2)
    key = api_key_create(partner=partner, name="counts").key
    from django.test import Client

    api = Client()
    routes = [r for r in _routes(get_resolver().url_patterns) if r not in EXEMPT]
    api_routes = [r for r in routes if r.startswith("api/v1/")]
    page_routes = [r for r in routes if not r.startswith("api/v1/")]

    def measure():
        counts = {}
        for name, client in clients.items():
            for route in page_routes:
                _count(client, f"/{route}")  # warm: sessions, caches, lazy settings
                counts[(name, route)] = _count(client, f"/{route}")
        for route in api_routes:
            _count(api, f"/{route}", HTTP_AUTHORIZATION=f"Api-Key {key}")
            counts[("api", route)] = _count(api, f"/{route}", HTTP_AUTHORIZATION=f"Api-Key {key}")
        return counts

    few = measure()
    generate(orders=200, partners=3, weeks=3, products=4)  # more than a page of every list
    _rest(partner, 60)
    many = measure()

    grown = {where: (few[where], many[where]) for where in few if few[where] != many[where]}
    assert grown == {}
    opened = [where for where, (status, _n) in many.items() if status == 200]
    assert len(opened) > 60  # the check is not vacuous: most lists answered with rows
    assert ("partner", "orders/") in opened and ("api", "api/v1/orders/") in opened
