"""Webhooks: an outbox written with the change, signed deliveries to a real local receiver, retries."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from ketlogistic.core.models import Notice
from ketlogistic.core.roles import Role
from orders import workflow
from orders.services import order_send
from tests.factories import make_order
from tests.http_servers import Recorder

pytestmark = pytest.mark.django_db
ALL_EVENTS = list(webhooks.EVENT_TYPES)


@pytest.fixture
def head(make_user, partner_a):
    return make_user(Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner_a, "country": "KZ"}])


def _endpoint(user, url, events=None):
    return webhooks.endpoint_create(actor=user, url=url, events=events or ALL_EVENTS)


def test_events_are_recorded_with_the_change_and_delivered_signed(user_a, partner_a, product_a, head):
    with Recorder() as receiver:
        endpoint, secret = _endpoint(user_a, receiver.url + "/hook")
        order = make_order(partner_a, product=product_a)
        order_send(order=order, actor=head)

        sent = webhooks.deliver_due()

        assert sent == 3  # created, to_send → sent, sent → calling
        types = sorted(json.loads(r["body"])["type"] for r in receiver.requests)
        assert types == ["order.created", "order.status_changed", "order.status_changed"]
        for request in receiver.requests:
            assert webhooks.verify(secret, request["headers"], request["body"])
            body = json.loads(request["body"])
            assert (
                request["headers"]["webhook-id"] == request["headers"]["X-KetLogistic-Event-Id"] == body["id"]
            )
            assert body["livemode"] is True
            assert body["data"]["order"]["id"] == order.pk
            assert "customer_name" not in body["data"]["order"]
    assert WebhookDelivery.objects.filter(state="succeeded").count() == sent


def test_a_rolled_back_change_sends_nothing(user_a, partner_a, product_a, head):
    with Recorder() as receiver:
        _endpoint(user_a, receiver.url)
        order = make_order(partner_a, product=product_a)
        webhooks.deliver_due()
        receiver.requests.clear()
        before = WebhookEvent.objects.count()

        with pytest.raises(RuntimeError), transaction.atomic():
            order_send(order=order, actor=head)
            raise RuntimeError("the request failed after the change")

        assert WebhookEvent.objects.count() == before
        assert webhooks.deliver_due() == 0
        assert receiver.requests == []


def test_typed_events_tell_the_partner_why(user_a, partner_a, product_a, head):
    with Recorder() as receiver:
        _endpoint(user_a, receiver.url, events=["delivery.agreed", "delivery.problem"])
        order = make_order(partner_a, product=product_a)
        order_send(order=order, actor=head)
        day = timezone.localdate() + timedelta(days=1)
        workflow.perform(
            order, action="agree_delivery", actor=None, source="task", data={"delivery_date": day}
        )
        workflow.perform(
            order, action="return_to_calling", actor=None, source="task", reason="Клиент в отъезде"
        )

        webhooks.deliver_due()

        bodies = [json.loads(r["body"]) for r in receiver.requests]
        assert [b["type"] for b in bodies] == ["delivery.agreed", "delivery.problem"]
        assert bodies[0]["data"]["delivery_date"] == day.isoformat()
        assert (
            bodies[1]["data"]["problem"] == "postponed" and bodies[1]["data"]["reason"] == "Клиент в отъезде"
        )


def test_a_failing_receiver_gets_retries_with_back_off(user_a, partner_a, product_a):
    with Recorder(responses=[(500, b"boom", "text/plain"), (503, b"busy", "text/plain")]) as receiver:
        endpoint, secret = _endpoint(user_a, receiver.url, events=["order.created"])
        make_order(partner_a, product=product_a)

        webhooks.deliver_due()
        delivery = WebhookDelivery.objects.get()
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
        assert webhooks.deliver_due() == 0  # not due yet: 30 s back-off

        with time_machine.travel(timezone.now() + timedelta(seconds=31)):
            webhooks.deliver_due()
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.last_status_code) == (2, 503)
        assert delivery.next_attempt_at - delivery.last_attempt_at == timedelta(minutes=1)

        with time_machine.travel(timezone.now() + timedelta(minutes=2)):
            webhooks.deliver_due()
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
        assert len(receiver.requests) == 3
        assert len({r["headers"]["X-KetLogistic-Event-Id"] for r in receiver.requests}) == 1
        assert [a.status_code for a in delivery.attempt_log.order_by("at")] == [500, 503, 200]
        endpoint.refresh_from_db()
        assert endpoint.failing_since is None


def test_a_day_of_failures_disables_the_endpoint_and_tells_the_partner(
    user_a, partner_a, product_a, client_a
):
    with Recorder(default=(500, b"down", "text/plain")) as receiver:
        endpoint, _secret = _endpoint(user_a, receiver.url, events=["order.created"])
        make_order(partner_a, product=product_a)
        start = timezone.now()
        webhooks.deliver_due()
        with time_machine.travel(start + timedelta(days=1, minutes=1)):
            webhooks.deliver_due()

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert WebhookDelivery.objects.get().state == "failed"
    notice = Notice.objects.get(partner=partner_a)
    assert endpoint.url in notice.text
    assert endpoint.url in client_a.get(reverse("dashboard")).content.decode()


def test_send_again_redelivers_the_same_event(user_a, partner_a, product_a, client_a):
    with Recorder() as receiver:
        _endpoint(user_a, receiver.url, events=["order.created"])
        make_order(partner_a, product=product_a)
        webhooks.deliver_due()
        delivery = WebhookDelivery.objects.get()

        client_a.post(reverse("integrations:delivery_resend", args=[delivery.pk]))
        webhooks.deliver_due()

        assert len(receiver.requests) == 2
        assert (
            receiver.requests[0]["headers"]["X-KetLogistic-Event-Id"]
            == receiver.requests[1]["headers"]["X-KetLogistic-Event-Id"]
        )


def test_parallel_delivery_runs_send_each_event_once(user_a, partner_a, product_a):
    with Recorder() as receiver:
        _endpoint(user_a, receiver.url, events=["order.created"])
        for _ in range(5):
            make_order(partner_a, product=product_a)
        first_claim = webhooks._claim_due(100)
        second_claim = webhooks._claim_due(100)

    assert len(first_claim) == 5 and second_claim == []


def test_a_delivery_outcome_is_written_back_only_while_the_run_still_holds_the_claim(
    user_a, partner_a, product_a, monkeypatch
):
    """Run A's claim ran out while it sent; run B claimed the row and delivered it. A's late failure no longer
    overwrites B's success: no second attempt counted, no failing endpoint, the row stays delivered."""
    from integrations import outbound

    real_request = outbound.request
    second_run = []

    def another_run_takes_over_before_the_answer_is_recorded(method, url, **kwargs):
        answer = real_request(method, url, **kwargs)
        if not second_run:
            second_run.append(None)
            WebhookDelivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
            second_run[0] = webhooks.deliver_due()
        return answer

    monkeypatch.setattr(outbound, "request", another_run_takes_over_before_the_answer_is_recorded)
    with Recorder(responses=[(500, b"down", "text/plain")], default=(200, b"ok", "text/plain")) as receiver:
        endpoint, _secret = _endpoint(user_a, receiver.url, events=["order.created"])
        make_order(partner_a, product=product_a)

        first_run = webhooks.deliver_due()

        assert len(receiver.requests) == 2
    delivery = WebhookDelivery.objects.get()
    assert (first_run, second_run) == (1, [1])
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "succeeded",
        1,
        200,
        "",
    )
    assert (delivery.claim_token, delivery.claimed_until) == (None, None)
    assert [attempt.status_code for attempt in delivery.attempt_log.all()] == [200]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_sandbox_events_go_to_sandbox_endpoints_only(user_a, partner_a, product_a):
    from orders.intake import orders_create_many
    from tests.factories import ProductFactory, order_row

    ProductFactory(partner=partner_a, sku="A-1", is_test=True)  # the sandbox's own catalogue
    with Recorder() as live, Recorder() as sandbox:
        _endpoint(user_a, live.url, events=["order.created"])
        webhooks.endpoint_create(actor=user_a, url=sandbox.url, events=["order.created"], is_test=True)
        orders_create_many(
            partner=partner_a, rows=[order_row(external_id="T1")], actor=None, source="sandbox", is_test=True
        )
        webhooks.deliver_due()

        assert live.requests == []
        assert json.loads(sandbox.requests[0]["body"])["livemode"] is False


