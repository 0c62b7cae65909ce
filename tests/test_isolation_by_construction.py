"""Isolation by construction: every URL of the project and every operation of the API, filled with partner A's
objects, asked by partner B (its administrator, its API key, and staff who serve partner B only).

Each answer is 404, 403 or the way to the login page, and carries nothing of A's; A's rows are unchanged; the
owner (A, or company staff for staff pages) does reach every object URL, so the check is not vacuous. A new URL
is covered without a word here; one whose argument names an object the catalogue cannot make fails until
`tests/url_catalogue.py` learns to make it (or the pattern goes into its EXEMPT_ARGUMENTS with a reason).

The world is the demo data set plus partner B (see `tests/url_catalogue.py`), built once for the module."""

import io
import re
from urllib.parse import urlsplit

import openpyxl
import pytest
from django.db import models, transaction
from django.urls import reverse

from tests.url_catalogue import EXEMPT_ARGUMENTS, build_world, fill, object_for, rolled_back, routes

# Object pages that several partners share, which staff serving partner B may open (they see B's rows only)
SHARED_WITH_STAFF = {
    "callcenter/registries/<int:registry_id>/": "a city's delivery registry holds every partner delivered there",
}
# What a POST to an object URL carries (the intruder's and the owner's), where an empty form would stop short of it
POST_BODIES = {
    "orders/<int:order_id>/action/": {"action": "close_not_reached"},
    "delivery/stops/<int:stop_id>/route/": {"action": "down"},
}
# Patterns the intruders only GET
NOT_POSTED = {"accounts/logout/": "it would end the intruder's session for the URLs after it"}
INTRUDERS = ("user_b", "head_b", "api_b")
DENIED = {401, 403, 404}
REQUESTS = {"count": 0}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with rolled_back(django_db_blocker):
        yield build_world()


@pytest.fixture(scope="module")
def clients(world):
    made = {name: world.client(name) for name in ("owner_a", "admin", "user_b", "head_b")}
    made["api_a"] = world.api(world.api_key_a)
    made["api_b"] = world.api(world.api_key_b)
    made["api_b_test"] = world.api(world.api_key_b_test)
    made["api_a_test"] = world.api(world.api_key_a_test)
    return made


def text_of(response) -> str:
    """What a person would read in the answer: the page, the JSON, or every cell of a workbook."""
    content = (
        b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    )
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats") and content:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return "\n".join(
            " ".join("" if value is None else str(value) for value in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    return content.decode("utf-8", errors="replace")


def call(client, method: str, url: str, data=None):
    REQUESTS["count"] += 1
    if method == "get":
        return client.get(url, data or {})
    if method == "post" and not url.startswith("/api/"):
        return client.post(url, data or {})
    return client.generic(method.upper(), url, "{}", content_type="application/json")


def to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response["Location"]).path == reverse("login")


def leaks(response, world, typed=()) -> list[str]:
    """A's markers in the answer (apart from what the asker typed in itself, echoed in a filter or an error)."""
    body = text_of(response)
    return [marker for marker in world.markers if marker in body and marker not in typed]


@transaction.atomic
def _tried(client, method, url, data=None):
    """A write by the owner, undone: it shows the owner reaches the object without changing the world."""
    response = call(client, method, url, data)
    transaction.set_rollback(True)
    return response


def reached(response) -> bool:
    """The object was found and the request went on: a page, a redirect, a refused form or a conflict."""
    return response.status_code < 500 and response.status_code not in (401, 403, 404, 405)


def owner_reaches(clients, route, url: str) -> tuple[str, int] | None:
    """Who of the owner's side reaches the URL (partner A's login or key first, else the administrator)."""
    owners = (("api_a_test" if "/sandbox/" in url else "api_a"),) if route.is_api else ("owner_a", "admin")
    for who in owners:
        response = call(clients[who], "get", url)
        if response.status_code == 405:
            response = _tried(clients[who], "post", url, POST_BODIES.get(route.route))
        if reached(response):
            return who, response.status_code
    return None


