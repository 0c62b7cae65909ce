"""A client generated from the live schema works as it is (issue 17 item 3): openapi-python-client makes a Python
package from /api/v1/schema/ of a running server, without network and without any hand edit, and that package
creates, bulk-creates, lists with filters and cursor pages, reads the history of, cancels an order and reads the
stock and the balance with a Bearer key, every answer parsed into its documented model."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from geography.models import City
from integrations.api_keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "kl_generated_client"


@pytest.fixture
def generated(live_server, tmp_path):
    """The package generated from the served schema, imported; forgotten afterwards."""
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code as generated
    generator = Path(sys.executable).parent / "openapi-python-client"
    done = subprocess.run(
        [
            str(generator),
            "generate",
            "--url",
            f"{live_server.url}/api/v1/schema/?format=json",
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, (
        done.stdout + done.stderr
    )  # nothing of the schema dropped
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(package, name):
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def test_a_generated_client_drives_the_api(generated, live_server, partner_a, product_a):
    models = importlib.import_module(f"{PACKAGE}.models")
    key = api_key_create(partner=partner_a, name="generated client").key
    client = generated.AuthenticatedClient(
        base_url=live_server.url, token=key, raise_on_unexpected_status=True
    )
    orders_create = _api(generated, "orders.orders_create")
    almaty = City.objects.get(name="Алматы")

    def order(external_id, **fields):
        return models.OrderInRequest(
            external_id=external_id,
            customer_name="Айдана Серикова",
            city=fields.pop("city", "Алматы"),
            address="пр. Абая, 1",
            items=[models.OrderItemInRequest(sku="A-1", quantity=1)],
            **fields,
        )

    created = orders_create.sync_detailed(client=client, body=order("GEN-1", phone="+7 701 111 22 33"))
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, models.OrderOut) and created.parsed.city.name == "Алматы"
    assert created.parsed.status == models.StatusEnum.TO_SEND

    again = orders_create.sync_detailed(
        client=client, body=order("GEN-1", phone="+7 701 111 22 33"), idempotency_key="gen-1"
    )
    assert again.status_code == 409 and isinstance(again.parsed, models.OrderExistsError)
    assert again.parsed.error.code == "order_exists" and again.parsed.error.details.id == created.parsed.id
    assert again.parsed.error.details.order.external_id == "GEN-1"
    replay = orders_create.sync_detailed(
        client=client, body=order("GEN-1", phone="+7 701 111 22 33"), idempotency_key="gen-1"
    )
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (409, "true")

    bulk = _api(generated, "orders.orders_bulk_create").sync(
        client=client,
        body=models.BulkOrdersInRequest(
            orders=[
                order("GEN-2", phones=["+7 701 111 22 34"], city=almaty.pk),
                order("GEN-3", phone="+7 701 111 22 35"),
                order("GEN-4"),  # no phone: refused, the others kept
            ]
        ),
    )
    assert isinstance(bulk, models.BulkResponse)
    assert (bulk.created, bulk.failed) == (2, 1)
    assert [row.result for row in bulk.results] == [models.ResultEnum.CREATED] * 2 + [models.ResultEnum.ERROR]

    orders_list = _api(generated, "orders.orders_list")
    seen, cursor = [], importlib.import_module(f"{PACKAGE}.types").UNSET
    while True:
        page = orders_list.sync(
            client=client,
            status=[models.OrdersListStatusItem.TO_SEND, models.OrdersListStatusItem.CALLING],
            city="Алматы",
            page_size=2,
            cursor=cursor,
        )
        assert isinstance(page, models.OrderPage) and len(page.results) <= 2
        seen += [row.external_id for row in page.results]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == ["GEN-3", "GEN-2", "GEN-1"]
    assert orders_list.sync(client=client, status=[models.OrdersListStatusItem.PAID]).results == []
    refused = orders_list.sync_detailed(client=client, page_size=501)
    assert refused.status_code == 400 and refused.parsed.error.code == "validation_error"

    history = _api(generated, "orders.orders_history").sync(order_id=created.parsed.id, client=client)
    assert [row.action for row in history] == ["create"]

    cancelled = _api(generated, "orders.orders_cancel").sync(
        order_id=created.parsed.id, client=client, body=models.CancelInRequest(reason="передумал")
    )
    assert isinstance(cancelled, models.OrderOut) and cancelled.status == models.StatusEnum.CANCELLED
    refused = _api(generated, "orders.orders_cancel").sync_detailed(
        order_id=created.parsed.id, client=client, body=models.CancelInRequest()
    )
    assert refused.status_code == 409 and isinstance(refused.parsed, models.NotAllowedError)
    assert refused.parsed.error.details.status == models.StatusEnum.CANCELLED

    stock = _api(generated, "stock.stock_list").sync(client=client, city="Алматы")
    assert isinstance(stock, list) and all(isinstance(row, models.StockRow) for row in stock)
    (balance,) = _api(generated, "balance.balance").sync(client=client)
    assert isinstance(balance, models.Balance) and balance.currency == partner_a.currency
