"""The documented CRM example (docs/examples/crm_client.py) works against a live server."""

import importlib.util
import json
import time
from pathlib import Path

import pytest
from django.utils import timezone

from integrations import webhooks
from integrations.api_keys import api_key_create
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.services import order_send
from tests.factories import PartnerFactory, ProductFactory, UserFactory, put_stock

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "crm_client.py"


def _example():
    spec = importlib.util.spec_from_file_location("crm_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_documented_client_creates_follows_and_cancels(live_server, reference_data):
    partner = PartnerFactory()
    put_stock(ProductFactory(partner=partner, sku="ART-1", price=15000), "Алматы", 5)
    head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
    crm = _example().KetLogistic(live_server.url, api_key_create(partner=partner, name="crm").key)
    order = {
        "external_id": "CRM-10001",
        "customer_name": "Айгерим Сапарова",
        "phone": "+7 701 123 45 67",
        "city": "Алматы",
        "address": "ул. Абая, 10",
        "items": [{"sku": "ART-1", "quantity": 1}],
    }
    since = timezone.now().isoformat()

    status, created = crm.create_order(order)
    replay_status, replayed = crm.create_order(order)
    bulk = crm.create_orders([{**order, "external_id": f"CRM-{n}"} for n in range(2, 5)])
    order_send(order=Order.objects.get(pk=created["id"]), actor=head)
    changes = list(crm.changed_since(since))
    cancel_status, _body = crm.cancel(created["id"])

    assert (status, replay_status, replayed) == (201, 201, created)
    assert bulk["created"] == 3
    assert [c["id"] for c in changes][-1] == created["id"] and changes[-1]["status"] == "calling"
    assert cancel_status == 409


def test_the_documented_signature_check_accepts_ours():
    body = json.dumps({"id": "evt", "type": "order.created"}).encode()
    header = webhooks.sign("whsec_doc", int(time.time()), body)

    assert _example().verify_webhook("whsec_doc", header, body)
    assert not _example().verify_webhook("whsec_doc", header, body + b"x")