def fingerprint(world) -> dict:
    """Every row of partner A (its count per model) and every field of the catalogue's objects."""
    from django.apps import apps

    partner = world.objects["partner"]
    counts = {}
    for model in apps.get_models():
        tenancy = getattr(model, "tenancy", None)
        if tenancy is None or tenancy.partner is None:
            continue
        counts[model._meta.label] = model._default_manager.filter(
            **{tenancy.partner_lookup(): partner.pk}
        ).count()
    fields = {}
    for name, obj in world.objects.items():
        values = (
            type(obj)
            ._default_manager.filter(pk=obj.pk)
            .values(*[f.attname for f in obj._meta.concrete_fields if not isinstance(f, models.FileField)])
        )
        fields[name] = values.get()
    return {"counts": counts, "fields": fields}


def changes(before: dict, after: dict) -> dict:
    found = {k: (v, after["counts"][k]) for k, v in before["counts"].items() if after["counts"][k] != v}
    for name, values in before["fields"].items():
        found.update(
            {
                f"{name}.{k}": (v, after["fields"][name][k])
                for k, v in values.items()
                if after["fields"][name][k] != v
            }
        )
    return found


def test_every_url_with_a_s_objects_is_closed_to_partner_b(world, clients, db):
    problems, covered, exempt = [], [], []
    before = fingerprint(world)
    owners, seen = {}, {}
    for route in routes():
        if route.route in EXEMPT_ARGUMENTS:
            exempt.append(route.route)
            continue
        try:
            url = fill(route, world)
        except KeyError as missing:
            problems.append(f"{route.route}: no object of partner A for the argument {missing}")
            continue
        covered.append(route.route)
        for intruder in INTRUDERS:
            answers = {
                method: call(
                    clients[intruder], method, url, POST_BODIES.get(route.route) if method == "post" else None
                )
                for method in ("get", "post")
                if method == "get" or route.route not in NOT_POSTED
            }
            for method, response in answers.items():
                if found := leaks(response, world):
                    problems.append(f"{method.upper()} {url} as {intruder}: shows {found}")
            if not route.arguments:
                continue  # a list or a form: it may answer, with nothing of A's (checked above)
            statuses = {method: response.status_code for method, response in answers.items()}
            # only the API key, anonymous to the pages, is sent to the login page; a logged-in user never is
            anonymous = intruder == "api_b" and not route.is_api
            closed = [m for m, r in answers.items() if r.status_code in DENIED or anonymous and to_login(r)]
            for method, response in answers.items():
                seen[(intruder, method, response.status_code)] = (
                    seen.get((intruder, method, response.status_code), 0) + 1
                )
            allowed_200 = intruder == "head_b" and route.route in SHARED_WITH_STAFF
            if allowed_200:
                continue
            if not closed or any(
                s not in DENIED | {405} and not (anonymous and to_login(answers[m]))
                for m, s in statuses.items()
            ):
                problems.append(f"{url} as {intruder}: {statuses}")
        if route.arguments:
            owners[url] = route
    assert changes(before, fingerprint(world)) == {}, "partner B changed partner A's rows"
    for intruder in ("user_b", "head_b"):  # still logged in: no answer above was the login page's by accident
        assert clients[intruder].get(reverse("home")).wsgi_request.user == world.users[intruder]
    for url, route in owners.items():  # last: the owner's reading may touch its rows (a key's last use)
        owners[url] = owner_reaches(clients, route, url)
        if owners[url] is None:
            problems.append(f"{url}: not even the owner reaches it, the check would be vacuous")

    assert problems == [], "\n".join(problems)
    assert len(covered) > 120 and all(who for who in owners.values())
    print(
        f"\nURL patterns: {len(covered)} covered ({len(owners)} with objects), exempt: {exempt}, "
        f"requests so far: {REQUESTS['count']}, answers on object URLs: {sorted(seen.items())}"
    )