def test_other_partners_endpoints_never_get_the_event(user_a, user_b, partner_a, product_a):
    with Recorder() as a_receiver, Recorder() as b_receiver:
        _endpoint(user_a, a_receiver.url, events=["order.created"])
        _endpoint(user_b, b_receiver.url, events=["order.created"])
        make_order(partner_a, product=product_a)
        webhooks.deliver_due()

        assert len(a_receiver.requests) == 1 and b_receiver.requests == []


def test_signature_verification_rejects_tampering_and_old_messages():
    body = b'{"id":"e1"}'
    secret, other = webhooks.new_secret(), webhooks.new_secret()
    headers = {
        "webhook-id": "e1",
        "webhook-timestamp": "1800000000",
        "webhook-signature": webhooks.sign(secret, "e1", 1_800_000_000, body),
    }

    assert webhooks.verify(secret, headers, body, now=1_800_000_010)
    assert not webhooks.verify(secret, headers, body + b" ", now=1_800_000_010)
    assert not webhooks.verify(secret, {**headers, "webhook-id": "e2"}, body, now=1_800_000_010)
    assert not webhooks.verify(other, headers, body, now=1_800_000_010)
    assert not webhooks.verify(secret, headers, body, now=1_800_000_000 + 3600)
    assert not webhooks.verify(secret, {**headers, "webhook-timestamp": "garbage"}, body)
    assert not webhooks.verify(secret, {}, body)


