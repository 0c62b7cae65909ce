"""Deliveries follow the Standard Webhooks specification: the official `standardwebhooks` library verifies what a
real local receiver got, the event's id survives retries, and a rotated secret keeps signing for 24 hours."""

import base64
import time
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookEndpoint
from ketlogistic.core import crypto
from tests.factories import make_order
from tests.http_servers import Recorder

pytestmark = pytest.mark.django_db


def _deliver_one(user, partner, product, receiver) -> tuple[WebhookEndpoint, str, dict]:
    endpoint, secret = webhooks.endpoint_create(
        actor=user, url=receiver.url + "/hook", events=["order.created"]
    )
    make_order(partner, product=product)
    webhooks.deliver_due()
    return endpoint, secret, receiver.requests[-1]


def _verifies(secret: str, request: dict) -> bool:
    try:
        Webhook(secret).verify(request["body"], request["headers"])
    except WebhookVerificationError:
        return False
    return True


def test_a_delivery_verifies_with_the_official_standardwebhooks_library(user_a, partner_a, product_a):
    with Recorder() as receiver:
        _endpoint, secret, request = _deliver_one(user_a, partner_a, product_a, receiver)

    payload = Webhook(secret).verify(request["body"], request["headers"])
    assert payload["type"] == "order.created"
    assert request["headers"]["webhook-id"] == payload["id"]
    assert request["headers"]["webhook-signature"].startswith("v1,")
    assert not _verifies(webhooks.new_secret(), request)


def test_the_webhook_id_is_the_event_id_on_every_retry_and_the_timestamp_is_the_attempts(
    user_a, partner_a, product_a
):
    with Recorder(responses=[(500, b"boom", "text/plain")]) as receiver:
        _endpoint, secret, first = _deliver_one(user_a, partner_a, product_a, receiver)
        later = timezone.now() + timedelta(minutes=1)
        with time_machine.travel(later):
            webhooks.deliver_due()
            second = receiver.requests[-1]
            assert _verifies(secret, second)

    event_id = str(WebhookDelivery.objects.get().event_id)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == event_id
    assert int(second["headers"]["webhook-timestamp"]) - int(first["headers"]["webhook-timestamp"]) >= 59


def test_for_24_hours_after_a_rotation_deliveries_verify_with_the_old_and_the_new_secret_then_only_the_new(
    user_a, partner_a, product_a
):
    start = timezone.now()
    with Recorder() as receiver:
        endpoint, old, _request = _deliver_one(user_a, partner_a, product_a, receiver)
        new = webhooks.endpoint_rotate_secret(actor=user_a, endpoint=endpoint)

        with time_machine.travel(start + timedelta(hours=23, minutes=50)):
            make_order(partner_a, product=product_a)
            webhooks.deliver_due()
            within = receiver.requests[-1]
            assert len(within["headers"]["webhook-signature"].split(" ")) == 2
            assert _verifies(new, within) and _verifies(old, within)

        with time_machine.travel(start + timedelta(hours=24, minutes=10)):
            make_order(partner_a, product=product_a)
            webhooks.deliver_due()
            after = receiver.requests[-1]
            assert len(after["headers"]["webhook-signature"].split(" ")) == 1
            assert _verifies(new, after) and not _verifies(old, after)

    assert new != old and len(receiver.requests) == 3


def test_the_replaced_secret_is_stored_encrypted_and_a_second_rotation_keeps_only_the_one_just_replaced(
    user_a,
):
    endpoint, first = webhooks.endpoint_create(
        actor=user_a, url="https://a.example.kz/h", events=["order.created"]
    )
    second = webhooks.endpoint_rotate_secret(actor=user_a, endpoint=endpoint)
    endpoint.refresh_from_db()
    assert first not in endpoint.previous_secret_ciphertext
    assert crypto.decrypt(endpoint.previous_secret_ciphertext) == first
    assert webhooks.signing_secrets(endpoint) == [second, first]

    third = webhooks.endpoint_rotate_secret(actor=user_a, endpoint=endpoint)
    endpoint.refresh_from_db()

    assert webhooks.signing_secrets(endpoint) == [third, second]


def test_the_library_refuses_a_tampered_body_or_a_timestamp_older_than_five_minutes(
    user_a, partner_a, product_a
):
    with Recorder() as receiver:
        _endpoint, secret, request = _deliver_one(user_a, partner_a, product_a, receiver)

    tampered = {**request, "body": request["body"].replace(b'"order.created"', b'"order.amended"')}
    assert tampered["body"] != request["body"]
    assert not _verifies(secret, tampered)
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=30)):
        assert not _verifies(secret, request)
    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        assert _verifies(secret, request)


