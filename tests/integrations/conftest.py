import pytest
from django.test import Client

from integrations.api_keys import api_key_create
from tests.factories import ProductFactory


class ApiClient:
    """The Django test client with an API key: requests go through the whole middleware and DRF stack."""

    def __init__(self, key: str):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}

    def get(self, path, params=None, **extra):
        return self.client.get(path, params or {}, **self.headers, **extra)

    def post(self, path, data=None, raw=None, content_type="application/json", **extra):
        import json

        body = raw if raw is not None else json.dumps(data if data is not None else {}, default=str)
        return self.client.generic("POST", path, body, content_type=content_type, **self.headers, **extra)

    def patch(self, path, data, **extra):
        import json

        return self.client.generic(
            "PATCH", path, json.dumps(data), content_type="application/json", **self.headers, **extra
        )


@pytest.fixture
def api_a(partner_a, product_a):
    ProductFactory(partner=partner_a, sku="A-2", name="Утюг А", price=9000)
    return ApiClient(api_key_create(partner=partner_a, name="CRM").key)


@pytest.fixture
def api_b(partner_b):
    ProductFactory(partner=partner_b, sku="B-1", name="Товар Б", price=5000)
    return ApiClient(api_key_create(partner=partner_b, name="CRM B").key)


@pytest.fixture
def api_a_test(partner_a, product_a):
    return ApiClient(api_key_create(partner=partner_a, name="Sandbox", is_test=True).key)


def api_order(**overrides) -> dict:
    body = {
        "external_id": "CRM-1",
        "customer_name": "Айдана Серикова",
        "phone": "8 (701) 111-22-33",
        "city": "Алматы",
        "address": "пр. Абая, 1",
        "delivery_kind": "express",
        "items": [{"sku": "A-1", "quantity": 2, "price": "12500.00"}],
        "comment": "после 12",
    }
    body.update(overrides)
    return body