def api_operations():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method in operations:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method


def test_every_api_operation_with_a_s_ids_is_404_to_b_s_keys(world, clients, db):
    problems, operations, owned = [], [], []
    before = fingerprint(world)
    for path, method in api_operations():
        operations.append((method, path))
        arguments = re.findall(r"{(\w+)}", path)
        try:
            url = re.sub(r"{(\w+)}", lambda m, path=path: str(object_for(m.group(1), path, world).pk), path)
        except KeyError as missing:
            problems.append(f"{method.upper()} {path}: no object of partner A for {missing}")
            continue
        for intruder in ("api_b", "api_b_test"):
            response = call(clients[intruder], method, url)
            if found := leaks(response, world):
                problems.append(f"{method.upper()} {url} as {intruder}: shows {found}")
            live_on_sandbox = "/sandbox/" in path and intruder == "api_b" and response.status_code == 403
            if arguments and response.status_code != 404 and not live_on_sandbox:
                problems.append(f"{method.upper()} {url} as {intruder}: {response.status_code}, expected 404")
        if arguments:
            owned.append((method, path, url))
    assert changes(before, fingerprint(world)) == {}
    for method, path, url in owned:  # last: the owner's reading may touch its rows (a key's last use)
        owner_key = clients["api_a_test" if "/sandbox/" in path else "api_a"]
        owner = call(owner_key, "get", url) if method == "get" else _tried(owner_key, method, url)
        if not reached(owner):
            problems.append(f"{method.upper()} {url}: partner A's own key gets {owner.status_code}")

    assert problems == [], "\n".join(problems)
    assert len(operations) > 15
    print(f"\nAPI operations: {len(operations)}, requests so far: {REQUESTS['count']}")


# -- foreign ids smuggled in bodies, query strings, choices, exports, tasks, cached replies ----------------------------
# (the cabinet's order form with a foreign product: tests/orders/test_views.py::
# test_create_form_refuses_a_smuggled_foreign_product; a foreign SKU in the API: tests/integrations/test_api_orders.py)


def _a_orders(world) -> dict:
    from orders.models import Order

    return dict(Order.objects.filter(partner=world.objects["partner"]).values_list("pk", "status"))


def _agreed_for_a_day_without_registry(world):
    """A's order agreed for a day whose Almaty registry is not built yet (building it would move the order)."""
    from datetime import timedelta

    from django.utils import timezone

    from callcenter import services as calls
    from callcenter.models import Outcome
    from orders.models import Order
    from orders.services import order_send
    from tests.factories import make_order

    logist = world.users["logist"]
    order = make_order(
        world.objects["partner"], product=world.objects["product"], customer_name="Согласованный А"
    )
    order_send(order=order, actor=world.users["head"])
    calls.call_dial(actor=logist, order=order)
    calls.call_outcome(
        actor=logist,
        order=order,
        outcome=Outcome.AGREED,
        agreed_date=timezone.localdate() + timedelta(days=6),
        address_confirmed=True,
        sum_confirmed=True,
        goods_confirmed=True,
    )
    order = Order.objects.get(pk=order.pk)
    assert order.status == "delivery_agreed"
    return order


