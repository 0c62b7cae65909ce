"""The API's rate limit per key (`integrations.api.throttling`): DRF's sliding window, kept as a Redis sorted set and
checked in one round trip. The key's budget, a refusal that is not counted, the wait it names, and a Redis that
fails letting the request through."""

import pytest
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from integrations.api import throttling
from integrations.api_keys import api_key_create

from .conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min", "api_key_bulk": "3/min"},
    }
    api_settings.reload()
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    yield
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "1200/min", "api_key_bulk": "120/min"},
    }
    api_settings.reload()
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def _counted(issued) -> int:
    key = cache.make_and_validate_key(f"throttle_api_key_{issued.record.prefix}")
    return cache._cache.get_client().zcard(key)


def test_a_key_gets_its_rate_a_refusal_is_not_counted_and_names_the_wait(partner_a, three_a_minute):
    issued = api_key_create(partner=partner_a, name="CRM")
    api = ApiClient(issued.key)

    statuses = [api.get("/api/v1/orders/").status_code for _ in range(3)]
    refused = [api.get("/api/v1/orders/") for _ in range(2)]

    assert statuses == [200, 200, 200]
    assert [answer.status_code for answer in refused] == [429, 429]
    assert 55 <= int(refused[-1]["Retry-After"]) <= 60  # until the first of the three leaves the minute
    assert _counted(issued) == 3  # the refused requests took nothing of the budget


def test_a_redis_that_fails_lets_the_request_through(partner_a, three_a_minute, monkeypatch):
    class Down:
        def pipeline(self, **kwargs):
            raise RedisConnectionError("down")

    monkeypatch.setattr(throttling, "_redis", lambda: Down())
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)

    assert [api.get("/api/v1/orders/").status_code for _ in range(5)] == [200] * 5
