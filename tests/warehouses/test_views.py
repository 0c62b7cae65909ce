"""Warehouse pages and the stock API: reports, documents, photos, isolation on every URL."""

import io

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.api_keys import api_key_create
from ketlogistic.core.roles import Role
from tests.factories import ProductFactory, put_stock
from tests.integrations.conftest import ApiClient
from tests.isolation import assert_hidden, assert_isolated
from tests.warehouses.conftest import photo
from warehouses import transfers
from warehouses.models import Transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(partner_a, product_a, main, almaty, keeper):
    put_stock(product_a, "Астана", 30)
    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 10)]
    )
    return transfers.transfer_ship(actor=keeper, transfer=transfer)


def test_partner_sees_its_stock_by_city_and_country(client_a, product_a, partner_b):
    put_stock(product_a, "Алматы", 7)
    put_stock(product_a, "Шымкент", 3)
    put_stock(ProductFactory(partner=partner_b, name="Чужой пылесос"), "Алматы", 9)

    response = client_a.get(reverse("warehouses:stock"))

    body = response.content.decode()
    [row] = response.context["rows"]
    assert row.sku == product_a.sku
    assert {city: cell.free for (_c, city), cell in row.cities.items()} == {"Алматы": 7, "Шымкент": 3}
    assert "Чужой пылесос" not in body
    assert response.context["countries"][0]["country"] == "KZ"


def test_stock_shows_reserved_and_in_transit(client_a, product_a, shipped, almaty):
    response = client_a.get(reverse("warehouses:stock"))

    cells = {city: cell for (_c, city), cell in response.context["rows"][0].cities.items()}
    assert (cells["Алматы"].in_transit, cells["Астана"].free) == (10, 20)


def test_stock_filters_and_excel(client_a, product_a, partner_a):
    put_stock(product_a, "Алматы", 7)
    put_stock(ProductFactory(partner=partner_a, sku="OTHER"), "Шымкент", 1)

    filtered = client_a.get(reverse("warehouses:stock"), {"sku": product_a.sku})
    export = client_a.get(reverse("warehouses:stock"), {"format": "xlsx"})

    assert [row.sku for row in filtered.context["rows"]] == [product_a.sku]
    rows = list(
        openpyxl.load_workbook(io.BytesIO(b"".join(export.streaming_content))).active.iter_rows(
            min_row=2, values_only=True
        )
    )
    assert {(r[1], r[4], r[5]) for r in rows} == {(product_a.sku, "Алматы", 7), ("OTHER", "Шымкент", 1)}


def test_a_products_movement_history(client_a, client_b, product_a, shipped):
    url = reverse("warehouses:product_moves", args=[product_a.pk])

    response = assert_isolated(owner=client_a, intruder=client_b, url=url, leaks=[product_a.name])
    moves = client_a.get(url).context["page"].items
    assert [m.kind for m in moves] == ["ship", "adjust"]
    export = client_a.get(url, {"format": "xlsx"})
    assert (
        len(list(openpyxl.load_workbook(io.BytesIO(b"".join(export.streaming_content))).active.iter_rows()))
        == 3
    )
    assert response.status_code == 404


def test_a_sandbox_products_page_is_not_shown_in_the_cabinet(client_a, partner_a):
    sandbox = ProductFactory(partner=partner_a, sku="T-1", name="Тестовый утюг", is_test=True)

    response = client_a.get(reverse("warehouses:product_moves", args=[sandbox.pk]))

    assert response.status_code == 404
    assert "Тестовый утюг" not in response.content.decode()


