"""Idempotency-Key after Stripe and the IETF draft: replay, 422 on reuse, 409 in flight, per partner and mode.

The connection of a request dropped mid-way (the key free at once, the retry getting the real outcome):
tests/test_faults.py."""

from datetime import timedelta

import pytest
import requests
import time_machine
from django.utils import timezone

from integrations.api.idempotency import lock_id, purge_expired
from integrations.api_keys import api_key_create
from integrations.models import IdempotencyRecord
from orders.models import Order
from tests.concurrency import run_in_parallel
from tests.factories import PartnerFactory, ProductFactory
from tests.faults_support import raw_connection
from tests.integrations.conftest import api_order

pytestmark = pytest.mark.django_db


def test_same_key_and_body_replays_the_first_response_byte_for_byte(api_a):
    first = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-1")
    second = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_a_refused_request_is_not_stored_and_its_corrected_version_runs_with_the_same_key(api_a):
    """Stripe's rule: parameters that fail validation save nothing under the key. The documented client keys an
    order `order-<external_id>`; its corrected version must not be blocked for 48 hours."""
    refused = api_a.post("/api/v1/orders/", api_order(phone="bad"), HTTP_IDEMPOTENCY_KEY="order-CRM-1")
    corrected = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="order-CRM-1")
    retry = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="order-CRM-1")

    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "validation_error")
    assert "Idempotent-Replayed" not in refused
    assert corrected.status_code == 201, corrected.content
    assert "Idempotent-Replayed" not in corrected
    assert (retry.status_code, retry["Idempotent-Replayed"], retry.content) == (
        201,
        "true",
        corrected.content,
    )
    assert list(Order.objects.values_list("external_id", flat=True)) == ["CRM-1"]
    assert list(IdempotencyRecord.objects.values_list("key", "response_status")) == [("order-CRM-1", 201)]


def test_a_refused_request_sent_again_runs_again(api_a):
    first = api_a.post("/api/v1/orders/", api_order(phone="bad"), HTTP_IDEMPOTENCY_KEY="k-err")
    second = api_a.post("/api/v1/orders/", api_order(phone="bad"), HTTP_IDEMPOTENCY_KEY="k-err")

    assert first.status_code == second.status_code == 400
    assert second.content == first.content
    assert "Idempotent-Replayed" not in second
    assert not IdempotencyRecord.objects.exists()


def test_an_outcome_of_execution_like_order_exists_is_stored_and_replayed(api_a):
    """A 409 `order_exists` is what running the request found (the order number is taken): replayed like a 201."""
    api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="first")

    exists = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="second")
    replay = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="second")

    assert (exists.status_code, exists.json()["error"]["code"]) == (409, "order_exists")
    assert (replay.status_code, replay["Idempotent-Replayed"], replay.content) == (
        409,
        "true",
        exists.content,
    )
    assert sorted(IdempotencyRecord.objects.values_list("key", "response_status")) == [
        ("first", 201),
        ("second", 409),
    ]


def test_same_key_with_another_body_is_422(api_a):
    api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-2")

    response = api_a.post("/api/v1/orders/", api_order(external_id="OTHER"), HTTP_IDEMPOTENCY_KEY="k-2")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert not Order.objects.filter(external_id="OTHER").exists()


def test_a_duplicate_while_the_first_is_in_flight_is_409(api_a, partner_a):
    # the first request holds the key (its transaction's advisory lock) and is still working on it
    session = raw_connection()
    try:
        session.execute(
            "SELECT pg_advisory_lock(%s)", [lock_id(partner_id=partner_a.pk, is_test=False, key="k-3")]
        )

        response = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-3")
    finally:
        session.close()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_flight"
    assert not Order.objects.exists() and not IdempotencyRecord.objects.exists()


def test_a_sandbox_key_and_a_live_key_never_share_an_idempotency_key(api_a, api_a_test, partner_a):
    """A CRM that tested in the sandbox goes live with the same key scheme (and the same order numbers)."""
    ProductFactory(partner=partner_a, sku="A-1", name="Тестовый утюг", price=1, is_test=True)
    sandbox = api_a_test.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="order-CRM-1")

    live = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="order-CRM-1")
    live_again = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="order-CRM-1")
    sandbox_again = api_a_test.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="order-CRM-1")

    assert (sandbox.status_code, sandbox.json()["is_test"]) == (201, True)
    assert (live.status_code, live.json()["is_test"]) == (201, False), live.content
    assert "Idempotent-Replayed" not in live
    assert live.json()["id"] != sandbox.json()["id"]
    assert live_again.content == live.content and sandbox_again.content == sandbox.content
    assert sorted(Order.objects.values_list("external_id", "is_test")) == [("CRM-1", False), ("CRM-1", True)]
    assert sorted(IdempotencyRecord.objects.values_list("key", "is_test")) == [
        ("order-CRM-1", False),
        ("order-CRM-1", True),
    ]