# The Standard Webhooks specification's own example (github.com/standard-webhooks/standard-webhooks, spec and
# every library's tests): computed outside the product.
KNOWN_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KNOWN_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KNOWN_BODY = b'{"test": 2432232314}'
KNOWN_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_partner_webhook_signature_known_answer():
    headers = {
        "webhook-id": KNOWN_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": KNOWN_SIGNATURE,
    }

    assert webhooks.sign(KNOWN_SECRET, KNOWN_ID, 1_614_265_330, KNOWN_BODY) == KNOWN_SIGNATURE
    assert webhooks.verify(KNOWN_SECRET, headers, KNOWN_BODY, now=1_614_265_340)
    # the signature captured once and sent again later with a fresh timestamp
    assert not webhooks.verify(
        KNOWN_SECRET, {**headers, "webhook-timestamp": "1614265930"}, KNOWN_BODY, now=1_614_265_930
    )


def test_private_addresses_are_refused_in_production(user_a, settings):
    from django.core.exceptions import ValidationError

    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = False
    settings.INTEGRATIONS_ALLOW_HTTP = False
    for url in (
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data",
    ):
        with pytest.raises(ValidationError):
            webhooks.endpoint_create(actor=user_a, url=url, events=["order.created"])
    assert not WebhookEndpoint.objects.exists()


def test_a_failed_kick_loses_no_event(user_a, partner_a, product_a, monkeypatch):
    """If the broker refuses the kick, the delivery row waits for the periodic run (the real outage is
    exercised with a stopped Redis in the slow fault tests)."""
    from kombu.exceptions import OperationalError

    from integrations import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis")

    monkeypatch.setattr(tasks.deliver_webhooks, "apply_async", broker_down)
    with Recorder() as receiver:
        _endpoint(user_a, receiver.url, events=["order.created"])
        from django.test import TestCase

        with TestCase.captureOnCommitCallbacks(execute=True):
            make_order(partner_a, product=product_a)
        assert WebhookDelivery.objects.get().state == "pending"

        webhooks.deliver_due()

        assert len(receiver.requests) == 1