def test_transfer_pages_documents_and_photo_are_isolated(client_a, client_b, shipped, keeper, login):
    line = shipped.lines.get()
    transfers.transfer_receive(actor=keeper, transfer=shipped, received={line.pk: (10, "")}, photo=photo())

    for name in ("transfer", "transfer_act"):
        assert_isolated(
            owner=client_a,
            intruder=client_b,
            url=reverse(f"warehouses:{name}", args=[shipped.pk]),
            leaks=[line.product.name],
        )
    assert client_a.get(reverse("warehouses:transfer_photo", args=[shipped.pk])).status_code == 200
    assert_hidden(client_b, reverse("warehouses:transfer_photo", args=[shipped.pk]))
    act = client_a.get(reverse("warehouses:transfer_act", args=[shipped.pk]), {"format": "xlsx"})
    assert act["Content-Type"].startswith("application/vnd.openxmlformats")
    assert str(shipped.pk) not in [
        t.pk for t in client_b.get(reverse("warehouses:transfers")).context["page"]
    ]


def test_the_photo_is_served_as_an_inert_image(client_a, shipped, keeper):
    transfers.transfer_receive(
        actor=keeper,
        transfer=shipped,
        received={shipped.lines.get().pk: (10, "")},
        photo=photo(fmt="PNG", name="p.png"),
    )

    response = client_a.get(reverse("warehouses:transfer_photo", args=[shipped.pk]))

    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert client_a.get("/media/" + Transfer.objects.get(pk=shipped.pk).receipt_photo.name).status_code == 404


def test_partners_cannot_ship_or_receive(client_a, shipped):
    response = client_a.post(reverse("warehouses:transfer", args=[shipped.pk]), {"action": "receive"})

    assert response.status_code == 403
    assert Transfer.objects.get(pk=shipped.pk).status == "shipped"


def test_warehouse_staff_ship_and_receive_through_the_pages(
    login, keeper, partner_a, product_a, main, almaty
):
    put_stock(product_a, "Астана", 5)
    transfer = transfers.transfer_create(
        actor=keeper, partner=partner_a, origin=main, destination=almaty, lines=[(product_a, 5)]
    )
    client = login(keeper)
    line = transfer.lines.get()

    client.post(
        reverse("warehouses:transfer", args=[transfer.pk]), {"action": "save", f"quantity_{line.pk}": "4"}
    )
    client.post(reverse("warehouses:transfer", args=[transfer.pk]), {"action": "ship"})
    client.post(
        reverse("warehouses:transfer", args=[transfer.pk]),
        {
            "action": "receive",
            f"received_{line.pk}": "4",
            f"reason_{line.pk}": "",
            "photo": photo(),
            "note": "ок",
        },
    )

    transfer.refresh_from_db()
    line.refresh_from_db()
    assert (transfer.status, line.shipped_quantity, line.received_quantity) == ("received", 4, 4)


def test_receipt_pages(login, keeper, client_a, client_b, partner_a, product_a):
    client = login(keeper)
    response = client.post(
        reverse("warehouses:receipt_create") + f"?partner={partner_a.pk}",
        {
            "partner": partner_a.pk,
            "lines-product_0": product_a.pk,
            "lines-quantity_0": "12",
            "expected_on": "",
            "pickup_from": "",
            "pickup_price": "",
            "note": "",
        },
    )
    receipt = partner_a.receipts.get()
    assert response.status_code == 302
    line = receipt.lines.get()
    client.post(reverse("warehouses:receipt", args=[receipt.pk]), {f"counted_{line.pk}": "12"})

    receipt.refresh_from_db()
    assert receipt.status == "received"
    assert_isolated(
        owner=client_a,
        intruder=client_b,
        url=reverse("warehouses:receipt", args=[receipt.pk]),
        leaks=[product_a.name],
    )
    assert client_a.post(reverse("warehouses:receipt", args=[receipt.pk]), {}).status_code == 403


def test_a_receipt_form_offers_only_the_chosen_partners_products(
    login, keeper, partner_a, partner_b, product_a
):
    foreign = ProductFactory(partner=partner_b, name="Товар другого")

    body = (
        login(keeper).get(reverse("warehouses:receipt_create") + f"?partner={partner_a.pk}").content.decode()
    )

    assert product_a.name in body and foreign.name not in body