def test_keys_belong_to_one_partner(api_a, api_b):
    a = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="shared")
    b = api_b.post(
        "/api/v1/orders/", api_order(items=[{"sku": "B-1", "quantity": 1}]), HTTP_IDEMPOTENCY_KEY="shared"
    )

    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "Idempotent-Replayed" not in b


def test_replies_are_kept_at_least_a_day(api_a):
    api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-5")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=47))

    assert purge_expired() == 0
    assert (
        api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-5")["Idempotent-Replayed"]
        == "true"
    )
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=49))
    assert purge_expired() == 1


def test_a_reply_older_than_48_hours_is_never_replayed_even_before_the_purge(api_a):
    """Replies were replayed until the purge task happened to run, not for 48 hours: a key past its 48 hours is
    new again (its row replaced under the key's lock), whether or not the purge has run."""
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-old")
    with time_machine.travel(start + timedelta(hours=48), tick=False):
        kept = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-old")
    with time_machine.travel(start + timedelta(hours=48, seconds=1), tick=False):
        same_body = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="k-old")
        other_body = api_a.post(
            "/api/v1/orders/", api_order(external_id="CRM-2"), HTTP_IDEMPOTENCY_KEY="k-old"
        )

    assert (first.status_code, kept.status_code, kept["Idempotent-Replayed"]) == (201, 201, "true")
    assert kept.content == first.content
    # executed again: the order number is taken (a stored outcome), which now stands under the key …
    assert "Idempotent-Replayed" not in same_body
    assert (same_body.status_code, same_body.json()["error"]["code"]) == (409, "order_exists")
    # … until it too is 48 hours old: another request with the key within them is a reuse
    assert (other_body.status_code, other_body.json()["error"]["code"]) == (422, "idempotency_key_reused")
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.response_status, record.created_at) == (
        "k-old",
        409,
        start + timedelta(hours=48, seconds=1),
    )
    assert list(Order.objects.values_list("external_id", flat=True)) == ["CRM-1"]


def test_invalid_keys_are_refused(api_a):
    response = api_a.post("/api/v1/orders/", api_order(), HTTP_IDEMPOTENCY_KEY="x" * 300)

    assert response.status_code == 400
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_requests_at_once_over_http_create_one_order(live_server, reference_data):
    partner = PartnerFactory()
    ProductFactory(partner=partner, sku="A-1")
    key = api_key_create(partner=partner, name="race").key
    body = api_order(external_id="RACE-HTTP")

    def send(index):
        response = requests.post(
            f"{live_server.url}/api/v1/orders/",
            json=body,
            timeout=30,
            headers={"Authorization": f"Api-Key {key}", "Idempotency-Key": "same-key"},
        )
        return response.status_code, response.content

    results = run_in_parallel(send, 20)

    statuses = sorted(status for status, _content in results)
    assert Order.objects.filter(partner=partner, external_id="RACE-HTTP").count() == 1
    assert set(statuses) <= {201, 409}
    created = [content for status, content in results if status == 201]
    assert len(set(created)) == 1  # every 201 is the same bytes: the first reply or its replay


@pytest.mark.django_db(transaction=True)
def test_twenty_identical_requests_without_a_key_still_create_one_order(live_server, reference_data):
    partner = PartnerFactory()
    ProductFactory(partner=partner, sku="A-1")
    key = api_key_create(partner=partner, name="race").key

    def send(index):
        return requests.post(
            f"{live_server.url}/api/v1/orders/",
            json=api_order(external_id="RACE-2"),
            timeout=30,
            headers={"Authorization": f"Api-Key {key}"},
        ).status_code

    statuses = sorted(run_in_parallel(send, 20))

    assert statuses == [201] + [409] * 19
    assert Order.objects.filter(partner=partner, external_id="RACE-2").count() == 1