def test_new_secrets_are_whsec_and_base64_of_32_random_bytes_which_are_the_key():
    secret = webhooks.new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)

    assert secret.startswith("whsec_") and len(key) == 32
    assert webhooks.signing_key(secret) == key
    assert webhooks.new_secret() != secret


def test_secrets_made_before_the_standard_keep_their_key_and_verify_in_their_spec_form():
    """`whsec_` + token_urlsafe(32) (43 characters, not valid base64): the key stays the whole string's bytes,
    and the official library verifies with `whsec_` + base64 of that string (what the docs tell partners)."""
    legacy = "whsec_" + "Ab-_" * 10 + "xyz"
    body, at = b'{"id":"e1"}', int(timezone.now().timestamp())
    headers = {
        "webhook-id": "e1",
        "webhook-timestamp": str(at),
        "webhook-signature": webhooks.sign(legacy, "e1", at, body),
    }

    assert webhooks.signing_key(legacy) == legacy.encode()
    assert webhooks.spec_form(legacy) == "whsec_" + base64.b64encode(legacy.encode()).decode()
    Webhook(webhooks.spec_form(legacy)).verify(body, headers)
    new = webhooks.new_secret()
    assert webhooks.spec_form(new) == new


def test_the_cabinet_shows_a_rotated_secret_whole_once_in_whsec_form(client_a, user_a):
    endpoint, _first = webhooks.endpoint_create(
        actor=user_a, url="https://a.example.kz/h", events=["order.created"]
    )

    page = client_a.post(reverse("integrations:webhook_rotate", args=[endpoint.pk]))

    secret = page.context["secret"]
    endpoint.refresh_from_db()
    assert secret.startswith("whsec_") and secret in page.content.decode()
    assert crypto.decrypt(endpoint.secret_ciphertext) == secret
    assert 'data-testid="rotation"' in page.content.decode()
    assert secret not in client_a.get(reverse("integrations:webhook", args=[endpoint.pk])).content.decode()


def test_receivers_built_on_the_earlier_signature_keep_verifying_after_the_upgrade(
    user_a, partner_a, product_a
):
    """Removing the earlier header at the upgrade would have made every existing receiver refuse every event until
    its endpoint was switched off a day later: it is still sent (deprecated), with the current secret."""
    import hashlib
    import hmac

    with Recorder() as receiver:
        _endpoint, secret, request = _deliver_one(user_a, partner_a, product_a, receiver)

    header = request["headers"]["X-KetLogistic-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    assert parts["v1"] == expected and parts["t"] == request["headers"]["webhook-timestamp"]


def test_a_forged_signature_with_non_ascii_characters_is_refused_not_a_crash():
    """`hmac.compare_digest` raises TypeError on a str holding non-ASCII characters: a forged `webhook-signature`
    crashed the check (ours and the documented example's) instead of being refused."""
    import importlib.util
    from pathlib import Path

    secret, at, body = webhooks.new_secret(), int(time.time()), b"{}"
    headers = {"webhook-id": "evt", "webhook-timestamp": str(at), "webhook-signature": "v1,é"}
    assert webhooks.verify(secret, headers, body) is False

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "crm_client.py"
    spec = importlib.util.spec_from_file_location("crm_client_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.verify_webhook(secret, headers, body) is False


def test_a_replaced_secret_is_forgotten_by_the_delivery_sweep_once_its_24_hours_are_over(user_a):
    """It signed nothing after its day but stayed stored (and re-encrypted by every key rotation) until the next
    rotation; the minute's delivery sweep now forgets it."""
    from integrations.models import WebhookEndpoint
    from integrations.tasks import deliver_webhooks

    endpoint, _first = webhooks.endpoint_create(
        actor=user_a, url="https://a.example.kz/h", events=["order.created"]
    )
    webhooks.endpoint_rotate_secret(actor=user_a, endpoint=endpoint)
    start = timezone.now()

    with time_machine.travel(start + timedelta(hours=23)):
        deliver_webhooks()
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).previous_secret_ciphertext

    with time_machine.travel(start + timedelta(hours=24, minutes=1)):
        deliver_webhooks()
    forgotten = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (forgotten.previous_secret_ciphertext, forgotten.previous_secret_expires_at) == ("", None)