def test_contract_end_is_for_heads_and_supervisors_of_the_partner(
    client_a, head, login, partner_a, partner_b, make_user
):
    url = reverse("warehouses:contract_end", args=[partner_a.pk])

    assert client_a.get(url).status_code == 403
    assert login(head).get(url).status_code == 200
    other_head = login(make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_b, "country": "KZ"}]))
    assert_hidden(other_head, url, method="post", data={"action": "start"})
    assert partner_a.__class__.objects.get(pk=partner_a.pk).status == "active"


def test_charges_page_lists_only_own_charges(client_a, client_b, partner_a, product_a, keeper):
    receipt = transfers.receipt_create(
        actor=keeper,
        partner=partner_a,
        lines=[(product_a, 1)],
        is_pickup=True,
        pickup_from="Москва",
        pickup_price=1000,
    )
    transfers.receipt_confirm(actor=keeper, receipt=receipt, counted={receipt.lines.get().pk: (1, "")})

    assert "Москва" in client_a.get(reverse("warehouses:charges")).content.decode()
    assert "Москва" not in client_b.get(reverse("warehouses:charges")).content.decode()


def test_stock_list_queries_do_not_grow_with_rows(client_a, partner_a, product_a):
    put_stock(product_a, "Алматы", 1)
    client_a.get(reverse("warehouses:stock"))  # the reference data each process keeps (cities, warehouses)
    with CaptureQueriesContext(connection) as few:
        client_a.get(reverse("warehouses:stock"))
    for index in range(10):
        put_stock(
            ProductFactory(partner=partner_a, sku=f"Q{index}"), ["Алматы", "Шымкент", "Актобе"][index % 3], 2
        )
    with CaptureQueriesContext(connection) as many:
        client_a.get(reverse("warehouses:stock"))

    assert len(many) == len(few)


def test_the_stock_api_lists_rows_in_one_order_every_time(partner_a, product_a):
    """By SKU, then country and city: a CRM comparing two reads sees no reshuffle."""
    second = ProductFactory(partner=partner_a, sku="A-0", name="Утюг")
    for product, city_name in [
        (product_a, "Шымкент"),
        (second, "Алматы"),
        (product_a, "Алматы"),
        (product_a, "Бишкек"),
        (second, "Караганда"),
        (product_a, "Астана"),
    ]:
        put_stock(product, city_name, 5)
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)

    reads = [
        [(r["sku"], r["country"], r["city"]) for r in api.get("/api/v1/stock/").json()] for _ in range(3)
    ]

    assert reads[0] == [
        ("A-0", "KZ", "Алматы"),
        ("A-0", "KZ", "Караганда"),
        ("A-1", "KG", "Бишкек"),
        ("A-1", "KZ", "Алматы"),
        ("A-1", "KZ", "Астана"),
        ("A-1", "KZ", "Шымкент"),
    ]
    assert reads[1] == reads[2] == reads[0]


def test_stock_api_and_movements_api(partner_a, partner_b, product_a, shipped):
    key_a = ApiClient(api_key_create(partner=partner_a, name="a").key)
    key_b = ApiClient(api_key_create(partner=partner_b, name="b").key)

    stock = key_a.get("/api/v1/stock/").json()
    almaty = key_a.get("/api/v1/stock/", {"city": "Алматы"}).json()
    moves = key_a.get("/api/v1/stock/movements/", {"product": product_a.sku}).json()

    assert {(r["city"], r["free"], r["in_transit"]) for r in stock} == {("Астана", 20, 0), ("Алматы", 0, 10)}
    assert almaty == [
        {
            "sku": product_a.sku,
            "name": product_a.name,
            "country": "KZ",
            "city": "Алматы",
            "free": 0,
            "reserved": 0,
            "in_transit": 10,
            "with_courier": 0,
            "in_post": 0,
        }
    ]
    assert [m["kind"] for m in moves["results"]] == ["ship", "adjust"]
    assert moves["results"][0]["to_city"] == "Алматы"
    assert key_b.get("/api/v1/stock/").json() == []
    assert key_b.get("/api/v1/stock/movements/").json()["results"] == []
    assert key_a.get("/api/v1/stock/", {"city": "Атлантида"}).status_code == 400
