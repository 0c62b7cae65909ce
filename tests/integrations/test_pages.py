"""Cabinet pages of the integrations: keys shown once, webhook secrets shown once, isolation everywhere."""

import pytest
from django.urls import reverse

from integrations import webhooks
from integrations.models import ApiKey, WebhookDelivery, WebhookEndpoint
from ketlogistic.core import crypto
from ketlogistic.core.models import AuditEntry
from ketlogistic.core.roles import Role
from tests.factories import make_order
from tests.isolation import assert_hidden, assert_isolated

pytestmark = pytest.mark.django_db


def test_a_new_key_is_shown_once_and_stored_hashed(client_a, partner_a):
    response = client_a.post(reverse("integrations:keys"), {"name": "CRM prod"})

    key = response.context["issued"].key
    assert key in response.content.decode()
    record = ApiKey.objects.get(partner=partner_a)
    assert key not in str(record.__dict__)
    assert key not in client_a.get(reverse("integrations:keys")).content.decode()
    assert record.prefix in client_a.get(reverse("integrations:keys")).content.decode()
    assert AuditEntry.objects.filter(action="api_key.created", partner=partner_a).exists()


def test_revoking_a_key(client_a, partner_a):
    client_a.post(reverse("integrations:keys"), {"name": "old"})
    record = ApiKey.objects.get()

    client_a.post(reverse("integrations:key_revoke", args=[record.pk]))

    record.refresh_from_db()
    assert record.revoked_at is not None


def test_partner_staff_cannot_manage_keys_or_webhooks(make_user, login, partner_a):
    staff = login(make_user(Role.PARTNER_STAFF, partner=partner_a))

    assert staff.get(reverse("integrations:keys")).status_code == 403
    assert staff.get(reverse("integrations:webhooks")).status_code == 403
    assert staff.get(reverse("integrations:excel")).status_code == 200


def test_webhook_secret_is_shown_once_and_stored_encrypted(client_a, partner_a):
    response = client_a.post(
        reverse("integrations:webhooks"),
        {"url": "https://shop.example.kz/hooks", "events": ["order.created", "order.status_changed"]},
    )

    secret = response.context["secret"]
    endpoint = WebhookEndpoint.objects.get(partner=partner_a)
    assert secret.startswith("whsec_") and secret not in endpoint.secret_ciphertext
    assert crypto.decrypt(endpoint.secret_ciphertext) == secret
    assert secret not in client_a.get(reverse("integrations:webhook", args=[endpoint.pk])).content.decode()


def test_webhook_pages_are_isolated(client_a, client_b, user_a, partner_a, product_a):
    endpoint, _secret = webhooks.endpoint_create(
        actor=user_a, url="https://a.example.kz/hook", events=["order.created"]
    )
    make_order(partner_a, product=product_a)
    delivery = WebhookDelivery.objects.get()

    assert_isolated(
        owner=client_a,
        intruder=client_b,
        url=reverse("integrations:webhook", args=[endpoint.pk]),
        leaks=["https://a.example.kz/hook"],
    )
    for name, obj in (
        ("webhook_rotate", endpoint),
        ("webhook_ping", endpoint),
        ("delivery_resend", delivery),
    ):
        assert_hidden(client_b, reverse(f"integrations:{name}", args=[obj.pk]), method="post")
    assert "a.example.kz" not in client_b.get(reverse("integrations:webhooks")).content.decode()
    assert "a.example.kz" not in client_b.get(reverse("integrations:overview")).content.decode()


def test_api_keys_of_another_partner_cannot_be_revoked(client_a, client_b, partner_a):
    client_a.post(reverse("integrations:keys"), {"name": "mine"})
    record = ApiKey.objects.get()

    assert_hidden(client_b, reverse("integrations:key_revoke", args=[record.pk]), method="post")
    record.refresh_from_db()
    assert record.revoked_at is None


def test_disabling_and_reenabling_an_endpoint(client_a, user_a):
    endpoint, _ = webhooks.endpoint_create(
        actor=user_a, url="https://a.example.kz/h", events=["order.created"]
    )

    client_a.post(reverse("integrations:webhook", args=[endpoint.pk]), {"events": ["order.created"]})
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    client_a.post(
        reverse("integrations:webhook", args=[endpoint.pk]), {"events": ["order.created"], "is_active": "on"}
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is None


def test_create_api_key_command_prints_a_working_key(partner_a, product_a):
    import io

    from django.core.management import call_command

    from tests.integrations.conftest import ApiClient

    out = io.StringIO()
    call_command("create_api_key", partner_a.name, "--read-only", stdout=out)
    key = out.getvalue().strip()

    assert key.startswith("kl_live_")
    assert ApiClient(key).get("/api/v1/orders/").status_code == 200
    assert ApiKey.objects.get().read_only
    with __import__("pytest").raises(Exception, match="No partner"):
        call_command("create_api_key", "Нет такого", stdout=io.StringIO())