def test_b_s_writes_naming_a_s_objects_are_refused_and_change_nothing(world, clients, db):
    import json

    from geography.models import Warehouse
    from orders.models import OrderItem
    from warehouses.models import Transfer

    a, b = world.objects["partner"], world.objects["partner_b"]
    agreed = _agreed_for_a_day_without_registry(world)
    before, orders_before = fingerprint(world), _a_orders(world)
    transfers_before = Transfer.objects.filter(partner=a).count()
    body = {
        "external_id": "B-SMUGGLED",
        "customer_name": "Покупатель Б",
        "phone": "+7 701 222 33 44",
        "city": "Алматы",
        "address": "ул. Абая, 1",
        "delivery_kind": "express",
        "items": [{"sku": world.objects["product"].sku, "quantity": 1, "price": "1000"}],
    }
    api_order = clients["api_b"].post("/api/v1/orders/", json.dumps(body), content_type="application/json")
    head_b = clients["head_b"]
    answers = {
        "API order with A's SKU": api_order,
        "a return of A's goods": head_b.post(
            reverse("warehouses:return_create"),
            {
                "partner": a.pk,
                "origin": Warehouse.objects.get(city__name="Алматы").pk,
                "lines-product_0": world.objects["product"].pk,
                "lines-quantity_0": "1",
            },
        ),
        "Almaty's registry (A's agreed orders)": head_b.post(
            reverse("callcenter:registry_build"),
            {
                "warehouse": Warehouse.objects.get(city__name="Алматы").pk,
                "date": agreed.delivery_date.isoformat(),
            },
        ),
        "supply planned for every partner": head_b.post(reverse("warehouses:plan_supply")),
        "a bulk move of A's order": head_b.post(
            reverse("orders:bulk"), {"action": "send", "order": [world.objects["order"].pk]}
        ),
        "A's rules": head_b.post(reverse("orders:partner_rules", args=[a.pk]), {"max_discount": "99999"}),
    }

    assert api_order.status_code == 400 and "items[0].sku" in api_order.json()["error"]["details"]
    assert not OrderItem.objects.filter(order__partner=b, product__partner=a).exists()
    for what, response in answers.items():
        assert response.status_code in (302, 400, 403, 404) or "errorlist" in response.content.decode(), what
        assert not leaks(response, world, typed=[world.objects["product"].sku]), what
    assert Transfer.objects.filter(partner=a).count() == transfers_before
    assert _a_orders(world) == orders_before
    assert changes(before, fingerprint(world)) == {}


def test_filters_with_a_s_ids_show_b_nothing_of_a(world, clients, db):
    a, product = world.objects["partner"], world.objects["product"]
    asks = [
        ("user_b", reverse("orders:list"), {"partner": a.pk}),
        ("user_b", reverse("orders:list"), {"product": product.sku, "q": world.objects["order"].pk}),
        ("head_b", reverse("orders:list"), {"partner": a.pk}),
        ("head_b", reverse("orders:export"), {"partner": a.pk}),
        ("user_b", reverse("warehouses:stock"), {"partner": a.pk, "product": product.pk}),
        ("head_b", reverse("warehouses:stock"), {"partner": a.pk}),
        ("user_b", reverse("warehouses:transfers"), {"partner": a.pk}),
        ("user_b", reverse("billing:payouts"), {"partner": a.pk}),
        ("head_b", reverse("billing:balance"), {"partner": a.pk}),
        ("user_b", reverse("callcenter:scripts"), {"partner": a.pk}),
        ("user_b", reverse("billing:service_levels"), {"partner": a.pk}),
        ("head_b", reverse("billing:service_levels"), {"partner": a.pk}),
        ("head_b", reverse("billing:survey_results"), {"partner": a.pk}),
        ("head_b", reverse("billing:survey_follow_ups"), {"partner": a.pk}),
        ("api_b", "/api/v1/orders/", {"external_id": "A-SECRET-0001"}),
        ("api_b", "/api/v1/products/", {"sku": product.sku}),
        ("api_b", "/api/v1/stock/", {"product": product.sku}),
        ("api_b", "/api/v1/stock/movements/", {"product": product.sku}),
        ("api_b", "/api/v1/balance/entries/", {"partner": a.pk}),
    ]
    for who, url, params in asks:
        response = clients[who].get(url, params)
        assert response.status_code < 500, (who, url)
        assert not leaks(response, world, typed=[str(v) for v in params.values()]), (who, url, params)
    # the same filters answer the owner (the check is not vacuous)
    assert shows_a(clients["owner_a"].get(reverse("orders:list"), {"product": product.sku}), world)
    assert shows_a(clients["api_a"].get("/api/v1/products/", {"sku": product.sku}), world)


def shows_a(response, world) -> bool:
    """The owner gets a page showing A's markers (the same ask of B above would have found them)."""
    return response.status_code == 200 and bool(leaks(response, world))


def test_b_s_forms_offer_none_of_a_s_choices(world, clients, db):
    a, product = world.objects["partner"], world.objects["product"]
    pages = [
        ("user_b", reverse("orders:create")),
        ("user_b", reverse("integrations:connector_new")),
        ("head_b", reverse("warehouses:return_create")),
        ("head_b", reverse("orders:create")),
        ("head_b", reverse("orders:list")),
    ]
    for who, url in pages:
        response = clients[who].get(url)
        assert response.status_code == 200, (who, url)
        options = re.findall(r'<option value="(\d+)"[^>]*>([^<]*)<', response.content.decode())
        named = {text.strip() for _value, text in options}
        assert a.name not in named and product.name not in named, (who, url)
        assert not leaks(response, world), (who, url)
    owner_form = clients["admin"].get(reverse("warehouses:return_create")).content.decode()
    assert a.name in owner_form  # the administrator is offered partner A: the pattern above does find names


def test_the_admin_site_is_closed_to_partners_and_scoped_staff(world, clients, db):
    for who in ("user_b", "head_b"):
        for url in (
            "/admin/",
            "/admin/core/partner/",
            f"/admin/core/partner/{world.objects['partner'].pk}/change/",
        ):
            response = clients[who].get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (who, url)
    assert clients["admin"].get("/admin/core/partner/").status_code == 200


def test_b_s_exports_hold_b_s_rows_and_none_of_a_s(world, clients, db):
    exports = [
        ("user_b", reverse("orders:export"), "B-0001"),
        ("user_b", reverse("billing:statement"), None),
        ("user_b", reverse("warehouses:stock") + "?format=xlsx", None),
        ("user_b", reverse("integrations:excel_template"), None),
        ("head_b", reverse("orders:export"), "B-0001"),
    ]
    for who, url, own in exports:
        response = clients[who].get(url)
        assert response.status_code == 200, (who, url)
        body = text_of(response)
        assert not [m for m in world.markers if m in body], (who, url)
        if own:
            assert own in body, (who, url)  # B's own row is there: the export is not simply empty
    assert shows_a(clients["owner_a"].get(reverse("orders:export")), world)


def test_the_task_releasing_waiting_orders_keeps_to_the_partner_it_is_given(world, db):
    from geography.models import Warehouse
    from orders.models import Order
    from warehouses.tasks import release_waiting

    waiting = Order.objects.filter(partner=world.objects["partner"], status="awaiting_stock")
    assert waiting.exists()
    for warehouse in Warehouse.objects.filter(pk__in=waiting.values("city__warehouse")):
        release_waiting(warehouse.pk, partner_id=world.objects["partner_b"].pk)
    assert (
        Order.objects.filter(pk__in=waiting.values("pk"), status="awaiting_stock").count() == waiting.count()
    )


def test_a_s_idempotency_key_and_body_replay_nothing_of_a_s_to_b(world, clients, db):
    import json

    body = json.dumps(
        {
            "external_id": "A-IDEM-1",
            "customer_name": "Зульфия Секретова",
            "phone": "+7 701 999 88 77",
            "city": "Алматы",
            "address": "ул. Абая, 2",
            "delivery_kind": "express",
            "items": [{"sku": "B-1", "quantity": 1, "price": "1000"}],
        }
    )
    first = clients["api_a"].post(
        "/api/v1/orders/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-a"
    )
    again = clients["api_b"].post(
        "/api/v1/orders/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-a"
    )

    assert first.status_code == 400  # A has no product B-1: A's own (error) reply is cached under k-a
    assert "Idempotent-Replayed" not in again and again.status_code == 201  # B's own order, not A's reply
    assert again.json()["id"] and again.content != first.content
